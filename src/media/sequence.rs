//! RTP sequence validation, RFC 3550 appendix A.1: a source is valid only after a few packets in
//! order (probation); a jump of more than MAX_DROPOUT ahead or MAX_MISORDER behind is dropped
//! unless the next packet follows it (the sender restarted); the 16-bit counter is extended
//! with a 64-bit cycle count that cannot overflow in any call's lifetime.

const SEQ_MOD: u64 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// One source's sequence state.
#[derive(Debug, Clone)]
pub struct Sequence {
    base: u16,
    max: u16,
    cycles: u64,
    /// The sequence number that would confirm a jump (A.1's `bad_seq`), if one was seen.
    bad: Option<u16>,
    probation: u32,
    received: u64,
}

/// What one packet's sequence number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order, or a little late or duplicated: play it.
    Valid,
    /// The source is still on probation: not yet.
    Probation,
    /// A jump too far to believe yet (or a stray): drop it.
    Invalid,
    /// The sender restarted its numbering (two packets in order after a jump): a new stream.
    Restarted,
}

impl Sequence {
    /// A new source whose first packet carries `seq`, on probation for `probation` packets in
    /// order (A.1's MIN_SEQUENTIAL; this first one counts).
    pub fn new(seq: u16, probation: u32) -> Sequence {
        let mut s = Sequence {
            base: seq,
            max: seq,
            cycles: 0,
            bad: None,
            probation: probation.saturating_sub(1),
            received: 0,
        };
        if s.probation == 0 {
            s.received = 1;
        }
        s
    }

    pub fn on_probation(&self) -> bool {
        self.probation > 0
    }

    /// Packets taken as valid.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The highest sequence number with its cycles (A.1's extended max).
    pub fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max)
    }

    /// Packets expected since the first valid one.
    pub fn expected(&self) -> u64 {
        self.extended_max() + 1 - u64::from(self.base)
    }

    fn restart(&mut self, seq: u16) {
        (self.base, self.max, self.bad, self.received) = (seq, seq, None, 0);
    }

    /// A.1's `update_seq`.
    pub fn update(&mut self, seq: u16) -> SeqVerdict {
        let delta = seq.wrapping_sub(self.max);
        if self.probation > 0 {
            if delta == 1 {
                self.probation -= 1;
                self.max = seq;
                if self.probation == 0 {
                    self.restart(seq);
                    self.received = 1;
                    return SeqVerdict::Valid;
                }
            } else {
                // Out of order: probation starts again from this packet.
                self.max = seq;
            }
            return SeqVerdict::Probation;
        }
        let mut verdict = SeqVerdict::Valid;
        if delta < MAX_DROPOUT {
            if seq < self.max {
                self.cycles += SEQ_MOD;
            }
            self.max = seq;
        } else if u64::from(delta) <= SEQ_MOD - u64::from(MAX_MISORDER) {
            if self.bad == Some(seq) {
                self.restart(seq);
                verdict = SeqVerdict::Restarted;
            } else {
                self.bad = Some(seq.wrapping_add(1));
                return SeqVerdict::Invalid;
            }
        }
        // else: a duplicate or a packet a little out of order; A.1 counts it.
        self.received += 1;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_needs_packets_in_order() {
        let mut s = Sequence::new(10, 3);
        assert_eq!(s.update(12), SeqVerdict::Probation);
        // 12 broke the run; 13 and 14 complete it again.
        assert_eq!(s.update(13), SeqVerdict::Probation);
        assert_eq!(s.update(14), SeqVerdict::Valid);
        assert!(!s.on_probation());
        assert_eq!(s.received(), 1);
    }

    #[test]
    fn wraps_and_counts_cycles() {
        let mut s = Sequence::new(65534, 1);
        for seq in [65535, 0, 1] {
            assert_eq!(s.update(seq), SeqVerdict::Valid);
        }
        assert_eq!(s.extended_max(), 65536 + 1);
        assert_eq!(s.expected(), 4);
        // A late packet from before the wrap is still valid and moves nothing back.
        assert_eq!(s.update(65535), SeqVerdict::Valid);
        assert_eq!(s.extended_max(), 65536 + 1);
    }

    #[test]
    fn a_far_jump_is_dropped_unless_the_next_packet_follows() {
        let mut s = Sequence::new(100, 1);
        assert_eq!(s.update(30_000), SeqVerdict::Invalid);
        // A stray: the stream goes on where it was.
        assert_eq!(s.update(101), SeqVerdict::Valid);
        assert_eq!(s.update(40_000), SeqVerdict::Invalid);
        assert_eq!(s.update(40_001), SeqVerdict::Restarted);
        assert_eq!(s.update(40_002), SeqVerdict::Valid);
        assert_eq!(s.expected(), 2);
    }

    #[test]
    fn many_cycles_do_not_overflow() {
        let mut s = Sequence::new(0, 1);
        // 70,000 wraps (more than a 32-bit cycle count holds) in strides of 2000.
        for i in 1..=(70_000u64 * 33) {
            let seq = ((i * 2000) % SEQ_MOD) as u16;
            assert_ne!(s.update(seq), SeqVerdict::Invalid);
        }
        assert!(s.extended_max() > u64::from(u32::MAX));
    }
}
