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

/// Why an address is not public, or `None` when it is.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => non_public_v4(a),
        IpAddr::V6(a) => non_public_v6(a),
    }
}

fn non_public_v4(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    Some(match o {
        [0, ..] => "unspecified",
        [127, ..] => "loopback",
        [10, ..] | [192, 168, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..=127).contains(&b) => "shared (carrier-grade NAT)",
        [192, 0, 0, _] => "reserved for protocol assignments",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "reserved for documentation",
        [198, b, ..] if b == 18 || b == 19 => "reserved for benchmarking",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved",
        _ => return None,
    })
}

fn non_public_v6(a: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return non_public_v4(v4).or(Some("IPv4-mapped"));
    }
    let s = a.segments();
    if a.is_unspecified() {
        return Some("unspecified");
    }
    if a.is_loopback() {
        return Some("loopback");
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "unique-local",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "reserved for documentation",
        // 6to4 and NAT64 carry an IPv4 address: judge that one.
        0x2002 => return non_public_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8)),
        0x0064 if s[1] == 0xff9b => {
            return non_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
        }
        // The deprecated IPv4-compatible form ::a.b.c.d.
        0 if s[..6].iter().all(|x| *x == 0) => "IPv4-compatible",
        _ => return None,
    })
}

/// What a fetch may connect to, beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Networks allowed although not public (`[fetch] allow_networks`).
    pub allow: Vec<IpNet>,
}

impl Policy {
    /// `Err(reason)` when `ip` may not be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match non_public(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|n| n.contains(&ip)) => Ok(()),
            Some(why) => Err(format!("{ip} is a {why} address (allow it with [fetch] allow_networks)")),
        }
    }
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
                        refused.push(why);
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
        let e = p.check(ip("192.168.1.1")).unwrap_err();
        assert!(e.contains("private") && e.contains("allow_networks"), "{e}");
        assert!(p.check(ip("169.254.169.254")).is_err());
    }
}
