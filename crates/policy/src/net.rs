//! IP address blocks for network zones, on `std::net` alone.
//!
//! A block is an inclusive range of addresses in one family, which covers
//! both of Okta's notations: CIDR (`203.0.113.0/24`) and ranges
//! (`203.0.113.1-203.0.113.9`).

use std::net::IpAddr;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    v6: bool,
    first: u128,
    last: u128,
}

/// An address as a family flag and a number. IPv4-mapped IPv6 addresses
/// count as IPv4, so `::ffff:203.0.113.5` is in `203.0.113.0/24`.
fn key(ip: IpAddr) -> (bool, u128) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

impl IpBlock {
    /// Parses `address/prefix`; a bare address is a block of one.
    ///
    /// # Errors
    ///
    /// A lowercase reason when the text is not a CIDR block.
    pub fn parse_cidr(text: &str) -> Result<IpBlock, &'static str> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = addr.trim().parse().map_err(|_| "not an ip address")?;
        let bits: u32 = if ip.is_ipv6() { 128 } else { 32 };
        let prefix: u32 = match prefix {
            None => bits,
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("prefix length is not a number");
                }
                p.parse().map_err(|_| "prefix length is not a number")?
            }
        };
        if prefix > bits {
            return Err("prefix length is longer than the address");
        }
        // An IPv4-mapped block (`::ffff:203.0.113.0/120`) is the IPv4 block
        // it maps, since addresses are compared in canonical form.
        let (v6, n, bits, prefix) = match (ip, ip.to_canonical()) {
            (IpAddr::V6(_), IpAddr::V4(v4)) if prefix >= 96 => {
                (false, u128::from(u32::from(v4)), 32, prefix - 96)
            }
            (IpAddr::V6(v6), _) => (true, u128::from(v6), bits, prefix),
            (IpAddr::V4(v4), _) => (false, u128::from(u32::from(v4)), bits, prefix),
        };
        let host_bits = bits - prefix;
        // `checked_shl` fails only at 128, where every bit is a host bit.
        let host_mask = 1u128.checked_shl(host_bits).map_or(u128::MAX, |m| m - 1);
        if n & host_mask != 0 {
            return Err("address has bits set past the prefix length");
        }
        Ok(IpBlock {
            v6,
            first: n,
            last: n | host_mask,
        })
    }

    /// Parses `first-last`, both in one family, `first` not after `last`.
    ///
    /// # Errors
    ///
    /// A lowercase reason when the text is not a range.
    pub fn parse_range(text: &str) -> Result<IpBlock, &'static str> {
        let (a, b) = text.split_once('-').ok_or("range has no `-`")?;
        let a: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| "range start is not an ip address")?;
        let b: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| "range end is not an ip address")?;
        let (a6, first) = key(a);
        let (b6, last) = key(b);
        if a6 != b6 {
            return Err("range mixes ipv4 and ipv6");
        }
        if first > last {
            return Err("range starts after it ends");
        }
        Ok(IpBlock {
            v6: a6,
            first,
            last,
        })
    }

    /// Whether `ip` is in the block.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = key(ip);
        v6 == self.v6 && self.first <= n && n <= self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_v4_bounds() {
        let block = IpBlock::parse_cidr("203.0.113.0/24").unwrap();
        assert!(block.contains(ip("203.0.113.0")));
        assert!(block.contains(ip("203.0.113.255")));
        assert!(!block.contains(ip("203.0.114.0")));
        assert!(!block.contains(ip("203.0.112.255")));
        assert!(block.contains(ip("::ffff:203.0.113.7")));
    }

    #[test]
    fn cidr_v6_and_extremes() {
        let block = IpBlock::parse_cidr("2001:db8::/32").unwrap();
        assert!(block.contains(ip("2001:db8:ffff::1")));
        assert!(!block.contains(ip("2001:db9::1")));
        assert!(!block.contains(ip("32.1.13.184")));
        let all = IpBlock::parse_cidr("::/0").unwrap();
        assert!(all.contains(ip("ffff::1")));
        assert!(!all.contains(ip("10.0.0.1")));
        let one = IpBlock::parse_cidr("198.51.100.7").unwrap();
        assert!(one.contains(ip("198.51.100.7")));
        assert!(!one.contains(ip("198.51.100.8")));
    }

    #[test]
    fn ranges() {
        let block = IpBlock::parse_range("198.51.100.10-198.51.100.20").unwrap();
        assert!(block.contains(ip("198.51.100.10")));
        assert!(block.contains(ip("198.51.100.20")));
        assert!(!block.contains(ip("198.51.100.21")));
        assert!(!block.contains(ip("198.51.100.9")));
        let v6 = IpBlock::parse_range("2001:db8::1-2001:db8::ff").unwrap();
        assert!(v6.contains(ip("2001:db8::80")));
    }

    #[test]
    fn refuses_malformed_blocks() {
        for bad in [
            "",
            "203.0.113.0/33",
            "203.0.113.1/24",
            "::/129",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "x/8",
        ] {
            assert!(IpBlock::parse_cidr(bad).is_err(), "{bad:?}");
        }
        for bad in ["1.2.3.4", "1.2.3.9-1.2.3.4", "1.2.3.4-::1", "a-b"] {
            assert!(IpBlock::parse_range(bad).is_err(), "{bad:?}");
        }
    }
}
