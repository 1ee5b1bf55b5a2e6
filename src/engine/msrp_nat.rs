//! Chat and files from behind a NAT: nobody can connect to our MSRP port there, so the call's
//! MSRP goes through an MSRP relay (RFC 4976), the one named for the account or else the SIP
//! server's (`parley serve --relay` runs one on port 2855). We connect out, authenticate, and
//! the URI it grants goes first in our `a=path`. A relay that cannot be had is remembered for
//! a while, so calls do not wait on it each time; MSRP then goes direct, as before.

use super::{AccountId, Core};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The port of `parley serve --relay`'s MSRP relay, and of MSRP generally (RFC 4975).
const MSRP_PORT: u16 = 2855;
/// How long a relay that failed is left alone.
const RETRY_AFTER: Duration = Duration::from_secs(600);

impl Core {
    /// Puts a relay's URI in front of our MSRP path (and returns the relay's connection for
    /// the session), when the account is behind a NAT or names a relay.
    pub(super) async fn relay_msrp(
        &mut self,
        account: AccountId,
        reserved: &mut super::call::Reserved,
    ) -> Option<crate::msrp::relay::Granted> {
        let own = reserved.0.msrp_path.clone()?;
        let relay = self.msrp_relay_for(account).await?;
        let acc = self.accounts.get(&account)?;
        let user = acc.cfg.auth_user.clone().unwrap_or_else(|| acc.user());
        let password = acc.cfg.password.clone();
        match crate::msrp::relay::authenticate(relay, &own, &user, &password).await {
            Ok(granted) => {
                tracing::info!("MSRP through the relay at {}", granted.use_path);
                reserved.0.msrp_path = Some(format!("{} {own}", granted.use_path));
                reserved.0.msrp_relayed = true;
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

    async fn msrp_relay_for(&self, account: AccountId) -> Option<SocketAddr> {
        let acc = self.accounts.get(&account)?;
        if acc
            .msrp_relay_failed
            .is_some_and(|t| t.elapsed() < RETRY_AFTER)
        {
            return None;
        }
        if let Some(named) = &acc.cfg.msrp_relay {
            let with_port = match named.rsplit_once(':') {
                Some((_, p)) if p.parse::<u16>().is_ok() => named.clone(),
                _ => format!("{named}:{MSRP_PORT}"),
            };
            return tokio::net::lookup_host(&with_port).await.ok()?.next();
        }
        let flow = acc.flow.as_ref()?;
        let natted = acc.public.is_some_and(|(p, _)| p == flow.server);
        natted.then(|| SocketAddr::new(flow.server.addr.ip(), MSRP_PORT))
    }
}
