//! File transfer in SDP (RFC 5547): `a=file-selector` (name, type, size, SHA-1) describes the
//! file, `a=file-transfer-id` tells one transfer from the next, `a=file-range` which bytes go.
//! An offer to send a file has one `m=message` line, `sendonly`; a chat session has one
//! `m=message` line and no file.

use super::{Attributes, Media};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSelector {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Lowercase hex, no colons.
    pub sha1: Option<String>,
}

/// The value after `key:` in a file-selector, quoted or not.
fn field<'a>(v: &'a str, key: &str) -> Option<&'a str> {
    let at = v.find(&format!("{key}:"))?;
    let rest = &v[at + key.len() + 1..];
    match rest.strip_prefix('"') {
        Some(q) => q.split('"').next(),
        None => rest.split_whitespace().next(),
    }
}

impl FileSelector {
    pub fn parse(v: &str) -> Option<FileSelector> {
        let sha1 = field(v, "hash").and_then(|h| {
            let hex = h
                .strip_prefix("sha-1:")?
                .replace(':', "")
                .to_ascii_lowercase();
            (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
        });
        Some(FileSelector {
            name: percent_decode(field(v, "name")?),
            content_type: field(v, "type")
                .unwrap_or("application/octet-stream")
                .into(),
            size: field(v, "size")?.parse().ok()?,
            sha1,
        })
    }

    /// `name:"x" type:t size:n hash:sha-1:AA:BB...` (a `"` in a name is percent-encoded).
    pub fn to_attr(&self) -> String {
        let mut out = format!(
            "name:\"{}\" type:{} size:{}",
            self.name.replace('%', "%25").replace('"', "%22"),
            self.content_type,
            self.size
        );
        if let Some(h) = &self.sha1 {
            let pairs: Vec<String> = h
                .as_bytes()
                .chunks(2)
                .map(|p| String::from_utf8_lossy(p).to_ascii_uppercase())
                .collect();
            out.push_str(&format!(" hash:sha-1:{}", pairs.join(":")));
        }
        out
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The first byte (1-based) an `a=file-range:start-stop` asks for.
pub fn range_start(m: &Media) -> Option<u64> {
    let v = m.attr("file-range")?;
    v.split('-').next()?.trim().parse().ok().filter(|s| *s >= 1)
}

/// What an offered `m=message` line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageUse {
    /// Part of a call, or chat alone.
    Chat,
    /// The offerer sends us this file.
    Receive(FileSelector),
}

pub fn message_use(m: &Media) -> MessageUse {
    match m.attr("file-selector").and_then(FileSelector::parse) {
        Some(f) if !m.has("recvonly") => MessageUse::Receive(f),
        _ => MessageUse::Chat,
    }
}

/// The RFC 5547 attributes of an offer to send `file`.
pub fn offer_attrs(file: &FileSelector, transfer_id: &str) -> Attributes {
    vec![
        ("sendonly".into(), None),
        ("file-selector".into(), Some(file.to_attr())),
        ("file-transfer-id".into(), Some(transfer_id.into())),
        ("file-disposition".into(), Some("attachment".into())),
    ]
}

/// The attributes of our answer to a file offer: we receive it, from byte `from` on.
pub fn answer_attrs(offer: &Media, from: u64) -> Attributes {
    let mut out: Attributes = vec![("recvonly".into(), None)];
    for key in ["file-selector", "file-transfer-id"] {
        if let Some(v) = offer.attr(key) {
            out.push((key.into(), Some(v.into())));
        }
    }
    if let Some(f) = offer.attr("file-selector").and_then(FileSelector::parse) {
        out.push(("file-range".into(), Some(format!("{from}-{}", f.size))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_selector_round_trip_and_rfc_example() {
        let rfc = r#"name:"My cool picture.jpg" type:image/jpeg size:32349 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E"#;
        let f = FileSelector::parse(rfc).unwrap();
        assert_eq!(f.name, "My cool picture.jpg");
        assert_eq!((f.content_type.as_str(), f.size), ("image/jpeg", 32349));
        assert_eq!(
            f.sha1.as_deref(),
            Some("72245fe8653ddaf371362f86d471913ee4a2ce2e")
        );
        assert_eq!(f.to_attr(), rfc);
        let odd = FileSelector {
            name: "say \"hi\" 100%.txt".into(),
            ..f.clone()
        };
        assert_eq!(FileSelector::parse(&odd.to_attr()).unwrap(), odd);
    }

    #[test]
    fn bad_selectors_are_not_files() {
        assert!(FileSelector::parse("name:\"x\" type:a/b").is_none());
        assert!(FileSelector::parse("name:\"x\" size:-4").is_none());
        let f = FileSelector::parse("name:\"x\" size:4 hash:sha-1:zz").unwrap();
        assert_eq!(f.sha1, None);
    }
}
