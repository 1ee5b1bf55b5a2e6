//! File names from the network, made safe to store: no directories, no `..`, no control or
//! reserved characters, no invisible format characters (a right-to-left override turns
//! `invoice\u{202E}fdp.exe` into what reads as `invoiceexe.pdf`), never empty or endless, never
//! a Windows device name, and never an existing file (`name (1).ext`).

use std::path::{Path, PathBuf};

const MAX_NAME: usize = 200;
const DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

pub fn safe_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_format(*c))
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut name: String = trimmed.chars().take(MAX_NAME).collect();
    if name.is_empty() {
        name = "file".into();
    }
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if DEVICES.contains(&stem.as_str()) {
        name = format!("_{name}");
    }
    name
}

/// Unicode's format characters (category Cf) that names can hide behind: bidirectional
/// controls, zero-width characters, the soft hyphen, the byte order mark, tag characters.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// `dir/name`, or `dir/name (1).ext`, `(2)`... whichever does not exist yet.
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    (1..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name("CON"), "_CON");
        assert_eq!(safe_name("con.txt"), "_con.txt");
        assert_eq!(safe_name("a\u{0}b\nc\u{7f}.txt"), "abc.txt");
        assert_eq!(safe_name("what?.txt"), "what_.txt");
        assert_eq!(safe_name(&"x".repeat(300)).len(), 200);
        assert_eq!(safe_name("report.pdf"), "report.pdf");
        assert_eq!(safe_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(safe_name("a\u{200B}b\u{FEFF}\u{2066}c.txt"), "abc.txt");
        assert_eq!(safe_name("naïve résumé.txt"), "naïve résumé.txt");
    }

    #[test]
    fn names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = unique_path(dir.path(), "a.txt");
        assert_eq!(p, dir.path().join("a.txt"));
        std::fs::write(&p, "1").unwrap();
        let p2 = unique_path(dir.path(), "a.txt");
        assert_eq!(p2, dir.path().join("a (1).txt"));
        std::fs::write(&p2, "2").unwrap();
        assert_eq!(
            unique_path(dir.path(), "a.txt"),
            dir.path().join("a (2).txt")
        );
        std::fs::write(dir.path().join("noext"), "").unwrap();
        assert_eq!(
            unique_path(dir.path(), "noext"),
            dir.path().join("noext (1)")
        );
    }
}
