//! DTLS-SRTP in the SDP (RFC 5763): our certificate's `a=fingerprint` (RFC 8122) and who starts
//! the handshake (`a=setup`, RFC 4145). Mandatory encryption offers `UDP/TLS/RTP/SAVP`; optional
//! offers it on plain `RTP/AVP` (opportunistic SRTP, RFC 8643), so a peer without it still
//! answers, and takes DTLS-SRTP whenever it is offered. Our one fingerprint goes at session level
//! (RFC 8122 5): per line it would take an offer past UDP's 1300 bytes (RFC 3261 18.1.1).
//! `a=tls-id` (RFC 8842) names the association: a side whose media starts afresh (it moved to
//! another network) gives a new one, and the other side then answers a new handshake.

use super::{Attributes, Media, Session};
use crate::tls::Fingerprint;

/// What we bring to a call: the fingerprint of the certificate our handshake shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsLocal {
    pub fingerprint: Fingerprint,
    /// Audio goes encrypted or not at all: we offer `UDP/TLS/RTP/SAVP`.
    pub mandatory: bool,
    /// Whether we started the handshake the call has, once there is one: re-offers and
    /// answers keep that role, so a hold does not tear the association down (RFC 5763 5).
    pub role: Option<bool>,
    /// Our `a=tls-id` for the association (RFC 8842 4).
    pub tls_id: String,
}

impl DtlsLocal {
    pub fn new(fingerprint: Fingerprint, mandatory: bool) -> DtlsLocal {
        DtlsLocal {
            fingerprint,
            mandatory,
            role: None,
            tls_id: new_tls_id(),
        }
    }
}

/// A fresh association id (RFC 8842 5: at least 20 characters, random).
pub fn new_tls_id() -> String {
    crate::sip::message::random_token(24)
}

/// DTLS-SRTP as agreed: both fingerprints, and whether we start the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsAgreed {
    pub theirs: Fingerprint,
    pub ours: Fingerprint,
    pub active: bool,
    /// The `a=tls-id`s, ours and theirs (if they gave one).
    pub ids: (String, Option<String>),
}

/// A profile that says the media is DTLS-SRTP.
pub fn is_dtls_proto(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("UDP/TLS/RTP/SAVP")
        || proto.eq_ignore_ascii_case("UDP/TLS/RTP/SAVPF")
}

fn push(attrs: &mut Attributes, local: &DtlsLocal, setup: &str) {
    attrs.push((
        "fingerprint".into(),
        Some(format!("sha-256 {}", local.fingerprint)),
    ));
    attrs.push(("setup".into(), Some(setup.into())));
    attrs.push(("tls-id".into(), Some(local.tls_id.clone())));
}

fn ids(m: &Media, local: &DtlsLocal) -> (String, Option<String>) {
    (local.tls_id.clone(), m.attr("tls-id").map(str::to_string))
}

/// Our offer's attributes: either side may start (RFC 5763 5), unless a handshake already
/// set who did.
pub fn push_offer(attrs: &mut Attributes, local: &DtlsLocal) {
    let setup = match local.role {
        Some(true) => "active",
        Some(false) => "passive",
        None => "actpass",
    };
    push(attrs, local, setup);
}

/// The line offers or answers DTLS-SRTP: its profile says so, or (opportunistic, RFC 8643) a
/// plain profile carries `a=setup` beside a fingerprint.
fn wants_dtls(s: &Session, m: &Media) -> Option<Fingerprint> {
    let theirs = their_fingerprint(s, m)?;
    (is_dtls_proto(&m.proto) || m.attr("setup").is_some()).then_some(theirs)
}

/// The other side's SHA-256 fingerprint, from its media line or else its session (RFC 8122
/// 5). Other hash functions are not taken.
pub fn their_fingerprint(s: &Session, m: &Media) -> Option<Fingerprint> {
    let sha256 = |v: &str| {
        let (hash, value) = v.trim().split_once(' ')?;
        hash.eq_ignore_ascii_case("sha-256")
            .then(|| Fingerprint::parse(value))
            .flatten()
    };
    let of = |attrs: &Attributes| {
        attrs
            .iter()
            .filter(|(k, _)| k == "fingerprint")
            .find_map(|(_, v)| sha256(v.as_deref()?))
    };
    of(&m.attributes).or_else(|| of(&s.attributes))
}

/// Our answer to an offered line that has a fingerprint: we start unless the offerer said it
/// will (RFC 5763 5: the answerer should be active).
pub fn answer(
    s: &Session,
    m: &Media,
    local: &DtlsLocal,
    attrs: &mut Attributes,
) -> Option<DtlsAgreed> {
    let theirs = wants_dtls(s, m)?;
    // No a=setup in an offer means the offerer is active (RFC 4145 4); actpass leaves it to
    // us: active (RFC 5763 5), or the role the call's handshake already gave us.
    let active = match m.attr("setup") {
        Some("active") | None => false,
        Some("passive") => true,
        Some(_) => local.role.unwrap_or(true),
    };
    push(attrs, local, if active { "active" } else { "passive" });
    Some(DtlsAgreed {
        theirs,
        ours: local.fingerprint,
        active,
        ids: ids(m, local),
    })
}

/// What the answer to our offer agreed: we start if the answerer is passive.
pub fn from_answer(s: &Session, m: &Media, local: &DtlsLocal) -> Option<DtlsAgreed> {
    Some(DtlsAgreed {
        theirs: wants_dtls(s, m)?,
        ours: local.fingerprint,
        active: m.attr("setup") == Some("passive"),
        ids: ids(m, local),
    })
}
