//! A fleet behind one [`TokenStore`]: the path a minted credential takes when the in-process
//! cache has nothing usable (or its credential is due), so that N replicas exchange once.
//!
//! 1. Read the store: a credential that is not yet due for refresh is used as is.
//! 2. Else take the store's exchange lock: the holder reads again (another replica may have just
//!    finished), exchanges, writes the result, and lets the lock go.
//! 3. The others wait for the stored result ([`TokenStore::changed`]), and take the lock
//!    themselves if its holder died (the lock expires).
//!
//! **Order.** Every stored credential carries a generation, and a save is a compare-and-set that
//! never replaces an equal or newer generation ([`TokenStore::save`]): whatever the interleaving
//! (a hook that outlives the lock, a save retried after the store came back, a replica that
//! refreshed alone), the store never goes back to an older set. A user's set counts its
//! rotations (two steps each: the rotated pair is first stored as not yet accepted by an
//! `on_refresh` hook, then as accepted; without a hook, accepted at once); a new sign-in starts
//! a new family above every earlier one (its sign-in time in the high 32 bits). An installation
//! token's generation is its mint time in milliseconds. A replica adopts a stored set only when
//! it is newer than the one it holds, and never one carrying a refresh token it spent; once
//! GitHub refused its own refresh token, any stored set carrying another is taken, whatever its
//! generation (a store that lost its value may start again low: a Redis restarted empty, then a
//! replica started from the hook's copy).
//!
//! **The store is a help, never a dependency.** Any store error or slow answer is logged (at
//! most once every ten seconds) and passed by:
//! - a replica that cannot take the lock keeps serving the credential it holds while it is
//!   usable, and tries the lock again 250 ms later; once that credential would otherwise expire
//!   (its last eighth of life before the unusable margin, at most an exchange deadline) it tries
//!   the store every 50 ms for half of that room (six failures in a row at least), and only
//!   then (after a last read of the store, which may hold a newer set by now) exchanges on its
//!   own;
//! - a user's rotated pair that could not be saved stays pending: it is saved again in the
//!   background (after 100 ms, then every 250 ms at most) until the store takes it or holds a
//!   newer set, so that the fleet learns it as soon as the store is back;
//! - a replica that saw the store fail twice in a row in the last second (an outage, not a
//!   moment's error) waits under the lock, reading the store, until that second is over (at
//!   most a third of the lock's life, and never past the point where it would exchange alone)
//!   before it spends the stored refresh token: a pair another replica refreshed alone
//!   meanwhile reaches the store first (installation tokens spend nothing: they do not wait);
//! - a refresh refused with `bad_refresh_token` (another replica rotated while the store was
//!   away) waits for the store to show the newer pair (about 2 s of answers; up to twice the
//!   lock's life while the store does not answer), and adopts it; it keeps the lock meanwhile
//!   (for as long as the lock lives), so that the others wait too rather than spend the same
//!   token; the refused refresh token is never sent again.
//!
//! ```ignore
//! // Not compiled here: the Redis crate depends on this one, so it is not a dev-dependency (the
//! // pair could not be published). The workspace README's "Running a fleet" compiles the same
//! // wiring (tests/readme.rs, package integration-tests).
//! use tower_github_auth::{AppAuth, AppId, PrivateKey};
//! use tower_github_auth_redis::RedisTokenStore;
//!
//! # async fn replica() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = RedisTokenStore::builder("redis://127.0.0.1:6379").build().await?;
//! let key = PrivateKey::from_pem(std::fs::read("app.pem")?)?;
//! let app = AppAuth::new(AppId(1), key).token_store(store);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use tokio::time::Instant;
use tracing::Instrument;

use crate::cache::{Fresh, Policy};
use crate::clock::Clock;
use crate::error::{BoxError, Error};
use crate::observe::{self, AuthEvent, AuthEventKind};
use crate::store::{Lease, Saved, StoredCredential, TokenStore};

/// How long one store call may take before the replica passes the store by.
const STORE_CALL: Duration = Duration::from_secs(2);
/// How long a waiter sleeps at most between two reads of the store.
const WAIT_STEP: Duration = Duration::from_millis(200);
/// While the store cannot take a lock, how soon a replica serving the credential it holds tries
/// the lock again.
const LOCK_RETRY: Duration = Duration::from_millis(250);
/// The longest an exchange lock is asked for (an exchange deadline of `Duration::MAX` must not
/// overflow a store's TTL).
const MAX_LOCK: Duration = Duration::from_secs(3600);

/// How long the exchange lock of a credential lives: `tries` exchange deadlines, at most an hour.
pub(crate) fn lock_life(deadline: Duration, tries: u32) -> Duration {
    deadline.saturating_mul(tries).min(MAX_LOCK)
}

/// The pause before trying a failed lock or read again, when it matters.
const LOCK_AGAIN: Duration = Duration::from_millis(50);

/// Store failures in a row after which a replica whose credential is at its end exchanges
/// alone (about a quarter of a second of tries): fewer are a store that fails now and then while
/// another replica holds the lock and its result is coming, not an outage (seen: three random
/// failures in a row, 60 ms after the lock holder stored the newer set).
const FAILURES_TO_GO_ALONE: u32 = 6;

/// How many answers without a newer credential end a wait for one (about two seconds of reads).
const READS_TO_SETTLE: u32 = 10;

/// The longest pause between two saves of a set that could not be saved (a user's pair
/// refreshed while the store failed): several fit in [`SETTLE`].
pub(crate) const PUBLISH_RETRY_MAX: Duration = Duration::from_millis(250);

/// How long after this replica last saw the store fail twice in a row (an outage, not a
/// moment's error) a refresh under the lock waits first, reading the store: a replica that
/// refreshed alone meanwhile saves its pair again every [`PUBLISH_RETRY_MAX`] at most, so that
/// its pair, not the refresh token it spent, is what the lock holder finds.
const SETTLE: Duration = Duration::from_secs(1);

/// How many store failures in a row make an outage (see [`SETTLE`]).
const OUTAGE: u32 = 2;

/// A credential that can be shared through a store: written as bytes, read back, and made a
/// cache entry again.
pub(crate) trait Shareable: Sized + Send + Sync + 'static {
    /// The credential as the store keeps it (a secret: the store encrypts it).
    fn encode(&self) -> Vec<u8>;

    /// The credential read back; `None` for bytes this crate did not write.
    fn decode(bytes: &[u8]) -> Option<Self>;

    /// The cache entry for it.
    fn fresh(self) -> Result<Fresh<Self>, Error>;

    /// How long the store should keep it, when longer than its own expiry (a user's set is
    /// worth keeping as long as its refresh token lives).
    fn keep_until(&self) -> Option<SystemTime> {
        None
    }
}

/// The store a credential is shared through, and its key there.
#[derive(Clone)]
pub(crate) struct Fleet {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) key: String,
    /// What this replica saw of the store lately (shared by the clones of a user layer, and by
    /// an App's installation tokens; only a fleet that `spends` waits on it).
    health: StoreHealth,
}

/// The store's recent failures, as one replica saw them: shared by the clones of a user layer,
/// and by every installation token of an App (one store, one health).
pub(crate) type StoreHealth = Arc<Mutex<Health>>;

/// The store's recent failures, as one replica saw them.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Calls that failed in a row, up to now.
    failing: u32,
    /// When the store last failed [`OUTAGE`] times in a row or more.
    outage_at: Option<Instant>,
}

impl Fleet {
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: String) -> Self {
        Self::sharing(store, key, &StoreHealth::default())
    }

    /// A fleet whose store's failures are counted in `health`, shared with other keys of the
    /// same store (an outage is seen, and its end reported, once for all of them).
    pub(crate) fn sharing(store: Arc<dyn TokenStore>, key: String, health: &StoreHealth) -> Self {
        Self {
            store,
            key,
            health: Arc::clone(health),
        }
    }

    /// A store call, bounded; `Err(())` (logged, and remembered) when the store failed or was
    /// slow.
    /// `op` names the call (`lock`, `load`, `save`, `unlock`, `changed`) in its span, its
    /// event and its metrics.
    pub(crate) async fn call<R>(
        &self,
        op: &'static str,
        fut: BoxFuture<'_, Result<R, BoxError>>,
    ) -> Result<R, ()> {
        // The store key is a digest (`kind:` and a SHA-256): no secret, no user name.
        let span = tracing::debug_span!("github_auth.store", op, store_key = %self.key);
        let started = Instant::now();
        let answer = call(fut).instrument(span.clone()).await;
        let ok = answer.is_ok();
        span.in_scope(|| {
            tracing::trace!(
                op,
                duration_ms = observe::millis(started.elapsed()),
                outcome = if ok { "ok" } else { "error" },
                "store call answered"
            );
        });
        #[cfg(feature = "metrics")]
        observe::store_call(op, ok);
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let change = if ok {
            let was = std::mem::take(&mut health.failing);
            (was >= OUTAGE).then_some((AuthEventKind::StoreBack, was))
        } else {
            health.failing = health.failing.saturating_add(1);
            if health.failing >= OUTAGE {
                health.outage_at = Some(Instant::now());
            }
            (health.failing == OUTAGE).then_some((AuthEventKind::StoreUnavailable, OUTAGE))
        };
        drop(health);
        if let Some((kind, failures)) = change {
            if kind == AuthEventKind::StoreBack {
                tracing::info!(failures, store_key = %self.key, "the token store answers again");
            }
            let identity = observe::Identity::default().with("store_key", &self.key);
            let mut event = AuthEvent::new(kind, "store", identity);
            event.failures = failures;
            observe::emit(&event);
        }
        answer
    }

    /// Until when a refresh under the lock waits for sets saved late (at most `longest` from
    /// now): [`SETTLE`] after the store's last outage seen here, if that is still to come.
    fn settle_until(&self, longest: Duration) -> Option<Instant> {
        let outage_at = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .outage_at?;
        let now = Instant::now();
        let until = outage_at
            .checked_add(SETTLE)?
            .min(now.checked_add(longest)?);
        (until > now).then_some(until)
    }
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("store", &self.store)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A store key: `kind:` and the SHA-256 of the parts (no secret, stable across replicas).
pub(crate) fn store_key(kind: &str, parts: &[&str]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part.as_bytes());
        context.update(&[0]);
    }
    let mut key = String::with_capacity(kind.len() + 65);
    key.push_str(kind);
    key.push(':');
    for byte in context.finish().as_ref() {
        key.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        key.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    key
}

/// What a replica made of a credential it read from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Adopted {
    /// Taken over, newer than what this replica held: usable once checked against the clock.
    Newer,
    /// The one this replica holds: usable once checked against the clock.
    Same,
    /// Taken over for what comes next (a user's refresh token), but not to be sent: no
    /// `on_refresh` hook accepted its access token.
    RefreshOnly,
    /// Older than what this replica holds: neither used nor taken over.
    Older,
}

/// A credential this replica holds, to keep serving while the store cannot take the lock.
pub(crate) struct Held<T> {
    pub(crate) value: T,
    /// When it was issued (GitHub's clock), if known.
    pub(crate) issued_at: Option<SystemTime>,
}

/// The credential held here, and until when it is worth waiting for the store.
struct HeldNow<T> {
    fresh: Fresh<T>,
    /// Until when it is served while the store cannot take the lock (`None`: it never expires).
    serve_until: Option<SystemTime>,
    /// When this replica stops trying the store and exchanges alone (half the room left for
    /// that exchange).
    alone_at: Option<SystemTime>,
}

/// A credential read from the store.
struct Found<T> {
    value: T,
    issued_at: SystemTime,
}

/// What a read of the store found.
enum Read<T> {
    /// A credential to use now.
    Usable(Found<T>),
    /// A newer credential, taken over, but not to be used now (due, or not accepted by a hook).
    Taken,
    /// Nothing newer than what this replica holds, or nothing usable.
    Nothing,
}

/// What [`Through::await_newer`] found.
pub(crate) enum Newer<T> {
    /// A newer credential, to use now.
    Usable(Fresh<T>),
    /// A newer credential was taken over (a user's refresh token) but is not to be used as is.
    Taken,
    /// Nothing newer appeared.
    Nothing,
}

/// What a fleet-aware mint needs besides the mint itself.
pub(crate) struct Through<'a, T> {
    pub(crate) fleet: &'a Fleet,
    pub(crate) clock: &'a Clock,
    pub(crate) policy: Policy,
    /// How long the exchange lock is held at most (the exchanges' deadlines, with room).
    pub(crate) lock_for: Duration,
    /// Takes a credential another replica stored, of the given generation (a user token adopts
    /// its refresh token).
    pub(crate) adopt: &'a (dyn Fn(&T, u64, SystemTime) -> Adopted + Send + Sync),
    /// A credential GitHub refused here: the store may still hold it, it is not used again.
    pub(crate) refused: Option<HeaderValue>,
    /// What this replica holds: served while the store cannot take the lock.
    pub(crate) held: Option<Held<T>>,
    /// Whether what `mint` returns is saved here (installation tokens), with its mint time as
    /// generation; `false` when the mint publishes itself (a user's set, before its hook).
    pub(crate) save_minted: bool,
    /// Offered the lock after a mint: `Some` gives it back to be released now, `None` keeps it
    /// (a user's rotated pair whose save is pending: the lock is released once it is saved, so
    /// that nobody refreshes with the refresh token it spent meanwhile; or a refresh token GitHub
    /// refused: the lock is released once the newer pair was waited for).
    pub(crate) hand_over: Option<&'a (dyn Fn(Lease) -> Option<Lease> + Send + Sync)>,
    /// Whether a mint spends what the store holds (a user's refresh token): then a mint under
    /// the lock soon after an outage first waits for a set saved late ([`SETTLE`]).
    pub(crate) spends: bool,
}

impl<T: Shareable + Clone> Through<'_, T> {
    /// A usable credential: from the store, or minted (once across the fleet) and stored.
    /// `force` mints even when the stored one is usable (a manual refresh), still under the lock
    /// and after adopting the stored one.
    pub(crate) async fn obtain(
        &self,
        force: bool,
        mint: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
    ) -> Result<Fresh<T>, Error> {
        let key = self.fleet.key.as_str();
        observe::record_for("store_key", &key);
        if !force && let Ok(Read::Usable(found)) = self.usable().await {
            return shared(found);
        }
        // Checked: `lock_for` comes from the user's exchange deadline (`Duration::MAX` too).
        let give_up_at = Instant::now().checked_add(self.lock_for.saturating_mul(2));
        let mut failures = 0;
        let lease = loop {
            match self
                .fleet
                .call("lock", self.fleet.store.lock(key, self.lock_for))
                .await
            {
                Err(()) => {
                    // No lock to be had: not a reason to spend a shared refresh token alone
                    // while the credential held here still works.
                    if !force && let Some(held) = self.keep_serving() {
                        return held;
                    }
                    // About to expire: the store may be back in a moment (and another replica
                    // may have refreshed meanwhile), try again while there is room.
                    failures += 1;
                    if self.try_again(failures, force) {
                        tokio::time::sleep(LOCK_AGAIN).await;
                        continue;
                    }
                    // A last read: the lock may have failed while the read works, and another
                    // replica may have stored a newer set since this one last looked.
                    if !force && let Ok(Read::Usable(found)) = self.usable().await {
                        return shared(found);
                    }
                    tracing::debug!(force, "no exchange lock: exchanging alone");
                    return self.mint_and_save(mint, None).await;
                }
                Ok(Some(lease)) => break lease,
                // The store answers: failures in a row start again.
                Ok(None) => failures = 0,
            }
            // Another replica is exchanging: wait for its result.
            #[cfg(feature = "metrics")]
            observe::store_lock_contended();
            let wait = give_up_at.map_or(WAIT_STEP, |at| {
                WAIT_STEP.min(at.saturating_duration_since(Instant::now()))
            });
            self.wait_for_change(wait).await;
            if let Ok(Read::Usable(found)) = self.usable().await
                && !force
            {
                return shared(found);
            }
            if give_up_at.is_some_and(|at| Instant::now() >= at) {
                if !force && let Some(held) = self.keep_serving() {
                    return held;
                }
                warn("the store's exchange lock was not released in time: exchanging anyway");
                tracing::debug!("the exchange lock was not released in time: exchanging alone");
                return self.mint_and_save(mint, None).await;
            }
        };
        // Holding the lock: another replica may have finished just before, or refreshed alone
        // while the store failed (its save comes soon after the store is back: wait for it a
        // moment when the store failed here lately). Exchanging needs a read that answered: a
        // failed one could hide the pair that spent the refresh token.
        let locked_at = Instant::now();
        let mut failures = 0;
        loop {
            match self.usable().await {
                Ok(Read::Usable(found)) if !force => {
                    release(self.fleet, &lease).await;
                    return shared(found);
                }
                Ok(_) => {
                    failures = 0;
                    // An outage seen while holding the lock counts too; the wait stays within a
                    // third of the lock's life.
                    let settling = self
                        .spends
                        .then(|| {
                            let room = (self.lock_for / 3).saturating_sub(locked_at.elapsed());
                            self.fleet.settle_until(room)
                        })
                        .flatten();
                    if let Some(at) = settling
                        && self.may_settle()
                    {
                        tracing::debug!("the store failed lately: waiting for a set saved late");
                        self.wait_for_change(at.saturating_duration_since(Instant::now()))
                            .await;
                        continue;
                    }
                    tracing::debug!(force, "exchanging under the store's lock");
                    return self.mint_and_save(mint, Some(lease)).await;
                }
                Err(()) => {
                    failures += 1;
                    if failures >= 3 && !force && self.has_room() {
                        break;
                    }
                    if !self.try_again(failures, force) {
                        break;
                    }
                    tokio::time::sleep(LOCK_AGAIN).await;
                }
            }
        }
        if !force && let Some(held) = self.keep_serving() {
            release(self.fleet, &lease).await;
            return held;
        }
        // Still holding the lock: a replica that can read the store waits for this exchange
        // rather than spend the same refresh token.
        tracing::debug!(
            force,
            "the store cannot be read: exchanging without reading it"
        );
        self.mint_and_save(mint, Some(lease)).await
    }

    /// Waits up to `wait` for the stored credential to change (a store that fails at once:
    /// sleeps, not to spin).
    async fn wait_for_change(&self, wait: Duration) {
        let wait = wait.min(WAIT_STEP);
        if self
            .fleet
            .call("changed", self.fleet.store.changed(&self.fleet.key, wait))
            .await
            .is_err()
        {
            tokio::time::sleep(wait).await;
        }
    }

    /// The credential held here, and its deadlines while the store fails; `None` when nothing
    /// usable is held.
    fn held_now(&self) -> Option<HeldNow<T>> {
        let held = self.held.as_ref()?;
        let mut fresh = held.value.clone().fresh().ok()?;
        if self.refused.as_ref() == Some(&fresh.header) {
            return None;
        }
        fresh.issued_at = held.issued_at;
        let Some(expires) = fresh.expires_at else {
            return Some(HeldNow {
                fresh,
                serve_until: None,
                alone_at: None,
            });
        };
        let now = self.clock.github_now();
        let life = expires
            .duration_since(held.issued_at.unwrap_or(now).min(now))
            .unwrap_or_default();
        // The cache stops sending it in its last quarter (at most `min_validity`); an exchange
        // alone needs room before that.
        let unusable = self.policy.min_validity.min(life / 4);
        let for_exchange = (life / 8).min(self.lock_for / 3);
        Some(HeldNow {
            fresh,
            serve_until: Some(
                expires
                    .checked_sub(unusable.saturating_add(for_exchange))
                    .unwrap_or(UNIX_EPOCH),
            ),
            alone_at: Some(
                expires
                    .checked_sub(unusable.saturating_add(for_exchange / 2))
                    .unwrap_or(UNIX_EPOCH),
            ),
        })
    }

    /// Whether the credential held here can still be served while the store is tried again.
    fn has_room(&self) -> bool {
        let now = self.clock.github_now();
        self.held_now()
            .is_some_and(|held| held.serve_until.is_none_or(|at| now < at))
    }

    /// Whether a refresh under the lock may still wait for a set saved late: until the moment
    /// this replica would exchange alone.
    fn may_settle(&self) -> bool {
        let now = self.clock.github_now();
        self.held_now()
            .is_none_or(|held| held.alone_at.is_none_or(|at| now < at))
    }

    /// After `failures` store failures in a row: whether to try the store again
    /// ([`LOCK_AGAIN`] later) rather than exchange alone. A moment's failures (fewer than
    /// [`FAILURES_TO_GO_ALONE`] in a row, three for a refresh asked for, even once the
    /// credential held here nears its end) are tried past, and, unless a refresh was asked for
    /// (`force`), so is a store that fails while the credential held here leaves room for an
    /// exchange alone later.
    fn try_again(&self, failures: u32, force: bool) -> bool {
        let now = self.clock.github_now();
        failures < if force { 3 } else { FAILURES_TO_GO_ALONE }
            || (!force
                && self
                    .held_now()
                    .is_some_and(|held| held.alone_at.is_some_and(|at| now < at)))
    }

    /// The credential held here, to serve a little longer (the lock is tried again soon), unless
    /// it would expire before another try could still refresh it: then `None` (exchange alone).
    fn keep_serving(&self) -> Option<Result<Fresh<T>, Error>> {
        let HeldNow {
            mut fresh,
            serve_until,
            ..
        } = self.held_now()?;
        let retry_in = match serve_until {
            None => LOCK_RETRY,
            Some(last) => {
                let left = last
                    .duration_since(self.clock.github_now())
                    .ok()
                    .filter(|d| !d.is_zero())?;
                LOCK_RETRY.min(left)
            }
        };
        warn("the token store cannot take the exchange lock: serving the held credential");
        fresh.retry_after = Some(retry_in);
        Some(Ok(fresh))
    }

    /// Mints, stores the result (before anyone uses it) unless the mint did, and releases the
    /// lock if held.
    async fn mint_and_save(
        &self,
        mint: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
        lease: Option<Lease>,
    ) -> Result<Fresh<T>, Error> {
        let minted = mint().await;
        if self.save_minted
            && let Ok(fresh) = &minted
        {
            let now = self.clock.github_now();
            let generation = millis(now);
            let _ = self
                .save(&fresh.value, now, fresh.expires_at, generation)
                .await;
        }
        let lease = match (lease, self.hand_over) {
            (Some(lease), Some(hand_over)) => hand_over(lease),
            (lease, _) => lease,
        };
        if let Some(lease) = lease {
            release(self.fleet, &lease).await;
        }
        minted
    }

    /// Writes a credential to the store as `generation`, with a TTL that ends before it does:
    /// `Err(())` when the store failed (logged).
    pub(crate) async fn save(
        &self,
        value: &T,
        issued_at: SystemTime,
        expires_at: Option<SystemTime>,
        generation: u64,
    ) -> Result<Saved, ()> {
        let now = self.clock.github_now();
        let expires_at = expires_at.unwrap_or_else(|| {
            now.checked_add(crate::clock::FURTHEST)
                .unwrap_or(SystemTime::UNIX_EPOCH + crate::clock::FURTHEST)
        });
        // Kept while it is worth anything: a user's set as long as its refresh token lives.
        let keep_until = value.keep_until().map_or(expires_at, |k| k.max(expires_at));
        let Ok(life) = keep_until.duration_since(now) else {
            // Worth nothing any more: nothing to publish.
            return Ok(Saved::Superseded);
        };
        let ttl = life.saturating_sub(self.policy.min_validity.min(life / 4));
        if ttl.is_zero() {
            return Ok(Saved::Superseded);
        }
        let stored = StoredCredential::new(value.encode(), issued_at, expires_at)
            .with_generation(generation);
        self.fleet
            .call("save", self.fleet.store.save(&self.fleet.key, &stored, ttl))
            .await
    }

    /// The stored credential if it is newer than (or the one) this replica holds, not refused
    /// and not yet due for refresh; `Err(())` when the store failed.
    async fn usable(&self) -> Result<Read<T>, ()> {
        let Some(stored) = self
            .fleet
            .call("load", self.fleet.store.load(&self.fleet.key))
            .await?
        else {
            return Ok(Read::Nothing);
        };
        let now = self.clock.github_now();
        let life = stored
            .expires_at
            .duration_since(stored.issued_at)
            .unwrap_or_default();
        let due = stored
            .expires_at
            .checked_sub(self.policy.refresh_margin.min(life / 2))
            .unwrap_or(stored.expires_at);
        let Some(value) = T::decode(&stored.value) else {
            return Ok(Read::Nothing);
        };
        // The stored credential is normally the fleet's newest: adopt it (a user token refreshes
        // with its refresh token, the only one that still works), unless this replica holds a
        // newer one (a save of its that is still pending).
        let taken = match (self.adopt)(&value, stored.generation, stored.issued_at) {
            Adopted::Older => return Ok(Read::Nothing),
            Adopted::RefreshOnly => return Ok(Read::Taken),
            Adopted::Newer => Read::Taken,
            Adopted::Same => Read::Nothing,
        };
        if let Some(refused) = &self.refused
            && value.clone().fresh().is_ok_and(|f| f.header == *refused)
        {
            return Ok(taken);
        }
        if now >= due {
            return Ok(taken);
        }
        Ok(Read::Usable(Found {
            value,
            issued_at: stored.issued_at,
        }))
    }

    /// Waits for the store to hold a credential newer than what this replica holds (after
    /// GitHub refused a token another replica's refresh ended, or a refresh token it spent):
    /// until the store answered [`READS_TO_SETTLE`] reads without one (the replica that holds
    /// it saves it again twice a second at least), or twice the lock's life passed.
    pub(crate) async fn await_newer(&self) -> Newer<T> {
        let until = Instant::now().checked_add(self.lock_for.saturating_mul(2));
        let mut answered = 0;
        loop {
            match self.usable().await {
                Ok(Read::Usable(found)) => {
                    return shared(found).map_or(Newer::Nothing, Newer::Usable);
                }
                Ok(Read::Taken) => return Newer::Taken,
                Ok(Read::Nothing) => answered += 1,
                Err(()) => {}
            }
            let left = until.map_or(WAIT_STEP, |at| at.saturating_duration_since(Instant::now()));
            if answered >= READS_TO_SETTLE || left.is_zero() {
                return Newer::Nothing;
            }
            self.wait_for_change(left).await;
        }
    }
}

/// Releases the lock `lease` holds, trying again twice when the store fails (a lock left behind
/// holds the fleet off until it expires).
pub(crate) async fn release(fleet: &Fleet, lease: &Lease) {
    for _ in 0..3 {
        if fleet
            .call("unlock", fleet.store.unlock(&fleet.key, lease))
            .await
            .is_ok()
        {
            return;
        }
    }
}

/// The cache entry of a credential another replica stored, its life counted from its issue.
fn shared<T: Shareable>(found: Found<T>) -> Result<Fresh<T>, Error> {
    let mut fresh = found.value.fresh()?;
    fresh.issued_at = Some(found.issued_at);
    tracing::debug!("adopted the credential another replica stored");
    #[cfg(feature = "metrics")]
    observe::store_adopted();
    Ok(fresh)
}

/// A time as whole milliseconds since the epoch (an installation token's generation).
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A time as whole seconds since the epoch (how stored credentials write times).
pub(crate) fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whole seconds since the epoch as a time.
pub(crate) fn time(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// A store call, bounded; `Err(())` (logged) when the store failed or was slow.
pub(crate) async fn call<R>(fut: BoxFuture<'_, Result<R, BoxError>>) -> Result<R, ()> {
    match tokio::time::timeout(STORE_CALL, fut).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) => {
            warn(&format!(
                "the token store failed ({err}): going on without it"
            ));
            Err(())
        }
        Err(_) => {
            warn("the token store did not answer in time: going on without it");
            Err(())
        }
    }
}

/// A warning at most every ten seconds (a store that is down would otherwise flood the logs).
fn warn(message: &str) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last.saturating_add(10)
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use futures_util::FutureExt;

    use super::*;

    /// A store that answers, or fails every call while told to.
    #[derive(Debug, Default)]
    struct Flaky {
        failing: AtomicBool,
    }

    impl Flaky {
        fn answer<'a, R: Send + 'a>(&self, r: R) -> BoxFuture<'a, Result<R, BoxError>> {
            let failing = self.failing.load(Ordering::SeqCst);
            async move {
                if failing {
                    Err(BoxError::from("down"))
                } else {
                    Ok(r)
                }
            }
            .boxed()
        }
    }

    impl TokenStore for Flaky {
        fn load<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
            self.answer(None)
        }
        fn save<'a>(
            &'a self,
            _: &'a str,
            _: &'a StoredCredential,
            _: Duration,
        ) -> BoxFuture<'a, Result<Saved, BoxError>> {
            self.answer(Saved::Stored)
        }
        fn lock<'a>(
            &'a self,
            _: &'a str,
            _: Duration,
        ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
            self.answer(Some(Lease::random()))
        }
        fn unlock<'a>(&'a self, _: &'a str, _: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
            self.answer(())
        }
        fn changed<'a>(&'a self, _: &'a str, _: Duration) -> BoxFuture<'a, Result<(), BoxError>> {
            self.answer(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_two_failures_in_a_row_and_a_refresh_waits_a_second_after_it() {
        let store = Arc::new(Flaky::default());
        let fleet = Fleet::new(store.clone(), "k".to_owned());
        let load = |fail: bool| {
            store.failing.store(fail, Ordering::SeqCst);
            fleet.call("load", store.load("k"))
        };
        // One failure between answers: a moment's error, nothing to wait for.
        assert!(load(true).await.is_err());
        assert!(load(false).await.is_ok());
        assert!(load(true).await.is_err());
        assert!(load(false).await.is_ok());
        assert_eq!(fleet.settle_until(Duration::from_secs(10)), None);
        // Two in a row: an outage. A refresh under the lock waits until a second after its last
        // failure, at most as long as it is told.
        assert!(load(true).await.is_err());
        tokio::time::advance(Duration::from_millis(300)).await;
        assert!(load(true).await.is_err());
        let last = Instant::now();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(load(false).await.is_ok());
        assert_eq!(
            fleet.settle_until(Duration::from_secs(10)),
            Some(last + SETTLE)
        );
        let now = Instant::now();
        assert_eq!(
            fleet.settle_until(Duration::from_millis(200)),
            Some(now + Duration::from_millis(200))
        );
        // The clones of a layer share what their replica saw.
        assert_eq!(
            fleet.clone().settle_until(Duration::from_secs(10)),
            Some(last + SETTLE)
        );
        tokio::time::advance(SETTLE).await;
        assert_eq!(fleet.settle_until(Duration::from_secs(10)), None);
    }

    #[test]
    fn keys_are_stable_and_secret_free() {
        let a = store_key(
            "installation",
            &["https://api.github.com", "1", "id:42", ""],
        );
        let b = store_key(
            "installation",
            &["https://api.github.com", "1", "id:42", ""],
        );
        let c = store_key(
            "installation",
            &["https://api.github.com", "1", "id:4", "2"],
        );
        assert_eq!(a, b);
        assert_ne!(a, c, "parts are delimited");
        assert!(a.starts_with("installation:") && a.len() == "installation:".len() + 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':')
        );
    }
}
