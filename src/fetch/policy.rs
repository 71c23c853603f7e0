//! The network policy: which addresses a fetch may connect to.
//!
//! A feed URL written in the configuration whose host is an IP literal or `localhost`
//! is fetched as written, and so are redirects that stay on that same host. Every other
//! host — a configured hostname, or another host a redirect leads to — must resolve
//! only to public addresses: loopback, link-local, private, unique-local, shared
//! (CGNAT), multicast, reserved and unspecified addresses, and the IPv4-mapped and
//! embedded forms of these, are refused unless `[fetch] allow_networks` lists them. The
//! check runs on every hop: on IP literals before connecting, and for names inside the
//! resolver, on the addresses the connection is then made to (so a DNS answer that
//! changes between two lookups cannot slip through).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;

/// The IPv4 ranges that are not globally reachable, from IANA's IPv4 Special-Purpose
/// Address Registry (its entries marked "Globally Reachable: False", checked December
/// 2026), plus multicast (224.0.0.0/4, its own registry) and the limited broadcast
/// address. Registry entries that are globally reachable (AS112 192.31.196.0/24 and
/// 192.175.48.0/24, AMT 192.52.193.0/24) stay public. The whole of 192.0.0.0/24 is
/// refused, its two anycast exceptions (192.0.0.9, 192.0.0.10) included: no feed is
/// served from them.
const V4_RANGES: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (unspecified)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (carrier-grade NAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "reserved for protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "reserved for documentation"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast (deprecated)"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "reserved for benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "reserved for documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "reserved for documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "broadcast"),
];

/// The IPv6 ranges that are not globally reachable, from IANA's IPv6 Special-Purpose
/// Address Registry (checked December 2026), plus multicast, the deprecated site-local
/// range, and the globally reachable exceptions inside 2001::/23, which are public.
/// Ranges that carry an IPv4 address (IPv4-mapped, 6to4, the NAT64 well-known prefix)
/// are judged by that address in [`non_public_v6`] before this table.
const V6_RANGES: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "unspecified"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use IPv4/IPv6 translation"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only"),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "dummy prefix"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "Teredo"),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, "reserved for benchmarking"),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, "ORCHID (deprecated)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "reserved for documentation"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "reserved for protocol assignments"),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "reserved for documentation"),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "segment routing"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique-local"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// Inside 2001::/23, the registry's globally reachable assignments: anycast for PCP,
/// TURN and DNS-SD SRP, AMT, AS112, ORCHIDv2, drone remote ID.
const V6_PUBLIC_IN_PROTOCOL_ASSIGNMENTS: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2), 128),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3), 128),
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28),
    (Ipv6Addr::new(0x2001, 0x30, 0, 0, 0, 0, 0, 0), 28),
];

fn in_v4(a: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    u32::from(a) & mask == u32::from(net) & mask
}

fn in_v6(a: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
    u128::from(a) & mask == u128::from(net) & mask
}

/// Why an address is not public, or `None` when it is.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => non_public_v4(a),
        IpAddr::V6(a) => non_public_v6(a),
    }
}

fn non_public_v4(a: Ipv4Addr) -> Option<&'static str> {
    V4_RANGES.iter().find(|(net, len, _)| in_v4(a, *net, *len)).map(|(_, _, why)| *why)
}

fn non_public_v6(a: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return non_public_v4(v4).or(Some("IPv4-mapped"));
    }
    let s = a.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // 6to4 and the NAT64 well-known prefix carry an IPv4 address: judge that one.
    if s[0] == 0x2002 {
        return non_public_v4(embedded(s[1], s[2]));
    }
    if in_v6(a, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return non_public_v4(embedded(s[6], s[7]));
    }
    // The deprecated IPv4-compatible form ::a.b.c.d (:: and ::1 are in the table).
    if s[..6].iter().all(|x| *x == 0) && !matches!(u128::from(a), 0 | 1) {
        return Some("IPv4-compatible");
    }
    if V6_PUBLIC_IN_PROTOCOL_ASSIGNMENTS.iter().any(|(net, len)| in_v6(a, *net, *len)) {
        return None;
    }
    V6_RANGES.iter().find(|(net, len, _)| in_v6(a, *net, *len)).map(|(_, _, why)| *why)
}

/// What a fetch may connect to, beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Networks allowed although not public (`[fetch] allow_networks`).
    pub allow: Vec<IpNet>,
}

impl Policy {
    /// An error saying why when `ip` may not be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), NotAllowed> {
        match non_public(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|n| n.contains(&ip)) => Ok(()),
            Some(why) => Err(NotAllowed { ip, why }),
        }
    }
}

/// An address the policy does not allow, and what kind of address it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is a {why} address (allow it with [fetch] allow_networks)")]
pub struct NotAllowed {
    pub ip: IpAddr,
    pub why: &'static str,
}

/// A refused connection, carried through reqwest's error chain so `classify` can tell
/// it from other connect errors.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the network policy: {}", self.0)
    }
}

impl std::error::Error for Refused {}

pub type Resolved = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The system's resolver in the daemon; tests give
/// their own, so no lookup leaves the machine.
pub trait Resolver: Send + Sync {
    fn resolve(&self, host: &str) -> Resolved;
}

/// The operating system's resolver (getaddrinfo, on a blocking thread).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> Resolved {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The resolver reqwest is given: resolves, then keeps only the addresses the policy
/// permits; when none is left, the connection fails with [`Refused`].
pub struct Filtering {
    pub resolver: Arc<dyn Resolver>,
    pub policy: Policy,
}

impl reqwest::dns::Resolve for Filtering {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let lookup = self.resolver.resolve(&host);
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = lookup.await?;
            let mut refused = Vec::new();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|ip| match policy.check(*ip) {
                    Ok(()) => true,
                    Err(why) => {
                        refused.push(why.to_string());
                        false
                    }
                })
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                let why = if refused.is_empty() { "no address".to_string() } else { refused.join("; ") };
                return Err(
                    Box::new(Refused(format!("{host} resolves to {why}"))) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "127.0.0.2",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "ff02::1",
        ] {
            assert!(non_public(ip(a)).is_some(), "{a} passed as public");
        }
        for a in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert_eq!(non_public(ip(a)), None, "{a}");
        }
    }

    /// Every range of IANA's special-purpose registries that is not globally reachable,
    /// at its first and last address and one inside, with the reason given; and the
    /// addresses just outside each, and the registry's globally reachable entries, public.
    #[test]
    fn each_special_purpose_range_is_refused_at_both_ends() {
        let refused: &[(&str, &str, &str)] = &[
            ("0.0.0.0", "0.255.255.255", "this network"),
            ("10.0.0.0", "10.255.255.255", "private"),
            ("100.64.0.0", "100.127.255.255", "shared"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("172.16.0.0", "172.31.255.255", "private"),
            ("192.0.0.0", "192.0.0.255", "protocol assignments"),
            ("192.0.2.0", "192.0.2.255", "documentation"),
            ("192.88.99.0", "192.88.99.255", "6to4 relay"),
            ("192.168.0.0", "192.168.255.255", "private"),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("198.51.100.0", "198.51.100.255", "documentation"),
            ("203.0.113.0", "203.0.113.255", "documentation"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.255", "reserved"),
            ("::", "::", "unspecified"),
            ("::1", "::1", "loopback"),
            ("::ffff:0.0.0.0", "::ffff:0.255.255.255", "this network"),
            ("64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use"),
            ("100::", "100::ffff:ffff:ffff:ffff", "discard-only"),
            ("100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff", "dummy"),
            ("2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo"),
            ("2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking"),
            ("2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", "ORCHID"),
            ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"),
            ("2001:1::", "2001:1::", "protocol assignments"),
            ("2001:1::4", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "protocol assignments"),
            ("3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"),
            ("5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "segment routing"),
            ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"),
            ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"),
            ("fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"),
            ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
        ];
        for (first, last, why) in refused {
            let (lo, hi) = (ip(first), ip(last));
            let mid = match (lo, hi) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    IpAddr::V4(Ipv4Addr::from(u32::from(a) + (u32::from(b) - u32::from(a)) / 2))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    IpAddr::V6(Ipv6Addr::from(u128::from(a) + (u128::from(b) - u128::from(a)) / 2))
                }
                _ => unreachable!(),
            };
            for a in [lo, mid, hi] {
                let got = non_public(a).unwrap_or_else(|| panic!("{a} ({why}) passed as public"));
                assert!(got.contains(why), "{a}: {got:?}, expected {why:?}");
            }
        }
        for a in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.88.98.255",
            "192.88.100.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            // Globally reachable entries of the registries.
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2620:4f:8000::1",
            // Just outside the IPv6 ranges.
            "2001:200::1",
            "3fff:1000::1",
            "5eff:ffff::1",
            "5f01::1",
            "fbff:ffff::1",
            "2600::1",
        ] {
            assert_eq!(non_public(ip(a)), None, "{a} refused");
        }
    }

    struct Fixed(Vec<IpAddr>);
    impl Resolver for Fixed {
        fn resolve(&self, _: &str) -> Resolved {
            let addrs = self.0.clone();
            Box::pin(async move { Ok(addrs) })
        }
    }

    fn filtered(addrs: &[&str]) -> Result<Vec<IpAddr>, String> {
        use reqwest::dns::Resolve;
        let f =
            Filtering { resolver: Arc::new(Fixed(addrs.iter().map(|a| ip(a)).collect())), policy: Policy::default() };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(f.resolve("name.example".parse().unwrap()))
            .map(|a| a.map(|s| s.ip()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_resolver_hands_on_only_public_addresses() {
        // A name answering with a public and an internal address (DNS rebinding): only
        // the public one is connected to.
        assert_eq!(filtered(&["8.8.8.8", "127.0.0.1", "::1"]), Ok(vec![ip("8.8.8.8")]));
        let refused = filtered(&["127.0.0.1", "10.0.0.1"]).unwrap_err();
        assert!(refused.contains("refused by the network policy") && refused.contains("loopback"), "{refused}");
    }

    #[test]
    fn allow_networks_opens_a_range() {
        let p = Policy { allow: vec!["10.0.0.0/8".parse().unwrap()] };
        assert!(p.check(ip("10.2.3.4")).is_ok());
        let e = p.check(ip("192.168.1.1")).unwrap_err().to_string();
        assert!(e.contains("private") && e.contains("allow_networks"), "{e}");
        assert!(p.check(ip("169.254.169.254")).is_err());
    }
}
