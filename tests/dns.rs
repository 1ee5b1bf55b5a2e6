//! Account domains are located like a provider's: DNS SRV (`_sip._udp`), then the target's A
//! record. A small DNS server on loopback answers with real DNS packets.

mod common;

use common::*;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use parley::engine::{AccountConfig, Command, Engine, EngineConfig, Event};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Serves `_sip._udp.company.com SRV 0 5 <port> sip1.company.com.` and `sip1.company.com A 127.0.0.1`.
async fn fake_dns(sip_port: u16, srv_queries: Arc<AtomicU32>) -> std::net::SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::new();
            resp.set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(query.op_code())
                .set_recursion_desired(true)
                .set_recursion_available(true)
                .set_authoritative(true);
            resp.add_queries(query.queries().to_vec());
            for q in query.queries() {
                let name = q.name().to_ascii().to_ascii_lowercase();
                match (q.query_type(), name.as_str()) {
                    (RecordType::SRV, "_sip._udp.company.com.") => {
                        srv_queries.fetch_add(1, Ordering::SeqCst);
                        let target = Name::from_ascii("sip1.company.com.").unwrap();
                        resp.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::SRV(SRV::new(0, 5, sip_port, target)),
                        ));
                    }
                    (RecordType::A, "sip1.company.com.") => {
                        resp.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::A(A::new(127, 0, 0, 1)),
                        ));
                    }
                    (RecordType::AAAA, "sip1.company.com.") => {}
                    _ => {
                        resp.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test]
async fn account_domain_is_found_by_srv() {
    let server = server(USERS).await;
    let queries = Arc::new(AtomicU32::new(0));
    let dns = fake_dns(server.local_addr().port(), queries.clone()).await;
    let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.dns = Some(dns);
    let (handle, mut events) = Engine::start(cfg).await.unwrap();
    handle
        .send(Command::AddAccount(AccountConfig::new(
            "sip:alice@company.com",
            "a-secret",
        )))
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
    assert!(queries.load(Ordering::SeqCst) >= 1);
}
