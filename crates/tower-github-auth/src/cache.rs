//! The one token cache: every strategy that mints or refreshes a credential keeps it in a [`Slot`].
//!
//! A slot holds the current credential and at most one exchange in flight:
//! - **warm**: the current credential is read without a lock (one atomic pointer load), checked
//!   against the clock, and its prepared headers copied onto the request;
//! - **single flight**: however many requests find the slot empty or expired, one exchange runs
//!   (in its own task, so a cancelled request does not cancel it) and all of them wait on it;
//! - **refresh ahead**: once less than the refresh margin is left, the first request to notice starts
//!   one background exchange and, like every other request, keeps using the still-valid credential
//!   (unless minting ends the current credential, as a user-token refresh does: then requests wait
//!   for it, see [`Policy::refresh_revokes`]);
//! - **backoff**: a failed exchange is reported to everyone who waited on it, and the next attempt
//!   is not made before an exponential backoff has passed, nor before GitHub's `Retry-After` or
//!   rate-limit reset (capped at [`MAX_SERVER_WAIT`]), plus up to 20% jitter (requests in between
//!   get [`Error::Backoff`] at once);
//! - expiry is measured from the `expires_at` GitHub returned, on GitHub's clock.
//!
//! The slot is generic: it knows nothing of GitHub's credentials. The App's
//! [`TokenCache`](crate::TokenCache) maps installation-token keys to slots.

use std::fmt;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwapOption, Guard};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use http::HeaderValue;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument, Span};

use crate::clock::{Clock, Rfc3339, jitter};
use crate::error::Error;
use crate::headers::Authorization;
use crate::observe::{self, AuthEvent, AuthEventKind, Counters};

/// A freshly minted credential, as a strategy hands it to its slot.
pub(crate) struct Fresh<T> {
    /// The `Authorization` value, already marked sensitive.
    pub(crate) header: HeaderValue,
    /// When GitHub says it expires (GitHub's clock); `None` for credentials that do not expire.
    pub(crate) expires_at: Option<SystemTime>,
    /// When it was issued (GitHub's clock), if earlier than now: a credential another replica
    /// minted. Its refresh is then due when it is due for that replica too, so that a fleet
    /// refreshes together; `None`: just minted.
    pub(crate) issued_at: Option<SystemTime>,
    /// Try to refresh again this soon rather than at the usual instant (a fleet replica that
    /// could not take the store's lock keeps serving what it holds, and tries again soon);
    /// never later than the usual instant.
    pub(crate) retry_after: Option<Duration>,
    /// What the strategy wants to keep beside it (token details for users).
    pub(crate) value: T,
}

/// A cached credential.
pub(crate) struct Entry<T> {
    /// The header, and the headers a request gets with it.
    pub(crate) authorization: Arc<Authorization>,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) value: T,
    /// From this instant on the credential is no longer sent (expiry minus the minimum validity).
    unusable_at: Option<Instant>,
    refresh_at: Option<Instant>,
    stamp: Stamp,
}

/// Which credential a request carried: to drop exactly that one on a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    generation: u64,
    minted: Instant,
}

impl Stamp {
    /// How long ago the credential was minted.
    pub(crate) fn age(&self) -> Duration {
        self.minted.elapsed()
    }
}

impl<T> fmt::Debug for Entry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("header", &"***")
            .field("expires_at", &self.expires_at.map(Rfc3339))
            .field("stamp", &self.stamp)
            .finish_non_exhaustive()
    }
}

impl<T> Entry<T> {
    pub(crate) fn stamp(&self) -> Stamp {
        self.stamp
    }
}

/// How a slot treats time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Refresh once less than this is left, at most half the credential's life (in the
    /// background, unless `refresh_revokes`).
    pub(crate) refresh_margin: Duration,
    /// A credential with less than this left (at most a quarter of its life) is not sent at all.
    pub(crate) min_validity: Duration,
    /// First backoff after a failure; doubles per failure.
    pub(crate) backoff_base: Duration,
    /// Longest backoff.
    pub(crate) backoff_max: Duration,
    /// Whether minting a new credential revokes the current one (a user-token refresh does:
    /// GitHub ends the old access token with it). Then, once the refresh is due, requests wait
    /// for it instead of going out with a token about to be refused.
    pub(crate) refresh_revokes: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(5 * 60),
            min_validity: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            refresh_revokes: false,
        }
    }
}

type Flight<T> = Shared<BoxFuture<'static, Result<Arc<Entry<T>>, Error>>>;

/// Everything but the current entry: changed only under the slot's lock.
struct State<T> {
    policy: Policy,
    flight: Option<Flight<T>>,
    /// The task running `flight`: finished while `flight` is still set means it never reached
    /// [`Slot::finish`] (its runtime was dropped): the flight is dead, and is cleared.
    task: Option<AbortHandle>,
    /// The span `flight` runs in: a request that joins it is linked to it (`follows_from`).
    span: Option<Span>,
    /// The failures since the last success; `None` (no allocation) while there are none, as for
    /// nearly every slot of a cache holding many.
    failed: Option<Box<Failed>>,
    generation: u64,
}

/// The longest GitHub can make an exchange wait (its `Retry-After` or rate-limit reset): an
/// answer saying "in ten years" (hostile, or a broken clock) parks the credential for one hour,
/// then it is asked again.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(60 * 60);

/// Failed exchanges in a row: the backoff in force and the error that caused it.
struct Failed {
    failures: u32,
    retry_at: Instant,
    last_error: Error,
}

/// One credential, its single in-flight exchange, and its backoff.
///
/// The current entry is read without a lock; it is replaced only while the lock is held, so the
/// decisions taken under the lock (start an exchange, drop a refused token) see a stable value.
pub(crate) struct Slot<T> {
    current: ArcSwapOption<Entry<T>>,
    state: Mutex<State<T>>,
    /// [`Policy::refresh_revokes`], read without the lock.
    refresh_revokes: bool,
    /// Whether an exchange is in flight (set and cleared under the lock, read without it): with
    /// `refresh_revokes`, the current credential is about to end, so nobody is sent with it.
    refreshing: AtomicBool,
    clock: Arc<Clock>,
    /// [`Slot::refused`]: the refused entry's own credential. Not a field of `State`: a mint
    /// reads it while it is built, and mints are built under the state's lock.
    refused: ArcSwapOption<Authorization>,
    /// What this slot's cache has done ([`crate::TokenCache::stats`]), shared by its slots.
    counters: Arc<Counters>,
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Slot")
            .field("cached", &self.current.load().is_some())
            .field("in_flight", &st.flight.is_some())
            .field("failures", &st.failed.as_ref().map_or(0, |f| f.failures))
            .finish_non_exhaustive()
    }
}

/// A usable credential found by a warm look-up, borrowed from the slot without a lock or a
/// reference count (an `arc-swap` guard: hold it briefly).
pub(crate) struct Warm<T>(Guard<Option<Arc<Entry<T>>>>);

impl<T> Deref for Warm<T> {
    type Target = Entry<T>;

    fn deref(&self) -> &Entry<T> {
        self.0.as_deref().expect("a warm look-up holds an entry")
    }
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No code panics while holding the lock; recover rather than poison every request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Clears a flight whose task ended without finishing (its runtime was dropped: a CLI that
    /// builds a runtime per call, a `static` layer shared by `#[tokio::test]`s), so that the
    /// next request starts a new exchange instead of joining a dead one forever.
    fn clear_dead_flight(&self, st: &mut State<T>) {
        if st.flight.is_some() && st.task.as_ref().is_some_and(AbortHandle::is_finished) {
            tracing::debug!("the exchange in flight was cancelled with its runtime: starting anew");
            st.flight = None;
            st.task = None;
            st.span = None;
            self.refreshing.store(false, Ordering::Release);
        }
    }

    /// Links the current span (a request about to wait) to the exchange in flight, if any.
    fn link(st: &State<T>) {
        if let Some(span) = &st.span {
            Span::current().follows_from(span);
            tracing::trace!(exchange = ?span.id(), "waiting on the exchange in flight");
        }
    }
}

impl<T: Send + Sync + 'static> Slot<T> {
    pub(crate) fn new(policy: Policy, clock: Arc<Clock>, counters: Arc<Counters>) -> Self {
        Self {
            current: ArcSwapOption::empty(),
            refresh_revokes: policy.refresh_revokes,
            refreshing: AtomicBool::new(false),
            state: Mutex::new(State {
                policy,
                flight: None,
                task: None,
                span: None,
                failed: None,
                generation: 0,
            }),
            clock,
            refused: ArcSwapOption::empty(),
            counters,
        }
    }

    /// The warm path: the current credential if usable (`None`: wait on [`Slot::obtain`]).
    /// When it is due for refresh and no exchange is running, `refresh` is called once to start
    /// one in the background. No lock is taken unless a refresh is due.
    pub(crate) fn lookup(
        self: &Arc<Self>,
        refresh: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) -> Option<Warm<T>> {
        let guard = self.current.load();
        let entry = guard.as_deref()?;
        if self.refresh_revokes && self.refreshing.load(Ordering::Acquire) {
            // A refresh (perhaps a manual one) is about to end this token: wait for it.
            return None;
        }
        if entry.unusable_at.is_some() || entry.refresh_at.is_some() {
            let now = Instant::now();
            if entry.unusable_at.is_some_and(|at| now >= at) {
                return None;
            }
            if entry.refresh_at.is_some_and(|at| now >= at) {
                if self.refresh_revokes {
                    // The refresh will end this token: wait for it ([`Slot::obtain`]).
                    return None;
                }
                self.refresh_ahead(entry.stamp, now, refresh);
            }
        }
        self.counters.hit();
        Some(Warm(guard))
    }

    /// Starts one background refresh of the entry stamped `seen`, unless one runs, the entry was
    /// replaced meanwhile, or a backoff is in force.
    fn refresh_ahead(
        self: &Arc<Self>,
        seen: Stamp,
        now: Instant,
        refresh: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) {
        let mut st = self.lock();
        self.clear_dead_flight(&mut st);
        if st.flight.is_none()
            && st.generation == seen.generation
            && st.failed.as_ref().is_none_or(|f| now >= f.retry_at)
        {
            tracing::debug!("credential near expiry: refreshing in the background");
            self.counters.refresh_ahead();
            // Nobody waits on this flight: it runs in its own task and fills the slot.
            drop(self.start(&mut st, refresh()));
        }
    }

    /// What this slot's cache has done, `entries` counting this slot's credential alone.
    pub(crate) fn stats(&self) -> crate::observe::CacheStats {
        self.counters
            .stats(u64::from(self.current.load().is_some()))
    }

    /// The current entry, usable or not, without side effects.
    pub(crate) fn peek(&self) -> Option<Arc<Entry<T>>> {
        self.current.load_full()
    }

    /// The cold path: a usable credential, joining the exchange in flight or starting one.
    pub(crate) fn obtain(
        self: &Arc<Self>,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) -> BoxFuture<'static, Result<Arc<Entry<T>>, Error>> {
        let now = Instant::now();
        let mut st = self.lock();
        self.clear_dead_flight(&mut st);
        let usable = self
            .current
            .load_full()
            .filter(|entry| entry.unusable_at.is_none_or(|at| now < at));
        // With `refresh_revokes`, a refresh due or running ends the current token: wait for it.
        let ending = self.refresh_revokes
            && (st.flight.is_some()
                || usable
                    .as_ref()
                    .is_some_and(|e| e.refresh_at.is_some_and(|at| now >= at)));
        if let Some(entry) = &usable
            && !ending
        {
            self.counters.hit();
            return std::future::ready(Ok(Arc::clone(entry))).boxed();
        }
        // No usable credential: this request waits (or is told to back off).
        self.counters.miss();
        Self::link(&st);
        if let Some(flight) = &st.flight {
            return self.or_still_usable(flight.clone(), usable);
        }
        if let Some(failed) = &st.failed
            && now < failed.retry_at
        {
            if let Some(entry) = usable {
                // The last refresh failed without ending the current token (one that did end
                // it, a refused hook, dropped it in `finish`): keep using it until it expires.
                return std::future::ready(Ok(entry)).boxed();
            }
            let err = Error::Backoff {
                failures: failed.failures,
                retry_in: failed.retry_at - now,
                last: Box::new(failed.last_error.clone()),
            };
            return std::future::ready(Err(err)).boxed();
        }
        let flight = self.start(&mut st, fetch());
        self.or_still_usable(flight, usable)
    }

    /// Waits on `flight`; if it fails while `usable` (a token whose refresh would have ended it)
    /// is still the current one and still valid, the refresh did not end it: that one is used
    /// instead. (A refused hook means the refresh went through: `finish` has dropped the token,
    /// and the caller hears of it, [`Error::Hook`].)
    fn or_still_usable(
        self: &Arc<Self>,
        flight: Flight<T>,
        usable: Option<Arc<Entry<T>>>,
    ) -> BoxFuture<'static, Result<Arc<Entry<T>>, Error>> {
        let waiting = Instant::now();
        let counters = Arc::clone(&self.counters);
        let flight = flight.inspect(move |_| counters.waited(waiting.elapsed()));
        let Some(old) = usable else {
            return flight.boxed();
        };
        let slot = Arc::clone(self);
        flight
            .map(move |result| {
                let err = match result {
                    Ok(entry) => return Ok(entry),
                    Err(err) => err,
                };
                let still_current = slot
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|current| Arc::ptr_eq(current, &old));
                let still_valid = old.unusable_at.is_none_or(|at| Instant::now() < at);
                if still_current && still_valid {
                    tracing::debug!(error = %err, "refresh failed: the current token stays in use");
                    Ok(old)
                } else {
                    Err(err)
                }
            })
            .boxed()
    }

    /// A new credential even if the current one is valid (a manual refresh); joins a running one.
    pub(crate) fn renew(
        self: &Arc<Self>,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) -> BoxFuture<'static, Result<Arc<Entry<T>>, Error>> {
        let mut st = self.lock();
        self.clear_dead_flight(&mut st);
        Self::link(&st);
        if let Some(flight) = &st.flight {
            return flight.clone().boxed();
        }
        self.start(&mut st, fetch()).boxed()
    }

    /// Drops the credential a request carried (after a 401), unless it was already replaced;
    /// `identity` names it in the `Refused` event.
    pub(crate) fn invalidate(&self, stamp: Stamp, identity: impl FnOnce() -> observe::Identity) {
        if self.drop_entry(stamp) {
            tracing::debug!("credential refused by GitHub: dropped from the cache");
            let mut event = AuthEvent::new(AuthEventKind::Refused, self.counters.cache, identity());
            event.status = Some(401);
            observe::emit(&event);
        }
    }

    /// Drops the credential stamped `stamp` before it is revoked: no request picks it up.
    pub(crate) fn withdraw(&self, stamp: Stamp) {
        self.drop_entry(stamp);
    }

    /// Drops the credential stamped `stamp` unless it was already replaced; whether it did.
    fn drop_entry(&self, stamp: Stamp) -> bool {
        let _st = self.lock();
        if self
            .current
            .load()
            .as_ref()
            .is_some_and(|c| c.stamp == stamp)
        {
            if let Some(refused) = self.current.swap(None) {
                self.refused.store(Some(Arc::clone(&refused.authorization)));
            }
            return true;
        }
        false
    }

    /// Tells the event hook that the credential (of `identity`) was ended at GitHub.
    pub(crate) fn revoked(&self, identity: observe::Identity) {
        tracing::debug!("credential revoked at GitHub");
        observe::emit(&AuthEvent::new(
            AuthEventKind::Revoked,
            self.counters.cache,
            identity,
        ));
    }

    /// The last credential GitHub refused (or that was revoked) here: a fleet's store may still
    /// hold it, and it is not taken from there again.
    pub(crate) fn refused(&self) -> Option<HeaderValue> {
        self.refused.load().as_ref().map(|a| a.value().clone())
    }

    fn start(
        self: &Arc<Self>,
        st: &mut State<T>,
        fetch: BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) -> Flight<T> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Nothing was started: nothing to clear, no backoff.
            return std::future::ready(Err(Error::NoRuntime)).boxed().shared();
        };
        let slot = Arc::clone(self);
        // One span per exchange, child of the request that started it; requests that join it
        // are linked to it (`join`).
        let span = observe::exchange_span(self.counters.cache);
        let started = Instant::now();
        let task = runtime.spawn(
            observe::with_identity(async move {
                let result = AssertUnwindSafe(fetch)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!("an exchange panicked; the next request starts a new one");
                        Err(Error::TaskFailed)
                    });
                slot.finish(result, started)
            })
            .instrument(span.clone()),
        );
        st.task = Some(task.abort_handle());
        st.span = Some(span);
        let flight = async move { task.await.unwrap_or(Err(Error::TaskFailed)) }
            .boxed()
            .shared();
        st.flight = Some(flight.clone());
        self.refreshing.store(true, Ordering::Release);
        flight
    }

    fn finish(
        &self,
        result: Result<Fresh<T>, Error>,
        started: Instant,
    ) -> Result<Arc<Entry<T>>, Error> {
        let now = Instant::now();
        let duration = now.saturating_duration_since(started);
        let duration_ms = observe::millis(duration);
        let event = |kind| {
            let mut event = AuthEvent::new(kind, self.counters.cache, observe::identity());
            event.duration = Some(duration);
            event
        };
        let mut st = self.lock();
        let replaced = self.current.load().is_some();
        st.flight = None;
        st.task = None;
        st.span = None;
        self.refreshing.store(false, Ordering::Release);
        match result {
            Ok(fresh) => {
                st.generation += 1;
                let recovered = st.failed.take();
                if let Some(failed) = &recovered {
                    tracing::info!(
                        duration_ms,
                        failures = failed.failures,
                        outcome = "ok",
                        "exchange succeeded after failures: backoff over"
                    );
                } else {
                    tracing::debug!(duration_ms, outcome = "ok", "exchange finished");
                }
                let entry = Arc::new(self.entry(fresh, &st.policy, st.generation, now));
                self.current.store(Some(Arc::clone(&entry)));
                // The hook runs without the slot's lock: it may read the cache.
                drop(st);
                if let Some(failed) = recovered {
                    let mut left = event(AuthEventKind::BackoffLeft);
                    left.failures = failed.failures;
                    observe::emit(&left);
                }
                observe::emit(&event(if replaced {
                    AuthEventKind::Refreshed
                } else {
                    AuthEventKind::Minted
                }));
                Ok(entry)
            }
            Err(err) => {
                let failures = st
                    .failed
                    .as_ref()
                    .map_or(1, |f| f.failures.saturating_add(1));
                let exponential = st
                    .policy
                    .backoff_base
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(st.policy.backoff_max);
                // Never sooner than GitHub asked (capped: a hostile answer cannot park the
                // credential for good), and jittered so that a fleet does not retry in step.
                let asked = self.server_wait(&err, now).min(MAX_SERVER_WAIT);
                let wait = exponential.max(asked);
                let backoff = wait.saturating_add(jitter(wait));
                st.failed = Some(Box::new(Failed {
                    failures,
                    retry_at: now.checked_add(backoff).unwrap_or(now + MAX_SERVER_WAIT),
                    last_error: err.clone(),
                }));
                if self.refresh_revokes && matches!(err, Error::Hook(_)) {
                    // GitHub refreshed (ending the current token) but the new set was refused.
                    self.current.store(None);
                }
                self.counters.backoff();
                drop(st);
                let mut entered = event(AuthEventKind::BackoffEntered);
                entered.failures = failures;
                entered.retry_in = Some(backoff);
                entered.status = err.status().map(|s| s.as_u16()).or(entered.status);
                entered.request_id = err.request_id().map(str::to_owned).or(entered.request_id);
                entered.error = Some(err.to_string());
                observe::emit(&entered);
                tracing::warn!(
                    duration_ms,
                    failures,
                    backoff_ms = observe::millis(backoff),
                    outcome = "error",
                    status = err.status().map(|s| s.as_u16()),
                    request_id = err.request_id(),
                    error = %err,
                    "exchange failed: backing off"
                );
                Err(err)
            }
        }
    }

    fn entry(&self, fresh: Fresh<T>, policy: &Policy, generation: u64, now: Instant) -> Entry<T> {
        let clock_expiry = fresh.expires_at.map(|at| self.clock().instant_of(at));
        // Another replica's credential: its life counts from its issue, as for that replica.
        let now = fresh
            .issued_at
            .map_or(now, |at| self.clock().instant_of(at).min(now));
        // Both margins scale with the token's life: a short-lived token (GitHub Enterprise
        // Server, tests) is refreshed from half its life and sent until its last quarter,
        // instead of being "due" or "unusable" the moment it is minted.
        let before_expiry = |margin: Duration, fraction: u32| {
            clock_expiry.map(|expires| {
                let lifetime = expires.saturating_duration_since(now);
                expires
                    .checked_sub(margin.min(lifetime / fraction))
                    .unwrap_or(expires)
            })
        };
        let unusable_at = before_expiry(policy.min_validity, 4);
        let mut refresh_at = before_expiry(policy.refresh_margin, 2);
        if let Some(soon) = fresh.retry_after {
            let soon = Instant::now().checked_add(soon);
            refresh_at = match (refresh_at, soon) {
                (Some(usual), Some(soon)) => Some(usual.min(soon)),
                (usual, soon) => usual.or(soon),
            };
        }
        Entry {
            authorization: Arc::new(Authorization::new(fresh.header)),
            expires_at: fresh.expires_at,
            value: fresh.value,
            unusable_at,
            refresh_at,
            stamp: Stamp {
                generation,
                minted: now,
            },
        }
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    /// How long GitHub asked to wait after `err`, from `now`: the longer of its `Retry-After`
    /// and the time until its rate-limit reset (on GitHub's clock). Uncapped.
    fn server_wait(&self, err: &Error, now: Instant) -> Duration {
        let until_reset = err.rate_limit_reset().map_or(Duration::ZERO, |reset| {
            self.clock()
                .instant_of(reset)
                .saturating_duration_since(now)
        });
        err.retry_after().unwrap_or_default().max(until_reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fresh(n: u32, ttl: Duration, clock: &Clock) -> Fresh<u32> {
        Fresh {
            issued_at: None,
            retry_after: None,
            header: HeaderValue::from_str(&format!("Bearer t{n}")).unwrap(),
            expires_at: Some(clock.github_now() + ttl),
            value: n,
        }
    }

    /// A mint for `Slot::obtain`/`renew`: token `n`, valid for `ttl`.
    fn minting(
        n: u32,
        ttl: Duration,
        clock: &Arc<Clock>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<Fresh<u32>, Error>> + use<> {
        let clock = Arc::clone(clock);
        move || async move { Ok(fresh(n, ttl, &clock)) }.boxed()
    }

    /// A slot whose refresh ends the current token (a user token's), holding token 1 (1 h).
    async fn revoking_slot_with_token_1() -> (Arc<Slot<u32>>, Arc<Clock>) {
        let clock = Arc::new(Clock::default());
        let policy = Policy {
            refresh_revokes: true,
            ..Policy::default()
        };
        let slot = Arc::new(Slot::new(
            policy,
            Arc::clone(&clock),
            Arc::new(Counters::new("test")),
        ));
        slot.obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        (slot, clock)
    }

    fn slot() -> (Arc<Slot<u32>>, Arc<Clock>) {
        let clock = Arc::new(Clock::default());
        (
            Arc::new(Slot::new(
                Policy::default(),
                Arc::clone(&clock),
                Arc::new(Counters::new("test")),
            )),
            clock,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn single_flight_for_concurrent_cold_lookups() {
        let (slot, clock) = slot();
        let calls = Arc::new(AtomicU32::new(0));
        let mut waiters = Vec::new();
        for _ in 0..100 {
            let calls = Arc::clone(&calls);
            let clock = Arc::clone(&clock);
            waiters.push(slot.obtain(move || {
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    Ok(fresh(n, Duration::from_secs(3600), &clock))
                }
                .boxed()
            }));
        }
        for w in futures_util::future::join_all(waiters).await {
            assert_eq!(w.unwrap().value, 0);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_ahead_keeps_serving_the_old_token() {
        let (slot, clock) = slot();
        slot.obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        // 56 minutes later: inside the 5-minute margin.
        tokio::time::advance(Duration::from_secs(56 * 60)).await;
        let started = Arc::new(AtomicU32::new(0));
        for _ in 0..10 {
            let started = Arc::clone(&started);
            let c = Arc::clone(&clock);
            let Some(entry) = slot.lookup(move || {
                started.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(fresh(2, Duration::from_secs(3600), &c))
                }
                .boxed()
            }) else {
                panic!("a valid token must be served warm");
            };
            assert_eq!(entry.value, 1);
        }
        assert_eq!(started.load(Ordering::SeqCst), 1, "one background refresh");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some(entry) = slot.lookup(|| unreachable_fetch()) else {
            panic!("refreshed token expected");
        };
        assert_eq!(entry.value, 2);
    }

    #[tokio::test]
    async fn a_warm_lookup_takes_no_lock_a_refresh_holds() {
        let (slot, clock) = slot();
        slot.obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        // Another thread holds the slot's lock, as an exchange starting or finishing does.
        let (locked, held) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                let _st = slot.lock();
                locked.send(()).unwrap();
                released.recv().ok();
            })
        };
        held.recv().unwrap();
        let (answer, answered) = std::sync::mpsc::channel();
        let reader = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                let value = slot.lookup(unreachable_fetch).map(|entry| entry.value);
                answer.send(value).unwrap();
            })
        };
        let warm = answered.recv_timeout(std::time::Duration::from_secs(10));
        release.send(()).unwrap();
        holder.join().unwrap();
        reader.join().unwrap();
        assert_eq!(warm, Ok(Some(1)), "the warm read waited for the lock");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_holding_a_replaced_entry_does_not_refresh_again() {
        let (slot, clock) = slot();
        let old = slot
            .obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(56 * 60)).await;
        // A reader saw the old entry due for refresh; meanwhile the refresh finished.
        slot.renew(minting(2, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        slot.refresh_ahead(old.stamp(), Instant::now(), || {
            panic!("the entry was already replaced: no second refresh")
        });
        assert_eq!(slot.lookup(unreachable_fetch).unwrap().value, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_that_ends_the_old_token_is_waited_for() {
        let (slot, clock) = revoking_slot_with_token_1().await;
        assert_eq!(slot.lookup(unreachable_fetch).unwrap().value, 1);

        // Due for refresh: the warm path sends nobody out with the old token.
        tokio::time::advance(Duration::from_secs(56 * 60)).await;
        assert!(slot.lookup(unreachable_fetch).is_none());
        // A failed refresh did not end it: the waiters get the old token, during the backoff too.
        let failed = slot.obtain(|| {
            async {
                Err(refused(
                    crate::error::Exchange::Refresh,
                    http::StatusCode::BAD_GATEWAY,
                    None,
                    None,
                ))
            }
            .boxed()
        });
        assert_eq!(failed.await.unwrap().value, 1);
        let during = slot.obtain(|| panic!("no attempt during the backoff"));
        assert_eq!(during.await.unwrap().value, 1);
        // After the backoff, the next refresh is waited for and its token used.
        tokio::time::advance(Duration::from_secs(2)).await;
        let next = slot.obtain(minting(2, Duration::from_secs(3600), &clock));
        assert_eq!(next.await.unwrap().value, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_refresh_that_ends_the_token_is_waited_for_even_before_it_is_due() {
        let (slot, clock) = revoking_slot_with_token_1().await;
        // A manual refresh, long before the margin.
        let c = Arc::clone(&clock);
        let manual = slot.renew(move || {
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(fresh(2, Duration::from_secs(3600), &c))
            }
            .boxed()
        });
        tokio::task::yield_now().await;
        assert!(slot.lookup(unreachable_fetch).is_none(), "not sent with 1");
        let waiting = slot.obtain(|| panic!("joins the running refresh"));
        assert_eq!(waiting.await.unwrap().value, 2);
        assert_eq!(manual.await.unwrap().value, 2);
        assert_eq!(slot.lookup(unreachable_fetch).unwrap().value, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_falls_back_only_to_a_token_still_valid() {
        let (slot, _clock) = revoking_slot_with_token_1().await;
        tokio::time::advance(Duration::from_secs(56 * 60)).await;
        // The refresh takes 5 minutes to fail: by then token 1 is in its last 30 s.
        let slow_failure = slot.obtain(|| {
            async {
                tokio::time::sleep(Duration::from_secs(5 * 60)).await;
                Err(Error::TaskFailed)
            }
            .boxed()
        });
        assert!(matches!(slow_failure.await, Err(Error::TaskFailed)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_not_sent_in_its_last_seconds() {
        let (slot, clock) = slot();
        slot.obtain(minting(1, Duration::from_secs(600), &clock))
            .await
            .unwrap();
        // 600 s of life, refresh from half-life; unusable in the last 30 s (min_validity).
        tokio::time::advance(Duration::from_secs(569)).await;
        // Still sent (a background refresh starts; here it fails, which does not drop it).
        assert!(slot.lookup(unreachable_fetch).is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        let during = slot.lookup(unreachable_fetch);
        assert!(during.is_none(), "30 s before expiry the token is not sent");
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_are_refreshed_once_per_half_life() {
        for refresh_revokes in [false, true] {
            let clock = Arc::new(Clock::default());
            let policy = Policy {
                refresh_revokes,
                ..Policy::default()
            };
            let slot = Arc::new(Slot::new(
                policy,
                Arc::clone(&clock),
                Arc::new(Counters::new("test")),
            ));
            let mints = Arc::new(AtomicU32::new(0));
            let mint =
                || -> Box<dyn FnOnce() -> BoxFuture<'static, Result<Fresh<u32>, Error>> + Send> {
                    let (mints, clock) = (Arc::clone(&mints), Arc::clone(&clock));
                    Box::new(move || {
                        async move {
                            let n = mints.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(fresh(n, Duration::from_secs(5), &clock))
                        }
                        .boxed()
                    })
                };
            // 50 callers every 100 ms for 12 s, each served warm or waiting for the exchange.
            for _ in 0..120 {
                let callers = (0..50).map(|_| {
                    let slot = Arc::clone(&slot);
                    let (cold, ahead) = (mint(), mint());
                    async move {
                        if slot.lookup(ahead).is_none() {
                            slot.obtain(cold).await.unwrap();
                        }
                    }
                });
                futures_util::future::join_all(callers).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let made = mints.load(Ordering::SeqCst);
            // 5 s tokens refreshed from half-life: one per 2.5 s of the run, and the first.
            assert!(made <= 6, "{made} exchanges for 5 s tokens in 12 s");
        }
    }

    /// GitHub's refusal of `exchange` with `status`, asking to wait `retry_after` or until
    /// `reset`.
    fn refused(
        exchange: crate::error::Exchange,
        status: http::StatusCode,
        retry_after: Option<Duration>,
        reset: Option<SystemTime>,
    ) -> Error {
        Error::GitHub {
            exchange,
            status,
            message: "down".into(),
            request_id: None,
            documentation_url: None,
            retry_after,
            rate_limit_reset: reset,
            subject: None,
        }
    }

    /// A mint GitHub refuses with 429, asking to wait `retry_after` or until `reset`.
    fn limited(
        retry_after: Option<Duration>,
        reset: Option<SystemTime>,
    ) -> impl Fn() -> BoxFuture<'static, Result<Fresh<u32>, Error>> {
        move || {
            async move {
                Err(refused(
                    crate::error::Exchange::InstallationToken,
                    http::StatusCode::TOO_MANY_REQUESTS,
                    retry_after,
                    reset,
                ))
            }
            .boxed()
        }
    }

    /// The wait in force after a failure (`Error::Backoff`'s `retry_in`).
    async fn wait_in_force(slot: &Arc<Slot<u32>>) -> Duration {
        match slot
            .obtain(|| panic!("no attempt during the backoff"))
            .await
        {
            Err(Error::Backoff { retry_in, .. }) => retry_in,
            other => panic!("expected a backoff, got {other:?}"),
        }
    }

    /// Issue 20 §5: GitHub's `Retry-After: 30` is honoured: no mint before 30 s (plus at most
    /// 20% jitter), where the exponential backoff alone would have tried again after 1 s.
    #[tokio::test(start_paused = true)]
    async fn backoff_honours_retry_after() {
        let (slot, clock) = slot();
        let err = slot
            .obtain(limited(Some(Duration::from_secs(30)), None))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        tokio::time::advance(Duration::from_secs(10)).await;
        let wait = wait_in_force(&slot).await;
        assert!(wait >= Duration::from_secs(20), "{wait:?}");
        // 30 s plus at most 20% jitter have passed.
        tokio::time::advance(Duration::from_secs(27)).await;
        let token = slot
            .obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .expect("exchanges once Retry-After has passed");
        assert_eq!(token.value, 1);
    }

    /// A rate-limit reset 120 s ahead is honoured: no mint before it.
    #[tokio::test(start_paused = true)]
    async fn backoff_honours_the_rate_limit_reset() {
        let (slot, clock) = slot();
        let reset = clock.github_now() + Duration::from_secs(120);
        slot.obtain(limited(None, Some(reset))).await.unwrap_err();
        tokio::time::advance(Duration::from_secs(100)).await;
        let wait = wait_in_force(&slot).await;
        assert!(wait >= Duration::from_secs(19), "{wait:?}");
        tokio::time::advance(Duration::from_secs(45)).await;
        slot.obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .expect("exchanges once the reset has passed");
    }

    /// A reset 10 years ahead (a hostile or broken answer) parks the credential for the cap
    /// (plus jitter), not for 10 years.
    #[tokio::test(start_paused = true)]
    async fn backoff_caps_a_far_reset() {
        let (slot, clock) = slot();
        let reset = clock.github_now() + Duration::from_secs(10 * 365 * 24 * 3600);
        slot.obtain(limited(Some(Duration::from_secs(u64::MAX)), Some(reset)))
            .await
            .unwrap_err();
        let wait = wait_in_force(&slot).await;
        assert!(wait >= MAX_SERVER_WAIT, "{wait:?}");
        assert!(wait <= MAX_SERVER_WAIT + MAX_SERVER_WAIT / 5, "{wait:?}");
    }

    fn unreachable_fetch() -> BoxFuture<'static, Result<Fresh<u32>, Error>> {
        async { Err(Error::TaskFailed) }.boxed()
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off() {
        let (slot, _clock) = slot();
        let failing = || {
            async {
                Err(refused(
                    crate::error::Exchange::InstallationToken,
                    http::StatusCode::BAD_GATEWAY,
                    None,
                    None,
                ))
            }
            .boxed()
        };
        let first = slot.obtain(failing).await.unwrap_err();
        assert_eq!(first.status(), Some(http::StatusCode::BAD_GATEWAY));
        let during = slot
            .obtain(|| panic!("no attempt during the backoff"))
            .await;
        assert!(matches!(during, Err(Error::Backoff { failures: 1, .. })));
        // 1 s plus at most 20% jitter.
        tokio::time::advance(Duration::from_millis(1200)).await;
        assert!(slot.obtain(failing).await.is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            slot.obtain(|| panic!("backoff doubled")).await,
            Err(Error::Backoff { failures: 2, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_drops_only_the_refused_token() {
        let (slot, clock) = slot();
        let first = slot
            .obtain(minting(1, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        let second = slot
            .renew(minting(2, Duration::from_secs(3600), &clock))
            .await
            .unwrap();
        slot.invalidate(first.stamp(), observe::Identity::default);
        assert_eq!(slot.peek().unwrap().value, 2);
        slot.invalidate(second.stamp(), observe::Identity::default);
        assert!(slot.peek().is_none());
    }

    #[test]
    fn an_exchange_cancelled_with_its_runtime_does_not_poison_the_slot() {
        let (slot, clock) = slot();
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        first.block_on(async {
            // An exchange that is still running when its runtime goes away.
            let waiting = slot.obtain(|| futures_util::future::pending().boxed());
            drop(waiting);
        });
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let entry = second
            .block_on(async {
                slot.obtain(minting(7, Duration::from_secs(3600), &clock))
                    .await
            })
            .expect("a new exchange, not the dead one");
        assert_eq!(entry.value, 7);
    }

    #[test]
    fn outside_a_runtime_an_exchange_is_a_typed_error_not_a_panic() {
        let (slot, clock) = slot();
        let attempt = slot
            .obtain(minting(1, Duration::from_secs(3600), &clock))
            .now_or_never()
            .expect("answers at once");
        assert!(matches!(attempt, Err(Error::NoRuntime)), "{attempt:?}");
        // Nothing was left behind: inside a runtime the next attempt works.
        let entry = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                slot.obtain(minting(2, Duration::from_secs(3600), &clock))
                    .await
            })
            .unwrap();
        assert_eq!(entry.value, 2);
    }
}
