//! A small DNS server on loopback answering real DNS packets from a fixed table of records, for
//! RFC 3263 tests (NAPTR, SRV, A). Names it does not know get NXDOMAIN.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::UdpSocket;

/// The records served: (query type, name with trailing dot, data).
pub type Zone = Vec<(RecordType, String, RData)>;

pub fn naptr(order: u16, pref: u16, services: &str, replacement: &str) -> RData {
    RData::NAPTR(NAPTR::new(
        order,
        pref,
        b"s".to_vec().into_boxed_slice(),
        services.as_bytes().to_vec().into_boxed_slice(),
        Vec::new().into_boxed_slice(),
        Name::from_ascii(replacement).unwrap(),
    ))
}

pub fn srv(priority: u16, weight: u16, port: u16, target: &str) -> RData {
    RData::SRV(SRV::new(
        priority,
        weight,
        port,
        Name::from_ascii(target).unwrap(),
    ))
}

pub fn a(ip: Ipv4Addr) -> RData {
    RData::A(A(ip))
}

/// Starts the server; returns its address.
pub async fn serve(zone: Zone) -> SocketAddr {
    serve_logged(zone).await.0
}

/// Every (type, name) asked, in order.
pub type QueryLog = std::sync::Arc<std::sync::Mutex<Vec<(RecordType, String)>>>;

/// As `serve`, also logging the questions asked.
pub async fn serve_logged(zone: Zone) -> (SocketAddr, QueryLog) {
    let log = QueryLog::default();
    let asked = log.clone();
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
                asked.lock().unwrap().push((q.query_type(), name.clone()));
                let found: Vec<_> = zone
                    .iter()
                    .filter(|(t, n, _)| *t == q.query_type() && *n == name)
                    .collect();
                let known = zone.iter().any(|(_, n, _)| *n == name);
                for (_, _, data) in found {
                    resp.add_answer(Record::from_rdata(q.name().clone(), 60, data.clone()));
                }
                if !known {
                    resp.set_response_code(ResponseCode::NXDomain);
                }
            }
            match resp.to_vec() {
                Ok(bytes) => {
                    let _ = sock.send_to(&bytes, from).await;
                }
                Err(e) => eprintln!("fake DNS cannot encode its answer: {e}"),
            }
        }
    });
    (addr, log)
}
