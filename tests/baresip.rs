//! Voice with a real softphone: Debian's baresip, headless (its `ausine` source plays a tone,
//! `sndfile` records what it hears, `ctrl_tcp` takes commands and reports events). Parley calls
//! baresip and baresip calls Parley, over Opus and PCMU; each side must hear the other's tone,
//! and keys must arrive as RFC 4733 events both ways. Encrypted too: DTLS-SRTP, and SDES-SRTP
//! over TLS through `parley serve`. Without baresip these tests fail and say how to install it.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event, SrtpPolicy};
use parley::media::codec::CodecKind;
use parley::media::headless::{SinkSpec, SourceSpec};
use parley::server::{Server, ServerConfig};
use parley::sip::digest::Algorithm;
use parley::sip::transport::Proto;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CANDIDATES: [f64; 3] = [440.0, 660.0, 1000.0];

fn require_baresip() {
    require("baresip", "-h", "baresip-core");
}

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    // The TCP side must be free too: baresip listens on both.
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => port,
        Err(_) => free_port(),
    }
}

/// A headless baresip playing 660 Hz and recording into its folder.
struct Baresip {
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
    sip: u16,
    ctrl: TcpStream,
    buf: Vec<u8>,
}

impl Baresip {
    async fn start() -> Baresip {
        Baresip::start_with("<sip:bob@127.0.0.1>;regint=0;answermode=auto", "").await
    }

    /// With `account` as its one account line and `extra` lines in its config.
    async fn start_with(account: &str, extra: &str) -> Baresip {
        require_baresip();
        let dir = tempfile::tempdir().unwrap();
        let (sip, ctrl) = (free_port(), free_port());
        let d = dir.path().display();
        let config = format!(
            "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule opus.so\nmodule ausine.so\nmodule aufile.so\n\
             module sndfile.so\nmodule menu.so\nmodule ctrl_tcp.so\nmodule_app account.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\naudio_source ausine,660\n\
             audio_player aufile,{d}/player.wav\naudio_alert aufile,{d}/alert.wav\n\
             snd_path {d}\nausrc_srate 48000\nauplay_srate 48000\n\
             ausrc_channels 2\nauplay_channels 2\n{extra}"
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("accounts"), format!("{account}\n")).unwrap();
        let child = tokio::process::Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("baresip did not start");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)).await {
                Ok(s) => break s,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("baresip's control port never opened: {e}"),
            }
        };
        Baresip {
            _child: child,
            dir,
            sip,
            ctrl,
            buf: Vec::new(),
        }
    }

    /// A command to baresip's menu, as ctrl_tcp's netstring JSON.
    async fn command(&mut self, command: &str, params: &str) {
        let json = serde_json::json!({"command": command, "params": params, "token": command});
        let text = json.to_string();
        let framed = format!("{}:{text},", text.len());
        self.ctrl.write_all(framed.as_bytes()).await.unwrap();
    }

    /// The next event of `kind` (e.g. `CALL_ESTABLISHED`), skipping others.
    async fn event(&mut self, kind: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.next_netstring() {
                if v["event"] == true && v["type"] == kind {
                    return v;
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.ctrl.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("baresip never reported {kind}"))
                .unwrap();
            assert!(n > 0, "baresip closed its control port");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn next_netstring(&mut self) -> Option<serde_json::Value> {
        let colon = self.buf.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.buf[..colon]).ok()?.parse().ok()?;
        let end = colon.checked_add(1)?.checked_add(len)?;
        if self.buf.len() <= end {
            return None;
        }
        let v = serde_json::from_slice(&self.buf[colon + 1..end]).ok();
        self.buf.drain(..=end);
        v.or(Some(serde_json::Value::Null))
    }

    /// What baresip heard (sndfile's decoded dump).
    fn heard(&self) -> PathBuf {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip recorded nothing")
    }
}

/// Once baresip closed the call: Parley's recording holds baresip's 660 Hz and baresip's holds
/// Parley's 440 Hz, each in at least 95% of its frames.
async fn each_heard_the_other(bs: &mut Baresip, ours: &Path, codec: CodecKind) {
    bs.event("CALL_CLOSED").await;
    let ours = tone_share(ours, 660.0, &CANDIDATES);
    let theirs = tone_share(&bs.heard(), 440.0, &CANDIDATES);
    assert!(
        ours >= 0.95,
        "{codec:?}: Parley heard baresip in {:.0}%",
        ours * 100.0
    );
    assert!(
        theirs >= 0.95,
        "{codec:?}: baresip heard Parley in {:.0}%",
        theirs * 100.0
    );
}

async fn parley_calls_baresip(codec: CodecKind) {
    let mut bs = Baresip::start().await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("alice.wav");
    let mut alice = tone_agent("alice", &wav, codec).await;
    alice.call(&format!("sip:bob@127.0.0.1:{}", bs.sip)).await;
    let call = alice.reached(CallState::Connected).await;
    bs.event("CALL_ESTABLISHED").await;
    alice.heard(150).await;
    for d in "19#".chars() {
        alice.send(Command::Dtmf { call, digit: d }).await;
    }
    let mut keys = String::new();
    while keys.len() < 3 {
        let ev = bs.event("CALL_DTMF_START").await;
        keys.push_str(ev["param"].as_str().unwrap_or("?"));
    }
    assert_eq!(keys, "19#", "{codec:?}");
    alice.send(Command::Hangup(call)).await;
    assert_eq!(alice.ended().await.0, 200);
    each_heard_the_other(&mut bs, &wav, codec).await;
}

async fn baresip_calls_parley(codec: CodecKind) {
    let mut bs = Baresip::start().await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("carol.wav");
    let mut carol = tone_agent("carol", &wav, codec).await;
    let target = format!("sip:carol@{}", carol.handle.local_addr());
    bs.command("dial", &target).await;
    let call = carol.incoming().await;
    carol.send(Command::Answer(call)).await;
    carol.reached(CallState::Connected).await;
    bs.event("CALL_ESTABLISHED").await;
    carol.heard(150).await;
    bs.command("sndcode", "7").await;
    let key = carol.wait(|e| matches!(e, Event::Dtmf { .. })).await;
    assert!(matches!(key, Event::Dtmf { digit: '7', .. }), "{key:?}");
    bs.command("hangup", "").await;
    assert_eq!(carol.ended().await.0, 200);
    each_heard_the_other(&mut bs, &wav, codec).await;
}

#[tokio::test]
async fn parley_calls_baresip_over_opus() {
    parley_calls_baresip(CodecKind::Opus).await;
}

#[tokio::test]
async fn parley_calls_baresip_over_pcmu() {
    parley_calls_baresip(CodecKind::Pcmu).await;
}

#[tokio::test]
async fn baresip_calls_parley_over_opus() {
    baresip_calls_parley(CodecKind::Opus).await;
}

#[tokio::test]
async fn baresip_calls_parley_over_pcmu() {
    baresip_calls_parley(CodecKind::Pcmu).await;
}

/// baresip's SRTP modules: SDES (`srtp`) and DTLS-SRTP (`dtls_srtp`).
const SRTP_MODULES: &str = "module srtp.so\nmodule dtls_srtp.so\n";

/// Parley, with mandatory encryption, calling baresip (or called by it) whose account asks for
/// DTLS-SRTP: no key in the SDP, the handshake on the media path, tones heard both ways (SRTP
/// that failed would drop every packet), and the call view shows the short code.
async fn dtls_call(parley_calls: bool) {
    let account = "<sip:bob@127.0.0.1>;regint=0;answermode=auto;mediaenc=dtls_srtp";
    let mut bs = Baresip::start_with(account, SRTP_MODULES).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("alice.wav");
    let mut alice = Agent::start_engine(
        "alice",
        "",
        None,
        |e| {
            e.microphone = SourceSpec::Tone(440.0);
            e.speaker = SinkSpec::Record(wav.clone());
            e.codecs = vec![CodecKind::Pcmu];
        },
        |a| a.srtp = Some(SrtpPolicy::Mandatory),
    )
    .await;
    if parley_calls {
        alice.call(&format!("sip:bob@127.0.0.1:{}", bs.sip)).await;
    } else {
        let target = format!("sip:alice@{}", alice.handle.local_addr());
        bs.command("dial", &target).await;
        let call = alice.incoming().await;
        alice.send(Command::Answer(call)).await;
    }
    let call = alice.reached(CallState::Connected).await;
    let (encrypted, message) = alice.security().await;
    assert!(encrypted && message.contains("keys by DTLS"), "{message}");
    assert!(message.contains("Read this code"), "{message}");
    alice.heard(150).await;
    alice.send(Command::Hangup(call)).await;
    alice.ended().await;
    each_heard_the_other(&mut bs, &wav, CodecKind::Pcmu).await;
}

#[tokio::test]
async fn parley_calls_baresip_with_dtls_srtp_and_both_hear() {
    dtls_call(true).await;
}

#[tokio::test]
async fn baresip_calls_parley_with_dtls_srtp_and_both_hear() {
    dtls_call(false).await;
}

/// `parley serve` over TLS with a test CA that baresip trusts (`sip_cafile`): baresip registers
/// over TLS with `mediaenc=srtp-mand` (SDES keys, RFC 4568), Parley signs in over TLS too (so
/// encryption is mandatory), and the call between them carries their keys only on TLS hops.
async fn sdes_call(parley_calls: bool) {
    let ca = certs::TestCa::new();
    let leaf = ca.leaf("server", &[DOMAIN, "127.0.0.1"]);
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    for (u, p) in USERS {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    // baresip 1.0 answers MD5 challenges only.
    cfg.digest = vec![Algorithm::Md5];
    cfg.tls = Some(("127.0.0.1:0".parse().unwrap(), leaf.server_config()));
    let server = Server::start(cfg).await.unwrap();
    let tls = server.tls_addr().unwrap();
    let account = format!(
        "<sip:bob@{DOMAIN};transport=tls>;auth_pass=b-secret;outbound=\"sip:{tls};transport=tls\";regint=600;answermode=auto;mediaenc=srtp-mand"
    );
    let extra = format!("{SRTP_MODULES}sip_cafile {}\n", ca.cert.display());
    let mut bs = Baresip::start_with(&account, &extra).await;
    bs.event("REGISTER_OK").await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("alice.wav");
    let ca_file = ca.cert.clone();
    let mut alice = Agent::start_engine(
        "alice",
        "a-secret",
        Some(tls),
        |e| {
            e.microphone = SourceSpec::Tone(440.0);
            e.speaker = SinkSpec::Record(wav.clone());
            e.codecs = vec![CodecKind::Pcmu];
        },
        |a| {
            a.transport = Proto::Tls;
            a.ca_file = Some(ca_file);
        },
    )
    .await;
    alice.registered().await;
    if parley_calls {
        alice.call(&format!("sip:bob@{DOMAIN}")).await;
    } else {
        bs.command("dial", &format!("sip:alice@{DOMAIN}")).await;
        let call = alice.incoming().await;
        alice.send(Command::Answer(call)).await;
    }
    let call = alice.reached(CallState::Connected).await;
    let (encrypted, message) = alice.security().await;
    assert!(
        encrypted && message.contains("keys exchanged over TLS"),
        "{message}"
    );
    alice.heard(150).await;
    alice.send(Command::Hangup(call)).await;
    alice.ended().await;
    each_heard_the_other(&mut bs, &wav, CodecKind::Pcmu).await;
}

#[tokio::test]
async fn parley_calls_baresip_over_tls_with_sdes_srtp_and_both_hear() {
    sdes_call(true).await;
}

#[tokio::test]
async fn baresip_calls_parley_over_tls_with_sdes_srtp_and_both_hear() {
    sdes_call(false).await;
}
