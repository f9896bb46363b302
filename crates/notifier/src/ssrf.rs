//! The send-time half of the guard against server-side request forgery (the policy and the
//! registration-time check are core's, [`herald_core::webhook::address`]): on the addresses
//! actually connected to, [`GuardedResolver`] is the HTTP client's DNS resolver and hands it
//! only the allowed addresses, so a name that resolved to a public address at registration
//! and to 127.0.0.1 now (DNS rebinding) is still refused, and no second lookup can differ
//! from the checked one. An IP-literal URL never reaches a resolver, so the sender also calls
//! [`check_url_host`](herald_core::webhook::address::check_url_host) before each request.

use std::io;
use std::net::SocketAddr;

use herald_core::webhook::address::{Refused, is_forbidden};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why [`resolve_allowed`] produced no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name resolved, but only to refused addresses.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The name did not resolve.
    #[error("could not resolve {host}: {source}")]
    Lookup {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
}

/// Resolves `host` with the system resolver and keeps only the addresses a webhook may be
/// sent to (all of them when `allow_private`). Ports are 0: the caller sets its own.
///
/// # Errors
/// [`ResolveError::Lookup`] when the name does not resolve, [`ResolveError::Refused`]
/// ([`Refused::OnlyForbidden`]) when every address it resolves to is forbidden.
pub async fn resolve_allowed(
    host: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|source| ResolveError::Lookup {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if allow_private {
        return Ok(resolved);
    }
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|addr| !is_forbidden(addr.ip()))
        .collect();
    if allowed.is_empty() && !resolved.is_empty() {
        return Err(Refused::OnlyForbidden {
            host: host.to_owned(),
        }
        .into());
    }
    Ok(allowed)
}

/// The HTTP client's DNS resolver: resolves like the system does, then drops forbidden
/// addresses, so the client can connect only to addresses that passed the check (the check
/// and the connection use the same lookup).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// A resolver that refuses forbidden addresses unless `allow_private`.
    #[must_use]
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            match resolve_allowed(name.as_str(), allow_private).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // Boxed bare, so the sender can find the `Refused` in the error chain.
                Err(ResolveError::Refused(refused)) => Err(refused.into()),
                Err(lookup) => Err(lookup.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_resolver_refuses_localhost_when_private_targets_are_not_allowed() {
        let name: Name = "localhost".parse().unwrap();
        let err = GuardedResolver::new(false)
            .resolve(name)
            .await
            .err()
            .unwrap();
        let refused = err.downcast_ref::<Refused>().unwrap();
        assert_eq!(
            refused,
            &Refused::OnlyForbidden {
                host: "localhost".to_owned()
            }
        );
    }

    #[tokio::test]
    async fn the_resolver_returns_localhost_when_private_targets_are_allowed() {
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = GuardedResolver::new(true)
            .resolve(name)
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|addr| addr.ip().is_loopback()),
            "{addrs:?}"
        );
    }

    #[tokio::test]
    async fn the_resolver_reports_a_name_that_does_not_resolve() {
        let err = resolve_allowed("no-such-host.invalid", false)
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Lookup { .. }), "{err}");
    }
}
