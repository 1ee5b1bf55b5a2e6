//! Notices when this computer's network changes under us: an address comes or goes (a new
//! Wi-Fi, a cable, a VPN; netlink through `if-watch`), or the machine wakes from suspend
//! (the boot clock ran on while the monotonic one stood still). Either way every flow we
//! hold may be dead, so the engine registers again at once.

use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Addresses,
    Resumed,
}

/// Changes within this long count as one (an interface brings several addresses).
const SETTLE: Duration = Duration::from_millis(300);
/// How often the clocks are compared; a suspend shorter than `SLEPT` is not noticed.
const TICK: Duration = Duration::from_secs(2);
const SLEPT: Duration = Duration::from_secs(4);

/// Seconds the machine has spent suspended since boot: CLOCK_BOOTTIME counts them,
/// CLOCK_MONOTONIC does not.
fn suspended_so_far() -> Duration {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec we own.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    };
    read(libc::CLOCK_BOOTTIME).saturating_sub(read(libc::CLOCK_MONOTONIC))
}

/// Whether the time spent suspended grew enough between two readings to say we slept.
pub fn woke(before: Duration, now: Duration) -> bool {
    now.saturating_sub(before) >= SLEPT
}

/// An address worth a new registration: not loopback, not IPv6 link-local (those come and go
/// with every interface and reach no server).
fn matters(net: &if_watch::IpNet) -> bool {
    let ip = net.addr();
    match ip {
        std::net::IpAddr::V4(v4) => !v4.is_loopback(),
        std::net::IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// Watches until `report` closes.
pub fn spawn(report: mpsc::UnboundedSender<Change>) {
    tokio::spawn(async move {
        let mut watcher = if_watch::tokio::IfWatcher::new()
            .map_err(|e| tracing::info!("not watching addresses: {e}"))
            .ok();
        let mut known: HashSet<if_watch::IpNet> = HashSet::new();
        let mut pending: Option<tokio::time::Instant> = None;
        let mut slept = suspended_so_far();
        let mut tick = tokio::time::interval(TICK);
        // The watcher first lists what is there: that is no change.
        let listed = tokio::time::Instant::now() + Duration::from_millis(500);
        loop {
            let settle = pending.unwrap_or_else(|| tokio::time::Instant::now() + TICK * 1000);
            tokio::select! {
                Some(Ok(ev)) = async { watcher.as_mut()?.next().await } => {
                    let (net, new) = match ev {
                        if_watch::IfEvent::Up(n) => (n, known.insert(n)),
                        if_watch::IfEvent::Down(n) => (n, known.remove(&n)),
                    };
                    if new && matters(&net) && tokio::time::Instant::now() > listed {
                        tracing::info!("network changed: {ev:?}");
                        pending.get_or_insert(tokio::time::Instant::now() + SETTLE);
                    }
                }
                _ = tokio::time::sleep_until(settle), if pending.is_some() => {
                    pending = None;
                    if report.send(Change::Addresses).is_err() { return; }
                }
                _ = tick.tick() => {
                    let now = suspended_so_far();
                    if woke(slept, now) {
                        tracing::info!("woke from suspend");
                        if report.send(Change::Resumed).is_err() { return; }
                    }
                    slept = now;
                    if report.is_closed() { return; }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspend_is_told_by_the_clocks_drifting_apart() {
        let base = Duration::from_secs(100);
        assert!(!woke(base, base + Duration::from_millis(10)));
        assert!(woke(base, base + Duration::from_secs(60)));
        assert!(!woke(base + Duration::from_secs(1), base)); // never backwards
                                                             // This machine's clocks read without error and in order.
        let a = suspended_so_far();
        assert!(suspended_so_far() >= a);
    }

    #[test]
    fn loopback_and_link_local_addresses_do_not_count() {
        let net = |s: &str| s.parse::<if_watch::IpNet>().unwrap();
        assert!(!matters(&net("127.0.0.1/8")));
        assert!(!matters(&net("fe80::1/64")));
        assert!(!matters(&net("::1/128")));
        assert!(matters(&net("192.0.2.20/24")));
        assert!(matters(&net("2001:db8::5/64")));
    }
}
