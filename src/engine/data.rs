//! Commands about stored data: restoring accounts, the address book, history, and hosting the
//! embedded server. The GUI never opens the database itself; it asks here and gets events.

use super::{AccountConfig, AccountId, Contact, Core, Event};
use crate::server::{Server, ServerConfig};
use crate::sip::transport::Proto;
use std::net::SocketAddr;

/// The setting that says this profile hosts a server: `BIND DOMAIN`.
const HOSTED: &str = "hosted_server";

impl Core {
    async fn store_error(&self, what: &str, e: crate::store::StoreError) {
        let message = format!("Could not {what}: {e}");
        self.emit(Event::Error { message }).await;
    }

    pub(super) async fn restore(&mut self) {
        let Some(store) = self.config.store.clone() else {
            return self.emit(Event::Restored { accounts: 0 }).await;
        };
        let saved = match store.accounts() {
            Ok(a) => a,
            Err(e) => return self.store_error("read accounts", e).await,
        };
        // A server this user hosts comes back before the accounts that register to it.
        if let Some((bind, domain)) = store
            .settings()
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == HOSTED)
            .and_then(|(_, v)| {
                let (b, d) = v.split_once(' ')?;
                Some((b.parse().ok()?, d.to_string()))
            })
        {
            self.host_server(bind, domain).await;
        }
        let n = saved.len();
        for a in saved {
            let mut cfg = AccountConfig::new(&a.aor, &a.password);
            cfg.server = a.server;
            cfg.transport = Proto::parse(&a.transport).unwrap_or(Proto::Udp);
            self.add_account(cfg).await;
        }
        match store.settings() {
            Ok(settings) => self.emit(Event::Settings { settings }).await,
            Err(e) => self.store_error("read settings", e).await,
        }
        self.send_contacts().await;
        self.send_history().await;
        self.emit(Event::Restored { accounts: n }).await;
    }

    pub(super) async fn send_contacts(&self) {
        let Some(store) = &self.config.store else {
            return;
        };
        match store.contacts() {
            Ok(contacts) => self.emit(Event::Contacts { contacts }).await,
            Err(e) => self.store_error("read contacts", e).await,
        }
    }

    pub(super) async fn send_history(&self) {
        let Some(store) = &self.config.store else {
            return;
        };
        match store.calls() {
            Ok(calls) => self.emit(Event::History { calls }).await,
            Err(e) => self.store_error("read the call history", e).await,
        }
    }

    pub(super) async fn save_contact(&mut self, c: Contact) {
        let Some(store) = self.config.store.clone() else {
            return;
        };
        if c.name.trim().is_empty() {
            let message = "A contact needs a name".to_string();
            return self.emit(Event::Error { message }).await;
        }
        if let Err(e) = store.save_contact(&c) {
            return self.store_error("save the contact", e).await;
        }
        self.send_contacts().await;
    }

    pub(super) async fn save_setting(&self, key: &str, value: &str) {
        let Some(store) = &self.config.store else {
            return;
        };
        if let Err(e) = store.set_setting(key, value) {
            self.store_error("save a setting", e).await;
        }
    }

    pub(super) async fn delete_contact(&mut self, id: i64) {
        let Some(store) = self.config.store.clone() else {
            return;
        };
        if let Err(e) = store.delete_contact(id) {
            return self.store_error("delete the contact", e).await;
        }
        self.send_contacts().await;
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
        if let Some(store) = &self.config.store {
            if let Err(e) = store.delete_account(&aor) {
                return self.store_error("delete the account", e).await;
            }
        }
        self.emit(Event::AccountRemoved { account: id }).await;
    }

    pub(super) async fn host_server(&mut self, bind: SocketAddr, domain: String) {
        let mut cfg = ServerConfig::new(bind, &domain);
        cfg.open = true;
        // A previous instance may still be letting go of the port: give it a moment.
        let mut started = Server::start(cfg.clone()).await;
        for _ in 0..10 {
            match &started {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    started = Server::start(cfg.clone()).await;
                }
                _ => break,
            }
        }
        match started {
            Ok(server) => {
                let addr = server.local_addr();
                self.server = Some(server);
                // Remembered with the port it got, so saved accounts still find it next time.
                self.save_setting(
                    HOSTED,
                    &format!("{} {domain}", SocketAddr::new(bind.ip(), addr.port())),
                )
                .await;
                self.emit(Event::ServerStarted { addr, domain }).await;
            }
            Err(e) => {
                let message = format!("Cannot host a server on {bind}: {e}");
                self.emit(Event::Error { message }).await;
            }
        }
    }
}
