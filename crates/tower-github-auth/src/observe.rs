//! What an operator sees: the spans exchanges run in, the counters behind
//! [`TokenCache::stats`](crate::TokenCache::stats), and (feature `metrics`) the metrics, each
//! emitted by a named function here and called where its event happens (`cache`, `side`,
//! `fleet`, `service`): no metric name is spelled anywhere else.
//!
//! Nothing here ever carries a secret: spans and metrics name what an exchange is for (kind,
//! App, installation, host), never a token, code or key.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::StatusCode;
use tracing::Span;
use tracing::field::Empty;

use crate::error::{Error, Exchange};
use crate::subject::Subject;

/// A new exchange span, child of the current span (the request that started the exchange).
/// Its fields are filled in by what runs in it: the strategy names the credential
/// ([`record_for`]), the side request helper the host.
pub(crate) fn exchange_span(cache: &'static str) -> Span {
    tracing::debug_span!(
        "github_auth.exchange",
        cache,
        kind = Empty,
        app = Empty,
        client_id = Empty,
        installation = Empty,
        narrowing = Empty,
        store_key = Empty,
        host = Empty,
        status = Empty,
        request_id = Empty,
        tries = Empty,
    )
}

/// Names, in the exchange span the caller runs in, what the exchange is for. `field` is one of
/// the exchange span's fields (`app`, `client_id`, `installation`, `narrowing`, `store_key`,
/// `host`, `kind`, `status`, `request_id`, `tries`); never give it a secret. The exchange's
/// [`AuthEvent`] gets it too.
pub(crate) fn record_for(field: &'static str, value: &dyn fmt::Display) {
    // Only inside an exchange's task (its span is current there): a side request run in the
    // caller's own task (a revocation, a listing) must not write into the caller's span.
    let _outside_an_exchange = IDENTITY.try_with(|identity| {
        Span::current().record(field, tracing::field::display(value));
        identity.borrow_mut().set(field, value.to_string());
    });
}

tokio::task_local! {
    /// What the exchange running in this task is for, as [`record_for`] was told: the fields of
    /// its [`AuthEvent`].
    static IDENTITY: RefCell<Identity>;
}

/// What an exchange was for and how its last side request went.
#[derive(Clone, Debug, Default)]
pub(crate) struct Identity {
    kind: Option<String>,
    app: Option<String>,
    client_id: Option<String>,
    installation: Option<String>,
    narrowing: Option<String>,
    store_key: Option<String>,
    host: Option<String>,
    status: Option<u16>,
    request_id: Option<String>,
    tries: Option<u32>,
}

impl Identity {
    /// The fields that name `subject` (a narrowing is named by the strategy, as a fingerprint).
    pub(crate) fn of(subject: &Subject) -> Self {
        match subject {
            Subject::App { app } => Self::default().with("app", app),
            Subject::Installation {
                app, installation, ..
            } => Self::default()
                .with("app", app)
                .with("installation", installation),
            Subject::User { client_id, .. } => Self::default().with("client_id", client_id),
        }
    }

    /// This identity with `field` set to `value` (for events outside an exchange's task).
    pub(crate) fn with(mut self, field: &str, value: &dyn fmt::Display) -> Self {
        self.set(field, value.to_string());
        self
    }

    fn set(&mut self, field: &str, value: String) {
        match field {
            "kind" => self.kind = Some(value),
            "app" => self.app = Some(value),
            "client_id" => self.client_id = Some(value),
            "installation" => self.installation = Some(value),
            "narrowing" => self.narrowing = Some(value),
            "store_key" => self.store_key = Some(value),
            "host" => self.host = Some(value),
            "status" => self.status = value.parse().ok(),
            "request_id" => self.request_id = Some(value),
            "tries" => self.tries = value.parse().ok(),
            _ => {}
        }
    }
}

/// Runs `fut` (an exchange's task) with an empty [`Identity`] that [`record_for`] fills.
pub(crate) async fn with_identity<F: Future>(fut: F) -> F::Output {
    IDENTITY.scope(RefCell::new(Identity::default()), fut).await
}

/// The identity of the exchange running in this task (empty outside one).
pub(crate) fn identity() -> Identity {
    IDENTITY
        .try_with(|identity| identity.borrow().clone())
        .unwrap_or_default()
}

/// What happened to a credential, as an application's [event hook](set_event_hook) learns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthEventKind {
    /// A credential was minted where the cache held none (first use, or after one was dropped).
    Minted,
    /// A credential was replaced by a new one (a refresh ahead of expiry, a manual refresh).
    Refreshed,
    /// GitHub refused a cached credential (401, or a 403 that gave no reason) and it was
    /// dropped.
    Refused,
    /// A credential was ended at GitHub on purpose (`revoke`).
    Revoked,
    /// An exchange failed: no new attempt before the backoff ends (`retry_in`).
    BackoffEntered,
    /// An exchange succeeded after failures: the backoff is over.
    BackoffLeft,
    /// The fleet's token store failed several calls in a row: replicas go on without it.
    StoreUnavailable,
    /// The token store answers again.
    StoreBack,
}

/// One thing that happened to a credential, with what it was for and how the exchange went.
/// Never carries a secret: ids, names, hosts, statuses and GitHub's request id only.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthEvent {
    /// What happened.
    pub kind: AuthEventKind,
    /// Which cache: `installation` (installation tokens), `jwt` (the App's JWT), `user` (user
    /// tokens), `store` (the fleet's store).
    pub cache: &'static str,
    /// The exchange that ran last (`installation token exchange`, `user token refresh`, ...).
    pub exchange: Option<String>,
    /// The App (its id or client id), for App credentials.
    pub app: Option<String>,
    /// The OAuth client id, for user tokens.
    pub client_id: Option<String>,
    /// The installation (its id, or what it was looked up by: `repo:octo/one`).
    pub installation: Option<String>,
    /// A fingerprint of the narrowing asked for (repositories, permissions), if any.
    pub narrowing: Option<String>,
    /// The key in the fleet's store (a digest, no user name), if there is a store.
    pub store_key: Option<String>,
    /// The host the exchange went to.
    pub host: Option<String>,
    /// How long the exchange took.
    pub duration: Option<Duration>,
    /// GitHub's HTTP status, when it answered.
    pub status: Option<u16>,
    /// GitHub's `x-github-request-id`, when it answered.
    pub request_id: Option<String>,
    /// Tries of the last side request (a server error or no answer is tried again).
    pub tries: Option<u32>,
    /// Failures in a row (`BackoffEntered`, `BackoffLeft`, `StoreUnavailable`).
    pub failures: u32,
    /// When the next attempt may be made (`BackoffEntered`).
    pub retry_in: Option<Duration>,
    /// What went wrong, as the error's `Display` writes it (no secret).
    pub error: Option<String>,
}

impl AuthEvent {
    pub(crate) fn new(kind: AuthEventKind, cache: &'static str, identity: Identity) -> Self {
        Self {
            kind,
            cache,
            exchange: identity.kind,
            app: identity.app,
            client_id: identity.client_id,
            installation: identity.installation,
            narrowing: identity.narrowing,
            store_key: identity.store_key,
            host: identity.host,
            duration: None,
            status: identity.status,
            request_id: identity.request_id,
            tries: identity.tries,
            failures: 0,
            retry_in: None,
            error: None,
        }
    }
}

type Hook = Arc<dyn Fn(&AuthEvent) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Sets the process's event hook: `hook` learns of every credential minted, refreshed,
/// refused, revoked, every backoff entered and left, and the fleet's store going and coming
/// back, for every layer of this crate in the process (like a `metrics` recorder or a `tracing`
/// subscriber, it is one per process; each [`AuthEvent`] names its cache and credential).
/// Replaces the hook set before.
///
/// Observation only: the hook runs on the exchange's task after the cache is updated, holds no
/// lock of the cache, and a hook that panics is caught (the panic is logged, the request goes
/// on). Keep it short (hand the event to a channel): exchanges wait for it. It is not the user
/// token's rotation hook ([`UserAuthBuilder::on_refresh`](crate::UserAuthBuilder::on_refresh)),
/// whose contract (the new set stored before it is used) is unchanged.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tower_github_auth::{AuthEvent, AuthEventKind, set_event_hook};
///
/// let minted = Arc::new(Mutex::new(0));
/// let count = Arc::clone(&minted);
/// set_event_hook(move |event: &AuthEvent| {
///     if event.kind == AuthEventKind::Minted {
///         *count.lock().unwrap() += 1;
///     }
/// });
/// # tower_github_auth::clear_event_hook();
/// ```
pub fn set_event_hook(hook: impl Fn(&AuthEvent) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Removes the process's event hook, if any.
pub fn clear_event_hook() {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Tells the hook (if any) of `event`, and logs it. Never call it while holding a lock.
pub(crate) fn emit(event: &AuthEvent) {
    let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(hook) = hook
        && catch_unwind(AssertUnwindSafe(|| hook(event))).is_err()
    {
        tracing::error!(kind = ?event.kind, "the event hook panicked; the request goes on");
    }
}

/// A short, stable fingerprint of a text that is not secret but may be long (a narrowing's
/// repositories and permissions): 16 hexadecimal digits (FNV-1a, stable across processes).
pub(crate) fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// An exchange kind as a metric label (`snake_case`, one word per kind).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn kind_label(exchange: Exchange) -> &'static str {
    match exchange {
        Exchange::InstallationToken => "installation_token",
        Exchange::InstallationLookup => "installation_lookup",
        Exchange::CodeExchange => "code_exchange",
        Exchange::Refresh => "refresh",
        Exchange::DeviceCode => "device_code",
        Exchange::DevicePoll => "device_poll",
        Exchange::TokenCheck => "token_check",
        Exchange::TokenReset => "token_reset",
        Exchange::TokenDelete => "token_delete",
        Exchange::TokenRevocation => "token_revocation",
        Exchange::InstallationList => "installation_list",
        Exchange::ManifestConversion => "manifest_conversion",
        Exchange::JwtSigning => "jwt_signing",
        // A kind added later (the enum is non-exhaustive to users).
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// How an exchange ended, as an event field and a metric label: `ok` (2xx), `refused` (GitHub
/// answered with another status), `error` (no answer, timeout, unreadable answer).
pub(crate) fn outcome_of(status: Result<StatusCode, &Error>) -> &'static str {
    match status {
        Ok(status) if status.is_success() => "ok",
        Ok(_) => "refused",
        Err(_) => "error",
    }
}

/// Milliseconds, for an event's `duration_ms`.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a cache has done since it was made: [`TokenCache::stats`](crate::TokenCache::stats),
/// [`AppAuth::jwt_stats`](crate::AppAuth::jwt_stats).
///
/// The counts are read without a lock, each on its own: a snapshot taken while requests run
/// may count a hit of one instant and a miss of the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Credentials (or exchanges in flight) held now.
    pub entries: u64,
    /// Requests served a usable cached credential without waiting (the warm path).
    pub hits: u64,
    /// Requests that found no usable credential: they waited on an exchange (or were told to
    /// back off).
    pub misses: u64,
    /// Background refreshes started before expiry while the current credential kept serving.
    pub refreshes_ahead: u64,
    /// Entries dropped to keep the cache within its bound.
    pub evictions: u64,
}

/// The counters of one cache (every slot of a [`TokenCache`](crate::TokenCache), or the App's
/// JWT slot, or one user's slot), shared by its slots.
pub(crate) struct Counters {
    /// Which cache, a metric label: `installation`, `jwt`, `user`.
    pub(crate) cache: &'static str,
    /// Warm hits, one counter per stripe of threads: a warm request on one core does not write
    /// the cache line a request on another core writes (the warm read itself shares none).
    hits: [Stripe; STRIPES],
    misses: AtomicU64,
    refreshes_ahead: AtomicU64,
    evictions: AtomicU64,
    #[cfg(feature = "metrics")]
    handles: std::sync::OnceLock<metrics_impl::CacheHandles>,
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("cache", &self.cache)
            .field("stats", &self.stats(0))
            .finish_non_exhaustive()
    }
}

/// Stripes of the hit counter: threads are spread over them in turn.
const STRIPES: usize = 8;

/// One counter on a cache line of its own.
#[repr(align(64))]
struct Stripe(AtomicU64);

/// This thread's stripe.
fn stripe() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static STRIPE: usize = (NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES as u64) as usize;
    }
    STRIPE.with(|s| *s)
}

/// With metrics on, warm hits reach the metrics counter in batches of this many, so that a warm
/// request pays one relaxed increment (of [`Counters::hit`]'s own counter), not two.
#[cfg(feature = "metrics")]
const HIT_BATCH: u64 = 64;

impl Counters {
    pub(crate) fn new(cache: &'static str) -> Self {
        Self {
            cache,
            hits: std::array::from_fn(|_| Stripe(AtomicU64::new(0))),
            misses: AtomicU64::new(0),
            refreshes_ahead: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            handles: std::sync::OnceLock::new(),
        }
    }

    /// A warm hit: one relaxed increment (metrics on or off).
    #[inline]
    pub(crate) fn hit(&self) {
        #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
        let before = self.hits[stripe()].0.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if before % HIT_BATCH == HIT_BATCH - 1 {
            self.metrics().hits.increment(HIT_BATCH);
        }
    }

    /// A request that found no usable credential.
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics().misses.increment(1);
    }

    /// A background refresh started.
    pub(crate) fn refresh_ahead(&self) {
        self.refreshes_ahead.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics().refreshes_ahead.increment(1);
    }

    /// An entry evicted; `entries` now held.
    pub(crate) fn evicted(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics().evictions.increment(1);
    }

    /// The cache now holds `entries` (a gauge; metrics only).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    pub(crate) fn entries(&self, entries: usize) {
        #[cfg(feature = "metrics")]
        self.metrics().entries.set(entries as f64);
    }

    /// A request waited `waited` on an exchange (joined or started).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    pub(crate) fn waited(&self, waited: Duration) {
        #[cfg(feature = "metrics")]
        {
            let handles = self.metrics();
            handles.waited.increment(1);
            handles.wait.record(waited.as_secs_f64());
        }
    }

    /// A failed exchange put the credential in backoff.
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    pub(crate) fn backoff(&self) {
        #[cfg(feature = "metrics")]
        self.metrics().backoffs.increment(1);
    }

    /// The counts, with `entries` as the cache says.
    pub(crate) fn stats(&self, entries: u64) -> CacheStats {
        CacheStats {
            entries,
            hits: self.hits.iter().map(|s| s.0.load(Ordering::Relaxed)).sum(),
            misses: self.misses.load(Ordering::Relaxed),
            refreshes_ahead: self.refreshes_ahead.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    #[cfg(feature = "metrics")]
    fn metrics(&self) -> &metrics_impl::CacheHandles {
        self.handles
            .get_or_init(|| metrics_impl::CacheHandles::new(self.cache))
    }
}

#[cfg(feature = "metrics")]
pub(crate) use metrics_impl::*;

/// The metrics: every name and label set, in one place. Handles are obtained from the recorder
/// installed at the time (`metrics::set_global_recorder`): install it before the first layer is
/// built (a cache takes its handles when its first stack is built).
#[cfg(feature = "metrics")]
mod metrics_impl {
    use std::time::Duration;

    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    pub(crate) struct CacheHandles {
        pub(crate) hits: Counter,
        pub(crate) misses: Counter,
        pub(crate) refreshes_ahead: Counter,
        pub(crate) evictions: Counter,
        pub(crate) entries: Gauge,
        pub(crate) waited: Counter,
        pub(crate) wait: Histogram,
        pub(crate) backoffs: Counter,
    }

    impl CacheHandles {
        pub(crate) fn new(cache: &'static str) -> Self {
            Self {
                hits: counter!("github_auth_cache_hits_total", "cache" => cache),
                misses: counter!("github_auth_cache_misses_total", "cache" => cache),
                refreshes_ahead: counter!("github_auth_cache_refreshes_ahead_total", "cache" => cache),
                evictions: counter!("github_auth_cache_evictions_total", "cache" => cache),
                entries: gauge!("github_auth_cache_entries", "cache" => cache),
                waited: counter!("github_auth_requests_waited_total", "cache" => cache),
                wait: histogram!("github_auth_request_wait_seconds", "cache" => cache),
                backoffs: counter!("github_auth_backoffs_total", "cache" => cache),
            }
        }
    }

    /// An exchange with GitHub (a side request, all its tries) started.
    pub(crate) fn exchange_started(kind: &'static str, host: &str) {
        counter!("github_auth_exchanges_started_total", "kind" => kind, "host" => host.to_owned())
            .increment(1);
    }

    /// An exchange finished with `outcome` (`ok`, `refused`, `error`) after `took`.
    pub(crate) fn exchange_finished(
        kind: &'static str,
        host: &str,
        outcome: &'static str,
        took: Duration,
    ) {
        let labels = [
            ("kind", kind.to_owned()),
            ("host", host.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        counter!("github_auth_exchanges_finished_total", &labels).increment(1);
        histogram!("github_auth_exchange_duration_seconds", &labels).record(took.as_secs_f64());
    }

    /// A request refused with `status` (401 or 403) replayed with a new credential.
    pub(crate) fn replayed(status: u16) {
        let status = if status == 401 { "401" } else { "403" };
        counter!("github_auth_replays_total", "status" => status).increment(1);
    }

    /// A call to the fleet's store (`op`: `lock`, `load`, `save`, `unlock`) and its outcome
    /// (`ok`, `error`).
    pub(crate) fn store_call(op: &'static str, ok: bool) {
        counter!("github_auth_store_calls_total", "op" => op, "outcome" => if ok { "ok" } else { "error" })
            .increment(1);
        if !ok {
            counter!("github_auth_store_failures_total", "op" => op).increment(1);
        }
    }

    /// The store's exchange lock was held by another replica.
    pub(crate) fn store_lock_contended() {
        counter!("github_auth_store_lock_contention_total").increment(1);
    }

    /// A credential set another replica stored was adopted instead of exchanging.
    pub(crate) fn store_adopted() {
        counter!("github_auth_store_adopted_total").increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_short() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert_eq!(fingerprint("repositories=octo/one").len(), 16);
    }

    #[test]
    fn counters_count() {
        let counters = Counters::new("installation");
        counters.hit();
        counters.hit();
        counters.miss();
        counters.refresh_ahead();
        counters.evicted();
        assert_eq!(
            counters.stats(3),
            CacheStats {
                entries: 3,
                hits: 2,
                misses: 1,
                refreshes_ahead: 1,
                evictions: 1,
            }
        );
    }
}
