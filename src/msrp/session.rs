//! One MSRP session over one TCP connection (RFC 4975): the active side connects to the
//! other's path and speaks first; the passive side accepts. Files leave in 64 KiB chunks read
//! from disk and arrive written to a temporary file at their Byte-Range offset, so memory does not
//! grow with size; a complete file is checked (size) and hashed, then renamed to a safe, unique
//! name. Text messages are kept in memory up to a limit. Every request gets its 200 (or 481 for
//! a To-Path that is not ours) unless it asked for no report.

use super::frame::{self, Continuation, Decoder, Head, Item, Kind};
use super::names::{safe_name, unique_path};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;
/// The largest text message kept in memory.
const MAX_TEXT: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct SessionParams {
    pub local_path: String,
    pub remote_path: String,
    /// We open the connection (`a=setup:active`).
    pub active: bool,
    /// Where received files go.
    pub files: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A file of ours is under way: bytes written to the connection of `total`, and the rate.
    Progress {
        name: String,
        done: u64,
        total: u64,
        bytes_per_second: u64,
    },
    Text {
        content_type: String,
        text: String,
    },
    FileReceived {
        name: String,
        path: PathBuf,
        size: u64,
        sha256: String,
    },
    /// The other side confirmed every chunk of a file we sent.
    FileSent {
        name: String,
        size: u64,
    },
    Failed(String),
}

enum Outgoing {
    Text(String),
    File(PathBuf),
}

pub struct MsrpSession {
    tx: mpsc::UnboundedSender<Outgoing>,
    task: tokio::task::JoinHandle<()>,
}

impl MsrpSession {
    pub fn start(
        listener: Option<std::net::TcpListener>,
        params: SessionParams,
        report: impl Fn(SessionEvent) + Send + Sync + 'static,
    ) -> MsrpSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            if let Err(e) = run(listener, params, rx, &report).await {
                report(SessionEvent::Failed(e));
            }
        });
        MsrpSession { tx, task }
    }

    pub fn send_text(&self, text: &str) {
        let _ = self.tx.send(Outgoing::Text(text.to_string()));
    }

    pub fn send_file(&self, path: PathBuf) {
        let _ = self.tx.send(Outgoing::File(path));
    }
}

impl Drop for MsrpSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` of an `msrp://host:port/id;tcp` path.
fn authority(path: &str) -> Option<String> {
    let rest = path.strip_prefix("msrp://")?;
    Some(rest.split('/').next()?.to_string())
}

async fn connect(
    listener: Option<std::net::TcpListener>,
    p: &SessionParams,
) -> Result<TcpStream, String> {
    if p.active {
        let to = authority(&p.remote_path).ok_or("the other side's MSRP path has no address")?;
        return TcpStream::connect(&to)
            .await
            .map_err(|e| format!("cannot reach {to}: {e}"));
    }
    let l = listener.ok_or("no MSRP port was reserved")?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
    let (s, _) = l.accept().await.map_err(|e| e.to_string())?;
    Ok(s)
}

/// A file arriving: its temporary file and what it claims to be.
struct Incoming {
    name: String,
    temp: PathBuf,
    file: std::fs::File,
    total: Option<u64>,
}

/// A message being received (by Message-ID).
enum Arriving {
    Text { content_type: String, data: Vec<u8> },
    File(Incoming),
    Refused,
}

struct Receiver<'a> {
    params: &'a SessionParams,
    messages: HashMap<String, Arriving>,
    current: Option<(Head, String)>,
    /// Our files waiting for their last 200: transaction -> (name, size).
    awaiting: HashMap<String, (String, u64)>,
}

async fn run(
    listener: Option<std::net::TcpListener>,
    params: SessionParams,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    report: &(dyn Fn(SessionEvent) + Send + Sync),
) -> Result<(), String> {
    let stream = connect(listener, &params).await?;
    let (mut rd, mut wr) = stream.into_split();
    if params.active {
        // RFC 4975 5.4: the side that connects speaks first, even with nothing to say.
        send_chunk(&mut wr, &params, "text/plain", &new_id(), &[], 1, 0, true).await?;
    }
    let mut rx = Receiver {
        params: &params,
        messages: HashMap::new(),
        current: None,
        awaiting: HashMap::new(),
    };
    let (mut decoder, mut buf, mut chunk) = (Decoder::default(), Vec::new(), vec![0u8; CHUNK]);
    loop {
        tokio::select! {
            n = rd.read(&mut chunk) => {
                let n = n.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
                let replies = rx.consume(&mut decoder, &mut buf, report)?;
                for r in replies {
                    wr.write_all(&r).await.map_err(|e| e.to_string())?;
                }
            }
            Some(o) = outgoing.recv() => match o {
                Outgoing::Text(t) => {
                    let id = new_id();
                    let len = t.len() as u64;
                    send_chunk(&mut wr, &params, "text/plain", &id, t.as_bytes(), 1, len, true).await?;
                }
                Outgoing::File(path) => {
                    if let Some((tid, name, size)) = send_file(&mut wr, &params, &path, report).await? {
                        rx.awaiting.insert(tid, (name, size));
                    }
                }
            },
        }
    }
}

fn new_id() -> String {
    crate::sip::message::random_token(16)
}

/// Writes one SEND chunk: bytes `start..start+body.len()-1` of a `total`-byte message.
#[allow(clippy::too_many_arguments)]
async fn send_chunk(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    p: &SessionParams,
    content_type: &str,
    message_id: &str,
    body: &[u8],
    start: u64,
    total: u64,
    last: bool,
) -> Result<String, String> {
    let tid = frame::new_transaction();
    // Inclusive, 1-based: an empty body covers `start-(start-1)`, e.g. `1-0/0`.
    let end = (start + body.len() as u64).saturating_sub(1);
    let range = format!("{start}-{end}/{total}");
    let head = frame::request_head(
        &tid,
        "SEND",
        &[
            ("To-Path", &p.remote_path),
            ("From-Path", &p.local_path),
            ("Message-ID", message_id),
            ("Byte-Range", &range),
            ("Content-Type", content_type),
        ],
        !body.is_empty(),
    );
    let flag = if last {
        Continuation::Complete
    } else {
        Continuation::More
    };
    wr.write_all(&head).await.map_err(|e| e.to_string())?;
    wr.write_all(body).await.map_err(|e| e.to_string())?;
    let end_line = frame::end_line(&tid, !body.is_empty(), flag);
    wr.write_all(&end_line).await.map_err(|e| e.to_string())?;
    Ok(tid)
}

/// Streams a file in chunks; returns the last chunk's transaction, the name and the size.
async fn send_file(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    p: &SessionParams,
    path: &std::path::Path,
    report: &(dyn Fn(SessionEvent) + Send + Sync),
) -> Result<Option<(String, String, u64)>, String> {
    let started = std::time::Instant::now();
    let mut last_report = started;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let size = file.metadata().await.map_err(|e| e.to_string())?.len();
    let (id, mut sent, mut buf) = (new_id(), 0u64, vec![0u8; CHUNK]);
    let ctype = format!(
        "application/octet-stream; name=\"{}\"",
        name.replace('"', "'")
    );
    loop {
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        let last = sent + n as u64 >= size;
        let tid = send_chunk(wr, p, &ctype, &id, &buf[..n], sent + 1, size, last).await?;
        sent += n as u64;
        // About four progress reports a second, and one at the end.
        if last || last_report.elapsed() >= std::time::Duration::from_millis(250) {
            last_report = std::time::Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            report(SessionEvent::Progress {
                name: name.clone(),
                done: sent,
                total: size,
                bytes_per_second: (sent as f64 / secs) as u64,
            });
        }
        if last || n == 0 {
            return Ok(Some((tid, name, size)));
        }
    }
}

fn file_name_of(content_type: &str) -> Option<String> {
    let (_, after) = content_type.split_once("name=")?;
    Some(after.trim().trim_matches('"').to_string())
}

impl Receiver<'_> {
    /// Everything whole in `buf`; returns the responses to send.
    fn consume(
        &mut self,
        decoder: &mut Decoder,
        buf: &mut Vec<u8>,
        report: &(dyn Fn(SessionEvent) + Send + Sync),
    ) -> Result<Vec<Vec<u8>>, String> {
        let mut replies = Vec::new();
        loop {
            let Some((item, used)) = decoder.next(buf).map_err(|e| e.to_string())? else {
                return Ok(replies);
            };
            match item {
                Item::Head(h) => self.head(h),
                Item::Body(b) => self.body(b)?,
                Item::End(c) => replies.extend(self.end(c, report)?),
            }
            buf.drain(..used);
        }
    }

    fn head(&mut self, h: Head) {
        let id = h.header("Message-ID").unwrap_or_default().to_string();
        if let (Kind::Request(m), false) = (&h.kind, self.messages.contains_key(&id)) {
            let ours = h.header("To-Path") == Some(self.params.local_path.as_str());
            let arriving = match (m.as_str(), ours) {
                ("SEND", true) => self.open_message(&h),
                _ => Arriving::Refused,
            };
            self.messages.insert(id.clone(), arriving);
        }
        self.current = Some((h, id));
    }

    fn open_message(&self, h: &Head) -> Arriving {
        let content_type = h.header("Content-Type").unwrap_or("text/plain").to_string();
        let Some(name) = file_name_of(&content_type) else {
            return Arriving::Text {
                content_type,
                data: Vec::new(),
            };
        };
        let temp = self.params.files.join(format!(".parley-{}.part", new_id()));
        match std::fs::File::create(&temp) {
            Ok(file) => Arriving::File(Incoming {
                name: safe_name(&name),
                temp,
                file,
                total: h.byte_range().and_then(|r| r.total),
            }),
            Err(e) => {
                tracing::warn!("cannot store an incoming file: {e}");
                Arriving::Refused
            }
        }
    }

    fn body(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some((h, id)) = &self.current else {
            return Ok(());
        };
        let offset = h.byte_range().map_or(0, |r| r.start - 1);
        match self.messages.get_mut(id) {
            Some(Arriving::Text { data, .. }) if data.len() + bytes.len() <= MAX_TEXT => {
                data.extend_from_slice(bytes)
            }
            Some(Arriving::File(f)) => {
                // Chunks may come in any order: each lands at its own offset.
                let at = f.file.stream_position().map_err(|e| e.to_string())?;
                if at < offset {
                    f.file
                        .seek(SeekFrom::Start(offset))
                        .map_err(|e| e.to_string())?;
                }
                f.file.write_all(bytes).map_err(|e| e.to_string())?;
            }
            _ => {}
        }
        Ok(())
    }

    fn end(
        &mut self,
        c: Continuation,
        report: &(dyn Fn(SessionEvent) + Send + Sync),
    ) -> Result<Vec<Vec<u8>>, String> {
        let Some((h, id)) = self.current.take() else {
            return Ok(Vec::new());
        };
        if let Kind::Response { code, .. } = h.kind {
            if let Some((name, size)) = self.awaiting.remove(&h.transaction) {
                match code {
                    200 => report(SessionEvent::FileSent { name, size }),
                    c => report(SessionEvent::Failed(format!("{name} was refused ({c})"))),
                }
            }
            return Ok(Vec::new());
        }
        let refused = matches!(self.messages.get(&id), Some(Arriving::Refused));
        let from = h.header("From-Path").unwrap_or_default();
        let reply = match refused {
            true => frame::response(
                &h.transaction,
                481,
                "No such session",
                from,
                &self.params.local_path,
            ),
            false => frame::response(&h.transaction, 200, "OK", from, &self.params.local_path),
        };
        if c != Continuation::More {
            if let Some(m) = self.messages.remove(&id) {
                self.finish(m, c, report);
            }
        }
        let wants_report = h.header("Failure-Report") != Some("no");
        Ok(if wants_report {
            vec![reply]
        } else {
            Vec::new()
        })
    }

    fn finish(&self, m: Arriving, c: Continuation, report: &(dyn Fn(SessionEvent) + Send + Sync)) {
        match (m, c) {
            (Arriving::Text { content_type, data }, Continuation::Complete) if !data.is_empty() => {
                let text = String::from_utf8_lossy(&data).to_string();
                report(SessionEvent::Text { content_type, text });
            }
            (Arriving::File(f), Continuation::Complete) => match self.store(f) {
                Ok(ev) => report(ev),
                Err(e) => report(SessionEvent::Failed(e)),
            },
            (Arriving::File(f), _) => {
                let _ = std::fs::remove_file(&f.temp);
            }
            _ => {}
        }
    }

    /// Checks a complete file and moves it under its safe name; a short file is not kept.
    fn store(&self, f: Incoming) -> Result<SessionEvent, String> {
        let Incoming {
            name,
            temp,
            file,
            total,
        } = f;
        file.sync_all().map_err(|e| e.to_string())?;
        drop(file);
        let size = std::fs::metadata(&temp).map_err(|e| e.to_string())?.len();
        if total.is_some_and(|t| t != size) {
            let _ = std::fs::remove_file(&temp);
            return Err(format!(
                "{name} arrived incomplete ({size} bytes of {})",
                total.unwrap_or(0)
            ));
        }
        let mut hasher = Sha256::new();
        let mut input = std::fs::File::open(&temp).map_err(|e| e.to_string())?;
        std::io::copy(&mut input, &mut hasher).map_err(|e| e.to_string())?;
        let sha256 = format!("{:x}", hasher.finalize());
        let path = unique_path(&self.params.files, &name);
        std::fs::rename(&temp, &path).map_err(|e| e.to_string())?;
        Ok(SessionEvent::FileReceived {
            name,
            path,
            size,
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sessions on loopback: Alice (active) sends text and a file; Bob receives them.
    #[tokio::test]
    async fn text_and_a_file_cross_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let (a_files, b_files) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a_files).unwrap();
        std::fs::create_dir_all(&b_files).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b_path = format!("msrp://{}/bob123;tcp", listener.local_addr().unwrap());
        let a_path = "msrp://127.0.0.1:9/alice1;tcp".to_string();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel();
        let _bob = MsrpSession::start(
            Some(listener),
            SessionParams {
                local_path: b_path.clone(),
                remote_path: a_path.clone(),
                active: false,
                files: b_files.clone(),
            },
            move |e| {
                let _ = b_tx.send(e);
            },
        );
        let (a_tx, mut a_rx) = mpsc::unbounded_channel();
        let alice = MsrpSession::start(
            None,
            SessionParams {
                local_path: a_path,
                remote_path: b_path,
                active: true,
                files: a_files.clone(),
            },
            move |e| {
                let _ = a_tx.send(e);
            },
        );
        alice.send_text("Hi, I'm Alice!");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let src = a_files.join("../report final.bin");
        std::fs::write(&src, &data).unwrap();
        alice.send_file(src);
        let next = |rx: &mut mpsc::UnboundedReceiver<SessionEvent>| {
            let r = rx.try_recv();
            r.ok()
        };
        let mut got = Vec::new();
        while got.len() < 2 {
            let e = tokio::time::timeout(std::time::Duration::from_secs(10), b_rx.recv())
                .await
                .unwrap()
                .unwrap();
            got.push(e);
        }
        assert_eq!(
            got[0],
            SessionEvent::Text {
                content_type: "text/plain".into(),
                text: "Hi, I'm Alice!".into()
            }
        );
        let SessionEvent::FileReceived {
            name, path, size, ..
        } = &got[1]
        else {
            panic!("{got:?}")
        };
        assert_eq!((name.as_str(), *size), ("report final.bin", 200_000));
        assert_eq!(std::fs::read(path).unwrap(), data);
        // Progress (ending with the whole file written), then the confirmation.
        let mut last_progress = 0;
        let sent = loop {
            let e = tokio::time::timeout(std::time::Duration::from_secs(10), a_rx.recv())
                .await
                .unwrap()
                .unwrap();
            match e {
                SessionEvent::Progress { done, .. } => last_progress = done,
                other => break other,
            }
        };
        assert_eq!(last_progress, 200_000);
        assert_eq!(
            sent,
            SessionEvent::FileSent {
                name: "report final.bin".into(),
                size: 200_000
            }
        );
        assert!(next(&mut a_rx).is_none());
        // No temporary file is left behind.
        let leftovers = std::fs::read_dir(&b_files).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".part")
        });
        assert_eq!(leftovers.count(), 0);
    }
}
