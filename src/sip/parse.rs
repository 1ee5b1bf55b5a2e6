//! Our tolerant front parser (RFC 3261 section 7, 18.3; RFC 4475 torture cases).
//! rsip 0.4 rejects some valid messages (folding, compact names, extension methods) and accepts
//! some malformed ones, so every message passes here first: we frame it, unfold and canonicalise
//! the header section, check the rules a server must enforce, and only then hand clean text to rsip.

use super::headers::{is_token_char, parse_cseq, NameAddr, Via};

pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("need more bytes")]
    Incomplete,
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("{0}")]
    Malformed(String),
}

/// A message split into its parts, header names canonical, values unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request is refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

fn reject(status: u16, reason: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason: reason.into(),
    }
}

const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("u", "Allow-Events"),
];

const CANONICAL: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "CSeq",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Record-Route",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

pub fn canonical_name(name: &str) -> String {
    if name.len() == 1 {
        if let Some((_, long)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return long.to_string();
        }
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(|c| c.to_string())
        .unwrap_or_else(|| name.to_string())
}

fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = find(buf, b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    find(buf, b"\n\n").map(|i| (i, i + 2))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn skip_leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// Length of the first whole message in a stream buffer (TCP), leading keep-alive CRLFs included.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let skip = skip_leading_crlf(buf);
    let rest = &buf[skip..];
    let Some((head, body_start)) = head_end(rest) else {
        return if rest.len() > MAX_MESSAGE {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let headers = split_headers(&rest[..head])?.1;
    // RFC 3261 18.3: on a stream, Content-Length is the only way to find the message's end.
    let len = content_length(&headers)?
        .ok_or_else(|| ParseError::Malformed("no Content-Length on a stream transport".into()))?;
    // The length comes from the network: checked before any arithmetic.
    let total = body_start
        .checked_add(len)
        .filter(|t| *t <= MAX_MESSAGE)
        .ok_or(ParseError::TooLarge)?;
    if rest.len() < total {
        return Ok(None);
    }
    Ok(Some(skip + total))
}

/// What to answer on a stream whose next message cannot be framed (413 for a size beyond our
/// limit, 400 otherwise) before the connection is closed; `None` when it is not a request
/// with a whole header section to answer from.
pub fn stream_refusal(buf: &[u8], err: &ParseError) -> Option<Vec<u8>> {
    let rest = &buf[skip_leading_crlf(buf)..];
    let (head, _) = head_end(rest)?;
    let (start_line, headers) = split_headers(&rest[..head]).ok()?;
    let raw = RawMessage {
        start_line,
        headers,
        body: Vec::new(),
    };
    if raw.is_response() || raw.start_line.starts_with("ACK ") || raw.get("Via").is_none() {
        return None;
    }
    let (status, reason) = match err {
        ParseError::TooLarge => (413, "Message Too Large".to_string()),
        other => (400, other.to_string().replace(['\r', '\n'], " ")),
    };
    let tag = super::message::new_tag();
    Some(raw_response(&raw, status, &reason, &tag))
}

/// Parses one whole message (a datagram, or a frame from `frame_len`).
/// Octets after Content-Length are ignored (RFC 4475 3.1.1.8); fewer are an error (3.1.2.2).
pub fn parse_raw(buf: &[u8]) -> Result<RawMessage, ParseError> {
    if buf.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    let buf = &buf[skip_leading_crlf(buf)..];
    let (head, body_start) = head_end(buf).ok_or(ParseError::Incomplete)?;
    let (start_line, headers) = split_headers(&buf[..head])?;
    let avail = &buf[body_start..];
    let body = match content_length(&headers)? {
        Some(n) if n > avail.len() => {
            return Err(ParseError::Malformed(format!(
                "Content-Length {n} is larger than the {} body bytes received",
                avail.len()
            )))
        }
        Some(n) => avail[..n].to_vec(),
        None => avail.to_vec(),
    };
    Ok(RawMessage {
        start_line,
        headers,
        body,
    })
}

fn split_headers(head: &[u8]) -> Result<(String, Vec<(String, String)>), ParseError> {
    let text = std::str::from_utf8(head)
        .map_err(|_| ParseError::Malformed("header section is not UTF-8".into()))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // RFC 3261 7.3.1: a continuation line is folded into the previous value.
            let last = headers.last_mut().ok_or_else(|| {
                ParseError::Malformed("continuation line before any header".into())
            })?;
            if !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::Malformed(format!("header line without colon: {line}")))?;
        let name = name.trim_end();
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(ParseError::Malformed(format!("bad header name: {name}")));
        }
        headers.push((canonical_name(name), value.trim().to_string()));
    }
    Ok((start, headers))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, ParseError> {
    let mut values = headers.iter().filter(|(n, _)| n == "Content-Length");
    let Some((_, v)) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ParseError::Malformed("more than one Content-Length".into()));
    }
    v.parse::<usize>()
        .map(Some)
        .map_err(|_| ParseError::Malformed(format!("bad Content-Length: {v}")))
}

impl RawMessage {
    pub fn is_response(&self) -> bool {
        self.start_line.starts_with("SIP/")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    /// Request line parts, strictly: exactly `METHOD SP URI SP SIP/2.0` (RFC 4475 3.1.2.7-10).
    pub fn request_line(&self) -> Result<(&str, &str, &str), Rejection> {
        let parts: Vec<&str> = self.start_line.split(' ').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(reject(400, "Malformed Request-Line"));
        }
        if !parts[0].chars().all(is_token_char) {
            return Err(reject(400, "Malformed method"));
        }
        if parts[1].starts_with('<') || !parts[1].contains(':') {
            return Err(reject(400, "Malformed Request-URI"));
        }
        Ok((parts[0], parts[1], parts[2]))
    }

    /// Status line: `SIP/2.0 code reason`, code 100-699. Bad responses are dropped, not answered.
    pub fn status_line(&self) -> Option<(u16, &str)> {
        let rest = self.start_line.strip_prefix("SIP/2.0 ")?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().ok()?;
        (100..=699).contains(&code).then_some((code, reason))
    }

    /// A response we can match to a transaction: the headers it is matched by must be sane
    /// (RFC 4475 3.1.2.5: overlarge scalars mean the response is dropped).
    pub fn validate_response(&self) -> Result<(), String> {
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.get(name).is_none() {
                return Err(format!("response without {name}"));
            }
        }
        parse_cseq(self.get("CSeq").unwrap_or_default()).map_err(|e| e.to_string())?;
        if let Some(ra) = self.get("Retry-After") {
            let secs = ra.split([' ', ';', '(']).next().unwrap_or_default();
            secs.parse::<u32>()
                .map_err(|_| "bad Retry-After".to_string())?;
        }
        Ok(())
    }

    /// The checks a server makes before acting on a request (RFC 3261 8.2, 16.3; RFC 4475).
    pub fn validate_request(&self) -> Result<(), Rejection> {
        let (method, uri, version) = self.request_line()?;
        if version != "SIP/2.0" {
            return Err(reject(505, "Version Not Supported"));
        }
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.get(name).is_none() {
                return Err(reject(400, format!("Missing {name} header")));
            }
        }
        for name in [
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Max-Forwards",
            "Content-Type",
        ] {
            if self.count(name) > 1 {
                return Err(reject(400, format!("More than one {name} header")));
            }
        }
        let (_, cseq_method) = parse_cseq(self.get("CSeq").unwrap_or_default())
            .map_err(|e| reject(400, e.to_string()))?;
        if cseq_method != method {
            return Err(reject(400, "CSeq method does not match the Request-Line"));
        }
        if let Some(mf) = self.get("Max-Forwards") {
            if mf.parse::<u8>().is_err() {
                return Err(reject(400, "Bad Max-Forwards"));
            }
        }
        if let Some(exp) = self.get("Expires") {
            if exp.parse::<u32>().is_err() {
                return Err(reject(400, "Bad Expires"));
            }
        }
        for (name, value) in &self.headers {
            match name.as_str() {
                "Via" => {
                    for v in super::headers::split_outside_quotes(value, ',') {
                        Via::parse(v).map_err(|e| reject(400, e.to_string()))?;
                    }
                }
                "From" | "To" => {
                    NameAddr::parse(value).map_err(|e| reject(400, format!("{name}: {e}")))?;
                }
                "Contact" => {
                    for v in super::headers::split_outside_quotes(value, ',') {
                        NameAddr::parse(v).map_err(|e| reject(400, format!("Contact: {e}")))?;
                    }
                }
                _ => {}
            }
        }
        let scheme = uri.split(':').next().unwrap_or_default();
        if !["sip", "sips", "tel"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(reject(416, "Unsupported URI Scheme"));
        }
        if !KNOWN_METHODS.contains(&method) {
            return Err(reject(501, "Not Implemented"));
        }
        Ok(())
    }

    /// Prints the message back in canonical form (the text rsip then parses).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        out.push_str(&self.start_line);
        out.push_str("\r\n");
        for (n, v) in &self.headers {
            if n == "Content-Length" {
                continue;
            }
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The methods rsip can represent; anything else is answered 501 before it reaches rsip.
pub const KNOWN_METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// A response built from a raw request's headers alone, for requests rsip never sees (RFC 3261 8.2.6).
pub fn raw_response(req: &RawMessage, status: u16, reason: &str, to_tag: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for (n, v) in &req.headers {
        match n.as_str() {
            "Via" | "From" | "Call-ID" | "CSeq" => out.push_str(&format!("{n}: {v}\r\n")),
            "To" if !v.contains("tag=") => out.push_str(&format!("To: {v};tag={to_tag}\r\n")),
            "To" => out.push_str(&format!("To: {v}\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_a_tcp_stream() {
        let one = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(one);
        two.extend_from_slice(b"OPTIONS sip:x");
        assert_eq!(frame_len(&two).unwrap(), Some(4 + one.len()));
        assert_eq!(frame_len(&one[..10]).unwrap(), None);
        assert_eq!(frame_len(&one[..one.len() - 1]).unwrap(), None);
    }

    #[test]
    fn a_stream_needs_a_sane_content_length() {
        let none = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n";
        assert!(matches!(frame_len(none), Err(ParseError::Malformed(_))));
        let reply = stream_refusal(none, &frame_len(none).unwrap_err()).unwrap();
        assert!(reply.starts_with(b"SIP/2.0 400 "));
        let huge = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: {}\r\n\r\n",
            usize::MAX
        );
        let err = frame_len(huge.as_bytes()).unwrap_err();
        assert_eq!(err, ParseError::TooLarge);
        let reply = stream_refusal(huge.as_bytes(), &err).unwrap();
        assert!(reply.starts_with(b"SIP/2.0 413 "));
    }

    #[test]
    fn unfolds_and_expands_compact_names() {
        let raw = parse_raw(b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n ;branch=z9hG4bK1\r\ni: x\r\nl: 0\r\n\r\n").unwrap();
        assert_eq!(raw.get("Via"), Some("SIP/2.0/UDP h ;branch=z9hG4bK1"));
        assert_eq!(raw.get("call-id"), Some("x"));
    }
}
