//! The client's IP address, the one place it is taken (rate limits, view de-duplication and
//! the audit log all use it).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use poem::Request;

use crate::state::AppState;

/// The client of `req`: the peer address, unless the peer is one of
/// `server.trusted_proxies`, in which case `X-Forwarded-For` is walked from the right and
/// the first address that is not a trusted proxy is the client. Entries left of it were
/// written by the client itself and cannot be believed.
pub fn client_ip(req: &Request, state: &AppState) -> IpAddr {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip().to_canonical());
    let trusted = &state.settings.server.trusted_proxies;
    if trusted.is_empty() {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    resolve(peer, forwarded, trusted)
}

/// `forwarded`: the `X-Forwarded-For` values in the order received (each a list).
fn resolve<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // Something that is not an address ends the walk: the nearest hop we could read
        // is the best we know (never a client-chosen string).
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(ip("198.51.100.7"), ["1.2.3.4"].into_iter(), &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let got = resolve(
            ip("127.0.0.1"),
            ["6.6.6.6, 203.0.113.9", "10.1.2.3"].into_iter(),
            &trusted,
        );
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_only_gives_the_leftmost_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(ip("10.0.0.1"), ["10.0.0.9, 10.0.0.8"].into_iter(), &trusted);
        assert_eq!(got, ip("10.0.0.9"));
    }

    #[test]
    fn garbage_in_the_header_stops_at_the_nearest_readable_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(
            ip("10.0.0.1"),
            ["203.0.113.9, not-an-ip, 10.0.0.2"].into_iter(),
            &trusted,
        );
        assert_eq!(got, ip("10.0.0.2"));
        let ipv6_mapped = resolve(ip("10.0.0.1"), ["::ffff:192.0.2.1"].into_iter(), &trusted);
        assert_eq!(ipv6_mapped, ip("192.0.2.1"));
    }
}
