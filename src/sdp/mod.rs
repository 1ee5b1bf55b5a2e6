//! SDP (RFC 4566/8866) and offer/answer (RFC 3264) for our two streams: `m=audio RTP/AVP` with
//! Opus, PCMU, PCMA and telephone-event, and `m=message TCP/MSRP *` (RFC 4975, `a=setup` per
//! RFC 6135). Written by hand: SDP is a line format and no crate covers MSRP's attributes.
//! This module parses and prints; `negotiate` builds offers and answers.

pub mod crypto;
pub mod dtls;
pub mod file;
mod ice;
mod negotiate;

pub use ice::{ice_of, IceAttrs};
pub use negotiate::*;

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
    /// The audio cannot be encrypted and must be: answer 488 as well.
    #[error("not encrypted: {0}")]
    NotEncrypted(String),
}

/// An address in `o=` or `c=`: an IP literal, or a host name (RFC 8866 5.7 allows an FQDN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(IpAddr),
    Name(String),
}

impl Address {
    fn parse(s: &str) -> Option<Address> {
        let s = s.split('/').next()?;
        if let Ok(ip) = s.parse() {
            return Some(Address::Ip(ip));
        }
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        ok.then(|| Address::Name(s.to_ascii_lowercase()))
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(*ip),
            Address::Name(_) => None,
        }
    }

    /// `0.0.0.0`: the old RFC 2543 way of putting a stream on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }

    fn family(&self) -> &'static str {
        match self {
            Address::Ip(IpAddr::V6(_)) => "IP6",
            _ => "IP4",
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(ip) => write!(f, "{ip}"),
            Address::Name(n) => f.write_str(n),
        }
    }
}

type Attributes = Vec<(String, Option<String>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<Address>,
    /// `b=` lines as written (`AS:64`, `TIAS:64000`): kept, not interpreted.
    pub bandwidth: Vec<String>,
    pub attributes: Attributes,
}

impl Media {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|(n, _)| n == name)
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
    pub address: Address,
    pub name: String,
    /// The session-level `c=`, which media without their own inherit.
    pub connection: Option<Address>,
    pub bandwidth: Vec<String>,
    /// Session-level attributes (`a=sendonly` here holds every stream).
    pub attributes: Attributes,
    pub media: Vec<Media>,
}

fn bad(line: &str) -> SdpError {
    SdpError::BadLine(line.into())
}

fn parse_attribute(v: &str) -> (String, Option<String>) {
    match v.split_once(':') {
        Some((n, val)) => (n.to_string(), Some(val.to_string())),
        None => (v.to_string(), None),
    }
}

fn parse_media(line: &str, v: &str) -> Result<Media, SdpError> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() < 3 {
        return Err(bad(line));
    }
    let port = f[1]
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad(line))?;
    Ok(Media {
        kind: f[0].to_string(),
        port,
        proto: f[2].to_string(),
        formats: f[3..].iter().map(|s| s.to_string()).collect(),
        connection: None,
        bandwidth: Vec::new(),
        attributes: Vec::new(),
    })
}

/// `c=IN IP4 host[/ttl]`.
fn parse_connection(line: &str, v: &str) -> Result<Address, SdpError> {
    v.split_whitespace()
        .nth(2)
        .and_then(Address::parse)
        .ok_or_else(|| bad(line))
}

type Origin = (String, u64, u64, Address);

fn parse_origin(line: &str, v: &str) -> Result<Origin, SdpError> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() != 6 {
        return Err(bad(line));
    }
    let addr = Address::parse(f[5]).ok_or_else(|| bad(line))?;
    Ok((
        f[0].to_string(),
        f[1].parse().unwrap_or(0),
        f[2].parse().unwrap_or(0),
        addr,
    ))
}

impl Session {
    pub fn parse(text: &str) -> Result<Session, SdpError> {
        let mut origin = None;
        let mut s = Session {
            origin_user: String::new(),
            session_id: 0,
            version: 0,
            address: Address::Name(String::new()),
            name: "-".into(),
            connection: None,
            bandwidth: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or_else(|| bad(line))?;
            let m = s.media.last_mut();
            match (k, m) {
                ("o", _) => origin = Some(parse_origin(line, v)?),
                ("s", _) => s.name = v.to_string(),
                ("m", _) => s.media.push(parse_media(line, v)?),
                ("c", Some(m)) => m.connection = Some(parse_connection(line, v)?),
                ("c", None) => s.connection = Some(parse_connection(line, v)?),
                ("b", Some(m)) => m.bandwidth.push(v.to_string()),
                ("b", None) => s.bandwidth.push(v.to_string()),
                ("a", Some(m)) => m.attributes.push(parse_attribute(v)),
                ("a", None) => s.attributes.push(parse_attribute(v)),
                _ => {}
            }
        }
        let (user, id, version, address) = origin.ok_or(SdpError::Missing("o="))?;
        (s.origin_user, s.session_id, s.version, s.address) = (user, id, version, address);
        for m in &mut s.media {
            if m.connection.is_none() {
                m.connection = s.connection.clone();
            }
        }
        let unplaced = |m: &Media| m.connection.is_none() && m.port != 0;
        if s.media
            .iter()
            .any(|m| unplaced(m) && m.proto.starts_with("RTP"))
        {
            return Err(SdpError::Missing("c="));
        }
        Ok(s)
    }

    /// A stream's direction (RFC 3264 5.1): its own attribute, else the session's, else
    /// `sendrecv`; a `0.0.0.0` connection (RFC 2543 hold) counts as `inactive`.
    pub fn direction(&self, m: &Media) -> &'static str {
        if m.connection.as_ref().is_some_and(Address::is_unspecified) {
            return "inactive";
        }
        const DIRS: [&str; 4] = ["sendonly", "recvonly", "inactive", "sendrecv"];
        let own = DIRS.iter().find(|d| m.has(d));
        let session = DIRS
            .iter()
            .find(|d| self.attributes.iter().any(|(n, _)| n == *d));
        own.or(session).copied().unwrap_or("sendrecv")
    }
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &Attributes) -> fmt::Result {
    for (n, v) in attrs {
        match v {
            Some(v) => write!(f, "a={n}:{v}\r\n")?,
            None => write!(f, "a={n}\r\n")?,
        }
    }
    Ok(())
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.address;
        write!(f, "v=0\r\n")?;
        let (user, id, ver) = (&self.origin_user, self.session_id, self.version);
        write!(f, "o={user} {id} {ver} IN {} {a}\r\n", a.family())?;
        write!(f, "s={}\r\n", self.name)?;
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {c}\r\n", c.family())?;
        }
        for b in &self.bandwidth {
            write!(f, "b={b}\r\n")?;
        }
        write!(f, "t=0 0\r\n")?;
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            let formats = m.formats.join(" ");
            write!(f, "m={} {} {} {formats}\r\n", m.kind, m.port, m.proto)?;
            if let Some(c) = m
                .connection
                .as_ref()
                .filter(|c| Some(*c) != self.connection.as_ref())
            {
                write!(f, "c=IN {} {c}\r\n", c.family())?;
            }
            for b in &m.bandwidth {
                write!(f, "b={b}\r\n")?;
            }
            write_attributes(f, &m.attributes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
