//! The embedded proxy at the edges of RFC 3261 16 and RFC 5393, each case sent on the wire by
//! hand and judged by what comes back: no relay for foreign or forged routes, loops detected,
//! forking bounded, CANCEL without context, Allow on 405, Timer C, digest checks.

mod common;

use common::*;
use parley::sip::message::{code_of, get_all, get_lines, MessageExt, Method, Request};

fn branch_of(r: &Request) -> String {
    r.top_via()
        .and_then(|v| v.branch().map(str::to_string))
        .unwrap_or_default()
}
use std::collections::HashSet;

/// A request with a To tag for a foreign host is refused, never relayed, whatever the auth
/// settings; so is a new request for a foreign domain, and a Route naming us that we never made.
#[tokio::test]
async fn no_relay_for_foreign_targets_or_forged_routes() {
    let server = server(USERS).await;
    let victim = Wire::on("127.0.0.77").await;
    let mut w = Wire::on("127.0.0.1").await;
    let s = server.local_addr();
    let foreign = format!("sip:victim@{}", victim.addr);
    let cases = [
        ("MESSAGE", foreign.clone(), String::new(), 404),
        ("INVITE", foreign.clone(), String::new(), 404),
        (
            "MESSAGE",
            foreign.clone(),
            format!("Route: <sip:{s};lr>\r\n"),
            403,
        ),
        (
            "INVITE",
            format!("sip:{s};lr"),
            format!("Route: <{foreign}>\r\n"),
            403,
        ),
    ];
    for (method, uri, route, expected) in cases {
        let text = w.request_text(
            method,
            &uri,
            &format!("To: <{foreign}>;tag=made-up\r\n{route}"),
            "",
        );
        w.send(&text, s).await;
        let r = w.final_response().await;
        assert_eq!(code_of(&r), expected, "{method} {uri} {route}: {r}");
    }
    let text = w.request_text("MESSAGE", &foreign, &format!("To: <{foreign}>\r\n"), "hi");
    w.send(&text, s).await;
    assert_eq!(code_of(&w.final_response().await), 403);
    // Every answer came back and none was a relay: the victim has nothing to read.
    let mut buf = [0u8; 16];
    assert!(victim.sock.try_recv_from(&mut buf).is_err());
}

/// Two servers whose bindings for bob point at each other: the INVITE spirals once through
/// each, then comes back unchanged, and the loop is reported as 482 (16.3 step 4).
#[tokio::test]
async fn a_loop_between_two_servers_is_482() {
    let (a, b) = (open_server().await, open_server().await);
    let mut w = Wire::on("127.0.0.1").await;
    w.register(
        a.local_addr(),
        "bob",
        &[format!("<sip:bob@{}>", b.local_addr())],
    )
    .await;
    w.register(
        b.local_addr(),
        "bob",
        &[format!("<sip:bob@{}>", a.local_addr())],
    )
    .await;
    let text = w.request_text(
        "INVITE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\n",
        "",
    );
    w.send(&text, a.local_addr()).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 482, "{r}");
}

/// A user with three contacts, two of them pointing back at the server: only the real phone
/// is rung, once, even with a small Max-Forwards (once it was reached 63 times).
#[tokio::test]
async fn bindings_to_the_server_itself_are_never_targets() {
    let server = open_server().await;
    let s = server.local_addr();
    let phone = Wire::on("127.0.0.1").await;
    let mut w = Wire::on("127.0.0.1").await;
    let contacts = [
        format!("<sip:bob@{}>", phone.addr),
        format!("<sip:bob@{s}>"),
        format!("<sip:other@{s}>"),
    ];
    w.register(s, "bob", &contacts).await;
    let text = w.request_text(
        "INVITE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\nMax-Forwards: 6\r\n",
        "",
    );
    w.send(&text.replace("Max-Forwards: 70\r\n", ""), s).await;
    let ring = phone.request().await;
    phone.answer(&ring, 486, s).await;
    assert_eq!(code_of(&w.final_response().await), 486);
    // The proxy answers upstream only once every branch is over, so all INVITEs came by now.
    let mut branches = HashSet::from([branch_of(&ring)]);
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = phone.sock.try_recv_from(&mut buf) {
        if let parley::sip::message::Inbound::Request(r) = parley::sip::message::decode(&buf[..n]) {
            if r.method == Method::Invite {
                branches.insert(branch_of(&r));
            }
        }
    }
    assert_eq!(branches.len(), 1, "the phone was rung on {branches:?}");
}

/// Max-Breadth (RFC 5393): three devices but room for two branches; each carries its share;
/// with none left a fork is refused with 440.
#[tokio::test]
async fn forking_is_bounded_by_max_breadth() {
    let server = open_server().await;
    let s = server.local_addr();
    let phones = [
        Wire::on("127.0.0.1").await,
        Wire::on("127.0.0.1").await,
        Wire::on("127.0.0.1").await,
    ];
    let mut w = Wire::on("127.0.0.1").await;
    let contacts: Vec<String> = phones
        .iter()
        .map(|p| format!("<sip:bob@{}>", p.addr))
        .collect();
    w.register(s, "bob", &contacts).await;
    let text = w.request_text(
        "INVITE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\nMax-Breadth: 2\r\n",
        "",
    );
    w.send(&text, s).await;
    // The newest two contacts are rung, each with Max-Breadth 1.
    for p in &phones[1..] {
        let ring = p.request().await;
        assert_eq!(get_all(&ring.headers, "Max-Breadth"), vec!["1"]);
        p.answer(&ring, 486, s).await;
    }
    assert_eq!(code_of(&w.final_response().await), 486);
    let mut buf = [0u8; 16];
    assert!(
        phones[0].sock.try_recv_from(&mut buf).is_err(),
        "a third branch"
    );
    let text = w.request_text(
        "INVITE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\nMax-Breadth: 0\r\n",
        "",
    );
    w.send(&text, s).await;
    assert_eq!(code_of(&w.final_response().await), 440);
}

/// A request for the server itself that it does not serve gets 405 with Allow.
#[tokio::test]
async fn method_not_allowed_names_what_is() {
    let server = server(USERS).await;
    let mut w = Wire::on("127.0.0.1").await;
    let text = w.request_text(
        "SUBSCRIBE",
        "sip:company.com",
        "To: <sip:company.com>\r\n",
        "",
    );
    w.send(&text, server.local_addr()).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 405);
    assert_eq!(get_lines(&r.headers, "Allow"), vec!["REGISTER, OPTIONS"]);
}

/// Sets up caller -> server -> phone with hand-driven wires and returns the phone's INVITE
/// once the caller has the 200 (the dialog is record-routed by the server).
async fn dialog_through(
    server: std::net::SocketAddr,
    caller: &mut Wire,
    phone: &mut Wire,
) -> (Request, parley::sip::message::Response) {
    phone
        .register(server, "bob", &[format!("<sip:bob@{}>", phone.addr)])
        .await;
    let contact = format!("Contact: <sip:tester@{}>\r\n", caller.addr);
    let text = caller.request_text(
        "INVITE",
        "sip:bob@company.com",
        &format!("To: <sip:bob@company.com>\r\n{contact}"),
        "",
    );
    caller.send(&text, server).await;
    let invite = phone.request().await;
    let mut ok = parley::sip::message::response_to(&invite, 200, None, Some("ph1"));
    for rr in get_all(&invite.headers, "Record-Route") {
        parley::sip::message::push(&mut ok.headers, "Record-Route", rr);
    }
    parley::sip::message::push(
        &mut ok.headers,
        "Contact",
        format!("<sip:bob@{}>", phone.addr),
    );
    phone
        .sock
        .send_to(&parley::sip::message::encode_response(&ok), server)
        .await
        .unwrap();
    let answer = caller.final_response().await;
    assert_eq!(code_of(&answer), 200, "{answer}");
    (invite, answer)
}

/// A strict router before us puts our Record-Route into the Request-URI and the remote target
/// into the last Route (RFC 3261 16.4): we restore the Request-URI and forward the BYE.
#[tokio::test]
async fn strict_routing_previous_hop_is_handled() {
    let server = open_server().await;
    let s = server.local_addr();
    let (mut caller, mut phone) = (Wire::on("127.0.0.1").await, Wire::on("127.0.0.1").await);
    let (invite, _) = dialog_through(s, &mut caller, &mut phone).await;
    let rr = get_all(&invite.headers, "Record-Route");
    let ours = parley::sip::headers::NameAddr::parse(&rr[0]).unwrap().uri;
    let target = format!("sip:tester@{}", caller.addr);
    let bye = format!(
        "BYE {ours} SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bKstrict1;rport\r\n\
         Route: <{target}>\r\nMax-Forwards: 70\r\nFrom: {to};tag=ph1\r\nTo: {from}\r\n\
         Call-ID: {cid}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        p = phone.addr,
        to = invite.header("To").unwrap(),
        from = invite.header("From").unwrap(),
        cid = invite.call_id(),
    );
    phone.send(&bye, s).await;
    let got = caller.request().await;
    assert_eq!(got.method, Method::Bye);
    assert_eq!(got.uri.to_string(), target);
    assert!(get_all(&got.headers, "Route").is_empty());
    // The same BYE with a Record-Route token we never issued is refused, not relayed.
    let forged = bye
        .replace(&ours, &format!("sip:{s};lr"))
        .replace("strict1", "strict2");
    phone.send(&forged, s).await;
    assert_eq!(code_of(&phone.final_response().await), 403);
}

/// A CANCEL for which the server has no INVITE is forwarded statelessly to the user's device
/// (16.10), and the device's answer is relayed back to the sender.
#[tokio::test]
async fn cancel_without_context_is_forwarded_statelessly() {
    let server = open_server().await;
    let s = server.local_addr();
    let mut phone = Wire::on("127.0.0.1").await;
    phone
        .register(s, "bob", &[format!("<sip:bob@{}>", phone.addr)])
        .await;
    let mut w = Wire::on("127.0.0.1").await;
    let text = w.request_text(
        "CANCEL",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\n",
        "",
    );
    w.send(&text, s).await;
    let cancel = phone.request().await;
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(get_all(&cancel.headers, "Via").len(), 2);
    phone.answer(&cancel, 481, s).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 481);
    assert_eq!(get_all(&r.headers, "Via").len(), 1);
}

/// Timer C (16.6 step 11): a phone that rings forever is cancelled; when it does not even
/// answer the CANCEL, the caller still gets a final answer (408) and the branch is dropped.
#[tokio::test]
async fn timer_c_ends_a_branch_that_rings_forever() {
    let server = open_server_with(|cfg| {
        cfg.timer_c = std::time::Duration::from_millis(300);
        cfg.timers.t1 = std::time::Duration::from_millis(10);
    })
    .await;
    let s = server.local_addr();
    let mut phone = Wire::on("127.0.0.1").await;
    phone
        .register(s, "bob", &[format!("<sip:bob@{}>", phone.addr)])
        .await;
    let mut w = Wire::on("127.0.0.1").await;
    let text = w.request_text(
        "INVITE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\n",
        "",
    );
    w.send(&text, s).await;
    let invite = phone.request().await;
    phone.answer(&invite, 180, s).await;
    loop {
        let r = phone.request().await;
        if r.method == Method::Cancel {
            break;
        }
    }
    // The phone says nothing more.
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 408, "{r}");
}

/// The server offers MD5 and SHA-256 (RFC 8760; MD5 first for clients that read only the first
/// challenge, while ours picks SHA-256), and refuses credentials whose digest uri is not the
/// Request-URI (a replay against another resource) with 400.
#[tokio::test]
async fn digest_offers_sha256_and_checks_the_uri() {
    use parley::sip::digest::Challenge;
    let server = server(USERS).await;
    let s = server.local_addr();
    let mut w = Wire::on("127.0.0.1").await;
    let reg = |w: &mut Wire, auth: &str| {
        w.request_text(
            "REGISTER",
            "sip:company.com",
            &format!(
                "To: <sip:alice@company.com>\r\nContact: <sip:alice@{}>\r\n{auth}",
                w.addr
            ),
            "",
        )
        .replace("sip:tester@", "sip:alice@")
    };
    let text = reg(&mut w, "");
    w.send(&text, s).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 401);
    let offers = get_lines(&r.headers, "WWW-Authenticate");
    assert_eq!(offers.len(), 2, "{offers:?}");
    // MD5 first, for clients that read only the first challenge; SHA-256 beside it.
    assert!(offers[0].contains("algorithm=MD5") && offers[1].contains("algorithm=SHA-256"));
    let ch = Challenge::parse(&offers[1]).unwrap();
    assert_eq!(Challenge::best_per_realm(&offers), vec![ch.clone()]);
    let answer = ch.answer(
        "REGISTER",
        "sip:elsewhere.org",
        "alice",
        "a-secret",
        "c1",
        1,
    );
    let text = reg(&mut w, &format!("Authorization: {answer}\r\n"));
    w.send(&text, s).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 400, "{r}");
    let answer = ch.answer("REGISTER", "sip:company.com", "alice", "a-secret", "c1", 2);
    let text = reg(&mut w, &format!("Authorization: {answer}\r\n"));
    w.send(&text, s).await;
    assert_eq!(code_of(&w.final_response().await), 200);
}

/// Past its limit the server turns new work away with 503 and Retry-After (RFC 3261 21.5.4),
/// and the call it already took still completes: its 200 reaches the caller and its BYE the
/// phone. (The limit here is on transactions; a backlog in the queue does the same.)
#[tokio::test]
async fn past_its_limit_new_requests_get_503_and_taken_calls_complete() {
    let server = open_server_with(|cfg| {
        // The phone's REGISTER lingers (Timer J) and the call takes two: three is full.
        cfg.limits.max_transactions = 3;
    })
    .await;
    let s = server.local_addr();
    let mut phone = Wire::on("127.0.0.1").await;
    let mut caller = Wire::on("127.0.0.1").await;
    phone
        .register(s, "bob", &[format!("<sip:bob@{}>", phone.addr)])
        .await;
    let contact = format!("Contact: <sip:tester@{}>\r\n", caller.addr);
    let to_bob = format!("To: <sip:bob@company.com>\r\n{contact}");
    let text = caller.request_text("INVITE", "sip:bob@company.com", &to_bob, "");
    caller.send(&text, s).await;
    let invite = phone.request().await;

    let mut late = Wire::on("127.0.0.1").await;
    for (method, uri, to) in [
        (
            "REGISTER",
            "sip:company.com",
            "To: <sip:carol@company.com>\r\nContact: <sip:carol@127.0.0.1:9>\r\n",
        ),
        (
            "INVITE",
            "sip:bob@company.com",
            "To: <sip:bob@company.com>\r\n",
        ),
    ] {
        let text = late.request_text(method, uri, to, "");
        late.send(&text, s).await;
        let r = late.final_response().await;
        assert_eq!(code_of(&r), 503, "{method}: {r}");
        assert_eq!(get_lines(&r.headers, "Retry-After"), vec!["5"], "{r}");
    }

    let mut ok = parley::sip::message::response_to(&invite, 200, None, Some("ph1"));
    let rr = get_all(&invite.headers, "Record-Route");
    for r in &rr {
        parley::sip::message::push(&mut ok.headers, "Record-Route", r.clone());
    }
    let phone_uri = format!("<sip:bob@{}>", phone.addr);
    parley::sip::message::push(&mut ok.headers, "Contact", phone_uri.clone());
    let ok = parley::sip::message::encode_response(&ok);
    phone.sock.send_to(&ok, s).await.unwrap();
    let answer = caller.final_response().await;
    assert_eq!(
        code_of(&answer),
        200,
        "the taken call is answered: {answer}"
    );
    let bye = caller
        .request_text(
            "BYE",
            &format!("sip:bob@{}", phone.addr),
            &format!(
                "To: <sip:bob@company.com>;tag=ph1\r\nRoute: {}\r\n",
                rr.join(", ")
            ),
            "",
        )
        .replace("CSeq: 1 BYE", "CSeq: 2 BYE")
        .replace(
            &format!("Call-ID: wire-{}-2", caller.addr.port()),
            &format!("Call-ID: wire-{}-1", caller.addr.port()),
        );
    caller.send(&bye, s).await;
    let got = phone.request().await;
    assert_eq!(
        got.method,
        Method::Bye,
        "the BYE of the taken call goes through"
    );
}

/// The registrar's table is bounded: contacts per user (403 past the limit) and users (503 with
/// Retry-After past it); a lookup of a user nobody registered adds nothing.
#[tokio::test]
async fn bindings_are_bounded_and_each_limit_has_its_status() {
    let server = open_server_with(|cfg| {
        cfg.max_users = 2;
        cfg.max_bindings = 2;
    })
    .await;
    let s = server.local_addr();
    let mut w = Wire::on("127.0.0.1").await;
    let two = [
        "<sip:bob@127.0.0.1:7001>".to_string(),
        "<sip:bob@127.0.0.1:7002>".into(),
    ];
    w.register(s, "bob", &two).await;
    let mut try_register = |user: &str, contact: &str| {
        w.request_text(
            "REGISTER",
            "sip:company.com",
            &format!("To: <sip:{user}@company.com>\r\nContact: <{contact}>\r\nExpires: 600\r\n"),
            "",
        )
    };
    let third = try_register("bob", "sip:bob@127.0.0.1:7003");
    let carol = try_register("carol", "sip:carol@127.0.0.1:7004");
    let dave = try_register("dave", "sip:dave@127.0.0.1:7005");
    w.send(&third, s).await;
    assert_eq!(
        code_of(&w.final_response().await),
        403,
        "a third contact for bob"
    );
    // An INVITE to a made-up user is 480, as for a real one not signed in, and takes no
    // room from real ones.
    let ghost = w.request_text(
        "INVITE",
        "sip:ghost@company.com",
        "To: <sip:ghost@company.com>\r\n",
        "",
    );
    w.send(&ghost, s).await;
    assert_eq!(code_of(&w.final_response().await), 480);
    w.send(&carol, s).await;
    assert_eq!(code_of(&w.final_response().await), 200, "room for carol");
    w.send(&dave, s).await;
    let r = w.final_response().await;
    assert_eq!(code_of(&r), 503, "a third user: {r}");
    assert_eq!(get_lines(&r.headers, "Retry-After"), vec!["5"]);
}

/// TCP connections past the limit are closed as they come; the ones taken keep working.
#[tokio::test]
async fn tcp_connections_past_the_limit_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = open_server_with(|cfg| {
        cfg.limits.max_connections = 1;
    })
    .await;
    let s = server.local_addr();
    let options = |port: u16, n: u32| {
        format!(
            "OPTIONS sip:company.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bKtcp{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:t@company.com>;tag=t{n}\r\nTo: <sip:company.com>\r\n\
             Call-ID: tcp-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut first = tokio::net::TcpStream::connect(s).await.unwrap();
    let first_port = first.local_addr().unwrap().port();
    first
        .write_all(options(first_port, 1).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = first.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let mut second = tokio::net::TcpStream::connect(s).await.unwrap();
    let port = second.local_addr().unwrap().port();
    let _ = second.write_all(options(port, 2).as_bytes()).await;
    let n = second.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "the second connection is closed unanswered");
    first
        .write_all(options(first_port, 3).as_bytes())
        .await
        .unwrap();
    let n = first.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "the first one still works"
    );
}
