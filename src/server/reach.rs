//! Where the relays (TURN and MSRP) may send on a user's behalf. By default nowhere a stranger
//! should reach through us: not loopback, private networks (RFC 1918, IPv6 ULA), the carrier's
//! shared space (RFC 6598), link-local (169.254.169.254 is the cloud's metadata service),
//! multicast and broadcast, unspecified, nor this host's own addresses; as coturn does by
//! default. An admin may allow ranges (`--relay-allow 10.0.0.0/8`), e.g. for a LAN.

use std::net::IpAddr;

/// An address range, `10.0.0.0/8` or `fd00::/8` (a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { net: addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.bits);
        let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
        (net & mask) == (ip & mask)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as an IPv6 socket sees IPv4 peers)
/// is the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

const REFUSED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// The relays' rule for where they may send.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Ranges the admin allows despite the defaults.
    pub allow: Vec<Cidr>,
}

impl Reach {
    /// Whether a relay may send to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.allow.iter().any(|c| c.contains(ip)) {
            return true;
        }
        let refused = REFUSED
            .iter()
            .filter_map(|r| Cidr::parse(r))
            .any(|c| c.contains(ip));
        !refused && !super::is_local_ip(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_refuse_what_a_stranger_should_not_reach() {
        let r = Reach::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!r.permits(ip(bad)), "{bad}");
        }
        for good in ["203.0.113.9", "198.51.100.7", "2001:db8::1"] {
            assert!(r.permits(ip(good)), "{good}");
        }
    }

    #[test]
    fn the_admin_may_allow_a_range() {
        let r = Reach {
            allow: vec![
                Cidr::parse("10.0.0.0/8").unwrap(),
                Cidr::parse("::1").unwrap(),
            ],
        };
        assert!(r.permits(ip("10.9.8.7")));
        assert!(r.permits(ip("::1")));
        assert!(!r.permits(ip("192.168.0.1")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }
}
