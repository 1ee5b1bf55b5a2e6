//! What arrives on an MSRP session (RFC 4975 7.3, 8.2): requests checked against the session's
//! paths (481, 403), methods we do not know (501), chunks of several messages interleaved and
//! reassembled by Message-ID, texts kept in memory up to a limit (413 beyond), files written at
//! their Byte-Range offset into a temporary file (413 over the size limit), hashed as they come
//! in order, and handed back whole to be checked and stored. Responses and REPORTs to our own
//! requests are passed up to the outbox; neither is ever written into a file, and a REPORT is
//! never answered.
//!
//! Consent before bytes: a file the user has not accepted touches no disk. At most `HOLD` bytes
//! of its first chunk wait in memory; then the session reads nothing more (TCP holds the
//! sender back) until the user's word, which opens the temporary file or drops the bytes.
//! Everything else a peer controls is bounded per session: files and texts in flight, and the
//! bytes of texts waiting for their end; and per peer across its sessions (`budget`).

use super::budget::{Budget, Ticket};
use super::frame::{self, Continuation, Head, Kind};
use super::hasher::Hasher;
use super::names::safe_name;
use super::session::{Expected, SessionEvent, SessionParams};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The largest text message kept in memory.
const MAX_TEXT: usize = 1024 * 1024;
/// Bytes of all unfinished texts of a session together.
const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;
/// Unfinished texts of a session at once.
const MAX_TEXTS: usize = 16;
/// Files arriving on a session at once (each holds an open file).
const MAX_FILES: usize = 4;
/// Refused messages remembered (so their further chunks are refused too).
const MAX_REFUSED: usize = 64;
/// What of a file's first chunk waits in memory for the user's word (one chunk of ours).
pub(super) const HOLD: usize = 256 * 1024;
/// More than an end-line's length (dashes, a transaction id, a flag).
const HOLD_SLACK: usize = 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How much of a file is written before the disk is asked to start on it.
const WRITEBACK: u64 = 8 * 1024 * 1024;

/// A file arriving: its temporary file, what it claims to be, and its hashes so far.
pub(super) struct Incoming {
    pub name: String,
    pub temp: PathBuf,
    pub file: std::fs::File,
    pub total: u64,
    /// The sender gave the size (`Byte-Range: 1-n/total`); with `*` it is known at the end.
    pub total_known: bool,
    /// A resumable transfer's bytes outlive a broken connection.
    pub keep: bool,
    pub expected_sha1: Option<String>,
    /// SHA-256 (and SHA-1 when one was announced to check), computed beside the writing; the
    /// file is hashed from disk at the end when no thread could be had.
    pub hasher: Option<Hasher>,
    /// Bytes `0..flushed` were handed to the disk already (so the fsync at the end is short).
    flushed: u64,
    /// Its share of the peer's budget.
    pub ticket: Option<Ticket>,
    received: u64,
    started: Instant,
    last_report: Instant,
}

/// A file waiting for the user's word: what it claims to be, and what of its first chunk is
/// held in memory (from byte `from`, 0-based). Nothing of it is on disk.
pub(super) struct Asking {
    name: String,
    total: Option<u64>,
    content_type: String,
    from: u64,
    held: Vec<u8>,
    /// Its whole body arrived in that chunk (its end-line was `$`), and where REPORTs go.
    whole: Option<Reports>,
    ticket: Option<Ticket>,
}

/// Where the REPORTs on a whole message go, as its sender asked (RFC 4975 7.1.2).
#[derive(Debug, Clone, Default)]
pub(super) struct Reports {
    pub success: Option<String>,
    /// Failure-Report is `yes` unless the sender said otherwise.
    pub failure: Option<String>,
}

impl Reports {
    /// Where the REPORT with `code` goes, if anywhere.
    pub fn to(&self, code: u16) -> Option<&String> {
        match code {
            200 => self.success.as_ref(),
            _ => self.failure.as_ref(),
        }
    }
}

/// A message being received (by Message-ID).
enum Arriving {
    Text {
        content_type: String,
        data: Vec<u8>,
        ticket: Option<Ticket>,
    },
    File(Box<Incoming>),
    Asking(Box<Asking>),
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
    /// A whole file to check and store; then a REPORT goes where the sender asked.
    Complete {
        file: Box<Incoming>,
        message_id: String,
        reports: Reports,
    },
    /// A whole file the user refused: a REPORT with 413 goes where the sender asked.
    Refused {
        message_id: String,
        total: u64,
        reports: Reports,
    },
}

pub(super) struct Inbox {
    local_path: String,
    remote_path: String,
    /// Where temporary files are made (a private folder of the profile).
    partial: PathBuf,
    max_size: u64,
    expect: Option<Expected>,
    ask: bool,
    messages: HashMap<String, Arriving>,
    current: Option<Chunk>,
    /// The peer's address, and what every peer may have in flight.
    peer: Option<std::net::IpAddr>,
    budget: Budget,
}

/// `msrp://Host:port/id;tcp` and `msrp://host:port/id;tcp` are the same path (RFC 4975 6.1:
/// scheme and host compare without case, the session id exactly).
pub(super) fn same_path(a: &str, b: &str) -> bool {
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

/// Whether two paths end at the same URI: the sender's own, which relays on the way
/// (RFC 4976) put theirs in front of.
pub(super) fn same_origin(a: &str, b: &str) -> bool {
    let last = |p: &str| p.split_whitespace().last().unwrap_or_default().to_string();
    same_path(&last(a), &last(b))
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
    pub(super) fn new(p: &SessionParams, peer: Option<std::net::IpAddr>) -> Inbox {
        Inbox {
            local_path: p.local_path.clone(),
            remote_path: p.remote_path.clone(),
            partial: p.partial.clone(),
            max_size: p.max_size,
            expect: p.expect.clone(),
            ask: p.ask,
            messages: HashMap::new(),
            current: None,
            peer,
            budget: p.budget.clone(),
        }
    }

    /// A share of the peer's budget for a file (`text` false) or a text; `Some(None)` when the
    /// peer is not known (nothing to share), `None` when it has no room.
    fn share(&self, text: bool) -> Option<Option<Ticket>> {
        let Some(peer) = self.peer else {
            return Some(None);
        };
        match text {
            true => self.budget.text(peer).map(Some),
            false => self.budget.file(peer).map(Some),
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
            .is_some_and(|p| same_origin(p, &self.remote_path))
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
                    match self.open_message(&h) {
                        // Refused at once: kept nowhere, so refusals cannot fill memory.
                        Arriving::Refused(code, why) => status = Some((code, why)),
                        arriving => {
                            if let Arriving::Asking(a) = &arriving {
                                notes.push(Note::Event(SessionEvent::Arriving {
                                    name: a.name.clone(),
                                    size: a.total.unwrap_or(0),
                                    content_type: a.content_type.clone(),
                                }));
                            }
                            self.messages.insert(id.clone(), arriving);
                        }
                    }
                }
                if status.is_none() {
                    pos = h.byte_range().map_or(0, |r| r.start.saturating_sub(1));
                    status = self.seek(&id, pos);
                }
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
            Some(Arriving::Asking(a)) if a.held.is_empty() => {
                a.from = pos;
                None
            }
            Some(Arriving::Asking(a)) if pos != a.from + a.held.len() as u64 => {
                // Only bytes in order wait for the user; the sender may send the rest again.
                Some((413, "Not accepted yet"))
            }
            _ => None,
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        let (mut files, mut texts, mut text_bytes) = (0, 0, 0);
        for m in self.messages.values() {
            match m {
                Arriving::File(_) | Arriving::Asking(_) => files += 1,
                Arriving::Text { data, .. } => {
                    (texts, text_bytes) = (texts + 1, text_bytes + data.len())
                }
                Arriving::Refused(..) => {}
            }
        }
        (files, texts, text_bytes)
    }

    fn open_message(&self, h: &Head) -> Arriving {
        let content_type = h.header("Content-Type").unwrap_or("text/plain").to_string();
        let total = h.byte_range().and_then(|r| r.total);
        let name = file_name_of(h);
        let expected = self.expect.is_some() && total.is_some_and(|t| t > 0);
        let (files, texts, text_bytes) = self.counts();
        if name.is_none() && !expected && is_text(&content_type) {
            if texts >= MAX_TEXTS || text_bytes >= MAX_TEXT_BYTES {
                return Arriving::Refused(413, "Too many messages at once");
            }
            let Some(ticket) = self.share(true) else {
                return Arriving::Refused(413, "Too many messages at once");
            };
            return Arriving::Text {
                content_type,
                data: Vec::new(),
                ticket,
            };
        }
        if total.is_some_and(|t| t > self.max_size) {
            return Arriving::Refused(413, "Larger than the receiver takes");
        }
        if files >= MAX_FILES {
            return Arriving::Refused(413, "Too many files at once");
        }
        let Some(ticket) = self.share(false) else {
            return Arriving::Refused(413, "Too many files at once");
        };
        if let (Some(e), true) = (&self.expect, expected) {
            if total != Some(e.size) {
                // RFC 5547: the file must be the one the SDP announced, size and all.
                return Arriving::Refused(400, "Not the size the offer announced");
            }
            return with_ticket(self.open_expected(e), ticket);
        }
        let name = safe_name(&name.unwrap_or_default());
        if self.ask {
            return Arriving::Asking(Box::new(Asking {
                name,
                total,
                content_type,
                from: 0,
                held: Vec::new(),
                whole: None,
                ticket,
            }));
        }
        with_ticket(self.open_new(name, total), ticket)
    }

    /// The announced file of a file session (accepted with its offer), resumable.
    fn open_expected(&self, e: &Expected) -> Arriving {
        let file = super::temp::open_resumable(&e.temp);
        self.arriving(
            file,
            e.temp.clone(),
            e.name.clone(),
            Some(e.size),
            true,
            e.sha1.clone(),
        )
    }

    /// A file the user accepted (or that needs no asking), in a new temporary file.
    fn open_new(&self, name: String, total: Option<u64>) -> Arriving {
        match super::temp::create(&self.partial) {
            Ok((temp, file)) => self.arriving(Ok(file), temp, name, total, false, None),
            Err(e) => self.arriving(Err(e), PathBuf::new(), name, total, false, None),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn arriving(
        &self,
        file: std::io::Result<std::fs::File>,
        temp: PathBuf,
        name: String,
        total: Option<u64>,
        keep: bool,
        sha1: Option<String>,
    ) -> Arriving {
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("cannot store an incoming file: {e}");
                return Arriving::Refused(400, "Cannot store it");
            }
        };
        // A resumed file's earlier bytes are there already: hashed while the rest arrives.
        let ready = file.metadata().map_or(0, |m| m.len());
        let hasher = file
            .try_clone()
            .and_then(|read| Hasher::start(read, ready, sha1.is_some()))
            .map_err(|e| tracing::warn!("hashing beside the transfer: {e}"))
            .ok();
        Arriving::File(Box::new(Incoming {
            name: safe_name(&name),
            temp,
            file,
            total: total.unwrap_or(self.max_size),
            total_known: total.is_some(),
            keep,
            hasher,
            expected_sha1: sha1,
            flushed: 0,
            ticket: None,
            received: 0,
            started: Instant::now(),
            // In the past, so the first piece is reported at once.
            last_report: Instant::now() - PROGRESS_EVERY,
        }))
    }

    /// Refuses the rest of a message, dropping what arrived of it (and the rest of its chunk
    /// now arriving).
    fn refuse(&mut self, id: &str, code: u16, why: &'static str) {
        if let Some(c) = self.current.as_mut().filter(|c| c.id == id) {
            c.status.get_or_insert((code, why));
        }
        if let Some(Arriving::File(f)) = self
            .messages
            .insert(id.into(), Arriving::Refused(code, why))
        {
            let _ = std::fs::remove_file(&f.temp);
        }
        // Refused messages a peer never ends are remembered only so far.
        let refused: Vec<String> = self
            .messages
            .iter()
            .filter(|(k, m)| matches!(m, Arriving::Refused(..)) && k.as_str() != id)
            .map(|(k, _)| k.clone())
            .collect();
        if refused.len() >= MAX_REFUSED {
            for k in &refused[..refused.len() + 1 - MAX_REFUSED] {
                self.messages.remove(k);
            }
        }
    }

    /// How many more body bytes may be decoded now: none while a file that waits for the
    /// user has its first chunk held (the session then stops reading), else any.
    pub(super) fn room(&self) -> usize {
        let waiting = self.messages.iter().find_map(|(id, m)| match m {
            Arriving::Asking(a) => Some((id, a)),
            _ => None,
        });
        let Some((id, a)) = waiting else {
            return usize::MAX;
        };
        let in_its_chunk = self
            .current
            .as_ref()
            .is_some_and(|c| &c.id == id && c.status.is_none() && a.whole.is_none());
        // The decoder keeps back what could be the start of an end-line, so a little room
        // left is none: it would take nothing from it.
        match HOLD.saturating_sub(a.held.len()) {
            left if in_its_chunk && left > HOLD_SLACK => left,
            _ => 0,
        }
    }

    fn body(&mut self, bytes: &[u8], notes: &mut Vec<Note>) {
        let Some(chunk) = self.current.as_mut() else {
            return;
        };
        // Only a SEND's body is ever kept: never a response's or a REPORT's.
        let send = matches!(&chunk.head.kind, Kind::Request(m) if m == "SEND");
        if chunk.status.is_some() || !send {
            return;
        }
        let id = chunk.id.clone();
        let at = chunk.pos;
        chunk.pos += bytes.len() as u64;
        let refusal = match self.messages.get_mut(&id) {
            Some(Arriving::Text { data, .. }) if data.len() + bytes.len() > MAX_TEXT => {
                Some((413, "Message too large"))
            }
            Some(Arriving::Text { data, ticket, .. }) => {
                match ticket.as_mut().is_none_or(|t| t.grow(bytes.len())) {
                    true => {
                        data.extend_from_slice(bytes);
                        None
                    }
                    false => Some((413, "Too many messages at once")),
                }
            }
            Some(Arriving::File(f)) => write_at(f, at, bytes, notes),
            Some(Arriving::Asking(a)) if a.held.len() + bytes.len() > HOLD => {
                Some((413, "Not accepted yet"))
            }
            Some(Arriving::Asking(a)) => {
                a.held.extend_from_slice(bytes);
                None
            }
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
        if method == "REPORT" {
            // REPORTs are never answered (RFC 4975 7.1.2), even ones we do not take.
            if chunk.status.is_none() {
                let code = status_code(h.header("Status").unwrap_or_default());
                let message_id = chunk.id.clone();
                notes.push(Note::Report { message_id, code });
            }
            return;
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
            let reports = Reports {
                success: (h.header("Success-Report") == Some("yes")).then(|| from.to_string()),
                failure: (h.header("Failure-Report") != Some("no")).then(|| from.to_string()),
            };
            self.finish(&chunk.id, c, reports, notes);
        }
    }

    fn finish(&mut self, id: &str, c: Continuation, reports: Reports, notes: &mut Vec<Note>) {
        if let (Some(Arriving::Asking(a)), Continuation::Complete) = (self.messages.get_mut(id), c)
        {
            // Whole in its first chunk: it waits, in memory, for the user's word.
            a.whole = Some(reports);
            return;
        }
        let Some(m) = self.messages.remove(id) else {
            return;
        };
        match (m, c) {
            (
                Arriving::Text {
                    content_type, data, ..
                },
                Continuation::Complete,
            ) if !data.is_empty() => {
                let (content_type, text) = super::cpim::unwrap(&content_type, &data);
                notes.push(Note::Event(SessionEvent::Text { content_type, text }));
            }
            (Arriving::File(mut f), Continuation::Complete) => {
                if !f.total_known {
                    // `Byte-Range: 1-n/*`: the file is as long as what arrived.
                    f.total = f.received;
                }
                notes.push(Note::Complete {
                    file: f,
                    message_id: id.to_string(),
                    reports,
                })
            }
            (Arriving::File(f), _) => {
                // The sender gave up on it (`#`): nothing of it is kept, resumable or not.
                let _ = std::fs::remove_file(&f.temp);
                notes.push(cancelled(&f.name, true));
            }
            (Arriving::Asking(a), _) => notes.push(cancelled(&a.name, true)),
            _ => {}
        }
    }

    /// The user's word on a file that asked. Accepted, its temporary file is made now and what
    /// was held goes into it (and it is stored if that was all of it); refused, the held bytes
    /// are dropped, its further chunks get 413, and a REPORT says 413 if it had all arrived.
    pub(super) fn decide(&mut self, name: &str, accept: bool) -> Vec<Note> {
        let mut notes = Vec::new();
        let id = self.messages.iter().find_map(|(id, m)| match m {
            Arriving::Asking(a) if a.name == name => Some(id.clone()),
            _ => None,
        });
        let Some(id) = id else {
            if !accept {
                self.cancel(name, &mut notes);
            }
            return notes;
        };
        let Some(Arriving::Asking(a)) = self.messages.remove(&id) else {
            return notes;
        };
        let Asking {
            name,
            total,
            content_type: _,
            from,
            held,
            whole,
            ticket,
        } = *a;
        if !accept {
            self.refuse(&id, 413, "Refused by the receiver");
            if let Some(reports) = whole {
                self.messages.remove(&id);
                let total = total.unwrap_or(held.len() as u64);
                notes.push(Note::Refused {
                    message_id: id,
                    total,
                    reports,
                });
            }
            notes.push(cancelled(&name, false));
            return notes;
        }
        let mut opened = with_ticket(self.open_new(name, total), ticket);
        let failed = match &mut opened {
            Arriving::File(f) => write_at(f, from, &held, &mut notes),
            _ => None,
        };
        self.messages.insert(id.clone(), opened);
        if let Some((code, why)) = failed {
            self.refuse(&id, code, why);
        }
        if let Some(reports) = whole {
            self.finish(&id, Continuation::Complete, reports, &mut notes);
        }
        notes
    }

    /// Whether part of a file has arrived and not its end.
    pub(super) fn in_flight(&self) -> bool {
        self.messages
            .values()
            .any(|m| matches!(m, Arriving::File(_) | Arriving::Asking(_)))
    }

    /// We stop receiving a file: its further chunks get 413, what arrived of it is deleted.
    pub(super) fn cancel(&mut self, name: &str, notes: &mut Vec<Note>) -> bool {
        let id = self.messages.iter().find_map(|(id, m)| match m {
            Arriving::File(f) if f.name == name || name.is_empty() => Some(id.clone()),
            Arriving::Asking(a) if a.name == name || name.is_empty() => Some(id.clone()),
            _ => None,
        });
        let Some(id) = id else { return false };
        self.refuse(&id, 413, "Cancelled by the receiver");
        notes.push(cancelled(name, false));
        true
    }
}

/// A file's share of its peer's budget goes with it.
fn with_ticket(mut a: Arriving, ticket: Option<Ticket>) -> Arriving {
    if let Arriving::File(f) = &mut a {
        f.ticket = ticket;
    }
    a
}

/// The event for a file that stopped arriving.
fn cancelled(name: &str, by_peer: bool) -> Note {
    Note::Event(SessionEvent::Cancelled {
        name: name.to_string(),
        incoming: true,
        by_peer,
    })
}

/// The code of a `Status: 000 200 OK` header (RFC 4975 9).
fn status_code(v: &str) -> u16 {
    v.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Starts the disk writing `from..to` without waiting for it, so the data goes to disk while
/// the rest arrives instead of all at the fsync at the end.
fn start_writeback(file: &std::fs::File, from: u64, to: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (i64::try_from(from), i64::try_from(to.saturating_sub(from))) else {
        return;
    };
    // SAFETY: a plain system call on an open descriptor we own; it reads no memory of ours.
    unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Writes a piece of a file at `at`; the hasher is told what is there now.
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
    let end = at + bytes.len() as u64;
    if let Some(h) = &f.hasher {
        h.written(at, end);
    }
    if end >= f.flushed.saturating_add(WRITEBACK) {
        start_writeback(&f.file, f.flushed, end);
        f.flushed = end;
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
