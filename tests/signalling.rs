//! The seed's signalling flow and its failure cases, over real loopback sockets through the
//! embedded server, with real SQLite histories.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event};
use std::time::Duration;
use tokio::net::UdpSocket;

fn is_state(e: &Event, s: CallState) -> bool {
    matches!(e, Event::Call { state, .. } if *state == s)
}

#[tokio::test]
async fn seed_flow_register_call_answer_hang_up_and_history() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;

    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    alice.reached(CallState::Ringing).await;
    assert!(
        alice.saw_call_status(100),
        "no 100 Trying: {:#?}",
        alice.seen
    );
    assert!(alice.saw_call_status(180));
    bob.send(Command::Answer(call)).await;
    let connected = alice.wait(|e| is_state(e, CallState::Connected)).await;
    let Event::Call {
        call: alice_call,
        status,
        ..
    } = connected
    else {
        unreachable!()
    };
    assert_eq!(status, Some(200));
    bob.reached(CallState::Connected).await; // the ACK arrived

    alice.send(Command::Hangup(alice_call)).await;
    let (status, _, _) = alice.ended().await;
    assert_eq!(status, 200);
    let (status, reason, _) = bob.ended().await;
    assert_eq!((status, reason.as_str()), (200, "Remote hung up"));

    let a = alice.store.calls().unwrap();
    let b = bob.store.calls().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (a[0].direction.as_str(), a[0].peer_uri.as_str(), a[0].status),
        ("outgoing", "sip:bob@company.com", Some(200))
    );
    assert_eq!(
        (b[0].direction.as_str(), b[0].peer_uri.as_str(), b[0].status),
        ("incoming", "sip:alice@company.com", Some(200))
    );
    assert_eq!(a[0].sip_call_id, b[0].sip_call_id);
    // The times are in order (not a measured duration: tests assert none).
    let (answered, ended) = (a[0].answered_at.unwrap(), a[0].ended_at.unwrap());
    assert!(a[0].started_at <= answered && answered <= ended);
    assert_eq!(a[0].duration(), ended - answered);
}

#[tokio::test]
async fn callee_hangs_up_with_bye() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    alice.call("bob").await; // a bare user is completed with the account's domain
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    bob.reached(CallState::Connected).await;
    bob.send(Command::Hangup(call)).await;
    assert_eq!(bob.ended().await.0, 200);
    assert_eq!(alice.ended().await.1, "Remote hung up");
}

#[tokio::test]
async fn wrong_password_is_a_clear_registration_error() {
    let server = server(USERS).await;
    let mut alice = Agent::start("alice", "not-it", Some(server.local_addr())).await;
    let ev = alice
        .wait(|e| {
            matches!(
                e,
                Event::RegistrationFailed { .. } | Event::Registered { .. }
            )
        })
        .await;
    match ev {
        Event::RegistrationFailed {
            status,
            message,
            retry_in,
            ..
        } => {
            assert_eq!(status, 403);
            assert!(
                message.contains("Wrong password for sip:alice@company.com"),
                "{message}"
            );
            assert_eq!(retry_in, None);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_user_is_as_unavailable_as_an_offline_one() {
    let server = server(USERS).await;
    let (mut alice, _bob) = registered_pair(&server).await;
    alice.call("sip:nobody@company.com").await;
    let nobody = alice.ended().await;
    alice.call("sip:carol@company.com").await;
    let carol = alice.ended().await;
    assert_eq!(
        nobody, carol,
        "nothing tells a user we lack from one signed out"
    );
    assert_eq!(carol.0, 480);
}

#[tokio::test]
async fn decline_is_603_on_both_sides() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    bob.send(Command::Decline(call)).await;
    let (status, _, message) = alice.ended().await;
    assert_eq!(status, 603);
    assert_eq!(message, "603 Decline: Declined");
    assert_eq!(bob.ended().await.0, 603);
    assert_eq!(alice.store.calls().unwrap()[0].status, Some(603));
}

#[tokio::test]
async fn busy_callee_answers_486() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    let mut carol = Agent::start("carol", "c-secret", Some(server.local_addr())).await;
    carol.registered().await;
    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    alice.reached(CallState::Connected).await;
    carol.call("sip:bob@company.com").await;
    let (status, _, message) = carol.ended().await;
    assert_eq!(status, 486);
    assert!(message.ends_with("Busy"), "{message}");
}

#[tokio::test]
async fn cancel_before_answer_ends_both_sides_with_487() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    alice.call("sip:bob@company.com").await;
    bob.incoming().await;
    let call = alice.reached(CallState::Ringing).await;
    alice.send(Command::Hangup(call)).await;
    assert_eq!(alice.ended().await.0, 487);
    let (status, _, _) = bob.ended().await;
    assert_eq!(status, 487);
    let b = bob.store.calls().unwrap();
    assert_eq!((b[0].status, b[0].answered_at), (Some(487), None));
}

/// A relay between Alice and the server that swallows the first INVITE: Alice's transaction must
/// retransmit it (Timer A) and the call must still go through.
#[tokio::test]
async fn first_invite_lost_is_retransmitted() {
    let server = server(USERS).await;
    let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let server_addr = server.local_addr();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let d = dropped.clone();
    tokio::spawn(async move {
        let mut client = None;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = relay.recv_from(&mut buf).await.unwrap();
            let bytes = &buf[..n];
            if from == server_addr {
                if let Some(c) = client {
                    relay.send_to(bytes, c).await.unwrap();
                }
            } else {
                client = Some(from);
                if bytes.starts_with(b"INVITE ")
                    && d.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
                {
                    continue;
                }
                relay.send_to(bytes, server_addr).await.unwrap();
            }
        }
    });
    let mut alice = Agent::start("alice", "a-secret", Some(relay_addr)).await;
    alice.registered().await;
    let mut bob = Agent::start("bob", "b-secret", Some(server_addr)).await;
    bob.registered().await;
    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    alice.reached(CallState::Connected).await;
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the INVITE was never resent"
    );
}

#[tokio::test]
async fn malformed_request_gets_400_and_the_server_keeps_serving() {
    let server = server(USERS).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let bad = format!(
        "INVITE sip:bob@company.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad1\r\nFrom: <sip:x@company.com>;tag=1\r\nTo: <sip:bob@company.com>\r\nCall-ID: bad-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(bad.as_bytes(), server.local_addr())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("SIP/2.0 400 "), "{text}");
    assert!(text.contains("Call-ID: bad-1"));
    // Garbage with no usable Via is dropped, not answered, and does not hurt the server.
    sock.send_to(b"\x16\x03\x01 hello?\r\n\r\n", server.local_addr())
        .await
        .unwrap();
    let (mut alice, mut bob) = registered_pair(&server).await;
    alice.call("sip:bob@company.com").await;
    bob.incoming().await;
}

#[tokio::test]
async fn registration_is_refreshed_before_expiry() {
    let mut cfg = parley::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    cfg.users.insert("alice".into(), "a-secret".into());
    cfg.min_expires = 1;
    let server = parley::server::Server::start(cfg).await.unwrap();
    let mut alice = Agent::start_with("alice", "a-secret", Some(server.local_addr()), |a| {
        a.expires = 2
    })
    .await;
    for _ in 0..3 {
        match alice
            .wait(|e| {
                matches!(
                    e,
                    Event::Registered { .. } | Event::RegistrationFailed { .. }
                )
            })
            .await
        {
            Event::Registered { expires, .. } => assert_eq!(expires, 2),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn unregister_on_shutdown_makes_the_user_unreachable() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    bob.send(Command::Shutdown).await;
    bob.wait(|e| matches!(e, Event::Unregistered { .. })).await;
    bob.wait(|e| matches!(e, Event::Stopped)).await;
    alice.call("sip:bob@company.com").await;
    assert_eq!(alice.ended().await.0, 480);
}

#[tokio::test]
async fn calls_work_over_tcp() {
    let server = server(USERS).await;
    let addr = Some(server.local_addr());
    let tcp =
        |a: &mut parley::engine::AccountConfig| a.transport = parley::sip::transport::Proto::Tcp;
    let mut alice = Agent::start_with("alice", "a-secret", addr, tcp).await;
    let mut bob = Agent::start_with("bob", "b-secret", addr, tcp).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("sip:bob@company.com").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(bob.ended().await.0, 200);
}

/// The registrar keeps several contacts per user, each with its own expiry, removes them with
/// `Contact: *`, and refuses intervals below its minimum with 423 and Min-Expires.
#[tokio::test]
async fn registrar_bindings() {
    use parley::sip::message::{code_of, decode, get_all, Inbound};
    let server = server(USERS).await;
    let mut cfg = parley::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    cfg.open = true;
    let open = parley::server::Server::start(cfg).await.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let mut n = 0;
    let mut register = |contact: &str, expires: u32| {
        n += 1;
        format!("REGISTER sip:company.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKr{n};rport\r\nFrom: <sip:dave@company.com>;tag=d\r\nTo: <sip:dave@company.com>\r\nCall-ID: reg-dave\r\nCSeq: {n} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n")
    };
    async fn ask(
        sock: &UdpSocket,
        to: std::net::SocketAddr,
        req: String,
    ) -> parley::sip::message::Response {
        sock.send_to(req.as_bytes(), to).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        match decode(&buf[..n]) {
            Inbound::Response(r) => r,
            other => panic!("{other:?}"),
        }
    }
    let to = open.local_addr();
    let r = ask(&sock, to, register("<sip:dave@127.0.0.1:7001>", 600)).await;
    assert_eq!(code_of(&r), 200);
    let r = ask(
        &sock,
        to,
        register("<sip:dave@127.0.0.1:7002>;expires=300", 600),
    )
    .await;
    let contacts = get_all(&r.headers, "Contact");
    assert_eq!(contacts.len(), 2, "{contacts:?}");
    assert!(contacts
        .iter()
        .any(|c| c.starts_with("<sip:dave@127.0.0.1:7001>;expires=") && !c.ends_with("=300")));
    assert!(contacts
        .iter()
        .any(|c| c == "<sip:dave@127.0.0.1:7002>;expires=300"));
    let r = ask(&sock, to, register("<sip:dave@127.0.0.1:7003>", 5)).await;
    assert_eq!(code_of(&r), 423);
    assert_eq!(get_all(&r.headers, "Min-Expires"), vec!["60"]);
    let r = ask(&sock, to, register("*", 0)).await;
    assert_eq!(code_of(&r), 200);
    assert!(get_all(&r.headers, "Contact").is_empty());
    // With passwords configured, an unknown user is challenged as a known one is (and no
    // answer of theirs can pass: tests/guessing.rs).
    let r = ask(
        &sock,
        server.local_addr(),
        register("<sip:dave@127.0.0.1:7001>", 600).replace("dave", "eve"),
    )
    .await;
    assert_eq!(code_of(&r), 401);
}

/// Hold and resume by re-INVITE through the proxy, and keypad digits by SIP INFO.
#[tokio::test]
async fn hold_resume_and_dtmf_in_a_call() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    alice.call("sip:bob@company.com").await;
    let bob_call = bob.incoming().await;
    bob.send(Command::Answer(bob_call)).await;
    let call = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;

    alice.send(Command::Hold { call, on: true }).await;
    assert_eq!(
        alice.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold {
            call,
            local: true,
            remote: false
        }
    );
    assert_eq!(
        bob.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold {
            call: bob_call,
            local: false,
            remote: true
        }
    );
    alice.send(Command::Hold { call, on: false }).await;
    assert_eq!(
        alice.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold {
            call,
            local: false,
            remote: false
        }
    );
    assert_eq!(
        bob.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold {
            call: bob_call,
            local: false,
            remote: false
        }
    );

    for d in ['5', '#'] {
        alice.send(Command::Dtmf { call, digit: d }).await;
        assert_eq!(
            bob.wait(|e| matches!(e, Event::Dtmf { .. })).await,
            Event::Dtmf {
                call: bob_call,
                digit: d
            }
        );
    }
    // Bob holds Alice too: the callee side sends its own re-INVITE.
    bob.send(Command::Hold {
        call: bob_call,
        on: true,
    })
    .await;
    assert_eq!(
        alice.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold {
            call,
            local: false,
            remote: true
        }
    );
    alice.send(Command::Hangup(call)).await;
    assert_eq!(bob.ended().await.0, 200);
}

async fn next(events: &mut tokio::sync::mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap()
}

/// A profile that hosts a server starts it again on the next start, before its accounts
/// register to it.
#[tokio::test]
async fn hosted_server_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parley.db");
    let mut port = 0;
    for round in 0..2 {
        let mut cfg = parley::engine::EngineConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.store = Some(std::sync::Arc::new(
            parley::store::Store::open(&db).unwrap(),
        ));
        let (h, mut events) = parley::engine::Engine::start(cfg).await.unwrap();
        if round == 0 {
            h.send(Command::HostServer {
                bind: "127.0.0.1:0".parse().unwrap(),
                domain: "lan.test".into(),
                user: None,
            })
            .await;
            let Event::ServerStarted { addr, .. } = next(&mut events).await else {
                panic!()
            };
            port = addr.port();
            let mut acc = parley::engine::AccountConfig::new("sip:alice@lan.test", "");
            acc.server = Some(addr.to_string());
            h.send(Command::AddAccount(Box::new(acc))).await;
            loop {
                if matches!(next(&mut events).await, Event::Registered { .. }) {
                    break;
                }
            }
            h.send(Command::Shutdown).await;
            while next(&mut events).await != Event::Stopped {}
        } else {
            h.send(Command::Restore).await;
            let mut started = false;
            loop {
                match next(&mut events).await {
                    Event::ServerStarted { addr, .. } => {
                        assert_eq!(addr.port(), port);
                        started = true;
                    }
                    Event::Registered { .. } => break,
                    Event::RegistrationFailed { message, .. } => panic!("{message}"),
                    _ => {}
                }
            }
            assert!(started);
        }
    }
}

/// A user signed in on two devices: both ring (parallel forking); the one that answers gets the
/// call and the other stops ringing without logging a missed call. A decline (6xx) on one
/// device ends the search and stops the other.
#[tokio::test]
async fn two_devices_ring_and_the_first_to_answer_wins() {
    let server = server(USERS).await;
    let (mut alice, mut desk) = registered_pair(&server).await;
    let mut laptop = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    laptop.registered().await;

    alice.call("sip:bob@company.com").await;
    let _ = desk.incoming().await;
    let on_laptop = laptop.incoming().await;
    laptop.send(Command::Answer(on_laptop)).await;
    alice.reached(CallState::Connected).await;
    let (status, reason, message) = desk.ended().await;
    assert_eq!(
        (status, reason.as_str(), message.as_str()),
        (200, "Answered elsewhere", "Answered on another device")
    );
    let desk_calls = desk.store.calls().unwrap();
    assert_eq!(desk_calls[0].answered_at, None);
    assert_eq!(desk_calls[0].status, Some(200));
    let Some(Event::Call { call, .. }) = alice
        .seen
        .iter()
        .rev()
        .find(|e| is_state(e, CallState::Connected))
        .cloned()
    else {
        unreachable!()
    };
    alice.send(Command::Hangup(call)).await;
    assert_eq!(laptop.ended().await.0, 200);
    alice.ended().await;

    alice.call("sip:bob@company.com").await;
    let on_desk = desk.incoming().await;
    laptop.incoming().await;
    desk.send(Command::Decline(on_desk)).await;
    assert_eq!(alice.ended().await.0, 603);
    assert_eq!(laptop.ended().await.0, 487);
}

/// An unanswered call is given up after the ring timeout: CANCEL, "no answer" for the caller,
/// a missed call for the callee.
#[tokio::test]
async fn unanswered_call_is_given_up() {
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let mut cfg = parley::engine::EngineConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.ring_timeout = Duration::from_secs(1);
    let (alice, mut events) = parley::engine::Engine::start(cfg).await.unwrap();
    let mut acc = parley::engine::AccountConfig::new("sip:alice@company.com", "a-secret");
    acc.server = Some(server.local_addr().to_string());
    alice.send(Command::AddAccount(Box::new(acc))).await;
    let account = loop {
        if let Event::Registered { account, .. } = next(&mut events).await {
            break account;
        }
    };
    alice
        .send(Command::Call {
            account,
            target: "bob".into(),
        })
        .await;
    bob.incoming().await;
    let ended = loop {
        if let ev @ Event::CallEnded { .. } = next(&mut events).await {
            break ev;
        }
    };
    let Event::CallEnded {
        status,
        message,
        outcome,
        ..
    } = ended
    else {
        unreachable!()
    };
    assert_eq!(status, 408);
    assert!(message.contains("No answer"), "{message}");
    assert_eq!(outcome, parley::engine::CallOutcome::NoAnswer);
    assert_eq!(bob.ended().await.0, 487);
}

/// A server bound to every interface (as `parley serve` is by default) still knows its own
/// Record-Route entries and Request-URIs, so in-dialog requests pass through it.
#[tokio::test]
async fn server_bound_to_all_interfaces_routes_in_dialog_requests() {
    let mut cfg = parley::server::ServerConfig::new("0.0.0.0:0".parse().unwrap(), DOMAIN);
    for (u, p) in USERS {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    let server = parley::server::Server::start(cfg).await.unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], server.local_addr().port()).into();
    let mut alice = Agent::start("alice", "a-secret", Some(addr)).await;
    let mut bob = Agent::start("bob", "b-secret", Some(addr)).await;
    alice.registered().await;
    bob.registered().await;
    alice
        .call(&format!("sip:bob@127.0.0.1:{}", addr.port()))
        .await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(bob.ended().await.1, "Remote hung up");
}

/// Registered over TCP, the server goes away: the closed connection is noticed at once (no
/// keepalive needs to go unanswered first), a new REGISTER tries, and the account says it is
/// offline.
#[tokio::test]
async fn a_closed_registration_connection_is_noticed_at_once() {
    let server = server(&[("bob", "pw")]).await;
    let addr = server.local_addr();
    let mut bob = Agent::start_engine(
        "bob",
        "pw",
        Some(addr),
        |_| {},
        |a| a.transport = parley::sip::transport::Proto::Tcp,
    )
    .await;
    bob.registered().await;
    drop(server);
    let offline = bob
        .wait(|e| matches!(e, Event::Connection { online: false, .. }))
        .await;
    let Event::Connection { message, .. } = offline else {
        unreachable!()
    };
    assert!(message.starts_with("Offline"), "{message}");
}
