//! A `TokenStore` in one process, for fleet tests: what several replicas would share, with
//! counters, and switches to make it fail or stall.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower_github_auth::{BoxError, Lease, Saved, StoredCredential, TokenStore};

/// The shared store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: Mutex<HashMap<String, (StoredCredential, Instant)>>,
    locks: Mutex<HashMap<String, (Lease, Instant)>>,
    changed: Notify,
    /// Every call fails while set (a store that is down).
    pub down: AtomicBool,
    /// Saves and unlocks are lost while set (a lock holder that dies after taking the lock).
    pub holder_dies: AtomicBool,
    /// Saves, and locks granted.
    pub saves: AtomicU64,
    pub locks_granted: AtomicU64,
    /// Saves refused because the store held an equal or newer generation.
    pub superseded: AtomicU64,
    /// Every value saved, in order (to check the order rotated tokens reached the store).
    pub saved: Mutex<Vec<Vec<u8>>>,
}

impl MemoryStore {
    /// The value stored now (the tests use one key at a time).
    pub fn newest(&self) -> Option<Vec<u8>> {
        let now = Instant::now();
        let values = self.values.lock().unwrap();
        let mut live = values.values().filter(|(_, until)| now < *until);
        let found = live.next().map(|(value, _)| value.value.clone());
        assert!(live.next().is_none(), "one key at a time");
        found
    }

    /// Forgets every value (Redis restarted without persistence, or a key evicted).
    pub fn forget(&self) {
        self.values.lock().unwrap().clear();
    }

    fn failing<T: Send + 'static>(&self) -> Option<BoxFuture<'static, Result<T, BoxError>>> {
        self.down
            .load(Ordering::SeqCst)
            .then(|| async { Err(BoxError::from("the store is down")) }.boxed())
    }
}

impl TokenStore for MemoryStore {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
        if let Some(failed) = self.failing() {
            return failed;
        }
        let now = Instant::now();
        let found = self
            .values
            .lock()
            .unwrap()
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(value, _)| value.clone());
        async move { Ok(found) }.boxed()
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>> {
        if let Some(failed) = self.failing() {
            return failed;
        }
        if self.holder_dies.load(Ordering::SeqCst) {
            return async { Ok(Saved::Stored) }.boxed();
        }
        // Compare and set, under one lock: never over an equal or newer generation.
        let now = Instant::now();
        let mut values = self.values.lock().unwrap();
        if values.get(key).is_some_and(|(stored, until)| {
            now < *until && stored.generation >= credential.generation
        }) {
            self.superseded.fetch_add(1, Ordering::SeqCst);
            return async { Ok(Saved::Superseded) }.boxed();
        }
        let until = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        values.insert(key.to_owned(), (credential.clone(), until));
        drop(values);
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.saved.lock().unwrap().push(credential.value.clone());
        self.changed.notify_waiters();
        async { Ok(Saved::Stored) }.boxed()
    }

    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
        if let Some(failed) = self.failing() {
            return failed;
        }
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap();
        let free = locks.get(key).is_none_or(|(_, until)| now >= *until);
        let lease = free.then(Lease::random);
        if let Some(lease) = &lease {
            let until = now
                .checked_add(ttl)
                .unwrap_or(now + Duration::from_secs(86_400 * 365));
            locks.insert(key.to_owned(), (lease.clone(), until));
            self.locks_granted.fetch_add(1, Ordering::SeqCst);
        }
        async move { Ok(lease) }.boxed()
    }

    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
        if let Some(failed) = self.failing() {
            return failed;
        }
        if self.holder_dies.load(Ordering::SeqCst) {
            return async { Ok(()) }.boxed();
        }
        let mut locks = self.locks.lock().unwrap();
        if locks.get(key).is_some_and(|(held, _)| held == lease) {
            locks.remove(key);
        }
        self.changed.notify_waiters();
        async { Ok(()) }.boxed()
    }

    fn changed<'a>(
        &'a self,
        _key: &'a str,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        if let Some(failed) = self.failing() {
            return failed;
        }
        async move {
            let _ = tokio::time::timeout(within, self.changed.notified()).await;
            Ok(())
        }
        .boxed()
    }
}
