//! Pure parsers for the header values the stack acts on: Via, name-addr (From/To/Contact/Route),
//! CSeq and generic `;name=value` parameters (RFC 3261 section 20, 25.1).
//! rsip keeps these as untyped strings; we read them here so one tolerant parser serves all layers.

use std::fmt;

/// `;a=b;c` parameters, names compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    pub fn parse(s: &str) -> Params {
        let mut out = Vec::new();
        for part in split_outside_quotes(s, ';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((k, v)) => out.push((k.trim().to_string(), Some(unquote(v.trim())))),
                None => out.push((part.to_string(), None)),
            }
        }
        Params(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        Ok(())
    }
}

fn unquote(s: &str) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// Splits on `sep` where it is outside double quotes and angle brackets.
pub fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_q, mut depth, mut esc, mut start) = (false, 0i32, false, 0);
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' if in_q => esc = true,
            '"' => in_q = !in_q,
            '<' if !in_q => depth += 1,
            '>' if !in_q => depth -= 1,
            c if c == sep && !in_q && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad {header} header: {why}")]
pub struct HeaderError {
    pub header: &'static str,
    pub why: String,
}

fn herr(header: &'static str, why: impl Into<String>) -> HeaderError {
    HeaderError {
        header,
        why: why.into(),
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        let (proto, rest) = split_sent_protocol(s).ok_or_else(|| herr("Via", "no protocol"))?;
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let sent_by = sent_by.trim();
        if sent_by.is_empty() || sent_by.contains(char::is_whitespace) {
            return Err(herr("Via", "bad sent-by"));
        }
        let (host, port) = split_host_port(sent_by).ok_or_else(|| herr("Via", "bad port"))?;
        let params = Params::parse(params);
        // RFC 3261 25.1: every via-param is `token [= value]`, so empty ones (";;") are errors.
        if params.0.iter().any(|(k, _)| k.is_empty()) || params_has_empty(rest) {
            return Err(herr("Via", "empty parameter"));
        }
        Ok(Via {
            transport: proto.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// The address responses go to (RFC 3261 18.2.2 with RFC 3581 rport).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

fn params_has_empty(rest: &str) -> bool {
    let t = rest.trim();
    t.contains(";;") || t.contains(",") || t.ends_with(';')
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SIP/2.0/{} {}{}",
            self.transport,
            self.sent_by(),
            self.params
        )
    }
}

/// `SIP / 2.0 / UDP rest` with any LWS around the slashes: returns (transport, rest).
fn split_sent_protocol(s: &str) -> Option<(String, &str)> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start();
    for i in 0..3 {
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..end];
        if token.is_empty() {
            return None;
        }
        parts.push(token);
        rest = rest[end..].trim_start();
        if i < 2 {
            rest = rest.strip_prefix('/')?.trim_start();
        }
    }
    if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
        return None;
    }
    Some((parts[2].to_string(), rest))
}

/// `host`, `host:port`, `[v6]:port`.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(r) = s.strip_prefix('[') {
        let end = r.find(']')?;
        let host = format!("[{}]", &r[..end]);
        let after = &r[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.trim().parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.trim().parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

/// `"Display" <uri>;params` or `uri;params` (From, To, Contact, Route, Record-Route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: String,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: impl Into<String>) -> NameAddr {
        NameAddr {
            display: None,
            uri: uri.into(),
            params: Params::default(),
        }
    }

    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        let s = s.trim();
        if s == "*" {
            return Ok(NameAddr::new("*"));
        }
        let quotes = s.chars().filter(|&c| c == '"').count() - s.matches("\\\"").count();
        if !quotes.is_multiple_of(2) {
            return Err(herr("address", "unbalanced quotes"));
        }
        if let Some(lt) = find_outside_quotes(s, '<') {
            let display = s[..lt].trim();
            let rest = &s[lt + 1..];
            let gt = rest.find('>').ok_or_else(|| herr("address", "missing >"))?;
            let uri = &rest[..gt];
            if uri.is_empty() || uri.contains(char::is_whitespace) {
                return Err(herr("address", "spaces inside <>"));
            }
            let display = if display.is_empty() {
                None
            } else if display.starts_with('"') {
                Some(unescape_quoted(display))
            } else if display
                .split_whitespace()
                .all(|w| w.chars().all(is_token_char))
            {
                Some(display.to_string())
            } else {
                return Err(herr("address", "display name needs quotes"));
            };
            let params = &rest[gt + 1..];
            if params.trim().contains(";;") || params.trim().ends_with(';') {
                return Err(herr("address", "empty parameter"));
            }
            Ok(NameAddr {
                display,
                uri: uri.to_string(),
                params: Params::parse(params),
            })
        } else {
            // addr-spec form: parameters after the URI belong to the header (RFC 3261 20.10).
            let (uri, params) = match s.find(';') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            };
            let uri = uri.trim();
            if uri.contains(char::is_whitespace) || !uri.contains(':') {
                return Err(herr("address", "bad URI"));
            }
            Ok(NameAddr {
                display: None,
                uri: uri.trim().to_string(),
                params: Params::parse(params),
            })
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

fn find_outside_quotes(s: &str, needle: char) -> Option<usize> {
    let (mut in_q, mut esc) = (false, false);
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
        } else if c == '\\' && in_q {
            esc = true;
        } else if c == '"' {
            in_q = !in_q;
        } else if c == needle && !in_q {
            return Some(i);
        }
    }
    None
}

fn unescape_quoted(s: &str) -> String {
    let s = s.trim();
    let inner = s.strip_prefix('"').unwrap_or(s);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::new();
    let mut esc = false;
    for c in inner.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// `CSeq: 4711 INVITE`.
pub fn parse_cseq(s: &str) -> Result<(u32, String), HeaderError> {
    let mut it = s.split_whitespace();
    let num = it.next().ok_or_else(|| herr("CSeq", "empty"))?;
    let method = it.next().ok_or_else(|| herr("CSeq", "no method"))?;
    if it.next().is_some() {
        return Err(herr("CSeq", "trailing data"));
    }
    let n: u64 = num.parse().map_err(|_| herr("CSeq", "not a number"))?;
    if n >= 1 << 31 {
        return Err(herr("CSeq", "number too large"));
    }
    Ok((n as u32, method.to_string()))
}

/// Parts of a SIP URI we route on: `sip:user@host:port;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl SipUri {
    pub fn parse(s: &str) -> Result<SipUri, HeaderError> {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let (scheme, rest) = s.split_once(':').ok_or_else(|| herr("URI", "no scheme"))?;
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(herr("URI", format!("unsupported scheme {scheme}")));
        }
        let rest = rest.split('?').next().unwrap_or(rest);
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], &hostpart[i..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| herr("URI", "bad port"))?;
        if host.is_empty() {
            return Err(herr("URI", "no host"));
        }
        let user = userinfo.map(|u| u.split(':').next().unwrap_or(u).to_string());
        Ok(SipUri {
            scheme: scheme.to_ascii_lowercase(),
            user,
            host,
            port,
            params: Params::parse(params),
        })
    }

    /// `sip:user@host` without port or parameters: the address-of-record.
    pub fn aor(&self) -> String {
        match &self.user {
            Some(u) => format!("{}:{}@{}", self.scheme, u, self.host),
            None => format!("{}:{}", self.scheme, self.host),
        }
    }

    pub fn transport(&self) -> Option<&str> {
        self.params.get("transport")
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_from_rfc3261_example() {
        let v = Via::parse("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "pc33.atlanta.com");
        assert_eq!(v.port, None);
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
    }

    #[test]
    fn via_with_lws_rport_and_v6() {
        let v =
            Via::parse("SIP  /  2.0 / tcp [2001:db8::9]:5061 ; branch = z9hG4bKx ;rport").unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host, "[2001:db8::9]");
        assert_eq!(v.port, Some(5061));
        assert!(v.params.has("rport"));
        assert_eq!(v.params.get("rport"), None);
        assert_eq!(v.branch(), Some("z9hG4bKx"));
    }

    #[test]
    fn via_rejects_empty_params() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(Via::parse("HTTP/1.1/UDP host").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("Bob <sip:bob@biloxi.com>;tag=a6c85cf").unwrap();
        assert_eq!(a.display.as_deref(), Some("Bob"));
        assert_eq!(a.uri, "sip:bob@biloxi.com");
        assert_eq!(a.tag(), Some("a6c85cf"));
        let b = NameAddr::parse("sip:caller@example.net;tag=134161461246").unwrap();
        assert_eq!(b.uri, "sip:caller@example.net");
        assert_eq!(b.tag(), Some("134161461246"));
        let c =
            NameAddr::parse(r#""J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8"#).unwrap();
        assert_eq!(c.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        let round = NameAddr::parse(&a.to_string()).unwrap();
        assert_eq!(round, a);
    }

    #[test]
    fn cseq_and_uri() {
        assert_eq!(
            parse_cseq("314159 INVITE").unwrap(),
            (314159, "INVITE".into())
        );
        assert!(parse_cseq("36893488147419103232 REGISTER").is_err());
        let u = SipUri::parse("sip:alice@127.0.0.1:5070;transport=tcp;lr").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.params.has("lr"));
        assert_eq!(u.aor(), "sip:alice@127.0.0.1");
        assert_eq!(SipUri::parse(&u.to_string()).unwrap(), u);
    }
}
