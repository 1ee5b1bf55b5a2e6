//! Chat and files from behind a NAT: nobody can connect to our MSRP port there, so the call's
//! MSRP goes through an MSRP relay (RFC 4976), the one named for the account or else the SIP
//! server's (`parley serve --relay` runs one on port 2855). We connect out, authenticate, and
//! the URI it grants goes first in our `a=path`. A relay that cannot be had is remembered, so
//! calls do not wait on it each time (the server's, guessed, until the network changes; one
//! named, for ten minutes); MSRP then goes direct, as before. An account that signs in over
//! TLS reaches its relay over TLS too, checked as its SIP server is.

use super::{AccountId, Core};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The port of `parley serve --relay`'s MSRP relay, and of MSRP generally (RFC 4975).
const MSRP_PORT: u16 = 2855;
/// How long a named relay that failed is left alone.
const RETRY_AFTER: Duration = Duration::from_secs(600);
/// How long a relay may take to connect and grant us a URI: a named one, and the SIP
/// server's, which may not run one (a firewall that drops the connection must not hold the
/// call up long).
const NAMED_WITHIN: Duration = Duration::from_secs(5);
const GUESSED_WITHIN: Duration = Duration::from_secs(1);

impl Core {
    /// Puts a relay's URI in front of our MSRP path (and returns the relay's connection for
    /// the session), when the account is behind a NAT or names a relay.
    pub(super) async fn relay_msrp(
        &mut self,
        account: AccountId,
        reserved: &mut super::call::Reserved,
    ) -> Option<crate::msrp::relay::Granted> {
        let own = reserved.0.msrp_path.clone()?;
        let (relay, named) = self.msrp_relay_for(account).await?;
        let tls = self.relay_tls(account, named);
        let acc = self.accounts.get(&account)?;
        let user = acc.cfg.auth_user.clone().unwrap_or_else(|| acc.user());
        let password = acc.cfg.password.clone();
        let within = if named { NAMED_WITHIN } else { GUESSED_WITHIN };
        let creds = (user.as_str(), password.as_str());
        match crate::msrp::relay::authenticate(relay, &own, creds, within, tls).await {
            Ok(granted) => {
                tracing::info!("MSRP through the relay at {}", granted.use_path);
                reserved.0.msrp_path = Some(format!("{} {own}", granted.use_path));
                reserved.0.msrp_relayed = true;
                reserved.0.relay_tls = granted.fingerprint;
                Some(granted)
            }
            Err(e) => {
                tracing::info!("{e}: chat and files go direct");
                if let Some(acc) = self.accounts.get_mut(&account) {
                    acc.msrp_relay_failed = Some(Instant::now());
                }
                None
            }
        }
    }

    /// How the account's relay must prove itself, when the account signs in over TLS: as its
    /// SIP server does, for the name given for the relay (or the server's, for the server's).
    fn relay_tls(
        &mut self,
        account: AccountId,
        named: bool,
    ) -> Option<crate::msrp::relay::RelayTls> {
        if !self.over_tls(account) {
            return None;
        }
        let acc = self.accounts.get(&account)?;
        let name = match (&acc.cfg.msrp_relay, named) {
            (Some(relay), true) => {
                crate::sip::headers::split_host_port(relay).map_or(relay.clone(), |(host, _)| host)
            }
            _ => self.tls_name(Some(account), &acc.uri),
        };
        let name = crate::tls::trust::server_name(&name)?;
        let config = self.tls_config(Some(account))?;
        Some(crate::msrp::relay::RelayTls { config, name })
    }

    /// The relay to use, and whether it was named (else it is the SIP server's, guessed).
    async fn msrp_relay_for(&self, account: AccountId) -> Option<(SocketAddr, bool)> {
        let acc = self.accounts.get(&account)?;
        if let Some(named) = &acc.cfg.msrp_relay {
            if acc
                .msrp_relay_failed
                .is_some_and(|t| t.elapsed() < RETRY_AFTER)
            {
                return None;
            }
            let with_port = match named.rsplit_once(':') {
                Some((_, p)) if p.parse::<u16>().is_ok() => named.clone(),
                _ => format!("{named}:{MSRP_PORT}"),
            };
            let addr = tokio::net::lookup_host(&with_port).await.ok()?.next()?;
            return Some((addr, true));
        }
        let flow = acc.flow.as_ref()?;
        let natted = acc.public.is_some_and(|(p, _)| p == flow.server);
        (natted && acc.msrp_relay_failed.is_none())
            .then(|| (SocketAddr::new(flow.server.addr.ip(), MSRP_PORT), false))
    }
}
