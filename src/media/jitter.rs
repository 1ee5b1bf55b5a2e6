//! The jitter buffer, a pure state machine driven by `(packet, now)` and `pop(now)` whenever the
//! player needs the next packet. Packets are kept by extended sequence number, so reordering is
//! undone and late or duplicate packets are dropped; a packet may hold 10 to 60 ms (its length
//! is learnt from the timestamps), and the player asks for packets as its samples run out, so
//! playout follows the timestamps, not one packet per tick. The playout delay adapts: its target
//! follows the measured interarrival jitter (RFC 3550 A.8's estimator, in milliseconds), growing
//! at once when the network gets worse (by holding playout) and shrinking a packet at a time once
//! it has been calm for a while (by dropping one). The same depth control absorbs clock drift
//! between the two ends. Sequence numbers spent on key presses (RFC 4733 events) are marked, so
//! a key press is not a loss.

use std::collections::BTreeMap;
use std::time::Instant;

/// The deepest the target may go, in milliseconds.
const MAX_TARGET_MS: f64 = 200.0;
/// How long the buffer stays deeper than wanted before a packet is dropped.
const CALM_MS: f64 = 1000.0;
/// Silence before playout starts over (a pause, or hold).
const RESYNC_MS: f64 = 200.0;
/// A sequence number this far from the expected one is a new stream, not a late packet.
const RESET_DISTANCE: i64 = 1000;
/// The player's own frame, what one underrun stretches.
const FRAME_MS: f64 = 20.0;

/// One packet's voice: its payload type (a peer may switch among the agreed ones) and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    pub payload_type: u8,
    pub payload: Vec<u8>,
}

/// What is kept at one sequence number.
#[derive(Debug, Clone)]
enum Slot {
    Voice(Voice),
    /// A key press's event packet: no sound, and no loss.
    Skip,
}

/// What to play next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Not started yet (filling to the target): play silence.
    Wait,
    Frame(Voice),
    /// A packet is missing: conceal it; `next` is the following packet when it is here
    /// (Opus can rebuild the lost frame from it).
    Lost {
        next: Option<Voice>,
    },
    /// Nothing has arrived yet to play: stretch what was played (this is not a loss).
    Empty,
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
    /// The length of one packet, learnt from the timestamps (20 ms until then).
    packet_ms: f64,
    rate: f64,
    packets: BTreeMap<i64, Slot>,
    /// The timestamp at the highest sequence number, to learn the packet length.
    highest_ts: Option<u32>,
    /// Extended sequence number of the next frame to play.
    next: Option<i64>,
    /// Highest extended sequence number seen, to extend the next one.
    highest: i64,
    started: bool,
    target: u32,
    /// Milliseconds the buffer has been too deep, calm (wanting a smaller target), or empty.
    deep_ms: f64,
    calm_ms: f64,
    empty_ms: f64,
    /// Interarrival jitter estimate (ms) and the last transit time.
    jitter: f64,
    last_transit: Option<f64>,
    epoch: Option<Instant>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for a stream with this RTP clock rate and first guess of the packet length.
    pub fn new(rate: u32, packet_ms: u32) -> JitterBuffer {
        JitterBuffer {
            packet_ms: f64::from(packet_ms),
            rate: f64::from(rate),
            packets: BTreeMap::new(),
            highest_ts: None,
            next: None,
            highest: 0,
            started: false,
            target: 1,
            deep_ms: 0.0,
            calm_ms: 0.0,
            empty_ms: 0.0,
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

    /// A voice packet arrived.
    pub fn push(&mut self, seq: u16, timestamp: u32, voice: Voice, now: Instant) {
        if self.insert(seq, Some(timestamp), Slot::Voice(voice)) {
            self.measure(timestamp, now);
        }
    }

    /// A key press's event packet took this sequence number: it is not missing voice.
    pub fn skip(&mut self, seq: u16) {
        self.insert(seq, None, Slot::Skip);
    }

    /// Keeps a slot; `false` when it was late or a duplicate.
    fn insert(&mut self, seq: u16, timestamp: Option<u32>, slot: Slot) -> bool {
        let mut ext = self.extend(seq);
        if let Some(next) = self.next {
            if (ext - next).abs() > RESET_DISTANCE {
                self.restart();
                ext = i64::from(seq);
            } else if ext < next {
                self.stats.late += 1;
                return false;
            }
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return false;
        }
        if self.packets.is_empty() && self.next.is_none() {
            self.highest = ext;
            self.highest_ts = None;
        }
        if ext >= self.highest {
            if let Some(ts) = timestamp {
                self.learn_length(ext, ts);
            }
            self.highest = ext;
        }
        self.packets.insert(ext, slot);
        true
    }

    /// The packet length from two voice packets in a row (10 to 120 ms; anything else is a
    /// timestamp jump, not a length).
    fn learn_length(&mut self, ext: i64, ts: u32) {
        if let Some(last) = self.highest_ts.filter(|_| ext == self.highest + 1) {
            let ms = f64::from(ts.wrapping_sub(last)) * 1000.0 / self.rate;
            if (10.0..=120.0).contains(&ms) {
                self.packet_ms = ms;
            }
        }
        self.highest_ts = Some(ts);
    }

    /// The packet length playout works with, in milliseconds.
    pub fn packet_ms(&self) -> f64 {
        self.packet_ms
    }

    fn restart(&mut self) {
        self.packets.clear();
        (self.next, self.started, self.last_transit) = (None, false, None);
        self.highest_ts = None;
    }

    /// RFC 3550 A.8: J += (|D| - J) / 16, in milliseconds.
    fn measure(&mut self, timestamp: u32, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.duration_since(epoch).as_secs_f64() * 1000.0;
        let transit = arrival - f64::from(timestamp) * 1000.0 / self.rate;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A jump of seconds is a timestamp reset (or wrap), not jitter.
            if d < 1000.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        self.adapt_target();
    }

    /// At least one player's frame must wait before playout starts (two 10 ms packets).
    fn min_target(&self) -> u32 {
        ((FRAME_MS / self.packet_ms).ceil() as u32).max(1)
    }

    fn max_target(&self) -> u32 {
        ((MAX_TARGET_MS / self.packet_ms).floor() as u32).max(1)
    }

    /// The target follows the jitter: one packet, plus room for three times the jitter. It
    /// grows at once and shrinks only after a calm second.
    fn adapt_target(&mut self) {
        // Below 2 ms, jitter is clock noise: one packet of buffer is enough.
        let extra = ((3.0 * self.jitter - 2.0).max(0.0) / self.packet_ms).ceil() as u32;
        let wanted = (extra + self.min_target()).clamp(1, self.max_target());
        if wanted > self.target {
            self.target = wanted;
            self.calm_ms = 0.0;
        } else if wanted < self.target {
            self.calm_ms += self.packet_ms;
            if self.calm_ms >= CALM_MS {
                self.target -= 1;
                self.calm_ms = 0.0;
            }
        } else {
            self.calm_ms = 0.0;
        }
    }

    fn voice_count(&self) -> usize {
        self.packets
            .values()
            .filter(|s| matches!(s, Slot::Voice(_)))
            .count()
    }

    /// The next packet to play, when the player has played what it had.
    pub fn pop(&mut self, _now: Instant) -> Playout {
        if !self.started {
            if self.voice_count() < self.target.max(self.min_target()) as usize {
                return Playout::Wait;
            }
            self.started = true;
            self.next = self.packets.keys().next().copied();
        }
        loop {
            let Some(next) = self.next else {
                return Playout::Wait;
            };
            self.trim_if_deep(next);
            let next = self.next.unwrap_or(next);
            match self.packets.remove(&next) {
                Some(Slot::Voice(v)) => {
                    self.next = Some(next + 1);
                    self.empty_ms = 0.0;
                    return Playout::Frame(v);
                }
                Some(Slot::Skip) => {
                    self.next = Some(next + 1);
                    continue;
                }
                None => return self.missing(next),
            }
        }
    }

    /// Nothing at `next`: a loss when later packets wait, else an underrun.
    fn missing(&mut self, next: i64) -> Playout {
        if self.packets.range(next..).next().is_some() {
            self.stats.lost += 1;
            self.next = Some(next + 1);
            let following = match self.packets.get(&(next + 1)) {
                Some(Slot::Voice(v)) => Some(v.clone()),
                _ => None,
            };
            return Playout::Lost { next: following };
        }
        // Nothing at all: hold playout, or start over after a pause. The player stretches
        // one frame of its own length each time, so the empty time is counted in frames.
        self.empty_ms += FRAME_MS;
        self.stats.stretched += 1;
        if self.empty_ms >= RESYNC_MS {
            self.started = false;
            self.next = None;
            self.empty_ms = 0.0;
        }
        Playout::Empty
    }

    /// Drops the oldest packet when the buffer has stayed deeper than the target (a calmer
    /// network, or a sender whose clock runs fast).
    fn trim_if_deep(&mut self, next: i64) {
        if self.depth() > self.target + 1 {
            self.deep_ms += self.packet_ms;
        } else {
            self.deep_ms = 0.0;
        }
        if self.deep_ms >= CALM_MS || self.depth() > self.target + self.max_target() {
            self.packets.remove(&next);
            self.next = Some(next + 1);
            self.stats.dropped += 1;
            self.deep_ms = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    fn frame(n: u16) -> Voice {
        voice(&n.to_be_bytes())
    }

    fn voice(b: &[u8]) -> Voice {
        Voice {
            payload_type: 0,
            payload: b.to_vec(),
        }
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
                jb.push(seq, u32::from(seq) * 160, frame(seq), t0 + MS * at as u32);
                feed.next();
            }
            out.push(jb.pop(now));
        }
        (out, jb.stats())
    }

    fn played(out: &[Playout]) -> Vec<u16> {
        out.iter()
            .filter_map(|p| match p {
                Playout::Frame(f) => Some(u16::from_be_bytes([f.payload[0], f.payload[1]])),
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
        jb.push(10, 1600, voice(b"a"), t);
        assert_eq!(jb.pop(t), Playout::Frame(voice(b"a")));
        jb.push(9, 1440, voice(b"late"), t);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn a_gap_is_a_loss_with_the_next_packet_for_fec() {
        let mut jb = JitterBuffer::new(8000, 20);
        let t = Instant::now();
        for s in [0u16, 2, 3] {
            jb.push(s, u32::from(s) * 160, frame(s), t);
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
                jb.push(s, u32::from(s) * 160, frame(s), t0 + MS * at as u32);
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
                    jb.push(s, u32::from(s) * 160, frame(s), t0 + MS * at as u32);
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
        jb.push(100, 0, voice(b"a"), t);
        assert_eq!(jb.pop(t), Playout::Frame(voice(b"a")));
        jb.push(30000, 0, voice(b"b"), t);
        assert_eq!(jb.pop(t), Playout::Frame(voice(b"b")));
    }

    /// A player that asks for a packet whenever its samples run short of a 20 ms frame, fed
    /// by packets of `ms` arriving on time; returns what it got (frames, losses, underruns
    /// after the first second: before the length is learnt, one start-up stretch may happen).
    fn play_packets_of(ms: u64, seconds: u64) -> (u64, u64, u64, f64) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(8000, 20);
        let (mut have_ms, mut frames, mut lost, mut empty) = (0u64, 0, 0, 0);
        let mut sent = 0u64;
        for tick in 0..(seconds * 50) {
            let now_ms = tick * 20;
            while sent * ms <= now_ms {
                let ts = (sent * ms * 8) as u32;
                jb.push(
                    sent as u16,
                    ts,
                    frame(sent as u16),
                    t0 + MS * (sent * ms) as u32,
                );
                sent += 1;
            }
            while have_ms < 20 {
                match jb.pop(t0 + MS * now_ms as u32) {
                    Playout::Frame(_) => (have_ms, frames) = (have_ms + ms, frames + 1),
                    Playout::Lost { .. } => (have_ms, lost) = (have_ms + ms, lost + 1),
                    Playout::Empty => {
                        have_ms += 20;
                        empty += u64::from(tick >= 50);
                    }
                    Playout::Wait => have_ms += 20,
                }
            }
            have_ms -= 20;
        }
        (frames, lost, empty, jb.packet_ms())
    }

    #[test]
    fn packets_of_10_to_60_ms_play_continuous() {
        for ms in [10, 20, 30, 40, 60] {
            let (frames, lost, empty, learnt) = play_packets_of(ms, 10);
            assert_eq!((lost, empty), (0, 0), "{ms} ms packets");
            assert_eq!(learnt, ms as f64);
            // All ten seconds played, less the start-up wait.
            assert!(frames * ms >= 9_800, "{ms} ms: {frames} packets played");
        }
    }

    #[test]
    fn key_presses_are_not_losses_and_an_underrun_is_not_a_loss() {
        let mut jb = JitterBuffer::new(8000, 20);
        let t = Instant::now();
        for s in 0..9u16 {
            match (3..6).contains(&s) {
                true => jb.skip(s),
                false => jb.push(s, u32::from(s) * 160, frame(s), t),
            }
        }
        let mut got = Vec::new();
        while let Playout::Frame(v) = jb.pop(t) {
            got.push(u16::from_be_bytes([v.payload[0], v.payload[1]]));
        }
        assert_eq!(got, [0, 1, 2, 6, 7, 8]);
        assert_eq!(jb.pop(t), Playout::Empty);
        assert_eq!(jb.stats().lost, 0);
    }
}
