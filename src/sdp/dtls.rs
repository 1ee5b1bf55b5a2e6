//! DTLS-SRTP in the SDP (RFC 5763): our certificate's `a=fingerprint` (RFC 8122) and who starts
//! the handshake (`a=setup`, RFC 4145). Mandatory encryption offers `UDP/TLS/RTP/SAVP`; optional
//! takes DTLS-SRTP whenever it is offered but offers plain audio (opportunistic SRTP, RFC 8643,
//! is left out: its attributes take an offer past UDP's 1300 bytes, RFC 3261 18.1.1, onto TCP,
//! which many peers do not listen on).

use super::{Attributes, Media, Session};
use crate::tls::Fingerprint;

/// What we bring to a call: the fingerprint of the certificate our handshake shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsLocal {
    pub fingerprint: Fingerprint,
    /// Audio goes encrypted or not at all: we offer `UDP/TLS/RTP/SAVP`.
    pub mandatory: bool,
}

/// DTLS-SRTP as agreed: both fingerprints, and whether we start the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsAgreed {
    pub theirs: Fingerprint,
    pub ours: Fingerprint,
    pub active: bool,
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
}

/// Our offer's attributes: either side may start (RFC 5763 5).
pub fn push_offer(attrs: &mut Attributes, local: &DtlsLocal) {
    push(attrs, local, "actpass");
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
    let theirs = their_fingerprint(s, m)?;
    // No a=setup in an offer means the offerer is active (RFC 4145 4).
    let active = !matches!(m.attr("setup"), Some("active") | None);
    push(attrs, local, if active { "active" } else { "passive" });
    Some(DtlsAgreed {
        theirs,
        ours: local.fingerprint,
        active,
    })
}

/// What the answer to our offer agreed: we start if the answerer is passive.
pub fn from_answer(s: &Session, m: &Media, local: &DtlsLocal) -> Option<DtlsAgreed> {
    Some(DtlsAgreed {
        theirs: their_fingerprint(s, m)?,
        ours: local.fingerprint,
        active: m.attr("setup") == Some("passive"),
    })
}
