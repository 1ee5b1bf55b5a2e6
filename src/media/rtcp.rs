//! RTCP (RFC 3550 section 6): compound sender/receiver reports with an SDES CNAME, parsed back
//! into the numbers a call's statistics need (loss, jitter, round-trip time), and the receiver
//! side's bookkeeping from appendix A.3 (expected/lost) and A.8 (interarrival jitter).

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet shorter than its header says")]
    Truncated,
    #[error("not RTCP version 2")]
    Version,
    #[error("not a compound RTCP packet: it must start with a sender or receiver report")]
    NotCompound,
    #[error("padding before the last packet of a compound RTCP packet")]
    Padding,
}

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed on the wire).
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received, and the delay since, 1/65536 s.
    pub lsr: u32,
    pub dlsr: u32,
}

/// A sender's own counts (SR only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ssrc: u32,
    /// `Some` for a sender report.
    pub sender: Option<SenderInfo>,
    pub blocks: Vec<ReportBlock>,
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn header(out: &mut Vec<u8>, count: u8, kind: u8, words_after: usize) {
    out.push(0x80 | (count & 0x1f));
    out.push(kind);
    out.extend_from_slice(&(words_after as u16).to_be_bytes());
}

/// A compound packet: SR (or RR) then SDES with our CNAME (RFC 3550 6.1), replacing `out`.
pub fn build(report: &Report, cname: &str, out: &mut Vec<u8>) {
    out.clear();
    let blocks = report.blocks.len().min(31);
    let (kind, info_words) = match report.sender {
        Some(_) => (SR, 5),
        None => (RR, 0),
    };
    header(out, blocks as u8, kind, 1 + info_words + blocks * 6);
    push_u32(out, report.ssrc);
    if let Some(s) = report.sender {
        out.extend_from_slice(&s.ntp.to_be_bytes());
        push_u32(out, s.rtp_timestamp);
        push_u32(out, s.packets);
        push_u32(out, s.octets);
    }
    for b in &report.blocks[..blocks] {
        push_u32(out, b.ssrc);
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        push_u32(out, (u32::from(b.fraction_lost) << 24) | lost);
        push_u32(out, b.highest_seq);
        push_u32(out, b.jitter);
        push_u32(out, b.lsr);
        push_u32(out, b.dlsr);
    }
    // SDES: one chunk, CNAME item, then zero bytes to the next 32-bit boundary.
    let name = &cname.as_bytes()[..cname.len().min(255)];
    let chunk = 4 + 2 + name.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    header(out, 1, SDES, padded / 4);
    push_u32(out, report.ssrc);
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.resize(out.len() + padded - (chunk - 1), 0);
}

/// Appends a BYE for `ssrcs` (RFC 3550 6.6) to a compound packet `build` made.
pub fn push_bye(ssrcs: &[u32], out: &mut Vec<u8>) {
    if ssrcs.is_empty() {
        return;
    }
    let n = ssrcs.len().min(31);
    header(out, n as u8, BYE, n);
    for s in &ssrcs[..n] {
        push_u32(out, *s);
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_block(b: &[u8]) -> ReportBlock {
    let lost = u32_at(b, 4) & 0x00ff_ffff;
    // Sign-extend the 24-bit count.
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: u32_at(b, 0),
        fraction_lost: b[4],
        cumulative_lost,
        highest_seq: u32_at(b, 8),
        jitter: u32_at(b, 12),
        lsr: u32_at(b, 16),
        dlsr: u32_at(b, 20),
    }
}

/// The SR and RR packets of a compound packet, checked as RFC 3550 A.2 says: version 2, a
/// report first, padding only in the last packet, lengths that add up to the datagram.
/// Other packet types are skipped.
pub fn parse(buf: &[u8]) -> Result<Vec<Report>, RtcpError> {
    let mut out = Vec::new();
    let mut rest = buf;
    if buf.len() < 4 {
        return Err(RtcpError::Truncated);
    }
    if !matches!(buf[1], SR | RR) {
        return Err(RtcpError::NotCompound);
    }
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        if rest[0] >> 6 != 2 {
            return Err(RtcpError::Version);
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let packet = rest.get(..len).ok_or(RtcpError::Truncated)?;
        rest = &rest[len..];
        if packet[0] & 0x20 != 0 && !rest.is_empty() {
            return Err(RtcpError::Padding);
        }
        let count = usize::from(packet[0] & 0x1f);
        let info = match packet[1] {
            SR => 20,
            RR => 0,
            _ => continue,
        };
        let need = 8 + info + count * 24;
        if packet.len() < need {
            return Err(RtcpError::Truncated);
        }
        let sender = (info > 0).then(|| SenderInfo {
            ntp: (u64::from(u32_at(packet, 8)) << 32) | u64::from(u32_at(packet, 12)),
            rtp_timestamp: u32_at(packet, 16),
            packets: u32_at(packet, 20),
            octets: u32_at(packet, 24),
        });
        let blocks = (0..count)
            .map(|i| parse_block(&packet[8 + info + i * 24..]))
            .collect();
        out.push(Report {
            ssrc: u32_at(packet, 4),
            sender,
            blocks,
        });
    }
    Ok(out)
}

/// NTP time (seconds since 1900, 32.32 fixed point) of a duration since the Unix epoch.
pub fn ntp(since_unix: Duration) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let secs = since_unix.as_secs() + UNIX_TO_NTP;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP time, as LSR and DLSR use.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block that answers one of our SRs (RFC 3550 6.4.1), given
/// the middle 32 bits of the NTP time the report arrived.
pub fn round_trip(block: &ReportBlock, arrived: u32) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let rtt = arrived.checked_sub(block.lsr)?.checked_sub(block.dlsr)?;
    Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536))
}

/// What a receiver keeps about one source to fill its report blocks (RFC 3550 A.3, A.8). Its
/// packets have passed the peer filter's A.1 validation already; a restarted sequence starts
/// the counts over.
#[derive(Debug, Clone, Default)]
pub struct Reception {
    seq: Option<super::sequence::Sequence>,
    expected_prior: u32,
    received_prior: u32,
    /// Jitter estimate in timestamp units, times 16 (A.8 keeps the fraction this way).
    jitter16: u64,
    last_transit: Option<u32>,
}

impl Reception {
    /// A packet arrived at `arrival` (timestamp units); `timed` is false for packets whose
    /// timestamp says nothing of their sending time (a key press's repeated events).
    pub fn on_packet(&mut self, seq: u16, timestamp: u32, arrival: u32, timed: bool) {
        use super::sequence::{SeqVerdict, Sequence};
        match &mut self.seq {
            None => self.seq = Some(Sequence::new(seq, 1)),
            Some(s) => {
                if s.update(seq) == SeqVerdict::Restarted {
                    (self.expected_prior, self.received_prior) = (0, 0);
                }
            }
        }
        if !timed {
            return;
        }
        // Both clocks wrap at 2^32: the difference of transits is taken modulo 2^32 too.
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // J += (|D| - J) / 16, with J kept times 16 (A.8).
            self.jitter16 = self.jitter16 + d - (self.jitter16 + 8) / 16;
        }
        self.last_transit = Some(transit);
    }

    /// The extended highest sequence number, as a report carries it (32 bits, modular).
    pub fn extended_max(&self) -> u32 {
        self.seq.as_ref().map_or(0, |s| s.extended_max() as u32)
    }

    pub fn expected(&self) -> u32 {
        self.seq.as_ref().map_or(0, |s| s.expected() as u32)
    }

    fn received(&self) -> u32 {
        self.seq.as_ref().map_or(0, |s| s.received() as u32)
    }

    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received())
    }

    pub fn jitter(&self) -> u32 {
        (self.jitter16 / 16) as u32
    }

    /// The report block for this source, and the interval counters moved on.
    pub fn report(&mut self, ssrc: u32, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.expected();
        let interval_expected = expected.wrapping_sub(self.expected_prior);
        let received = self.received();
        let interval_received = received.wrapping_sub(self.received_prior);
        (self.expected_prior, self.received_prior) = (expected, received);
        let interval_lost = i64::from(interval_expected) - i64::from(interval_received);
        let fraction_lost = match (interval_expected, interval_lost) {
            (0, _) => 0,
            (_, l) if l <= 0 => 0,
            (e, l) => ((l << 8) / i64::from(e)).min(255) as u8,
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_and_receiver_reports_round_trip() {
        let block = ReportBlock {
            ssrc: 7,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 70_000,
            jitter: 42,
            lsr: 0x1234_5678,
            dlsr: 65_536,
        };
        let sr = Report {
            ssrc: 1,
            sender: Some(SenderInfo {
                ntp: 0x0102_0304_0506_0708,
                rtp_timestamp: 160,
                packets: 50,
                octets: 8000,
            }),
            blocks: vec![block],
        };
        let mut out = Vec::new();
        build(&sr, "alice@host", &mut out);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(parse(&out).unwrap(), vec![sr]);
        let rr = Report {
            ssrc: 2,
            sender: None,
            blocks: vec![],
        };
        build(&rr, "b", &mut out);
        assert_eq!(parse(&out).unwrap(), vec![rr]);
        assert!(crate::media::rtp::is_rtcp(&out));
    }

    #[test]
    fn bad_reports_are_errors() {
        assert_eq!(parse(&[0x80, 200, 0]), Err(RtcpError::Truncated));
        assert_eq!(
            parse(&[0x80, 200, 0, 9, 0, 0, 0, 0]),
            Err(RtcpError::Truncated)
        );
        assert_eq!(parse(&[0x40, 200, 0, 0]), Err(RtcpError::Version));
        // An SR claiming 31 blocks in a short packet.
        assert_eq!(
            parse(&[0x9f, 200, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Truncated)
        );
    }

    #[test]
    fn only_compound_packets_that_add_up_are_taken() {
        assert_eq!(parse(&[]), Err(RtcpError::Truncated));
        // An SDES alone, and a padded report before another packet.
        assert_eq!(parse(&[0x81, 202, 0, 0]), Err(RtcpError::NotCompound));
        let rr = Report {
            ssrc: 5,
            sender: None,
            blocks: vec![],
        };
        let mut out = Vec::new();
        build(&rr, "x", &mut out);
        push_bye(&[5, 6], &mut out);
        assert_eq!(parse(&out), Ok(vec![rr]));
        out[0] |= 0x20;
        assert_eq!(parse(&out), Err(RtcpError::Padding));
    }

    #[test]
    fn jitter_survives_the_timestamp_wrapping() {
        let mut r = Reception::default();
        // A steady stream whose RTP timestamps wrap past 2^32 midway: no jitter at all.
        let start = u32::MAX - 160 * 5;
        for i in 0..10u32 {
            let ts = start.wrapping_add(i * 160);
            r.on_packet(i as u16, ts, 1000 + i * 160, true);
        }
        assert_eq!(r.jitter(), 0);
    }

    #[test]
    fn round_trip_time_from_lsr_and_dlsr() {
        let b = ReportBlock {
            lsr: 100 << 16,
            dlsr: 1 << 16,
            ..Default::default()
        };
        // Arrived 1.5 s after our SR, 1 s of which the peer held it.
        let rtt = round_trip(&b, (101 << 16) + (1 << 15)).unwrap();
        assert_eq!(rtt, Duration::from_millis(500));
        assert_eq!(round_trip(&ReportBlock::default(), 5), None);
    }

    #[test]
    fn loss_wraparound_and_jitter() {
        let mut r = Reception::default();
        // 65530..=65535 then 0..=9 with 3 and 4 missing: 16 expected, 14 received.
        let seqs = (65530u16..=65535).chain((0..10).filter(|s| *s != 3 && *s != 4));
        for (i, s) in seqs.enumerate() {
            r.on_packet(s, i as u32 * 160, i as u32 * 160, true);
        }
        assert_eq!(r.expected(), 16);
        assert_eq!(r.lost(), 2);
        assert_eq!(r.extended_max(), 65536 + 9);
        let b = r.report(9, 0, 0);
        assert_eq!(b.fraction_lost, (2 * 256 / 16) as u8);
        assert_eq!(b.cumulative_lost, 2);
        // Steady arrival: no jitter. Then one packet 80 units late: J grows by 80/16.
        assert_eq!(r.jitter(), 0);
        r.on_packet(10, 14 * 160, 14 * 160 + 80, true);
        assert_eq!(r.jitter(), 5);
        // A duplicate counts as received, so loss can go negative as the RFC allows.
        let again = r.report(9, 0, 0);
        assert_eq!(again.fraction_lost, 0);
    }
}
