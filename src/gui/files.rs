//! File dialogs (rfd, through the desktop portal). With no portal running, rfd answers "no file"
//! at once, which we treat as the user cancelling.

use crate::store::Contact;
use std::path::PathBuf;

pub async fn import_vcards() -> Result<Vec<Contact>, String> {
    let Some(file) = rfd::AsyncFileDialog::new()
        .set_title("Import contacts")
        .add_filter("vCard", &["vcf", "vcard"])
        .pick_file()
        .await
    else {
        return Ok(Vec::new());
    };
    let bytes = file.read().await;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{} is not a text vCard file", file.file_name()))?;
    let contacts = crate::vcard::read(&text);
    if contacts.is_empty() {
        return Err(format!("No contacts found in {}", file.file_name()));
    }
    Ok(contacts)
}

pub async fn export_vcards(text: String) -> Result<Option<PathBuf>, String> {
    let Some(file) = rfd::AsyncFileDialog::new()
        .set_title("Export contacts")
        .set_file_name("contacts.vcf")
        .save_file()
        .await
    else {
        return Ok(None);
    };
    let path = file.path().to_path_buf();
    tokio::fs::write(&path, text)
        .await
        .map_err(|e| format!("Cannot write {}: {e}", path.display()))?;
    Ok(Some(path))
}

/// A file to send, picked in the desktop's dialog; none when cancelled (or no portal runs).
pub async fn pick_file() -> Option<PathBuf> {
    let file = rfd::AsyncFileDialog::new()
        .set_title("Send a file")
        .pick_file()
        .await?;
    Some(file.path().to_path_buf())
}
