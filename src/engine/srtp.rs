//! Encrypted audio for a call: the account's policy (RFC 4568 SDES keys only on a hop that is
//! TLS, RFC 4568 8.1), our keys in the SDP, a call refused or ended rather than silently left
//! in the clear when the policy says mandatory, and what the call view is told.

use super::{AccountId, CallId, Core, Event, SrtpPolicy};
use crate::media::dtls::MediaIdentity;
use crate::sdp::crypto::{MasterKey, Suite};
use crate::sdp::dtls::DtlsLocal;
use crate::sdp::{LocalMedia, Sdes};
use crate::sip::transport::Proto;
use crate::tls::Identity;
use std::sync::Arc;

/// Why a mandatory call cannot be placed or taken.
const NO_IDENTITY: &str = "this account requires encrypted calls, and without TLS they need a certificate of this profile's, which could not be made (see the log)";

/// The name in the profile's own certificate (DTLS-SRTP's, and SIP's over TLS on our port):
/// one name, so the two uses never make it anew for each other.
pub(super) const PROFILE_NAME: &str = "parley";

/// The certificate our DTLS-SRTP handshakes show: the profile's own (the one a hosted server
/// shows too), or one made for this run when there is no profile.
pub(super) fn media_identity(dir: Option<&std::path::Path>) -> Option<Arc<MediaIdentity>> {
    match Identity::of_profile(dir, &[PROFILE_NAME.to_string()]) {
        Ok(id) => Some(Arc::new(MediaIdentity::of(&id))),
        Err(e) => {
            tracing::warn!("no certificate for DTLS-SRTP: {e}");
            None
        }
    }
}

impl Core {
    /// The account's policy: as set, else mandatory when it signs in over TLS.
    pub(super) fn srtp_policy(&self, account: AccountId) -> SrtpPolicy {
        let Some(acc) = self.accounts.get(&account) else {
            return SrtpPolicy::Optional;
        };
        acc.cfg
            .srtp
            .unwrap_or_else(|| SrtpPolicy::by_default(self.over_tls(account)))
    }

    /// What our SDP says of SRTP for a call whose first hop is over `hop`: fresh SDES keys
    /// when that hop is TLS (RFC 4568 8.1), DTLS-SRTP otherwise (and taken whenever offered);
    /// `Err` when the policy wants encryption that cannot be had.
    pub(super) fn protect(
        &self,
        account: AccountId,
        hop: Proto,
        local: &mut LocalMedia,
    ) -> Result<(), &'static str> {
        let mandatory = match self.srtp_policy(account) {
            SrtpPolicy::Off => return Ok(()),
            SrtpPolicy::Optional => false,
            SrtpPolicy::Mandatory => true,
        };
        if hop == Proto::Tls {
            local.sdes = Some(Sdes {
                keys: Suite::ALL.into_iter().map(MasterKey::random).collect(),
                mandatory,
            });
        }
        local.dtls = self
            .media_identity
            .as_ref()
            .map(|id| DtlsLocal::new(id.fingerprint(), mandatory));
        match mandatory && local.sdes.is_none() && local.dtls.is_none() {
            true => Err(NO_IDENTITY),
            false => Ok(()),
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
        !mandatory || audio.is_none_or(|a| a.encrypted())
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
            .and_then(|c| c.negotiated.as_ref()?.audio.as_ref())
        else {
            return;
        };
        if audio.dtls.is_some() {
            // Said once the handshake has made the keys (`secured`).
            return;
        }
        let (encrypted, message) = match &audio.srtp {
            Some((theirs, _)) => (
                true,
                format!(
                    "Encrypted: SRTP ({}), keys exchanged over TLS",
                    theirs.suite.name()
                ),
            ),
            None if audio.zrtp => (
                false,
                "Not encrypted: the other side offered ZRTP, which Parley does not have; anyone on the network path can listen to this call".to_string(),
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

/// What the call view says once DTLS-SRTP has made the keys: the suite, and the short code
/// the two people can read to each other.
pub(super) fn secured_message(suite: Suite, agreed: &crate::sdp::dtls::DtlsAgreed) -> String {
    let code = crate::media::dtls::short_code(&agreed.ours, &agreed.theirs);
    format!(
        "Encrypted: SRTP ({}), keys by DTLS. Read this code to each other: {code}. If theirs differs, someone is listening in between",
        suite.name()
    )
}

impl Core {
    /// The DTLS handshake failed: the call cannot be encrypted, so it ends with the reason.
    pub(super) async fn encryption_failed(&mut self, id: CallId) {
        if !self.calls.contains_key(&id) {
            return;
        }
        self.hangup(id).await;
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
