//! vCard (RFC 6350, and the 3.0 files older address books write) for importing and exporting
//! contacts: FN, the SIP addresses among IMPP/TEL/X-SIP, NOTE. Pure functions; unfolds lines.

use crate::store::Contact;

/// Every vCard in `text` that has a name. Unknown properties are skipped, not errors.
pub fn read(text: &str) -> Vec<Contact> {
    // RFC 6350 3.2: a line starting with a space or tab continues the previous one.
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        if let Some(cont) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(cont);
                continue;
            }
        }
        lines.push(raw.trim_end_matches('\r').to_string());
    }
    let mut out = Vec::new();
    let mut cur: Option<Contact> = None;
    for line in lines {
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let mut parts = head.split(';');
        let name = parts.next().unwrap_or_default().to_ascii_uppercase();
        let name = name.rsplit('.').next().unwrap_or_default().to_string(); // group prefix
        let params: Vec<String> = parts.map(|p| p.to_ascii_lowercase()).collect();
        match name.as_str() {
            "BEGIN" if value.eq_ignore_ascii_case("VCARD") => cur = Some(Contact::default()),
            "END" if value.eq_ignore_ascii_case("VCARD") => {
                if let Some(c) = cur.take().filter(|c| !c.name.is_empty()) {
                    out.push(c);
                }
            }
            "FN" => {
                if let Some(c) = cur.as_mut() {
                    c.name = unescape(value);
                }
            }
            "NOTE" => {
                if let Some(c) = cur.as_mut() {
                    c.note = unescape(value);
                }
            }
            "IMPP" | "X-SIP" | "TEL" | "URL" => {
                let v = value.trim();
                let is_sip = v.to_ascii_lowercase().starts_with("sip:")
                    || name == "X-SIP"
                    || params.iter().any(|p| p.contains("sip"));
                if let (Some(c), true) = (cur.as_mut(), is_sip) {
                    let uri = if v.to_ascii_lowercase().starts_with("sip:") {
                        v.to_string()
                    } else {
                        format!("sip:{v}")
                    };
                    if !c.uris.contains(&uri) {
                        c.uris.push(uri);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace(',', "\\,")
        .replace(';', "\\;")
}

/// vCard 4.0 text for the contacts, SIP addresses as IMPP.
pub fn write(contacts: &[Contact]) -> String {
    let mut s = String::new();
    for c in contacts {
        s.push_str("BEGIN:VCARD\r\nVERSION:4.0\r\n");
        s.push_str(&format!("FN:{}\r\n", escape(&c.name)));
        for u in &c.uris {
            s.push_str(&format!("IMPP:{u}\r\n"));
        }
        if !c.note.is_empty() {
            s.push_str(&format!("NOTE:{}\r\n", escape(&c.note)));
        }
        s.push_str("END:VCARD\r\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cs = vec![Contact {
            id: 0,
            name: "Bob, the builder".into(),
            note: "desk; floor 2\nask first".into(),
            uris: vec!["sip:bob@company.com".into(), "sip:1002@company.com".into()],
        }];
        assert_eq!(read(&write(&cs)), cs);
    }

    #[test]
    fn reads_vcard3_with_folding_and_groups() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Alice\n  Smith\nitem1.X-SIP:alice@example.com\nTEL;TYPE=cell:+1555\nIMPP;X-SERVICE-TYPE=sip:sip:alice2@example.com\nEND:VCARD\nBEGIN:VCARD\nFN:\nEND:VCARD\n";
        let cs = read(text);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].name, "Alice Smith");
        assert_eq!(
            cs[0].uris,
            vec!["sip:alice@example.com", "sip:alice2@example.com"]
        );
    }
}
