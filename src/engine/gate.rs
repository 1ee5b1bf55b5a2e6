//! Who may reach an account (DESIGN.md "Trust"). Outside a dialog, a registered account takes
//! requests only from its server (the registration's flow, the registrar's or outbound proxy's
//! addresses) and only for its own Contact: each account's Contact carries a random
//! `rinstance` URI parameter (as Bria and Zoiper do), which registrars copy into the
//! Request-URI they send to, and which a scanner guessing `sip:100@our-address` cannot know.
//! Anything else is dropped without an answer: any reply, even a 404, tells a scanner that a
//! phone listens there, and a silent UDP port is what a firewall shows. An account marked
//! `direct` (a LAN without a server) takes requests from anyone, its callers unverified.

use super::{AccountId, Core};
use crate::server::reach::canonical;
use crate::sip::endpoint::Incoming;
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{MessageExt, Method};
use crate::sip::transport::Peer;

/// The Contact URI parameter carrying an account's token.
pub(super) const TOKEN_PARAM: &str = "rinstance";

/// How a request outside any dialog reached us, and for which account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reached {
    /// From the account's server, for its own Contact.
    Server(AccountId),
    /// Straight from the network, to an account that takes direct requests.
    Direct(AccountId),
}

impl Reached {
    pub fn account(self) -> AccountId {
        match self {
            Reached::Server(a) | Reached::Direct(a) => a,
        }
    }
}

/// Who sent a request, as the user is told: the identity the server asserted (RFC 3325
/// P-Asserted-Identity from the account's own server), or only what the From header claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    /// The address (AOR) shown and stored.
    pub address: String,
    pub display_name: Option<String>,
    pub verified: bool,
}

/// A fresh token for an account's Contact: 64 random bits, URI-safe.
pub(super) fn new_token() -> String {
    crate::sip::message::random_token(12)
}

impl Core {
    /// Whether a request outside a dialog may go on, and for which account; `None`: drop it.
    pub(super) fn admit(&self, inc: &Incoming) -> Option<Reached> {
        let ruri = SipUri::parse(&inc.request.uri.to_string()).ok()?;
        let token = ruri.params.get(TOKEN_PARAM);
        let mut ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        ids.sort_unstable();
        let from_server = ids.iter().copied().find(|id| {
            let a = &self.accounts[id];
            token == Some(a.token.as_str()) && self.is_server_of(*id, inc.source)
        });
        if let Some(id) = from_server {
            return Some(Reached::Server(id));
        }
        let user = ruri.user.as_deref();
        let direct = ids
            .iter()
            .copied()
            .filter(|id| self.accounts[id].cfg.direct);
        let by_user = direct
            .clone()
            .find(|id| Some(self.accounts[id].user().as_str()) == user);
        by_user
            .or_else(|| direct.clone().next())
            .map(Reached::Direct)
    }

    /// Whether `source` is the account's server: the flow it registered on, or an address of
    /// its registrar or outbound proxy (a server may answer from another port than it listens on).
    fn is_server_of(&self, id: AccountId, source: Peer) -> bool {
        let a = &self.accounts[&id];
        if a.flow.as_ref().is_some_and(|f| f.server == source) {
            return true;
        }
        let ip = canonical(source.addr.ip());
        a.registrar
            .iter()
            .chain(a.servers.iter())
            .any(|p| canonical(p.addr.ip()) == ip)
    }

    /// Whether a request belongs to something under way: a dialog of ours, or the INVITE a
    /// CANCEL cancels.
    pub(super) fn in_known_dialog(&self, inc: &Incoming) -> bool {
        if inc.request.method == Method::Cancel {
            return inc.cancels.as_ref().is_some_and(|k| {
                self.calls
                    .values()
                    .any(|c| c.invite_key.as_ref() == Some(k))
            });
        }
        self.find_by_dialog(&inc.request).is_some() || self.find_early(&inc.request).is_some()
    }

    /// The caller of a request that reached us as `reached`: asserted by the account's server,
    /// or only claimed.
    pub(super) fn caller(&self, inc: &Incoming, reached: Reached) -> Caller {
        let req = &inc.request;
        let asserted = match reached {
            Reached::Server(_) => req
                .header("P-Asserted-Identity")
                .and_then(|v| {
                    let first = crate::sip::headers::split_outside_quotes(&v, ',')[0];
                    NameAddr::parse(first.trim()).ok()
                })
                .filter(|a| SipUri::parse(&a.uri).is_ok()),
            Reached::Direct(_) => None,
        };
        let (addr, verified) = match asserted {
            Some(a) => (Some(a), true),
            None => (req.addr_from(), false),
        };
        // A display name that looks like an address ("alice@company.com" <sip:x@evil.example>)
        // would pose as that address: it is not shown.
        let display_name = addr
            .as_ref()
            .and_then(|a| a.display.clone())
            .filter(|d| !looks_like_address(d));
        let address = addr
            .and_then(|a| SipUri::parse(&a.uri).ok())
            .map(|u| u.aor())
            .unwrap_or_default();
        Caller {
            address,
            display_name,
            verified,
        }
    }
}

/// Whether a display name reads as an address (`bob@x`, `sip:bob`, `tel:123`).
fn looks_like_address(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.contains('@') || ["sip:", "sips:", "tel:"].iter().any(|s| lower.contains(s))
}
