//! A client of an MSRP relay (RFC 4976): from behind a NAT we connect out to the relay and
//! authenticate with `AUTH`; the URI it grants goes first in our `a=path`, and the call's MSRP
//! session then runs over this same connection, in whichever SDP role. Over TLS (`msrps:`,
//! RFC 4976 4) the relay's certificate is checked as the account checks its SIP server's, and
//! its fingerprint goes in our SDP, so the other side can check the relay it connects to.

use super::frame::{self, Decoder, Head, Item, Kind};
use super::Stream;
use crate::sip::digest::Challenge;
use crate::tls::Fingerprint;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(thiserror::Error, Debug)]
pub enum RelayError {
    #[error("cannot reach the MSRP relay {0}: {1}")]
    Unreachable(SocketAddr, String),
    #[error("the MSRP relay {0} did not answer")]
    Silent(SocketAddr),
    #[error("the MSRP relay {0} refused us: {1}")]
    Refused(SocketAddr, String),
    #[error("the MSRP relay {0} is not to be trusted: {1}")]
    Certificate(SocketAddr, String),
}

/// How a relay over TLS must prove itself: the account's TLS config, and the name its
/// certificate must hold.
#[derive(Clone)]
pub struct RelayTls {
    pub config: Arc<rustls::ClientConfig>,
    pub name: ServerName<'static>,
}

/// An authenticated connection to a relay and the URI it granted us.
pub struct Granted {
    pub stream: Stream,
    pub relay: SocketAddr,
    pub use_path: String,
    /// Over TLS: the SHA-256 of the certificate the relay showed.
    pub fingerprint: Option<Fingerprint>,
}

impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Granted({} at {})", self.use_path, self.relay)
    }
}

/// Connects to `relay` (over TLS when `tls` says how) and authenticates as `user` for our
/// URI `own`, all `within`.
pub async fn authenticate(
    relay: SocketAddr,
    own: &str,
    creds: (&str, &str),
    within: Duration,
    tls: Option<RelayTls>,
) -> Result<Granted, RelayError> {
    match tokio::time::timeout(within, exchange(relay, own, creds, tls)).await {
        Ok(r) => r,
        Err(_) => Err(RelayError::Silent(relay)),
    }
}

/// The connection, and the fingerprint of the relay's certificate when it is TLS.
async fn open(
    relay: SocketAddr,
    tls: Option<RelayTls>,
) -> Result<(Stream, Option<Fingerprint>), RelayError> {
    let s = TcpStream::connect(relay)
        .await
        .map_err(|e| RelayError::Unreachable(relay, e.to_string()))?;
    let _ = s.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok((Box::new(s), None));
    };
    let s = tokio_rustls::TlsConnector::from(tls.config)
        .connect(tls.name, s)
        .await
        .map_err(|e| match crate::tls::CertRefused::within(&e) {
            Some(refused) => RelayError::Certificate(relay, refused.to_string()),
            None => RelayError::Unreachable(relay, e.to_string()),
        })?;
    let shown = s.get_ref().1.peer_certificates().and_then(|c| c.first());
    let fingerprint = shown.map(|c| Fingerprint::of(c.as_ref()));
    Ok((Box::new(s), fingerprint))
}

async fn exchange(
    relay: SocketAddr,
    own: &str,
    (user, password): (&str, &str),
    tls: Option<RelayTls>,
) -> Result<Granted, RelayError> {
    let scheme = if tls.is_some() { "msrps" } else { "msrp" };
    let (mut s, fingerprint) = open(relay, tls).await?;
    let to = format!("{scheme}://{relay};tcp");
    let paths = [("To-Path", to.as_str()), ("From-Path", own)];
    let first = ask(&mut s, relay, &paths).await?;
    let challenge = first
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| v.clone())
        .collect::<Vec<_>>();
    let Some(ch) = Challenge::best_per_realm(&challenge).into_iter().next() else {
        return Err(refused(relay, &first));
    };
    let answer = ch.answer("AUTH", &to, user, password, &frame::new_transaction(), 1);
    let headers = [paths[0], paths[1], ("Authorization", answer.as_str())];
    let granted = ask(&mut s, relay, &headers).await?;
    let use_path = granted.header("Use-Path").map(str::to_string);
    let (true, Some(use_path)) = (status(&granted) == 200, use_path) else {
        return Err(refused(relay, &granted));
    };
    Ok(Granted {
        stream: s,
        relay,
        use_path,
        fingerprint,
    })
}

/// Sends an AUTH with `headers` and reads the relay's answer.
async fn ask(
    s: &mut Stream,
    relay: SocketAddr,
    headers: &[(&str, &str)],
) -> Result<Head, RelayError> {
    let auth = frame::request(&frame::new_transaction(), "AUTH", headers, None);
    s.write_all(&auth)
        .await
        .map_err(|e| RelayError::Unreachable(relay, e.to_string()))?;
    read_response(s, relay).await
}

fn status(h: &Head) -> u16 {
    match &h.kind {
        Kind::Response { code, .. } => *code,
        Kind::Request(_) => 0,
    }
}

fn refused(relay: SocketAddr, h: &Head) -> RelayError {
    let words = match &h.kind {
        Kind::Response { code, comment } => format!("{code} {comment}"),
        Kind::Request(m) => format!("a {m} instead of an answer"),
    };
    RelayError::Refused(relay, words)
}

/// The next whole response's head (the relay's answers have no body).
async fn read_response(s: &mut Stream, relay: SocketAddr) -> Result<Head, RelayError> {
    let mut buf = Vec::with_capacity(2048);
    let mut head = None;
    loop {
        let n = s
            .read_buf(&mut buf)
            .await
            .map_err(|_| RelayError::Silent(relay))?;
        if n == 0 {
            return Err(RelayError::Silent(relay));
        }
        let mut dec = Decoder::default();
        let mut used = 0;
        while let Ok(Some((item, n))) = dec.next(&buf[used..]) {
            used += n;
            match item {
                Item::Head(h) => head = Some(h),
                Item::End(_) => return head.ok_or(RelayError::Silent(relay)),
                Item::Body(_) => {}
            }
        }
        if buf.len() > frame::MAX_HEAD {
            return Err(RelayError::Silent(relay));
        }
    }
}
