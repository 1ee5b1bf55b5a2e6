//! HTTP digest authentication for SIP (RFC 3261 22.4, RFC 7616 for SHA-256, RFC 8760).
//! Pure functions: parse a challenge, answer it, check an answer. qop=auth only (auth-int is
//! rarely offered and never required by the servers we meet).

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// From its name in a challenge or on the command line (`MD5`, `SHA-256`, any case).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(&self, s: &str) -> String {
        fn hex(b: &[u8]) -> String {
            b.iter().map(|x| format!("{x:02x}")).collect()
        }
        match self {
            Algorithm::Md5 => hex(&Md5::digest(s.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(s.as_bytes())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0}")]
    Algorithm(String),
}

/// `key=value, key="value"` after the scheme word.
fn parse_params(s: &str) -> Option<HashMap<String, String>> {
    let s = s.trim();
    let (scheme, rest) = s.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut out = HashMap::new();
    for part in super::headers::split_outside_quotes(rest, ',') {
        if let Some((k, v)) = part.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            out.insert(k.trim().to_ascii_lowercase(), v.to_string());
        }
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    pub qop_auth: bool,
    pub stale: bool,
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let p = parse_params(value).ok_or(DigestError::NotDigest)?;
        let algorithm = match p.get("algorithm") {
            Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Algorithm(a.clone()))?,
            None => Algorithm::Md5,
        };
        Ok(Challenge {
            realm: p
                .get("realm")
                .cloned()
                .ok_or(DigestError::Missing("realm"))?,
            nonce: p
                .get("nonce")
                .cloned()
                .ok_or(DigestError::Missing("nonce"))?,
            opaque: p.get("opaque").cloned(),
            algorithm,
            qop_auth: p
                .get("qop")
                .is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth"))),
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// `WWW-Authenticate` values for a fresh `nonce`, one per algorithm offered, in order
    /// (qop=auth): what the proxy and the MSRP relay both challenge with.
    pub fn offers(realm: &str, nonce: &str, algorithms: &[Algorithm], stale: bool) -> Vec<String> {
        let offer = |&algorithm| Challenge {
            realm: realm.to_string(),
            nonce: nonce.to_string(),
            opaque: None,
            algorithm,
            qop_auth: true,
            stale,
        };
        algorithms.iter().map(|a| offer(a).to_header()).collect()
    }

    /// The strongest challenge of each realm, in the order the realms first appear.
    pub fn best_per_realm<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<Challenge> {
        let mut out: Vec<Challenge> = Vec::new();
        for ch in values.into_iter().filter_map(|v| Challenge::parse(v).ok()) {
            match out.iter_mut().find(|c| c.realm == ch.realm) {
                Some(c)
                    if c.algorithm != Algorithm::Sha256 && ch.algorithm == Algorithm::Sha256 =>
                {
                    *c = ch
                }
                Some(_) => {}
                None => out.push(ch),
            }
        }
        out
    }

    pub fn to_header(&self) -> String {
        let mut s = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.name()
        );
        if self.qop_auth {
            s.push_str(", qop=\"auth\"");
        }
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque=\"{o}\""));
        }
        if self.stale {
            s.push_str(", stale=TRUE");
        }
        s
    }

    /// The Authorization / Proxy-Authorization value for a request.
    pub fn answer(
        &self,
        method: &str,
        uri: &str,
        user: &str,
        password: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let a = self.algorithm;
        let ha1 = a.hash(&format!("{user}:{}:{password}", self.realm));
        let ha2 = a.hash(&format!("{method}:{uri}"));
        let mut s = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm={}",
            self.realm,
            self.nonce,
            a.name()
        );
        let response = if self.qop_auth {
            let nc = format!("{nc:08x}");
            s.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
            a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            a.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        s.push_str(&format!(", response=\"{response}\""));
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque=\"{o}\""));
        }
        s
    }
}

/// A client's answer, as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Credentials {
    pub fn parse(value: &str) -> Option<Credentials> {
        let p = parse_params(value)?;
        Some(Credentials {
            username: p.get("username")?.clone(),
            realm: p.get("realm")?.clone(),
            nonce: p.get("nonce")?.clone(),
            uri: p.get("uri")?.clone(),
            response: p.get("response")?.to_ascii_lowercase(),
            algorithm: Algorithm::parse(p.get("algorithm").map(String::as_str).unwrap_or("MD5"))?,
            qop: p.get("qop").cloned(),
            nc: p.get("nc").cloned(),
            cnonce: p.get("cnonce").cloned(),
        })
    }

    pub fn nonce_count(&self) -> u32 {
        self.nc
            .as_deref()
            .and_then(|n| u32::from_str_radix(n, 16).ok())
            .unwrap_or(0)
    }

    /// Whether the response matches this password for this method.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let a = self.algorithm;
        let ha1 = a.hash(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = a.hash(&format!("{method}:{}", self.uri));
        let expected = match (&self.qop, &self.nc, &self.cnonce) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => {
                a.hash(&format!("{ha1}:{}:{nc}:{cn}:auth:{ha2}", self.nonce))
            }
            (None, _, _) => a.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
            _ => return false,
        };
        expected == self.response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 section 3.5's worked example (qop=auth, MD5).
    #[test]
    fn rfc2617_example() {
        let ch = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let ans = ch.answer(
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        );
        assert!(
            ans.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{ans}"
        );
        let creds = Credentials::parse(&ans).unwrap();
        assert!(creds.verify("GET", "Circle Of Life"));
        assert!(!creds.verify("GET", "wrong"));
        assert_eq!(creds.nonce_count(), 1);
    }

    /// RFC 7616 section 3.9.1's SHA-256 example.
    #[test]
    fn rfc7616_sha256_example() {
        let ch = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        let ans = ch.answer(
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        );
        assert!(
            ans.contains(
                r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#
            ),
            "{ans}"
        );
    }

    #[test]
    fn prefers_sha256_and_round_trips() {
        let md5 = Challenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let sha = Challenge {
            algorithm: Algorithm::Sha256,
            ..md5.clone()
        };
        let other = Challenge {
            realm: "r2".into(),
            ..md5.clone()
        };
        let values = vec![md5.to_header(), other.to_header(), sha.to_header()];
        assert_eq!(Challenge::best_per_realm(&values), vec![sha, other]);
        assert!(Challenge::parse("Basic realm=\"x\"").is_err());
    }
}
