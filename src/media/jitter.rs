//! The jitter buffer, a pure state machine driven by `(packet, now)` and `pop(now)` every 20 ms.
//! Packets are kept by extended sequence number, so reordering is undone and late or duplicate
//! packets are dropped. The playout delay adapts: its target follows the measured interarrival
//! jitter (RFC 3550 A.8's estimator, in milliseconds), growing at once when the network gets
//! worse (by holding playout one frame) and shrinking a frame at a time once it has been calm for
//! a second (by dropping one). The same depth control absorbs clock drift between the two ends:
//! a faster sender fills the buffer and frames are dropped, a slower one empties it and frames are
//! stretched by concealment, so playout never drifts away.

use std::collections::BTreeMap;
use std::time::Instant;

/// Frames the target may reach (200 ms at 20 ms a frame).
const MAX_TARGET: u32 = 10;
/// Pops in a row with the buffer deeper than wanted before a frame is dropped (1 s).
const CALM_POPS: u32 = 50;
/// Pops with nothing to play before playout starts over (a pause, or hold).
const RESYNC_POPS: u32 = 10;
/// A sequence number this far from the expected one is a new stream, not a late packet.
const RESET_DISTANCE: i64 = 1000;

/// What to play for the next frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Not started yet (filling to the target): play silence.
    Wait,
    Frame(Vec<u8>),
    /// The frame is missing: conceal it; `next` is the following packet when it is here
    /// (Opus can rebuild the lost frame from it).
    Lost {
        next: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub target_frames: u32,
    pub depth: u32,
    pub jitter_ms: u32,
    pub late: u64,
    pub duplicates: u64,
    pub lost: u64,
    pub dropped: u64,
    pub stretched: u64,
}

pub struct JitterBuffer {
    frame_ms: f64,
    rate: f64,
    packets: BTreeMap<i64, Vec<u8>>,
    /// Extended sequence number of the next frame to play.
    next: Option<i64>,
    /// Highest extended sequence number seen, to extend the next one.
    highest: i64,
    started: bool,
    target: u32,
    deep_pops: u32,
    calm_pops: u32,
    empty_pops: u32,
    /// Interarrival jitter estimate (ms) and the last transit time.
    jitter: f64,
    last_transit: Option<f64>,
    epoch: Option<Instant>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for a stream with this RTP clock rate and frame length.
    pub fn new(rate: u32, frame_ms: u32) -> JitterBuffer {
        JitterBuffer {
            frame_ms: f64::from(frame_ms),
            rate: f64::from(rate),
            packets: BTreeMap::new(),
            next: None,
            highest: 0,
            started: false,
            target: 1,
            deep_pops: 0,
            calm_pops: 0,
            empty_pops: 0,
            jitter: 0.0,
            last_transit: None,
            epoch: None,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats {
            target_frames: self.target,
            depth: self.depth(),
            jitter_ms: self.jitter.round() as u32,
            ..self.stats
        }
    }

    /// The extended form of a 16-bit sequence number: the one nearest the highest seen.
    fn extend(&self, seq: u16) -> i64 {
        if self.packets.is_empty() && self.next.is_none() {
            return i64::from(seq);
        }
        let base = self.highest - i64::from(self.highest as u16);
        [base - 65536, base, base + 65536]
            .into_iter()
            .map(|b| b + i64::from(seq))
            .min_by_key(|c| (c - self.highest).abs())
            .unwrap_or(i64::from(seq))
    }

    fn depth(&self) -> u32 {
        let from = self.next.unwrap_or(i64::MIN);
        self.packets.range(from..).count() as u32
    }

    /// A packet arrived.
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8], now: Instant) {
        let mut ext = self.extend(seq);
        if let Some(next) = self.next {
            if (ext - next).abs() > RESET_DISTANCE {
                self.restart();
                ext = i64::from(seq);
            } else if ext < next {
                self.stats.late += 1;
                return;
            }
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.highest = self.highest.max(ext);
        if self.packets.is_empty() && self.next.is_none() {
            self.highest = ext;
        }
        self.packets.insert(ext, payload.to_vec());
        self.measure(timestamp, now);
    }

    fn restart(&mut self) {
        self.packets.clear();
        (self.next, self.started, self.last_transit) = (None, false, None);
    }

    /// RFC 3550 A.8: J += (|D| - J) / 16, in milliseconds.
    fn measure(&mut self, timestamp: u32, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.duration_since(epoch).as_secs_f64() * 1000.0;
        let transit = arrival - f64::from(timestamp) * 1000.0 / self.rate;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A jump of seconds is a timestamp reset, not jitter.
            if d < 1000.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        self.adapt_target();
    }

    /// The target follows the jitter: one frame, plus room for three times the jitter. It grows
    /// at once and shrinks only after a calm second.
    fn adapt_target(&mut self) {
        // Below 2 ms, jitter is clock noise: one frame of buffer is enough.
        let extra = ((3.0 * self.jitter - 2.0).max(0.0) / self.frame_ms).ceil() as u32;
        let wanted = extra + 1;
        let wanted = wanted.clamp(1, MAX_TARGET);
        if wanted > self.target {
            self.target = wanted;
            self.calm_pops = 0;
        } else if wanted < self.target {
            self.calm_pops += 1;
            if self.calm_pops >= CALM_POPS {
                self.target -= 1;
                self.calm_pops = 0;
            }
        } else {
            self.calm_pops = 0;
        }
    }

    /// What to play now.
    pub fn pop(&mut self, _now: Instant) -> Playout {
        if !self.started {
            if self.packets.len() < self.target as usize {
                return Playout::Wait;
            }
            self.started = true;
            self.next = self.packets.keys().next().copied();
        }
        let Some(next) = self.next else {
            return Playout::Wait;
        };
        self.trim_if_deep(next);
        let next = self.next.unwrap_or(next);
        if let Some(frame) = self.packets.remove(&next) {
            self.next = Some(next + 1);
            self.empty_pops = 0;
            return Playout::Frame(frame);
        }
        if self.packets.range(next..).next().is_some() {
            // A gap with later packets waiting: this one is lost.
            self.stats.lost += 1;
            self.next = Some(next + 1);
            let following = self.packets.get(&(next + 1)).cloned();
            return Playout::Lost { next: following };
        }
        // Nothing at all: hold playout (the target grows by a frame), or start over after a pause.
        self.empty_pops += 1;
        self.stats.stretched += 1;
        if self.empty_pops >= RESYNC_POPS {
            self.started = false;
            self.next = None;
            self.empty_pops = 0;
        }
        Playout::Lost { next: None }
    }

    /// Drops the oldest frame when the buffer has stayed deeper than the target (a calmer
    /// network, or a sender whose clock runs fast).
    fn trim_if_deep(&mut self, next: i64) {
        if self.depth() > self.target + 1 {
            self.deep_pops += 1;
        } else {
            self.deep_pops = 0;
        }
        if self.deep_pops >= CALM_POPS || self.depth() > self.target + MAX_TARGET {
            self.packets.remove(&next);
            self.next = Some(next + 1);
            self.stats.dropped += 1;
            self.deep_pops = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    fn frame(n: u16) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    /// Plays `pops` frames from a buffer fed by `arrivals` (seq, arrival ms).
    fn run(arrivals: &[(u16, u64)], pops: u64) -> (Vec<Playout>, JitterStats) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(8000, 20);
        let mut out = Vec::new();
        let mut feed = arrivals.iter().peekable();
        for tick in 0..pops {
            let now = t0 + MS * (tick * 20) as u32;
            while let Some(&&(seq, at)) = feed.peek() {
                if at > tick * 20 {
                    break;
                }
                jb.push(seq, u32::from(seq) * 160, &frame(seq), t0 + MS * at as u32);
                feed.next();
            }
            out.push(jb.pop(now));
        }
        (out, jb.stats())
    }

    fn played(out: &[Playout]) -> Vec<u16> {
        out.iter()
            .filter_map(|p| match p {
                Playout::Frame(f) => Some(u16::from_be_bytes([f[0], f[1]])),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reorders_and_drops_late_and_duplicate_packets() {
        let arrivals = [(0, 0), (2, 1), (1, 2), (1, 3), (3, 60), (4, 80), (5, 100)];
        let (out, stats) = run(&arrivals, 10);
        assert_eq!(played(&out), [0, 1, 2, 3, 4, 5]);
        assert_eq!(stats.duplicates, 1);
        let mut jb = JitterBuffer::new(8000, 20);
        let t = Instant::now();
        jb.push(10, 1600, b"a", t);
        assert_eq!(jb.pop(t), Playout::Frame(b"a".to_vec()));
        jb.push(9, 1440, b"late", t);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn a_gap_is_a_loss_with_the_next_packet_for_fec() {
        let mut jb = JitterBuffer::new(8000, 20);
        let t = Instant::now();
        for s in [0u16, 2, 3] {
            jb.push(s, u32::from(s) * 160, &frame(s), t);
        }
        assert_eq!(jb.pop(t), Playout::Frame(frame(0)));
        assert_eq!(
            jb.pop(t),
            Playout::Lost {
                next: Some(frame(2))
            }
        );
        assert_eq!(jb.pop(t), Playout::Frame(frame(2)));
        assert_eq!(jb.stats().lost, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let arrivals: Vec<(u16, u64)> = (0..6u64)
            .map(|i| (65533u16.wrapping_add(i as u16), i * 20))
            .collect();
        let (out, _) = run(&arrivals, 8);
        assert_eq!(played(&out), [65533, 65534, 65535, 0, 1, 2]);
    }

    #[test]
    fn the_target_grows_with_jitter_and_shrinks_when_calm() {
        // 10 s with every other packet 60 ms late, then 20 s of a steady stream.
        let mut arrivals = Vec::new();
        for i in 0..1500u64 {
            let late = if i < 500 && i % 2 == 1 { 60 } else { 0 };
            arrivals.push((i as u16, i * 20 + late));
        }
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(8000, 20);
        let mut peak = 0;
        let mut fed = 0;
        for tick in 0..1500u64 {
            while fed < arrivals.len() && arrivals[fed].1 <= tick * 20 {
                let (s, at) = arrivals[fed];
                jb.push(s, u32::from(s) * 160, &frame(s), t0 + MS * at as u32);
                fed += 1;
            }
            jb.pop(t0 + MS * (tick * 20) as u32);
            peak = peak.max(jb.stats().target_frames);
        }
        assert!(peak >= 4, "the target never grew: {peak}");
        assert!(jb.stats().target_frames <= 2, "{:?}", jb.stats());
    }

    #[test]
    fn clock_drift_is_absorbed() {
        // The sender's clock runs 1% fast, then 1% slow: depth stays bounded either way.
        for per_packet in [19.8f64, 20.2] {
            let arrivals: Vec<(u16, u64)> = (0..6000u64)
                .map(|i| ((i % 65536) as u16, (i as f64 * per_packet) as u64))
                .collect();
            let t0 = Instant::now();
            let mut jb = JitterBuffer::new(8000, 20);
            let (mut fed, mut max_depth) = (0, 0);
            for tick in 0..6000u64 {
                while fed < arrivals.len() && arrivals[fed].1 <= tick * 20 {
                    let (s, at) = arrivals[fed];
                    jb.push(s, u32::from(s) * 160, &frame(s), t0 + MS * at as u32);
                    fed += 1;
                }
                jb.pop(t0 + MS * (tick * 20) as u32);
                if tick > 100 {
                    max_depth = max_depth.max(jb.stats().depth);
                }
            }
            let s = jb.stats();
            assert!(
                max_depth <= s.target_frames + 3,
                "{per_packet}: depth {max_depth} {s:?}"
            );
        }
    }

    #[test]
    fn a_new_stream_restarts_playout() {
        let mut jb = JitterBuffer::new(8000, 20);
        let t = Instant::now();
        jb.push(100, 0, b"a", t);
        assert_eq!(jb.pop(t), Playout::Frame(b"a".to_vec()));
        jb.push(30000, 0, b"b", t);
        assert_eq!(jb.pop(t), Playout::Frame(b"b".to_vec()));
    }
}
