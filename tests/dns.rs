//! Account domains are located like a provider's: DNS SRV (`_sip._udp`), then the target's A
//! record. A small DNS server on loopback answers with real DNS packets.

mod common;

use common::dns::{self, Zone};
use common::*;
use hickory_proto::rr::RecordType;
use parley::engine::{AccountConfig, Command, Engine, EngineConfig, Event};

#[tokio::test]
async fn account_domain_is_found_by_srv() {
    let server = server(USERS).await;
    // `_sip._udp.company.com SRV 0 5 <port> sip1.company.com.` and `sip1.company.com A 127.0.0.1`.
    let zone: Zone = vec![
        (
            RecordType::SRV,
            "_sip._udp.company.com.".into(),
            dns::srv(0, 5, server.local_addr().port(), "sip1.company.com."),
        ),
        (
            RecordType::A,
            "sip1.company.com.".into(),
            dns::a([127, 0, 0, 1].into()),
        ),
    ];
    let (dns, asked) = dns::serve_logged(zone).await;
    let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.dns = Some(dns);
    let (handle, mut events) = Engine::start(cfg).await.unwrap();
    handle
        .send(Command::AddAccount(Box::new(AccountConfig::new(
            "sip:alice@company.com",
            "a-secret",
        ))))
        .await;
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(20), events.recv())
            .await
            .unwrap()
            .unwrap();
        match ev {
            Event::Registered { aor, .. } => {
                assert_eq!(aor, "sip:alice@company.com");
                break;
            }
            Event::RegistrationFailed { message, .. } => panic!("{message}"),
            Event::Error { message } => panic!("{message}"),
            _ => {}
        }
    }
    let srv = (RecordType::SRV, "_sip._udp.company.com.".to_string());
    assert!(asked.lock().unwrap().contains(&srv));
}
