//! `parley bench overload`: each proxy held to a share of one core, its clean capacity found by
//! rates rising a quarter at a time (the highest rate at which 99.9% of calls completed, in one
//! of two tries), then offered twice that. A proxy that sheds load honestly (503 + Retry-After for what it cannot
//! take) still completes about its capacity; one that queues everything collapses.

use super::proxy::{kamailio_bin, round, start_kamailio, start_parley, Load, Proxy, Round};
use super::quota::Quota;
use std::path::Path;

/// What one proxy did: its clean capacity, then twice that offered.
struct Outcome {
    proxy: &'static str,
    clean: u32,
    over: Round,
    seconds: u32,
}

/// Starts a fresh proxy held to `quota` for each round (no state carried between rounds).
fn fresh(kamailio: Option<&str>, dir: &Path, quota: &Quota) -> Result<Proxy, String> {
    match kamailio {
        Some(bin) => start_kamailio(bin, dir, Some(quota)),
        None => start_parley(dir, Some(quota)),
    }
}

/// Every call but a stray one in a thousand completed (Kamailio loses the odd call at any rate,
/// which is not its capacity).
fn clean(r: &Round) -> bool {
    r.completed * 1000 >= r.attempted * 999
}

/// Rates from `start` up by a quarter until one loses calls twice; then twice the last clean one.
fn measure(
    kamailio: Option<&str>,
    dir: &Path,
    quota: &Quota,
    load: Load,
    start: u32,
) -> Result<Outcome, String> {
    let (mut rate, mut capacity) = (start, 0);
    // A rate that loses calls is tried once more: one bad round is often the machine's.
    let lost = |rate| -> Result<bool, String> {
        let p = fresh(kamailio, dir, quota)?;
        let r = round(&p, rate, load, dir)?;
        let (completed, failed) = (r.completed, r.failed);
        tracing::info!(proxy = p.name, rate, completed, failed, "capacity step");
        Ok(!clean(&r))
    };
    for _ in 0..24 {
        if lost(rate)? && lost(rate)? {
            break;
        }
        capacity = rate;
        rate += (rate / 4).max(1);
    }
    if capacity == 0 {
        return Err(format!(
            "not one clean rate from {start} calls/s; try a lower --rates start"
        ));
    }
    let p = fresh(kamailio, dir, quota)?;
    let over = round(&p, capacity * 2, load, dir)?;
    Ok(Outcome {
        proxy: p.name,
        clean: capacity,
        over,
        seconds: load.seconds,
    })
}

/// Both proxies (Kamailio where installed), each held to `share` of one core.
pub fn run(share: f64, start: u32, load: Load) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!(
        "parley-bench-overload-{}",
        crate::sip::message::random_token(8)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let quota = Quota::new(share)?;
    let mut out = format!(
        "Each proxy held to {:.0}% of one core (a cgroup CPU quota); rates rise by a quarter from {start}/s, {} s each, until more than 0.1% of calls are lost twice at one rate; then twice the last clean rate\n",
        share * 100.0,
        load.seconds
    );
    let mut rows = vec![measure(None, &dir, &quota, load, start)?];
    match kamailio_bin() {
        Some(bin) => rows.push(measure(Some(bin), &dir, &quota, load, start)?),
        None => {
            out.push_str("Kamailio is not installed (sudo apt-get install kamailio): no anchor\n")
        }
    }
    drop(quota);
    let _ = std::fs::remove_dir_all(&dir);
    out.push_str(&table(&rows));
    Ok(out)
}

fn table(rows: &[Outcome]) -> String {
    let mut s = String::from(
        "Proxy         clean capacity  offered (2x)  completed  failed  completed/s  of capacity\n",
    );
    for o in rows {
        let per_s = o.over.completed as f64 / f64::from(o.seconds.max(1));
        s.push_str(&format!(
            "{:<13} {:>11}/s {:>11}/s {:>10} {:>7} {:>12.0} {:>11.0}%\n",
            o.proxy,
            o.clean,
            o.over.rate,
            o.over.completed,
            o.over.failed,
            per_s,
            100.0 * per_s / f64::from(o.clean.max(1))
        ));
    }
    s
}
