//! `parley bench all`: every benchmark in one run, each beside its anchor where the anchor is
//! installed (Kamailio for the proxy and overload, baresip for the agent, raw TCP for MSRP), so
//! the README's figures table comes from one sitting on one machine. A part that cannot run
//! here says why in its place; the others still run.

use super::proxy::Load;
use std::time::Instant;

/// One part's heading and what it printed (or why it could not run).
fn part(out: &mut String, title: &str, result: Result<String, String>, t0: Instant) {
    out.push_str(&format!(
        "\n== {title} ({:.0} s)\n",
        t0.elapsed().as_secs_f64()
    ));
    match result {
        Ok(text) => out.push_str(&text),
        Err(e) => out.push_str(&format!("could not run: {e}\n")),
    }
}

/// Runs them in turn, printing each part as it ends (the whole takes minutes).
pub fn run(rt: &tokio::runtime::Runtime) -> String {
    let mut out = String::new();
    let mut show = |title: &str, t0: Instant, r: Result<String, String>| {
        let mut text = String::new();
        part(&mut text, title, r, t0);
        print!("{text}");
        out.push_str(&text);
    };
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
    out
}
