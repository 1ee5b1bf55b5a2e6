//! One call's media: a tokio task ticking every 20 ms that takes a frame from the microphone,
//! encodes it and sends it as RTP from the port we advertised, and plays 20 ms to the speaker
//! from what the jitter buffer's packets decode to (any agreed payload type, 10 to 60 ms each,
//! converted to the speaker's rate). Symmetric RTP, but only towards the peer: `peer` decides
//! which source is the peer's (RFC 3550 A.1 probation), so a stranger cannot take the call. A
//! malformed or foreign packet is counted and dropped. A re-INVITE re-points the running session
//! (address, codec, direction) instead of restarting it; at the end an RTCP BYE goes out.

use super::codec::{CodecKind, Decoder, Encoder, FRAME};
use super::dtmf::{KeyReceiver, KeySender};
use super::headless::{Sink, Source};
use super::jitter::{JitterBuffer, Playout, Voice};
use super::peer::{PeerFilter, Verdict};
use super::rtp;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// What the SDP negotiation decided, as the media layer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaParams {
    pub remote: SocketAddr,
    /// What we send (and the rate the microphone and speaker run at).
    pub payload_type: u8,
    pub codec: CodecKind,
    /// Every payload type the peer may send us (RFC 3264 6.1), ours among them.
    pub decodes: Vec<(u8, CodecKind)>,
    /// Whether we send and receive voice (hold: `sendonly`/`recvonly`/`inactive`).
    pub send: bool,
    pub receive: bool,
    /// The telephone-event payload type (RFC 4733), when the other side offered it.
    pub telephone_event: Option<u8>,
    /// The events' clock rate, which key durations count in.
    pub event_rate: u32,
    /// Where RTCP goes: its own port, or `None` to share the RTP port (`a=rtcp-mux`).
    pub rtcp: Option<SocketAddr>,
    /// Time between reports (RFC 3550's 5 s minimum in calls; shorter only in tests).
    pub rtcp_interval: std::time::Duration,
    /// While we send no voice (hold), a keepalive goes out this often so the path (a NAT's
    /// mapping) stays open (RFC 6263).
    pub keepalive: std::time::Duration,
    /// ICE with a peer that does it (RFC 8445): the pair it picks carries the media, whatever
    /// `remote` says.
    pub ice: Option<crate::nat::ice::IceStart>,
    /// SRTP keys: every packet either way is encrypted and authenticated, or dropped.
    pub srtp: Option<super::srtp::SrtpKeys>,
    /// DTLS-SRTP: the keys come from a handshake on this path; until then nothing is sent.
    pub dtls: Option<super::dtls::DtlsSetup>,
}

/// What a session reports to its owner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MediaEvent {
    /// About once a second, and once more when the session stops.
    Stats(MediaStats),
    /// The other side pressed a key (RFC 4733).
    Key(char),
    /// The other side stopped answering ICE's consent checks (RFC 7675): we send no more.
    ConsentLost,
    /// ICE chose the pair the media takes: through a TURN relay (ours or theirs) or not.
    Path {
        relayed: bool,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Loudness of what we send and what we play, 0 (silence, -60 dBFS) to 1 (full scale),
    /// ten times a second.
    Levels { input: f32, output: f32 },
    /// The DTLS handshake made the SRTP keys: the audio is encrypted from now on.
    Secured(crate::sdp::crypto::Suite),
    /// The DTLS handshake failed (a certificate other than the signalled one, or no answer):
    /// nothing is sent, and the call should end.
    EncryptionFailed,
}

/// Mean-square loudness of a frame mapped to 0..1 over -60..0 dBFS.
fn level(sum_squares: f64, n: usize) -> f32 {
    if n == 0 || sum_squares <= 0.0 {
        return 0.0;
    }
    let rms = (sum_squares / n as f64).sqrt() / 32768.0;
    let db = 20.0 * rms.log10();
    ((db + 60.0) / 60.0).clamp(0.0, 1.0) as f32
}

/// Sums of squares over the current meter window.
#[derive(Default)]
struct Meter {
    input: f64,
    output: f64,
    samples_in: usize,
    samples_out: usize,
}

impl Meter {
    fn add(sum: &mut f64, count: &mut usize, pcm: &[i16]) {
        *sum += pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        *count += pcm.len();
    }

    fn take(&mut self) -> MediaEvent {
        let ev = MediaEvent::Levels {
            input: level(self.input, self.samples_in),
            output: level(self.output, self.samples_out),
        };
        *self = Meter::default();
        ev
    }
}

/// Counts for the call-statistics view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub late: u64,
    pub dropped_foreign: u64,
    pub jitter_ms: u32,
    pub played_frames: u64,
    /// Round-trip time from the other side's reports on our sender reports.
    pub rtt_ms: Option<u32>,
    /// The share of our packets the other side says it lost (its last report).
    pub peer_lost_percent: u8,
    /// Seconds with no voice from a peer that should be sending (0 while it flows).
    pub no_media_secs: u32,
}

/// Silence from a sending peer this long is worth saying.
const NO_MEDIA_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

enum Control {
    Repoint(Box<MediaParams>),
    Mute(bool),
    Key(char),
    Devices(Box<(Source, Sink)>),
}

/// A running session; `stop` ends it and closes the recording.
pub struct MediaSession {
    /// The rate the microphone and speaker were opened at (the sending codec's).
    rate: u32,
    stop: Option<oneshot::Sender<()>>,
    control: mpsc::UnboundedSender<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaSession {
    /// Starts media on `socket` (the RTP port offered in our SDP); `report` hears its counts
    /// and the keys the other side presses.
    pub fn start(
        socket: std::net::UdpSocket,
        rtcp: Option<std::net::UdpSocket>,
        relay: Option<crate::nat::turn::Relay>,
        params: MediaParams,
        source: Source,
        sink: Sink,
        report: impl Fn(MediaEvent) + Send + 'static,
    ) -> Result<MediaSession, super::codec::CodecError> {
        let io_err = |e: std::io::Error| super::codec::CodecError::Io(e.to_string());
        socket.set_nonblocking(true).map_err(io_err)?;
        let socket = UdpSocket::from_std(socket).map_err(io_err)?;
        let rtcp = match rtcp {
            Some(r) => {
                r.set_nonblocking(true).map_err(io_err)?;
                Some(UdpSocket::from_std(r).map_err(io_err)?)
            }
            None => None,
        };
        let rate = params.codec.rate();
        let (ice, remote) = (params.ice.clone(), params.remote);
        let state = Running::new(params, source, sink)?;
        let (stop, stop_rx) = oneshot::channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let sockets = Sockets {
            rtp: super::link::Link::new(socket, relay, ice, remote),
            rtcp,
        };
        let task = tokio::spawn(state.run(sockets, stop_rx, control_rx, Box::new(report)));
        Ok(MediaSession {
            rate,
            stop: Some(stop),
            control,
            task,
        })
    }

    /// A re-INVITE changed the media: new address, codec or direction. Returns the new rate
    /// when the codec's differs: the caller then opens the devices at it (`switch_devices`),
    /// which also rebuilds the echo canceller.
    pub fn repoint(&mut self, params: MediaParams) -> Option<u32> {
        let rate = params.codec.rate();
        let _ = self.control.send(Control::Repoint(Box::new(params)));
        (std::mem::replace(&mut self.rate, rate) != rate).then_some(rate)
    }

    /// Sends a keypad digit as RFC 4733 events (the caller checks telephone-event was agreed).
    pub fn key(&self, digit: char) {
        let _ = self.control.send(Control::Key(digit));
    }

    /// Switches microphone and speaker during the call (opened by the caller, at this
    /// session's codec rate).
    pub fn switch_devices(&self, source: Source, sink: Sink) {
        let _ = self
            .control
            .send(Control::Devices(Box::new((source, sink))));
    }

    /// Muted, the microphone is replaced by silence; RTP keeps flowing.
    pub fn mute(&self, on: bool) {
        let _ = self.control.send(Control::Mute(on));
    }

    /// Stops sending and playing at once and waits until the recording is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A microphone that hears a loudspeaker needs echo control; files and tones do not.
fn echo_for(source: &Source, codec: CodecKind) -> Option<super::echo::EchoControl> {
    matches!(source, Source::Device(_)).then(|| super::echo::EchoControl::new(codec.rate()))
}

struct Sockets {
    rtp: super::link::Link,
    rtcp: Option<UdpSocket>,
}

impl Sockets {
    async fn recv_rtcp(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match &self.rtcp {
            Some(s) => s.recv_from(buf).await,
            None => std::future::pending().await,
        }
    }
}

struct Running {
    params: MediaParams,
    enc: Encoder,
    /// A decoder per agreed payload type, and the one that played last (for concealment).
    decoders: Vec<(u8, Decoder)>,
    last_type: u8,
    jitter: JitterBuffer,
    filter: PeerFilter,
    /// Decoded sound at the speaker's rate not played yet (a packet may hold up to 60 ms).
    heard: VecDeque<i16>,
    decoded: Vec<i16>,
    source: Source,
    sink: Option<Sink>,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    muted: bool,
    /// When we last sent RTP (for keepalives) and last took the peer's (for "no sound").
    last_sent: Instant,
    last_heard: Instant,
    /// Keys waiting to be sent, the first one under way, and its event timestamp.
    keys: VecDeque<KeySender>,
    key_timestamp: Option<u32>,
    heard_keys: KeyReceiver,
    rtcp: RtcpState,
    /// Echo cancelling and noise suppression, on the sound-card path only.
    echo: Option<super::echo::EchoControl>,
    meter: Meter,
    stats: MediaStats,
    pcm: Vec<i16>,
    out: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    /// How the call's packets are protected.
    cipher: Cipher,
    /// The DTLS-SRTP handshake, when the keys come from one.
    dtls: Option<super::dtls::Dtls>,
    /// The handshake failed: no second one is started.
    dtls_gave_up: bool,
}

/// How a call's packets go on the wire.
enum Cipher {
    Clear,
    /// DTLS-SRTP has not made its keys yet: nothing goes out, nothing is taken in.
    Awaiting,
    Srtp(Box<super::srtp::Srtp>),
}

/// `bytes` as they go on the wire: sealed when the call is encrypted, `None` if sealing
/// failed (nothing goes out in the clear instead).
fn sealed<'a>(
    cipher: &mut Cipher,
    bytes: &'a [u8],
    rtcp: bool,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    match (cipher, rtcp) {
        (Cipher::Clear, _) => Some(Cow::Borrowed(bytes)),
        (Cipher::Awaiting, _) => None,
        (Cipher::Srtp(s), false) => s.protect_rtp(bytes).map(Cow::Owned),
        (Cipher::Srtp(s), true) => s.protect_rtcp(bytes).map(Cow::Owned),
    }
}

/// `bytes` as they came off the wire, opened when the call is encrypted; `None` when they
/// fail SRTP's check.
fn opened<'a>(
    cipher: &mut Cipher,
    bytes: &'a [u8],
    rtcp: bool,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    match (cipher, rtcp) {
        (Cipher::Clear, _) => Some(Cow::Borrowed(bytes)),
        (Cipher::Awaiting, _) => None,
        (Cipher::Srtp(s), false) => s.open_rtp(bytes).map(Cow::Owned),
        (Cipher::Srtp(s), true) => s.open_rtcp(bytes).map(Cow::Owned),
    }
}

/// The protection `params` asks for. Keys that make no context end the media rather than let
/// it go out in the clear.
fn cipher_for(params: &MediaParams) -> Result<Cipher, super::codec::CodecError> {
    match (&params.srtp, &params.dtls) {
        (Some(keys), _) => super::srtp::Srtp::new(keys)
            .map(|s| Cipher::Srtp(Box::new(s)))
            .map_err(|e| super::codec::CodecError::Io(e.to_string())),
        (None, Some(_)) => Ok(Cipher::Awaiting),
        (None, None) => Ok(Cipher::Clear),
    }
}

/// The handshake `params` asks for when we wait for the peer's: ready from the start. The
/// active side's starts once the path carries packets (`dtls_tick`), so its first flight is
/// not lost while ICE still looks for a pair.
fn dtls_for(params: &MediaParams) -> Result<Option<super::dtls::Dtls>, super::codec::CodecError> {
    params
        .dtls
        .as_ref()
        .filter(|d| !d.active)
        .map(|d| super::dtls::Dtls::new(d, params.remote, Instant::now()))
        .transpose()
        .map_err(|e| super::codec::CodecError::Io(e.to_string()))
}

impl Running {
    fn new(
        params: MediaParams,
        source: Source,
        sink: Sink,
    ) -> Result<Running, super::codec::CodecError> {
        let codec = params.codec;
        let echo = echo_for(&source, codec);
        Ok(Running {
            cipher: cipher_for(&params)?,
            dtls: dtls_for(&params)?,
            dtls_gave_up: false,
            enc: Encoder::new(codec)?,
            decoders: decoders_for(&params, Vec::new())?,
            last_type: params.payload_type,
            jitter: JitterBuffer::new(codec.rate(), FRAME.as_millis() as u32),
            filter: PeerFilter::new(params.remote, params.rtcp, params.receive),
            heard: VecDeque::with_capacity(codec.frame_samples() * 4),
            decoded: Vec::with_capacity(codec.frame_samples() * 6),
            params,
            source,
            sink: Some(sink),
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            muted: false,
            last_sent: Instant::now(),
            last_heard: Instant::now(),
            keys: VecDeque::new(),
            key_timestamp: None,
            heard_keys: KeyReceiver::default(),
            rtcp: RtcpState::new(),
            echo,
            meter: Meter::default(),
            stats: MediaStats::default(),
            pcm: vec![0; codec.frame_samples()],
            out: Vec::with_capacity(codec.frame_samples() * 6),
            payload: Vec::with_capacity(1500),
            packet: Vec::with_capacity(1500),
        })
    }

    async fn run(
        mut self,
        sockets: Sockets,
        mut stop: oneshot::Receiver<()>,
        mut control: mpsc::UnboundedReceiver<Control>,
        report: Box<dyn Fn(MediaEvent) + Send>,
    ) {
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let (mut buf, mut rbuf) = (vec![0u8; 2048], vec![0u8; 2048]);
        let mut ticks = 0u64;
        let mut consent_lost = false;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(c) = control.recv() => match c {
                    Control::Repoint(p) => {
                        sockets.rtp.repoint(p.ice.clone(), p.remote);
                        self.repoint(*p);
                    }
                    Control::Mute(on) => self.muted = on,
                    Control::Key(d) => self.keys.extend(KeySender::new(d, self.params.event_rate)),
                    Control::Devices(d) => {
                        let (source, sink) = *d;
                        self.echo = echo_for(&source, self.params.codec);
                        self.source = source;
                        if let Some(old) = self.sink.replace(sink) {
                            old.finish();
                        }
                    }
                },
                _ = sockets.rtp.due() => sockets.rtp.poll(),
                r = sockets.rtp.recv_from(&mut buf) => match r {
                    Ok((n, from)) if super::dtls::is_dtls(&buf[..n]) => {
                        self.dtls_record(&buf[..n], from, &sockets.rtp, &*report);
                    }
                    Ok((n, from)) if rtp::is_rtcp(&buf[..n]) => self.sealed_report(&buf[..n], from),
                    Ok((n, from)) => {
                        if let Some(k) = self.sealed_packet(&buf[..n], from) {
                            report(MediaEvent::Key(k));
                        }
                    }
                    Err(e) => tracing::debug!("RTP receive: {e}"),
                },
                r = sockets.recv_rtcp(&mut rbuf) => match r {
                    Ok((n, from)) => self.sealed_report(&rbuf[..n], from),
                    Err(e) => tracing::debug!("RTCP receive: {e}"),
                },
                _ = tick.tick() => {
                    self.dtls_tick(&sockets.rtp, &*report);
                    self.send(&sockets.rtp);
                    self.play();
                    self.maybe_send_report(&sockets);
                    ticks += 1;
                    if ticks.is_multiple_of(5) {
                        report(self.meter.take());
                    }
                    if let Some((relayed, local, remote)) = sockets.rtp.take_chosen() {
                        report(MediaEvent::Path { relayed, local, remote });
                    }
                    if !consent_lost && sockets.rtp.consent_lost() {
                        consent_lost = true;
                        report(MediaEvent::ConsentLost);
                    }
                    if ticks.is_multiple_of(50) {
                        self.stats.jitter_ms = self.jitter.stats().jitter_ms;
                        self.stats.no_media_secs = self.silent_secs();
                        report(MediaEvent::Stats(self.stats));
                    }
                    // A loop behind the clock has ticks ready at once (Burst): without this
                    // it would hold a single-threaded runtime until tokio's budget runs out,
                    // seconds in which no other task (another call, the engine) runs.
                    tokio::task::yield_now().await;
                }
            }
        }
        self.send_bye(&sockets);
        sockets.rtp.close();
        if let Some(sink) = self.sink.take() {
            sink.finish();
        }
        report(MediaEvent::Stats(self.stats));
    }

    fn repoint(&mut self, mut p: MediaParams) {
        if p.codec != self.params.codec {
            match Encoder::new(p.codec) {
                Ok(e) => {
                    self.enc = e;
                    if p.codec.rate() != self.params.codec.rate() {
                        // The speaker's rate changes: what was decoded at the old one goes.
                        self.jitter = JitterBuffer::new(p.codec.rate(), FRAME.as_millis() as u32);
                        self.heard.clear();
                    }
                    self.pcm = vec![0; p.codec.frame_samples()];
                }
                Err(e) => {
                    tracing::warn!(
                        "cannot switch to {:?} ({e}); keeping {:?}",
                        p.codec,
                        self.params.codec
                    );
                    (p.codec, p.payload_type) = (self.params.codec, self.params.payload_type);
                }
            }
        }
        match decoders_for(&p, std::mem::take(&mut self.decoders)) {
            Ok(d) => self.decoders = d,
            Err(e) => tracing::warn!("no decoder for a new payload type: {e}"),
        }
        let rekeyed = match (&mut self.cipher, &self.params.srtp, &p.srtp) {
            (Cipher::Srtp(s), Some(old), Some(new)) if p.dtls == self.params.dtls => {
                old == new || s.rekey(old, new).is_ok()
            }
            _ => false,
        };
        if !rekeyed && (p.srtp != self.params.srtp || p.dtls != self.params.dtls) {
            // New keys or a new handshake (a re-INVITE's): one that fails sends nothing
            // rather than plain.
            let fresh = cipher_for(&p).and_then(|c| Ok((c, dtls_for(&p)?)));
            (self.cipher, self.dtls) = fresh.unwrap_or_else(|e| {
                tracing::warn!("no SRTP for the new keys: {e}");
                (Cipher::Awaiting, None)
            });
            self.dtls_gave_up = false;
        }
        if p.receive != self.params.receive {
            // The peer starts (or stops) sending now: its silence counts from here.
            self.last_heard = Instant::now();
        }
        self.filter.repoint(p.remote, p.rtcp, p.receive);
        // The peer's source, if it stays, is still where our packets go.
        if let Some((addr, _)) = self.filter.source() {
            p.remote = addr;
        }
        self.params = p;
    }

    /// A DTLS record: from the peer only (a stranger's handshake would otherwise end the
    /// call), fed to the handshake; its keys switch the call to SRTP.
    fn dtls_record(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        link: &super::link::Link,
        report: &dyn Fn(MediaEvent),
    ) {
        let peer = from == self.params.remote || self.filter.source().map(|s| s.0) == Some(from);
        let Some(dtls) = self.dtls.as_mut().filter(|_| peer) else {
            self.stats.dropped_foreign += 1;
            return;
        };
        match dtls.take(bytes, Instant::now()) {
            Ok(Some(keys)) => match super::srtp::Srtp::new(&keys) {
                Ok(srtp) => {
                    self.cipher = Cipher::Srtp(Box::new(srtp));
                    report(MediaEvent::Secured(keys.ours.suite));
                }
                Err(e) => self.dtls_failed(&e.to_string(), report),
            },
            Ok(None) => {}
            Err(e) => self.dtls_failed(&e.to_string(), report),
        }
        self.flush_dtls(link);
    }

    /// Starts our handshake once the path carries it, resends a lost flight, or gives up.
    fn dtls_tick(&mut self, link: &super::link::Link, report: &dyn Fn(MediaEvent)) {
        if self.dtls.is_none() && !self.dtls_gave_up && matches!(self.cipher, Cipher::Awaiting) {
            if let Some(setup) = self.params.dtls.clone() {
                match super::dtls::Dtls::new(&setup, self.params.remote, Instant::now()) {
                    Ok(d) => self.dtls = Some(d),
                    Err(e) => return self.dtls_failed(&e.to_string(), report),
                }
                if !self.flush_dtls(link) {
                    // No path yet: the next tick starts it afresh.
                    self.dtls = None;
                }
                return;
            }
        }
        if let Some(Err(e)) = self.dtls.as_mut().map(|d| d.tick(Instant::now())) {
            self.dtls_failed(&e.to_string(), report);
        }
        self.flush_dtls(link);
    }

    /// Sends what the handshake has queued; false if the path took none of it.
    fn flush_dtls(&mut self, link: &super::link::Link) -> bool {
        let Some(dtls) = self.dtls.as_mut() else {
            return true;
        };
        let mut sent = true;
        while let Some(record) = dtls.transmit() {
            sent &= link.send_to(&record, self.params.remote);
        }
        sent
    }

    /// The call stays silent (no keys, nothing in the clear) and its owner is told.
    fn dtls_failed(&mut self, why: &str, report: &dyn Fn(MediaEvent)) {
        tracing::warn!("DTLS-SRTP: {why}");
        self.dtls = None;
        self.dtls_gave_up = true;
        self.cipher = Cipher::Awaiting;
        report(MediaEvent::EncryptionFailed);
    }

    /// Takes a datagram, opening it first when the call is encrypted (a packet that fails
    /// SRTP's check counts as foreign).
    fn sealed_packet(&mut self, bytes: &[u8], from: SocketAddr) -> Option<char> {
        match opened(&mut self.cipher, bytes, false) {
            Some(plain) => self.receive(&plain, from),
            None => {
                self.stats.dropped_foreign += 1;
                None
            }
        }
    }

    fn sealed_report(&mut self, bytes: &[u8], from: SocketAddr) {
        match opened(&mut self.cipher, bytes, true) {
            Some(plain) => self.control_report(&plain, from),
            None => self.stats.dropped_foreign += 1,
        }
    }

    /// Takes a datagram; returns a key the other side pressed, if it was one.
    fn receive(&mut self, bytes: &[u8], from: SocketAddr) -> Option<char> {
        let Ok(packet) = rtp::parse(bytes) else {
            self.stats.dropped_foreign += 1;
            return None;
        };
        let event = Some(packet.payload_type) == self.params.telephone_event;
        let voice = self
            .decoders
            .iter()
            .any(|(pt, _)| *pt == packet.payload_type);
        if !voice && !event {
            // A payload type nobody agreed to.
            self.stats.dropped_foreign += 1;
            return None;
        }
        let now = Instant::now();
        match self.filter.on_rtp(from, packet.ssrc, packet.sequence, now) {
            Verdict::Drop => {
                self.stats.dropped_foreign += 1;
                return None;
            }
            Verdict::Switched(addr) if addr != self.params.remote => {
                tracing::info!(
                    "RTP comes from {addr}, not {}: sending there",
                    self.params.remote
                );
                self.params.remote = addr;
            }
            _ => {}
        }
        if packet.ssrc == self.ssrc {
            self.ssrc_collision();
        }
        self.last_heard = now;
        self.stats.received += 1;
        self.rtcp.remote_ssrc = Some(packet.ssrc);
        let arrival = self.rtcp.arrival(self.params.codec.rate());
        self.rtcp
            .reception
            .on_packet(packet.sequence, packet.timestamp, arrival, !event);
        if event {
            self.jitter.skip(packet.sequence);
            return self.heard_keys.on_packet(packet.timestamp, packet.payload);
        }
        if self.params.receive {
            let v = Voice {
                payload_type: packet.payload_type,
                payload: packet.payload.to_vec(),
            };
            self.jitter.push(packet.sequence, packet.timestamp, v, now);
        }
        None
    }

    /// On hold nothing of ours flows: an RTP packet with a payload type nobody agreed on and
    /// no payload (RFC 6263 4.6), which receivers drop, keeps the path open.
    fn keepalive(&mut self, socket: &super::link::Link) {
        if self.last_sent.elapsed() < self.params.keepalive {
            return;
        }
        let used = |pt: u8| {
            self.decoders.iter().any(|(t, _)| *t == pt) || self.params.telephone_event == Some(pt)
        };
        // 20-24 are unassigned in RFC 3551.
        let Some(payload_type) = (20..=24).find(|pt| !used(*pt)) else {
            return;
        };
        let p = rtp::Packet {
            marker: false,
            payload_type,
            sequence: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload: &[],
        };
        rtp::build(&p, &mut self.packet);
        let sent = sealed(&mut self.cipher, &self.packet, false)
            .is_some_and(|w| socket.send_to(&w, self.params.remote));
        if sent {
            self.last_sent = Instant::now();
            self.seq = self.seq.wrapping_add(1);
        }
    }

    /// How long a peer that should be sending has been silent, once that is worth saying.
    fn silent_secs(&self) -> u32 {
        let quiet = self.last_heard.elapsed();
        match self.params.receive && quiet >= NO_MEDIA_AFTER {
            true => quiet.as_secs() as u32,
            false => 0,
        }
    }

    /// The peer uses our SSRC (RFC 3550 8.2): ours changes, and the old one is said goodbye to.
    fn ssrc_collision(&mut self) {
        tracing::info!(
            "SSRC {:08x} collides with the peer's: taking another",
            self.ssrc
        );
        self.rtcp.retired.push(self.ssrc);
        while self.ssrc == self.rtcp.retired[self.rtcp.retired.len() - 1] {
            self.ssrc = rand::random();
        }
    }

    /// The next telephone-event packet's payload and marker, while a key is being sent.
    fn next_key_packet(&mut self) -> Option<([u8; 4], bool)> {
        loop {
            let sender = self.keys.front_mut()?;
            if let Some(p) = sender.next_packet() {
                self.key_timestamp.get_or_insert(self.timestamp);
                return Some(p);
            }
            self.keys.pop_front();
            self.key_timestamp = None;
        }
    }

    fn send(&mut self, socket: &super::link::Link) {
        let frame = self.params.codec.frame_samples();
        self.source.fill(&mut self.pcm[..frame]);
        if let Some(e) = &mut self.echo {
            e.capture(&mut self.pcm);
        }
        if self.muted {
            self.pcm.fill(0);
        }
        if self.params.send {
            Meter::add(&mut self.meter.input, &mut self.meter.samples_in, &self.pcm);
        }
        if !self.params.send {
            self.keepalive(socket);
            self.timestamp = self.timestamp.wrapping_add(frame as u32);
            return;
        }
        // A key being pressed replaces the voice (RFC 4733 2.5.1.1), at the key's timestamp.
        let key = match self.params.telephone_event {
            Some(pt) => self.next_key_packet().map(|(p, m)| (pt, p, m)),
            None => None,
        };
        let (payload_type, marker, timestamp) = match key {
            Some((pt, payload, marker)) => {
                self.payload.clear();
                self.payload.extend_from_slice(&payload);
                (pt, marker, self.key_timestamp.unwrap_or(self.timestamp))
            }
            None => {
                if let Err(e) = self.enc.encode(&self.pcm, &mut self.payload) {
                    tracing::warn!("encoding failed: {e}");
                    return;
                }
                (
                    self.params.payload_type,
                    self.stats.sent == 0,
                    self.timestamp,
                )
            }
        };
        let p = rtp::Packet {
            marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
            payload: &self.payload,
        };
        rtp::build(&p, &mut self.packet);
        // A full socket buffer loses the packet, as the network might; never wait for it.
        if sealed(&mut self.cipher, &self.packet, false)
            .is_some_and(|w| socket.send_to(&w, self.params.remote))
        {
            self.last_sent = Instant::now();
            self.stats.sent += 1;
            self.rtcp.octets = self.rtcp.octets.wrapping_add(self.payload.len() as u32);
        }
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(frame as u32);
    }

    fn play(&mut self) {
        let frame = self.params.codec.frame_samples();
        while self.heard.len() < frame {
            self.pull(frame);
        }
        self.out.clear();
        self.out.extend(self.heard.drain(..frame));
        if !self.params.receive {
            self.out.iter_mut().for_each(|s| *s = 0);
        }
        if let Some(e) = &mut self.echo {
            e.render(&self.out);
        }
        Meter::add(
            &mut self.meter.output,
            &mut self.meter.samples_out,
            &self.out,
        );
        self.stats.played_frames += 1;
        self.stats.late = self.jitter.stats().late;
        if let Some(sink) = &mut self.sink {
            sink.play(&self.out);
        }
    }

    /// Decodes the jitter buffer's next packet (or conceals one) onto what is to be heard.
    fn pull(&mut self, frame: usize) {
        let rate = self.params.codec.rate();
        let playout = self.jitter.pop(Instant::now());
        if let Playout::Frame(v) = &playout {
            self.last_type = v.payload_type;
        }
        let Some(dec) = decoder_of(&mut self.decoders, self.last_type) else {
            self.heard.extend(std::iter::repeat_n(0, frame));
            return;
        };
        let from = dec.kind().rate();
        let result = match playout {
            Playout::Wait => {
                self.heard.extend(std::iter::repeat_n(0, frame));
                return;
            }
            Playout::Frame(v) => dec.decode(&v.payload, &mut self.decoded),
            Playout::Lost { next } => {
                self.stats.lost += 1;
                let next = next.filter(|n| n.payload_type == self.last_type);
                dec.conceal(
                    next.as_ref().map(|n| n.payload.as_slice()),
                    &mut self.decoded,
                )
            }
            Playout::Empty => {
                let samples = (from / 50) as usize;
                dec.conceal_samples(samples, None, &mut self.decoded)
            }
        };
        if let Err(e) = result {
            tracing::debug!("undecodable frame: {e}");
            self.decoded.clear();
        }
        if self.decoded.is_empty() {
            self.decoded.resize((from / 50) as usize, 0);
        }
        super::resample::convert(&self.decoded, from, rate, &mut self.heard);
    }
}

/// The decoders for every payload type `p` takes, reusing those in `old` that still fit.
fn decoders_for(
    p: &MediaParams,
    mut old: Vec<(u8, Decoder)>,
) -> Result<Vec<(u8, Decoder)>, super::codec::CodecError> {
    let mut wanted = p.decodes.clone();
    if !wanted.iter().any(|(pt, _)| *pt == p.payload_type) {
        wanted.push((p.payload_type, p.codec));
    }
    wanted
        .into_iter()
        .map(
            |(pt, kind)| match old.iter().position(|(t, d)| *t == pt && d.kind() == kind) {
                Some(i) => Ok(old.swap_remove(i)),
                None => Ok((pt, Decoder::new(kind)?)),
            },
        )
        .collect()
}

fn decoder_of(decoders: &mut [(u8, Decoder)], pt: u8) -> Option<&mut Decoder> {
    decoders.iter_mut().find(|(t, _)| *t == pt).map(|(_, d)| d)
}

/// What RTCP needs to remember (RFC 3550 6.4): the reception counts of the other side's stream,
/// its last sender report (for LSR/DLSR), our octet count, and when the next report is due.
struct RtcpState {
    reception: super::rtcp::Reception,
    remote_ssrc: Option<u32>,
    /// Middle 32 bits of the last SR's NTP time, and when it arrived.
    last_sr: Option<(u32, Instant)>,
    octets: u32,
    started: Instant,
    next: Option<Instant>,
    out: Vec<u8>,
    /// Our SSRCs given up after a collision: a BYE goes out for each in the next report.
    retired: Vec<u32>,
}

impl RtcpState {
    fn new() -> RtcpState {
        RtcpState {
            reception: Default::default(),
            remote_ssrc: None,
            last_sr: None,
            octets: 0,
            started: Instant::now(),
            next: None,
            out: Vec::with_capacity(256),
            retired: Vec::new(),
        }
    }

    /// Now, in the stream's timestamp units since the session started.
    fn arrival(&self, rate: u32) -> u32 {
        let t = self.started.elapsed().as_secs_f64() * f64::from(rate);
        (t as u64 & 0xffff_ffff) as u32
    }
}

fn ntp_now() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    super::rtcp::ntp(since)
}

impl Running {
    /// Sends our report when it is due: the first after half an interval, then every
    /// interval, each spread by ±50% so reports from many calls do not bunch (RFC 3550 6.2).
    fn maybe_send_report(&mut self, sockets: &Sockets) {
        let now = Instant::now();
        let interval = self.params.rtcp_interval;
        let due = *self.rtcp.next.get_or_insert(now + interval / 2);
        if now < due {
            return;
        }
        self.rtcp.next = Some(now + interval.mul_f64(rand::random::<f64>() + 0.5));
        let retired = std::mem::take(&mut self.rtcp.retired);
        self.send_report(sockets, now, &retired);
    }

    /// Our report, then a BYE for `bye` (SSRCs we give up) when there are any.
    fn send_report(&mut self, sockets: &Sockets, now: Instant, bye: &[u32]) {
        let report = self.report(now);
        let cname = format!("parley-{:08x}", self.ssrc);
        super::rtcp::build(&report, &cname, &mut self.rtcp.out);
        super::rtcp::push_bye(bye, &mut self.rtcp.out);
        let Some(out) = sealed(&mut self.cipher, &self.rtcp.out, true) else {
            return;
        };
        match (&sockets.rtcp, self.params.rtcp) {
            (Some(s), Some(to)) => {
                let _ = s.try_send_to(&out, to);
            }
            _ => {
                sockets.rtp.send_to(&out, self.params.remote);
            }
        }
    }

    /// RFC 3550 6.6: the session ends with a BYE (in a compound packet, after our report).
    fn send_bye(&mut self, sockets: &Sockets) {
        self.send_report(sockets, Instant::now(), &[self.ssrc]);
    }

    fn report(&mut self, now: Instant) -> super::rtcp::Report {
        let sender = (self.stats.sent > 0).then(|| super::rtcp::SenderInfo {
            ntp: ntp_now(),
            rtp_timestamp: self.timestamp,
            packets: self.stats.sent as u32,
            octets: self.rtcp.octets,
        });
        let (lsr, dlsr) = match self.rtcp.last_sr {
            Some((mid, at)) => (mid, (now.duration_since(at).as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        let blocks = match self.rtcp.remote_ssrc {
            Some(ssrc) => vec![self.rtcp.reception.report(ssrc, lsr, dlsr)],
            None => Vec::new(),
        };
        super::rtcp::Report {
            ssrc: self.ssrc,
            sender,
            blocks,
        }
    }

    /// The other side's report: its SR's time (for our LSR) and what it says of our stream.
    fn control_report(&mut self, bytes: &[u8], from: SocketAddr) {
        if !self.filter.rtcp_ok(from) {
            self.stats.dropped_foreign += 1;
            return;
        }
        let Ok(reports) = super::rtcp::parse(bytes) else {
            self.stats.dropped_foreign += 1;
            return;
        };
        if self.params.rtcp.is_some_and(|to| to != from) && self.filter.rtcp_follows(from) {
            // Symmetric RTCP: answer where the peer's reports really come from.
            self.params.rtcp = Some(from);
        }
        let now = Instant::now();
        for r in reports {
            if let Some(info) = r.sender {
                self.rtcp.last_sr = Some((super::rtcp::ntp_middle(info.ntp), now));
            }
            for b in r.blocks.iter().filter(|b| b.ssrc == self.ssrc) {
                let arrived = super::rtcp::ntp_middle(ntp_now());
                if let Some(rtt) = super::rtcp::round_trip(b, arrived) {
                    self.stats.rtt_ms = Some(rtt.as_millis() as u32);
                }
                self.stats.peer_lost_percent = (u32::from(b.fraction_lost) * 100 / 256) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels_map_loudness_to_a_meter() {
        assert_eq!(super::level(0.0, 160), 0.0);
        // Full-scale square wave: 0 dBFS.
        assert_eq!(super::level(32768f64.powi(2) * 160.0, 160), 1.0);
        // -30 dBFS sits halfway.
        let amp = 32768.0 * 10f64.powf(-30.0 / 20.0);
        let half = super::level(amp * amp * 160.0, 160);
        assert!((half - 0.5).abs() < 0.01, "{half}");
    }
}
