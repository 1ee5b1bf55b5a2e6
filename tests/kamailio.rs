//! The seed's flow through a real SIP server: Kamailio (Debian's package) as registrar with
//! digest auth and as record-routing proxy, Parley as both user agents.
//! Without Kamailio the test fails and says how to install it: a missing peer proves nothing.

mod common;

use common::certs::TestCa;
use common::dns;
use common::Agent;
use hickory_proto::rr::RecordType;
use parley::engine::{CallState, Command, Event};
use std::process::Stdio;
use std::time::Duration;

struct Kamailio {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: Kamailio's main process then stops its worker children too.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn kamailio() -> Kamailio {
    kamailio_with("kamailio.cfg", &[], None)
}

/// Kamailio on `cfg` (in tests/data) with `defines` (-A), listening on UDP and TCP on one free
/// port, and on TLS on port `tls` when given.
fn kamailio_with(cfg: &str, defines: &[String], tls: Option<u16>) -> Kamailio {
    let bin = ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("Kamailio is not installed: sudo apt-get install kamailio (see the README)");
    let dir = tempfile::tempdir().unwrap();
    // A port free for both UDP and TCP.
    let port = loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    };
    let cfg = format!("{}/tests/data/{cfg}", env!("CARGO_MANIFEST_DIR"));
    let run = dir.path().to_str().unwrap().to_string();
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["-f", &cfg, "-DD", "-E", "-Y", &run, "-w", &run])
        .args([
            "-l",
            &format!("udp:127.0.0.1:{port}"),
            "-l",
            &format!("tcp:127.0.0.1:{port}"),
        ]);
    if let Some(tls) = tls {
        cmd.args(["-l", &format!("tls:127.0.0.1:{tls}")]);
    }
    for d in defines {
        cmd.args(["-A", d]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let k = Kamailio {
        child,
        port,
        _dir: dir,
    };
    // Wait until it answers on UDP.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    for i in 0..50 {
        let opt = format!("OPTIONS sip:company.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKk{i}\r\nFrom: <sip:probe@company.com>;tag=p\r\nTo: <sip:company.com>\r\nCall-ID: probe{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        let _ = sock.send_to(opt.as_bytes(), ("127.0.0.1", port));
        let mut buf = [0u8; 2048];
        if sock.recv_from(&mut buf).is_ok() {
            return k;
        }
    }
    panic!("kamailio did not start");
}

#[tokio::test]
async fn seed_flow_through_kamailio() {
    let k = kamailio();
    let addr = Some(format!("127.0.0.1:{}", k.port).parse().unwrap());
    let mut alice = Agent::start("alice", "secret-alice", addr).await;
    let mut bob = Agent::start("bob", "secret-bob", addr).await;
    alice.registered().await;
    bob.registered().await;
    // Kamailio challenged first: the registrations went 401 -> digest -> 200.
    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    alice.reached(CallState::Ringing).await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_eq!(bob.ended().await.1, "Remote hung up");
    assert_eq!(alice.store.calls().unwrap()[0].status, Some(200));
    assert_eq!(bob.store.calls().unwrap()[0].status, Some(200));

    alice.call("sip:nobody@company.com").await;
    assert_eq!(alice.ended().await.0, 404);

    let mut mallory = Agent::start("carol", "wrong", addr).await;
    match mallory
        .wait(|e| {
            matches!(
                e,
                Event::Registered { .. } | Event::RegistrationFailed { .. }
            )
        })
        .await
    {
        Event::RegistrationFailed {
            status, message, ..
        } => {
            assert_eq!(status, 401);
            assert!(message.contains("Wrong password"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// A TCP port free now (for Kamailio's TLS listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kamailio with Debian's TLS module as the provider, its certificate from a CA the test made:
/// two sips: accounts find it by SRV (`_sips._tcp`), check its certificate against the domain
/// with that CA, register over TLS, call and hear each other.
#[tokio::test]
async fn a_call_over_tls_through_kamailio_checked_against_a_test_ca() {
    let ca = TestCa::new();
    let leaf = ca.leaf("kamailio", &["company.com"]);
    let tls_port = free_port();
    let defines = [
        format!("TLS_CERT=\"{}\"", leaf.cert.display()),
        format!("TLS_KEY=\"{}\"", leaf.key.display()),
    ];
    let _k = kamailio_with("kamailio-tls.cfg", &defines, Some(tls_port));
    let zone = vec![
        (
            RecordType::SRV,
            "_sips._tcp.company.com.".to_string(),
            dns::srv(0, 5, tls_port, "sip.company.com."),
        ),
        (
            RecordType::A,
            "sip.company.com.".into(),
            dns::a([127, 0, 0, 1].into()),
        ),
    ];
    let ns = dns::serve(zone).await;
    let mut alice = tls_agent("alice", ns, &ca.cert, 440.0).await;
    let mut bob = tls_agent("bob", ns, &ca.cert, 660.0).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("sips:bob@company.com").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice.heard(50).await;
    bob.heard(50).await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
    bob.ended().await;
}

/// A sips: account at company.com, located through `ns`, trusting `ca`, playing a tone.
async fn tls_agent(user: &str, ns: std::net::SocketAddr, ca: &std::path::Path, hz: f64) -> Agent {
    let ca = ca.to_path_buf();
    Agent::start_engine(
        user,
        &format!("secret-{user}"),
        None,
        |e| {
            e.dns = Some(ns);
            e.microphone = parley::media::headless::SourceSpec::Tone(hz);
        },
        |a| {
            a.aor = format!("sips:{user}@company.com");
            a.ca_file = Some(ca);
            a.register = true;
        },
    )
    .await
}
