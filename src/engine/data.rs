//! Commands about stored data: restoring accounts, the address book, history, and hosting the
//! embedded server. The GUI never opens the database itself; it asks here and gets events.

use super::desktop::RINGTONE_SETTING;
use super::{AccountConfig, AccountId, Contact, Core, Event};
use crate::server::{Server, ServerConfig};
use crate::sip::transport::Proto;
use crate::store::{Store, StoreError};
use crate::tls::Fingerprint;
use std::net::SocketAddr;

/// The setting that says this profile hosts a server: `BIND DOMAIN`.
const HOSTED: &str = "hosted_server";

impl Core {
    /// Runs a query on the store's thread; a failure is said as an Error event.
    /// `None` when there is no store or the query failed.
    pub(super) async fn query<R: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Option<R> {
        match self.db.as_ref()?.run(f).await? {
            Ok(r) => Some(r),
            Err(e) => {
                let message = format!("Could not {what}: {e}");
                self.emit(Event::Error { message }).await;
                None
            }
        }
    }

    pub(super) async fn restore(&mut self) {
        // Calls a killed or crashed run left open are closed first, so history does not lie.
        let _ = self
            .query("tidy the call history", |s| s.close_interrupted_calls())
            .await;
        let _ = self
            .query("tidy the transfers", |s| s.close_interrupted_transfers())
            .await;
        let saved = self
            .query("read accounts", |s| s.accounts())
            .await
            .unwrap_or_default();
        let settings = self
            .query("read settings", |s| s.settings())
            .await
            .unwrap_or_default();
        // A server this user hosts comes back before the accounts that register to it.
        let hosted = settings
            .iter()
            .find(|(k, _)| k == HOSTED)
            .and_then(|(_, v)| {
                let (b, d) = v.split_once(' ')?;
                Some((b.parse().ok()?, d.to_string()))
            });
        if let Some((bind, domain)) = hosted {
            let _ = self.host_server(bind, domain).await;
        }
        if self.config.use_saved_devices {
            for (k, v) in &settings {
                self.use_device(k, v).await;
            }
        }
        if let Some((_, v)) = settings.iter().find(|(k, _)| k == RINGTONE_SETTING) {
            self.ringtone_setting(v);
        }
        let n = saved.len();
        for a in saved {
            let mut cfg = AccountConfig::new(&a.aor, &a.password);
            cfg.server = a.server;
            cfg.auth_user = a.auth_user;
            cfg.transport = Proto::parse(&a.transport).unwrap_or(Proto::Udp);
            cfg.stun = a.stun;
            cfg.turn = a.turn;
            cfg.msrp_relay = a.msrp_relay;
            cfg.ca_file = a.ca_file.map(std::path::PathBuf::from);
            cfg.tls_fingerprint = a.tls_fingerprint.as_deref().and_then(Fingerprint::parse);
            cfg.srtp = a.srtp.as_deref().and_then(super::SrtpPolicy::parse);
            cfg.direct = a.direct;
            self.add_account(cfg).await;
        }
        if self.db.is_some() {
            self.emit(Event::Settings { settings }).await;
        }
        self.send_contacts().await;
        self.send_history().await;
        self.send_conversations().await;
        self.emit(Event::Restored { accounts: n }).await;
    }

    pub(super) async fn send_contacts(&self) {
        if let Some(contacts) = self.query("read contacts", |s| s.contacts()).await {
            self.emit(Event::Contacts { contacts }).await;
        }
    }

    pub(super) async fn send_history(&self) {
        if let Some(calls) = self.query("read the call history", |s| s.calls()).await {
            self.emit(Event::History { calls }).await;
        }
    }

    async fn send_conversations(&self) {
        let said = self.query("read the messages", |s| Ok((s.messages()?, s.transfers()?)));
        if let Some((messages, transfers)) = said.await {
            self.emit(Event::Conversations {
                messages,
                transfers,
            })
            .await;
        }
    }

    pub(super) async fn save_contact(&mut self, c: Contact) {
        if c.name.trim().is_empty() {
            let message = "A contact needs a name".to_string();
            return self.emit(Event::Error { message }).await;
        }
        if self
            .query("save the contact", move |s| s.save_contact(&c))
            .await
            .is_some()
        {
            self.send_contacts().await;
        }
    }

    pub(super) async fn save_setting(&mut self, key: &str, value: &str) {
        if self.config.use_saved_devices {
            self.use_device(key, value).await;
        }
        if key == RINGTONE_SETTING {
            self.ringtone_setting(value);
        }
        let (k, v) = (key.to_string(), value.to_string());
        let _ = self
            .query("save a setting", move |s| s.set_setting(&k, &v))
            .await;
    }

    pub(super) async fn delete_contact(&mut self, id: i64) {
        if self
            .query("delete the contact", move |s| s.delete_contact(id))
            .await
            .is_some()
        {
            self.send_contacts().await;
        }
    }

    pub(super) async fn remove_account(&mut self, id: AccountId) {
        let Some(acc) = self.accounts.get(&id) else {
            return;
        };
        let aor = acc.cfg.aor.clone();
        if acc.registered() {
            self.register(id, true).await;
        }
        self.accounts.remove(&id);
        let _ = self
            .query("delete the account", move |s| s.delete_account(&aor))
            .await;
        self.emit(Event::AccountRemoved { account: id }).await;
    }

    /// Hosts the server, then signs in to it as `user`: over its TLS port when it has one,
    /// trusting the certificate it just made.
    pub(super) async fn host_and_sign_in(
        &mut self,
        bind: SocketAddr,
        domain: String,
        user: Option<String>,
    ) {
        let started = self.host_server(bind, domain.clone()).await;
        let (Some((addr, tls)), Some(user)) = (started, user) else {
            return;
        };
        let mut cfg = AccountConfig::new(&format!("sip:{user}@{domain}"), "");
        cfg.server = Some(own_server(addr).to_string());
        if let Some((at, fingerprint)) = tls {
            cfg.server = Some(own_server(at).to_string());
            cfg.transport = Proto::Tls;
            cfg.tls_fingerprint = Some(fingerprint);
        }
        self.add_account(cfg).await;
    }

    /// Starts the embedded server: where it listens, and its TLS port and fingerprint.
    pub(super) async fn host_server(&mut self, bind: SocketAddr, domain: String) -> Option<Hosted> {
        let mut cfg = ServerConfig::new(bind, &domain);
        cfg.open = true;
        let identity = match self.hosted_identity(&domain) {
            Ok(id) => id,
            Err(e) => {
                let message = format!("Cannot host a server with TLS: {e}");
                self.emit(Event::Error { message }).await;
                return None;
            }
        };
        // A previous instance may still be letting go of the port: give it a moment.
        let mut started = start_hosted(&cfg, &identity).await;
        for _ in 0..10 {
            match &started {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    started = start_hosted(&cfg, &identity).await;
                }
                _ => break,
            }
        }
        match started {
            Ok(server) => {
                let addr = server.local_addr();
                let tls = server.tls_addr().map(|a| (a, identity.key_fingerprint()));
                self.server = Some(server);
                // Remembered with the port it got, so saved accounts still find it next time.
                self.save_setting(
                    HOSTED,
                    &format!("{} {domain}", SocketAddr::new(bind.ip(), addr.port())),
                )
                .await;
                self.emit(Event::ServerStarted { addr, domain, tls }).await;
                Some((addr, tls))
            }
            Err(e) => {
                let message = format!("Cannot host a server on {bind}: {e}");
                self.emit(Event::Error { message }).await;
                None
            }
        }
    }

    /// The hosted server's certificate: the profile's, made at the first start and kept, so
    /// the fingerprint colleagues trusted stays the same.
    fn hosted_identity(&self, domain: &str) -> Result<crate::tls::Identity, String> {
        let names = [domain.to_string()];
        crate::tls::Identity::of_profile(self.config.tls_dir.as_deref(), &names)
            .map_err(|e| e.to_string())
    }
}

/// Where a hosted server listens, and its TLS port with its certificate's fingerprint.
type Hosted = (SocketAddr, Option<(SocketAddr, Fingerprint)>);

/// Where this computer reaches a server it hosts: the address it is bound to, or the
/// loopback of that family when it listens on all addresses.
fn own_server(addr: SocketAddr) -> SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    };
    SocketAddr::new(ip, addr.port())
}

/// The hosted server: SIP over UDP and TCP on `cfg.bind`, and TLS on the next port (5061
/// beside 5060, as RFC 3261 and baresip have it); any free port when the OS picks the first.
async fn start_hosted(
    cfg: &ServerConfig,
    identity: &crate::tls::Identity,
) -> std::io::Result<Server> {
    let tls = identity.server_config().map_err(std::io::Error::other)?;
    let port = match cfg.bind.port() {
        0 => 0,
        p => p.checked_add(1).unwrap_or(0),
    };
    let mut cfg = cfg.clone();
    cfg.tls = Some((SocketAddr::new(cfg.bind.ip(), port), tls));
    Server::start(cfg).await
}
