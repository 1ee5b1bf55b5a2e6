//! Test helpers: an embedded server and engines on 127.0.0.1 ports the OS picks, real stores in
//! temporary folders, and waiting for events with a timeout (a hang fails the test, it does not
//! time it).

#![allow(dead_code)]

pub mod certs;
pub mod dns;
pub mod natlab;
pub mod proc;

use parley::engine::{
    AccountConfig, AccountId, Command, Engine, EngineConfig, EngineHandle, Event,
};
use parley::media::codec::CodecKind;
use parley::server::{Server, ServerConfig};
use parley::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub const DOMAIN: &str = "company.com";

pub async fn server(users: &[(&str, &str)]) -> Server {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    for (u, p) in users {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    Server::start(cfg).await.unwrap()
}

pub struct Agent {
    pub handle: EngineHandle,
    pub events: mpsc::Receiver<Event>,
    pub store: Arc<Store>,
    pub account: AccountId,
    pub seen: Vec<Event>,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// An engine with one account registered (or failed) at `server`.
    pub async fn start(user: &str, password: &str, server: Option<SocketAddr>) -> Agent {
        Self::start_with(user, password, server, |_| {}).await
    }

    pub async fn start_with(
        user: &str,
        password: &str,
        server: Option<SocketAddr>,
        tweak: impl FnOnce(&mut AccountConfig),
    ) -> Agent {
        Self::start_engine(user, password, server, |_| {}, tweak).await
    }

    /// As `start_with`, with the engine's settings changed by `engine` first.
    pub async fn start_engine(
        user: &str,
        password: &str,
        server: Option<SocketAddr>,
        engine: impl FnOnce(&mut EngineConfig),
        tweak: impl FnOnce(&mut AccountConfig),
    ) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("parley.db")).unwrap());
        let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.store = Some(store.clone());
        engine(&mut cfg);
        let (handle, events) = Engine::start(cfg).await.unwrap();
        let mut acc = AccountConfig::new(&format!("sip:{user}@{DOMAIN}"), password);
        acc.server = server.map(|s| s.to_string());
        acc.register = server.is_some();
        // Without a server, the test chose a LAN account that takes calls from anyone.
        acc.direct = server.is_none();
        tweak(&mut acc);
        handle.send(Command::AddAccount(Box::new(acc))).await;
        let mut agent = Agent {
            handle,
            events,
            store,
            account: 0,
            seen: Vec::new(),
            _dir: dir,
        };
        let ev = agent
            .wait(|e| matches!(e, Event::AccountAdded { .. }))
            .await;
        if let Event::AccountAdded { account, .. } = ev {
            agent.account = account;
        }
        agent
    }

    /// Next event matching `pred`, skipping others (kept in `seen`). Panics after 20 s.
    pub async fn wait(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(None) => panic!("engine stopped; saw {:#?}", self.seen),
                Err(_) => panic!("timed out; saw {:#?}", self.seen),
            }
        }
    }

    pub async fn registered(&mut self) {
        let ev = self
            .wait(|e| {
                matches!(
                    e,
                    Event::Registered { .. } | Event::RegistrationFailed { .. }
                )
            })
            .await;
        assert!(matches!(ev, Event::Registered { .. }), "{ev:?}");
    }

    pub async fn send(&self, cmd: Command) {
        self.handle.send(cmd).await;
    }

    pub async fn call(&mut self, target: &str) {
        let account = self.account;
        self.send(Command::Call {
            account,
            target: target.into(),
        })
        .await;
    }

    /// Waits until a call reaches `state` and returns its id.
    pub async fn reached(&mut self, state: parley::engine::CallState) -> u32 {
        match self
            .wait(|e| matches!(e, Event::Call { state: s, .. } if *s == state))
            .await
        {
            Event::Call { call, .. } => call,
            _ => unreachable!(),
        }
    }

    /// Waits for an incoming call and returns its id.
    pub async fn incoming(&mut self) -> u32 {
        match self.wait(|e| matches!(e, Event::IncomingCall { .. })).await {
            Event::IncomingCall { call, .. } => call,
            _ => unreachable!(),
        }
    }

    /// Waits for the end of a call: (status, reason, message).
    pub async fn ended(&mut self) -> (u16, String, String) {
        match self.wait(|e| matches!(e, Event::CallEnded { .. })).await {
            Event::CallEnded {
                status,
                reason,
                message,
                ..
            } => (status, reason, message),
            _ => unreachable!(),
        }
    }

    /// Waits until this agent's call has received `n` RTP packets.
    pub async fn heard(&mut self, n: u64) {
        self.wait(|e| matches!(e, Event::CallStats { received, .. } if *received >= n))
            .await;
    }

    /// Whether the call's audio is encrypted, and the words the call card shows for it.
    pub async fn security(&mut self) -> (bool, String) {
        let is = |e: &Event| matches!(e, Event::CallSecurity { .. });
        let ev = match self.seen.iter().find(|e| is(e)).cloned() {
            Some(ev) => ev,
            None => self.wait(is).await,
        };
        match ev {
            Event::CallSecurity {
                encrypted, message, ..
            } => (encrypted, message),
            _ => unreachable!(),
        }
    }

    pub fn saw_call_status(&self, code: u16) -> bool {
        self.seen
            .iter()
            .any(|e| matches!(e, Event::Call { status: Some(s), .. } if *s == code))
    }
}

/// `user`, with no server (a LAN account), saying 440 Hz in `codec` and recording what it
/// hears into `wav`: the Parley side of a call with another softphone.
pub async fn tone_agent(user: &str, wav: &std::path::Path, codec: CodecKind) -> Agent {
    let wav = wav.to_path_buf();
    Agent::start_engine(
        user,
        "",
        None,
        |e| {
            e.microphone = parley::media::headless::SourceSpec::Tone(440.0);
            e.speaker = parley::media::headless::SinkSpec::Record(wav);
            e.codecs = vec![codec];
        },
        |_| {},
    )
    .await
}

/// Bob, with no server, whose microphone plays a tone (so his voice goes out at once).
pub async fn bob_playing_a_tone() -> Agent {
    Agent::start_engine(
        "bob",
        "",
        None,
        |e| e.microphone = parley::media::headless::SourceSpec::Tone(440.0),
        |_| {},
    )
    .await
}

pub async fn registered_pair(server: &Server) -> (Agent, Agent) {
    let addr = server.local_addr();
    let mut alice = Agent::start("alice", "a-secret", Some(addr)).await;
    let mut bob = Agent::start("bob", "b-secret", Some(addr)).await;
    alice.registered().await;
    bob.registered().await;
    (alice, bob)
}

pub const USERS: &[(&str, &str)] = &[
    ("alice", "a-secret"),
    ("bob", "b-secret"),
    ("carol", "c-secret"),
    ("dave", "d-secret"),
];

/// A hand-driven SIP peer on a loopback UDP socket: sends the exact text a test writes and
/// reads what comes back, for messages no well-behaved agent would send.
pub struct Wire {
    pub sock: tokio::net::UdpSocket,
    pub addr: SocketAddr,
    n: u32,
}

impl Wire {
    /// A socket on `ip` (any of 127.0.0.0/8 stands for another host).
    pub async fn on(ip: &str) -> Wire {
        let sock = tokio::net::UdpSocket::bind((ip, 0)).await.unwrap();
        let addr = sock.local_addr().unwrap();
        Wire { sock, addr, n: 0 }
    }

    pub async fn send(&self, text: &str, to: SocketAddr) {
        self.sock.send_to(text.as_bytes(), to).await.unwrap();
    }

    /// The next message, decoded; panics after 20 s.
    pub async fn recv(&self) -> parley::sip::message::Inbound {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(20), self.sock.recv_from(&mut buf))
            .await
            .expect("nothing came back")
            .unwrap();
        parley::sip::message::decode(&buf[..n])
    }

    /// The next final response (provisional ones are skipped); panics on a request.
    pub async fn final_response(&self) -> parley::sip::message::Response {
        use parley::sip::message::{code_of, Inbound};
        loop {
            match self.recv().await {
                Inbound::Response(r) if code_of(&r) >= 200 => return r,
                Inbound::Response(_) => continue,
                other => panic!("expected a response, got {other:?}"),
            }
        }
    }

    /// The next request that arrives (responses are skipped).
    pub async fn request(&self) -> parley::sip::message::Request {
        use parley::sip::message::Inbound;
        loop {
            match self.recv().await {
                Inbound::Request(r) => return r,
                Inbound::Response(_) => continue,
                other => panic!("expected a request, got {other:?}"),
            }
        }
    }

    /// A fresh branch for this wire's next request.
    pub fn branch(&mut self) -> String {
        self.n += 1;
        format!("z9hG4bKw{}x{}", self.addr.port(), self.n)
    }

    /// `METHOD uri` with the usual headers from this wire, `extra` lines, and `body`.
    pub fn request_text(&mut self, method: &str, uri: &str, extra: &str, body: &str) -> String {
        let (me, branch) = (self.addr, self.branch());
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:tester@{me}>;tag=w{port}\r\n\
             Call-ID: wire-{port}-{n}\r\nCSeq: 1 {method}\r\n{extra}\
             Content-Length: {len}\r\n\r\n{body}",
            port = me.port(),
            n = self.n,
            len = body.len()
        )
    }

    /// Registers `contacts` for `user` at an open server and waits for its 200.
    pub async fn register(&mut self, server: SocketAddr, user: &str, contacts: &[String]) {
        let list = contacts.join(", ");
        let text = self.request_text(
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            &format!("To: <sip:{user}@{DOMAIN}>\r\nContact: {list}\r\nExpires: 600\r\n"),
            "",
        );
        self.send(&text, server).await;
        let r = self.final_response().await;
        assert_eq!(parley::sip::message::code_of(&r), 200, "{r}");
    }

    /// Answers a request with `code`, copying what a response copies.
    pub async fn answer(&self, req: &parley::sip::message::Request, code: u16, to: SocketAddr) {
        let resp = parley::sip::message::response_to(req, code, None, Some("wiretag"));
        self.sock
            .send_to(&parley::sip::message::encode_response(&resp), to)
            .await
            .unwrap();
    }
}

/// An open (LAN) server: anyone may register.
pub async fn open_server() -> Server {
    open_server_with(|_| {}).await
}

/// An open server with its settings changed by `tweak` first.
pub async fn open_server_with(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    cfg.open = true;
    tweak(&mut cfg);
    Server::start(cfg).await.unwrap()
}

/// The share of 20 ms windows, after the first half second, in which `hz` is the strongest of
/// `candidates` (and clearly there) in a WAV recording's first channel.
pub fn tone_share(wav: &std::path::Path, hz: f64, candidates: &[f64]) -> f64 {
    tone_share_since(wav, hz, candidates, 0.5)
}

/// As `tone_share`, over the last `secs` seconds of the recording only.
pub fn tone_share_last(wav: &std::path::Path, hz: f64, candidates: &[f64], secs: f64) -> f64 {
    let r = hound::WavReader::open(wav).unwrap();
    let total = r.duration() as f64 / f64::from(r.spec().sample_rate);
    assert!(total > secs, "{} lasts only {total:.1} s", wav.display());
    tone_share_since(wav, hz, candidates, total - secs)
}

/// The share of 20 ms windows from `from` seconds on in which `hz` is clearly the strongest.
fn tone_share_since(wav: &std::path::Path, hz: f64, candidates: &[f64], from: f64) -> f64 {
    let heard = heard_windows(wav, hz, candidates);
    let skip = (from * 50.0) as usize;
    let windows = heard.get(skip..).unwrap_or_default();
    assert!(!windows.is_empty(), "{} is too short", wav.display());
    share(windows)
}

/// The share of 20 ms windows, from the first in which `hz` is heard to the end, in which it
/// is heard: whether voice, once it arrived, kept arriving. For calls whose audio waits for
/// ICE and DTLS, how long those took is a figure for `parley bench`, not for this share.
/// At least a second of the recording must follow the tone's onset, or it proves nothing.
pub fn tone_share_from_onset(wav: &std::path::Path, hz: f64, candidates: &[f64]) -> f64 {
    let heard = heard_windows(wav, hz, candidates);
    let onset = heard.iter().position(|h| *h);
    let onset = onset.unwrap_or_else(|| panic!("{hz} Hz is never heard in {}", wav.display()));
    let after = &heard[onset..];
    assert!(
        after.len() >= 50,
        "{hz} Hz begins only {:.2} s into the {:.2} s of {}",
        onset as f64 / 50.0,
        heard.len() as f64 / 50.0,
        wav.display()
    );
    share(after)
}

/// The share of `windows` in which the tone was heard.
fn share(windows: &[bool]) -> f64 {
    windows.iter().filter(|h| **h).count() as f64 / windows.len() as f64
}

/// For each 20 ms window of a WAV recording's first channel: whether `hz` is the strongest of
/// `candidates`, and clearly there.
fn heard_windows(wav: &std::path::Path, hz: f64, candidates: &[f64]) -> Vec<bool> {
    use parley::media::tone::{power_at, strongest};
    let mut r = hound::WavReader::open(wav).unwrap();
    let spec = r.spec();
    let pcm: Vec<i16> = r
        .samples::<i16>()
        .step_by(usize::from(spec.channels))
        .map(Result::unwrap)
        .collect();
    let window = (spec.sample_rate / 50) as usize;
    pcm.chunks_exact(window)
        .map(|w| {
            strongest(w, spec.sample_rate, candidates) == Some(hz)
                && power_at(w, spec.sample_rate, hz) > 0.001
        })
        .collect()
}

/// Fails the test, with the install hint, when `program` (run with `arg`) is not installed:
/// a missing peer proves nothing, so it must not pass.
pub fn require(program: &str, arg: &str, package: &str) {
    let found = std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: sudo apt-get install {package} (see the README)"
    );
}
