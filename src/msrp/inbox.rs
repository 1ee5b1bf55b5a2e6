//! What arrives on an MSRP session (RFC 4975 7.3, 8.2): requests checked against the session's
//! paths (481, 403), methods we do not know (501), chunks of several messages interleaved and
//! reassembled by Message-ID, texts kept in memory up to a limit (413 beyond), files written at
//! their Byte-Range offset into a temporary file (413 over the size limit), hashed as they come
//! in order, and handed back whole to be checked and stored. Responses and REPORTs to our own
//! requests are passed up to the outbox.

use super::frame::{self, Continuation, Head, Kind};
use super::names::safe_name;
use super::session::{Expected, SessionEvent, SessionParams};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The largest text message kept in memory.
const MAX_TEXT: usize = 1024 * 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A file arriving: its temporary file, what it claims to be, and its hashes so far.
pub(super) struct Incoming {
    pub name: String,
    pub temp: PathBuf,
    pub file: std::fs::File,
    pub total: u64,
    /// A resumable transfer's bytes outlive a broken connection.
    pub keep: bool,
    pub expected_sha1: Option<String>,
    pub content_type: String,
    /// SHA-256 (and SHA-1 when one was announced to check) of bytes `0..hashed`, while the
    /// chunks arrive in order.
    pub hashes: Option<(Sha256, Option<Sha1>)>,
    pub hashed: u64,
    /// The user let it be stored (always, when the session does not ask).
    approved: bool,
    received: u64,
    started: Instant,
    last_report: Instant,
}

/// A message being received (by Message-ID).
enum Arriving {
    Text {
        content_type: String,
        data: Vec<u8>,
    },
    File(Box<Incoming>),
    /// Every further chunk gets this status.
    Refused(u16, &'static str),
}

/// The chunk being read: its head, message and status, and where its next byte goes.
struct Chunk {
    head: Head,
    id: String,
    status: Option<(u16, &'static str)>,
    pos: u64,
}

/// What the session loop is told to do.
pub(super) enum Note {
    /// Bytes to write: a response.
    Reply(Vec<u8>),
    Event(SessionEvent),
    /// The other side answered one of our chunks.
    Answered {
        transaction: String,
        code: u16,
    },
    /// The other side's REPORT on one of our messages.
    Report {
        message_id: String,
        code: u16,
    },
    /// A whole file to check and store; then a REPORT goes to `report_to` when asked for.
    Complete {
        file: Box<Incoming>,
        message_id: String,
        report_to: Option<String>,
    },
    /// A whole file the user refused: a REPORT with 413 goes to `report_to` when asked for.
    Refused {
        message_id: String,
        total: u64,
        report_to: Option<String>,
    },
}

/// A whole file waiting for the user's word.
struct Parked {
    file: Box<Incoming>,
    message_id: String,
    report_to: Option<String>,
}

pub(super) struct Inbox {
    local_path: String,
    remote_path: String,
    files: PathBuf,
    max_size: u64,
    expect: Option<Expected>,
    ask: bool,
    messages: HashMap<String, Arriving>,
    parked: Vec<Parked>,
    current: Option<Chunk>,
}

/// `msrp://Host:port/id;tcp` and `msrp://host:port/id;tcp` are the same path (RFC 4975 6.1:
/// scheme and host compare without case, the session id exactly).
fn same_path(a: &str, b: &str) -> bool {
    let split = |p: &str| {
        let first = p.split_whitespace().next().unwrap_or_default().to_string();
        match first
            .find("://")
            .and_then(|i| first[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(cut) => (first[..cut].to_ascii_lowercase(), first[cut..].to_string()),
            None => (first.to_ascii_lowercase(), String::new()),
        }
    };
    split(a) == split(b)
}

/// The file name a SEND carries: `Content-Disposition: ...; filename="x"` or a `name=`
/// parameter of its Content-Type.
fn file_name_of(h: &Head) -> Option<String> {
    let param = |v: &str, key: &str| {
        v.split(';').find_map(|p| {
            let (k, val) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(key)).then(|| val.trim().trim_matches('"').to_string())
        })
    };
    h.header("Content-Disposition")
        .and_then(|v| param(v, "filename"))
        .or_else(|| h.header("Content-Type").and_then(|v| param(v, "name")))
}

fn is_text(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    t.starts_with("text/") || t.starts_with("message/cpim")
}

impl Inbox {
    pub(super) fn new(p: &SessionParams) -> Inbox {
        Inbox {
            local_path: p.local_path.clone(),
            remote_path: p.remote_path.clone(),
            files: p.files.clone(),
            max_size: p.max_size,
            expect: p.expect.clone(),
            ask: p.ask,
            messages: HashMap::new(),
            parked: Vec::new(),
            current: None,
        }
    }

    /// One decoded item; what to do about it goes into `notes`.
    pub(super) fn item(&mut self, item: frame::Item, notes: &mut Vec<Note>) {
        match item {
            frame::Item::Head(h) => self.head(h, notes),
            frame::Item::Body(b) => self.body(b, notes),
            frame::Item::End(c) => self.end(c, notes),
        }
    }

    /// Why a request is refused before its body is read, if it is.
    fn check(&self, h: &Head, method: &str) -> Option<(u16, &'static str)> {
        if !h
            .header("To-Path")
            .is_some_and(|p| same_path(p, &self.local_path))
        {
            return Some((481, "No such session"));
        }
        if !h
            .header("From-Path")
            .is_some_and(|p| same_path(p, &self.remote_path))
        {
            return Some((403, "Forbidden"));
        }
        match method {
            "SEND" | "REPORT" => None,
            _ => Some((501, "Not implemented")),
        }
    }

    fn head(&mut self, h: Head, notes: &mut Vec<Note>) {
        let id = h.header("Message-ID").unwrap_or_default().to_string();
        let mut status = None;
        let mut pos = 0;
        if let Kind::Request(m) = &h.kind {
            status = self.check(&h, m);
            if m == "SEND" && status.is_none() {
                if !self.messages.contains_key(&id) {
                    let arriving = self.open_message(&h);
                    if let Arriving::File(f) = &arriving {
                        if !f.approved {
                            notes.push(Note::Event(SessionEvent::Arriving {
                                name: f.name.clone(),
                                size: f.total,
                                content_type: f.content_type.clone(),
                            }));
                        }
                    }
                    self.messages.insert(id.clone(), arriving);
                }
                pos = h.byte_range().map_or(0, |r| r.start - 1);
                status = self.seek(&id, pos);
            }
        }
        self.current = Some(Chunk {
            head: h,
            id,
            status,
            pos,
        });
    }

    /// Puts the message's file at `pos`; a chunk that starts past the end is refused.
    fn seek(&mut self, id: &str, pos: u64) -> Option<(u16, &'static str)> {
        match self.messages.get_mut(id) {
            Some(Arriving::Refused(code, why)) => Some((*code, *why)),
            Some(Arriving::File(f)) if pos > f.total => {
                self.refuse(id, 400, "Byte-Range beyond the file");
                Some((400, "Byte-Range beyond the file"))
            }
            Some(Arriving::File(f)) => match f.file.seek(SeekFrom::Start(pos)) {
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("cannot write {}: {e}", f.temp.display());
                    self.refuse(id, 400, "Cannot store it");
                    Some((400, "Cannot store it"))
                }
            },
            _ => None,
        }
    }

    fn open_message(&self, h: &Head) -> Arriving {
        let content_type = h.header("Content-Type").unwrap_or("text/plain").to_string();
        let total = h.byte_range().and_then(|r| r.total);
        let name = file_name_of(h);
        let expected = self.expect.is_some() && total.is_some_and(|t| t > 0);
        if name.is_none() && !expected && is_text(&content_type) {
            return Arriving::Text {
                content_type,
                data: Vec::new(),
            };
        }
        let total = total.unwrap_or(self.max_size);
        if total > self.max_size {
            return Arriving::Refused(413, "Larger than the receiver takes");
        }
        let (temp, keep, sha1, name) = match (&self.expect, expected) {
            (Some(e), true) => (e.temp.clone(), true, e.sha1.clone(), e.name.clone()),
            _ => {
                let temp = self.files.join(format!(".parley-{}.part", super::new_id()));
                (temp, false, None, name.unwrap_or_default())
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(!keep)
            .write(true)
            .open(&temp);
        match file {
            Ok(file) => Arriving::File(Box::new(Incoming {
                name: safe_name(&name),
                temp,
                file,
                total,
                keep,
                expected_sha1: sha1.clone(),
                hashes: Some((Sha256::new(), sha1.is_some().then(Sha1::new))),
                hashed: 0,
                // An announced file was accepted with its offer.
                approved: !self.ask || expected,
                content_type,
                received: 0,
                started: Instant::now(),
                // In the past, so the first piece is reported at once.
                last_report: Instant::now() - PROGRESS_EVERY,
            })),
            Err(e) => {
                tracing::warn!("cannot store an incoming file: {e}");
                Arriving::Refused(400, "Cannot store it")
            }
        }
    }

    /// Refuses the rest of a message, dropping what arrived of it.
    fn refuse(&mut self, id: &str, code: u16, why: &'static str) {
        if let Some(Arriving::File(f)) = self
            .messages
            .insert(id.into(), Arriving::Refused(code, why))
        {
            let _ = std::fs::remove_file(&f.temp);
        }
    }

    fn body(&mut self, bytes: &[u8], notes: &mut Vec<Note>) {
        let Some(chunk) = self.current.as_mut() else {
            return;
        };
        if chunk.status.is_some() {
            return;
        }
        let id = chunk.id.clone();
        let at = chunk.pos;
        chunk.pos += bytes.len() as u64;
        let refusal = match self.messages.get_mut(&id) {
            Some(Arriving::Text { data, .. }) if data.len() + bytes.len() > MAX_TEXT => {
                Some((413, "Message too large"))
            }
            Some(Arriving::Text { data, .. }) => {
                data.extend_from_slice(bytes);
                None
            }
            Some(Arriving::File(f)) => write_at(f, at, bytes, notes),
            _ => None,
        };
        if let Some((code, why)) = refusal {
            self.refuse(&id, code, why);
            if let Some(c) = self.current.as_mut() {
                c.status = Some((code, why));
            }
        }
    }

    fn end(&mut self, c: Continuation, notes: &mut Vec<Note>) {
        let Some(chunk) = self.current.take() else {
            return;
        };
        let h = &chunk.head;
        let method = match &h.kind {
            Kind::Response { code, .. } => {
                let transaction = h.transaction.clone();
                return notes.push(Note::Answered {
                    transaction,
                    code: *code,
                });
            }
            Kind::Request(m) => m.as_str(),
        };
        if method == "REPORT" && chunk.status.is_none() {
            // REPORTs are never answered (RFC 4975 7.1.2).
            let code = status_code(h.header("Status").unwrap_or_default());
            let message_id = chunk.id.clone();
            return notes.push(Note::Report { message_id, code });
        }
        let (code, why) = chunk.status.unwrap_or((200, "OK"));
        let from = h.header("From-Path").unwrap_or_default();
        // Failure-Report: `no` wants no responses, `partial` only the failures (RFC 4975 7.1.2).
        let wanted = match h.header("Failure-Report") {
            Some("no") => false,
            Some("partial") => code != 200,
            _ => true,
        };
        if wanted {
            let reply = frame::response(&h.transaction, code, why, from, &self.local_path);
            notes.push(Note::Reply(reply));
        }
        if c != Continuation::More && method == "SEND" {
            let report_to = (h.header("Success-Report") == Some("yes")).then(|| from.to_string());
            self.finish(&chunk.id, c, report_to, notes);
        }
    }

    fn finish(
        &mut self,
        id: &str,
        c: Continuation,
        report_to: Option<String>,
        notes: &mut Vec<Note>,
    ) {
        let Some(m) = self.messages.remove(id) else {
            return;
        };
        match (m, c) {
            (Arriving::Text { content_type, data }, Continuation::Complete) if !data.is_empty() => {
                let (content_type, text) = super::cpim::unwrap(&content_type, &data);
                notes.push(Note::Event(SessionEvent::Text { content_type, text }));
            }
            (Arriving::File(f), Continuation::Complete) if !f.approved => {
                self.parked.push(Parked {
                    file: f,
                    message_id: id.to_string(),
                    report_to,
                })
            }
            (Arriving::File(f), Continuation::Complete) => notes.push(Note::Complete {
                file: f,
                message_id: id.to_string(),
                report_to,
            }),
            (Arriving::File(f), _) => {
                // The sender gave up on it (`#`): nothing of it is kept, resumable or not.
                let _ = std::fs::remove_file(&f.temp);
                let name = f.name.clone();
                notes.push(Note::Event(SessionEvent::Cancelled {
                    name,
                    incoming: true,
                    by_peer: true,
                }));
            }
            _ => {}
        }
    }

    /// The user's word on a file that asked: kept once whole, or refused (what arrived of it is
    /// deleted; its further chunks get 413, or a REPORT says 413 when all had arrived).
    pub(super) fn decide(&mut self, name: &str, accept: bool) -> Vec<Note> {
        let mut notes = Vec::new();
        if let Some(i) = self.parked.iter().position(|p| p.file.name == name) {
            let p = self.parked.remove(i);
            if accept {
                notes.push(Note::Complete {
                    file: p.file,
                    message_id: p.message_id,
                    report_to: p.report_to,
                });
                return notes;
            }
            let _ = std::fs::remove_file(&p.file.temp);
            notes.push(Note::Refused {
                message_id: p.message_id,
                total: p.file.total,
                report_to: p.report_to,
            });
            notes.push(Note::Event(SessionEvent::Cancelled {
                name: name.to_string(),
                incoming: true,
                by_peer: false,
            }));
            return notes;
        }
        if !accept {
            self.cancel(name, &mut notes);
            return notes;
        }
        for m in self.messages.values_mut() {
            if let Arriving::File(f) = m {
                if f.name == name {
                    f.approved = true;
                }
            }
        }
        notes
    }

    /// Whether part of a file has arrived and not its end.
    pub(super) fn in_flight(&self) -> bool {
        self.messages
            .values()
            .any(|m| matches!(m, Arriving::File(_)))
    }

    /// We stop receiving a file: its further chunks get 413, what arrived of it is deleted.
    pub(super) fn cancel(&mut self, name: &str, notes: &mut Vec<Note>) -> bool {
        let id = self.messages.iter().find_map(|(id, m)| match m {
            Arriving::File(f) if f.name == name || name.is_empty() => Some(id.clone()),
            _ => None,
        });
        let Some(id) = id else { return false };
        self.refuse(&id, 413, "Cancelled by the receiver");
        let name = name.to_string();
        notes.push(Note::Event(SessionEvent::Cancelled {
            name,
            incoming: true,
            by_peer: false,
        }));
        true
    }
}

/// The code of a `Status: 000 200 OK` header (RFC 4975 9).
fn status_code(v: &str) -> u16 {
    v.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Writes a piece of a file at `at`, hashing it when it continues what was hashed so far.
fn write_at(
    f: &mut Incoming,
    at: u64,
    bytes: &[u8],
    notes: &mut Vec<Note>,
) -> Option<(u16, &'static str)> {
    if at
        .checked_add(bytes.len() as u64)
        .is_none_or(|end| end > f.total)
    {
        return Some((400, "Byte-Range beyond the file"));
    }
    if let Err(e) = f.file.write_all(bytes) {
        tracing::warn!("cannot write {}: {e}", f.temp.display());
        return Some((400, "Cannot store it"));
    }
    match (&mut f.hashes, at == f.hashed) {
        (Some((a, b)), true) => {
            a.update(bytes);
            if let Some(b) = b {
                b.update(bytes);
            }
            f.hashed += bytes.len() as u64;
        }
        // Out of order (or resumed): the whole file is hashed from disk at the end.
        _ => f.hashes = None,
    }
    f.received += bytes.len() as u64;
    let done = at + bytes.len() as u64;
    if f.last_report.elapsed() >= PROGRESS_EVERY || done == f.total {
        f.last_report = Instant::now();
        let secs = f.started.elapsed().as_secs_f64().max(1e-3);
        notes.push(Note::Event(SessionEvent::Progress {
            name: f.name.clone(),
            incoming: true,
            done,
            total: f.total,
            bytes_per_second: (f.received as f64 / secs) as u64,
        }));
    }
    None
}

impl Drop for Inbox {
    /// A session that ends mid-file leaves no part behind, unless the transfer can resume.
    fn drop(&mut self) {
        for p in &self.parked {
            let _ = std::fs::remove_file(&p.file.temp);
        }
        for m in self.messages.values() {
            if let Arriving::File(f) = m {
                if !f.keep {
                    let _ = std::fs::remove_file(&f.temp);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compare_host_without_case_and_id_exactly() {
        assert!(same_path(
            "msrp://Host.Example:7/abc;tcp",
            "msrp://host.example:7/abc;tcp"
        ));
        assert!(!same_path("msrp://host:7/ABC;tcp", "msrp://host:7/abc;tcp"));
        assert!(!same_path("msrp://host:8/abc;tcp", "msrp://host:7/abc;tcp"));
    }

    #[test]
    fn status_header() {
        assert_eq!(status_code("000 200 OK"), 200);
        assert_eq!(status_code("000 413"), 413);
        assert_eq!(status_code("junk"), 0);
    }
}
