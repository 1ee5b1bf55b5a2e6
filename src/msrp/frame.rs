//! MSRP framing (RFC 4975 7 and 9): a streaming decoder that turns bytes into a head, body
//! pieces and an end-line, keeping nothing but a few bytes of state, so a 200 MB chunk passes
//! through in small slices; and the writer for requests and responses. Every length and index
//! from the wire is checked before it is used; bad input is an error, never a panic.

/// The longest start line plus headers we accept (DESIGN.md: 16 KiB).
pub const MAX_HEAD: usize = 16 * 1024;
const DASHES: &[u8] = b"-------";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MsrpError {
    #[error("MSRP header section longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("bad MSRP start line: {0}")]
    StartLine(String),
    #[error("bad MSRP header line: {0}")]
    Header(String),
    #[error("bad MSRP end-line")]
    EndLine,
}

/// How a message's end-line ends it (RFC 4975 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// `$`: the message is complete.
    Complete,
    /// `+`: more chunks of this message follow.
    More,
    /// `#`: the sender gave up on this message.
    Aborted,
}

impl Continuation {
    fn of(b: u8) -> Option<Continuation> {
        match b {
            b'$' => Some(Continuation::Complete),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Aborted),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Continuation::Complete => b'$',
            Continuation::More => b'+',
            Continuation::Aborted => b'#',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Request(String),
    Response { code: u16, comment: String },
}

/// A start line and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub transaction: String,
    pub kind: Kind,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn byte_range(&self) -> Option<super::ByteRange> {
        super::ByteRange::parse(self.header("Byte-Range")?)
    }
}

/// What the decoder found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Head(Head),
    Body(&'a [u8]),
    End(Continuation),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head,
    /// Inside a body: the end-line to look for is `\r\n-------<tid>`.
    Body(Vec<u8>),
    /// A bodiless message: only its end-line `-------<tid>` is left.
    EndLine(Vec<u8>),
}

/// Decodes one connection's byte stream. Feed it what has arrived; it says what it found and
/// how many bytes that used. Bytes it did not use must be offered again with more after them.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Head }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    // memchr's SIMD search: bodies are scanned once for their end-line at memory speed.
    memchr::memmem::find(hay, needle)
}

fn valid_transaction(t: &str) -> bool {
    (4..=32).contains(&t.len())
        && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '%' | '='))
}

fn parse_start(line: &str) -> Result<(String, Kind), MsrpError> {
    let bad = || MsrpError::StartLine(line.chars().take(80).collect());
    let mut parts = line.splitn(4, ' ');
    let (msrp, tid, what) = (parts.next(), parts.next(), parts.next());
    let (Some("MSRP"), Some(tid), Some(what)) = (msrp, tid, what) else {
        return Err(bad());
    };
    if !valid_transaction(tid) {
        return Err(bad());
    }
    let kind = match what.parse::<u16>() {
        Ok(code) if (100..=999).contains(&code) && what.len() == 3 => Kind::Response {
            code,
            comment: parts.next().unwrap_or_default().to_string(),
        },
        Err(_) if what.chars().all(|c| c.is_ascii_uppercase()) && parts.next().is_none() => {
            Kind::Request(what.to_string())
        }
        _ => return Err(bad()),
    };
    Ok((tid.to_string(), kind))
}

fn parse_head(text: &[u8]) -> Result<Head, MsrpError> {
    let text = std::str::from_utf8(text).map_err(|_| MsrpError::Header("not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let (transaction, kind) = parse_start(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (n, v) = l
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains(' '))
            .ok_or_else(|| MsrpError::Header(l.chars().take(80).collect()))?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    Ok(Head {
        transaction,
        kind,
        headers,
    })
}

impl Decoder {
    /// The next item in `buf`, and the bytes it used; `None` when more bytes are needed.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> Result<Option<(Item<'a>, usize)>, MsrpError> {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Head => self.head(buf),
            State::Body(end) => self.body(buf, end),
            State::EndLine(end) => self.end_line(buf, end),
        }
    }

    fn head<'a>(&mut self, buf: &'a [u8]) -> Result<Option<(Item<'a>, usize)>, MsrpError> {
        let window = &buf[..buf.len().min(MAX_HEAD + 4)];
        let blank = find(window, b"\r\n\r\n");
        let bare = find(window, b"\r\n-------");
        let (head_len, body) = match (blank, bare) {
            (Some(b), Some(e)) if e < b => (e + 2, false),
            (Some(b), _) => (b + 4, true),
            (None, Some(e)) => (e + 2, false),
            (None, None) if buf.len() > MAX_HEAD => return Err(MsrpError::HeadTooLarge),
            (None, None) => return Ok(None),
        };
        let head = parse_head(&buf[..head_len])?;
        let tid = head.transaction.as_bytes();
        self.state = match body {
            true => State::Body([b"\r\n", DASHES, tid].concat()),
            false => State::EndLine([DASHES, tid].concat()),
        };
        Ok(Some((Item::Head(head), head_len)))
    }

    /// Body bytes up to the end-line; a tail that could be the start of it is kept back.
    fn body<'a>(
        &mut self,
        buf: &'a [u8],
        end: Vec<u8>,
    ) -> Result<Option<(Item<'a>, usize)>, MsrpError> {
        match find(buf, &end) {
            Some(0) => {
                // `end` then the flag and CRLF.
                let Some(tail) = buf.get(end.len()..end.len() + 3) else {
                    self.state = State::Body(end);
                    return Ok(None);
                };
                match (Continuation::of(tail[0]), &tail[1..]) {
                    (Some(c), b"\r\n") => Ok(Some((Item::End(c), end.len() + 3))),
                    // Not an end-line after all: the body goes on.
                    _ => {
                        self.state = State::Body(end);
                        Ok(Some((Item::Body(&buf[..1]), 1)))
                    }
                }
            }
            Some(i) => {
                self.state = State::Body(end);
                Ok(Some((Item::Body(&buf[..i]), i)))
            }
            None => {
                let safe = buf.len().saturating_sub(end.len() + 2);
                self.state = State::Body(end);
                Ok((safe > 0).then(|| (Item::Body(&buf[..safe]), safe)))
            }
        }
    }

    fn end_line<'a>(
        &mut self,
        buf: &'a [u8],
        end: Vec<u8>,
    ) -> Result<Option<(Item<'a>, usize)>, MsrpError> {
        let need = end.len() + 3;
        if buf.len() < need {
            if !end.starts_with(&buf[..buf.len().min(end.len())]) {
                return Err(MsrpError::EndLine);
            }
            self.state = State::EndLine(end);
            return Ok(None);
        }
        match (
            buf.starts_with(&end),
            Continuation::of(buf[end.len()]),
            &buf[end.len() + 1..need],
        ) {
            (true, Some(c), b"\r\n") => Ok(Some((Item::End(c), need))),
            _ => Err(MsrpError::EndLine),
        }
    }
}

fn start(out: &mut Vec<u8>, tid: &str, what: &str, headers: &[(&str, &str)]) {
    out.extend_from_slice(format!("MSRP {tid} {what}\r\n").as_bytes());
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
}

/// A response's status as its start line has it: `200` or `200 OK`.
fn status(code: u16, comment: &str) -> String {
    match comment.is_empty() {
        true => code.to_string(),
        false => format!("{code} {comment}"),
    }
}

impl Kind {
    /// What follows the transaction id on the start line: the method, or the status.
    pub fn word(&self) -> String {
        match self {
            Kind::Request(m) => m.clone(),
            Kind::Response { code, comment } => status(*code, comment),
        }
    }
}

/// A head's start line and headers, without the blank line a body would follow.
pub fn head(tid: &str, kind: &Kind, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    start(&mut out, tid, &kind.word(), headers);
    out
}

/// A request's head, up to where its body starts (`body` false: up to its end-line).
pub fn request_head(tid: &str, method: &str, headers: &[(&str, &str)], body: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    start(&mut out, tid, method, headers);
    if body {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The end-line; after a body it is preceded by CRLF.
pub fn end_line(tid: &str, after_body: bool, c: Continuation) -> Vec<u8> {
    let mut out = Vec::with_capacity(tid.len() + 12);
    if after_body {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(DASHES);
    out.extend_from_slice(tid.as_bytes());
    out.push(c.byte());
    out.extend_from_slice(b"\r\n");
    out
}

/// A whole request with a small body (chat, tests); files stream head, body and end-line.
pub fn request(tid: &str, method: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = request_head(tid, method, headers, body.is_some());
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out.extend(end_line(tid, body.is_some(), Continuation::Complete));
    out
}

/// A response (RFC 4975 7.2): To-Path is the request's From-Path, From-Path ours.
pub fn response(tid: &str, code: u16, comment: &str, to_path: &str, from_path: &str) -> Vec<u8> {
    let paths = [("To-Path", to_path), ("From-Path", from_path)];
    response_with(tid, code, comment, &paths)
}

/// A bodiless response with these headers (the paths first).
pub fn response_with(tid: &str, code: u16, comment: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    start(&mut out, tid, &status(code, comment), headers);
    out.extend(end_line(tid, false, Continuation::Complete));
    out
}

/// A new transaction identifier.
pub fn new_transaction() -> String {
    crate::sip::message::random_token(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the decoder finds in `input` fed `step` bytes at a time: heads, the joined
    /// body of each message, and end-lines.
    fn decode_all(
        input: &[u8],
        step: usize,
    ) -> Result<Vec<(Head, Vec<u8>, Continuation)>, MsrpError> {
        let mut d = Decoder::default();
        let (mut pending, mut at, mut out) = (Vec::new(), 0, Vec::new());
        let mut current: Option<(Head, Vec<u8>)> = None;
        loop {
            while let Some((item, used)) = d.next(&pending)? {
                match item {
                    Item::Head(h) => current = Some((h, Vec::new())),
                    Item::Body(b) => current.as_mut().unwrap().1.extend_from_slice(b),
                    Item::End(c) => {
                        let (h, b) = current.take().unwrap();
                        out.push((h, b, c));
                    }
                }
                pending.drain(..used);
            }
            if at >= input.len() {
                return Ok(out);
            }
            let next = (at + step).min(input.len());
            pending.extend_from_slice(&input[at..next]);
            at = next;
        }
    }

    const SEND: &[u8] = b"MSRP d93kswow SEND\r\nTo-Path: msrp://192.168.1.200:6006/b0b;tcp\r\nFrom-Path: msrp://192.168.1.100:5006/a1ce;tcp\r\nMessage-ID: 12339sdqwer\r\nByte-Range: 1-16/16\r\nContent-Type: text/plain\r\n\r\nHi, I'm Alice!\r\n\r\n-------d93kswow$\r\n";

    #[test]
    fn a_send_with_a_body_split_anywhere() {
        for step in [1, 2, 3, 7, 1000] {
            let got = decode_all(SEND, step).unwrap();
            assert_eq!(got.len(), 1, "step {step}");
            let (h, body, c) = &got[0];
            assert_eq!(h.transaction, "d93kswow");
            assert_eq!(h.kind, Kind::Request("SEND".into()));
            assert_eq!(h.header("message-id"), Some("12339sdqwer"));
            assert_eq!(h.byte_range().unwrap().end, Some(16));
            assert_eq!(body, b"Hi, I'm Alice!\r\n");
            assert_eq!(*c, Continuation::Complete);
        }
    }

    #[test]
    fn responses_bodiless_requests_and_flags() {
        let mut stream = response("d93kswow", 200, "OK", "msrp://a/1;tcp", "msrp://b/2;tcp");
        stream.extend(request(
            "abcd1234",
            "REPORT",
            &[("To-Path", "x"), ("From-Path", "y")],
            None,
        ));
        let mut chunk = request_head("zzzz9999", "SEND", &[("Content-Type", "text/plain")], true);
        chunk.extend_from_slice(b"part");
        chunk.extend(end_line("zzzz9999", true, Continuation::More));
        stream.extend(&chunk);
        let got = decode_all(&stream, 5).unwrap();
        let kinds: Vec<_> = got
            .iter()
            .map(|(h, b, c)| (h.kind.clone(), b.len(), *c))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    Kind::Response {
                        code: 200,
                        comment: "OK".into()
                    },
                    0,
                    Continuation::Complete
                ),
                (Kind::Request("REPORT".into()), 0, Continuation::Complete),
                (Kind::Request("SEND".into()), 4, Continuation::More),
            ]
        );
    }

    #[test]
    fn a_body_may_hold_lookalikes_of_its_end_line() {
        let tid = "t0k3nabc";
        let body = b"x\r\n-------t0k3nabcZ and \r\n-------other$\r\n".to_vec();
        let mut msg = request_head(tid, "SEND", &[("Content-Type", "text/plain")], true);
        msg.extend_from_slice(&body);
        msg.extend(end_line(tid, true, Continuation::Aborted));
        for step in [1, 4, 64] {
            let got = decode_all(&msg, step).unwrap();
            assert_eq!(got[0].1, body, "step {step}");
            assert_eq!(got[0].2, Continuation::Aborted);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let cases: [&[u8]; 6] = [
            b"SIP/2.0 200 OK\r\n\r\n",
            b"MSRP ab SEND\r\n\r\n",
            b"MSRP abcd send\r\n\r\n",
            b"MSRP abcd1234 SEND\r\nno colon here\r\n\r\n",
            b"MSRP abcd1234 20 OK\r\n-------abcd1234$\r\n",
            b"MSRP abcd1234 REPORT\r\nTo-Path: x\r\n-------wrongtid$\r\n",
        ];
        for c in cases {
            assert!(decode_all(c, 3).is_err(), "{}", String::from_utf8_lossy(c));
        }
        let huge = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(
            decode_all(&huge, 4096).unwrap_err(),
            MsrpError::HeadTooLarge
        );
        // Every prefix of a valid stream is fine: it just waits for more.
        for n in 0..SEND.len() {
            assert!(decode_all(&SEND[..n], 1).is_ok());
        }
    }
}
