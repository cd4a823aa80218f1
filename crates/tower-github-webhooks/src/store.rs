//! Where seen deliveries are remembered: [`DeliveryStore`], and its in-process
//! [`MemoryDeliveryStore`].

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::BoxFuture;
use lru::LruCache;
use tokio::time::Instant;

use crate::delivery::DeliveryKey;

/// The error a store returns (the layer logs it and applies its [`StoreUnavailable`] policy).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Remembers the deliveries seen within a window, shared by every replica that should run a
/// handler once per delivery (an in-process [`MemoryDeliveryStore`] by default; a Redis one in
/// `tower-github-auth-redis`, feature `webhooks`).
///
/// The layer bounds every call with its store timeout, so an implementation need not; it should
/// still not hold a lock across a network call. A `mark` call may be dropped before it completes
/// (that timeout, or the request went away): an implementation whose mark may still land after
/// that must undo it (`RedisDeliveryStore` sends a compare-and-delete behind it), or GitHub's
/// redelivery of a delivery whose handler never ran is answered as a duplicate.
pub trait DeliveryStore: Send + Sync + 'static {
    /// Marks `key` seen for `ttl` unless it is already: `true` when this call marked it (run
    /// the handler), `false` when it was seen already (do not). Must be atomic across every user
    /// of the store: of several concurrent calls with one key, exactly one returns `true`.
    fn mark(&self, key: DeliveryKey, ttl: Duration) -> BoxFuture<'_, Result<bool, BoxError>>;

    /// Forgets `key` (the handler failed: the next delivery with this key runs it again).
    fn forget(&self, key: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>>;
}

impl<T: DeliveryStore + ?Sized> DeliveryStore for Arc<T> {
    fn mark(&self, key: DeliveryKey, ttl: Duration) -> BoxFuture<'_, Result<bool, BoxError>> {
        (**self).mark(key, ttl)
    }

    fn forget(&self, key: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>> {
        (**self).forget(key)
    }
}

/// What the layer does with a verified delivery when the store fails or does not answer within
/// its timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUnavailable {
    /// Run the handler anyway (the default): a delivery may then run twice (at least once), but
    /// none is lost while the store is away.
    #[default]
    ProcessAnyway,
    /// Answer 503 without running the handler, so that the delivery fails and is delivered again
    /// (a manual or scripted redelivery for GitHub.com): at most once while the store is away.
    Refuse,
}

/// The default number of deliveries [`MemoryDeliveryStore`] remembers.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The in-process [`DeliveryStore`]: at most `capacity` keys (the least recently marked go
/// first when it is full), each forgotten after its `ttl`. Lost on restart and not shared by
/// replicas: for a fleet, use a shared store.
///
/// ```
/// use std::time::Duration;
/// use tower_github_webhooks::{DeliveryKey, DeliveryStore, MemoryDeliveryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let store = MemoryDeliveryStore::new(1000);
/// let key = DeliveryKey::new("72d3162e-cc78-11e3-81ab-4c9367dc0958", b"sha256=...");
/// assert!(store.mark(key, Duration::from_secs(60)).await?);
/// assert!(!store.mark(key, Duration::from_secs(60)).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryDeliveryStore {
    seen: Mutex<LruCache<DeliveryKey, Instant>>,
}

impl Default for MemoryDeliveryStore {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryDeliveryStore {
    /// A store remembering at most `capacity` deliveries (at least one). At 100 000 (the
    /// default) it takes about 10 MB.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn mark_now(&self, key: DeliveryKey, ttl: Duration) -> bool {
        let now = Instant::now();
        // A window too large for the clock is as good as forever.
        let until = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.peek(&key).is_some_and(|expires| *expires > now) {
            return false;
        }
        seen.put(key, until);
        true
    }
}

impl DeliveryStore for MemoryDeliveryStore {
    fn mark(&self, key: DeliveryKey, ttl: Duration) -> BoxFuture<'_, Result<bool, BoxError>> {
        let marked = self.mark_now(key, ttl);
        Box::pin(async move { Ok(marked) })
    }

    fn forget(&self, key: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop(&key);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DeliveryKey {
        DeliveryKey::new(&n.to_string(), b"sha256=")
    }

    #[tokio::test(start_paused = true)]
    async fn marks_once_until_the_window_ends() {
        let store = MemoryDeliveryStore::default();
        let ttl = Duration::from_secs(60);
        assert!(store.mark(key(1), ttl).await.unwrap());
        assert!(!store.mark(key(1), ttl).await.unwrap());
        assert!(store.mark(key(2), ttl).await.unwrap());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!store.mark(key(1), ttl).await.unwrap());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(store.mark(key(1), ttl).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn forget_lets_the_next_mark_through() {
        let store = MemoryDeliveryStore::default();
        let ttl = Duration::from_secs(60);
        assert!(store.mark(key(1), ttl).await.unwrap());
        store.forget(key(1)).await.unwrap();
        assert!(store.mark(key(1), ttl).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_bounds_it_oldest_first() {
        let store = MemoryDeliveryStore::new(2);
        let ttl = Duration::from_secs(60);
        assert!(store.mark(key(1), ttl).await.unwrap());
        assert!(store.mark(key(2), ttl).await.unwrap());
        assert!(store.mark(key(3), ttl).await.unwrap());
        // 1 went to make room; 2 and 3 are remembered.
        assert!(!store.mark(key(3), ttl).await.unwrap());
        assert!(!store.mark(key(2), ttl).await.unwrap());
        assert!(store.mark(key(1), ttl).await.unwrap());
        assert_eq!(store.seen.lock().unwrap().len(), 2);
        // A window beyond the clock's range is forever, not a panic.
        assert!(store.mark(key(9), Duration::MAX).await.unwrap());
    }
}
