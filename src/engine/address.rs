//! An address as people type it: `bob`, `bob@company.com`, `sip:bob@Company.com`, or
//! `Bob <sip:bob@company.com>`. One normalisation (scheme and host in lower case, the user as
//! typed, as RFC 3261 19.1.4 compares it) and so one equality for the window, the contacts
//! and the engine; what cannot be an address is refused in words before anything is sent or
//! logged.

use std::fmt;

/// A checked address: `sip:user@host[:port]`, or a bare user the account's domain completes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    secure: bool,
    user: String,
    host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("type an address, like bob@company.com")]
    Empty,
    #[error("“{0}” has a space in it: an address is one word, like bob@company.com")]
    Space(String),
    #[error("“{0}” has more than one @")]
    TwoAts(String),
    #[error("“{0}” has no name before the @")]
    NoUser(String),
    #[error("“{0}” is not a domain name")]
    BadHost(String),
    #[error("“{0}” has a character an address cannot have")]
    BadChar(String),
}

/// Characters a SIP user part may hold as typed (RFC 3261 25.1 unreserved and user-unreserved).
fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/%#".contains(c)
}

fn host_ok(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(']') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return false;
    }
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Address {
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        let t = input.trim();
        // `Name <uri>`: the URI inside.
        let t = match (t.find('<'), t.rfind('>')) {
            (Some(a), Some(b)) if a < b => t[a + 1..b].trim(),
            _ => t,
        };
        if t.is_empty() {
            return Err(AddressError::Empty);
        }
        if t.contains(char::is_whitespace) {
            return Err(AddressError::Space(t.to_string()));
        }
        let lower = t.to_ascii_lowercase();
        let (secure, rest) = match () {
            _ if lower.starts_with("sips:") => (true, &t[5..]),
            _ if lower.starts_with("sip:") => (false, &t[4..]),
            _ => (false, t),
        };
        let (rest, params) = match rest.find(';') {
            Some(i) if rest[..i].contains('@') => rest.split_at(i),
            _ => (rest, ""),
        };
        let (user, host) = match rest.split_once('@') {
            Some((_, h)) if h.contains('@') => return Err(AddressError::TwoAts(t.to_string())),
            Some(("", _)) => return Err(AddressError::NoUser(t.to_string())),
            Some((u, h)) => (u, Some(format!("{}{}", h, params).to_ascii_lowercase())),
            None => (rest, None),
        };
        if !user.chars().all(user_char) {
            return Err(AddressError::BadChar(t.to_string()));
        }
        if let Some(h) = &host {
            let bare = h.split(';').next().unwrap_or_default();
            if !host_ok(bare) {
                return Err(AddressError::BadHost(bare.to_string()));
            }
        }
        Ok(Address {
            secure,
            user: user.to_string(),
            host,
        })
    }

    /// The full URI, the bare user completed with `domain`.
    pub fn uri_in(&self, domain: &str) -> String {
        let scheme = if self.secure { "sips" } else { "sip" };
        let host = self.host.as_deref().unwrap_or(domain);
        format!("{scheme}:{}@{host}", self.user)
    }

    /// The address of record an account signs in as, `sip:user@host`, without parameters;
    /// none for a bare user.
    pub fn aor(&self) -> Option<String> {
        let host = self.host.as_deref()?.split(';').next()?;
        let scheme = if self.secure { "sips" } else { "sip" };
        Some(format!("{scheme}:{}@{host}", self.user))
    }

    /// What two addresses are compared by: `user@host` (host in lower case, no parameters,
    /// no scheme). What does not parse is compared as typed, trimmed, in lower case.
    pub fn key(input: &str) -> String {
        match Address::parse(input) {
            Ok(a) => match &a.host {
                Some(h) => format!("{}@{}", a.user, h.split(';').next().unwrap_or_default()),
                None => a.user,
            },
            Err(_) => input.trim().trim_start_matches("sip:").to_lowercase(),
        }
    }

    /// Whether a domain was given.
    pub fn has_host(&self) -> bool {
        self.host.is_some()
    }
}

impl fmt::Display for Address {
    /// As the window shows it: `bob@company.com`, no scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{}@{h}", self.user),
            None => write!(f, "{}", self.user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_typed_are_one_and_the_same() {
        let a = Address::parse("sip:bob@Company.COM").unwrap();
        assert_eq!(a, Address::parse("bob@company.com").unwrap());
        assert_eq!(
            a,
            Address::parse("Bob Builder <SIP:bob@company.com>").unwrap()
        );
        assert_eq!(a.to_string(), "bob@company.com");
        assert_eq!(a.uri_in("other.org"), "sip:bob@company.com");
        assert_eq!(
            Address::parse("bob").unwrap().uri_in("company.com"),
            "sip:bob@company.com"
        );
        assert_eq!(Address::parse("1234").unwrap().to_string(), "1234");
        let v6 = Address::parse("sips:alice@[2001:db8::1]:5061").unwrap();
        assert_eq!(v6.uri_in("x"), "sips:alice@[2001:db8::1]:5061");
        assert!(Address::parse("bob@company.com;transport=tls").is_ok());
        assert_eq!(
            Address::key("sip:bob@Company.com;transport=tcp"),
            "bob@company.com"
        );
        assert_eq!(
            Address::key("Bob <sips:bob@company.com>"),
            "bob@company.com"
        );
        assert_eq!(
            Address::key("sip:Bob@x"),
            "Bob@x",
            "the user part is as typed"
        );
        assert_eq!(Address::key("sip:bob@@x"), "bob@@x");
        let aor = Address::parse("sip:alice@Example.com;transport=tcp")
            .unwrap()
            .aor();
        assert_eq!(aor.as_deref(), Some("sip:alice@example.com"));
    }

    #[test]
    fn what_cannot_be_an_address_is_refused_in_words() {
        let e = |s: &str| Address::parse(s).unwrap_err();
        assert!(matches!(e("bob smith"), AddressError::Space(_)));
        assert!(matches!(e("alice at company"), AddressError::Space(_)));
        assert!(matches!(
            e("sip:bob@@company..com"),
            AddressError::TwoAts(_)
        ));
        assert!(matches!(e("bob@company..com"), AddressError::BadHost(_)));
        assert!(matches!(e("bob@-company.com"), AddressError::BadHost(_)));
        assert!(matches!(e("@company.com"), AddressError::NoUser(_)));
        assert!(matches!(
            e("bob<>@x.com"),
            AddressError::Empty | AddressError::BadChar(_)
        ));
        assert!(matches!(e("  "), AddressError::Empty));
        assert!(e("bob smith").to_string().contains("space"));
    }
}
