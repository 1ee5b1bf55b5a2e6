//! Keypad digits in the RTP stream (RFC 4733 telephone-event): the 4-byte event payload built and
//! parsed, a sender that spreads one key over several packets with the same timestamp (the
//! marker on the first, the end bit on the last, repeated three times as section 2.5.1.4 asks),
//! and a receiver that reports each key once however many of its packets arrive.

const DIGITS: &str = "0123456789*#ABCD";
/// How long a key is held: 100 ms, in 8 kHz timestamp units (scaled to the stream's clock:
/// telephone-event runs at the audio's rate, 48 kHz beside Opus).
const KEY_UNITS: u32 = 800;
/// Units each packet adds: 20 ms.
const STEP_UNITS: u32 = 160;
/// End packets sent for reliability (RFC 4733 2.5.1.4).
const END_REPEATS: u8 = 3;
/// Volume field: -10 dBm0.
const VOLUME: u8 = 10;

pub fn event_code(digit: char) -> Option<u8> {
    DIGITS.find(digit.to_ascii_uppercase()).map(|i| i as u8)
}

pub fn digit_of(code: u8) -> Option<char> {
    DIGITS.chars().nth(usize::from(code))
}

pub fn build(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, (u8::from(end) << 7) | (VOLUME & 0x3f), d[0], d[1]]
}

/// (event code, end bit, duration) of a telephone-event payload.
pub fn parse(payload: &[u8]) -> Option<(u8, bool, u16)> {
    let p = payload.get(..4)?;
    Some((p[0], p[1] & 0x80 != 0, u16::from_be_bytes([p[2], p[3]])))
}

/// One key being sent: call `next_packet` every 20 ms until it returns `None`.
#[derive(Debug, Clone)]
pub struct KeySender {
    code: u8,
    /// The key's length and each packet's step, in the stream's clock units.
    key_units: u16,
    step_units: u16,
    duration: u16,
    ends_sent: u8,
    first: bool,
}

impl KeySender {
    /// A key on a stream whose RTP clock runs at `rate` Hz.
    pub fn new(digit: char, rate: u32) -> Option<KeySender> {
        let scale = |units: u32| (units * rate / 8000).min(u32::from(u16::MAX)) as u16;
        Some(KeySender {
            code: event_code(digit)?,
            key_units: scale(KEY_UNITS),
            step_units: scale(STEP_UNITS),
            duration: 0,
            ends_sent: 0,
            first: true,
        })
    }

    /// The next packet's payload and marker bit.
    pub fn next_packet(&mut self) -> Option<([u8; 4], bool)> {
        if self.ends_sent >= END_REPEATS {
            return None;
        }
        let marker = std::mem::take(&mut self.first);
        if self.duration < self.key_units {
            self.duration = self
                .duration
                .saturating_add(self.step_units)
                .min(self.key_units);
        }
        let end = self.duration >= self.key_units;
        if end {
            self.ends_sent += 1;
        }
        Some((build(self.code, end, self.duration), marker))
    }
}

/// Turns received event packets into keys, once each (an event is its RTP timestamp).
#[derive(Debug, Default)]
pub struct KeyReceiver {
    last_timestamp: Option<u32>,
}

impl KeyReceiver {
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let (code, _, _) = parse(payload)?;
        if self.last_timestamp == Some(timestamp) {
            return None;
        }
        let digit = digit_of(code)?;
        self.last_timestamp = Some(timestamp);
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_several_packets_with_a_repeated_end() {
        for (rate, units) in [(8000, 800), (48_000, 4800)] {
            let mut s = KeySender::new('#', rate).unwrap();
            let packets: Vec<_> = std::iter::from_fn(|| s.next_packet()).collect();
            assert_eq!(packets.len(), 5 + 2);
            assert!(packets[0].1 && packets[1..].iter().all(|p| !p.1));
            let ends = packets.iter().filter(|p| parse(&p.0).unwrap().1).count();
            assert_eq!(ends, 3);
            // 100 ms in the stream's own clock.
            assert_eq!(parse(&packets[6].0), Some((11, true, units)));
        }
        assert!(KeySender::new('x', 8000).is_none());
    }

    #[test]
    fn each_key_is_reported_once() {
        let mut r = KeyReceiver::default();
        let mut s = KeySender::new('5', 8000).unwrap();
        let got: Vec<char> = std::iter::from_fn(|| s.next_packet())
            .filter_map(|(p, _)| r.on_packet(1000, &p))
            .collect();
        assert_eq!(got, ['5']);
        assert_eq!(r.on_packet(2000, &build(1, false, 160)), Some('1'));
        assert_eq!(r.on_packet(3000, &[1, 2]), None);
        assert_eq!(r.on_packet(3000, &build(99, false, 160)), None);
    }
}
