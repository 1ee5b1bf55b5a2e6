//! message/cpim (RFC 3862), as chat clients wrap their texts: CPIM headers, a blank line, the
//! inner MIME headers, a blank line, the content. Only the content and its type are kept.

/// The content type and text of a message, unwrapped when it is CPIM.
pub fn unwrap(content_type: &str, data: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(data).to_string();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("message/cpim")
    {
        return (content_type.to_string(), text);
    }
    let mut parts = text.splitn(3, "\r\n\r\n");
    let (_cpim, mime, body) = (parts.next(), parts.next(), parts.next());
    let (Some(mime), Some(body)) = (mime, body) else {
        return (content_type.to_string(), text);
    };
    let inner = mime
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("Content-Type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "text/plain".into());
    (inner, body.to_string())
}

/// Wraps a text in CPIM, for peers that accept only message/cpim.
pub fn wrap(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain;charset=utf-8\r\n\r\n{text}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpim_is_unwrapped_and_plain_text_kept() {
        let body = wrap("sip:alice@x", "sip:bob@x", "Hi Bob");
        assert_eq!(
            unwrap("message/cpim", &body),
            ("text/plain;charset=utf-8".into(), "Hi Bob".into())
        );
        assert_eq!(
            unwrap("text/plain", b"plain"),
            ("text/plain".into(), "plain".into())
        );
        // A broken wrapper is shown as it came rather than lost.
        assert_eq!(
            unwrap("message/cpim", b"From: x"),
            ("message/cpim".into(), "From: x".into())
        );
    }
}
