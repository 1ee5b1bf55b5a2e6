//! Offers and answers (RFC 3264): our first offer, re-offers built from the session already
//! negotiated (same m-lines in the same order, same `o=` session id, version + 1: section 8),
//! answers that reject what we cannot do with port 0, and hold kept in every answer we give.

use super::crypto::{CryptoLine, MasterKey};
use super::dtls::{DtlsAgreed, DtlsLocal};
use super::{Address, Attributes, Media, SdpError, Session};
use crate::tls::Fingerprint;
use std::net::IpAddr;

/// SDES (RFC 4568): our SRTP keys, one per suite, for an SDP that travels over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdes {
    pub keys: Vec<MasterKey>,
    /// Audio goes encrypted or not at all: we offer RTP/SAVP and refuse plain offers.
    pub mandatory: bool,
}

impl Sdes {
    fn ours_for(&self, theirs: &MasterKey) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.suite == theirs.suite)
    }
}

/// What we can do, and where: the input to building offers and answers.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub user: String,
    /// Our `o=` session id: chosen once per call, stable across every SDP of the call.
    pub session_id: u64,
    pub address: IpAddr,
    pub rtp_port: u16,
    /// Our MSRP URI, e.g. `msrp://10.0.0.1:7000/s3cr3t;tcp`; `None` turns the stream off.
    pub msrp_path: Option<String>,
    pub accept_types: String,
    /// Voice codecs we take (`opus`, `PCMU`, `PCMA`), in our order; empty means all of
    /// `CODECS`. telephone-event is always offered.
    pub codecs: Vec<String>,
    /// A file we send (RFC 5547) and its transfer id: the offer has only the message line.
    pub file: Option<(super::file::FileSelector, String)>,
    /// Answering a file offer: the first byte we want (1, or past what a broken attempt left).
    pub resume_from: u64,
    /// We sit behind a NAT, where nobody can connect to us: when an offer lets us choose
    /// (`a=setup:actpass`, RFC 6135), we open the MSRP connection and the offerer listens.
    pub connect_out: bool,
    /// Our ICE credentials and candidates (RFC 8445), when we gathered any beyond the host's.
    pub ice: Option<super::IceAttrs>,
    /// Our MSRP path starts at our MSRP relay (RFC 4976): the other side connects to it, so
    /// we offer `a=setup:passive` and answer passive unless the offer is.
    pub msrp_relayed: bool,
    /// Our SRTP keys when they may go in this SDP (the signalling is TLS).
    pub sdes: Option<Sdes>,
    /// DTLS-SRTP when our policy wants encryption: offered when there are no SDES keys,
    /// taken whenever offered.
    pub dtls: Option<DtlsLocal>,
    /// Our MSRP relay is reached over TLS: the fingerprint of its certificate, which the
    /// other side connects to in our stead.
    pub relay_tls: Option<Fingerprint>,
}

impl LocalMedia {
    /// The fingerprint for a message line over TLS (RFC 4975 14.1), when ours may use it:
    /// our own certificate's, or through our MSRP relay, the relay's if we reach it over TLS.
    fn msrp_tls(&self) -> Option<Fingerprint> {
        match self.msrp_relayed {
            true => self.relay_tls,
            false => self.dtls.as_ref().map(|d| d.fingerprint),
        }
    }

    /// What our offers carry for MSRP: TLS without TLS signalling only when it is mandatory
    /// (optional takes it whenever offered), since MSRP has no opportunistic form: a peer
    /// without TLS would have to refuse the line. A relay over TLS is TLS already.
    fn offered_tls(&self) -> Option<Fingerprint> {
        let mandatory = self.dtls.as_ref().is_some_and(|d| d.mandatory);
        self.msrp_tls().filter(|_| self.msrp_relayed || mandatory)
    }

    /// Audio must be encrypted.
    fn encryption_mandatory(&self) -> bool {
        self.sdes.as_ref().is_some_and(|s| s.mandatory)
            || self.dtls.as_ref().is_some_and(|d| d.mandatory)
    }
}

impl LocalMedia {
    /// The `a=setup` we offer (RFC 6135).
    fn msrp_offer_setup(&self) -> &'static str {
        match self.msrp_relayed {
            true => "passive",
            false => "actpass",
        }
    }
}

impl LocalMedia {
    /// Our codecs as `CODECS` entries, in our order of preference.
    fn allowed(&self) -> Vec<&'static (&'static str, &'static str, Option<&'static str>)> {
        let name = |c: &(&str, &str, Option<&str>)| {
            c.1.split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let mut out: Vec<_> = match self.codecs.is_empty() {
            true => CODECS
                .iter()
                .filter(|c| !c.1.starts_with("telephone-event"))
                .collect(),
            false => self
                .codecs
                .iter()
                .filter_map(|want| CODECS.iter().find(|c| name(c) == want.to_ascii_lowercase()))
                .collect(),
        };
        // Keys at 8 kHz (what many peers send beside Opus too), and at the clock rate of any
        // other voice codec on offer (48 kHz for Opus).
        let rate = |map: &str| map.split('/').nth(1).map(str::to_string);
        let rates: Vec<_> = out.iter().filter_map(|c| rate(c.1)).collect();
        out.extend(CODECS.iter().filter(|c| {
            c.1.starts_with("telephone-event")
                && rate(c.1).is_some_and(|r| r == "8000" || rates.contains(&r))
        }));
        out
    }
}

/// Audio codecs in our order of preference: (payload type, rtpmap, fmtp).
pub const CODECS: &[(&str, &str, Option<&str>)] = &[
    ("111", "opus/48000/2", Some("useinbandfec=1")),
    ("0", "PCMU/8000", None),
    ("8", "PCMA/8000", None),
    ("101", "telephone-event/8000", Some("0-16")),
    // Keys at Opus's clock (RFC 4733 events use the audio's rate; most Opus peers want this).
    ("102", "telephone-event/48000", Some("0-16")),
];

/// The audio stream as negotiated: what the media layer is handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStream {
    pub remote: Address,
    pub port: u16,
    /// Where RTCP goes: `a=rtcp` or port + 1; `None` when RTCP shares the RTP port.
    pub rtcp: Option<(Address, u16)>,
    pub rtcp_mux: bool,
    pub payload_type: u8,
    /// Codec name as in the rtpmap (`opus`, `PCMU`, `PCMA`).
    pub codec: String,
    pub clock_rate: u32,
    /// Every voice payload type agreed on the line, with its codec name: the peer may send
    /// any of them (RFC 3264 6.1), and switch among them.
    pub formats: Vec<(u8, String)>,
    pub telephone_event: Option<u8>,
    /// Its clock rate (`telephone-event/8000` or `/48000`): key durations count in it.
    pub telephone_event_rate: u32,
    /// What we do: `sendrecv`, `sendonly` (we hold), `recvonly` (they hold), `inactive`.
    pub direction: &'static str,
    /// The other side's ICE attributes, when it does ICE (RFC 8839).
    pub ice: Option<super::IceAttrs>,
    /// SRTP agreed by SDES: the other side's key and ours for the same suite.
    pub srtp: Option<(MasterKey, MasterKey)>,
    /// SRTP agreed by DTLS (RFC 5763): the keys come from the handshake on the media path.
    pub dtls: Option<DtlsAgreed>,
    /// The other side announced ZRTP (`a=zrtp-hash`, RFC 6189), which Parley does not do.
    pub zrtp: bool,
}

impl AudioStream {
    /// The audio is encrypted, one way or the other.
    pub fn encrypted(&self) -> bool {
        self.srtp.is_some() || self.dtls.is_some()
    }
}

/// The negotiated result the media and MSRP layers are handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub audio: Option<AudioStream>,
    /// Remote MSRP path and whether we open the connection (`a=setup:active`).
    pub msrp: Option<(String, bool)>,
    /// What the offered message line is for (an answerer's view).
    pub message_use: Option<super::file::MessageUse>,
    /// The first byte of our file the answer asked for (`a=file-range`), 1-based.
    pub file_from: Option<u64>,
    /// MSRP goes over TLS (`TCP/TLS/MSRP`): the fingerprint of the other side's certificate.
    pub msrp_tls: Option<crate::tls::Fingerprint>,
}

fn audio_media(formats: Vec<String>, port: u16, attrs: Attributes) -> Media {
    Media {
        kind: "audio".into(),
        port,
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        bandwidth: Vec::new(),
        attributes: attrs,
    }
}

/// Our message line; over TLS (`msrps:` paths, `TCP/TLS/MSRP` and our fingerprint) when
/// `tls` is given.
fn msrp_media(path: &str, accept: &str, setup: &str, tls: Option<Fingerprint>) -> Media {
    let port = msrp_port(path).unwrap_or(9);
    let path = match tls {
        Some(_) => secure_path(path),
        None => plain_path(path),
    };
    let mut attributes = vec![
        ("accept-types".into(), Some(accept.into())),
        ("path".into(), Some(path)),
        ("setup".into(), Some(setup.into())),
        // RFC 6714: each session has its own connection, never one shared with another.
        ("connection".into(), Some("new".into())),
    ];
    if let Some(tls) = tls {
        attributes.push(("fingerprint".into(), Some(format!("sha-256 {tls}"))));
    }
    Media {
        kind: "message".into(),
        port,
        proto: match tls {
            Some(_) => "TCP/TLS/MSRP".into(),
            None => "TCP/MSRP".into(),
        },
        formats: vec!["*".into()],
        connection: None,
        bandwidth: Vec::new(),
        attributes,
    }
}

/// An MSRP path with its URIs as `msrps:` (RFC 4975 6: the scheme says TLS).
pub fn secure_path(path: &str) -> String {
    plain_path(path).replace("msrp://", "msrps://")
}

/// An MSRP path with its URIs as `msrp:` (a relay reached over TLS takes plain TCP too).
pub fn plain_path(path: &str) -> String {
    path.replace("msrps://", "msrp://")
}

fn is_tls_msrp(m: &Media) -> bool {
    m.proto.eq_ignore_ascii_case("TCP/TLS/MSRP")
}

/// The same message line again: its connection stays (RFC 4145 5, RFC 6714).
fn existing(mut m: Media) -> Media {
    for (k, v) in &mut m.attributes {
        if k == "connection" {
            *v = Some("existing".into());
        }
    }
    m
}

/// A line we do not take: same kind, proto and formats, port 0 (RFC 3264 6).
fn rejected(m: &Media) -> Media {
    Media {
        port: 0,
        attributes: Vec::new(),
        bandwidth: Vec::new(),
        connection: None,
        ..m.clone()
    }
}

fn msrp_port(path: &str) -> Option<u16> {
    let rest = path
        .strip_prefix("msrp://")
        .or_else(|| path.strip_prefix("msrps://"))?;
    let hostport = rest.split('/').next()?;
    hostport.rsplit_once(':')?.1.parse().ok()
}

fn session(local: &LocalMedia, version: u64, mut media: Vec<Media>) -> Session {
    // One certificate serves every line: its fingerprint once, at session level (RFC 8122 5),
    // unless a line has another (our MSRP relay's).
    let of = |m: &Media| {
        m.attributes
            .iter()
            .find(|(k, _)| k == "fingerprint")
            .cloned()
    };
    let lines: Vec<_> = media.iter().filter_map(of).collect();
    let mut attributes = Vec::new();
    if lines.windows(2).all(|w| w[0] == w[1]) {
        attributes.extend(lines.into_iter().take(1));
        for m in &mut media {
            m.attributes.retain(|(k, _)| k != "fingerprint");
        }
    }
    Session {
        origin_user: local.user.clone(),
        session_id: local.session_id,
        version,
        address: Address::Ip(local.address),
        name: "Parley".into(),
        connection: Some(Address::Ip(local.address)),
        bandwidth: Vec::new(),
        attributes,
        media,
    }
}

/// Our full audio line, sending or not as `direction` says.
fn our_audio(local: &LocalMedia, direction: &str) -> Media {
    let mut attrs = Vec::new();
    let codecs = local.allowed();
    for (pt, map, fmtp) in codecs.iter().copied() {
        attrs.push(("rtpmap".into(), Some(format!("{pt} {map}"))));
        if let Some(f) = fmtp {
            attrs.push(("fmtp".into(), Some(format!("{pt} {f}"))));
        }
    }
    attrs.push(("ptime".into(), Some("20".into())));
    // RTCP on the RTP port when the answer agrees (RFC 5761): one port for a NAT to keep
    // open and a relay to carry; we still listen on the next port if it does not.
    attrs.push(("rtcp-mux".into(), None));
    if let Some(ice) = &local.ice {
        super::ice::push_ice(&mut attrs, ice);
    }
    let mut proto = "RTP/AVP";
    if let Some(sdes) = &local.sdes {
        for (i, key) in sdes.keys.iter().enumerate() {
            let line = CryptoLine {
                tag: i as u32 + 1,
                key: key.clone(),
            };
            attrs.push(("crypto".into(), Some(line.value())));
        }
        // Optional SRTP offers its keys on a plain profile (best effort, as most phones do),
        // so a peer without SRTP still answers.
        if sdes.mandatory {
            proto = "RTP/SAVP";
        }
    } else if let Some(dtls) = &local.dtls {
        super::dtls::push_offer(&mut attrs, dtls);
        if dtls.mandatory {
            proto = "UDP/TLS/RTP/SAVP";
        }
    }
    attrs.push((direction.into(), None));
    let formats = codecs.iter().map(|c| c.0.to_string()).collect();
    let mut m = audio_media(formats, local.rtp_port, attrs);
    m.proto = proto.into();
    m
}

/// The other side's crypto line we take, if any (the first whose suite we have a key for),
/// with our key for that suite.
fn chosen_crypto(m: &Media, sdes: &Sdes) -> Option<(CryptoLine, MasterKey)> {
    m.attributes
        .iter()
        .filter(|(k, _)| k == "crypto")
        .filter_map(|(_, v)| CryptoLine::parse(v.as_deref()?))
        .find_map(|line| {
            let ours = sdes.ours_for(&line.key)?.clone();
            Some((line, ours))
        })
}

/// SDES keys (theirs, ours), or DTLS-SRTP, or neither (plain).
type Protection = (Option<(MasterKey, MasterKey)>, Option<DtlsAgreed>);

/// What an offered audio line's encryption comes to with our policy: DTLS-SRTP when it has a
/// fingerprint, else SDES keys, else plain; or why we cannot take it. Our attributes for it go
/// in `attrs`.
fn encryption_answer(
    s: &Session,
    m: &Media,
    local: &LocalMedia,
    attrs: &mut Attributes,
) -> Result<Protection, String> {
    if let Some(dtls) = &local.dtls {
        if let Some(agreed) = super::dtls::answer(s, m, dtls, attrs) {
            return Ok((None, Some(agreed)));
        }
    }
    if super::dtls::is_dtls_proto(&m.proto) {
        return Err("the offered DTLS-SRTP cannot be used here (encryption is off, or the offer has no SHA-256 fingerprint)".into());
    }
    match local.sdes.as_ref().and_then(|s| chosen_crypto(m, s)) {
        Some((theirs, ours)) => {
            let line = CryptoLine {
                tag: theirs.tag,
                key: ours,
            };
            attrs.push(("crypto".into(), Some(line.value())));
            Ok((Some((theirs.key, line.key)), None))
        }
        None if m.proto.starts_with("RTP/SAVP") => {
            Err("the offered SRTP keys cannot be used here (no TLS, or no suite in common)".into())
        }
        None if local.encryption_mandatory() && wants_zrtp(s) => Err(
            "the other side offers only ZRTP encryption, which Parley does not have (SRTP by SDES or DTLS it has)".into(),
        ),
        None if local.encryption_mandatory() => Err(
            "the call's audio would not be encrypted, and this account requires encryption".into(),
        ),
        None => Ok((None, None)),
    }
}

fn offer_direction(hold: bool) -> &'static str {
    if hold {
        "sendonly"
    } else {
        "sendrecv"
    }
}

/// Our first offer; `hold` offers audio `sendonly` (RFC 3264 8.4).
pub fn offer(local: &LocalMedia, version: u64, hold: bool) -> Session {
    let mut media = vec![our_audio(local, offer_direction(hold))];
    if let Some(path) = &local.msrp_path {
        media.push(msrp_media(
            path,
            &local.accept_types,
            local.msrp_offer_setup(),
            local.offered_tls(),
        ));
    }
    session(local, version, media)
}

/// An offer of a message line alone: a file to send (RFC 5547) or a chat session.
pub fn message_offer(local: &LocalMedia) -> Session {
    let path = local.msrp_path.clone().unwrap_or_default();
    let setup = local.msrp_offer_setup();
    let mut m = msrp_media(&path, &local.accept_types, setup, local.offered_tls());
    if let Some((file, id)) = &local.file {
        m.attributes.extend(super::file::offer_attrs(file, id));
    }
    session(local, 1, vec![m])
}

/// A new offer in a running call (RFC 3264 8): the m-lines of `prev` (our last SDP, offer or
/// answer) in their order, rejected ones still at port 0, the MSRP roles kept, version + 1.
pub fn reoffer(prev: &Session, local: &LocalMedia, hold: bool) -> Session {
    let media = prev
        .media
        .iter()
        .map(|m| match (m.kind.as_str(), &local.msrp_path) {
            _ if m.port == 0 => rejected(m),
            ("audio", _) => our_audio(local, offer_direction(hold)),
            ("message", Some(path)) => {
                let setup = m.attr("setup").unwrap_or("actpass");
                let tls = local.msrp_tls().filter(|_| is_tls_msrp(m));
                existing(msrp_media(path, &local.accept_types, setup, tls))
            }
            _ => rejected(m),
        })
        .collect();
    let mut s = session(local, prev.version + 1, media);
    s.session_id = prev.session_id;
    s
}

fn codec_key(map: &str) -> String {
    map.split('/')
        .take(2)
        .collect::<Vec<_>>()
        .join("/")
        .to_ascii_lowercase()
}

/// Our answer's direction to an offered one, holding or not: a hold of ours is never undone
/// by answering, and theirs is mirrored (RFC 3264 6.1).
fn answer_direction(offered: &str, hold: bool) -> &'static str {
    match (offered, hold) {
        ("sendonly", false) => "recvonly",
        ("sendonly", true) | ("inactive", _) => "inactive",
        ("recvonly", _) | (_, true) => "sendonly",
        _ => "sendrecv",
    }
}

/// Where RTCP for `m` goes (RFC 3605 `a=rtcp:port [IN IP4 addr]`, else port + 1).
fn rtcp_of(m: &Media, remote: &Address, mux: bool) -> Option<(Address, u16)> {
    if mux {
        return None;
    }
    match m.attr("rtcp") {
        Some(v) => {
            let mut f = v.split_whitespace();
            let port = f.next()?.parse().ok()?;
            let addr = f.nth(2).and_then(Address::parse).unwrap_or(remote.clone());
            Some((addr, port))
        }
        None => Some((remote.clone(), m.port.checked_add(1)?)),
    }
}

/// The codecs of an offered audio line we share, in the offerer's order, with our attributes.
fn shared_codecs(m: &Media, local: &LocalMedia) -> (Vec<String>, Attributes) {
    let mut chosen = Vec::new();
    let mut attrs = Vec::new();
    let allowed = local.allowed();
    for pt in &m.formats {
        let Some(map) = m.rtpmap(pt) else { continue };
        let Some(ours) = allowed.iter().find(|c| codec_key(c.1) == codec_key(&map)) else {
            continue;
        };
        chosen.push(pt.clone());
        attrs.push(("rtpmap".into(), Some(format!("{pt} {map}"))));
        if let Some(f) = ours.2 {
            attrs.push(("fmtp".into(), Some(format!("{pt} {f}"))));
        }
    }
    (chosen, attrs)
}

/// The stream described by an audio line and the payload types kept on it.
fn audio_stream(
    s: &Session,
    m: &Media,
    formats: &[String],
    dir: &'static str,
) -> Option<AudioStream> {
    let is_dtmf = |map: &str| map.to_ascii_lowercase().starts_with("telephone-event");
    let pt = formats
        .iter()
        .find(|pt| m.rtpmap(pt).is_some_and(|map| !is_dtmf(&map)))?;
    let map = m.rtpmap(pt)?;
    let mut parts = map.split('/');
    let codec = parts.next().unwrap_or_default().to_string();
    let clock_rate = parts.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
    // The events at the voice's clock rate, else any.
    let dtmf_at = |rate: Option<u32>| {
        formats.iter().find(|pt| {
            m.rtpmap(pt).is_some_and(|map| {
                is_dtmf(&map) && rate.is_none_or(|r| map.ends_with(&format!("/{r}")))
            })
        })
    };
    let event_pt = dtmf_at(Some(clock_rate)).or_else(|| dtmf_at(None));
    let telephone_event = event_pt.and_then(|pt| pt.parse().ok());
    let telephone_event_rate = event_pt
        .and_then(|pt| m.rtpmap(pt)?.split('/').nth(1)?.parse().ok())
        .unwrap_or(8000);
    let voice_formats = formats
        .iter()
        .filter_map(|pt| {
            let map = m.rtpmap(pt).filter(|map| !is_dtmf(map))?;
            let name = map.split('/').next().unwrap_or_default().to_string();
            Some((pt.parse().ok()?, name))
        })
        .collect();
    let remote = m.connection.clone().unwrap_or(s.address.clone());
    let mux = m.has("rtcp-mux");
    Some(AudioStream {
        rtcp: rtcp_of(m, &remote, mux),
        remote,
        port: m.port,
        rtcp_mux: mux,
        payload_type: pt.parse().ok()?,
        codec,
        clock_rate,
        formats: voice_formats,
        telephone_event,
        telephone_event_rate,
        direction: dir,
        ice: super::ice_of(s, m),
        srtp: None,
        dtls: None,
        zrtp: wants_zrtp(s),
    })
}

/// Whether a description announces ZRTP (`a=zrtp-hash` on a media line or the session):
/// Linphone's encryption where it is set, which keys on the media path and which Parley lacks.
pub fn wants_zrtp(s: &Session) -> bool {
    let zrtp = |attrs: &super::Attributes| attrs.iter().any(|(k, _)| k == "zrtp-hash");
    zrtp(&s.attributes) || s.media.iter().any(|m| zrtp(&m.attributes))
}

/// Answers an offer (RFC 3264 6): every offered stream gets a line, the ones we cannot take
/// (video, SRTP profiles, a second audio line) get port 0. Only an audio line with no codec in
/// common and nothing else accepted fails the call (488).
pub fn answer(
    offer: &Session,
    local: &LocalMedia,
    version: u64,
    hold: bool,
) -> Result<(Session, Negotiated), SdpError> {
    let mut out = Vec::new();
    let mut neg = Negotiated {
        audio: None,
        msrp: None,
        message_use: None,
        file_from: None,
        msrp_tls: None,
    };
    let mut no_codec = None;
    let mut unencrypted = None;
    for m in &offer.media {
        match (m.kind.as_str(), m.proto.as_str()) {
            (
                "audio",
                "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF" | "UDP/TLS/RTP/SAVP"
                | "UDP/TLS/RTP/SAVPF",
            ) if m.port != 0 && neg.audio.is_none() => {
                let mut secure = Vec::new();
                let (srtp, dtls) = match encryption_answer(offer, m, local, &mut secure) {
                    Ok(s) => s,
                    Err(why) => {
                        tracing::info!("offered audio refused: {why}");
                        unencrypted = Some(why);
                        out.push(rejected(m));
                        continue;
                    }
                };
                let (chosen, mut attrs) = shared_codecs(m, local);
                let dir = answer_direction(offer.direction(m), hold);
                let Some(mut stream) = audio_stream(offer, m, &chosen, dir) else {
                    no_codec = Some(m.formats.join(" "));
                    out.push(rejected(m));
                    continue;
                };
                attrs.push(("ptime".into(), Some("20".into())));
                if stream.rtcp_mux {
                    attrs.push(("rtcp-mux".into(), None));
                }
                // ICE only with a peer that offered it (RFC 8839 4.2).
                if let (Some(ice), Some(_)) = (&local.ice, &stream.ice) {
                    super::ice::push_ice(&mut attrs, ice);
                }
                attrs.extend(secure);
                (stream.srtp, stream.dtls) = (srtp, dtls);
                attrs.push((dir.into(), None));
                neg.audio = Some(stream);
                let mut line = audio_media(chosen, local.rtp_port, attrs);
                // Answered in the offer's own profile (AVPF: RFC 4585 says we may).
                line.proto = m.proto.clone();
                out.push(line);
            }
            ("message", "TCP/MSRP" | "TCP/TLS/MSRP") if m.port != 0 && neg.msrp.is_none() => {
                let tls = match msrp_tls_answer(offer, m, local) {
                    Ok(tls) => tls,
                    Err(why) => {
                        tracing::info!("offered message stream refused: {why}");
                        out.push(rejected(m));
                        continue;
                    }
                };
                match (&local.msrp_path, m.attr("path")) {
                    (Some(path), Some(remote)) => {
                        // RFC 6135: the offerer is active unless it said passive, or it
                        // let us choose and we cannot be connected to.
                        let setup = m.attr("setup");
                        let we_connect = setup == Some("passive")
                            || (local.connect_out
                                && !local.msrp_relayed
                                && setup == Some("actpass"));
                        let setup = if we_connect { "active" } else { "passive" };
                        neg.msrp = Some((remote.to_string(), we_connect));
                        let usage = super::file::message_use(m);
                        neg.msrp_tls = tls.map(|(_, theirs)| theirs);
                        let tls = tls.map(|(ours, _)| ours);
                        let mut ours = msrp_media(path, &local.accept_types, setup, tls);
                        if m.attr("connection") == Some("existing") {
                            ours = existing(ours);
                        }
                        if let super::file::MessageUse::Receive(_) = usage {
                            let from = local.resume_from.max(1);
                            ours.attributes.extend(super::file::answer_attrs(m, from));
                        }
                        neg.message_use = Some(usage);
                        out.push(ours);
                    }
                    _ => out.push(rejected(m)),
                }
            }
            _ => {
                if m.port != 0 {
                    tracing::info!(kind = %m.kind, proto = %m.proto, "offered stream refused");
                }
                out.push(rejected(m));
            }
        }
    }
    // No silent downgrade: audio we may not take unencrypted fails the call, whatever else.
    if let (None, Some(why)) = (&neg.audio, unencrypted) {
        return Err(SdpError::NotEncrypted(why));
    }
    if let (None, None, Some(formats)) = (&neg.audio, &neg.msrp, no_codec) {
        let why = format!("none of the offered audio codecs ({formats}) is supported");
        return Err(SdpError::NotAcceptable(why));
    }
    Ok((session(local, version, out), neg))
}

/// Whether an offered message line goes over TLS: our certificate and the fingerprint of
/// theirs; plain when offered plain (unless our encryption is mandatory and TLS was ours to
/// give); or why we cannot take it.
fn msrp_tls_answer(
    s: &Session,
    m: &Media,
    local: &LocalMedia,
) -> Result<Option<(Fingerprint, Fingerprint)>, &'static str> {
    match (is_tls_msrp(m), local.msrp_tls()) {
        (true, Some(ours)) => match super::dtls::their_fingerprint(s, m) {
            Some(theirs) => Ok(Some((ours, theirs))),
            None => Err("MSRP over TLS with no SHA-256 fingerprint"),
        },
        (true, None) => Err("MSRP over TLS cannot be done here"),
        (false, Some(_)) if local.encryption_mandatory() => {
            Err("chat and files would not be encrypted, and this account requires encryption")
        }
        (false, _) => Ok(None),
    }
}

/// The direction of the first live audio stream (`inactive` when there is none).
pub fn audio_direction(s: &Session) -> &'static str {
    match s.media.iter().find(|m| m.kind == "audio" && m.port != 0) {
        Some(m) => s.direction(m),
        None => "inactive",
    }
}

/// What we do, given the direction the answerer chose and whether we hold.
fn our_direction(answered: &str, hold: bool) -> &'static str {
    match (answered, hold) {
        ("recvonly", _) | ("sendrecv", true) => "sendonly",
        ("sendonly", false) => "recvonly",
        ("sendrecv", false) => "sendrecv",
        _ => "inactive",
    }
}

/// Reads the answer to our offer (made holding or not, with `sdes` our keys if we offered any,
/// `dtls` our fingerprint if we offered DTLS-SRTP).
pub fn accept_answer(
    answer: &Session,
    hold: bool,
    sdes: Option<&Sdes>,
    dtls: Option<&DtlsLocal>,
) -> Negotiated {
    let live = |kind: &str| {
        answer
            .media
            .iter()
            .find(move |m| m.port != 0 && m.kind == kind)
    };
    let audio = live("audio").and_then(|m| {
        let dir = our_direction(answer.direction(m), hold);
        let mut stream = audio_stream(answer, m, &m.formats, dir)?;
        // The answer's one crypto line, for a suite we offered (RFC 4568 5.1.2).
        stream.srtp = sdes
            .and_then(|s| chosen_crypto(m, s))
            .map(|(theirs, ours)| (theirs.key, ours));
        stream.dtls = match sdes {
            None => dtls.and_then(|d| super::dtls::from_answer(answer, m, d)),
            Some(_) => None,
        };
        Some(stream)
    });
    let message = live("message");
    let msrp_tls = message
        .filter(|m| is_tls_msrp(m))
        .map(|m| super::dtls::their_fingerprint(answer, m));
    let msrp = message.and_then(|m| {
        let we_connect = m.attr("setup") != Some("active");
        // TLS with no fingerprint to check the other side against is no session at all.
        if msrp_tls == Some(None) {
            return None;
        }
        Some((m.attr("path")?.to_string(), we_connect))
    });
    Negotiated {
        audio,
        msrp,
        message_use: None,
        file_from: message.and_then(super::file::range_start),
        msrp_tls: msrp_tls.flatten(),
    }
}
