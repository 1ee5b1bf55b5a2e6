//! The content type of a file from its extension, for Content-Type and `a=file-selector`.
//! A short table of what people send to each other; anything else is octet-stream.

const TYPES: &[(&str, &str)] = &[
    ("txt", "text/plain"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("ogg", "audio/ogg"),
    ("mp4", "video/mp4"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("json", "application/json"),
    ("csv", "text/csv"),
    ("html", "text/html"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
];

pub fn of_name(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    ext.and_then(|e| TYPES.iter().find(|(x, _)| *x == e).map(|(_, t)| *t))
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    #[test]
    fn types_by_extension() {
        assert_eq!(super::of_name("Photo.JPG"), "image/jpeg");
        assert_eq!(super::of_name("notes.txt"), "text/plain");
        assert_eq!(super::of_name("archive"), "application/octet-stream");
    }
}
