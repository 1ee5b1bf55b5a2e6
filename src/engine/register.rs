//! Accounts and registration (RFC 3261 section 10): REGISTER with Expires, digest on 401/407,
//! 423 handled with Min-Expires, refresh before expiry, retry with backoff, un-REGISTER on exit.

use super::{reason, AccountConfig, AccountId, Core, Ctx, Event};
use crate::sip::digest::Challenge;
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::locate;
use crate::sip::message::{self as msg, Headers, MessageExt, Method, Request, Response, Version};
use crate::sip::transport::{Peer, Proto};
use std::time::{Duration, Instant};

pub(crate) struct Account {
    pub cfg: AccountConfig,
    pub uri: SipUri,
    /// The outbound server's addresses, in RFC 3263 order, when one was given.
    pub servers: Vec<Peer>,
    call_id: String,
    cseq: u32,
    expires: u32,
    state: RegState,
    timer: Option<Instant>,
    /// Digest challenges answered, by header and realm, with the last nonce-count used: to
    /// answer them again and to spot a wrong password.
    auth: std::collections::BTreeMap<(&'static str, String), (Challenge, u32)>,
    failures: u32,
    /// The REGISTER in flight and where it went, to resend with credentials.
    pending: Option<(Request, Peer)>,
    /// Servers still to try for the REGISTER in flight (RFC 3263 4.3).
    fallbacks: Vec<Peer>,
    /// This device's lasting name for RFC 5626 outbound (`urn:uuid:...`).
    pub instance: String,
    /// The flow the registration holds open, and its keepalives (RFC 5626).
    pub flow: Option<super::flow::Flow>,
    /// Our address as the registrar (the first) sees it, once it differs from ours (behind a
    /// NAT, over UDP): what our Contacts toward it carry.
    pub public: Option<(Peer, std::net::SocketAddr)>,
    /// The Contact of the last REGISTER: a changed one is unbound in the next.
    sent_contact: Option<String>,
    /// The STUN server named for this account, looked up.
    pub stun: Option<std::net::SocketAddr>,
    /// The TURN server named for this account, looked up.
    pub turn: Option<crate::nat::turn::TurnServer>,
    /// Registered once, then lost: the window says offline until it is back.
    pub offline: bool,
    /// The network changed: its calls move once it is registered from the new one.
    pub roaming: bool,
    /// When its MSRP relay last could not be had.
    pub msrp_relay_failed: Option<std::time::Instant>,
    was_registered: bool,
    /// Its TLS client config, built when first needed (from `cfg`'s CA file and pin).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The random token of our Contact (`rinstance`): requests for it come from our server.
    pub token: String,
    /// Where the registration was last accepted: requests from there are the server's.
    pub registrar: Option<Peer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegState {
    Idle,
    Registering,
    Registered,
    Unregistering,
}

impl Account {
    pub fn registered(&self) -> bool {
        self.state == RegState::Registered
    }

    /// A REGISTER is under way (shutdown waits for un-REGISTERs to be answered).
    pub fn busy(&self) -> bool {
        matches!(self.state, RegState::Registering | RegState::Unregistering)
    }

    pub fn next_timer(&self) -> Option<Instant> {
        self.timer
    }

    pub fn clear_timer(&mut self) {
        self.timer = None;
    }

    /// A new network: the next failure waits as if it were the first.
    pub fn reset_backoff(&mut self) {
        self.failures = 0;
    }

    pub fn user(&self) -> String {
        self.uri.user.clone().unwrap_or_default()
    }

    pub fn name_addr(&self) -> String {
        let addr = NameAddr {
            display: self.cfg.display_name.clone(),
            uri: self.uri.aor(),
            params: Default::default(),
        };
        addr.to_string()
    }

    /// Answers a 401/407 for `req`: every realm that challenged gets credentials (two proxies
    /// may ask at once, or one after the other), the strongest algorithm of each realm.
    /// Returns false when retrying is pointless: a realm we answered asks again with a fresh
    /// nonce and no `stale`, so the password is wrong.
    pub fn authorize(&mut self, req: &mut Request, resp: &Response) -> bool {
        let (ask, answer) = if msg::code_of(resp) == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let offered = Challenge::best_per_realm(&msg::get_lines(&resp.headers, ask));
        if offered.is_empty() {
            return false;
        }
        let answered_before = req.header(answer).is_some();
        for ch in offered {
            let key = (answer, ch.realm.clone());
            match self.auth.get(&key) {
                Some((prev, _)) if prev.nonce != ch.nonce && !ch.stale && answered_before => {
                    return false
                }
                Some((prev, nc)) if prev.nonce == ch.nonce => {
                    let nc = *nc;
                    self.auth.insert(key, (ch, nc));
                }
                _ => {
                    self.auth.insert(key, (ch, 0));
                }
            }
        }
        msg::remove(&mut req.headers, answer);
        let (method, uri) = (req.method.to_string(), req.uri.to_string());
        let user = self.cfg.auth_user.clone().unwrap_or_else(|| self.user());
        for ((header, _), (ch, nc)) in self.auth.iter_mut().filter(|((h, _), _)| *h == answer) {
            *nc += 1;
            let value = ch.answer(
                &method,
                &uri,
                &user,
                &self.cfg.password,
                &msg::random_token(12),
                *nc,
            );
            msg::push(&mut req.headers, header, value);
        }
        true
    }
}

impl Core {
    pub(super) async fn add_account(&mut self, cfg: AccountConfig) {
        let uri = match SipUri::parse(&cfg.aor) {
            Ok(u) if u.user.is_some() => u,
            _ => {
                let message = format!(
                    "“{}” is not a SIP address like sip:alice@example.com",
                    cfg.aor
                );
                return self.emit(Event::Error { message }).await;
            }
        };
        if let Err(e) = locate::check_transport(&uri) {
            let message = format!("Cannot use {}: {e}", cfg.aor);
            return self.emit(Event::Error { message }).await;
        }
        if cfg.transport == Proto::Tls {
            self.take_tls_on_sip_port();
        }
        let servers = match &cfg.server {
            Some(s) => match locate::server_targets(&self.locator, s, cfg.transport).await {
                Ok(p) => p,
                Err(e) => {
                    let message = format!("Cannot find server {s}: {e}");
                    return self.emit(Event::Error { message }).await;
                }
            },
            None => Vec::new(),
        };
        let stun = match &cfg.stun {
            Some(s) => match super::flow::stun_server(s).await {
                Ok(a) => Some(a),
                Err(e) => {
                    let message = format!("Cannot find STUN server {s}: {e}");
                    return self.emit(Event::Error { message }).await;
                }
            },
            None => None,
        };
        let turn = match &cfg.turn {
            Some((host, user, password)) => match super::flow::stun_server(host).await {
                Ok(addr) => Some(crate::nat::turn::TurnServer {
                    addr,
                    user: user.clone(),
                    password: password.clone(),
                }),
                Err(e) => {
                    let message = format!("Cannot find TURN server {host}: {e}");
                    return self.emit(Event::Error { message }).await;
                }
            },
            None => None,
        };
        let id = self.mint();
        let register = cfg.register;
        let expires = cfg.expires;
        let account = Account {
            call_id: msg::new_call_id(&uri.host),
            uri,
            servers,
            cseq: 0,
            expires,
            state: RegState::Idle,
            timer: None,
            auth: Default::default(),
            failures: 0,
            pending: None,
            fallbacks: Vec::new(),
            instance: super::flow::instance_id(&cfg.aor, &self.device),
            flow: None,
            public: None,
            sent_contact: None,
            offline: false,
            roaming: false,
            msrp_relay_failed: None,
            was_registered: false,
            stun,
            turn,
            tls: None,
            token: super::gate::new_token(),
            registrar: None,
            cfg,
        };
        let aor = account.uri.aor();
        let settings = super::AccountSettings::of(&account.cfg);
        self.accounts.insert(id, account);
        self.save_account(id);
        self.emit(Event::AccountAdded {
            account: id,
            aor,
            settings,
        })
        .await;
        if register {
            self.register(id, false).await;
        }
    }

    /// Keeps the account in the store, to sign in again at the next start.
    pub(super) fn save_account(&self, id: AccountId) {
        let (Some(db), Some(acc)) = (&self.db, self.accounts.get(&id)) else {
            return;
        };
        let c = &acc.cfg;
        let saved = crate::store::SavedAccount {
            aor: c.aor.clone(),
            password: c.password.clone(),
            server: c.server.clone(),
            transport: c.transport.as_str().to_ascii_lowercase(),
            auth_user: c.auth_user.clone(),
            stun: c.stun.clone(),
            turn: c.turn.clone(),
            msrp_relay: c.msrp_relay.clone(),
            ca_file: c.ca_file.as_ref().map(|p| p.display().to_string()),
            tls_fingerprint: c.tls_fingerprint.map(|f| f.to_string()),
            srtp: c.srtp.map(|p| p.as_str().to_string()),
            direct: c.direct,
        };
        db.post("save the account", move |s| {
            s.save_account(&saved).map(|_| ())
        });
    }

    /// Sends REGISTER (or un-REGISTER with Expires: 0).
    pub(super) async fn register(&mut self, id: AccountId, remove: bool) {
        let Some(acc) = self.accounts.get(&id) else {
            return;
        };
        let registrar = SipUri {
            scheme: acc.uri.scheme.clone(),
            user: None,
            host: acc.uri.host.clone(),
            port: None,
            params: Default::default(),
        };
        let (aor, host) = (acc.uri.aor(), acc.uri.host.clone());
        let mut targets = match self.route_targets(id, &registrar).await {
            Ok(t) => t.into_iter(),
            Err(e) => {
                let message = format!("Cannot find the server for {host}: {e}");
                self.fail_registration(id, 0, "No Server", &message, Some(60))
                    .await;
                tracing::warn!("{aor}: {message}");
                return;
            }
        };
        let Some(peer) = targets.next() else { return };
        if self.open_first(id, peer, remove) {
            return;
        }
        let acc = self.accounts.get(&id).unwrap();
        let contact = self.contact(&acc.user(), peer);
        let acc = self.accounts.get_mut(&id).unwrap();
        let old_contact = acc.sent_contact.replace(contact.clone());
        acc.fallbacks = targets.collect();
        acc.cseq += 1;
        acc.auth.clear();
        acc.state = if remove {
            RegState::Unregistering
        } else {
            RegState::Registering
        };
        let expires = if remove { 0 } else { acc.expires };
        let mut h = Headers::default();
        msg::push(
            &mut h,
            "From",
            format!("{};tag={}", acc.name_addr(), msg::new_tag()),
        );
        msg::push(&mut h, "To", acc.name_addr());
        msg::push(&mut h, "Call-ID", acc.call_id.clone());
        msg::push(&mut h, "CSeq", format!("{} REGISTER", acc.cseq));
        msg::push(
            &mut h,
            "Contact",
            super::flow::outbound_contact(&contact, acc),
        );
        if let Some(old) = old_contact.filter(|o| *o != contact && !remove) {
            // Our address changed (a NAT's mapping, a new network): the old one is let go.
            msg::push(&mut h, "Contact", format!("{old};expires=0"));
        }
        msg::push(&mut h, "Expires", expires.to_string());
        msg::push(&mut h, "Supported", "outbound, path");
        msg::push(&mut h, "User-Agent", super::USER_AGENT);
        msg::push(&mut h, "Allow", super::ALLOW);
        let req = Request {
            method: Method::Register,
            uri: msg::request_uri(&registrar),
            version: Version::V2,
            headers: h,
            body: Vec::new(),
        };
        let aor = acc.uri.aor();
        acc.pending = Some((req.clone(), peer));
        self.send(Ctx::Register(id), req, peer);
        if !remove {
            self.emit(Event::Registering { account: id, aor }).await;
        }
    }

    pub(super) async fn fail_registration(
        &mut self,
        id: AccountId,
        status: u16,
        phrase: &str,
        message: &str,
        retry: Option<u64>,
    ) {
        let Some(acc) = self.accounts.get_mut(&id) else {
            return;
        };
        acc.state = RegState::Idle;
        acc.failures += 1;
        let lost = acc.was_registered && !acc.offline && retry.is_some();
        acc.offline |= lost;
        // Back off: the retry interval grows with each failure, up to 10 minutes.
        let retry = retry.map(|r| (r * u64::from(acc.failures.min(20))).min(600));
        acc.timer = retry.map(|r| Instant::now() + Duration::from_secs(r));
        let aor = acc.uri.aor();
        self.emit(Event::RegistrationFailed {
            account: id,
            aor,
            status,
            reason: phrase.to_string(),
            message: message.to_string(),
            retry_in: retry,
        })
        .await;
        if lost {
            let message = format!("Offline: {message}");
            self.connection(id, false, message).await;
        }
    }

    pub(super) async fn register_response(&mut self, id: AccountId, resp: Response) {
        let code = msg::code_of(&resp);
        let Some(acc) = self.accounts.get_mut(&id) else {
            return;
        };
        if code < 200 || resp.cseq().0 != acc.cseq {
            return;
        }
        let removing = acc.state == RegState::Unregistering;
        let aor = acc.uri.aor();
        if msg::try_next_server(&resp) && !acc.fallbacks.is_empty() {
            return self.register_next_server(id).await;
        }
        match code {
            200..=299 => {
                if removing {
                    acc.state = RegState::Idle;
                    acc.timer = None;
                    acc.pending = None;
                    return self.emit(Event::Unregistered { account: id, aor }).await;
                }
                // The granted interval: our Contact's expires, else Expires, else what we asked.
                let ours = acc.user();
                let granted = msg::get_all(&resp.headers, "Contact")
                    .iter()
                    .filter_map(|c| NameAddr::parse(c).ok())
                    .filter(|c| c.uri.contains(&format!("sip:{ours}@")))
                    .filter_map(|c| c.params.get("expires").and_then(|e| e.parse::<u32>().ok()))
                    .next()
                    .or_else(|| resp.header("Expires").and_then(|e| e.parse().ok()))
                    .unwrap_or(acc.expires);
                acc.state = RegState::Registered;
                acc.failures = 0;
                let server = acc.pending.take().map(|(_, p)| p);
                acc.registrar = server.or(acc.registrar);
                // Refresh well before expiry: at half the interval for short ones, else 30 s early.
                let refresh = if granted <= 60 {
                    Duration::from_millis(u64::from(granted) * 500)
                } else {
                    Duration::from_secs(u64::from(granted) - 30)
                };
                acc.timer = Some(Instant::now() + refresh.max(Duration::from_millis(500)));
                if server.is_some_and(|p| self.flow_registered(id, p, &resp)) {
                    // Registering again at once, with the address the server saw.
                    return self.register(id, false).await;
                }
                let acc = self.accounts.get_mut(&id).unwrap();
                let back = std::mem::take(&mut acc.offline);
                acc.was_registered = true;
                self.emit(Event::Registered {
                    account: id,
                    aor,
                    expires: granted,
                })
                .await;
                if back {
                    self.connection(id, true, "Back online".into()).await;
                }
                if std::mem::take(&mut self.accounts.get_mut(&id).unwrap().roaming) {
                    self.move_calls(id).await;
                }
            }
            401 | 407 => {
                let Some((mut req, peer)) = acc.pending.clone() else {
                    return;
                };
                if acc.authorize(&mut req, &resp) {
                    acc.cseq += 1;
                    msg::set(&mut req.headers, "CSeq", format!("{} REGISTER", acc.cseq));
                    acc.pending = Some((req.clone(), peer));
                    self.send(Ctx::Register(id), req, peer);
                } else {
                    let msg_text = format!(
                        "Wrong password for {aor} (the server keeps asking for credentials)"
                    );
                    self.fail_registration(id, code, &msg::reason_of(&resp), &msg_text, None)
                        .await;
                }
            }
            423 => {
                let min = resp
                    .header("Min-Expires")
                    .and_then(|m| m.parse::<u32>().ok());
                match min {
                    Some(m) if m > acc.expires && !removing => {
                        acc.expires = m;
                        self.register(id, false).await;
                    }
                    _ => {
                        self.fail_registration(
                            id,
                            code,
                            &msg::reason_of(&resp),
                            reason::describe(423),
                            Some(60),
                        )
                        .await
                    }
                }
            }
            _ if removing => {
                acc.state = RegState::Idle;
                acc.pending = None;
                self.emit(Event::Unregistered { account: id, aor }).await;
            }
            _ => {
                let phrase = msg::reason_of(&resp);
                let text = match code {
                    403 => format!("Wrong password for {aor} (403 from the server)"),
                    404 => format!("The server does not know {aor} (404)"),
                    408 => format!("No answer from the server for {aor} (timeout)"),
                    c => format!("{aor}: {}", reason::line(c, &phrase)),
                };
                // A refused password will not get better by retrying; anything else might.
                let retry = (code != 403 && code != 404).then_some(30);
                self.fail_registration(id, code, &phrase, &text, retry)
                    .await;
            }
        }
    }

    /// The server did not answer (or said 503): the same REGISTER goes to the next one.
    async fn register_next_server(&mut self, id: AccountId) {
        let Some(acc) = self.accounts.get_mut(&id) else {
            return;
        };
        let (Some((mut req, _)), false) = (acc.pending.clone(), acc.fallbacks.is_empty()) else {
            return;
        };
        let peer = acc.fallbacks.remove(0);
        acc.cseq += 1;
        msg::set(&mut req.headers, "CSeq", format!("{} REGISTER", acc.cseq));
        let (user, aor) = (acc.user(), acc.uri.aor());
        let contact = self.contact(&user, peer);
        let acc = self.accounts.get_mut(&id).unwrap();
        acc.sent_contact = Some(contact.clone());
        let contact = super::flow::outbound_contact(&contact, acc);
        msg::set(&mut req.headers, "Contact", contact);
        tracing::info!("{aor}: trying the next server, {peer:?}");
        let acc = self.accounts.get_mut(&id).unwrap();
        acc.pending = Some((req.clone(), peer));
        self.send(Ctx::Register(id), req, peer);
    }
}
