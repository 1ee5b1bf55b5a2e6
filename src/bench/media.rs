//! `parley bench media`: the voice pipeline's cost and delay, printed, never asserted. CPU time
//! (the thread's, not the wall clock's) per second of call for encode + RTP + jitter buffer +
//! decode (Opus and PCMU, one thread, frames as fast as they go), the one-way delay the pipeline
//! adds (computed), and the resident memory of headless agents idle and in a call through the
//! embedded server.

use crate::engine::{Command, Event};
use crate::media::codec::{CodecKind, Decoder, Encoder};
use crate::media::jitter::{JitterBuffer, Playout, Voice};
use crate::media::rtp;
use crate::media::tone::Tone;
use std::time::{Duration, Instant};

/// Seconds of call pushed through the pipeline per codec.
const SECONDS: u32 = 60;

/// One codec's figures.
struct PipelineCost {
    codec: CodecKind,
    per_call_second: Duration,
    target_frames: u32,
}

fn pipeline(codec: CodecKind) -> Result<PipelineCost, String> {
    let (mut enc, mut dec) = (
        Encoder::new(codec).map_err(|e| e.to_string())?,
        Decoder::new(codec).map_err(|e| e.to_string())?,
    );
    let mut jb = JitterBuffer::new(codec.rate(), 20);
    let mut tone = Tone::new(440.0, codec.rate(), 12000);
    let n = codec.frame_samples();
    let (mut pcm, mut payload, mut packet, mut out) =
        (vec![0; n], Vec::new(), Vec::new(), Vec::new());
    let frames = SECONDS * 50;
    let (t0, cpu0) = (Instant::now(), super::thread_cpu());
    for i in 0..frames {
        tone.fill(&mut pcm);
        enc.encode(&pcm, &mut payload).map_err(|e| e.to_string())?;
        let p = rtp::Packet {
            marker: i == 0,
            payload_type: 0,
            sequence: i as u16,
            timestamp: i * n as u32,
            ssrc: 1,
            payload: &payload,
        };
        rtp::build(&p, &mut packet);
        let parsed = rtp::parse(&packet).map_err(|e| e.to_string())?;
        // Arrival times as the network would give them: one frame every 20 ms.
        let now = t0 + Duration::from_millis(u64::from(i) * 20);
        let voice = Voice {
            payload_type: parsed.payload_type,
            payload: parsed.payload.to_vec(),
        };
        jb.push(parsed.sequence, parsed.timestamp, voice, now);
        match jb.pop(now) {
            Playout::Frame(f) => dec
                .decode(&f.payload, &mut out)
                .map_err(|e| e.to_string())?,
            Playout::Lost { next } => dec
                .conceal(next.as_ref().map(|v| v.payload.as_slice()), &mut out)
                .map_err(|e| e.to_string())?,
            Playout::Empty => dec.conceal(None, &mut out).map_err(|e| e.to_string())?,
            Playout::Wait => {}
        }
    }
    Ok(PipelineCost {
        codec,
        per_call_second: (super::thread_cpu() - cpu0) / SECONDS,
        target_frames: jb.stats().target_frames,
    })
}

async fn wait_for(
    ev: &mut tokio::sync::mpsc::Receiver<Event>,
    pred: impl Fn(&Event) -> bool,
) -> Result<Event, String> {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), ev.recv())
            .await
            .map_err(|_| "the engine went quiet for 10 s".to_string())?
            .ok_or("the engine stopped")?;
        if pred(&e) {
            return Ok(e);
        }
    }
}

/// Resident memory with the server and two agents idle, then with a call carrying Opus both
/// ways (tone in, audio discarded) for three seconds.
async fn memory() -> Result<(Option<u64>, Option<u64>), String> {
    let mut cfg = crate::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), "bench.test");
    cfg.open = true;
    let server = crate::server::Server::start(cfg)
        .await
        .map_err(|e| e.to_string())?;
    let (alice, mut a_ev, account) = super::agent("alice", server.local_addr()).await?;
    let (bob, mut b_ev, _) = super::agent("bob", server.local_addr()).await?;
    let idle = super::rss_kib();
    let target = "bob".to_string();
    alice.send(Command::Call { account, target }).await;
    let call = match wait_for(&mut b_ev, |e| matches!(e, Event::IncomingCall { .. })).await? {
        Event::IncomingCall { call, .. } => call,
        _ => unreachable!(),
    };
    bob.send(Command::Answer(call)).await;
    let received =
        |n: u64| move |e: &Event| matches!(e, Event::CallStats { received, .. } if *received >= n);
    wait_for(&mut a_ev, received(150)).await?;
    let in_call = super::rss_kib();
    alice.send(Command::Shutdown).await;
    bob.send(Command::Shutdown).await;
    Ok((idle, in_call))
}

/// Echo cancelling and noise suppression, per second of call at 48 kHz (the sound-card path).
fn echo_cost() -> Duration {
    let mut ec = crate::media::echo::EchoControl::new(48_000);
    let mut tone = Tone::new(440.0, 48_000, 8000);
    let (mut far, mut mic) = (vec![0; 960], vec![0; 960]);
    let cpu0 = super::thread_cpu();
    for _ in 0..SECONDS * 50 {
        tone.fill(&mut far);
        ec.render(&far);
        mic.copy_from_slice(&far);
        ec.capture(&mut mic);
    }
    (super::thread_cpu() - cpu0) / SECONDS
}

pub async fn run() -> Result<String, String> {
    let mut out = String::new();
    for codec in [CodecKind::Opus, CodecKind::Pcmu] {
        let c = pipeline(codec)?;
        let ms = c.per_call_second.as_secs_f64() * 1000.0;
        out += &format!(
            "Media CPU:    {:<5} {:.2} ms CPU time per second of call ({:.2}% of one core): encode, RTP, jitter buffer, decode\n",
            c.codec.name(),
            ms,
            ms / 10.0
        );
        let target = c.target_frames * 20;
        out += &format!(
            "Latency:      {:<5} {} ms added one way: 20 ms capture frame + {target} ms jitter target + 0 ms playout (computed, not measured; headless; a sound card adds its buffer)\n",
            c.codec.name(),
            20 + target
        );
    }
    let ms = echo_cost().as_secs_f64() * 1000.0;
    out += &format!(
        "Echo + noise: {ms:.2} ms CPU time per second of call ({:.2}% of one core) at 48 kHz, on the sound-card path only\n",
        ms / 10.0
    );
    let (idle, call) = memory().await?;
    let mb = super::mb;
    out += &format!(
        "Memory:       {} resident with the server and two headless agents idle, {} during an Opus call between them\n",
        mb(idle),
        mb(call)
    );
    Ok(out)
}
