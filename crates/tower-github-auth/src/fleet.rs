//! A fleet behind one [`TokenStore`]: the path a minted credential takes when the in-process
//! cache has nothing usable (or its credential is due), so that N replicas exchange once.
//!
//! 1. Read the store: a credential that is not yet due for refresh is used as is.
//! 2. Else take the store's exchange lock: the holder reads again (another replica may have just
//!    finished), exchanges, writes the result, and lets the lock go.
//! 3. The others wait for the stored result ([`TokenStore::changed`]), and take the lock
//!    themselves if its holder died (the lock expires).
//!
//! The store is a help, never a dependency: any store error or slow answer is logged (at most
//! once every ten seconds) and the replica exchanges on its own, as without a store.
//!
//! ```ignore
//! // Not compiled here: the Redis crate depends on this one, so it is not a dev-dependency (the
//! // pair could not be published). The workspace README's "Running a fleet" compiles the same
//! // wiring (tests/readme.rs, package integration-tests).
//! use std::sync::Arc;
//! use tower_github_auth::{AppAuth, AppId, PrivateKey, TokenStore};
//! use tower_github_auth_redis::RedisTokenStore;
//!
//! # async fn replica() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store: Arc<dyn TokenStore> =
//!     Arc::new(RedisTokenStore::builder("redis://127.0.0.1:6379").build().await?);
//! let key = PrivateKey::from_pem(std::fs::read("app.pem")?)?;
//! let app = AppAuth::new(AppId(1), key).token_store(store);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use tokio::time::Instant;

use crate::cache::{Fresh, Policy};
use crate::clock::Clock;
use crate::error::{BoxError, Error};
use crate::store::{Lease, StoredCredential, TokenStore};

/// How long one store call may take before the replica passes the store by.
const STORE_CALL: Duration = Duration::from_secs(2);
/// How long a waiter sleeps at most between two reads of the store.
const WAIT_STEP: Duration = Duration::from_millis(200);

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
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("store", &self.store)
            .field("key", &self.key)
            .finish()
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

/// What a fleet-aware mint needs besides the mint itself.
pub(crate) struct Through<'a, T> {
    pub(crate) fleet: &'a Fleet,
    pub(crate) clock: &'a Clock,
    pub(crate) policy: Policy,
    /// How long the exchange lock is held at most (the exchanges' deadlines, with room).
    pub(crate) lock_for: Duration,
    /// Takes a credential another replica stored (a user token adopts its refresh token);
    /// `false` when it is older than what this replica holds (then it is neither used nor
    /// adopted: this replica exchanges, and the store learns the newer one).
    pub(crate) adopt: &'a (dyn Fn(&T) -> bool + Send + Sync),
    /// A credential GitHub refused here: the store may still hold it, it is not used again.
    pub(crate) refused: Option<HeaderValue>,
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
        if !force && let Some(found) = self.usable().await {
            return shared(found);
        }
        let give_up_at = Instant::now() + self.lock_for * 2;
        let lease = loop {
            match call(self.fleet.store.lock(key, self.lock_for)).await {
                Err(()) => return self.mint_and_save(mint, None).await,
                Ok(Some(lease)) => break lease,
                Ok(None) => {}
            }
            // Another replica is exchanging: wait for its result.
            let wait = WAIT_STEP.min(give_up_at.saturating_duration_since(Instant::now()));
            let _ = call(self.fleet.store.changed(key, wait)).await;
            if let Some(found) = self.usable().await
                && !force
            {
                return shared(found);
            }
            if Instant::now() >= give_up_at {
                warn("the store's exchange lock was not released in time: exchanging anyway");
                return self.mint_and_save(mint, None).await;
            }
        };
        // Holding the lock: another replica may have finished just before.
        if let Some(found) = self.usable().await
            && !force
        {
            let _ = call(self.fleet.store.unlock(key, &lease)).await;
            return shared(found);
        }
        self.mint_and_save(mint, Some(lease)).await
    }

    /// Mints, stores the result (before anyone uses it), and releases the lock if held.
    async fn mint_and_save(
        &self,
        mint: impl FnOnce() -> BoxFuture<'static, Result<Fresh<T>, Error>>,
        lease: Option<Lease>,
    ) -> Result<Fresh<T>, Error> {
        let minted = mint().await;
        if let Ok(fresh) = &minted {
            self.save(&fresh.value, fresh.expires_at).await;
        }
        if let Some(lease) = lease {
            let _ = call(self.fleet.store.unlock(&self.fleet.key, &lease)).await;
        }
        minted
    }

    /// Writes a credential to the store, with a TTL that ends before it does.
    pub(crate) async fn save(&self, value: &T, expires_at: Option<SystemTime>) {
        let now = self.clock.github_now();
        let expires_at = expires_at.unwrap_or(now + crate::clock::FURTHEST);
        // Kept while it is worth anything: a user's set as long as its refresh token lives.
        let keep_until = value.keep_until().map_or(expires_at, |k| k.max(expires_at));
        let Ok(life) = keep_until.duration_since(now) else {
            return;
        };
        let ttl = life.saturating_sub(self.policy.min_validity.min(life / 4));
        if ttl.is_zero() {
            return;
        }
        let stored = StoredCredential::new(value.encode(), now, expires_at);
        let _ = call(self.fleet.store.save(&self.fleet.key, &stored, ttl)).await;
    }

    /// The stored credential (and when it was issued) if it is not yet due for refresh; adopted
    /// either way.
    async fn usable(&self) -> Option<(T, SystemTime)> {
        let stored = call(self.fleet.store.load(&self.fleet.key)).await.ok()??;
        let now = self.clock.github_now();
        let life = stored
            .expires_at
            .duration_since(stored.issued_at)
            .unwrap_or_default();
        let due = stored
            .expires_at
            .checked_sub(self.policy.refresh_margin.min(life / 2))
            .unwrap_or(stored.expires_at);
        let value = T::decode(&stored.value)?;
        // A stored credential is normally the fleet's newest: adopt it (a user token refreshes
        // with its refresh token, the only one that still works), unless this replica holds a
        // newer one (a save of its that failed).
        if !(self.adopt)(&value) {
            return None;
        }
        if let Some(refused) = &self.refused
            && value.clone().fresh().is_ok_and(|f| f.header == *refused)
        {
            return None;
        }
        (now < due).then_some((value, stored.issued_at))
    }
}

/// The cache entry of a credential another replica stored, its life counted from its issue.
fn shared<T: Shareable>((value, issued_at): (T, SystemTime)) -> Result<Fresh<T>, Error> {
    let mut fresh = value.fresh()?;
    fresh.issued_at = Some(issued_at);
    Ok(fresh)
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
async fn call<R>(fut: BoxFuture<'_, Result<R, BoxError>>) -> Result<R, ()> {
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
    use super::*;

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
