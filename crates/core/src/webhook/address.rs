//! The guard against server-side request forgery: webhook URLs are chosen by API clients, so
//! without it anyone could make Herald POST into its own network (cloud metadata at
//! 169.254.169.254, an admin port on localhost, a database on 10.0.0.5).
//!
//! Targets in private, loopback, link-local and other non-public ranges are refused unless
//! the operator allows them (`--webhook-allow-private-targets`, for development and tests).
//! This module is the policy, [`is_forbidden`], and the registration-time check:
//! [`check_target`] refuses a URL whose host is, or resolves to, such an address, so the
//! client hears about it at once as a 4xx. The notifier applies the same policy again at
//! send time, on the addresses it actually connects to (its DNS resolver hands the HTTP
//! client only allowed addresses, so DNS rebinding cannot get past it); an IP-literal URL
//! never reaches a resolver, so the sender also calls [`check_url_host`] before each request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::Url;

/// How long registration waits for DNS before giving up and accepting the URL.
pub const REGISTRATION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

const HINT: &str = "(see --webhook-allow-private-targets)";

/// A webhook target refused by the guard. The message is meant for a 4xx `detail` and for
/// an attempt's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The URL names a forbidden address directly (`http://127.0.0.1/…`), or `localhost`.
    #[error("{host} is a private, loopback or link-local address, which is refused {HINT}")]
    Address {
        /// The host as written in the URL (IPv6 in brackets).
        host: String,
    },
    /// Registration: the host name resolves to a forbidden address.
    #[error(
        "{host} resolves to {address}, a private, loopback or link-local address, which is refused {HINT}"
    )]
    ResolvesToForbidden {
        /// The host name.
        host: String,
        /// The first forbidden address it resolved to.
        address: IpAddr,
    },
    /// Send time: every address of the host name is forbidden.
    #[error(
        "{host} resolves only to private, loopback or link-local addresses, which are refused {HINT}"
    )]
    OnlyForbidden {
        /// The host name.
        host: String,
    },
    /// A URL without a host (not an http(s) URL) cannot be checked, so is refused.
    #[error("the webhook URL has no host")]
    NoHost,
}

/// Whether a webhook may not be sent to `ip`: any address that is not a public unicast one.
///
/// IPv4: `0.0.0.0/8` (this network, including unspecified), `10/8`, `100.64/10` (carrier-grade
/// NAT), `127/8`, `169.254/16` (link-local, cloud metadata), `172.16/12`, `192.0.0/24` (IETF
/// protocol assignments), `192.0.2/24`, `198.51.100/24` and `203.0.113/24` (documentation),
/// `192.168/16`, `198.18/15` (benchmarking), `224/4` (multicast), `240/4` (reserved, including
/// broadcast).
///
/// IPv6: `::` and `::1`, `fe80::/10` (link-local), `fec0::/10` (deprecated site-local),
/// `fc00::/7` (unique local), `ff00::/8` (multicast), `2001:db8::/32` (documentation),
/// `100::/64` (discard), `64:ff9b:1::/48` (local-use NAT64); and an IPv4 address embedded in
/// IPv6 is judged as that IPv4 address: mapped `::ffff:0:0/96`, translated `::ffff:0:0:0/96`,
/// compatible `::/96`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`, so `::ffff:127.0.0.1`
/// cannot slip through. A Teredo address (`2001::/32`) carries two, its server's and its
/// client's (bits inverted): it is forbidden when either is.
#[must_use]
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_forbidden_v4(ip),
        IpAddr::V6(ip) => is_forbidden_v6(ip),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || ip.is_documentation()
        || (a == 198 && (b & 0xfe) == 18)
        || ip.is_multicast()
        || a >= 240
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] = s {
        return is_forbidden_v4(v4_of(server_hi, server_lo))
            || is_forbidden_v4(v4_of(!client_hi, !client_lo));
    }
    if let Some(v4) = embedded_v4(ip) {
        return is_forbidden_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001)
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match ip.segments() {
        // IPv4-compatible (deprecated; `::` and `::1` land here and stay forbidden),
        // IPv4-translated (SIIT), the well-known NAT64 prefix, and 6to4.
        [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo]
        | [0x2002, hi, lo, ..] => Some(v4_of(hi, lo)),
        _ => None,
    }
}

/// The IPv4 address of two IPv6 segments, high first.
fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// The URL's host if it is an IP literal, in either spelling the URL parser leaves
/// (`127.0.0.1`, `[::1]`).
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Refuses a URL whose host is a forbidden IP literal; a host name passes (it is checked on
/// resolution). The sender calls this before every request, because the HTTP client connects
/// to an IP literal without consulting the notifier's resolver.
///
/// # Errors
/// [`Refused::Address`] for a forbidden IP literal, [`Refused::NoHost`] for a URL without a
/// host, unless `allow_private`.
pub fn check_url_host(url: &Url, allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().ok_or(Refused::NoHost)?;
    match ip_literal(host) {
        Some(ip) if is_forbidden(ip) => Err(Refused::Address {
            host: host.to_owned(),
        }),
        _ if is_loopback_name(host) => Err(Refused::Address {
            host: host.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// `localhost` and the names under it, with or without the trailing dot: loopback by
/// definition (RFC 6761), whatever a resolver answers — some fail to resolve `localhost.`,
/// which would otherwise let it through registration.
fn is_loopback_name(host: &str) -> bool {
    const SUFFIX: &[u8] = b".localhost";
    let name = host.trim_end_matches('.').as_bytes();
    name.eq_ignore_ascii_case(&SUFFIX[1..])
        || name
            .len()
            .checked_sub(SUFFIX.len())
            .is_some_and(|start| name[start..].eq_ignore_ascii_case(SUFFIX))
}

/// The registration-time check of a webhook URL.
///
/// A forbidden IP literal is refused; a host name is resolved (waiting at most
/// [`REGISTRATION_LOOKUP_TIMEOUT`]) and refused if **any** of its addresses is forbidden: a
/// name mixing public and private addresses is more likely a trap than a real endpoint. A name
/// that does not resolve, or not in time, is accepted: DNS may be set up after the
/// subscription, and the notifier's send-time resolver is the guard that counts.
///
/// # Errors
/// [`Refused`] as above, unless `allow_private`.
pub async fn check_target(url: &Url, allow_private: bool) -> Result<(), Refused> {
    check_url_host(url, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().ok_or(Refused::NoHost)?;
    if ip_literal(host).is_some() {
        return Ok(());
    }
    check_resolution(host, url.port_or_known_default().unwrap_or(0)).await
}

/// Refuses a host name that resolves to any forbidden address; accepts one that does not
/// resolve in time.
async fn check_resolution(host: &str, port: u16) -> Result<(), Refused> {
    let lookup = tokio::net::lookup_host((host, port));
    let Ok(Ok(addrs)) = tokio::time::timeout(REGISTRATION_LOOKUP_TIMEOUT, lookup).await else {
        return Ok(());
    };
    for addr in addrs {
        if is_forbidden(addr.ip()) {
            return Err(Refused::ResolvesToForbidden {
                host: host.to_owned(),
                address: addr.ip(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn non_public_addresses_are_forbidden() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "64:ff9b:1::1",
        ] {
            assert!(is_forbidden(ip(text)), "{text} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860::8888",
        ] {
            assert!(!is_forbidden(ip(text)), "{text} should be allowed");
        }
    }

    #[test]
    fn ipv4_embedded_in_ipv6_is_judged_as_ipv4() {
        for (text, forbidden) in [
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("::8.8.8.8", false),
            ("64:ff9b::127.0.0.1", true),
            ("64:ff9b::8.8.8.8", false),
            ("2002:7f00:1::", true),
            ("2002:0808:0808::", false),
            // IPv4-translated: the form `::ffff:0:0/96` missed.
            ("::ffff:0:127.0.0.1", true),
            ("::ffff:0:169.254.169.254", true),
            ("::ffff:0:8.8.8.8", false),
            // Teredo: server 65.54.227.120, client (inverted) 127.0.0.1 / 8.8.8.8; then a
            // private server with a public client.
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", true),
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", false),
            ("2001:0:a00:1:8000:63bf:f7f7:f7f7", true),
        ] {
            assert_eq!(is_forbidden(ip(text)), forbidden, "{text}");
        }
    }

    #[test]
    fn url_ip_literals_are_checked_in_every_spelling() {
        for text in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://[::ffff:7f00:1]/hook",
            "http://[::ffff:0:7f00:1]/hook",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
            "https://10.1.2.3/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let err = check_url_host(&url(text), false).unwrap_err();
            assert!(matches!(err, Refused::Address { .. }), "{text}: {err}");
            assert!(check_url_host(&url(text), true).is_ok(), "{text}");
        }
    }

    #[test]
    fn url_host_names_and_public_literals_pass_the_literal_check() {
        for text in [
            "https://client.example/hooks",
            "http://8.8.8.8/",
            "http://[2606:4700:4700::1111]/",
        ] {
            assert!(check_url_host(&url(text), false).is_ok(), "{text}");
        }
    }

    #[test]
    fn localhost_is_refused_by_name_in_every_spelling() {
        for text in [
            "http://localhost/",
            "http://localhost./",
            "http://LocalHost:8080/",
            "http://api.localhost/",
            "http://api.localhost./",
        ] {
            let err = check_url_host(&url(text), false).unwrap_err();
            assert!(matches!(err, Refused::Address { .. }), "{text}: {err}");
            assert!(check_url_host(&url(text), true).is_ok(), "{text}");
        }
        assert!(check_url_host(&url("http://notlocalhost.example/"), false).is_ok());
    }

    #[test]
    fn a_url_without_a_host_is_refused() {
        assert_eq!(
            check_url_host(&url("mailto:ops@example.com"), false),
            Err(Refused::NoHost)
        );
    }

    #[test]
    fn the_refusal_message_names_the_host_and_the_setting() {
        let err = check_url_host(&url("http://127.0.0.1:9/"), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1 is a private, loopback or link-local address, which is refused \
             (see --webhook-allow-private-targets)"
        );
        let err = Refused::OnlyForbidden {
            host: "internal.example".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "internal.example resolves only to private, loopback or link-local addresses, \
             which are refused (see --webhook-allow-private-targets)"
        );
    }

    #[tokio::test]
    async fn registration_refuses_a_name_that_resolves_to_loopback() {
        // `localhost` is refused by name before any lookup; its lookup refuses it too.
        let err = check_resolution("localhost", 8080).await.unwrap_err();
        assert!(
            matches!(err, Refused::ResolvesToForbidden { ref host, address } if host == "localhost" && address.is_loopback()),
            "{err}"
        );
        let err = check_target(&url("http://localhost.:8080/hook"), false)
            .await
            .unwrap_err();
        assert!(matches!(err, Refused::Address { .. }), "{err}");
    }

    #[tokio::test]
    async fn registration_allows_anything_when_private_targets_are_allowed() {
        for text in [
            "http://localhost:8080/hook",
            "http://127.0.0.1/",
            "http://[::1]/",
        ] {
            assert!(check_target(&url(text), true).await.is_ok(), "{text}");
        }
    }

    #[tokio::test]
    async fn registration_refuses_forbidden_ip_literals() {
        assert!(matches!(
            check_target(&url("http://192.168.0.10/"), false).await,
            Err(Refused::Address { .. })
        ));
    }

    #[tokio::test]
    async fn registration_accepts_a_name_that_does_not_resolve() {
        // `.invalid` never resolves (RFC 2606); without network the lookup fails the same way.
        assert!(
            check_target(&url("https://no-such-host.invalid/hook"), false)
                .await
                .is_ok()
        );
    }
}
