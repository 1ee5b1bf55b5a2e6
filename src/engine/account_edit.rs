//! An account's settings for reaching its server and encrypting its calls, as Settings shows
//! and changes them: server and transport, STUN and TURN, the MSRP relay, whom its TLS trusts
//! (a CA file, a pinned certificate) and its SRTP policy. Passwords stay in the engine.

use super::{AccountConfig, AccountId, Core, Fingerprint, SrtpPolicy, Transport};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSettings {
    pub server: Option<String>,
    pub transport: Transport,
    pub stun: Option<String>,
    /// The TURN server and user (its password is kept, and only ever set).
    pub turn: Option<(String, String)>,
    pub msrp_relay: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// A server certificate trusted as it is; none forgets it.
    pub pinned: Option<Fingerprint>,
    /// As set, or the default: mandatory over TLS, else optional.
    pub srtp: SrtpPolicy,
    /// Calls and texts from anyone on the network, not only through the server.
    pub direct: bool,
}

impl AccountSettings {
    pub fn of(cfg: &AccountConfig) -> AccountSettings {
        let tls = cfg.transport == Transport::Tls || cfg.aor.to_lowercase().starts_with("sips:");
        AccountSettings {
            server: cfg.server.clone(),
            transport: cfg.transport,
            stun: cfg.stun.clone(),
            turn: cfg.turn.as_ref().map(|(h, u, _)| (h.clone(), u.clone())),
            msrp_relay: cfg.msrp_relay.clone(),
            ca_file: cfg.ca_file.clone(),
            pinned: cfg.tls_fingerprint,
            srtp: cfg.srtp.unwrap_or(SrtpPolicy::by_default(tls)),
            direct: cfg.direct,
        }
    }

    /// `cfg` with these settings; a TURN password given replaces the kept one.
    fn applied(&self, mut cfg: AccountConfig, turn_password: Option<String>) -> AccountConfig {
        let kept = cfg.turn.take().map(|(_, _, p)| p).unwrap_or_default();
        cfg.server = self.server.clone();
        cfg.transport = self.transport;
        cfg.stun = self.stun.clone();
        cfg.turn = self
            .turn
            .clone()
            .map(|(h, u)| (h, u, turn_password.unwrap_or(kept)));
        cfg.msrp_relay = self.msrp_relay.clone();
        cfg.ca_file = self.ca_file.clone();
        cfg.tls_fingerprint = self.pinned;
        cfg.srtp = Some(self.srtp);
        cfg.direct = self.direct;
        cfg
    }
}

impl Core {
    /// Signs the account out, and in again with the new settings (under a new id: the window
    /// hears it removed and added).
    pub(super) async fn update_account(
        &mut self,
        id: AccountId,
        settings: AccountSettings,
        turn_password: Option<String>,
    ) {
        let Some(acc) = self.accounts.get(&id) else {
            return;
        };
        let mut cfg = settings.applied(acc.cfg.clone(), turn_password);
        cfg.register = true;
        self.remove_account(id).await;
        self.add_account(cfg).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_keep_the_turn_password() {
        let mut cfg = AccountConfig::new("sip:alice@example.com", "pw");
        cfg.turn = Some(("turn.example.com".into(), "alice".into(), "secret".into()));
        let mut s = AccountSettings::of(&cfg);
        assert_eq!(s.srtp, SrtpPolicy::Optional);
        s.stun = Some("stun.example.com:3478".into());
        s.srtp = SrtpPolicy::Mandatory;
        let out = s.applied(cfg.clone(), None);
        assert_eq!(
            out.turn.as_ref().unwrap().2,
            "secret",
            "the password is kept"
        );
        assert_eq!(out.stun.as_deref(), Some("stun.example.com:3478"));
        assert_eq!(out.srtp, Some(SrtpPolicy::Mandatory));
        let out = s.applied(cfg, Some("new".into()));
        assert_eq!(out.turn.unwrap().2, "new");
        let tls = AccountConfig::new("sips:bob@example.com", "");
        assert_eq!(AccountSettings::of(&tls).srtp, SrtpPolicy::Mandatory);
    }
}
