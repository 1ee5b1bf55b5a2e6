//! Voice with Linphone (Debian's `linphone-cli`: linphonec 5.1, the console of the Linphone
//! apps' liblinphone), headless: its `files` sound card plays a 660 Hz WAV and records what it
//! hears, commands go to its console and its lines are read back. Linphone calls Parley; each
//! must hear the other's tone. (Calls to linphonec are not tested: here it answers every
//! INVITE 503, its log saying its core is not started.) Without linphonec these tests fail and
//! say how to install it.

mod common;

use common::*;
use parley::engine::{CallState, Command};
use parley::media::codec::CodecKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CANDIDATES: [f64; 3] = [440.0, 660.0, 1000.0];

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// 10 s of 660 Hz at -6 dBFS, 8 kHz mono: what Linphone says.
fn tone_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..80_000 {
        let t = f64::from(n) / 8000.0;
        let v = (t * 660.0 * std::f64::consts::TAU).sin() * 16_000.0;
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// A headless linphonec on its own port, home folder and sound files.
struct Linphone {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    dir: tempfile::TempDir,
    sip: u16,
}

impl Linphone {
    async fn start() -> Linphone {
        require("linphonec", "-v", "linphone-cli");
        let dir = tempfile::tempdir().unwrap();
        let (sip, rtp) = (free_port(), free_port());
        let rc = dir.path().join("linphonerc");
        let config = format!(
            "[sip]\nsip_tcp_port=-1\nuse_ipv6=0\n[rtp]\naudio_rtp_port={rtp}\n\
             [sound]\necho_cancellation=0\n[video]\nautomatically_initiate=0\n"
        );
        std::fs::write(&rc, config).unwrap();
        tone_wav(&dir.path().join("says.wav"));
        let mut child = tokio::process::Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("linphonec did not start");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(l)) = out.next_line().await {
                let _ = tx.send(l);
            }
        });
        let mut lp = Linphone {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            dir,
            sip,
        };
        // The port from the config file is not taken by linphonec 5.1; its command is.
        lp.command(&format!("ports sip {sip}")).await;
        lp.line("Setting sip port").await;
        lp.until_bound().await;
        lp.command("soundcard use files").await;
        lp.line("Using wav files").await;
        let says = lp.dir.path().join("says.wav");
        lp.command(&format!("play {}", says.display())).await;
        let heard = lp.dir.path().join("heard.wav");
        lp.command(&format!("record {}", heard.display())).await;
        lp
    }

    /// Waits until linphonec has bound its SIP port (the port is then taken).
    async fn until_bound(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while std::net::UdpSocket::bind(("127.0.0.1", self.sip)).is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "linphonec never bound port {}",
                self.sip
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What linphonec recorded, its header made right: linphonec 5.1 writes the data chunk's
    /// size as the whole file's, 44 bytes more than there are.
    fn heard(&self) -> PathBuf {
        let path = self.dir.path().join("heard.wav");
        if let Ok(mut bytes) = std::fs::read(&path) {
            if bytes.len() > 44 && &bytes[36..40] == b"data" {
                let data = (bytes.len() - 44) as u32;
                bytes[40..44].copy_from_slice(&data.to_le_bytes());
                bytes[4..8].copy_from_slice(&(data + 36).to_le_bytes());
                std::fs::write(&path, bytes).unwrap();
            }
        }
        path
    }

    async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next console line containing `text`.
    async fn line(&mut self, text: &str) -> String {
        loop {
            let got = tokio::time::timeout(Duration::from_secs(20), self.lines.recv()).await;
            match got {
                Ok(Some(l)) => {
                    self.seen.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Ok(None) => panic!("linphonec exited; it said {:#?}", self.seen),
                Err(_) => panic!("linphonec never said {text:?}; it said {:#?}", self.seen),
            }
        }
    }

    /// Ends linphonec once its call is over, so its recording is complete.
    async fn quit(&mut self) {
        self.command("quit").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Parley heard Linphone's 660 Hz and Linphone heard Parley's 440 Hz, each in most frames.
fn each_heard_the_other(ours: &Path, theirs: &Path) {
    let ours = tone_share(ours, 660.0, &CANDIDATES);
    let theirs = tone_share(theirs, 440.0, &CANDIDATES);
    assert!(ours >= 0.9, "Parley heard Linphone in {:.0}%", ours * 100.0);
    assert!(
        theirs >= 0.9,
        "Linphone heard Parley in {:.0}%",
        theirs * 100.0
    );
}

#[tokio::test]
async fn linphone_calls_parley_and_both_hear() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("bob.wav");
    let mut bob = tone_agent("bob", &wav, CodecKind::Pcmu).await;
    let mut lp = Linphone::start().await;
    let at = bob.handle.local_addr();
    lp.command(&format!("call sip:bob@{at}")).await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    bob.reached(CallState::Connected).await;
    lp.line("connected").await;
    bob.heard(150).await;
    lp.command("terminate").await;
    lp.line("ended").await;
    bob.ended().await;
    lp.quit().await;
    each_heard_the_other(&wav, &lp.heard());
}
