//! Abuse limits: how much one caller may ask of one api process.
//!
//! - A **rate limit** per caller ([`rate_limit`], a middleware inside [`crate::http::auth`], so the
//!   caller is known): a token bucket per API key (per tenant for a read token or an open
//!   install), refilled at `rate.per_second`, holding at most `rate.burst`. An empty bucket
//!   answers `429 rate-limited` with `Retry-After`. Only `/v1` is limited; the probes and the
//!   scrapers (`/healthz`, `/readyz`, `/metrics`) are not.
//! - **Slots** ([`Slots`]): how many event streams, and how many long polls, one caller may hold
//!   open at once. A slot is a guard: dropping it (the stream ends or the poll answers, for
//!   whatever reason) gives it back.
//! - A bound on the **nesting depth** of JSON bodies ([`limit_json_depth`]), checked on the
//!   bytes as they arrive, before any parser sees them.
//! - A rate limit of **failed authentications** per client address ([`FailureLimiter`], used
//!   by [`crate::http::auth`]): requests with no key where one is needed, or a malformed, unknown or
//!   revoked key, or a bad read token, draw from their address's bucket; an empty bucket turns
//!   their `401` into `429` with `Retry-After`. Requests that authenticate draw nothing, so a
//!   valid key works from any address, and an open install is not throttled.
//! - A short memory of **unknown key ids** ([`UnknownKeys`]): an id the store did not hold is
//!   not looked up again for a few seconds, so a client repeating a wrong or revoked key costs
//!   no store read per request; likewise that keys exist ([`KeysExist`]), so requests without
//!   a key on a development install that has keys cost none either.
//!
//! Everything is in memory and per process: behind a balancer, N replicas allow N times the
//! rate. Size the limits per process (`docs/security.md`).

use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage as _, HttpRequest};
use futures_util::Stream;
use herald_core::apikey::ApiKeyId;
use herald_core::{JobId, TenantId};
use tokio::time::Instant;

use crate::http::address::ClientAddress;
use crate::http::auth::{Caller, guarded};
use crate::http::error::{ApiError, refuse};
use crate::state::AppState;

/// The most buckets (callers seen recently) a process keeps; beyond, idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

/// How often buckets that have refilled (idle callers) are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How long a key id the store did not hold is remembered as unknown.
const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(5);

/// The most unknown key ids remembered at once.
const MAX_UNKNOWN_KEYS: usize = 10_000;

/// How long a caller holding all its slots should wait before trying again.
const SLOTS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The deepest JSON nesting serde_json itself accepts; a bound above it would never be reached.
pub const MAX_JSON_DEPTH: usize = 128;

/// How fast one caller may send requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, on average; `0` turns the limit off.
    pub per_second: u32,
    /// How many requests may come at once after a quiet spell (the bucket's size).
    pub burst: u32,
}

impl RateLimit {
    /// No limit at all.
    pub const OFF: Self = Self {
        per_second: 0,
        burst: 0,
    };

    /// The default limit of failed authentications per client address: a client that keeps
    /// failing is slowed down soon, while one that mistyped its key a few times is not.
    pub const AUTH_FAILURES: Self = Self {
        per_second: 5,
        burst: 20,
    };

    fn is_off(&self) -> bool {
        self.per_second == 0
    }

    fn capacity(&self) -> f64 {
        // A burst smaller than one request would refuse everything.
        f64::from(self.burst.max(1))
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 200,
        }
    }
}

/// Whom a limit counts against: the API key, or the job of a read token (each browser
/// following a job holds its own token). An open install's requests (no key, no token) count
/// against nobody: with no key there is no one to tell apart, and one bucket shared by every
/// client would throttle the whole install; put keys in force to limit callers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Key(ApiKeyId),
    Token(TenantId, JobId),
}

impl Subject {
    /// `None` for a request of an open install, which no limit counts.
    pub(crate) fn of(caller: &Caller) -> Option<Self> {
        if let Some(key) = &caller.key {
            return Some(Self::Key(key.clone()));
        }
        caller
            .read_token
            .as_ref()
            .map(|grant| Self::Token(grant.tenant.clone(), grant.job))
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: &RateLimit, now: Instant) -> Self {
        Self {
            tokens: rate.capacity(),
            updated: now,
        }
    }

    fn refill(&mut self, rate: &RateLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate.per_second)).min(rate.capacity());
        self.updated = now;
    }

    /// Takes one request's token, or says how long until one is there.
    fn take(&mut self, rate: &RateLimit, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(
                missing / f64::from(rate.per_second.max(1)),
            ))
        }
    }

    /// Whether the bucket has refilled: forgetting it then changes nothing.
    fn is_full(&self, rate: &RateLimit, now: Instant) -> bool {
        let mut bucket = *self;
        bucket.refill(rate, now);
        bucket.tokens >= rate.capacity()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent between statements: a panic elsewhere leaves them usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The buckets of one process, one per subject (a caller, or a client address).
#[derive(Debug)]
pub(crate) struct RateLimiter<K = Subject> {
    rate: RateLimit,
    state: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    by_subject: HashMap<K, Bucket>,
    swept: Instant,
}

impl<K: Clone + Eq + Hash> RateLimiter<K> {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            state: Mutex::new(Buckets {
                by_subject: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// Counts one request of `subject` at `now`.
    ///
    /// # Errors
    /// How long until the subject may send again, when its bucket is empty.
    fn check(&self, subject: &K, now: Instant) -> Result<(), Duration> {
        if self.rate.is_off() {
            return Ok(());
        }
        let rate = self.rate;
        let mut state = lock(&self.state);
        let due = now.saturating_duration_since(state.swept) >= SWEEP_EVERY;
        if due || (state.by_subject.len() >= MAX_BUCKETS && !state.by_subject.contains_key(subject))
        {
            state.by_subject.retain(|_, b| !b.is_full(&rate, now));
            state.swept = now;
            if state.by_subject.len() >= MAX_BUCKETS {
                // As many callers busy at once as the map holds: forgetting them all lets a
                // burst through once, which beats growing without bound.
                tracing::warn!(buckets = MAX_BUCKETS, "rate limiter full: buckets reset");
                state.by_subject.clear();
            }
        }
        state
            .by_subject
            .entry(subject.clone())
            .or_insert_with(|| Bucket::full(&rate, now))
            .take(&rate, now)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.state).by_subject.len()
    }
}

/// Whole seconds to wait, at least one (`Retry-After` has no fractions).
fn whole_seconds(wait: Duration) -> Duration {
    Duration::from_secs(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// The middleware: counts every authenticated `/v1` request against its caller's bucket.
///
/// Answers `429 rate-limited` with `Retry-After` when the bucket is empty.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let subject = req.extensions().get::<Caller>().and_then(Subject::of);
    let state = req.app_data::<web::Data<AppState>>();
    if let (Some(subject), Some(state)) = (subject, state)
        && let Err(wait) = state.rate_limiter.check(&subject, Instant::now())
    {
        let rate = state.config.rate_limit;
        let refusal = ApiError::RateLimited {
            detail: format!(
                "more than {} requests per second (bursts of {}) from this caller; retry after \
                 Retry-After",
                rate.per_second, rate.burst
            ),
            retry_after: whole_seconds(wait),
        };
        return Ok(refuse(req, refusal));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Requests that failed authentication, counted per client address.
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    rate: RateLimit,
    buckets: RateLimiter<ClientAddress>,
}

impl FailureLimiter {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            buckets: RateLimiter::new(rate),
        }
    }

    /// The answer to a request from `address` that failed authentication with `refusal`:
    /// `refusal` itself while the address's bucket holds a token (it takes one), else a `429`.
    /// A request with no known address (not over TCP) is not counted.
    pub(crate) fn charge(&self, address: Option<ClientAddress>, refusal: ApiError) -> ApiError {
        let Some(address) = address else {
            return refusal;
        };
        match self.buckets.check(&address, Instant::now()) {
            Ok(()) => refusal,
            Err(wait) => {
                tracing::debug!(%address, "too many failed authentications");
                ApiError::RateLimited {
                    detail: format!(
                        "more than {} requests that failed authentication came from this \
                         address (refilling at {} per second); retry after Retry-After, with a \
                         valid key",
                        self.rate.burst, self.rate.per_second
                    ),
                    retry_after: whole_seconds(wait),
                }
            }
        }
    }
}

/// Key ids the store did not hold (never created, or revoked), each remembered for
/// [`UNKNOWN_KEY_TTL`]: a client that repeats one is refused without a store read each time.
///
/// Only absence is remembered, never a key found, so a revocation still takes effect on the
/// very next request. The one cost: a key tried before it was created (only possible for an
/// id known in advance, like a bootstrap key registered by another process) is refused for up
/// to [`UNKNOWN_KEY_TTL`] after it appears. At most [`MAX_UNKNOWN_KEYS`] ids: when full, the
/// expired ones go, and if none has expired, all of them (a flood of distinct ids then costs
/// what it would without this memory, and the memory stays bounded).
#[derive(Debug, Default)]
pub(crate) struct UnknownKeys {
    seen: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl UnknownKeys {
    /// Whether `id` was found unknown less than the memory's lifetime before `now`.
    pub(crate) fn contains(&self, id: &ApiKeyId, now: Instant) -> bool {
        let mut seen = lock(&self.seen);
        match seen.get(id) {
            Some(&since) if now.saturating_duration_since(since) < UNKNOWN_KEY_TTL => true,
            Some(_) => {
                seen.remove(id);
                false
            }
            None => false,
        }
    }

    /// Remembers that the store did not hold `id` at `now`.
    pub(crate) fn insert(&self, id: &ApiKeyId, now: Instant) {
        let mut seen = lock(&self.seen);
        if seen.len() >= MAX_UNKNOWN_KEYS && !seen.contains_key(id) {
            seen.retain(|_, since| now.saturating_duration_since(*since) < UNKNOWN_KEY_TTL);
            if seen.len() >= MAX_UNKNOWN_KEYS {
                seen.clear();
            }
        }
        seen.insert(id.clone(), now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.seen).len()
    }
}

/// That the store held keys, remembered for [`UNKNOWN_KEY_TTL`]: while it is, a request
/// without a key on a development install (open only while no key exists) is refused without
/// counting the keys each time. Only the closed state is remembered: the first key closes the
/// install at once; revoking the last one opens it again within that delay.
#[derive(Debug, Default)]
pub(crate) struct KeysExist {
    seen: Mutex<Option<Instant>>,
}

impl KeysExist {
    /// Whether keys were seen less than the memory's lifetime before `now`.
    pub(crate) fn known(&self, now: Instant) -> bool {
        lock(&self.seen).is_some_and(|since| now.saturating_duration_since(since) < UNKNOWN_KEY_TTL)
    }

    /// Remembers that the store held keys at `now`.
    pub(crate) fn remember(&self, now: Instant) {
        *lock(&self.seen) = Some(now);
    }
}

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
    slots.acquire(&crate::http::auth::caller(req)?)
}

/// The middleware refusing a request whose header fields (names and values) add up to more
/// than `max_header_bytes`, before anything reads them.
///
/// Answers `431 headers-too-large`.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub async fn limit_header_bytes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let limit = state.config.max_header_bytes;
        let size: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if size > limit {
            return Ok(refuse(req, ApiError::HeadersTooLarge { size, limit }));
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// A body nested deeper than the bound: the payload error that carries it to the JSON
/// extractor, whose error handler turns it into a `422` naming the body.
#[derive(Debug, thiserror::Error)]
#[error("the body nests arrays and objects deeper than {max} levels")]
pub(crate) struct TooDeep {
    pub max: usize,
}

/// Reads JSON bytes as they arrive, tracking how deep arrays and objects nest (strings and
/// their escapes skipped), without parsing anything else.
#[derive(Debug, Clone, Copy, Default)]
struct DepthScan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl DepthScan {
    /// Feeds `bytes`; `false` once the nesting passes `max`.
    fn feed(&mut self, bytes: &[u8], max: usize) -> bool {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > max {
                        return false;
                    }
                }
                // Unbalanced closers are the parser's to report.
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        true
    }
}

/// A payload that fails once its JSON nests deeper than `max`.
struct DepthLimited {
    inner: Payload,
    scan: DepthScan,
    max: usize,
}

impl Stream for DepthLimited {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if this.scan.feed(&chunk, this.max) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        TooDeep { max: this.max },
                    )))))
                }
            }
            other => other,
        }
    }
}

/// The middleware: bounds the nesting depth of every JSON body sent to `/v1`.
pub async fn limit_json_depth(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("json"));
    let max = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.max_json_depth);
    if let (true, Some(max), true) = (is_json, max, guarded(req.path())) {
        let inner = req.take_payload();
        let limited = DepthLimited {
            inner,
            scan: DepthScan::default(),
            max,
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(limited),
        });
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
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

    /// The same subject for the same name: a read token of one job of that tenant.
    fn subject(tenant: &str) -> Subject {
        let job = JobId::parse("01900000-0000-7000-8000-000000000000").unwrap();
        Subject::Token(TenantId::parse(tenant).unwrap(), job)
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_a_burst_through_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2,
            burst: 3,
        });
        let a = subject("acme");
        for _ in 0..3 {
            assert!(limiter.check(&a, Instant::now()).is_ok());
        }
        let wait = limiter.check(&a, Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(whole_seconds(wait), Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.check(&a, Instant::now()).is_ok());
        assert!(limiter.check(&a, Instant::now()).is_err());
        // A long rest refills up to the burst, never beyond.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..3 {
            assert!(limiter.check(&a, Instant::now()).is_ok());
        }
        assert!(limiter.check(&a, Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn callers_have_buckets_of_their_own() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 1,
        });
        assert!(limiter.check(&subject("acme"), Instant::now()).is_ok());
        assert!(limiter.check(&subject("acme"), Instant::now()).is_err());
        assert!(limiter.check(&subject("globex"), Instant::now()).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_swept_away() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 10,
            burst: 10,
        });
        assert!(limiter.check(&subject("acme"), Instant::now()).is_ok());
        assert_eq!(limiter.len(), 1);
        tokio::time::advance(SWEEP_EVERY).await;
        assert!(limiter.check(&subject("globex"), Instant::now()).is_ok());
        assert_eq!(limiter.len(), 1, "acme's refilled bucket is forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_zero_is_no_limit() {
        let limiter = RateLimiter::new(RateLimit::OFF);
        for _ in 0..10_000 {
            assert!(limiter.check(&subject("acme"), Instant::now()).is_ok());
        }
        assert_eq!(limiter.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_authentications_turn_into_429_once_an_address_has_used_its_burst() {
        let limiter = FailureLimiter::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
        let here = Some(ClientAddress::of([192, 0, 2, 1].into()));
        let there = Some(ClientAddress::of([192, 0, 2, 2].into()));
        let refused = || ApiError::Unauthorized("no");
        for _ in 0..2 {
            assert!(matches!(
                limiter.charge(here, refused()),
                ApiError::Unauthorized(_)
            ));
        }
        let ApiError::RateLimited { retry_after, .. } = limiter.charge(here, refused()) else {
            panic!("a 429 after the burst");
        };
        assert_eq!(retry_after, Duration::from_secs(1));
        assert!(matches!(
            limiter.charge(there, refused()),
            ApiError::Unauthorized(_)
        ));
        assert!(matches!(
            limiter.charge(None, refused()),
            ApiError::Unauthorized(_)
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            limiter.charge(here, refused()),
            ApiError::Unauthorized(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_key_ids_are_remembered_for_a_while_and_the_memory_is_bounded() {
        let unknown = UnknownKeys::default();
        let id = ApiKeyId::generate();
        assert!(!unknown.contains(&id, Instant::now()));
        unknown.insert(&id, Instant::now());
        assert!(unknown.contains(&id, Instant::now()));
        assert!(!unknown.contains(&ApiKeyId::generate(), Instant::now()));
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        assert!(!unknown.contains(&id, Instant::now()), "forgotten in time");
        assert_eq!(unknown.len(), 0);

        // Full, with expired ids among them: those go.
        for _ in 0..MAX_UNKNOWN_KEYS - 1 {
            unknown.insert(&ApiKeyId::generate(), Instant::now());
        }
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        let recent = ApiKeyId::generate();
        unknown.insert(&recent, Instant::now());
        assert_eq!(unknown.len(), MAX_UNKNOWN_KEYS);
        let fresh = ApiKeyId::generate();
        unknown.insert(&fresh, Instant::now());
        assert_eq!(unknown.len(), 2);
        assert!(unknown.contains(&recent, Instant::now()));
        // Full of ids all still remembered: they all go, rather than the memory growing.
        for _ in 0..MAX_UNKNOWN_KEYS - 2 {
            unknown.insert(&ApiKeyId::generate(), Instant::now());
        }
        assert_eq!(unknown.len(), MAX_UNKNOWN_KEYS);
        unknown.insert(&ApiKeyId::generate(), Instant::now());
        assert_eq!(unknown.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn that_keys_exist_is_remembered_for_a_while() {
        let keys = KeysExist::default();
        assert!(!keys.known(Instant::now()));
        keys.remember(Instant::now());
        assert!(keys.known(Instant::now()));
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        assert!(!keys.known(Instant::now()));
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn an_open_installs_requests_hold_no_slot_and_no_bucket() {
        let open = Caller::open();
        assert_eq!(Subject::of(&open), None);
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

    #[test]
    fn the_depth_scan_counts_nesting_but_not_brackets_in_strings() {
        let mut scan = DepthScan::default();
        assert!(scan.feed(br#"{"a": [[1], "[[[[\"{{{{"]}"#, 3));
        let mut scan = DepthScan::default();
        assert!(!scan.feed(b"[[[[", 3));
        // Across chunks, escapes included.
        let mut scan = DepthScan::default();
        assert!(scan.feed(br#"{"a": "\"#, 1));
        assert!(scan.feed(br#"" [[[" }"#, 1));
        assert_eq!(scan.depth, 0);
    }
}
