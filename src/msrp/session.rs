//! One MSRP session over one TCP connection (RFC 4975): the active side connects to the
//! other's path and speaks first; the passive side accepts. A reader loop feeds the decoder and
//! the inbox; a writer task owns the socket's sending half, answers first and file chunks only
//! as fast as the connection takes them (a small bounded queue), so neither side's reading
//! waits on its own writing and memory does not grow with file size.

use super::digest::hex;
use super::frame::Decoder;
use super::inbox::{Inbox, Note};
use super::names::unique_path;
use super::outbox::Outbox;
use super::pace::Pace;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const READ_SIZE: usize = 256 * 1024;
/// What a session reads into at first: a call's chat needs little.
const FIRST_READ: usize = 8 * 1024;

/// Bytes read and not yet decoded. The room offered to a read starts small and doubles while
/// reads fill it, up to READ_SIZE for a file; once a short read leaves nothing undecoded it
/// shrinks back. An idle call's session holds a few KiB, not the 768 KiB of fixed buffers it
/// had (which, freed and taken again call after call, also fragmented the allocator).
struct Incoming {
    buf: Vec<u8>,
    room: usize,
}

impl Default for Incoming {
    fn default() -> Incoming {
        Incoming {
            buf: Vec::new(),
            room: FIRST_READ,
        }
    }
}

impl Incoming {
    /// The buffer with at least `room` bytes free after what it holds.
    fn room(&mut self) -> &mut Vec<u8> {
        self.buf.reserve(self.room);
        &mut self.buf
    }

    /// After a read of `n` bytes and decoding what was whole.
    fn read(&mut self, n: usize) {
        if n >= self.room {
            self.room = (self.room * 2).min(READ_SIZE);
        } else if n < FIRST_READ && self.buf.is_empty() && self.buf.capacity() > 4 * FIRST_READ {
            *self = Incoming::default();
        }
    }
}

/// File chunks queued for the writer: enough to keep the socket busy, little memory.
const WRITE_QUEUE: usize = 4;
/// Responses and REPORTs queued for the writer at most: a peer that sends requests and reads
/// none of our answers is stopped, not buffered without end.
const REPLY_QUEUE: usize = 256;
/// How long the answers may wait for a peer that reads none of them.
const STOPPED_READING: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct SessionParams {
    pub local_path: String,
    pub remote_path: String,
    /// We open the connection (`a=setup:active`).
    pub active: bool,
    /// Where received files go.
    pub files: PathBuf,
    /// Where arriving files are kept until whole (a private folder of the profile).
    pub partial: PathBuf,
    /// Files larger than this are refused with 413.
    pub max_size: u64,
    /// The file this session was set up to receive (RFC 5547), when it was.
    pub expect: Option<Expected>,
    /// Other files wait for the user's word (`MsrpSession::take`) before they are stored.
    pub ask: bool,
    /// Bytes per second sent at most, if limited.
    pub max_upload: Option<u64>,
    /// What each peer may have in flight across the sessions sharing it.
    pub budget: super::budget::Budget,
    /// TLS with the other side (RFC 4975 14.1, `msrps:`): our certificate, and the fingerprint
    /// its SDP gave for its own, the only one taken.
    pub tls: Option<PeerTls>,
}

#[derive(Clone)]
pub struct PeerTls {
    pub identity: std::sync::Arc<crate::media::dtls::MediaIdentity>,
    pub theirs: crate::tls::Fingerprint,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerTls(theirs {})", self.theirs)
    }
}

type BoxConn = super::Stream;

/// A file announced in SDP: its bytes go to `temp`, which outlives a broken connection so the
/// transfer can resume, and its SHA-1 (hex, lowercase) is checked at the end.
#[derive(Debug, Clone)]
pub struct Expected {
    pub name: String,
    /// The size the SDP announced: the Byte-Range total must say the same.
    pub size: u64,
    pub temp: PathBuf,
    pub sha1: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A file under way: bytes done of `total` (sent to or written from the connection), and
    /// the rate of this attempt.
    Progress {
        name: String,
        incoming: bool,
        done: u64,
        total: u64,
        bytes_per_second: u64,
    },
    Text {
        content_type: String,
        text: String,
    },
    /// A file started arriving that waits for `take` (when the session asks).
    Arriving {
        name: String,
        size: u64,
        content_type: String,
    },
    /// The other side took a text of ours (its 200).
    TextDelivered,
    FileReceived {
        name: String,
        path: PathBuf,
        size: u64,
        sha256: String,
    },
    /// The other side reported a file of ours arrived whole and checked.
    FileSent {
        name: String,
        size: u64,
    },
    /// Every chunk of a file of ours was answered 200; its report is still to come.
    AllAnswered {
        name: String,
        size: u64,
    },
    /// A file stopped before its end, by us or by the other side; nothing of it is kept.
    Cancelled {
        name: String,
        incoming: bool,
        by_peer: bool,
    },
    Failed(String),
}

enum Outgoing {
    Text(String),
    File(PathBuf, u64),
    Cancel(String),
    Take(String, bool),
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
        Self::spawn(Link::Own(listener), params, report)
    }

    /// A session over a connection already open to our MSRP relay (RFC 4976), which carries
    /// it in whichever SDP role; `params.remote_path` starts with the relay's URI.
    pub fn start_relayed(
        (stream, relay): (BoxConn, std::net::IpAddr),
        params: SessionParams,
        report: impl Fn(SessionEvent) + Send + Sync + 'static,
    ) -> MsrpSession {
        Self::spawn(Link::Relay(stream, relay), params, report)
    }

    fn spawn(
        link: Link,
        params: SessionParams,
        report: impl Fn(SessionEvent) + Send + Sync + 'static,
    ) -> MsrpSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            if let Err(e) = run(link, params, rx, &report).await {
                report(SessionEvent::Failed(e));
            }
        });
        MsrpSession { tx, task }
    }

    pub fn send_text(&self, text: &str) {
        let _ = self.tx.send(Outgoing::Text(text.to_string()));
    }

    pub fn send_file(&self, path: PathBuf) {
        let _ = self.tx.send(Outgoing::File(path, 0));
    }

    /// Sends a file from byte `from` on: the other side has the bytes before it.
    pub fn resume_file(&self, path: PathBuf, from: u64) {
        let _ = self.tx.send(Outgoing::File(path, from));
    }

    /// Stops a file going either way (an empty name: every file).
    pub fn cancel(&self, name: &str) {
        let _ = self.tx.send(Outgoing::Cancel(name.to_string()));
    }

    /// The user's word on an arriving file: keep it (stored once whole) or refuse it (413).
    pub fn take(&self, name: &str, accept: bool) {
        let _ = self.tx.send(Outgoing::Take(name.to_string(), accept));
    }

    /// Whether the connection has ended (closed by the other side, broken, or failed).
    pub fn ended(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for MsrpSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How the session's connection comes: ours to make or take, or our relay's.
enum Link {
    Own(Option<std::net::TcpListener>),
    Relay(BoxConn, std::net::IpAddr),
}

/// `host:port` of an `msrp://host:port/id;tcp` (or `msrps://`) path.
fn authority(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("msrp://")
        .or_else(|| path.strip_prefix("msrps://"))?;
    Some(rest.split('/').next()?.to_string())
}

/// The TLS client side over `s` (we connected), taking only the signalled certificate.
async fn tls_connect(s: TcpStream, tls: &PeerTls, to: &str) -> Result<BoxConn, String> {
    let config = crate::tls::peer::client(&tls.identity, tls.theirs).map_err(|e| e.to_string())?;
    let host = to.rsplit_once(':').map_or(to, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, s)
        .await
        .map_err(|e| format!("the encrypted connection to {to} failed: {e}"))?;
    Ok(Box::new(stream))
}

/// The TLS server side over an accepted connection, asking for the signalled certificate.
async fn tls_accept(s: TcpStream, acceptor: &tokio_rustls::TlsAcceptor) -> Option<BoxConn> {
    let stream = acceptor.accept(s).await.ok()?;
    Some(Box::new(stream))
}

/// The session's connection, and what was read of it already. The passive side takes only a
/// connection whose first request names this session in its To-Path (RFC 4975 7.3 says the
/// active side speaks first); anything else (a port scanner, a stranger) is closed and the
/// listener keeps waiting.
async fn connect(link: Link, p: &SessionParams) -> Result<Connected, String> {
    let listener = match link {
        Link::Own(l) => l,
        Link::Relay(s, relay) => return Ok((s, Vec::new(), Some(relay))),
    };
    if p.active {
        let to = authority(&p.remote_path).ok_or("the other side's MSRP path has no address")?;
        let s = TcpStream::connect(&to)
            .await
            .map_err(|e| format!("cannot reach {to}: {e}"))?;
        return match &p.tls {
            None => Ok(plain(s)),
            Some(tls) => {
                let peer = s.peer_addr().ok().map(|a| a.ip());
                let _ = s.set_nodelay(true);
                let conn = tls_connect(s, tls, &to).await?;
                Ok((conn, Vec::new(), peer))
            }
        };
    }
    let l = listener.ok_or("no MSRP port was reserved")?;
    // One TLS config for the session, whoever connects.
    let acceptor = match &p.tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(
            crate::tls::peer::server(&tls.identity, tls.theirs).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
    // Connections are heard out side by side, so a silent one cannot hold the real one back.
    let mut trying = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            (s, from) = crate::accept::next(&l, "MSRP") => {
                if trying.len() >= MAX_TRYING {
                    tracing::info!("MSRP connection from {from}: too many waiting, closed");
                    continue;
                }
                let ours = p.local_path.clone();
                let acceptor = acceptor.clone();
                trying.spawn(async move {
                    let heard = async {
                        let _ = s.set_nodelay(true);
                        let conn: BoxConn = match &acceptor {
                            None => Box::new(s),
                            // A stranger without the signalled certificate fails here.
                            Some(acceptor) => tls_accept(s, acceptor).await?,
                        };
                        let (conn, first) = first_request(conn, &ours).await?;
                        Some((conn, first, Some(from.ip())))
                    };
                    let first = tokio::time::timeout(FIRST_REQUEST, heard).await;
                    if !matches!(first, Ok(Some(_))) {
                        tracing::info!("MSRP connection from {from} is not this session's: closed");
                    }
                    first.ok().flatten()
                });
            }
            Some(done) = trying.join_next() => {
                if let Ok(Some(found)) = done {
                    return Ok(found);
                }
            }
        }
    }
}

/// How long a new connection has to name the session, and how many may be heard at once.
const FIRST_REQUEST: std::time::Duration = std::time::Duration::from_secs(10);
const MAX_TRYING: usize = 16;

/// A session's connection, what was read of it already, and the other side's address.
type Connected = (BoxConn, Vec<u8>, Option<std::net::IpAddr>);

fn plain(s: TcpStream) -> Connected {
    let _ = s.set_nodelay(true);
    let peer = s.peer_addr().ok().map(|a| a.ip());
    (Box::new(s), Vec::new(), peer)
}

/// Reads until the first request's head is whole; the connection and its bytes when its
/// To-Path is `ours`.
async fn first_request(mut s: BoxConn, ours: &str) -> Option<(BoxConn, Vec<u8>)> {
    let mut buf = Vec::with_capacity(FIRST_READ);
    loop {
        if buf.len() >= FIRST_READ || s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        match Decoder::default().next(&buf) {
            Ok(Some((super::frame::Item::Head(h), _))) => {
                let named = matches!(h.kind, super::frame::Kind::Request(_))
                    && h.header("To-Path")
                        .is_some_and(|t| super::inbox::same_path(t, ours));
                return named.then_some((s, buf));
            }
            Ok(None) => continue,
            _ => return None,
        }
    }
}

/// Writes answers first, then queued chunks, until both queues are closed.
async fn write_loop(
    mut wr: tokio::io::WriteHalf<BoxConn>,
    mut replies: mpsc::Receiver<Vec<u8>>,
    mut data: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    loop {
        let bytes = tokio::select! {
            biased;
            Some(r) = replies.recv() => r,
            Some(d) = data.recv() => d,
            else => return Ok(()),
        };
        wr.write_all(&bytes).await?;
        // TLS holds what it sealed until flushed.
        wr.flush().await?;
    }
}

/// The writer task, stopped with the session.
struct Writer {
    replies: mpsc::Sender<Vec<u8>>,
    data: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Writer {
    /// Queues an answer. A full queue holds our reading back (so the peer's sending waits);
    /// one that stays full while the peer reads nothing ends the session.
    async fn reply(&self, bytes: Vec<u8>) -> Result<(), String> {
        self.replies
            .send_timeout(bytes, STOPPED_READING)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => {
                    "the other side stopped reading our answers".to_string()
                }
                mpsc::error::SendTimeoutError::Closed(_) => "the connection closed".to_string(),
            })
    }

    async fn send(&self, bytes: Vec<u8>) -> Result<(), String> {
        self.data
            .send(bytes)
            .await
            .map_err(|_| "the connection closed".to_string())
    }
}

async fn run(
    link: Link,
    params: SessionParams,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    report: &(dyn Fn(SessionEvent) + Send + Sync),
) -> Result<(), String> {
    let (stream, first, peer) = connect(link, &params).await?;
    let (mut rd, wr) = tokio::io::split(stream);
    let (reply_tx, reply_rx) = mpsc::channel(REPLY_QUEUE);
    let (data_tx, data_rx) = mpsc::channel(WRITE_QUEUE);
    let writer = Writer {
        replies: reply_tx,
        data: data_tx,
        task: tokio::spawn(write_loop(wr, reply_rx, data_rx)),
    };
    let mut outbox = Outbox::new(&params.local_path, &params.remote_path);
    if params.active {
        // RFC 4975 5.4: the side that connects speaks first, even with nothing to say.
        writer.send(outbox.text("text/plain", &[])).await?;
    }
    let mut inbox = Inbox::new(&params, peer);
    let (mut decoder, mut incoming) = (Decoder::default(), Incoming::default());
    incoming.buf.extend_from_slice(&first);
    let mut pace = Pace::new(params.max_upload);
    loop {
        // What was read already is decoded first (the first request, or bytes left while a
        // file waited for the user's word).
        if !incoming.buf.is_empty() && inbox.room() > 0 {
            for note in consume(&mut decoder, &mut incoming.buf, &mut inbox)? {
                handle(note, &params, &writer, &mut outbox, report).await?;
            }
        }
        // What is left undecoded stays under one buffer: while a file waits for the user's
        // word the sender is held back by TCP, and our memory does not grow.
        let may_read = incoming.buf.len() < READ_SIZE;
        tokio::select! {
            biased;
            n = rd.read_buf(incoming.room()), if may_read => {
                let n = match n {
                    Ok(n) => n,
                    // A peer that ends the session closes TCP without TLS's close_notify,
                    // as most do: that is an end, not a break.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                    Err(e) => return Err(format!("the connection broke: {e}")),
                };
                if n == 0 {
                    if inbox.in_flight() || outbox.in_flight() {
                        return Err("the connection closed before the file was complete".into());
                    }
                    return Ok(());
                }
                let notes = consume(&mut decoder, &mut incoming.buf, &mut inbox)?;
                incoming.read(n);
                for note in notes {
                    handle(note, &params, &writer, &mut outbox, report).await?;
                }
            }
            Some(o) = outgoing.recv() => match o {
                Outgoing::Text(t) => writer.send(outbox.text("text/plain", t.as_bytes())).await?,
                Outgoing::File(path, from) => {
                    if let Err(e) = outbox.file(&path, from) {
                        report(SessionEvent::Failed(e));
                    }
                }
                Outgoing::Cancel(name) => {
                    for f in outbox.cancel(&name, report) {
                        writer.send(f).await?;
                    }
                    let mut notes = Vec::new();
                    inbox.cancel(&name, &mut notes);
                    for note in notes {
                        handle(note, &params, &writer, &mut outbox, report).await?;
                    }
                }
                Outgoing::Take(name, accept) => {
                    for note in inbox.decide(&name, accept) {
                        handle(note, &params, &writer, &mut outbox, report).await?;
                    }
                }
            },
            permit = writer.data.reserve(), if outbox.busy() && pace.ready(Instant::now()) => {
                let permit = permit.map_err(|_| "the connection closed".to_string())?;
                let chunk = outbox.next_chunk(report)?;
                pace.sent(chunk.len(), Instant::now());
                permit.send(chunk);
            }
            _ = tokio::time::sleep_until(pace.next().into()), if outbox.busy() && !pace.ready(Instant::now()) => {}
        }
    }
}

/// Decodes everything whole in `buf` into notes; a malformed frame ends the session.
fn consume(
    decoder: &mut Decoder,
    buf: &mut Vec<u8>,
    inbox: &mut Inbox,
) -> Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    let mut used_total: usize = 0;
    loop {
        // A file waiting for the user's word takes only what it may hold.
        let end = buf.len().min(used_total.saturating_add(inbox.room()));
        if end == used_total {
            break;
        }
        let next = decoder
            .next(&buf[used_total..end])
            .map_err(|e| format!("the other side sent a malformed MSRP frame ({e})"))?;
        let Some((item, used)) = next else { break };
        inbox.item(item, &mut notes);
        used_total += used;
    }
    buf.drain(..used_total);
    Ok(notes)
}

async fn handle(
    note: Note,
    params: &SessionParams,
    writer: &Writer,
    outbox: &mut Outbox,
    report: &(dyn Fn(SessionEvent) + Send + Sync),
) -> Result<(), String> {
    match note {
        Note::Reply(bytes) => writer.reply(bytes).await?,
        Note::Event(e) => report(e),
        Note::Answered { transaction, code } => outbox.answered(&transaction, code, report),
        Note::Report { message_id, code } => outbox.reported(&message_id, code, report),
        Note::Complete {
            file,
            message_id,
            reports,
        } => {
            let total = file.total;
            let files = params.files.clone();
            let stored = tokio::task::spawn_blocking(move || store(*file, &files))
                .await
                .map_err(|e| e.to_string())?;
            let code = match stored {
                Ok(ev) => {
                    report(ev);
                    200
                }
                Err(e) => {
                    report(SessionEvent::Failed(e));
                    400
                }
            };
            if let Some(to) = reports.to(code) {
                writer
                    .reply(success_report(params, to, &message_id, total, code))
                    .await?;
            }
        }
        Note::Refused {
            message_id,
            total,
            reports,
        } => {
            if let Some(to) = reports.to(413) {
                writer
                    .reply(success_report(params, to, &message_id, total, 413))
                    .await?;
            }
        }
    }
    Ok(())
}

/// A REPORT saying how a whole message of theirs ended here (RFC 4975 7.1.2).
fn success_report(p: &SessionParams, to: &str, message_id: &str, total: u64, code: u16) -> Vec<u8> {
    let range = format!("1-{total}/{total}");
    let status = format!(
        "000 {code} {}",
        match code {
            200 => "OK",
            413 => "Refused by the receiver",
            _ => "Bad Request",
        }
    );
    let tid = super::frame::new_transaction();
    super::frame::request(
        &tid,
        "REPORT",
        &[
            ("To-Path", to),
            ("From-Path", &p.local_path),
            ("Message-ID", message_id),
            ("Byte-Range", &range),
            ("Status", &status),
        ],
        None,
    )
}

/// Checks a whole file (size, the SHA-1 it was announced with) and moves it under its safe,
/// unique name; a file that fails is not kept.
fn store(f: super::inbox::Incoming, files: &std::path::Path) -> Result<SessionEvent, String> {
    let super::inbox::Incoming {
        name,
        temp,
        file,
        total,
        expected_sha1,
        hasher,
        ..
    } = f;
    let fail = |why: String| {
        let _ = std::fs::remove_file(&temp);
        Err(why)
    };
    if let Err(e) = file.sync_all() {
        return fail(format!("cannot store {name}: {e}"));
    }
    drop(file);
    let size = std::fs::metadata(&temp).map_err(|e| e.to_string())?.len();
    if size != total {
        return fail(format!(
            "{name} arrived incomplete ({size} bytes of {total})"
        ));
    }
    let digests = match hasher {
        Some(h) => h.finish(total),
        None => hash_file(&temp).map(|(a, b)| (hex(&a), Some(hex(&b)))),
    };
    let (sha256, sha1) = match digests {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot check {name}: {e}")),
    };
    if expected_sha1.is_some() && expected_sha1 != sha1 {
        return fail(format!("{name} arrived damaged (its SHA-1 does not match)"));
    }
    let path = place(&temp, files, &name)?;
    Ok(SessionEvent::FileReceived {
        name,
        path,
        size,
        sha256,
    })
}

/// Moves a checked file under its unique name: linked first, which never replaces a file or
/// follows a link that appeared meanwhile, then the temporary name removed.
fn place(temp: &std::path::Path, files: &std::path::Path, name: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(files).map_err(|e| format!("cannot store {name}: {e}"))?;
    for _ in 0..100 {
        let path = unique_path(files, name);
        match std::fs::hard_link(temp, &path) {
            Ok(()) => {
                let _ = std::fs::remove_file(temp);
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            // Another file system (a folder of the user's elsewhere): a copy, made new.
            Err(_) => return copy_new(temp, &path).map(|()| path),
        }
    }
    Err(format!("cannot store {name}: no free name"))
}

fn copy_new(temp: &std::path::Path, path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| format!("cannot store {}: {e}", path.display());
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)?;
    std::io::copy(&mut std::fs::File::open(temp).map_err(err)?, &mut out).map_err(err)?;
    out.sync_all().map_err(err)?;
    let _ = std::fs::remove_file(temp);
    Ok(())
}

type Digests = (sha2::digest::Output<Sha256>, sha2::digest::Output<Sha1>);

fn hash_file(path: &std::path::Path) -> Result<Digests, String> {
    let (mut a, mut b) = (Sha256::new(), Sha1::new());
    super::digest::read_pieces(path, |piece| {
        a.update(piece);
        b.update(piece);
    })
    .map_err(|e| e.to_string())?;
    Ok((a.finalize(), b.finalize()))
}

#[cfg(test)]
mod tests;
