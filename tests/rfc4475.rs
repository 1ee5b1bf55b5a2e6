//! RFC 4475 torture messages through our decoder: what must parse parses, what must be refused
//! gets the RFC's status, and nothing panics.

use parley::sip::message::{code_of, decode, Inbound};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn outcome(name: &str) -> String {
    match decode(&load(name)) {
        Inbound::Request(_) => "request".into(),
        Inbound::Response(r) => format!("response {}", code_of(&r)),
        Inbound::Rejected { rejection, .. } => format!("reject {}", rejection.status),
        Inbound::Dropped(_) => "drop".into(),
    }
}

#[test]
fn valid_messages_parse() {
    for name in [
        "wsinv",
        "esc01",
        "escnull",
        "lwsdisp",
        "longreq",
        "dblreq",
        "transports",
        "mpart01",
        "unksm2",
        "cparam01",
        "cparam02",
        "regescrt",
        "sdp01",
        "inv2543",
        "bext01",
        "invut",
        "regaut01",
        "zeromf",
        "badbranch",
    ] {
        assert_eq!(outcome(name), "request", "{name}");
    }
    assert_eq!(outcome("unreason"), "response 200");
    assert_eq!(outcome("noreason"), "response 100");
}

#[test]
fn extension_methods_are_answered_501() {
    assert_eq!(outcome("intmeth"), "reject 501");
    // RE%47IST%45R is an extension method as far as any parser can tell.
    assert_eq!(outcome("esc02"), "reject 501");
}

/// rsip 0.4 cannot tokenize a Request-URI whose user part holds `;` (RFC 4475 3.1.1.9).
/// We cannot serve such a request, so it is refused cleanly with 400 instead of crashing.
#[test]
fn rsip_uri_limit_is_refused_cleanly() {
    let Inbound::Rejected { rejection, reply } = decode(&load("semiuri")) else {
        panic!()
    };
    assert_eq!(rejection.status, 400);
    assert!(rejection.reason.starts_with("Unsupported syntax"));
    assert!(String::from_utf8(reply)
        .unwrap()
        .contains("Call-ID: semiuri.0ha0isndaksdj"));
}

#[test]
fn malformed_requests_are_refused_with_the_rfc_status() {
    for name in [
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "badaspec",
        "baddn",
        "mismatch01",
        "insuf",
        "multi01",
        "mcl01",
    ] {
        assert_eq!(outcome(name), "reject 400", "{name}");
    }
    assert_eq!(outcome("badvers"), "reject 505");
    assert!(["reject 400", "reject 501"].contains(&outcome("mismatch02").as_str()));
    assert_eq!(outcome("unkscm"), "reject 416");
    assert_eq!(outcome("novelsc"), "reject 416");
}

#[test]
fn broken_responses_are_dropped() {
    assert_eq!(outcome("scalarlg"), "drop");
    assert_eq!(outcome("bigcode"), "drop");
}

#[test]
fn refusals_carry_a_routable_reply() {
    let Inbound::Rejected { reply, .. } = decode(&load("badinv01")) else {
        panic!()
    };
    let text = String::from_utf8(reply).unwrap();
    assert!(text.starts_with("SIP/2.0 400 "), "{text}");
    assert!(text.contains("Call-ID: badinv01.0ha0isndaksdjasdf3234nas"));
}
