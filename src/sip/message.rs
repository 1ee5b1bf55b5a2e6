//! SIP messages: rsip's `Request`/`Response` behind our boundary. Bytes come in through
//! `parse.rs` (tolerant framing and checks) and only then through rsip; helpers here read and
//! write headers by name and build the responses RFC 3261 section 8.2.6 describes.

use super::headers::{parse_cseq, split_outside_quotes, NameAddr, Via};
use super::parse::{self, ParseError, RawMessage, Rejection};
use rsip::headers::{self as h, UntypedHeader};
pub use rsip::{Header, Headers, Method, Request, Response, SipMessage, StatusCode, Uri, Version};

/// A Request-URI from our own URI type.
pub fn request_uri(uri: &super::headers::SipUri) -> Uri {
    // Our URI type only holds what parses; the fallback is never taken.
    parse_uri(&uri.to_string()).unwrap_or_else(|_| Uri {
        host_with_port: rsip::Domain::new(uri.host.clone()).into(),
        ..Default::default()
    })
}

/// Stands in for a bracketed IPv6 host while rsip parses the rest of a URI.
const V6_STANDIN: &str = "v6-literal.invalid";

/// Parses a SIP URI into rsip's type. rsip 0.4 cannot read `[v6]` hosts, so one is swapped
/// for a stand-in name, and put back as a domain that prints with its brackets.
pub fn parse_uri(s: &str) -> Result<Uri, String> {
    let v6 = s.find('[').and_then(|a| Some((a, a + s[a..].find(']')?)));
    let Some((open, close)) = v6 else {
        return Uri::try_from(s).map_err(|e| e.to_string());
    };
    let literal = &s[open..=close];
    literal[1..literal.len() - 1]
        .parse::<std::net::Ipv6Addr>()
        .map_err(|_| format!("bad IPv6 literal {literal}"))?;
    let swapped = format!("{}{V6_STANDIN}{}", &s[..open], &s[close + 1..]);
    let mut uri = Uri::try_from(swapped.as_str()).map_err(|e| e.to_string())?;
    uri.host_with_port.host = rsip::Domain::new(literal.to_ascii_lowercase()).into();
    Ok(uri)
}

/// What came off the wire.
#[derive(Debug)]
pub enum Inbound {
    Request(Request),
    Response(Response),
    /// A request we must refuse without acting on it; `reply` is ready to send back.
    Rejected {
        rejection: Rejection,
        reply: Vec<u8>,
    },
    /// Unusable bytes (bad response, garbage): dropped with this reason.
    Dropped(String),
}

/// Decodes one whole message. Never panics; refusals carry a response built from raw headers.
pub fn decode(buf: &[u8]) -> Inbound {
    let raw = match parse::parse_raw(buf) {
        Ok(raw) => raw,
        Err(ParseError::Malformed(why)) => return reject_unparsed(buf, why),
        Err(e) => return Inbound::Dropped(e.to_string()),
    };
    if raw.is_response() {
        if raw.status_line().is_none() {
            return Inbound::Dropped(format!("bad status line: {}", raw.start_line));
        }
        if let Err(why) = raw.validate_response() {
            return Inbound::Dropped(why);
        }
        return match SipMessage::try_from(raw.to_bytes()) {
            Ok(SipMessage::Response(r)) => Inbound::Response(r),
            Ok(_) => Inbound::Dropped("not a response".into()),
            Err(e) => Inbound::Dropped(format!("unparsable response: {e}")),
        };
    }
    if let Err(rejection) = raw.validate_request() {
        return refuse(&raw, rejection);
    }
    let (rsip_bytes, uri) = match v6_request_line(&raw) {
        Ok(swapped) => swapped,
        Err(reason) => {
            return refuse(
                &raw,
                Rejection {
                    status: 400,
                    reason,
                },
            )
        }
    };
    match SipMessage::try_from(rsip_bytes) {
        Ok(SipMessage::Request(mut r)) => {
            if let Some(uri) = uri {
                r.uri = uri;
            }
            Inbound::Request(r)
        }
        Ok(_) => Inbound::Dropped("not a request".into()),
        Err(e) => refuse(
            &raw,
            Rejection {
                status: 400,
                reason: format!("Unsupported syntax ({e})")
                    .chars()
                    .take(80)
                    .collect(),
            },
        ),
    }
}

/// The bytes rsip reads, and our parse of the Request-URI when it has a `[v6]` host (which
/// rsip cannot read: it gets a stand-in URI instead).
fn v6_request_line(raw: &RawMessage) -> Result<(Vec<u8>, Option<Uri>), String> {
    let mut parts = raw.start_line.splitn(3, ' ');
    let (method, uri, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(uri), Some(version)) = (method, uri, version) else {
        return Ok((raw.to_bytes(), None));
    };
    if !uri.contains('[') {
        return Ok((raw.to_bytes(), None));
    }
    let parsed = parse_uri(uri)?;
    let mut standin = raw.clone();
    standin.start_line = format!("{method} sip:{V6_STANDIN} {version}");
    Ok((standin.to_bytes(), Some(parsed)))
}

fn refuse(raw: &RawMessage, rejection: Rejection) -> Inbound {
    // Never answer an ACK (RFC 3261 17.2.1) and never answer without a Via to route by.
    if raw.start_line.starts_with("ACK ") || raw.get("Via").is_none() {
        return Inbound::Dropped(rejection.reason);
    }
    let reason = rejection.reason.replace(['\r', '\n'], " ");
    let reply = parse::raw_response(raw, rejection.status, &reason, &new_tag());
    Inbound::Rejected { rejection, reply }
}

/// A message whose header section would not even split: answer 400 if a Via can be salvaged.
fn reject_unparsed(buf: &[u8], why: String) -> Inbound {
    let text = String::from_utf8_lossy(buf);
    if text.starts_with("SIP/") {
        return Inbound::Dropped(why);
    }
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (parse::canonical_name(n.trim()), v.trim().to_string()))
        .collect();
    let raw = RawMessage {
        start_line: start,
        headers,
        body: Vec::new(),
    };
    refuse(
        &raw,
        Rejection {
            status: 400,
            reason: why,
        },
    )
}

/// Prints a head with a correct Content-Length, then the body bytes as they are (rsip's own
/// printing would pass the body through UTF-8).
fn with_body(
    headers: &Headers,
    body: &[u8],
    print_head: impl FnOnce(Headers) -> String,
) -> Vec<u8> {
    let mut headers = headers.clone();
    set(&mut headers, "Content-Length", body.len().to_string());
    let mut out = print_head(headers).into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn encode_request(r: &Request) -> Vec<u8> {
    with_body(&r.headers, &r.body, |headers| {
        let head = Request {
            method: r.method,
            uri: r.uri.clone(),
            version: r.version.clone(),
            headers,
            body: Vec::new(),
        };
        head.to_string()
    })
}

pub fn encode_response(r: &Response) -> Vec<u8> {
    with_body(&r.headers, &r.body, |headers| {
        let head = Response {
            status_code: r.status_code.clone(),
            version: r.version.clone(),
            headers,
            body: Vec::new(),
        };
        head.to_string()
    })
}

/// Header name and value, whatever rsip variant holds it, without formatting anything: every
/// lookup goes through here, and formatting each header to find one was most of a proxy's work.
pub fn parts(hd: &Header) -> (&str, &str) {
    use rsip::headers::UntypedHeader;
    let (name, value) = match hd {
        Header::Accept(x) => ("Accept", x.value()),
        Header::AcceptEncoding(x) => ("Accept-Encoding", x.value()),
        Header::AcceptLanguage(x) => ("Accept-Language", x.value()),
        Header::AlertInfo(x) => ("Alert-Info", x.value()),
        Header::Allow(x) => ("Allow", x.value()),
        Header::AuthenticationInfo(x) => ("Authentication-Info", x.value()),
        Header::Authorization(x) => ("Authorization", x.value()),
        Header::CSeq(x) => ("CSeq", x.value()),
        Header::CallId(x) => ("Call-ID", x.value()),
        Header::CallInfo(x) => ("Call-Info", x.value()),
        Header::Contact(x) => ("Contact", x.value()),
        Header::ContentDisposition(x) => ("Content-Disposition", x.value()),
        Header::ContentEncoding(x) => ("Content-Encoding", x.value()),
        Header::ContentLanguage(x) => ("Content-Language", x.value()),
        Header::ContentLength(x) => ("Content-Length", x.value()),
        Header::ContentType(x) => ("Content-Type", x.value()),
        Header::Date(x) => ("Date", x.value()),
        Header::ErrorInfo(x) => ("Error-Info", x.value()),
        Header::Event(x) => ("Event", x.value()),
        Header::Expires(x) => ("Expires", x.value()),
        Header::From(x) => ("From", x.value()),
        Header::InReplyTo(x) => ("In-Reply-To", x.value()),
        Header::MaxForwards(x) => ("Max-Forwards", x.value()),
        Header::MimeVersion(x) => ("Mime-Version", x.value()),
        Header::MinExpires(x) => ("Min-Expires", x.value()),
        Header::Organization(x) => ("Organization", x.value()),
        Header::Priority(x) => ("Priority", x.value()),
        Header::ProxyAuthenticate(x) => ("Proxy-Authenticate", x.value()),
        Header::ProxyAuthorization(x) => ("Proxy-Authorization", x.value()),
        Header::ProxyRequire(x) => ("Proxy-Require", x.value()),
        Header::RecordRoute(x) => ("Record-Route", x.value()),
        Header::ReplyTo(x) => ("Reply-To", x.value()),
        Header::Require(x) => ("Require", x.value()),
        Header::RetryAfter(x) => ("Retry-After", x.value()),
        Header::Route(x) => ("Route", x.value()),
        Header::Server(x) => ("Server", x.value()),
        Header::Subject(x) => ("Subject", x.value()),
        Header::SubscriptionState(x) => ("Subscription-State", x.value()),
        Header::Supported(x) => ("Supported", x.value()),
        Header::Timestamp(x) => ("Timestamp", x.value()),
        Header::To(x) => ("To", x.value()),
        Header::Unsupported(x) => ("Unsupported", x.value()),
        Header::UserAgent(x) => ("User-Agent", x.value()),
        Header::Via(x) => ("Via", x.value()),
        Header::Warning(x) => ("Warning", x.value()),
        Header::WwwAuthenticate(x) => ("WWW-Authenticate", x.value()),
        Header::Other(n, v) => (n.as_str(), v.as_str()),
    };
    (name.trim(), value.trim())
}

/// Header name and value, owned.
pub fn name_value(hd: &Header) -> (String, String) {
    let (n, v) = parts(hd);
    (n.to_string(), v.to_string())
}

/// Builds the rsip variant for a header name so rsip's own accessors keep working.
pub fn make_header(name: &str, value: impl Into<String>) -> Header {
    let v = value.into();
    match parse::canonical_name(name).as_str() {
        "Via" => Header::Via(h::Via::new(v)),
        "From" => Header::From(h::From::new(v)),
        "To" => Header::To(h::To::new(v)),
        "Call-ID" => Header::CallId(h::CallId::new(v)),
        "CSeq" => Header::CSeq(h::CSeq::new(v)),
        "Contact" => Header::Contact(h::Contact::new(v)),
        "Max-Forwards" => Header::MaxForwards(h::MaxForwards::new(v)),
        "Content-Type" => Header::ContentType(h::ContentType::new(v)),
        "Content-Length" => Header::ContentLength(h::ContentLength::new(v)),
        "Expires" => Header::Expires(h::Expires::new(v)),
        "Min-Expires" => Header::MinExpires(h::MinExpires::new(v)),
        "Route" => Header::Route(h::Route::new(v)),
        "Record-Route" => Header::RecordRoute(h::RecordRoute::new(v)),
        "Authorization" => Header::Authorization(h::Authorization::new(v)),
        "WWW-Authenticate" => Header::WwwAuthenticate(h::WwwAuthenticate::new(v)),
        "Proxy-Authenticate" => Header::ProxyAuthenticate(h::ProxyAuthenticate::new(v)),
        "Proxy-Authorization" => Header::ProxyAuthorization(h::ProxyAuthorization::new(v)),
        "User-Agent" => Header::UserAgent(h::UserAgent::new(v)),
        "Server" => Header::Server(h::Server::new(v)),
        "Allow" => Header::Allow(h::Allow::new(v)),
        "Accept" => Header::Accept(h::Accept::new(v)),
        "Supported" => Header::Supported(h::Supported::new(v)),
        "Require" => Header::Require(h::Require::new(v)),
        "Unsupported" => Header::Unsupported(h::Unsupported::new(v)),
        "Warning" => Header::Warning(h::Warning::new(v)),
        other => Header::Other(other.to_string(), v),
    }
}

/// Value of the first header line with this name.
pub fn get(hs: &Headers, name: &str) -> Option<String> {
    get_str(hs, name).map(str::to_string)
}

/// The first value of a header, borrowed.
pub fn get_str<'a>(hs: &'a Headers, name: &str) -> Option<&'a str> {
    hs.iter()
        .map(parts)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Whether this header line has this name.
pub fn is_named(hd: &Header, name: &str) -> bool {
    parts(hd).0.eq_ignore_ascii_case(name)
}

/// Every header line's value with this name, unsplit (auth headers hold commas).
pub fn get_lines(hs: &Headers, name: &str) -> Vec<String> {
    hs.iter()
        .map(parts)
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
        .collect()
}

/// Every value with this name, comma-separated lists split (Via, Route, Contact...).
pub fn get_all(hs: &Headers, name: &str) -> Vec<String> {
    hs.iter()
        .map(parts)
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| {
            split_outside_quotes(v, ',')
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn remove(hs: &mut Headers, name: &str) {
    hs.retain(|hd| !is_named(hd, name));
}

/// Replaces every header of this name with one.
pub fn set(hs: &mut Headers, name: &str, value: impl Into<String>) {
    let value = value.into();
    let mut v: Vec<Header> = std::mem::take(hs).into();
    match v.iter().position(|hd| is_named(hd, name)) {
        Some(i) => {
            v[i] = make_header(name, value);
            let mut seen = false;
            v.retain(|hd| {
                if !is_named(hd, name) {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        }
        None => v.push(make_header(name, value)),
    }
    *hs = v.into();
}

pub fn push(hs: &mut Headers, name: &str, value: impl Into<String>) {
    hs.push(make_header(name, value));
}

pub fn prepend(hs: &mut Headers, name: &str, value: impl Into<String>) {
    let mut v: Vec<Header> = std::mem::take(hs).into();
    v.insert(0, make_header(name, value));
    *hs = v.into();
}

/// Removes the first value of a list header (top Via, top Route), keeping the rest.
pub fn pop_first(hs: &mut Headers, name: &str) -> Option<String> {
    let mut v: Vec<Header> = std::mem::take(hs).into();
    let mut popped = None;
    if let Some(i) = v.iter().position(|hd| is_named(hd, name)) {
        let (n, value) = name_value(&v[i]);
        let mut parts: Vec<String> = split_outside_quotes(&value, ',')
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect();
        popped = Some(parts.remove(0));
        if parts.is_empty() {
            v.remove(i);
        } else {
            v[i] = make_header(&n, parts.join(", "));
        }
    }
    *hs = v.into();
    popped
}

/// Reading the headers every layer needs, for requests and responses alike.
pub trait MessageExt {
    fn hdrs(&self) -> &Headers;

    fn header(&self, name: &str) -> Option<String> {
        get(self.hdrs(), name)
    }
    fn call_id(&self) -> String {
        self.header("Call-ID").unwrap_or_default()
    }
    fn cseq(&self) -> (u32, String) {
        self.header("CSeq")
            .and_then(|c| parse_cseq(&c).ok())
            .unwrap_or((0, String::new()))
    }
    fn top_via(&self) -> Option<Via> {
        get_all(self.hdrs(), "Via")
            .first()
            .and_then(|v| Via::parse(v).ok())
    }
    fn addr_from(&self) -> Option<NameAddr> {
        self.header("From").and_then(|v| NameAddr::parse(&v).ok())
    }
    fn to_addr(&self) -> Option<NameAddr> {
        self.header("To").and_then(|v| NameAddr::parse(&v).ok())
    }
    fn tag_from(&self) -> Option<String> {
        self.addr_from().and_then(|a| a.tag().map(str::to_string))
    }
    fn to_tag(&self) -> Option<String> {
        self.to_addr().and_then(|a| a.tag().map(str::to_string))
    }
    fn contact(&self) -> Option<NameAddr> {
        get_all(self.hdrs(), "Contact")
            .first()
            .and_then(|v| NameAddr::parse(v).ok())
    }
}

impl MessageExt for Request {
    fn hdrs(&self) -> &Headers {
        &self.headers
    }
}

impl MessageExt for Response {
    fn hdrs(&self) -> &Headers {
        &self.headers
    }
}

/// rsip prints its known status variants with their Rust names ("BusyHere"), so we always
/// carry the phrase ourselves.
pub fn status_of(code: u16, reason: Option<&str>) -> StatusCode {
    StatusCode::Other(code, reason.unwrap_or(default_reason(code)).to_string())
}

pub fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        440 => "Max-Breadth Exceeded",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

/// A response to `req` (RFC 3261 8.2.6.2): Via, From, Call-ID, CSeq copied; To gets `to_tag`
/// unless it already has one.
pub fn response_to(
    req: &Request,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Response {
    let mut headers = Headers::default();
    for hd in req.headers.iter() {
        let (n, v) = parts(hd);
        match n.to_ascii_lowercase().as_str() {
            "via" | "from" | "call-id" | "cseq" => headers.push(hd.clone()),
            "to" => match to_tag {
                Some(tag) if !v.contains("tag=") && code != 100 => {
                    push(&mut headers, "To", format!("{v};tag={tag}"))
                }
                _ => headers.push(hd.clone()),
            },
            _ => {}
        }
    }
    Response {
        status_code: status_of(code, reason),
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// The reason phrase of the 408 the endpoint makes up when no response came at all (a timeout
/// or a transport failure), as opposed to a 408 a server sent.
pub const NO_RESPONSE: &str = "No Response";

/// A 408 standing for "nothing came back" (RFC 3263 4.3: try the next server).
pub fn no_response(req: &Request) -> Response {
    response_to(req, 408, Some(NO_RESPONSE), None)
}

/// Whether to try the next server of RFC 3263: nothing came back, or 503.
pub fn try_next_server(r: &Response) -> bool {
    let code = code_of(r);
    code == 503 || (code == 408 && reason_of(r) == NO_RESPONSE && r.to_tag().is_none())
}

pub fn code_of(r: &Response) -> u16 {
    r.status_code.code()
}

pub fn reason_of(r: &Response) -> String {
    match &r.status_code {
        StatusCode::Other(_, reason) => reason.clone(),
        known => default_reason(known.code()).to_string(),
    }
}

/// The text of a response's Warning (RFC 3261 20.43: `399 host "text"`), which says why a
/// request was refused where the status alone cannot (a file too large, encryption required).
pub fn warning_text(r: &Response) -> Option<String> {
    let w = r.header("Warning")?;
    let (_, quoted) = w.split_once('"')?;
    let text = quoted.rsplit_once('"').map_or(quoted, |(t, _)| t).trim();
    (!text.is_empty()).then(|| text.to_string())
}

pub fn random_token(n: usize) -> String {
    use rand::Rng;
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

pub fn new_tag() -> String {
    random_token(10)
}

pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token(16))
}

pub fn new_call_id(host: &str) -> String {
    format!("{}@{host}", random_token(20))
}

/// The INVITE of RFC 3261 section 4 (with a 4-byte body), for tests and `parley bench`.
pub const RFC3261_INVITE: &[u8] = b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// `parts` names every rsip variant as rsip itself prints it.
    #[test]
    fn parts_agree_with_rsips_own_printing() {
        let text = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:a@h>\r\nMax-Forwards: 70\r\nAccept: application/sdp\r\nAccept-Encoding: gzip\r\nAccept-Language: en\r\nAlert-Info: <http://x>\r\nAllow: INVITE\r\nAuthentication-Info: nextnonce=1\r\nAuthorization: Digest username=\"a\"\r\nCall-Info: <http://x>\r\nContent-Disposition: session\r\nContent-Encoding: gzip\r\nContent-Language: en\r\nContent-Type: application/sdp\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\nError-Info: <sip:e@x>\r\nEvent: refer\r\nExpires: 60\r\nIn-Reply-To: x\r\nMIME-Version: 1.0\r\nMin-Expires: 60\r\nOrganization: o\r\nPriority: urgent\r\nProxy-Authenticate: Digest realm=\"x\"\r\nProxy-Authorization: Digest username=\"a\"\r\nProxy-Require: foo\r\nRecord-Route: <sip:p;lr>\r\nReply-To: <sip:a@x>\r\nRequire: 100rel\r\nRetry-After: 5\r\nRoute: <sip:p;lr>\r\nServer: s\r\nSubject: s\r\nSubscription-State: active\r\nSupported: timer\r\nTimestamp: 1\r\nUnsupported: foo\r\nUser-Agent: u\r\nWarning: 399 x \"w\"\r\nWWW-Authenticate: Digest realm=\"x\"\r\nX-Other: yes\r\nContent-Length: 0\r\n\r\n";
        let Inbound::Request(req) = decode(text.as_bytes()) else {
            panic!("not decoded")
        };
        assert!(
            req.headers.iter().count() >= 46,
            "every header of the message is there"
        );
        for hd in req.headers.iter() {
            let printed = hd.to_string();
            let (n, v) = printed.split_once(':').unwrap();
            assert_eq!(parts(hd), (n.trim(), v.trim()), "{printed}");
        }
    }

    #[test]
    fn decodes_the_rfc3261_invite_and_prints_it_back() {
        let Inbound::Request(req) = decode(RFC3261_INVITE) else {
            panic!("not a request")
        };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.call_id(), "a84b4c76e66710@pc33.atlanta.com");
        assert_eq!(req.cseq(), (314159, "INVITE".into()));
        assert_eq!(req.tag_from().as_deref(), Some("1928301774"));
        assert_eq!(req.to_tag(), None);
        assert_eq!(req.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(req.body, b"v=0\n");
        let Inbound::Request(again) = decode(&encode_request(&req)) else {
            panic!()
        };
        assert_eq!(again, req);
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_a_tag() {
        let Inbound::Request(req) = decode(RFC3261_INVITE) else {
            panic!()
        };
        let resp = response_to(&req, 180, None, Some("a6c85cf"));
        let bytes = encode_response(&resp);
        let Inbound::Response(r) = decode(&bytes) else {
            panic!("{}", String::from_utf8_lossy(&bytes))
        };
        assert_eq!(code_of(&r), 180);
        assert_eq!(reason_of(&r), "Ringing");
        assert_eq!(r.to_tag().as_deref(), Some("a6c85cf"));
        assert_eq!(r.call_id(), req.call_id());
    }

    #[test]
    fn header_list_editing() {
        let mut hs = Headers::default();
        push(
            &mut hs,
            "Via",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        prepend(&mut hs, "Via", "SIP/2.0/UDP p;branch=z9hG4bK0");
        assert_eq!(get_all(&hs, "via").len(), 3);
        assert_eq!(
            pop_first(&mut hs, "Via").unwrap(),
            "SIP/2.0/UDP p;branch=z9hG4bK0"
        );
        assert_eq!(
            pop_first(&mut hs, "Via").unwrap(),
            "SIP/2.0/UDP a;branch=z9hG4bK1"
        );
        assert_eq!(get_all(&hs, "Via"), vec!["SIP/2.0/UDP b;branch=z9hG4bK2"]);
        set(&mut hs, "Expires", "60");
        set(&mut hs, "Expires", "0");
        assert_eq!(get_all(&hs, "Expires"), vec!["0"]);
    }

    #[test]
    fn garbage_gets_400_when_routable_and_is_dropped_otherwise() {
        let bad = b"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKq\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nthis line has no colon\r\n\r\n";
        match decode(bad) {
            Inbound::Rejected { rejection, reply } => {
                assert_eq!(rejection.status, 400);
                let Inbound::Response(r) = decode(&reply) else {
                    panic!()
                };
                assert_eq!(code_of(&r), 400);
                assert_eq!(r.call_id(), "c");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(b"\x00\x01hello\r\n\r\n"),
            Inbound::Dropped(_)
        ));
    }
}
