//! The layering the design asks for, checked on the source: the window (`src/gui`) speaks only
//! to the engine and the store, never to the protocol cores or the audio code, and holds no SIP
//! status code (the engine says what a status means); nothing below `src/gui` knows iced.

use std::path::{Path, PathBuf};

/// Modules the window must not reach into.
const BELOW_THE_ENGINE: &[&str] = &[
    "sip", "sdp", "msrp", "media", "nat", "server", "tls", "vcard",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Code only: `//` comments dropped, so a comment may name what the code must not use, and
/// the unit tests at a file's end left out (their fixtures may hold a stored status).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or_default()))
}

/// Whether `line` uses one of the modules below the engine (`crate::sip::…`, `crate::{sdp, …}`).
fn reaches_below(line: &str) -> Option<&'static str> {
    let paths = line.match_indices("crate::").map(|(i, _)| &line[i + 7..]);
    for rest in paths {
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .collect(),
            None => vec![rest],
        };
        for name in names {
            let head: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(m) = BELOW_THE_ENGINE.iter().find(|m| **m == head) {
                return Some(m);
            }
        }
    }
    None
}

/// Whether `line` compares with, matches on or spells out a SIP status code (100-699).
fn status_code(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let is_code = bytes[i].is_ascii_digit()
            && (b'1'..=b'6').contains(&bytes[i])
            && bytes[i + 1].is_ascii_digit()
            && bytes[i + 2].is_ascii_digit()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_')
            && bytes
                .get(i + 3)
                .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
        if is_code {
            let before = line[..i].trim_end();
            let after = line[i + 3..].trim_start();
            let compared = ["==", "!=", "<=", ">=", "matches!(", "Some("]
                .iter()
                .any(|op| before.ends_with(op))
                || before.ends_with('|')
                || after.starts_with("=>")
                || after.starts_with('|')
                || after.starts_with("..");
            // "486 Busy Here", "200 OK": a status line put in words for people.
            let spelt = after.starts_with(|c: char| c.is_ascii_uppercase());
            if compared || spelt {
                return Some(line.trim().to_string());
            }
        }
        i += 1;
    }
    None
}

fn violations(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(&root.join("src/gui")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            if let Some(m) = reaches_below(line) {
                found.push(format!("{}:{n}: uses crate::{m}", file.display()));
            }
            if let Some(l) = status_code(line) {
                found.push(format!("{}:{n}: a SIP status code: {l}", file.display()));
            }
        }
    }
    for file in rust_files(&root.join("src")) {
        if file.starts_with(root.join("src/gui")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            if line.contains("iced::") || line.contains("use iced") {
                found.push(format!("{}:{n}: iced below src/gui", file.display()));
            }
        }
    }
    found
}

#[test]
fn the_window_talks_only_to_the_engine_and_holds_no_sip_codes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(root);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_what_it_must_refuse() {
    assert_eq!(
        reaches_below("use crate::sip::headers::SipUri;"),
        Some("sip")
    );
    assert_eq!(
        reaches_below("use crate::{engine::Event, media::ringer};"),
        Some("media")
    );
    assert_eq!(
        reaches_below("let x = crate::tls::Fingerprint([0; 32]);"),
        Some("tls")
    );
    assert_eq!(
        reaches_below("use crate::engine::{Fingerprint, Transport};"),
        None
    );
    assert_eq!(reaches_below("use crate::store::Contact;"), None);
    for bad in [
        "if status != 200 {",
        "Some(487) => missed,",
        "200 | 486 | 603 => true,",
        "matches!(code, 400..=499)",
        "text(\"180 Ringing\")",
    ] {
        assert!(status_code(bad).is_some(), "missed: {bad}");
    }
    for fine in [
        ".width(300)",
        "now.duration_since(at).as_millis() < 400",
        "padding([4, 10])",
        "let doy = doe - (365 * yoe);",
        "format!(\"{n} of 365 days\")",
    ] {
        assert!(status_code(fine).is_none(), "wrongly refused: {fine}");
    }
}
