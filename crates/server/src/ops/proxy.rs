//! The client's address behind trusted proxies (`serve --trusted-proxy`).
//!
//! Behind a load balancer every connection comes from the balancer, so the
//! failure limiters and the System Log would see one source for everyone:
//! one guesser would throttle every admin behind it. A balancer named as
//! trusted is believed about the client it forwards for, in the
//! `X-Forwarded-For` header it appends to: the address is the rightmost
//! entry that is not itself a trusted proxy, as nginx's
//! `real_ip_recursive` reads it. Entries left of that were written by the
//! client and are never believed; a connection from anywhere else keeps
//! its own address, whatever its headers say.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// The most `X-Forwarded-For` entries read, from the right.
pub const MAX_HOPS: usize = 16;

/// An address range: an address and a prefix length (`10.0.0.0/8`,
/// `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// A range that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an address range (ADDRESS or ADDRESS/PREFIX): {reason}")]
pub struct BadRange {
    input: String,
    reason: &'static str,
}

impl FromStr for IpRange {
    type Err = BadRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| BadRange {
            input: s.chars().take(64).collect(),
            reason,
        };
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad("not an IP address"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| bad("the prefix length is out of range"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits.saturating_sub(prefix));
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// Proxies in `ranges`.
    pub fn new(ranges: Vec<IpRange>) -> Self {
        Self(ranges)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        // Every X-Forwarded-For line, in order, read from the right.
        let mut entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|line| line.to_str().unwrap_or("").rsplit(','))
            .take(MAX_HOPS);
        for entry in entries.by_ref() {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => {}
                Ok(ip) => return SocketAddr::new(canonical(ip), 0),
                // What a trusted proxy appends always parses: this was not
                // written by one, so the last trusted hop is all we know.
                Err(_) => break,
            }
        }
        peer
    }
}

/// Middleware: replaces the request's `ConnectInfo` (the peer) with its
/// client behind trusted proxies.
pub(crate) async fn real_client(
    State(trusted): State<std::sync::Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let client = trusted.client(peer, request.headers());
        if client != peer {
            request.extensions_mut().insert(ConnectInfo(client));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    fn client(proxies: &TrustedProxies, peer: &str, lines: &[&str]) -> String {
        proxies
            .client(peer.parse().unwrap(), &forwarded(lines))
            .ip()
            .to_string()
    }

    #[test]
    fn ranges_parse_and_contain() {
        let net: IpRange = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let one: IpRange = "192.0.2.1".parse().unwrap();
        assert!(!one.contains("192.0.2.2".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "nope",
            "10.0.0.0/x",
            "",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_entry_from_a_trusted_peer_only() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = "127.0.0.1:4000";
        assert_eq!(client(&proxies, peer, &["203.0.113.9"]), "203.0.113.9");
        // The client's own claim, left of what the proxies appended, is not believed.
        assert_eq!(
            client(&proxies, peer, &["198.51.100.1, 203.0.113.9, 10.0.0.5"]),
            "203.0.113.9"
        );
        assert_eq!(
            client(&proxies, peer, &["198.51.100.1", "203.0.113.9"]),
            "203.0.113.9",
            "several lines are one list"
        );
        assert_eq!(client(&proxies, peer, &[" 2001:db8::7 "]), "2001:db8::7");
        // Nothing believable: the peer.
        assert_eq!(client(&proxies, peer, &[]), "127.0.0.1");
        assert_eq!(client(&proxies, peer, &["10.0.0.5"]), "127.0.0.1");
        assert_eq!(client(&proxies, peer, &["203.0.113.9, junk"]), "127.0.0.1");
        // An untrusted peer is itself, whatever it claims.
        assert_eq!(
            client(&proxies, "192.0.2.50:1", &["203.0.113.9"]),
            "192.0.2.50"
        );
        assert_eq!(
            client(&TrustedProxies::default(), peer, &["203.0.113.9"]),
            "127.0.0.1"
        );
        // At most MAX_HOPS entries are read.
        let long = vec!["10.0.0.1"; MAX_HOPS];
        let mut lines = vec!["203.0.113.9"];
        lines.extend(long);
        assert_eq!(client(&proxies, peer, &lines), "127.0.0.1");
    }
}
