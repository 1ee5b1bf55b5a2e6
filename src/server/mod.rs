//! The embedded server: a registrar (RFC 3261 10) and a stateful, record-routing proxy (16) for
//! one domain, on the same endpoint and transactions as the user agent. It forwards only to its
//! own users, or along a dialog it record-routed itself (its Record-Route carries a token bound
//! to the Call-ID), so neither a foreign Request-URI nor a forged To tag and Route makes it a
//! relay. It detects loops (482), bounds forking (RFC 5393 Max-Breadth), challenges with digest
//! unless `open`, answers malformed requests 400 (the endpoint does) and keeps serving.

mod auth;
mod fork;
pub mod guard;
pub mod msrp_relay;
mod nat;
pub mod nonce;
pub mod reach;
mod registrar;
pub mod relay;
mod route;
pub mod turn_gate;

use crate::sip::endpoint::{Endpoint, EndpointEvent, Incoming, Limits, TxKey};
use crate::sip::headers::{split_host_port, NameAddr, SipUri, Via};
use crate::sip::message::{self as msg, MessageExt, Method, Request, Response};
use crate::sip::transaction::Timers;
use crate::sip::transport::{Peer, Proto};
use auth::Caller;
use nat::Target;
use registrar::Binding;
use route::{Routed, Secret};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub domain: String,
    /// user -> password. Empty with `open` false means nobody can register.
    pub users: HashMap<String, String>,
    pub open: bool,
    pub min_expires: u32,
    pub max_expires: u32,
    pub timers: Timers,
    /// Timer C (RFC 3261 16.6 step 11): how long a forwarded INVITE may ring.
    pub timer_c: Duration,
    /// At most this many branches for one request, whatever its Max-Breadth.
    pub max_forks: usize,
    /// Users with bindings, at most (beyond: 503); contacts per user, at most (beyond: 403).
    pub max_users: usize,
    pub max_bindings: usize,
    /// Transactions, queue lag and TCP connections (beyond: 503 + Retry-After, or closed).
    pub limits: Limits,
    /// Digest algorithms challenged with, in this order. MD5 first by default: many clients
    /// (sipp among them) answer only the first challenge, and those that know SHA-256 pick it
    /// from the second (RFC 8760 2.4 lets a client choose).
    pub digest: Vec<crate::sip::digest::Algorithm>,
    /// SIP over TLS too: where, and the certificate shown (RFC 3261 26.3.1, port 5061).
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
}

impl ServerConfig {
    pub fn new(bind: SocketAddr, domain: &str) -> ServerConfig {
        ServerConfig {
            bind,
            domain: domain.to_string(),
            users: HashMap::new(),
            digest: vec![
                crate::sip::digest::Algorithm::Md5,
                crate::sip::digest::Algorithm::Sha256,
            ],
            open: false,
            min_expires: 60,
            max_expires: 3600,
            timers: Timers::default(),
            // "Greater than 3 minutes" (16.6 step 11).
            timer_c: Duration::from_secs(181),
            max_forks: 16,
            tls: None,
            max_users: 100_000,
            max_bindings: 16,
            limits: Limits {
                // Well under T1: past it, clients resend and the backlog feeds itself.
                max_lag: Duration::from_millis(150),
                ..Limits::default()
            },
        }
    }
}

/// A service's task (the proxy, the TURN server, the MSRP relay), stopped when dropped.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    task: Running,
}

impl Server {
    pub async fn start(config: ServerConfig) -> std::io::Result<Server> {
        crate::memory::map_large_blocks();
        let (endpoint, events) =
            Endpoint::start_with(config.bind, config.timers, config.limits).await?;
        let addr = endpoint.local_addr();
        let tls_addr = match &config.tls {
            Some((at, tls)) => Some(endpoint.listen_tls(*at, tls.clone()).await?),
            None => None,
        };
        let proxy = Proxy {
            endpoint,
            config,
            secret: Secret::random(),
            location: Arc::default(),
            nonces: Arc::default(),
            guard: Arc::default(),
            forwarded: Arc::default(),
        };
        let task = Running(tokio::spawn(proxy.run(events)));
        Ok(Server {
            addr,
            tls_addr,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it takes SIP over TLS, when it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Runs until the task ends (used by `parley serve`).
    pub async fn wait(mut self) {
        let _ = (&mut self.task.0).await;
    }
}

type Location = Arc<Mutex<HashMap<String, Vec<Binding>>>>;

#[derive(Clone)]
struct Proxy {
    endpoint: Endpoint,
    config: ServerConfig,
    secret: Secret,
    location: Location,
    nonces: Arc<nonce::Nonces>,
    /// Holds back sources and users that keep guessing.
    guard: Arc<guard::Guard>,
    /// INVITE server transaction -> the client transactions it was forwarded on (for CANCEL)
    forwarded: Arc<Mutex<HashMap<TxKey, Vec<TxKey>>>>,
}

/// The Reason header of a CANCEL sent because another device answered (RFC 3326).
pub const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// What the server itself answers; every other method is only forwarded (405 names these).
const ALLOW: &str = "REGISTER, OPTIONS";

/// The branch prefix of a CANCEL we forwarded statelessly: its responses are ours to relay.
const STATELESS: &str = "z9hG4bKsl";

/// An address of this host: the kernel lets us bind only to those.
fn is_local_ip(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

impl Proxy {
    async fn run(self, mut events: mpsc::UnboundedReceiver<EndpointEvent>) {
        while let Some(ev) = events.recv().await {
            match ev {
                EndpointEvent::Request(inc) => {
                    let this = self.clone();
                    tokio::spawn(async move { this.handle(*inc).await });
                }
                EndpointEvent::StrayResponse(resp) => self.forward_stray(*resp),
                EndpointEvent::AckTimeout { .. }
                | EndpointEvent::Pong { .. }
                | EndpointEvent::Closed { .. } => {}
            }
        }
    }

    fn reply(&self, inc: &Incoming, code: u16, reason: Option<&str>) {
        if let Some(key) = &inc.key {
            let mut resp = msg::response_to(&inc.request, code, reason, Some(&msg::new_tag()));
            if code == 405 {
                msg::push(&mut resp.headers, "Allow", ALLOW);
            }
            if code == 503 {
                let after = self.config.limits.retry_after.to_string();
                msg::push(&mut resp.headers, "Retry-After", after);
            }
            self.endpoint.respond(key, resp);
        }
    }

    /// Whether a URI names this server: its domain, or one of its addresses and its port.
    fn is_us(&self, uri: &SipUri) -> bool {
        // `company.com.` is the same name, fully qualified: a look-alike of ours is ours.
        if uri
            .host
            .trim_end_matches('.')
            .eq_ignore_ascii_case(self.config.domain.trim_end_matches('.'))
        {
            return true;
        }
        let local = self.endpoint.local_addr();
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = host.parse::<std::net::IpAddr>() else {
            return false;
        };
        let tls = uri.scheme.eq_ignore_ascii_case("sips")
            || uri
                .transport()
                .is_some_and(|t| t.eq_ignore_ascii_case("tls"));
        let port = uri.port.unwrap_or(if tls { 5061 } else { 5060 });
        let ours = [
            Some(local.port()),
            self.endpoint.tls_addr().map(|a| a.port()),
        ];
        ours.contains(&Some(port))
            && (ip == local.ip() || local.ip().is_unspecified() && is_local_ip(ip))
    }

    /// Whether a Via sent-by (`host:port`) is one of ours.
    fn is_our_sent_by(&self, sent_by: &str) -> bool {
        split_host_port(sent_by).is_some_and(|(host, port)| {
            let uri = SipUri {
                scheme: "sip".into(),
                user: None,
                host,
                port,
                params: Default::default(),
            };
            !uri.host.eq_ignore_ascii_case(&self.config.domain) && self.is_us(&uri)
        })
    }

    async fn handle(&self, mut inc: Incoming) {
        let req = &inc.request;
        if req
            .header("Max-Forwards")
            .and_then(|m| m.trim().parse::<u8>().ok())
            == Some(0)
            && req.method != Method::Register
        {
            return self.reply(&inc, 483, None);
        }
        if SipUri::parse(&req.uri.to_string()).is_err() {
            return self.reply(&inc, 416, None);
        }
        if req.method == Method::Cancel {
            return self.cancel(&inc).await;
        }
        if route::looped(req, &self.secret, |sb| self.is_our_sent_by(sb)) {
            return self.reply(&inc, 482, None);
        }
        let routed = route::preprocess(&mut inc.request, |u| self.is_us(u), &self.secret);
        let Ok(ruri) = SipUri::parse(&inc.request.uri.to_string()) else {
            return self.reply(&inc, 416, None);
        };
        if inc.request.method == Method::Register && routed != Routed::ByUs {
            return self.register(&inc, &ruri).await;
        }
        if inc.request.to_tag().is_some() || inc.request.method == Method::Ack {
            self.in_dialog(inc, routed, ruri).await
        } else {
            self.out_of_dialog(inc, ruri).await
        }
    }

    /// 16.4 and 16.12: a request inside a dialog goes on only along a route we record-routed,
    /// or to one of our own users; anything else would make us a relay.
    async fn in_dialog(&self, inc: Incoming, routed: Routed, ruri: SipUri) {
        let is_ack = inc.request.method == Method::Ack;
        let targets = match routed {
            Routed::ByUs => vec![self.next_hop(&inc.request, &ruri)],
            _ if self.is_us(&ruri) && ruri.user.is_some() => match self.lookup(&ruri) {
                Ok(t) => t,
                Err(code) if !is_ack => return self.reply(&inc, code, None),
                Err(_) => return,
            },
            _ if is_ack => return, // never answered; nothing to relay it for
            Routed::Forged => return self.reply(&inc, 403, Some("Relaying Denied")),
            Routed::NotUs => return self.reply(&inc, 404, Some("Not Here")),
        };
        if is_ack {
            return self.forward_ack(inc.request, &targets[0]).await;
        }
        self.forward(inc, targets).await;
    }

    /// Where a routed request goes next: its top Route, else its Request-URI (down the flow
    /// its alias names, when we put one there).
    fn next_hop(&self, req: &Request, ruri: &SipUri) -> Target {
        match msg::get_all(&req.headers, "Route")
            .first()
            .and_then(|r| NameAddr::parse(r).ok())
            .and_then(|a| SipUri::parse(&a.uri).ok())
        {
            Some(route) => Target::direct(route),
            None => self.dealias(ruri.clone()),
        }
    }

    /// A new request: only for our own users (after our outbound Route, if preloaded).
    async fn out_of_dialog(&self, mut inc: Incoming, ruri: SipUri) {
        if !msg::get_all(&inc.request.headers, "Route").is_empty() || !self.is_us(&ruri) {
            return self.reply(&inc, 403, Some("Relaying Denied"));
        }
        if ruri.user.is_none() {
            // A request for the server itself.
            return match inc.request.method {
                Method::Options => {
                    if let Some(key) = &inc.key {
                        let mut r =
                            msg::response_to(&inc.request, 200, None, Some(&msg::new_tag()));
                        msg::push(&mut r.headers, "Allow", ALLOW);
                        self.endpoint.respond(key, r);
                    }
                }
                _ => self.reply(&inc, 405, None),
            };
        }
        // Identities are asserted by us alone (RFC 3325 5): whatever a sender wrote goes.
        msg::remove(&mut inc.request.headers, "P-Asserted-Identity");
        msg::remove(&mut inc.request.headers, "P-Preferred-Identity");
        match self.authorize(&inc) {
            None => return,
            Some(Caller::Ours(user)) => {
                let asserted = format!("<sip:{user}@{}>", self.config.domain);
                msg::push(&mut inc.request.headers, "P-Asserted-Identity", asserted);
            }
            Some(Caller::Unchecked) => {}
        }
        if inc.request.method == Method::Invite {
            if let Some(key) = &inc.key {
                self.endpoint
                    .respond(key, msg::response_to(&inc.request, 100, None, None));
            }
        }
        match self.lookup(&ruri) {
            Ok(targets) => self.forward(inc, targets).await,
            Err(code) => self.reply(&inc, code, None),
        }
    }

    async fn forward_ack(&self, mut ack: Request, target: &Target) {
        if let Some(peer) = target.peer().await {
            self.rewrite_for_forward(&mut ack, &target.uri, None, peer);
            self.endpoint.send_stateless(ack, peer);
        }
    }

    /// Ready to forward toward `peer` (16.6). An INVITE is record-routed with our address
    /// on the side it leaves by, and on the side it came in by too when the two transports
    /// differ (RFC 5658's double Record-Route): each party then reaches us over its own.
    fn rewrite_for_forward(
        &self,
        req: &mut Request,
        target: &SipUri,
        record_route: Option<Proto>,
        peer: Peer,
    ) {
        if msg::get_all(&req.headers, "Route").is_empty() {
            req.uri = msg::request_uri(target);
        }
        let mf = req
            .header("Max-Forwards")
            .and_then(|m| m.trim().parse::<u8>().ok())
            .unwrap_or(70);
        msg::set(
            &mut req.headers,
            "Max-Forwards",
            mf.saturating_sub(1).to_string(),
        );
        let Some(came_by) = record_route.filter(|_| req.to_tag().is_none()) else {
            return;
        };
        let token = self.secret.dialog_token(&req.call_id());
        if came_by != peer.proto {
            let inside = self.record_route_entry(came_by, peer, &token);
            msg::prepend(&mut req.headers, "Record-Route", inside);
        }
        let outside = self.record_route_entry(peer.proto, peer, &token);
        msg::prepend(&mut req.headers, "Record-Route", outside);
    }

    /// Our Record-Route over `proto`, as reachable from `toward`.
    fn record_route_entry(&self, proto: Proto, toward: Peer, token: &str) -> String {
        let mut me = self.endpoint.contact_addr(toward.addr);
        if let (Proto::Tls, Some(tls)) = (proto, self.endpoint.tls_addr()) {
            me.set_port(tls.port());
        }
        let t = proto.as_str().to_ascii_lowercase();
        format!("<sip:{me};transport={t};lr;{}={token}>", route::TOKEN_PARAM)
    }

    /// CANCEL (16.10): the branches of the INVITE it matches are cancelled; with no such INVITE
    /// here it is forwarded statelessly to our user's devices, whose answers we relay back.
    async fn cancel(&self, inc: &Incoming) {
        let forwarded = inc
            .cancels
            .as_ref()
            .and_then(|k| self.forwarded.lock().unwrap().get(k).cloned());
        if let Some(branches) = forwarded {
            self.reply(inc, 200, None);
            for key in &branches {
                self.endpoint.cancel(key);
            }
            return;
        }
        let ruri = SipUri::parse(&inc.request.uri.to_string()).ok();
        let targets = ruri
            .filter(|u| self.is_us(u) && u.user.is_some())
            .and_then(|u| self.lookup(&u).ok());
        let (Some(targets), Some(via)) = (targets, inc.request.top_via()) else {
            return self.reply(inc, 481, None);
        };
        let upstream = via.branch().unwrap_or_default().to_string();
        for target in targets {
            let Some(peer) = target.peer().await else {
                continue;
            };
            let mut cancel = inc.request.clone();
            self.rewrite_for_forward(&mut cancel, &target.uri, None, peer);
            let token = self
                .secret
                .token(&["sl", &inc.request.call_id(), &upstream]);
            self.endpoint
                .send_stateless_branch(cancel, peer, format!("{STATELESS}{token}"));
        }
    }

    /// A response to a request we forwarded statelessly goes to the next Via (16.11, 18.2.2),
    /// but only when our Via's branch proves we sent that request: no reflection for others.
    fn forward_stray(&self, mut resp: Response) {
        let vias = msg::get_all(&resp.headers, "Via");
        let (Some(ours), Some(next)) = (
            vias.first().and_then(|v| Via::parse(v).ok()),
            vias.get(1).and_then(|v| Via::parse(v).ok()),
        ) else {
            return;
        };
        let upstream = next.branch().unwrap_or_default();
        let token = self.secret.token(&["sl", &resp.call_id(), upstream]);
        if ours.branch() != Some(format!("{STATELESS}{token}").as_str()) {
            return;
        }
        let Some(peer) = via_destination(&next) else {
            return;
        };
        msg::pop_first(&mut resp.headers, "Via");
        self.endpoint.send_response_stateless(resp, peer);
    }
}

/// Where a response for this Via goes (RFC 3261 18.2.2, RFC 3581): `received` and `rport`
/// when present, else the sent-by.
fn via_destination(via: &Via) -> Option<Peer> {
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
        .or(via.port)
        .unwrap_or(5060);
    Some(Peer {
        proto: Proto::parse(&via.transport).unwrap_or(Proto::Udp),
        addr: SocketAddr::new(ip, port),
    })
}
