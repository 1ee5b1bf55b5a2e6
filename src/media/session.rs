//! One call's media: a tokio task ticking every 20 ms that takes a frame from the microphone,
//! encodes it and sends it as RTP from the port we advertised, and plays the jitter buffer's
//! next frame (decoded or concealed) to the speaker. Symmetric RTP: it latches onto the address
//! the peer really sends from. A malformed or foreign packet is counted and dropped. A re-INVITE
//! re-points the running session (address, codec, direction) instead of restarting it.

use super::codec::{CodecKind, Decoder, Encoder, FRAME};
use super::headless::{Sink, Source};
use super::jitter::{JitterBuffer, Playout};
use super::rtp;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// What the SDP negotiation decided, as the media layer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaParams {
    pub remote: SocketAddr,
    pub payload_type: u8,
    pub codec: CodecKind,
    /// Whether we send and receive voice (hold: `sendonly`/`recvonly`/`inactive`).
    pub send: bool,
    pub receive: bool,
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
}

enum Control {
    Repoint(MediaParams),
    Mute(bool),
}

/// A running session; `stop` ends it and closes the recording.
pub struct MediaSession {
    stop: Option<oneshot::Sender<()>>,
    control: mpsc::UnboundedSender<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaSession {
    /// Starts media on `socket` (the RTP port offered in our SDP). `report` is called about
    /// once a second with the counts.
    pub fn start(
        socket: std::net::UdpSocket,
        params: MediaParams,
        source: Source,
        sink: Sink,
        report: impl Fn(MediaStats) + Send + 'static,
    ) -> Result<MediaSession, super::codec::CodecError> {
        let io_err = |e: std::io::Error| super::codec::CodecError::Io(e.to_string());
        socket.set_nonblocking(true).map_err(io_err)?;
        let socket = UdpSocket::from_std(socket).map_err(io_err)?;
        let state = Running::new(params, source, sink)?;
        let (stop, stop_rx) = oneshot::channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(state.run(socket, stop_rx, control_rx, Box::new(report)));
        Ok(MediaSession {
            stop: Some(stop),
            control,
            task,
        })
    }

    /// A re-INVITE changed the media: new address, codec or direction.
    pub fn repoint(&self, params: MediaParams) {
        let _ = self.control.send(Control::Repoint(params));
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

struct Running {
    params: MediaParams,
    enc: Encoder,
    dec: Decoder,
    jitter: JitterBuffer,
    source: Source,
    sink: Option<Sink>,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    latched: bool,
    muted: bool,
    stats: MediaStats,
    pcm: Vec<i16>,
    out: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
}

impl Running {
    fn new(
        params: MediaParams,
        source: Source,
        sink: Sink,
    ) -> Result<Running, super::codec::CodecError> {
        let codec = params.codec;
        Ok(Running {
            enc: Encoder::new(codec)?,
            dec: Decoder::new(codec)?,
            jitter: JitterBuffer::new(codec.rate(), FRAME.as_millis() as u32),
            params,
            source,
            sink: Some(sink),
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            latched: false,
            muted: false,
            stats: MediaStats::default(),
            pcm: vec![0; codec.frame_samples()],
            out: Vec::with_capacity(codec.frame_samples() * 6),
            payload: Vec::with_capacity(1500),
            packet: Vec::with_capacity(1500),
        })
    }

    async fn run(
        mut self,
        socket: UdpSocket,
        mut stop: oneshot::Receiver<()>,
        mut control: mpsc::UnboundedReceiver<Control>,
        report: Box<dyn Fn(MediaStats) + Send>,
    ) {
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut buf = vec![0u8; 2048];
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(c) = control.recv() => match c {
                    Control::Repoint(p) => self.repoint(p),
                    Control::Mute(on) => self.muted = on,
                },
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.receive(&buf[..n], from),
                    Err(e) => tracing::debug!("RTP receive: {e}"),
                },
                _ = tick.tick() => {
                    self.send(&socket);
                    self.play();
                    ticks += 1;
                    if ticks.is_multiple_of(50) {
                        self.stats.jitter_ms = self.jitter.stats().jitter_ms;
                        report(self.stats);
                    }
                }
            }
        }
        if let Some(sink) = self.sink.take() {
            sink.finish();
        }
        report(self.stats);
    }

    fn repoint(&mut self, p: MediaParams) {
        if p.codec != self.params.codec {
            match (Encoder::new(p.codec), Decoder::new(p.codec)) {
                (Ok(e), Ok(d)) => {
                    (self.enc, self.dec) = (e, d);
                    self.jitter = JitterBuffer::new(p.codec.rate(), FRAME.as_millis() as u32);
                    self.pcm = vec![0; p.codec.frame_samples()];
                }
                _ => tracing::warn!(
                    "cannot switch to {:?}; keeping {:?}",
                    p.codec,
                    self.params.codec
                ),
            }
        }
        self.latched = self.latched && p.remote == self.params.remote;
        self.params = p;
    }

    fn receive(&mut self, bytes: &[u8], from: SocketAddr) {
        if rtp::is_rtcp(bytes) {
            return;
        }
        let packet = match rtp::parse(bytes) {
            Ok(p) if p.payload_type == self.params.payload_type => p,
            // Another payload type (telephone-event is handled elsewhere) or garbage.
            _ => {
                self.stats.dropped_foreign += 1;
                return;
            }
        };
        if !self.latched {
            if from != self.params.remote {
                tracing::info!(
                    "RTP comes from {from}, not {}: sending there",
                    self.params.remote
                );
                self.params.remote = from;
            }
            self.latched = true;
        }
        self.stats.received += 1;
        if self.params.receive {
            let now = Instant::now();
            self.jitter
                .push(packet.sequence, packet.timestamp, packet.payload, now);
        }
    }

    fn send(&mut self, socket: &UdpSocket) {
        let frame = self.params.codec.frame_samples();
        self.source.fill(&mut self.pcm[..frame]);
        if self.muted {
            self.pcm.fill(0);
        }
        if !self.params.send {
            self.timestamp = self.timestamp.wrapping_add(frame as u32);
            return;
        }
        if let Err(e) = self.enc.encode(&self.pcm, &mut self.payload) {
            tracing::warn!("encoding failed: {e}");
            return;
        }
        let p = rtp::Packet {
            marker: self.stats.sent == 0,
            payload_type: self.params.payload_type,
            sequence: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload: &self.payload,
        };
        rtp::build(&p, &mut self.packet);
        // A full socket buffer loses the packet, as the network might; never wait for it.
        if socket.try_send_to(&self.packet, self.params.remote).is_ok() {
            self.stats.sent += 1;
        }
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(frame as u32);
    }

    fn play(&mut self) {
        let frame = self.params.codec.frame_samples();
        let result = match self.jitter.pop(Instant::now()) {
            Playout::Wait => {
                self.out.clear();
                self.out.resize(frame, 0);
                Ok(())
            }
            Playout::Frame(payload) => self.dec.decode(&payload, &mut self.out),
            Playout::Lost { next } => {
                self.stats.lost += 1;
                self.dec.conceal(next.as_deref(), &mut self.out)
            }
        };
        if let Err(e) = result {
            tracing::debug!("undecodable frame: {e}");
            self.out.clear();
            self.out.resize(frame, 0);
        }
        if !self.params.receive {
            self.out.iter_mut().for_each(|s| *s = 0);
        }
        self.stats.played_frames += 1;
        self.stats.late = self.jitter.stats().late;
        if let Some(sink) = &mut self.sink {
            sink.play(&self.out);
        }
    }
}
