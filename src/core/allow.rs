//! `SERVE_ALLOW`: the client networks `mcce serve` answers. Pure parsing and
//! matching of CIDR lists; the default is loopback and the private ranges,
//! because a house's consumption tells when it is empty.

use std::fmt;
use std::net::IpAddr;

/// One network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

/// Loopback, the RFC 1918 ranges, link-local, and IPv6 unique-local.
pub const DEFAULT: &str =
    "127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 fc00::/7 fe80::/10";

impl Net {
    /// `A.B.C.D/N`, `X::Y/N`, or a bare address (a single host).
    pub fn parse(s: &str) -> Result<Net, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an address or network (e.g. 192.168.1.0/24)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("'{s}': prefix length must be 0..={max}")),
            },
        };
        let net = Net { addr, prefix };
        if net.masked(addr) != bits(addr) {
            return Err(format!("'{s}': address has bits set beyond the /{prefix}"));
        }
        // `::ffff:a.b.c.d/N` is how some write IPv4 networks; peers are
        // matched as IPv4 (see `contains`), so the entry becomes the IPv4
        // network it names. (Its prefix is at least 96 here: the `ffff`
        // bits would be set beyond a shorter one.)
        Ok(match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Net {
                    addr: IpAddr::V4(v4),
                    prefix: prefix.saturating_sub(96),
                },
                None => net,
            },
            IpAddr::V4(_) => net,
        })
    }

    fn masked(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            0
        } else {
            (bits(ip) >> shift) << shift
        }
    }

    /// IPv4 clients are matched as IPv4 however they arrive: a dual-stack
    /// socket shows them as IPv4-mapped IPv6 addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == bits(self.addr)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A list separated by commas and/or spaces; at least one network.
pub fn parse_list(s: &str) -> Result<Vec<Net>, String> {
    let nets = s
        .split([',', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .map(Net::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() {
        return Err("empty: list at least one network (e.g. 192.168.0.0/16)".into());
    }
    Ok(nets)
}

pub fn allowed(nets: &[Net], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_loopback_and_private() {
        let d = parse_list(DEFAULT).unwrap();
        for ok in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.20",
            "169.254.3.4",
            "fd12::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(allowed(&d, ip(ok)), "{ok}");
        }
        for no in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "11.0.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "0.0.0.0",
        ] {
            assert!(!allowed(&d, ip(no)), "{no}");
        }
    }

    #[test]
    fn parsing() {
        let l = parse_list("192.168.1.0/24, 10.0.0.7 ::/0").unwrap();
        assert_eq!(l.len(), 3);
        assert!(allowed(&l, ip("192.168.1.255")));
        assert!(!allowed(&l, ip("192.168.2.1")));
        assert!(allowed(&l, ip("10.0.0.7")));
        assert!(!allowed(&l, ip("10.0.0.8")));
        assert!(allowed(&l, ip("2001:db8::1")), "::/0 is every IPv6 client");
        assert!(!allowed(&l, ip("1.2.3.4")), "but no IPv4 one");
        assert!(allowed(&parse_list("0.0.0.0/0").unwrap(), ip("1.2.3.4")));
        assert!(parse_list("").is_err());
        assert!(parse_list(" , ").is_err());
        assert!(Net::parse("192.168.1.1/24").is_err(), "host bits set");
        assert!(Net::parse("10.0.0.0/33").is_err());
        assert!(Net::parse("10.0.0.0/+8").is_err());
        assert!(Net::parse("10.0.0/8").is_err());
        assert!(Net::parse("example.org").is_err());
        assert_eq!(Net::parse("fe80::/10").unwrap().to_string(), "fe80::/10");
    }

    /// An IPv4-mapped entry names IPv4 clients, however they arrive: on an
    /// IPv4 socket, or mapped on a dual-stack one.
    #[test]
    fn mapped_entries_name_ipv4_clients() {
        let l = parse_list("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(l[0].to_string(), "10.0.0.0/8", "logged as what it matches");
        for ok in ["10.1.2.3", "::ffff:10.1.2.3", "10.255.255.255"] {
            assert!(allowed(&l, ip(ok)), "{ok}");
        }
        for no in ["11.0.0.1", "::ffff:11.0.0.1", "::a01:203", "2001:db8::1"] {
            assert!(!allowed(&l, ip(no)), "{no}");
        }
        let host = parse_list("::ffff:192.168.1.7").unwrap();
        assert_eq!(host[0].to_string(), "192.168.1.7/32");
        assert!(allowed(&host, ip("192.168.1.7")));
        assert!(Net::parse("::ffff:10.0.0.0/95").is_err());
        assert!(Net::parse("::ffff:10.0.0.1/104").is_err(), "host bits set");
        // A plain IPv4 entry matches an IPv4 client seen on a dual-stack socket.
        assert!(allowed(
            &parse_list("127.0.0.0/8").unwrap(),
            ip("::ffff:127.0.0.1")
        ));
    }
}
