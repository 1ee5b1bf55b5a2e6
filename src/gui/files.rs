//! File dialogs (rfd, through the desktop portal). With no portal running, rfd answers "no file"
//! at once, which we treat as the user cancelling. Reading and writing the files is the
//! engine's: these only ask where.

use std::path::PathBuf;

/// A vCard file to import contacts from.
pub async fn pick_vcard() -> Option<PathBuf> {
    let file = rfd::AsyncFileDialog::new()
        .set_title("Import contacts")
        .add_filter("vCard", &["vcf", "vcard"])
        .pick_file()
        .await?;
    Some(file.path().to_path_buf())
}

/// Where to save the address book as vCard.
pub async fn vcard_destination() -> Option<PathBuf> {
    let file = rfd::AsyncFileDialog::new()
        .set_title("Export contacts")
        .set_file_name("contacts.vcf")
        .save_file()
        .await?;
    Some(file.path().to_path_buf())
}

/// A file to send, picked in the desktop's dialog; none when cancelled (or no portal runs).
pub async fn pick_file() -> Option<PathBuf> {
    let file = rfd::AsyncFileDialog::new()
        .set_title("Send a file")
        .pick_file()
        .await?;
    Some(file.path().to_path_buf())
}
