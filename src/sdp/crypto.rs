//! SDES (RFC 4568): `a=crypto:<tag> <suite> inline:<key||salt>` lines carrying SRTP master
//! keys in the SDP, which is why they may only travel over TLS. Two suites: AES_CM_128_HMAC_SHA1_80
//! (RFC 4568, what every SRTP peer has) and AEAD_AES_128_GCM (RFC 7714). Lines with session
//! parameters are not taken. A key lifetime is the sender's to honour (it re-keys with a new
//! offer), so any is taken; an MKI is taken for one key on the AES-CM suite (its packets
//! carry the MKI, which is set aside before they are opened); ours carry neither.

use base64::Engine as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AeadAes128Gcm,
}

impl Suite {
    /// Ours, best first.
    pub const ALL: [Suite; 2] = [Suite::AeadAes128Gcm, Suite::AesCm128HmacSha1_80];

    pub fn name(&self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    pub fn parse(s: &str) -> Option<Suite> {
        Suite::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
    }

    /// Master key and salt lengths (RFC 3711 8.2, RFC 7714 12).
    pub fn key_len(&self) -> usize {
        16
    }

    pub fn salt_len(&self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 14,
            Suite::AeadAes128Gcm => 12,
        }
    }
}

/// A master key with its salt, as one `inline:` value carries them.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub suite: Suite,
    /// key || salt
    pub bytes: Vec<u8>,
    /// Bytes of MKI the sender puts in each packet under this key (0: none).
    pub mki_len: u8,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        write!(f, "MasterKey({})", self.suite.name())
    }
}

impl MasterKey {
    /// A fresh key from the system's random source.
    pub fn random(suite: Suite) -> MasterKey {
        use rand::RngCore;
        let mut bytes = vec![0u8; suite.key_len() + suite.salt_len()];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey {
            suite,
            bytes,
            mki_len: 0,
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.bytes[..self.suite.key_len()]
    }

    pub fn salt(&self) -> &[u8] {
        &self.bytes[self.suite.key_len()..]
    }
}

/// One `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub key: MasterKey,
}

impl CryptoLine {
    /// The attribute's value: `1 AES_CM_128_HMAC_SHA1_80 inline:...`.
    pub fn value(&self) -> String {
        let inline = base64::engine::general_purpose::STANDARD.encode(&self.key.bytes);
        format!("{} {} inline:{inline}", self.tag, self.key.suite.name())
    }

    /// Reads a value; `None` for a suite we lack or anything we cannot honour.
    pub fn parse(value: &str) -> Option<CryptoLine> {
        let mut f = value.split_whitespace();
        let tag: u32 = f.next()?.parse().ok().filter(|t| *t < 1_000_000_000)?;
        let suite = Suite::parse(f.next()?)?;
        let params = f.next()?;
        // Session parameters (UNENCRYPTED_SRTP, KDR...) change what the key means: not ours.
        if f.next().is_some() || params.contains(';') {
            return None;
        }
        let inline = params.strip_prefix("inline:")?;
        let mut parts = inline.split('|');
        let b64 = parts.next()?;
        let mut mki_len = 0;
        for extra in parts {
            match extra.split_once(':') {
                Some((value, len)) if mki_len == 0 => mki_len = mki(suite, value, len)?,
                Some(_) => return None,
                None => {
                    lifetime(extra)?;
                }
            }
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        if bytes.len() != suite.key_len() + suite.salt_len() {
            return None;
        }
        Some(CryptoLine {
            tag,
            key: MasterKey {
                suite,
                bytes,
                mki_len,
            },
        })
    }
}

/// Why keys may not be forwarded onto a hop in the clear.
#[derive(Debug, PartialEq, Eq)]
pub struct KeysWouldLeak;

/// A body as it may cross a hop that is not TLS (what a proxy forwards, RFC 4568 8.1): the
/// same when it carries no keys, else without its `a=crypto` lines (a plain profile then
/// carries plain audio, as best-effort SRTP allows). An RTP/SAVP line needs its keys: with
/// `refuse_secure` that is an error, else its keys go too (an answer to an offer that
/// already crossed in the clear).
pub fn without_keys(body: &[u8], refuse_secure: bool) -> Result<Option<Vec<u8>>, KeysWouldLeak> {
    if memchr::memmem::find(body, b"a=crypto:").is_none() {
        return Ok(None);
    }
    let Some(mut session) = std::str::from_utf8(body)
        .ok()
        .and_then(|t| super::Session::parse(t).ok())
    else {
        // Keys in a body we cannot read: they do not go at all.
        return Err(KeysWouldLeak);
    };
    for m in &mut session.media {
        let keyed = m.attributes.iter().any(|(k, _)| k == "crypto");
        if keyed && refuse_secure && m.port != 0 && m.proto.starts_with("RTP/SAVP") {
            return Err(KeysWouldLeak);
        }
        m.attributes.retain(|(k, _)| k != "crypto");
    }
    Ok(Some(session.to_string().into_bytes()))
}

/// The length of an MKI field `value:len` (RFC 4568 6.1), for the AES-CM suite, where it
/// sits between the payload and the tag; 1 to 4 bytes, as phones send.
fn mki(suite: Suite, value: &str, len: &str) -> Option<u8> {
    let len: u8 = len.parse().ok().filter(|l| (1..=4).contains(l))?;
    value.parse::<u32>().ok()?;
    (suite == Suite::AesCm128HmacSha1_80).then_some(len)
}

/// A key lifetime in packets: `2^N` or a number.
fn lifetime(s: &str) -> Option<u64> {
    match s.strip_prefix("2^") {
        Some(p) => Some(1u64.checked_shl(p.parse().ok()?).unwrap_or(u64::MAX)),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_rfc_4568s_example_reads() {
        for suite in Suite::ALL {
            let line = CryptoLine {
                tag: 2,
                key: MasterKey::random(suite),
            };
            assert_eq!(CryptoLine::parse(&line.value()), Some(line));
        }
        // RFC 4568 section 4's example, with its lifetime of 2^20 packets (the sender's to
        // honour) and a 4-byte MKI in its packets.
        let rfc =
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";
        assert_eq!(CryptoLine::parse(rfc).unwrap().key.mki_len, 4);
        let plain = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        let line = CryptoLine::parse(plain).unwrap();
        assert_eq!(line.key.key().len(), 16);
        assert_eq!(line.key.salt().len(), 14);
        assert_eq!(line.key.mki_len, 0);
        assert!(CryptoLine::parse(&format!("{plain}|2^31")).is_some());
        assert!(CryptoLine::parse(&format!("{plain}|1048576|7:1")).is_some());
        // Two MKIs, a huge one, a lifetime that is no number: not taken.
        assert_eq!(CryptoLine::parse(&format!("{plain}|1:4|2:4")), None);
        assert_eq!(CryptoLine::parse(&format!("{plain}|1:128")), None);
        assert_eq!(CryptoLine::parse(&format!("{plain}|soon")), None);
    }

    #[test]
    fn what_we_cannot_honour_is_not_taken() {
        let key = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        assert_eq!(
            CryptoLine::parse(&format!("1 F8_128_HMAC_SHA1_80 {key}")),
            None
        );
        assert_eq!(
            CryptoLine::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 {key} UNENCRYPTED_SRTP")),
            None
        );
        // A GCM key is 28 bytes, not 30.
        assert_eq!(
            CryptoLine::parse(&format!("1 AEAD_AES_128_GCM {key}")),
            None
        );
        assert_eq!(
            CryptoLine::parse("x AES_CM_128_HMAC_SHA1_80 inline:@@@"),
            None
        );
        assert_eq!(
            CryptoLine::parse("1 AES_CM_128_HMAC_SHA1_80 inline:@@@"),
            None
        );
        assert_eq!(CryptoLine::parse(""), None);
    }

    #[test]
    fn keys_never_cross_a_plain_hop() {
        let key = MasterKey::random(Suite::AesCm128HmacSha1_80);
        let line = CryptoLine { tag: 1, key }.value();
        let sdp = |proto: &str| {
            format!("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 {proto} 0\r\na=crypto:{line}\r\n")
        };
        let plain = without_keys(sdp("RTP/AVP").as_bytes(), true)
            .unwrap()
            .unwrap();
        let text = String::from_utf8(plain).unwrap();
        assert!(!text.contains("crypto"), "{text}");
        assert!(text.contains("m=audio 5004 RTP/AVP 0"));
        assert_eq!(
            without_keys(sdp("RTP/SAVP").as_bytes(), true),
            Err(KeysWouldLeak)
        );
        let answer = without_keys(sdp("RTP/SAVP").as_bytes(), false)
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8(answer).unwrap().contains("inline:"));
        assert_eq!(without_keys(b"v=0\r\n", true), Ok(None));
        assert_eq!(
            without_keys(b"junk a=crypto: inline:x", true),
            Err(KeysWouldLeak)
        );
    }

    #[test]
    fn keys_are_fresh_and_never_logged() {
        let a = MasterKey::random(Suite::AesCm128HmacSha1_80);
        let b = MasterKey::random(Suite::AesCm128HmacSha1_80);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "MasterKey(AES_CM_128_HMAC_SHA1_80)");
    }
}
