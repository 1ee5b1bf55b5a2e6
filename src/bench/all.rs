//! `parley bench all`: every benchmark in one run, each beside its anchor where the anchor is
//! installed (Kamailio for the proxy and overload, baresip for the agent, raw TCP for MSRP), so
//! the README's figures table comes from one sitting on one machine. A part that cannot run
//! here says why in its place; the others still run. Parts measured inside this process (SIP,
//! media, the MSRP sender) carry what earlier parts left in it: their memory is for alone runs.

use super::proxy::Load;
use std::time::Instant;

/// Prints one part's heading, how long it took, and what it measured (or why it could not run).
fn show(title: &str, t0: Instant, result: Result<String, String>) {
    println!("\n== {title} ({:.0} s)", t0.elapsed().as_secs_f64());
    match result {
        Ok(text) => print!("{text}"),
        Err(e) => println!("could not run: {e}"),
    }
}

/// Runs them in turn, printing each part as it ends (the whole takes about ten minutes).
pub fn run(rt: &tokio::runtime::Runtime) {
    let t = Instant::now();
    let sip = rt
        .block_on(super::run(200, 50_000, false))
        .map(|r| r.to_string());
    show("SIP: decoding, call setup latency, call cycles", t, sip);
    let load = Load {
        seconds: 5,
        hold_ms: 0,
    };
    let t = Instant::now();
    show(
        "Proxy: parley serve beside Kamailio",
        t,
        super::proxy::run(&[100, 400, 1000, 2500], load),
    );
    let t = Instant::now();
    show(
        "Overload: twice the clean capacity",
        t,
        super::overload::run(0.25, 200, load),
    );
    let t = Instant::now();
    show(
        "Agent memory: parley-agent beside baresip",
        t,
        super::agent::run(100),
    );
    let t = Instant::now();
    show("Media", t, rt.block_on(super::media::run()));
    let t = Instant::now();
    show(
        "MSRP file transfer beside raw TCP",
        t,
        rt.block_on(super::msrp::run(200)),
    );
}
