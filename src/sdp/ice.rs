//! ICE in SDP (RFC 8839): `a=ice-ufrag`, `a=ice-pwd` and `a=candidate` on the audio line, and
//! a session's `a=ice-lite` (a lite agent, as many PBXs and SBCs are, answers checks only).

use super::{Attributes, Media, Session};

/// One side's ICE attributes; candidates are `a=candidate` values (`1 1 UDP 2130706431 ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceAttrs {
    pub ufrag: String,
    pub pwd: String,
    pub candidates: Vec<String>,
    /// `a=ice-lite`: the agent only answers; a full agent facing it controls (RFC 8445 6.1.1).
    pub lite: bool,
}

/// The ICE attributes of `m`, its own or the session's (RFC 8839 5.4 allows both); `None`
/// for a peer without ICE, or one that gave no credentials or no candidate.
pub fn ice_of(s: &Session, m: &Media) -> Option<IceAttrs> {
    let session = |name: &str| {
        s.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let get = |name: &str| m.attr(name).map(str::to_string).or_else(|| session(name));
    let candidates: Vec<String> = m.attrs("candidate").map(str::to_string).collect();
    let attrs = IceAttrs {
        ufrag: get("ice-ufrag")?,
        pwd: get("ice-pwd")?,
        candidates,
        lite: s.attributes.iter().any(|(n, _)| n == "ice-lite"),
    };
    (!attrs.candidates.is_empty()).then_some(attrs)
}

pub(super) fn push_ice(attrs: &mut Attributes, ice: &IceAttrs) {
    attrs.push(("ice-ufrag".into(), Some(ice.ufrag.clone())));
    attrs.push(("ice-pwd".into(), Some(ice.pwd.clone())));
    for c in &ice.candidates {
        attrs.push(("candidate".into(), Some(c.clone())));
    }
}
