//! `parley serve` against what attackers run: sipvicious's svwar (listing users) and svcrack
//! (guessing passwords), and hand-written digests for what the tools do not try (an answer
//! without qop, a nonce replayed from elsewhere or after a wrong answer, the right password
//! inside a hold-back). Every failure is one log line that fail2ban's own tester matches.

mod common;

use common::*;
use parley::server::{Server, ServerConfig};
use parley::sip::digest::Challenge;
use parley::sip::message::{code_of, get_lines, Response};
use std::net::SocketAddr;

/// alice's password: six letters, in the middle of the guesser's list.
const SECRET: &str = "sunset";

async fn guarded_server() -> Server {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    for (u, p) in [
        ("alice", SECRET),
        ("bob", "b-secret"),
        ("carol", "c-secret"),
    ] {
        cfg.users.insert(u.into(), p.into());
    }
    Server::start(cfg).await.unwrap()
}

/// A UDP port nobody holds now, for a tool that binds its own.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 1000 six-letter words, the password the 301st.
fn wordlist(dir: &std::path::Path) -> std::path::PathBuf {
    let mut words: Vec<String> = (0u32..999)
        .map(|i| {
            let mut n = i.wrapping_mul(2_654_435_761);
            (0..6)
                .map(|_| {
                    let c = char::from(b'a' + (n % 26) as u8);
                    n /= 26;
                    c
                })
                .collect()
        })
        .filter(|w: &String| w != SECRET)
        .collect();
    words.insert(300, SECRET.into());
    let path = dir.join("words.txt");
    std::fs::write(&path, words.join("\n") + "\n").unwrap();
    path
}

/// A sipvicious tool's whole output.
async fn run(tool: &str, args: &[&str]) -> String {
    require(tool, "--version", "sipvicious");
    let out = tokio::process::Command::new(tool)
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// A sipvicious tool's run against `server` on 127.0.0.1 (its `-b` binds nothing), from a
/// port of its own, with `first` before the usual target options.
async fn against(tool: &str, server: SocketAddr, first: &[&str]) -> String {
    let (port, local) = (server.port().to_string(), free_port().to_string());
    let mut args = first.to_vec();
    args.extend(["--domain", DOMAIN, "-p", &port, "-P", &local, "127.0.0.1"]);
    run(tool, &args).await
}

/// svcrack guessing alice's password.
async fn svcrack(server: SocketAddr, words: &std::path::Path) -> String {
    against(
        "svcrack",
        server,
        &["-u", "alice", "-d", words.to_str().unwrap()],
    )
    .await
}

/// The real alice, on her own host (127.0.0.2), signed in at `server`.
async fn real_alice(server: SocketAddr) -> Agent {
    let own_host = |cfg: &mut parley::engine::EngineConfig| {
        cfg.bind = "127.0.0.2:0".parse().unwrap();
    };
    let mut alice = Agent::start_engine("alice", SECRET, Some(server), own_host, |_| {}).await;
    alice.registered().await;
    alice
}

#[tokio::test]
async fn svcrack_finds_no_password_in_a_thousand_guesses() {
    let dir = tempfile::tempdir().unwrap();
    let words = wordlist(dir.path());
    // The tool works here: a password it tries first is found at once.
    let first = dir.path().join("first.txt");
    std::fs::write(&first, format!("{SECRET}\nwrong\n")).unwrap();
    let open_door = guarded_server().await;
    let out = svcrack(open_door.local_addr(), &first).await;
    assert!(out.contains(&format!("| alice     | {SECRET}")), "{out}");

    let server = guarded_server().await;
    let _alice = real_alice(server.local_addr()).await;
    let out = svcrack(server.local_addr(), &words).await;
    assert!(out.contains("found nothing"), "{out}");
    assert!(!out.contains(SECRET), "{out}");
    // Meanwhile the real alice, from where she signed in before, still gets in.
    let _again = real_alice(server.local_addr()).await;
}

#[tokio::test]
async fn svwar_lists_nobody() {
    let server = guarded_server().await;
    let (_a, _b) = {
        let mut a = Agent::start("alice", SECRET, Some(server.local_addr())).await;
        let mut b = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
        a.registered().await;
        b.registered().await;
        (a, b)
    };
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "alice\nbob\ncarol\nzed\n100\nadmin\n").unwrap();
    for method in ["REGISTER", "INVITE", "OPTIONS", "MESSAGE", "SUBSCRIBE"] {
        let d = names.to_str().unwrap();
        let first = ["--force", "-m", method, "-d", d];
        let out = against("svwar", server.local_addr(), &first).await;
        assert!(out.contains("found nothing"), "{method}: {out}");
        for user in ["alice", "bob", "carol"] {
            assert!(
                !out.contains(&format!("| {user} ")),
                "{method} lists {user}: {out}"
            );
        }
    }
}

/// The status line and header names of a response, and its challenge without the nonce:
/// what tells one answer from another, whatever the tags and nonces.
fn shape(r: &Response) -> String {
    let mut s = format!("{} {}", code_of(r), parley::sip::message::reason_of(r));
    for header in r.headers.iter() {
        let line = header.to_string();
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.trim();
        let v = match name.to_ascii_lowercase().as_str() {
            "www-authenticate" | "proxy-authenticate" => {
                let c = Challenge::parse(value).unwrap();
                format!("{} {:?} {}", c.realm, c.algorithm, c.qop_auth)
            }
            "to" | "from" | "via" | "call-id" | "cseq" | "content-length" => String::new(),
            _ => value.to_string(),
        };
        s.push_str(&format!("\n{name}: {v}"));
    }
    s
}

/// carol (ours, not signed in) and zed (made up) get the same answers, from inside the
/// domain and from outside it, for every method svwar can use and then some.
#[tokio::test]
async fn an_unknown_user_is_answered_as_a_known_one() {
    let server = guarded_server().await;
    let s = server.local_addr();
    let mut w = Wire::on("127.0.0.31").await;
    for method in ["REGISTER", "INVITE", "OPTIONS", "MESSAGE", "SUBSCRIBE"] {
        for inside in [true, false] {
            let mut answers = Vec::new();
            for user in ["carol", "zed"] {
                let from = match inside {
                    true => format!("<sip:{user}@{DOMAIN}>"),
                    false => "<sip:scanner@example.net>".to_string(),
                };
                let uri = match method {
                    "REGISTER" => format!("sip:{DOMAIN}"),
                    _ => format!("sip:{user}@{DOMAIN}"),
                };
                let extra = format!("To: <sip:{user}@{DOMAIN}>\r\nEvent: presence\r\n");
                let text = w.request_text(method, &uri, &extra, "").replacen(
                    &format!("<sip:tester@{}>", w.addr),
                    &from,
                    1,
                );
                w.send(&text, s).await;
                answers.push(shape(&w.final_response().await));
            }
            assert_eq!(answers[0], answers[1], "{method}, inside {inside}");
        }
    }
}

/// Hand-written answers to a challenge, as a guesser would write them.
struct Guesser {
    wire: Wire,
    server: SocketAddr,
}

impl Guesser {
    async fn on(ip: &str, server: SocketAddr) -> Guesser {
        Guesser {
            wire: Wire::on(ip).await,
            server,
        }
    }

    /// A REGISTER for alice; its challenge.
    async fn challenge(&mut self) -> Challenge {
        let text = self.register("");
        self.wire.send(&text, self.server).await;
        let r = self.wire.final_response().await;
        assert_eq!(code_of(&r), 401, "{r}");
        Challenge::parse(&get_lines(&r.headers, "WWW-Authenticate")[0]).unwrap()
    }

    fn register(&mut self, auth: &str) -> String {
        let to = format!("To: <sip:alice@{DOMAIN}>\r\n{auth}");
        self.wire
            .request_text("REGISTER", &format!("sip:{DOMAIN}"), &to, "")
    }

    /// Answers `ch` with `password` (nonce-count `nc`); the status that comes back.
    async fn answer(&mut self, ch: &Challenge, password: &str, nc: u32) -> Response {
        let uri = format!("sip:{DOMAIN}");
        let a = ch.answer("REGISTER", &uri, "alice", password, "c0ffee", nc);
        let text = self.register(&format!("Authorization: {a}\r\n"));
        self.wire.send(&text, self.server).await;
        self.wire.final_response().await
    }
}

#[tokio::test]
async fn a_guess_is_not_judged_while_held_and_a_nonce_dies_on_a_wrong_answer() {
    let server = guarded_server().await;
    let mut g = Guesser::on("127.0.0.41", server.local_addr()).await;
    let ch = g.challenge().await;
    let wrong = g.answer(&ch, "guess1", 1).await;
    assert_eq!(
        (code_of(&wrong), parley::sip::message::reason_of(&wrong)),
        (403, "Forbidden".into())
    );
    // The same nonce, even with the right password, is dead: a fresh challenge, not a verdict.
    let replay = g.answer(&ch, SECRET, 2).await;
    assert_eq!(code_of(&replay), 401, "{replay}");
    let stale = Challenge::parse(&get_lines(&replay.headers, "WWW-Authenticate")[0]).unwrap();
    assert!(stale.stale);
    // Inside the hold that the wrong guess started, the right password is refused alike.
    let right = g.answer(&stale, SECRET, 1).await;
    assert_eq!(
        shape(&right),
        shape(&wrong),
        "the right password answered as a wrong one"
    );
}

#[tokio::test]
async fn digests_without_qop_or_from_elsewhere_are_not_taken() {
    let server = guarded_server().await;
    let mut g = Guesser::on("127.0.0.42", server.local_addr()).await;
    let ch = g.challenge().await;
    // RFC 2069's digest (no qop, no nonce-count): could be replayed, so refused.
    let old = Challenge {
        qop_auth: false,
        ..ch.clone()
    };
    assert_eq!(code_of(&g.answer(&old, SECRET, 1).await), 400);
    // The nonce given to 127.0.0.42, answered rightly from 127.0.0.43: a new challenge.
    let mut elsewhere = Guesser::on("127.0.0.43", server.local_addr()).await;
    let r = elsewhere.answer(&ch, SECRET, 1).await;
    assert_eq!(code_of(&r), 401, "{r}");
    // From where it was given, with the right password: in.
    assert_eq!(code_of(&g.answer(&ch, SECRET, 1).await), 200);
}

/// Each failure is one log line a fail2ban filter reads: fail2ban's own tester matches every
/// one with the shipped filter, naming the guesser's address.
#[tokio::test]
async fn fail2ban_reads_every_failure() {
    require("fail2ban-regex", "--help", "fail2ban");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(proc::BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--domain", DOMAIN])
        .args(["--user", &format!("alice:{SECRET}")])
        .env("PARLEY_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(file)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let first = lines.next().unwrap().unwrap();
    let addr: SocketAddr = first
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("the address it listens on");
    let mut g = Guesser::on("127.0.0.44", addr).await;
    for guess in ["one", "two", "three"] {
        let ch = g.challenge().await;
        assert_eq!(code_of(&g.answer(&ch, guess, 1).await), 403);
    }
    let _ = child.kill();
    let _ = child.wait();
    let filter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/fail2ban/parley.conf"
    );
    let tested = std::process::Command::new("fail2ban-regex")
        .args([log.to_str().unwrap(), filter])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(report.contains("3 matched"), "{report}");
    let logged = std::fs::read_to_string(&log).unwrap();
    let failures: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("authentication failed"))
        .collect();
    assert_eq!(failures.len(), 3, "{logged}");
    assert!(failures
        .iter()
        .all(|l| l.contains("from 127.0.0.44: service=sip user=\"alice\"")));
}
