//! What we send on an MSRP session: texts in one SEND, files in chunks read from disk one at a
//! time, several files taking turns so texts and files interleave (RFC 4975 5.1), a file asking
//! for a Success-Report so "sent" means the other side checked it whole. A non-200 answer to a
//! chunk stops that file (413 means the receiver wants no more of it, 7.1.2); cancelling ends it
//! with a `#` end-line.

use super::frame::{self, Continuation};
use super::session::SessionEvent;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

const CHUNK: usize = 256 * 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A file on its way out.
struct Sending {
    message_id: String,
    name: String,
    file: std::fs::File,
    size: u64,
    /// Bytes handed to the connection, counted from the start of the file.
    sent: u64,
    /// Where this attempt started (a resumed transfer skips what the other side has).
    from: u64,
    content_type: String,
    started: Instant,
    last_report: Instant,
}

pub(super) struct Outbox {
    local_path: String,
    remote_path: String,
    queue: VecDeque<Sending>,
    /// Our chunks not yet answered: transaction -> Message-ID.
    chunks: HashMap<String, String>,
    /// Files sent whole, waiting for their Success-Report: Message-ID -> (name, size).
    awaiting: HashMap<String, (String, u64)>,
    /// Our texts not yet answered, by transaction.
    texts: std::collections::HashSet<String>,
}

/// One SEND chunk: bytes `start..start+body.len()-1` (1-based) of a `total`-byte message.
pub(super) struct ChunkSpec<'a> {
    pub message_id: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
    pub start: u64,
    pub total: u64,
    pub flag: Continuation,
    pub extra: &'a [(&'a str, &'a str)],
}

impl Outbox {
    pub(super) fn new(local_path: &str, remote_path: &str) -> Outbox {
        Outbox {
            local_path: local_path.to_string(),
            remote_path: remote_path.to_string(),
            queue: VecDeque::new(),
            chunks: HashMap::new(),
            awaiting: HashMap::new(),
            texts: Default::default(),
        }
    }

    /// A whole SEND chunk, head, body and end-line, with its transaction id.
    pub(super) fn chunk(&self, c: &ChunkSpec) -> (String, Vec<u8>) {
        let tid = frame::new_transaction();
        // Inclusive, 1-based: an empty body covers `start-(start-1)`, e.g. `1-0/0`.
        let end = (c.start + c.body.len() as u64).saturating_sub(1);
        let range = format!("{}-{end}/{}", c.start, c.total);
        let mut headers = vec![
            ("To-Path", self.remote_path.as_str()),
            ("From-Path", self.local_path.as_str()),
            ("Message-ID", c.message_id),
            ("Byte-Range", &range),
        ];
        headers.extend_from_slice(c.extra);
        headers.push(("Content-Type", c.content_type));
        let has_body = !c.body.is_empty();
        let mut out = frame::request_head(&tid, "SEND", &headers, has_body);
        out.extend_from_slice(c.body);
        out.extend(frame::end_line(&tid, has_body, c.flag));
        (tid, out)
    }

    /// A text message in one SEND; its 200 says it was delivered.
    pub(super) fn text(&mut self, content_type: &str, body: &[u8]) -> Vec<u8> {
        let id = super::new_id();
        let spec = ChunkSpec {
            message_id: &id,
            content_type,
            body,
            start: 1,
            total: body.len() as u64,
            flag: Continuation::Complete,
            extra: &[],
        };
        let (tid, frame) = self.chunk(&spec);
        if !body.is_empty() {
            self.texts.insert(tid);
        }
        frame
    }

    /// Queues a file, from byte `from` on (0: all of it).
    pub(super) fn file(&mut self, path: &Path, from: u64) -> Result<(), String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let from = from.min(size);
        file.seek(SeekFrom::Start(from))
            .map_err(|e| e.to_string())?;
        let content_type = crate::msrp::mime::of_name(&name).to_string();
        self.queue.push_back(Sending {
            message_id: super::new_id(),
            name,
            file,
            size,
            sent: from,
            from,
            content_type,
            started: Instant::now(),
            // In the past, so the first piece is reported at once.
            last_report: Instant::now() - PROGRESS_EVERY,
        });
        Ok(())
    }

    pub(super) fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether a file of ours is still going or waits for its report.
    pub(super) fn in_flight(&self) -> bool {
        self.busy() || !self.awaiting.is_empty()
    }

    /// The next chunk of the first file in line; files take turns a chunk each.
    pub(super) fn next_chunk(&mut self, report: &dyn Fn(SessionEvent)) -> Result<Vec<u8>, String> {
        let Some(mut s) = self.queue.pop_front() else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; CHUNK.min((s.size - s.sent) as usize)];
        s.file
            .read_exact(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", s.name))?;
        let last = s.sent + buf.len() as u64 >= s.size;
        let disposition = format!("attachment; filename=\"{}\"", s.name.replace('"', "'"));
        let extra = [
            ("Success-Report", "yes"),
            ("Content-Disposition", disposition.as_str()),
        ];
        let spec = ChunkSpec {
            message_id: &s.message_id,
            content_type: &s.content_type,
            body: &buf,
            start: s.sent + 1,
            total: s.size,
            flag: if last {
                Continuation::Complete
            } else {
                Continuation::More
            },
            extra: &extra,
        };
        let (tid, frame) = self.chunk(&spec);
        self.chunks.insert(tid, s.message_id.clone());
        s.sent += buf.len() as u64;
        if last || s.last_report.elapsed() >= PROGRESS_EVERY {
            s.last_report = Instant::now();
            report(progress(&s));
        }
        match last {
            true => {
                self.awaiting.insert(s.message_id, (s.name, s.size));
            }
            false => self.queue.push_back(s),
        }
        Ok(frame)
    }

    /// We stop sending `name` (every file with an empty name): a `#` end-line tells the other
    /// side to drop what it has of it.
    pub(super) fn cancel(&mut self, name: &str, report: &dyn Fn(SessionEvent)) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Some(i) = self
            .queue
            .iter()
            .position(|s| s.name == name || name.is_empty())
        {
            let s = self.queue.remove(i).expect("position is in the queue");
            let spec = ChunkSpec {
                message_id: &s.message_id,
                content_type: &s.content_type,
                body: &[],
                start: s.sent + 1,
                total: s.size,
                flag: Continuation::Aborted,
                extra: &[],
            };
            frames.push(self.chunk(&spec).1);
            report(SessionEvent::Cancelled {
                name: s.name,
                incoming: false,
                by_peer: false,
            });
        }
        frames
    }

    /// The other side's answer to one of our chunks.
    pub(super) fn answered(&mut self, transaction: &str, code: u16, report: &dyn Fn(SessionEvent)) {
        if self.texts.remove(transaction) {
            return report(match code {
                200 => SessionEvent::TextDelivered,
                c => SessionEvent::Failed(format!("the message was refused ({c})")),
            });
        }
        let Some(id) = self.chunks.remove(transaction) else {
            return;
        };
        if code == 200 {
            let last = !self.chunks.values().any(|m| *m == id);
            if let Some((name, size)) = self.awaiting.get(&id).filter(|_| last) {
                let (name, size) = (name.clone(), *size);
                report(SessionEvent::AllAnswered { name, size });
            }
            return;
        }
        let sending = self.queue.iter().position(|s| s.message_id == id);
        let name = match sending {
            Some(i) => self.queue.remove(i).map(|s| s.name),
            None => self.awaiting.remove(&id).map(|(n, _)| n),
        };
        let Some(name) = name else { return };
        self.chunks.retain(|_, m| *m != id);
        report(match code {
            413 => SessionEvent::Cancelled {
                name,
                incoming: false,
                by_peer: true,
            },
            c => SessionEvent::Failed(format!("{name} was refused ({c})")),
        });
    }

    /// The other side's REPORT: a file of ours arrived whole and checked, or did not.
    pub(super) fn reported(&mut self, message_id: &str, code: u16, report: &dyn Fn(SessionEvent)) {
        let Some((name, size)) = self.awaiting.remove(message_id) else {
            return;
        };
        report(match code {
            200 => SessionEvent::FileSent { name, size },
            413 => SessionEvent::Cancelled {
                name,
                incoming: false,
                by_peer: true,
            },
            c => SessionEvent::Failed(format!("{name} did not arrive intact ({c})")),
        });
    }
}

fn progress(s: &Sending) -> SessionEvent {
    let secs = s.started.elapsed().as_secs_f64().max(1e-3);
    SessionEvent::Progress {
        name: s.name.clone(),
        incoming: false,
        done: s.sent,
        total: s.size,
        bytes_per_second: ((s.sent - s.from) as f64 / secs) as u64,
    }
}
