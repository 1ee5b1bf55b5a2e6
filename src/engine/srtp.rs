//! Encrypted audio for a call: the account's policy (RFC 4568 SDES keys only on a hop that is
//! TLS, RFC 4568 8.1), our keys in the SDP, a call refused or ended rather than silently left
//! in the clear when the policy says mandatory, and what the call view is told.

use super::{AccountId, CallId, Core, Event, SrtpPolicy};
use crate::sdp::crypto::{MasterKey, Suite};
use crate::sdp::Sdes;
use crate::sip::transport::Proto;

/// Why a mandatory call cannot be placed or taken.
pub(super) const KEYS_NEED_TLS: &str = "this account requires encrypted calls, and their keys can only travel over TLS: sign in over TLS (--transport tls), or allow unencrypted calls (--srtp optional)";

impl Core {
    /// The account's policy: as set, else mandatory when it signs in over TLS.
    pub(super) fn srtp_policy(&self, account: AccountId) -> SrtpPolicy {
        let Some(acc) = self.accounts.get(&account) else {
            return SrtpPolicy::Optional;
        };
        let tls = acc.cfg.transport == Proto::Tls || acc.uri.scheme.eq_ignore_ascii_case("sips");
        match (acc.cfg.srtp, tls) {
            (Some(p), _) => p,
            (None, true) => SrtpPolicy::Mandatory,
            (None, false) => SrtpPolicy::Optional,
        }
    }

    /// What our SDP says of SRTP for a call whose first hop is over `hop`: fresh keys when
    /// that hop is TLS; `Err` when the policy wants encryption that cannot be had.
    pub(super) fn sdes_for(
        &self,
        account: AccountId,
        hop: Proto,
    ) -> Result<Option<Sdes>, &'static str> {
        let mandatory = match self.srtp_policy(account) {
            SrtpPolicy::Off => return Ok(None),
            SrtpPolicy::Optional => false,
            SrtpPolicy::Mandatory => true,
        };
        match hop {
            Proto::Tls => Ok(Some(Sdes {
                keys: Suite::ALL.into_iter().map(MasterKey::random).collect(),
                mandatory,
            })),
            _ if mandatory => Err(KEYS_NEED_TLS),
            _ => Ok(None),
        }
    }

    /// The call's audio is encrypted as negotiated, or the policy forbids it going on:
    /// returns false (the caller ends the call) when mandatory encryption was not agreed.
    pub(super) fn encryption_holds(&self, id: CallId) -> bool {
        let Some(c) = self.calls.get(&id) else {
            return true;
        };
        let mandatory = c.media.sdes.as_ref().is_some_and(|s| s.mandatory);
        let audio = c.negotiated.as_ref().and_then(|n| n.audio.as_ref());
        !mandatory || audio.is_none_or(|a| a.srtp.is_some())
    }

    /// 488 for a call whose audio cannot be encrypted as this account requires (RFC 3261
    /// 21.4.26), saying so in its reason and Warning.
    pub(super) fn not_encrypted(
        &self,
        req: &crate::sip::message::Request,
        local_ip: std::net::IpAddr,
    ) -> crate::sip::message::Response {
        use crate::sip::message as msg;
        let phrase = "Not Acceptable Here (encrypted audio required)";
        let mut r = msg::response_to(req, 488, Some(phrase), Some(&msg::new_tag()));
        msg::push(&mut r.headers, "User-Agent", super::USER_AGENT);
        let warning = format!("399 {local_ip} \"This user takes encrypted calls only\"");
        msg::push(&mut r.headers, "Warning", warning);
        r
    }

    /// Tells the window whether the call's audio is encrypted, and how.
    pub(super) async fn say_security(&self, id: CallId) {
        let Some(audio) = self
            .calls
            .get(&id)
            .and_then(|c| c.negotiated.as_ref()?.audio.clone())
        else {
            return;
        };
        let (encrypted, message) = match &audio.srtp {
            Some((theirs, _)) => (
                true,
                format!(
                    "Encrypted: SRTP ({}), keys exchanged over TLS",
                    theirs.suite.name()
                ),
            ),
            None => (
                false,
                "Not encrypted: anyone on the network path can listen to this call".to_string(),
            ),
        };
        self.emit(Event::CallSecurity {
            call: id,
            encrypted,
            message,
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::SrtpPolicy;

    #[test]
    fn policies_read_as_written() {
        for p in [SrtpPolicy::Off, SrtpPolicy::Optional, SrtpPolicy::Mandatory] {
            assert_eq!(SrtpPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(SrtpPolicy::parse("MANDATORY"), Some(SrtpPolicy::Mandatory));
        assert_eq!(SrtpPolicy::parse("sometimes"), None);
    }
}
