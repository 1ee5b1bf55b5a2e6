//! Sending files no faster than a rate: each chunk sent is "paid for" at the rate, and the next
//! waits until the last is paid. A little credit (50 ms of sending) is allowed after a pause,
//! no more, so a limited transfer goes out evenly rather than in bursts that crowd the voice.

use std::time::{Duration, Instant};

const CREDIT: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct Pace {
    /// Bytes per second, if limited.
    rate: Option<u64>,
    paid_until: Instant,
}

impl Pace {
    pub fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate: rate.filter(|r| *r > 0),
            paid_until: Instant::now(),
        }
    }

    /// Whether the next chunk may go at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.rate.is_none() || self.paid_until <= now
    }

    /// When the next chunk may go.
    pub fn next(&self) -> Instant {
        self.paid_until
    }

    /// `bytes` went out at `now`.
    pub fn sent(&mut self, bytes: usize, now: Instant) {
        let Some(rate) = self.rate else { return };
        let from = self.paid_until.max(now.checked_sub(CREDIT).unwrap_or(now));
        self.paid_until = from + Duration::from_secs_f64(bytes as f64 / rate as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_is_always_ready() {
        let mut p = Pace::new(None);
        let now = Instant::now();
        p.sent(1 << 30, now);
        assert!(p.ready(now));
    }

    #[test]
    fn a_limited_sender_averages_the_rate() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut p = Pace::new(Some(1_000_000));
        let mut now = t0;
        let mut sent = 0;
        // Send 64 KB chunks whenever allowed, for what the clock says is 10 s.
        while now < t0 + Duration::from_secs(10) {
            if p.ready(now) {
                p.sent(65_536, now);
                sent += 65_536;
            } else {
                now = p.next();
            }
        }
        // 10 s at 1 MB/s, give or take the first chunk and the 50 ms credit.
        assert!((10_000_000..10_200_000).contains(&sent), "{sent}");
    }

    #[test]
    fn a_pause_earns_only_a_little_credit() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut p = Pace::new(Some(1_000_000));
        p.sent(10_000, t0);
        let later = t0 + Duration::from_secs(60);
        assert!(p.ready(later));
        p.sent(10_000, later);
        p.sent(100_000, later);
        // 50 ms of credit paid for 50 KB; the rest, 60 KB, is owed: 60 ms.
        assert_eq!(p.next(), later + Duration::from_millis(60));
    }
}
