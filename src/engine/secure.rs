//! TLS for an account's signalling: what its server must prove (the name the user typed,
//! RFC 5922, checked as the account trusts), the connection opened before the first REGISTER so
//! a refused certificate is known before any request or password leaves, and a certificate the
//! user chose to trust.

use super::{AccountId, Core, Event, Internal};
use crate::sip::headers::SipUri;
use crate::sip::transport::{Peer, Proto, TlsTarget};
use crate::tls::{CertRefused, Fingerprint, Trust};
use std::sync::Arc;

/// What opening an account's TLS connection came to.
pub(super) struct Opened {
    pub account: AccountId,
    pub remove: bool,
    pub peer: Peer,
    pub result: Result<(), (String, Option<CertRefused>)>,
}

impl Core {
    /// The account signs in over TLS (`sips:` or `--transport tls`).
    pub(super) fn over_tls(&self, account: AccountId) -> bool {
        self.accounts.get(&account).is_some_and(|a| {
            a.cfg.transport == Proto::Tls || a.uri.scheme.eq_ignore_ascii_case("sips")
        })
    }

    /// The name an account's server must hold a certificate for: the outbound server as typed,
    /// else the domain of the URI asked for.
    pub(super) fn tls_name(&self, account: Option<AccountId>, uri: &SipUri) -> String {
        let typed = account
            .and_then(|id| self.accounts.get(&id))
            .and_then(|a| a.cfg.server.as_deref())
            .and_then(crate::sip::headers::split_host_port)
            .map(|(host, _)| host.to_string());
        typed.unwrap_or_else(|| uri.host.clone())
    }

    /// The account's TLS client config (built once: it reads the system's roots); without
    /// an account, the system's roots alone.
    pub(super) fn tls_config(
        &mut self,
        account: Option<AccountId>,
    ) -> Option<Arc<rustls::ClientConfig>> {
        let Some(a) = account.and_then(|id| self.accounts.get_mut(&id)) else {
            return Some(crate::tls::trust::system_config());
        };
        if a.tls.is_none() {
            let trust = Trust {
                ca_file: a.cfg.ca_file.clone(),
                pinned: a.cfg.tls_fingerprint,
            };
            match trust.client_config() {
                Ok(c) => a.tls = Some(c),
                Err(e) => tracing::warn!("TLS: {e}"),
            }
        }
        a.tls.clone()
    }

    /// Tells the transport what each TLS target for `uri` must prove.
    pub(super) fn expect_tls(&mut self, account: Option<AccountId>, uri: &SipUri, to: &[Peer]) {
        if !to.iter().any(|p| p.proto == Proto::Tls) {
            return;
        }
        let name = self.tls_name(account, uri);
        let (Some(name), Some(config)) = (
            crate::tls::trust::server_name(&name),
            self.tls_config(account),
        ) else {
            return;
        };
        for p in to.iter().filter(|p| p.proto == Proto::Tls) {
            let target = TlsTarget {
                name: name.clone(),
                config: config.clone(),
            };
            self.endpoint.expect_tls(p.addr, target);
        }
    }

    /// Opens the TLS connection to `peer` off the loop; the REGISTER follows once it is up
    /// (`opened`). Returns false when there is nothing to open first.
    pub(super) fn open_first(&self, account: AccountId, peer: Peer, remove: bool) -> bool {
        if peer.proto != Proto::Tls || self.endpoint.connected(peer) {
            return false;
        }
        let (endpoint, internal) = (self.endpoint.clone(), self.internal.clone());
        tokio::spawn(async move {
            let result = endpoint.connect(peer).await.map_err(|e| {
                let refused = CertRefused::within(&e).cloned();
                (e.to_string(), refused)
            });
            let opened = Opened {
                account,
                remove,
                peer,
                result,
            };
            let _ = internal.send(Internal::Opened(opened));
        });
        true
    }

    pub(super) async fn opened(&mut self, o: Opened) {
        let Some(acc) = self.accounts.get(&o.account) else {
            return;
        };
        let aor = acc.uri.aor();
        match o.result {
            Ok(()) => self.register(o.account, o.remove).await,
            Err((_, Some(refused))) => {
                let message = format!("Not signed in to {aor}: {refused}. Nothing was sent to it.");
                // Asked first, so the window keeps a first sign-in while the user decides.
                self.emit(Event::ServerUntrusted {
                    account: o.account,
                    aor,
                    server: refused.name,
                    fingerprint: refused.fingerprint,
                    why: refused.why,
                    can_pin: refused.can_pin,
                })
                .await;
                self.fail_registration(o.account, 0, "Certificate refused", &message, None)
                    .await;
            }
            Err((why, None)) => {
                let message = format!(
                    "Cannot reach the server of {aor} over TLS ({}): {why}",
                    o.peer.addr
                );
                self.fail_registration(o.account, 0, "Unreachable", &message, Some(30))
                    .await;
            }
        }
    }

    /// The user trusts this certificate for the account: kept with it, and signed in again.
    pub(super) async fn trust_server(&mut self, account: AccountId, fingerprint: Fingerprint) {
        let Some(acc) = self.accounts.get_mut(&account) else {
            return;
        };
        acc.cfg.tls_fingerprint = Some(fingerprint);
        acc.tls = None;
        let settings = super::AccountSettings::of(&acc.cfg);
        self.save_account(account);
        self.emit(Event::AccountUpdated { account, settings }).await;
        self.register(account, false).await;
    }
}
