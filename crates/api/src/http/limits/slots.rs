//! What a caller holds open (event streams, long polls), counted per caller and bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::HttpRequest;

use super::{Subject, lock};
use crate::http::caller::Caller;
use crate::http::error::ApiError;

/// How long a caller holding all its slots should wait before trying again.
const SLOTS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Counts what callers hold open (event streams, long polls), each up to `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    what: &'static str,
    cap: usize,
    held: Arc<Mutex<HashMap<Subject, usize>>>,
}

/// One held slot, given back when dropped (`subject` is `None` for an open install's
/// request, which holds nothing).
#[derive(Debug)]
pub(crate) struct Slot {
    held: Arc<Mutex<HashMap<Subject, usize>>>,
    subject: Option<Subject>,
}

impl Slots {
    /// At most `cap` of `what` per caller; `0` for no limit.
    pub(crate) fn new(what: &'static str, cap: usize) -> Self {
        Self {
            what,
            cap,
            held: Arc::default(),
        }
    }

    /// A slot for `caller`.
    ///
    /// # Errors
    /// `429 rate-limited` with `Retry-After` when the caller holds `cap` slots already.
    pub(crate) fn acquire(&self, caller: &Caller) -> Result<Slot, ApiError> {
        let Some(subject) = Subject::of(caller) else {
            return Ok(Slot {
                held: Arc::clone(&self.held),
                subject: None,
            });
        };
        let mut held = lock(&self.held);
        let count = held.entry(subject.clone()).or_insert(0);
        if self.cap != 0 && *count >= self.cap {
            return Err(ApiError::RateLimited {
                detail: format!(
                    "this caller holds {} {} open already, the most allowed; close one or retry \
                     after Retry-After",
                    self.cap, self.what
                ),
                retry_after: SLOTS_RETRY_AFTER,
            });
        }
        *count += 1;
        Ok(Slot {
            held: Arc::clone(&self.held),
            subject: Some(subject),
        })
    }

    #[cfg(test)]
    fn held(&self, caller: &Caller) -> usize {
        Subject::of(caller)
            .and_then(|subject| lock(&self.held).get(&subject).copied())
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(subject) = &self.subject else {
            return;
        };
        let mut held = lock(&self.held);
        if let Some(count) = held.get_mut(subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(subject);
            }
        }
    }
}

/// The slot a request holds, for the handlers that take one: the caller found by
/// [`crate::http::auth`].
pub(crate) fn acquire(slots: &Slots, req: &HttpRequest) -> Result<Slot, ApiError> {
    slots.acquire(&crate::http::caller::caller(req)?)
}

#[cfg(test)]
mod tests {
    use herald_core::TenantId;
    use herald_core::apikey::ApiKeyId;

    use super::*;

    /// A caller with a key of its own, named after its tenant.
    fn caller(tenant: &str) -> Caller {
        Caller {
            tenant: TenantId::parse(tenant).unwrap(),
            admin: false,
            key: Some(ApiKeyId::generate()),
            read_token: None,
        }
    }

    #[test]
    fn an_open_installs_requests_hold_no_slot_and_no_bucket() {
        let open = Caller::open();
        let slots = Slots::new("event streams", 1);
        let held: Vec<_> = (0..3).map(|_| slots.acquire(&open).unwrap()).collect();
        assert_eq!(slots.held(&open), 0);
        drop(held);
    }

    #[test]
    fn slots_are_counted_per_caller_and_given_back_on_drop() {
        let slots = Slots::new("event streams", 2);
        let acme = caller("acme");
        let first = slots.acquire(&acme).unwrap();
        let _second = slots.acquire(&acme).unwrap();
        assert!(matches!(
            slots.acquire(&acme),
            Err(ApiError::RateLimited { .. })
        ));
        assert!(slots.acquire(&caller("globex")).is_ok());
        drop(first);
        assert_eq!(slots.held(&acme), 1);
        assert!(slots.acquire(&acme).is_ok());
    }
}
