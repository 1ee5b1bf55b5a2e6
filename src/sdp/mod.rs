//! SDP (RFC 4566) and offer/answer (RFC 3264) for our two streams: `m=audio RTP/AVP` with Opus,
//! PCMU, PCMA and telephone-event, and `m=message TCP/MSRP *` (RFC 4975, `a=setup` per RFC 6135).
//! Written by hand: SDP is a line format and no crate covers MSRP's attributes.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("bad SDP line {0}")]
    BadLine(String),
    #[error("SDP without {0}")]
    Missing(&'static str),
    /// No stream could be accepted: answer 488 Not Acceptable Here.
    #[error("no common media: {0}")]
    NotAcceptable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    pub attributes: Vec<(String, Option<String>)>,
}

impl Media {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn attrs<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |(n, _)| n == name)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// `a=rtpmap:PT name/rate[/channels]` for a payload type, with RFC 3551 static defaults.
    pub fn rtpmap(&self, pt: &str) -> Option<String> {
        self.attrs("rtpmap")
            .find_map(|v| {
                let (p, codec) = v.split_once(' ')?;
                (p == pt).then(|| codec.trim().to_string())
            })
            .or_else(|| match pt {
                "0" => Some("PCMU/8000".into()),
                "8" => Some("PCMA/8000".into()),
                _ => None,
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub origin_user: String,
    pub session_id: u64,
    pub version: u64,
    pub address: IpAddr,
    pub name: String,
    pub media: Vec<Media>,
}

impl Session {
    pub fn parse(text: &str) -> Result<Session, SdpError> {
        let mut origin = None;
        let mut name = String::from("-");
        let mut session_conn = None;
        let mut media: Vec<Media> = Vec::new();
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or_else(|| SdpError::BadLine(line.into()))?;
            match k {
                "o" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() != 6 {
                        return Err(SdpError::BadLine(line.into()));
                    }
                    let ip = f[5].parse().map_err(|_| SdpError::BadLine(line.into()))?;
                    origin = Some((
                        f[0].to_string(),
                        f[1].parse().unwrap_or(0),
                        f[2].parse().unwrap_or(0),
                        ip,
                    ));
                }
                "s" => name = v.to_string(),
                "c" => {
                    let ip: IpAddr = v
                        .split_whitespace()
                        .nth(2)
                        .and_then(|a| a.split('/').next())
                        .and_then(|a| a.parse().ok())
                        .ok_or_else(|| SdpError::BadLine(line.into()))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(ip),
                        None => session_conn = Some(ip),
                    }
                }
                "m" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(SdpError::BadLine(line.into()));
                    }
                    let port = f[1]
                        .split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| SdpError::BadLine(line.into()))?;
                    media.push(Media {
                        kind: f[0].to_string(),
                        port,
                        proto: f[2].to_string(),
                        formats: f[3..].iter().map(|s| s.to_string()).collect(),
                        connection: None,
                        attributes: Vec::new(),
                    });
                }
                "a" => {
                    if let Some(m) = media.last_mut() {
                        let (n, val) = match v.split_once(':') {
                            Some((n, val)) => (n.to_string(), Some(val.to_string())),
                            None => (v.to_string(), None),
                        };
                        m.attributes.push((n, val));
                    }
                }
                _ => {}
            }
        }
        let (origin_user, session_id, version, address) = origin.ok_or(SdpError::Missing("o="))?;
        for m in &mut media {
            if m.connection.is_none() {
                m.connection = session_conn;
            }
        }
        if media
            .iter()
            .any(|m| m.connection.is_none() && m.port != 0 && m.proto.starts_with("RTP"))
        {
            return Err(SdpError::Missing("c="));
        }
        Ok(Session {
            origin_user,
            session_id,
            version,
            address,
            name,
            media,
        })
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = |ip: &IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            self.origin_user,
            self.session_id,
            self.version,
            fam(&self.address),
            self.address
        )?;
        write!(f, "s={}\r\n", self.name)?;
        write!(f, "c=IN {} {}\r\n", fam(&self.address), self.address)?;
        write!(f, "t=0 0\r\n")?;
        for m in &self.media {
            write!(
                f,
                "m={} {} {} {}\r\n",
                m.kind,
                m.port,
                m.proto,
                m.formats.join(" ")
            )?;
            if let Some(c) = m.connection.filter(|c| *c != self.address) {
                write!(f, "c=IN {} {}\r\n", fam(&c), c)?;
            }
            for (n, v) in &m.attributes {
                match v {
                    Some(v) => write!(f, "a={n}:{v}\r\n")?,
                    None => write!(f, "a={n}\r\n")?,
                }
            }
        }
        Ok(())
    }
}

/// What we can do, and where: the input to building offers and answers.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub user: String,
    pub address: IpAddr,
    pub rtp_port: u16,
    /// Our MSRP URI, e.g. `msrp://10.0.0.1:7000/s3cr3t;tcp`; `None` turns the stream off.
    pub msrp_path: Option<String>,
    pub accept_types: String,
}

/// Audio codecs in our order of preference: (payload type, rtpmap, fmtp).
pub const CODECS: &[(&str, &str, Option<&str>)] = &[
    ("111", "opus/48000/2", Some("useinbandfec=1")),
    ("0", "PCMU/8000", None),
    ("8", "PCMA/8000", None),
    ("101", "telephone-event/8000", Some("0-16")),
];

fn audio_media(formats: Vec<String>, port: u16, attrs: Vec<(String, Option<String>)>) -> Media {
    Media {
        kind: "audio".into(),
        port,
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        attributes: attrs,
    }
}

fn msrp_media(path: &str, accept: &str, setup: &str) -> Media {
    Media {
        kind: "message".into(),
        port: msrp_port(path).unwrap_or(9),
        proto: "TCP/MSRP".into(),
        formats: vec!["*".into()],
        connection: None,
        attributes: vec![
            ("accept-types".into(), Some(accept.into())),
            ("path".into(), Some(path.into())),
            ("setup".into(), Some(setup.into())),
        ],
    }
}

fn msrp_port(path: &str) -> Option<u16> {
    let rest = path.strip_prefix("msrp://")?;
    let hostport = rest.split('/').next()?;
    hostport.rsplit_once(':')?.1.parse().ok()
}

fn session(local: &LocalMedia, version: u64, media: Vec<Media>) -> Session {
    Session {
        origin_user: local.user.clone(),
        session_id: version,
        version,
        address: local.address,
        name: "Parley".into(),
        media,
    }
}

pub fn offer(local: &LocalMedia, version: u64) -> Session {
    offer_with_direction(local, version, "sendrecv")
}

/// An offer whose audio has this direction: `sendonly` puts the peer on hold (RFC 3264 8.4).
pub fn offer_with_direction(local: &LocalMedia, version: u64, direction: &str) -> Session {
    let mut attrs = Vec::new();
    for (pt, map, fmtp) in CODECS {
        attrs.push(("rtpmap".into(), Some(format!("{pt} {map}"))));
        if let Some(f) = fmtp {
            attrs.push(("fmtp".into(), Some(format!("{pt} {f}"))));
        }
    }
    attrs.push(("ptime".into(), Some("20".into())));
    attrs.push((direction.into(), None));
    let mut media = vec![audio_media(
        CODECS.iter().map(|c| c.0.to_string()).collect(),
        local.rtp_port,
        attrs,
    )];
    if let Some(path) = &local.msrp_path {
        media.push(msrp_media(path, &local.accept_types, "actpass"));
    }
    session(local, version, media)
}

/// The negotiated result the media and MSRP layers are handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// (remote RTP address, payload type, codec) when audio was accepted.
    pub audio: Option<(std::net::SocketAddr, u8, String)>,
    /// Remote MSRP path and whether we open the connection (`a=setup:active`).
    pub msrp: Option<(String, bool)>,
}

fn codec_key(map: &str) -> String {
    map.split('/')
        .take(2)
        .collect::<Vec<_>>()
        .join("/")
        .to_ascii_lowercase()
}

/// Answers an offer (RFC 3264 section 6): every offered stream gets a line, rejected ones port 0.
pub fn answer(
    offer: &Session,
    local: &LocalMedia,
    version: u64,
) -> Result<(Session, Negotiated), SdpError> {
    let mut out = Vec::new();
    let mut neg = Negotiated {
        audio: None,
        msrp: None,
    };
    for m in &offer.media {
        let rejected = Media {
            port: 0,
            attributes: Vec::new(),
            connection: None,
            ..m.clone()
        };
        match (m.kind.as_str(), m.proto.as_str()) {
            ("audio", "RTP/AVP" | "RTP/AVPF") if m.port != 0 && neg.audio.is_none() => {
                let mut chosen = Vec::new();
                let mut attrs = Vec::new();
                let mut first = None;
                for pt in &m.formats {
                    let Some(map) = m.rtpmap(pt) else { continue };
                    let Some(ours) = CODECS.iter().find(|c| codec_key(c.1) == codec_key(&map))
                    else {
                        continue;
                    };
                    let is_dtmf = ours.1.starts_with("telephone-event");
                    if !is_dtmf && first.is_none() {
                        first = Some((pt.clone(), map.clone()));
                    }
                    chosen.push(pt.clone());
                    attrs.push(("rtpmap".into(), Some(format!("{pt} {map}"))));
                    if let Some(f) = ours.2 {
                        attrs.push(("fmtp".into(), Some(format!("{pt} {f}"))));
                    }
                }
                let Some((pt, map)) = first else {
                    return Err(SdpError::NotAcceptable(format!(
                        "none of the offered audio codecs ({}) is supported",
                        m.formats.join(" ")
                    )));
                };
                let ip = m.connection.unwrap_or(offer.address);
                neg.audio = Some((
                    std::net::SocketAddr::new(ip, m.port),
                    pt.parse().unwrap_or(0),
                    map.split('/').next().unwrap_or_default().to_string(),
                ));
                attrs.push(("ptime".into(), Some("20".into())));
                let dir = if m.attr("sendonly").is_some()
                    || m.attributes.iter().any(|(n, _)| n == "sendonly")
                {
                    "recvonly"
                } else if m.attributes.iter().any(|(n, _)| n == "recvonly") {
                    "sendonly"
                } else if m.attributes.iter().any(|(n, _)| n == "inactive") {
                    "inactive"
                } else {
                    "sendrecv"
                };
                attrs.push((dir.into(), None));
                out.push(audio_media(chosen, local.rtp_port, attrs));
            }
            ("message", "TCP/MSRP" | "TCP/TLS/MSRP") if m.port != 0 && neg.msrp.is_none() => {
                match (&local.msrp_path, m.attr("path")) {
                    (Some(path), Some(remote)) => {
                        // RFC 6135: the offerer is active unless it said passive.
                        let we_connect = m.attr("setup") == Some("passive");
                        let setup = if we_connect { "active" } else { "passive" };
                        neg.msrp = Some((remote.to_string(), we_connect));
                        out.push(msrp_media(path, &local.accept_types, setup));
                    }
                    _ => out.push(rejected),
                }
            }
            _ => out.push(rejected),
        }
    }
    if neg.audio.is_none() && neg.msrp.is_none() {
        return Err(SdpError::NotAcceptable(
            "no offered stream is supported".into(),
        ));
    }
    Ok((session(local, version, out), neg))
}

/// The direction of the first audio stream: `sendrecv` unless it says otherwise; the old
/// RFC 2543 hold (connection address 0.0.0.0) counts as `inactive`.
pub fn audio_direction(s: &Session) -> &'static str {
    let Some(m) = s.media.iter().find(|m| m.kind == "audio" && m.port != 0) else {
        return "inactive";
    };
    if m.connection.is_some_and(|c| c.is_unspecified()) {
        return "inactive";
    }
    for d in ["sendonly", "recvonly", "inactive", "sendrecv"] {
        if m.attributes.iter().any(|(n, _)| n == d) {
            return d;
        }
    }
    "sendrecv"
}

/// Reads the answer to our offer.
pub fn accept_answer(answer: &Session) -> Negotiated {
    let mut neg = Negotiated {
        audio: None,
        msrp: None,
    };
    for m in &answer.media {
        if m.port == 0 {
            continue;
        }
        match m.kind.as_str() {
            "audio" if neg.audio.is_none() => {
                if let Some(pt) = m.formats.iter().find(|pt| {
                    m.rtpmap(pt)
                        .is_some_and(|map| !map.starts_with("telephone-event"))
                }) {
                    let ip = m.connection.unwrap_or(answer.address);
                    let codec = m.rtpmap(pt).unwrap_or_default();
                    neg.audio = Some((
                        std::net::SocketAddr::new(ip, m.port),
                        pt.parse().unwrap_or(0),
                        codec.split('/').next().unwrap_or_default().to_string(),
                    ));
                }
            }
            "message" if neg.msrp.is_none() => {
                if let Some(path) = m.attr("path") {
                    let we_connect = m.attr("setup") != Some("active");
                    neg.msrp = Some((path.to_string(), we_connect));
                }
            }
            _ => {}
        }
    }
    neg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> LocalMedia {
        LocalMedia {
            user: "bob".into(),
            address: "192.168.1.200".parse().unwrap(),
            rtp_port: port,
            msrp_path: Some("msrp://192.168.1.200:6006/b0b;tcp".into()),
            accept_types: "text/plain message/cpim *".into(),
        }
    }

    /// The seed's offer: PCMU and PCMA audio plus an MSRP stream.
    const SEED_OFFER: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.168.1.100\r\ns=-\r\nc=IN IP4 192.168.1.100\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8\r\nm=message 5006 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://192.168.1.100:5006\r\n";

    #[test]
    fn answers_the_seed_offer() {
        let offer = Session::parse(SEED_OFFER).unwrap();
        let (ans, neg) = answer(&offer, &local(6004), 1).unwrap();
        assert_eq!(
            neg.audio,
            Some(("192.168.1.100:5004".parse().unwrap(), 0, "PCMU".into()))
        );
        assert_eq!(neg.msrp, Some(("msrp://192.168.1.100:5006".into(), false)));
        let text = ans.to_string();
        assert!(text.contains("m=audio 6004 RTP/AVP 0 8\r\n"), "{text}");
        assert!(text.contains("m=message 6006 TCP/MSRP *\r\n"));
        assert!(text.contains("a=setup:passive"));
        let back = accept_answer(&Session::parse(&text).unwrap());
        assert_eq!(back.audio.unwrap().0, "192.168.1.200:6004".parse().unwrap());
        assert_eq!(
            back.msrp,
            Some(("msrp://192.168.1.200:6006/b0b;tcp".into(), true))
        );
    }

    #[test]
    fn our_offer_round_trips_and_prefers_opus() {
        let o = offer(&local(4000), 7);
        let parsed = Session::parse(&o.to_string()).unwrap();
        assert_eq!(
            parsed,
            Session {
                media: parsed.media.clone(),
                ..o.clone()
            }
        );
        assert_eq!(parsed.media[0].formats, vec!["111", "0", "8", "101"]);
        let (_, neg) = answer(&parsed, &local(5000), 1).unwrap();
        assert_eq!(neg.audio.unwrap().2, "opus");
    }

    #[test]
    fn hold_offer_is_answered_recvonly() {
        let hold = offer_with_direction(&local(4000), 2, "sendonly");
        assert_eq!(audio_direction(&hold), "sendonly");
        let parsed = Session::parse(&hold.to_string()).unwrap();
        let (ans, _) = answer(&parsed, &local(5000), 2).unwrap();
        assert_eq!(audio_direction(&ans), "recvonly");
        let old_style = SEED_OFFER.replace("c=IN IP4 192.168.1.100", "c=IN IP4 0.0.0.0");
        assert_eq!(
            audio_direction(&Session::parse(&old_style).unwrap()),
            "inactive"
        );
    }

    #[test]
    fn unsupported_streams_get_port_zero_and_no_codec_is_488() {
        let text = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nm=video 5006 RTP/AVP 31\r\n";
        let (ans, _) = answer(&Session::parse(text).unwrap(), &local(1), 1).unwrap();
        assert_eq!(ans.media[1].port, 0);
        assert_eq!(ans.media[1].kind, "video");
        let g729 = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 18\r\n";
        assert!(matches!(
            answer(&Session::parse(g729).unwrap(), &local(1), 1),
            Err(SdpError::NotAcceptable(_))
        ));
        assert!(Session::parse("garbage").is_err());
    }
}
