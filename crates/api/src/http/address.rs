//! Where a request comes from: the client address the limits count failed authentications
//! against (`FailureLimiter`, in [`crate::http::limits`]).
//!
//! By default it is the TCP peer. Behind a reverse proxy every request's peer is the proxy,
//! so the operator may name the proxies it trusts (`trusted_proxies`): for a request whose
//! peer is one of them, the client is read from `X-Forwarded-For`, right to left, skipping the
//! trusted proxies that appended their own peers; the first address not trusted is the
//! client. Only proxies named so are believed: without any, or from any other peer, the
//! header is ignored, so a client cannot pick its own address by sending one.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;

/// A proxy, or a network of proxies, whose `X-Forwarded-For` is believed: `10.0.0.5`,
/// `10.0.0.0/8`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// # Errors
    /// When `text` is not an IP address, optionally followed by `/` and a prefix length no
    /// longer than the address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "`{text}` is not an IP address or network (like `10.0.0.5`, `10.0.0.0/8` or \
                 `fd00::/8`)"
            )
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| invalid())?
            .to_canonical();
        let longest = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => longest,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= longest)
                .ok_or_else(invalid)?,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is this proxy, or in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Where a request comes from, as the limits tell clients apart: an IPv4 address, or the /64
/// network of an IPv6 address (a single host commonly holds a whole /64: counting its
/// addresses one by one would let it dodge any limit). An IPv4 address written as IPv6
/// (`::ffff:a.b.c.d`) is that IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientAddress(IpAddr);

impl ClientAddress {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !u128::from(u64::MAX);
                Self(IpAddr::V6(Ipv6Addr::from(network)))
            }
            v4 => Self(v4),
        }
    }

    /// The client of a request (see the module docs); `None` when it did not come over TCP.
    pub(crate) fn of_request(req: &ServiceRequest, trusted: &[TrustedProxy]) -> Option<Self> {
        let peer = req.peer_addr()?.ip();
        Some(Self::of(forwarded_client(peer, req.headers(), trusted)))
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, else the rightmost
/// address of `X-Forwarded-For` that is not a trusted proxy. An entry that is not an address
/// stops the walk at the last trusted hop: what lies left of it cannot be believed.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|proxy| proxy.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop_address(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, with or without a port.
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter()
            .map(|p| TrustedProxy::parse(p).unwrap())
            .collect()
    }

    fn forwarded_for(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        let network = TrustedProxy::parse("10.0.0.0/8").unwrap();
        assert!(network.contains(ip("10.200.3.4")));
        assert!(network.contains(ip("::ffff:10.1.1.1")));
        assert!(!network.contains(ip("11.0.0.1")));
        assert!(!network.contains(ip("::1")));
        let one = TrustedProxy::parse("192.168.1.7").unwrap();
        assert!(one.contains(ip("192.168.1.7")));
        assert!(!one.contains(ip("192.168.1.8")));
        let v6 = TrustedProxy::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(
            TrustedProxy::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in [
            "",
            "proxy",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "10.0.0.0/",
        ] {
            let error = TrustedProxy::parse(bad).unwrap_err();
            assert!(error.contains("not an IP address"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_header_of_an_untrusted_peer_is_ignored() {
        let headers = forwarded_for(&["203.0.113.9"]);
        assert_eq!(
            forwarded_client(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
        assert_eq!(
            forwarded_client(ip("198.51.100.1"), &headers, &proxies(&["10.0.0.0/8"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxies appended the rest.
        let headers = forwarded_for(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let with_port = forwarded_for(&["[2001:db8::1]:4711"]);
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &with_port, &trusted),
            ip("2001:db8::1")
        );
        // Nothing but proxies, no header, or garbage: the last trusted hop.
        let only_proxies = forwarded_for(&["10.0.0.3"]);
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &only_proxies, &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        let garbled = forwarded_for(&["203.0.113.9, unknown"]);
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &garbled, &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_network() {
        assert_eq!(
            ClientAddress::of(ip("2001:db8:1:2:aaaa::1")),
            ClientAddress::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            ClientAddress::of(ip("2001:db8:1:2::1")),
            ClientAddress::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientAddress::of(ip("::ffff:192.0.2.1")),
            ClientAddress::of(ip("192.0.2.1"))
        );
        assert_eq!(
            ClientAddress::of(ip("2001:db8:1:2:aaaa::1")).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(ClientAddress::of(ip("192.0.2.1")).to_string(), "192.0.2.1");
    }
}
