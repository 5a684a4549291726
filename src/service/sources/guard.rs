//! Which addresses a source may reach. Feeds are URLs that editors type, so without a guard
//! the fetcher would be a way into the server's own network (loopback, the cloud metadata
//! service at 169.254.169.254, intranet hosts). The check runs on every address the host
//! resolves to, at connect time (so a DNS answer that changes between checks is caught),
//! and on every redirect hop.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::IngestSettings;

#[derive(Debug, Clone, Default)]
pub struct NetPolicy {
    allow_private: bool,
    allowed: Vec<IpNet>,
}

impl NetPolicy {
    pub fn from_settings(settings: &IngestSettings) -> Self {
        Self {
            allow_private: settings.allow_private_networks,
            allowed: settings.allowed_networks.clone(),
        }
    }

    /// Ok, or why `ip` may not be reached.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || self.allowed.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match forbidden_kind(ip) {
            Some(kind) => Err(format!(
                "{ip} is a {kind} address (ingest.allow_private_networks is off)"
            )),
            None => Ok(()),
        }
    }
}

fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else {
        None
    }
}

/// A refusal carried through reqwest's error chain to the source's `last_error`.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// The DNS resolver of the fetcher's client: the system resolver, keeping only addresses
/// the policy allows. A host with none left fails to connect, saying why.
pub struct GuardedResolver(pub Arc<NetPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut reason = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        reason.get_or_insert(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = reason.unwrap_or_else(|| "no address".into());
                return Err(Box::new(Refused(format!("{host}: {why}"))) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let strict = NetPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(strict.check(ip).is_err(), "{ip} allowed");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "47.246.1.1"] {
            assert!(strict.check(ip.parse().unwrap()).is_ok(), "{ip} refused");
        }
        let why = strict.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert!(why.contains("loopback"), "{why}");
        let listed = NetPolicy {
            allow_private: false,
            allowed: vec!["127.0.0.1/32".parse().unwrap()],
        };
        assert!(listed.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(listed.check("10.0.0.1".parse().unwrap()).is_err());
    }
}
