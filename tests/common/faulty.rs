//! A `TokenStore` that injects faults around another one (the in-process store, a real Redis):
//! a share of calls fail at random, and the store can go away entirely. The faults are shared by
//! every replica's wrapper, as an outage is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tower_github_auth::{BoxError, Lease, Saved, StoredCredential, TokenStore};

/// The faults in force, shared by the fleet's stores.
#[derive(Debug)]
pub struct Faults {
    /// How many calls in a thousand fail at random.
    pub fail_per_mille: AtomicU32,
    /// Every call fails while set.
    pub away: AtomicBool,
    /// Writes (save, lock, unlock) fail while set; reads work (Redis refusing writes: out of
    /// memory, a replica promoted late, `min-replicas-to-write`).
    pub writes_refused: AtomicBool,
    /// A xorshift state: the random failures are the same on every run of a seed.
    state: AtomicU64,
    /// Calls failed on purpose.
    pub injected: AtomicU64,
}

impl Faults {
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(Self {
            fail_per_mille: AtomicU32::new(0),
            away: AtomicBool::new(false),
            writes_refused: AtomicBool::new(false),
            state: AtomicU64::new(seed | 1),
            injected: AtomicU64::new(0),
        })
    }

    fn fails(&self) -> bool {
        let fail = self.away.load(Ordering::SeqCst) || {
            let mut x = self.state.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.state.store(x, Ordering::Relaxed);
            x % 1000 < u64::from(self.fail_per_mille.load(Ordering::Relaxed))
        };
        if fail {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        fail
    }

    fn write_fails(&self) -> bool {
        self.writes_refused.load(Ordering::SeqCst) || self.fails()
    }
}

/// A replica's store: `inner`, failing as `faults` say.
#[derive(Debug)]
pub struct Faulty {
    pub inner: Arc<dyn TokenStore>,
    pub faults: Arc<Faults>,
}

fn failed<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, BoxError>> {
    async { Err(BoxError::from("injected store failure")) }.boxed()
}

impl TokenStore for Faulty {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
        if self.faults.fails() {
            return failed();
        }
        self.inner.load(key)
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>> {
        if self.faults.write_fails() {
            return failed();
        }
        self.inner.save(key, credential, ttl)
    }

    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
        if self.faults.write_fails() {
            return failed();
        }
        self.inner.lock(key, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
        if self.faults.write_fails() {
            return failed();
        }
        self.inner.unlock(key, lease)
    }

    fn changed<'a>(
        &'a self,
        key: &'a str,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        if self.faults.fails() {
            return failed();
        }
        self.inner.changed(key, within)
    }
}
