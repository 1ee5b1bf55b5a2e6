//! Registration through NATs (RFC 5626 outbound, RFC 3581): the flow a registration opens is
//! kept alive by keepalives (STUN on UDP, CRLF on TCP); a flow that dies, or whose public
//! address moves, registers again at once. With a registrar that knows no outbound, the
//! address it saw us at (`received`/`rport`, or STUN) goes into our Contacts, as Linphone and
//! baresip do.

use super::register::Account;
use super::{AccountId, Core};
use crate::nat::keepalive::{Answer, Due, Keepalive};
use crate::nat::stun::TxId;
use crate::sip::message::{MessageExt, Response};
use crate::sip::transport::{Peer, Proto};
use sha1::{Digest, Sha1};
use std::net::SocketAddr;
use std::time::Instant;

/// The flow to a registrar.
#[derive(Debug)]
pub(crate) struct Flow {
    pub server: Peer,
    pub keepalive: Keepalive,
    /// The registrar said `Require: outbound`: it reaches us on this flow, whatever our Contact.
    pub outbound: bool,
}

/// The settings key of this profile's device ID.
const DEVICE_KEY: &str = "device_id";

/// This profile's lasting device ID: kept in its store (made on first use), else new for
/// this run (an engine without a profile has nothing to be recognised by later).
pub(crate) fn device_id(store: Option<&crate::store::Store>) -> String {
    let saved = store
        .and_then(|s| s.settings().ok())
        .and_then(|all| all.into_iter().find(|(k, _)| k == DEVICE_KEY))
        .map(|(_, v)| v);
    if let Some(id) = saved {
        return id;
    }
    let id = format!("{:032x}", rand::random::<u128>());
    if let Some(s) = store {
        if let Err(e) = s.set_setting(DEVICE_KEY, &id) {
            tracing::warn!("cannot keep this device's ID: {e}");
        }
    }
    id
}

/// An account's instance ID on this device (RFC 5626 4.1): the same across restarts of one
/// profile, another for another profile or device.
pub(crate) fn instance_id(aor: &str, device: &str) -> String {
    let mut h = Sha1::new();
    for part in [aor, device] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let hex =
        |r: std::ops::Range<usize>| d[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
    // A name-based UUID's layout (version 5, RFC 4122 variant).
    format!(
        "urn:uuid:{}-{}-5{}-{:x}{}-{}",
        hex(0..4),
        hex(4..6),
        &hex(6..8)[1..],
        (d[8] & 0x3) | 0x8,
        &hex(8..10)[1..],
        hex(10..16)
    )
}

/// A REGISTER's Contact with our instance and registration ID (RFC 5626 4.2).
pub(crate) fn outbound_contact(contact: &str, acc: &Account) -> String {
    format!("{contact};+sip.instance=\"<{}>\";reg-id=1", acc.instance)
}

/// Where the server saw a request come from, by the Via it sent back (RFC 3581).
fn seen_at(resp: &Response) -> Option<SocketAddr> {
    let via = resp.top_via()?;
    let host = via.params.get("received").unwrap_or(&via.host);
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let port = via
        .params
        .get("rport")
        .and_then(|p| p.parse().ok())
        .or(via.port)?;
    Some(SocketAddr::new(ip, port))
}

impl Core {
    /// After a 2xx to REGISTER: keeps (or opens) the flow's keepalives and learns our public
    /// address. True when that address changed and a new REGISTER went out with it.
    pub(super) fn flow_registered(&mut self, id: AccountId, server: Peer, resp: &Response) -> bool {
        let outbound = resp.header("Require").is_some_and(|r| {
            r.split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("outbound"))
        });
        let flow_timer = resp
            .header("Flow-Timer")
            .and_then(|f| f.trim().parse().ok());
        let acc = self.accounts.get_mut(&id).unwrap();
        match &mut acc.flow {
            Some(f) if f.server == server => {
                f.outbound = outbound;
                f.keepalive.expect_pongs(outbound);
            }
            _ => {
                let keepalive = Keepalive::new(server.proto, flow_timer, outbound, Instant::now());
                acc.flow = Some(Flow {
                    server,
                    keepalive,
                    outbound,
                })
            }
        }
        match seen_at(resp) {
            Some(seen) => self.learn_public(id, server, seen),
            None => false,
        }
    }

    /// Our address as `server` sees it: a change (over UDP) goes into our Contact at once.
    fn learn_public(&mut self, id: AccountId, server: Peer, seen: SocketAddr) -> bool {
        if server.proto != Proto::Udp {
            return false; // a TCP source port is the connection's, not a way in
        }
        let local = self.endpoint.contact_addr(server.addr);
        let public = (seen != local).then_some((server, seen));
        let Some(acc) = self.accounts.get_mut(&id) else {
            return false;
        };
        if acc.public == public {
            return false;
        }
        tracing::info!(
            "{}: seen from the server at {seen} (we are {local})",
            acc.uri.aor()
        );
        acc.public = public;
        true
    }

    /// A TLS account's Contact says `transport=tls` on our SIP port, so TLS is taken there too,
    /// with the profile's certificate (the one DTLS-SRTP shows): a registrar that connects to
    /// the Contact instead of reusing our connection (Asterisk's `rewrite_contact=no`) then
    /// reaches us. Chosen over a port of its own so that the Contact stays one address.
    pub(super) fn take_tls_on_sip_port(&self) {
        if self.endpoint.takes_tls_on_tcp() {
            return;
        }
        let names = [super::srtp::PROFILE_NAME.to_string()];
        let made = crate::tls::Identity::of_profile(self.config.tls_dir.as_deref(), &names);
        match made.and_then(|id| id.server_config()) {
            Ok(config) => self.endpoint.accept_tls_on_tcp(config),
            Err(e) => tracing::warn!("calls over TLS cannot reach us directly: {e}"),
        }
    }

    /// The earliest keepalive due.
    pub(super) fn next_keepalive(&self) -> Option<Instant> {
        self.accounts
            .values()
            .filter(|a| a.registered())
            .filter_map(|a| a.flow.as_ref())
            .map(|f| f.keepalive.next_deadline())
            .min()
    }

    /// Sends the keepalives due; a failed flow registers again at once.
    pub(super) async fn keepalives(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for (id, acc) in self.accounts.iter_mut().filter(|(_, a)| a.registered()) {
            let Some(flow) = &mut acc.flow else { continue };
            match flow.keepalive.poll(now) {
                Some(Due::Ping(how)) => {
                    let tx = self.endpoint.ping(flow.server, how);
                    flow.keepalive.sent(tx, now);
                }
                Some(Due::Failed) => failed.push(*id),
                None => {}
            }
        }
        for id in failed {
            tracing::info!("the flow to the registrar failed: registering again");
            self.flow_failed(id, "Offline: the server stopped answering; reconnecting…")
                .await;
        }
    }

    /// A registration's flow is gone: offline until a new REGISTER (sent now) gets through.
    async fn flow_failed(&mut self, id: AccountId, message: &str) {
        let Some(acc) = self.accounts.get_mut(&id) else {
            return;
        };
        acc.flow = None;
        if !std::mem::replace(&mut acc.offline, true) {
            self.connection(id, false, message.to_string()).await;
        }
        self.register(id, false).await;
    }

    /// A TCP connection we opened closed: a registration's flow over it failed at once.
    pub(super) async fn flow_closed(&mut self, peer: Peer) {
        let ids: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|(_, a)| a.registered() && a.flow.as_ref().is_some_and(|f| f.server == peer))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            tracing::info!("the connection to the registrar closed: registering again");
            self.flow_failed(
                id,
                "Offline: the server closed the connection; reconnecting…",
            )
            .await;
        }
    }

    /// A keepalive's answer; a moved public address registers again with it.
    pub(super) async fn pong(&mut self, peer: Peer, stun: Option<(TxId, SocketAddr)>) {
        let now = Instant::now();
        let mut moved = Vec::new();
        for (id, acc) in self.accounts.iter_mut() {
            let Some(flow) = acc.flow.as_mut().filter(|f| f.server == peer) else {
                continue;
            };
            match flow.keepalive.answer(stun, now) {
                Answer::Moved(at) => moved.push((*id, at)),
                Answer::Alive => moved.extend(stun.map(|(_, at)| (*id, at))),
                Answer::Unrelated => {}
            }
        }
        for (id, at) in moved {
            if self.learn_public(id, peer, at) {
                self.register(id, false).await;
            }
        }
    }

    /// The address and URI parameters of our Contact toward `toward`: the public address a
    /// registrar there saw us at, and `;ob` on an outbound flow (RFC 5626 5.4).
    pub(super) fn contact_addr_for(&self, toward: Peer) -> (SocketAddr, &'static str) {
        let local = self.endpoint.contact_addr(toward.addr);
        let mut addr = local;
        let mut ob = "";
        for acc in self.accounts.values() {
            if let Some((_, seen)) = acc.public.filter(|(p, _)| *p == toward) {
                addr = seen;
            }
            if acc
                .flow
                .as_ref()
                .is_some_and(|f| f.server == toward && f.outbound)
            {
                ob = ";ob";
            }
        }
        (addr, ob)
    }
}

/// A STUN server's address from `host[:port]` (3478 by default).
pub(super) async fn stun_server(s: &str) -> std::io::Result<SocketAddr> {
    let with_port = match crate::sip::headers::split_host_port(s) {
        Some((_, Some(_))) => s.to_string(),
        _ => format!("{s}:3478"),
    };
    let found = tokio::net::lookup_host(with_port.as_str()).await?.next();
    found.ok_or_else(|| std::io::Error::other("no address"))
}

impl Core {
    /// Whom to ask for our public media address: the account's STUN server, else its SIP
    /// server when it sees us from elsewhere than we are and has not shown it lacks STUN.
    fn stun_for(&self, account: AccountId) -> Option<SocketAddr> {
        let acc = self.accounts.get(&account)?;
        if acc.stun.is_some() {
            return acc.stun;
        }
        let flow = acc.flow.as_ref()?;
        let natted = acc.public.is_some_and(|(p, _)| p == flow.server);
        (natted && !flow.keepalive.without_stun()).then_some(flow.server.addr)
    }

    /// Puts the RTP socket's public address into what we offer or answer, behind a NAT: its
    /// relayed one when the account has a TURN server (the relay is returned, for the media
    /// session to carry), else the one a STUN server sees. With `ice` (the offer we answer had
    /// it), or whenever there is more than the host's address to give, our ICE candidates go
    /// in too (RFC 8445 5.1), the address above being the default one peers without ICE use.
    pub(super) async fn reflect(
        &self,
        account: AccountId,
        reserved: &mut super::call::Reserved,
        ice: bool,
    ) -> Option<crate::nat::turn::Relay> {
        let host = reserved.1.as_ref().and_then(|(s, _)| s.local_addr().ok());
        let relay = self.relay_for(account, reserved).await;
        let public = self.reflect_by_stun(account, reserved).await;
        let default = relay.as_ref().map(|r| r.relayed()).or(public);
        if let Some(addr) = default {
            reserved.0.address = addr.ip();
            reserved.0.rtp_port = addr.port();
        }
        reserved.0.ice = None;
        if let Some(host) = host.filter(|_| ice || default.is_some()) {
            let (ufrag, pwd) = crate::nat::ice::credentials();
            let relayed = relay.as_ref().map(|r| r.relayed());
            reserved.0.ice = Some(crate::sdp::IceAttrs {
                ufrag,
                pwd,
                candidates: crate::nat::ice::candidates(host, public, relayed),
                lite: false,
            });
        }
        relay
    }

    async fn relay_for(
        &self,
        account: AccountId,
        reserved: &super::call::Reserved,
    ) -> Option<crate::nat::turn::Relay> {
        let server = self.accounts.get(&account).and_then(|a| a.turn.clone())?;
        let (rtp, _) = reserved.1.as_ref()?;
        match crate::nat::turn::allocate(rtp, &server).await {
            Ok(relay) => {
                tracing::debug!("our media is relayed at {}", relay.relayed());
                Some(relay)
            }
            Err(e) => {
                tracing::warn!("no relay for this call: {e}");
                None
            }
        }
    }

    async fn reflect_by_stun(
        &self,
        account: AccountId,
        reserved: &super::call::Reserved,
    ) -> Option<std::net::SocketAddr> {
        let (Some(server), Some((rtp, _))) = (self.stun_for(account), &reserved.1) else {
            return None;
        };
        let public = crate::nat::reflexive::public_address(rtp, server).await;
        match public {
            Some(p) => tracing::debug!("our media is seen at {p}"),
            None => tracing::info!("no answer from STUN server {server}: offering our own address"),
        }
        public
    }
}

impl Core {
    pub(super) async fn connection(&self, account: AccountId, online: bool, message: String) {
        self.emit(super::Event::Connection {
            account,
            online,
            message,
        })
        .await;
    }

    /// The network changed under us (or we woke up): every flow may be dead and our address
    /// another, so every account that should be registered registers again now.
    pub(super) async fn network_changed(&mut self, change: crate::nat::netwatch::Change) {
        let ids: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|(_, a)| {
                a.cfg.register && !a.busy() && (a.registered() || a.next_timer().is_some())
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            tracing::info!("{change:?}: registering again");
            let acc = self.accounts.get_mut(&id).unwrap();
            acc.flow = None;
            acc.public = None;
            acc.clear_timer();
            acc.reset_backoff();
            // Its calls move once we know how the server sees us from the new network, where
            // an MSRP relay may be had again.
            acc.roaming = true;
            acc.msrp_relay_failed = None;
            self.register(id, false).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_uuids_lasting_per_device_and_account() {
        let a = instance_id("sip:bob@company.com", "d1");
        assert_eq!(a, instance_id("sip:bob@company.com", "d1"));
        assert_ne!(a, instance_id("sip:bob@company.com", "d2"));
        assert_ne!(a, instance_id("sip:alice@company.com", "d1"));
        let uuid = a.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(uuid.as_bytes()[14] == b'5');
    }

    #[test]
    fn a_profile_keeps_its_device_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("p.db")).unwrap();
        let first = device_id(Some(&store));
        assert_eq!(first, device_id(Some(&store)));
        assert_ne!(device_id(None), device_id(None));
    }
}
