//! The embedded server: a registrar (RFC 3261 10) and a stateful, record-routing proxy (16) for
//! one domain, on the same endpoint and transactions as the user agent. It forwards only for its
//! own users (no open relay), challenges with digest unless `open`, answers malformed requests
//! 400 (the endpoint does) and keeps serving.

use crate::sip::digest::{Algorithm, Challenge, Credentials};
use crate::sip::endpoint::{Endpoint, EndpointEvent, Incoming, TxKey};
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::locate;
use crate::sip::message::{self as msg, MessageExt, Method, Request, Response};
use crate::sip::transaction::Timers;
use crate::sip::transport::Peer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
}

impl ServerConfig {
    pub fn new(bind: SocketAddr, domain: &str) -> ServerConfig {
        ServerConfig {
            bind,
            domain: domain.to_string(),
            users: HashMap::new(),
            open: false,
            min_expires: 60,
            max_expires: 3600,
            timers: Timers::default(),
        }
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(config: ServerConfig) -> std::io::Result<Server> {
        let (endpoint, events) = Endpoint::start(config.bind, config.timers).await?;
        let addr = endpoint.local_addr();
        let proxy = Proxy {
            endpoint,
            config,
            location: Arc::default(),
            nonces: Arc::default(),
            failures: Arc::default(),
            forwarded: Arc::default(),
        };
        let task = tokio::spawn(proxy.run(events));
        Ok(Server { addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until the task ends (used by `parley serve`).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

#[derive(Debug, Clone)]
struct Binding {
    contact: String,
    expires_at: Instant,
}

type Location = Arc<Mutex<HashMap<String, Vec<Binding>>>>;

#[derive(Clone)]
struct Proxy {
    endpoint: Endpoint,
    config: ServerConfig,
    location: Location,
    /// nonce -> (issued, highest nonce-count seen)
    nonces: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
    /// failed authentications per source IP, to slow down guessing
    failures: Arc<Mutex<HashMap<std::net::IpAddr, u32>>>,
    /// INVITE server transaction -> the client transactions it was forwarded on (for CANCEL)
    forwarded: Arc<Mutex<HashMap<TxKey, Vec<TxKey>>>>,
}

const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// The Reason header of a CANCEL sent because another device answered (RFC 3326).
pub const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// RFC 3261 16.7 step 6, simplified: a 6xx beats everything (nobody else should be tried), then
/// the lower class wins; within a class the first one received stays.
fn better_final(new: u16, old: u16) -> bool {
    match (new / 100, old / 100) {
        (6, 6) => false,
        (6, _) => true,
        (_, 6) => false,
        (n, o) => n < o,
    }
}

/// An address of this host: the kernel lets us bind only to those.
fn is_local_ip(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

enum AuthResult {
    Ok,
    Challenge { stale: bool },
    Forbidden(&'static str),
}

impl Proxy {
    async fn run(self, mut events: mpsc::UnboundedReceiver<EndpointEvent>) {
        while let Some(ev) = events.recv().await {
            if let EndpointEvent::Request(inc) = ev {
                let this = self.clone();
                tokio::spawn(async move { this.handle(*inc).await });
            }
        }
    }

    fn reply(&self, inc: &Incoming, code: u16, reason: Option<&str>) {
        if let Some(key) = &inc.key {
            let resp = msg::response_to(&inc.request, code, reason, Some(&msg::new_tag()));
            self.endpoint.respond(key, resp);
        }
    }

    /// Whether a URI names this server: its domain, or one of its addresses and its port.
    fn is_us(&self, uri: &SipUri) -> bool {
        if uri.host.eq_ignore_ascii_case(&self.config.domain) {
            return true;
        }
        let local = self.endpoint.local_addr();
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = host.parse::<std::net::IpAddr>() else {
            return false;
        };
        uri.port.unwrap_or(5060) == local.port()
            && (ip == local.ip() || local.ip().is_unspecified() && is_local_ip(ip))
    }

    async fn handle(&self, mut inc: Incoming) {
        let req = &inc.request;
        if req
            .header("Max-Forwards")
            .and_then(|m| m.parse::<u8>().ok())
            == Some(0)
            && req.method != Method::Register
        {
            return self.reply(&inc, 483, None);
        }
        let Ok(ruri) = SipUri::parse(&req.uri.to_string()) else {
            return self.reply(&inc, 416, None);
        };
        match req.method {
            Method::Register => return self.register(&inc, &ruri).await,
            Method::Cancel => return self.cancel(&inc),
            _ => {}
        }
        // Loose routing (RFC 3261 16.4): drop our own Route entry.
        if let Some(top) = msg::get_all(&req.headers, "Route").first() {
            if NameAddr::parse(top)
                .ok()
                .and_then(|a| SipUri::parse(&a.uri).ok())
                .is_some_and(|u| self.is_us(&u))
            {
                msg::pop_first(&mut inc.request.headers, "Route");
            }
        }
        let in_dialog = inc.request.to_tag().is_some();
        let target = if let Some(route) = msg::get_all(&inc.request.headers, "Route").first() {
            NameAddr::parse(route)
                .ok()
                .and_then(|a| SipUri::parse(&a.uri).ok())
        } else if self.is_us(&ruri) && ruri.user.is_some() {
            None
        } else if in_dialog || inc.request.method == Method::Ack {
            Some(ruri.clone())
        } else if self.is_us(&ruri) {
            // A request for the server itself.
            return match inc.request.method {
                Method::Options => self.reply(&inc, 200, None),
                _ => self.reply(&inc, 405, None),
            };
        } else {
            return self.reply(&inc, 403, Some("Relaying Denied"));
        };

        if inc.request.method == Method::Ack {
            let target = match target {
                Some(t) => Some(t),
                None => self.lookup(&ruri).ok().and_then(|t| t.into_iter().next()),
            };
            if let Some(t) = target {
                if let Ok(peer) = locate::resolve(&t).await {
                    let mut ack = inc.request.clone();
                    self.rewrite_for_forward(&mut ack, &t, false, peer);
                    self.endpoint.send_stateless(ack, peer);
                }
            }
            return;
        }

        if inc.request.method == Method::Invite && !in_dialog {
            if let AuthStop::Stop = self.authorize_invite(&inc).await {
                return;
            }
            if let Some(key) = &inc.key {
                self.endpoint
                    .respond(key, msg::response_to(&inc.request, 100, None, None));
            }
        }
        let targets = match target {
            Some(t) => vec![t],
            None => match self.lookup(&ruri) {
                Ok(t) => t,
                Err(code) => return self.reply(&inc, code, None),
            },
        };
        self.forward(inc, targets).await;
    }

    /// Every live contact of a user of ours, newest first, or the status to answer.
    fn lookup(&self, ruri: &SipUri) -> Result<Vec<SipUri>, u16> {
        let user = ruri.user.clone().unwrap_or_default();
        let mut loc = self.location.lock().unwrap();
        let now = Instant::now();
        let bindings = loc.entry(user.clone()).or_default();
        bindings.retain(|b| b.expires_at > now);
        let targets: Vec<SipUri> = bindings
            .iter()
            .rev()
            .filter_map(|b| SipUri::parse(&b.contact).ok())
            .collect();
        match targets.is_empty() {
            false => Ok(targets),
            true if self.config.users.contains_key(&user) => Err(480),
            true => Err(404),
        }
    }

    fn rewrite_for_forward(
        &self,
        req: &mut Request,
        target: &SipUri,
        record_route: bool,
        peer: Peer,
    ) {
        if msg::get_all(&req.headers, "Route").is_empty() {
            req.uri = msg::request_uri(target);
        }
        let mf = req
            .header("Max-Forwards")
            .and_then(|m| m.parse::<u8>().ok())
            .unwrap_or(70);
        msg::set(
            &mut req.headers,
            "Max-Forwards",
            mf.saturating_sub(1).to_string(),
        );
        if record_route {
            let me = self.endpoint.contact_addr(peer.addr);
            let rr = format!(
                "<sip:{me};transport={};lr>",
                peer.proto.as_str().to_ascii_lowercase()
            );
            msg::prepend(&mut req.headers, "Record-Route", rr);
        }
    }

    /// Forwards to every target at once (parallel forking, RFC 3261 16.5-16.7): provisional
    /// and 2xx responses go upstream as they come, the first 2xx cancels the other branches
    /// ("call completed elsewhere", RFC 3326), and if none answers the best final goes upstream.
    async fn forward(&self, inc: Incoming, targets: Vec<SipUri>) {
        let Some(server_key) = inc.key.clone() else {
            return;
        };
        let is_invite = inc.request.method == Method::Invite;
        let record_route = is_invite && inc.request.to_tag().is_none();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Option<Response>)>();
        let mut branches = Vec::new();
        for target in &targets {
            let Ok(peer) = locate::resolve(target).await else {
                continue;
            };
            let mut req = inc.request.clone();
            self.rewrite_for_forward(&mut req, target, record_route, peer);
            let mut handle = self.endpoint.send_request(req, peer);
            let (i, tx) = (branches.len(), tx.clone());
            branches.push(handle.key.clone());
            tokio::spawn(async move {
                while let Some(r) = handle.responses.recv().await {
                    let _ = tx.send((i, Some(r)));
                }
                let _ = tx.send((i, None)); // the branch's transaction is over
            });
        }
        drop(tx);
        if branches.is_empty() {
            return self.reply(&inc, 404, Some("Destination Not Found"));
        }
        if is_invite {
            self.forwarded
                .lock()
                .unwrap()
                .insert(server_key.clone(), branches.clone());
        }
        let mut done = vec![false; branches.len()];
        let mut answered = false;
        let mut best: Option<Response> = None;
        while let Some((i, r)) = rx.recv().await {
            let Some(mut resp) = r else {
                done[i] = true;
                if done.iter().all(|d| *d) {
                    break;
                }
                continue;
            };
            let code = msg::code_of(&resp);
            if code == 100 {
                continue; // hop-by-hop; we sent our own
            }
            msg::pop_first(&mut resp.headers, "Via");
            if code < 200 {
                if !answered {
                    self.endpoint.respond(&server_key, resp);
                }
            } else if code < 300 {
                if !answered {
                    answered = true;
                    for (j, key) in branches.iter().enumerate() {
                        if j != i && !done[j] {
                            self.endpoint
                                .cancel_with_reason(key, Some(COMPLETED_ELSEWHERE.into()));
                        }
                    }
                }
                // Every 2xx goes upstream: each one is a dialog the caller must ACK (and BYE).
                self.endpoint.respond(&server_key, resp);
            } else {
                done[i] = true;
                if code >= 600 && !answered {
                    // 16.7 step 5: a global failure ends the search; stop the other phones.
                    for (j, key) in branches.iter().enumerate() {
                        if !done[j] {
                            self.endpoint.cancel(key);
                        }
                    }
                }
                if best
                    .as_ref()
                    .is_none_or(|b| better_final(code, msg::code_of(b)))
                {
                    best = Some(resp);
                }
                if done.iter().all(|d| *d) {
                    break;
                }
            }
        }
        if !answered {
            let resp = best.unwrap_or_else(|| {
                msg::response_to(&inc.request, 408, None, Some(&msg::new_tag()))
            });
            self.endpoint.respond(&server_key, resp);
        }
        self.forwarded.lock().unwrap().remove(&server_key);
    }

    fn cancel(&self, inc: &Incoming) {
        let forwarded = inc
            .cancels
            .as_ref()
            .and_then(|k| self.forwarded.lock().unwrap().get(k).cloned());
        match forwarded {
            Some(branches) => {
                self.reply(inc, 200, None);
                for key in &branches {
                    self.endpoint.cancel(key);
                }
            }
            None => self.reply(inc, 481, None),
        }
    }

    fn challenge(&self, stale: bool) -> Challenge {
        let nonce = msg::random_token(24);
        let mut nonces = self.nonces.lock().unwrap();
        let now = Instant::now();
        nonces.retain(|_, (t, _)| now.duration_since(*t) < NONCE_LIFETIME);
        nonces.insert(nonce.clone(), (now, 0));
        Challenge {
            realm: self.config.domain.clone(),
            nonce,
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale,
        }
    }

    /// Checks credentials of `user` in `header` (Authorization or Proxy-Authorization).
    fn check(&self, req: &Request, header: &str, user: &str) -> AuthResult {
        let Some(password) = self.config.users.get(user) else {
            return AuthResult::Forbidden("Unknown user");
        };
        let Some(creds) = msg::get_lines(&req.headers, header)
            .iter()
            .find_map(|v| Credentials::parse(v).filter(|c| c.realm == self.config.domain))
        else {
            return AuthResult::Challenge { stale: false };
        };
        {
            let mut nonces = self.nonces.lock().unwrap();
            let fresh = match nonces.get_mut(&creds.nonce) {
                Some((issued, last_nc)) if issued.elapsed() < NONCE_LIFETIME => {
                    let nc = creds.nonce_count();
                    // Single use per nonce-count: a replayed nc is stale.
                    let ok = creds.qop.is_none() || nc > *last_nc;
                    if ok {
                        *last_nc = nc;
                    }
                    ok
                }
                _ => false,
            };
            if !fresh {
                return AuthResult::Challenge { stale: true };
            }
        }
        if creds.username != user || !creds.verify(req.method.to_string().as_str(), password) {
            return AuthResult::Forbidden("Wrong password");
        }
        AuthResult::Ok
    }

    async fn refuse_slowly(&self, inc: &Incoming, code: u16, reason: &str) {
        let n = {
            let mut f = self.failures.lock().unwrap();
            let n = f.entry(inc.source.addr.ip()).or_insert(0);
            *n += 1;
            *n
        };
        // Guessing gets slower with every failure from the same source.
        tokio::time::sleep(Duration::from_millis(100 * u64::from(n.min(20)))).await;
        self.reply(inc, code, Some(reason));
    }

    async fn authorize_invite(&self, inc: &Incoming) -> AuthStop {
        if self.config.open {
            return AuthStop::Go;
        }
        let Some(from) = inc
            .request
            .addr_from()
            .and_then(|a| SipUri::parse(&a.uri).ok())
        else {
            self.reply(inc, 400, Some("Bad From"));
            return AuthStop::Stop;
        };
        if !self.is_us(&from) {
            return AuthStop::Go; // calls from elsewhere to our users are not ours to authenticate
        }
        match self.check(
            &inc.request,
            "Proxy-Authorization",
            from.user.as_deref().unwrap_or(""),
        ) {
            AuthResult::Ok => AuthStop::Go,
            AuthResult::Challenge { stale } => {
                if let Some(key) = &inc.key {
                    let mut r = msg::response_to(&inc.request, 407, None, Some(&msg::new_tag()));
                    msg::push(
                        &mut r.headers,
                        "Proxy-Authenticate",
                        self.challenge(stale).to_header(),
                    );
                    self.endpoint.respond(key, r);
                }
                AuthStop::Stop
            }
            AuthResult::Forbidden(why) => {
                self.refuse_slowly(inc, 403, why).await;
                AuthStop::Stop
            }
        }
    }

    async fn register(&self, inc: &Incoming, ruri: &SipUri) {
        let req = &inc.request;
        if !self.is_us(ruri) {
            return self.reply(inc, 403, Some("Not our domain"));
        }
        let Some(to) = req.to_addr().and_then(|a| SipUri::parse(&a.uri).ok()) else {
            return self.reply(inc, 400, Some("Bad To"));
        };
        let user = to.user.clone().unwrap_or_default();
        if !self.config.open {
            match self.check(req, "Authorization", &user) {
                AuthResult::Ok => {}
                AuthResult::Challenge { stale } => {
                    if !self.config.users.contains_key(&user) {
                        return self.refuse_slowly(inc, 403, "Unknown user").await;
                    }
                    if let Some(key) = &inc.key {
                        let mut r = msg::response_to(req, 401, None, Some(&msg::new_tag()));
                        msg::push(
                            &mut r.headers,
                            "WWW-Authenticate",
                            self.challenge(stale).to_header(),
                        );
                        self.endpoint.respond(key, r);
                    }
                    return;
                }
                AuthResult::Forbidden(why) => return self.refuse_slowly(inc, 403, why).await,
            }
        }
        let default_exp = req
            .header("Expires")
            .and_then(|e| e.parse::<u32>().ok())
            .unwrap_or(3600);
        let contacts = msg::get_all(&req.headers, "Contact");
        let now = Instant::now();
        {
            let mut loc = self.location.lock().unwrap();
            let bindings = loc.entry(user.clone()).or_default();
            bindings.retain(|b| b.expires_at > now);
            if contacts.iter().any(|c| c.trim() == "*") {
                if default_exp != 0 || contacts.len() != 1 {
                    drop(loc);
                    return self.reply(inc, 400, Some("Wildcard Contact needs Expires: 0"));
                }
                bindings.clear();
            } else {
                for c in &contacts {
                    let Ok(addr) = NameAddr::parse(c) else {
                        drop(loc);
                        return self.reply(inc, 400, Some("Bad Contact"));
                    };
                    let exp = addr
                        .params
                        .get("expires")
                        .and_then(|e| e.parse::<u32>().ok())
                        .unwrap_or(default_exp)
                        .min(self.config.max_expires);
                    if exp != 0 && exp < self.config.min_expires {
                        drop(loc);
                        if let Some(key) = &inc.key {
                            let mut r = msg::response_to(
                                req,
                                423,
                                Some("Interval Too Brief"),
                                Some(&msg::new_tag()),
                            );
                            msg::push(
                                &mut r.headers,
                                "Min-Expires",
                                self.config.min_expires.to_string(),
                            );
                            self.endpoint.respond(key, r);
                        }
                        return;
                    }
                    bindings.retain(|b| b.contact != addr.uri);
                    if exp > 0 {
                        bindings.push(Binding {
                            contact: addr.uri.clone(),
                            expires_at: now + Duration::from_secs(exp.into()),
                        });
                    }
                }
            }
            tracing::info!("{user}: {} binding(s)", bindings.len());
            let mut resp = msg::response_to(req, 200, None, Some(&msg::new_tag()));
            for b in bindings.iter() {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                msg::push(
                    &mut resp.headers,
                    "Contact",
                    format!("<{}>;expires={left}", b.contact),
                );
            }
            if let Some(key) = &inc.key {
                self.endpoint.respond(key, resp);
            }
        }
        self.failures.lock().unwrap().remove(&inc.source.addr.ip());
    }
}

enum AuthStop {
    Go,
    Stop,
}
