//! [`TokenCache`]: the App's installation tokens, one [`Slot`] per installation and narrowing.
//!
//! ```
//! use std::num::NonZeroUsize;
//! use tower_github_auth::{AppAuth, AppId, PrivateKey, TokenCache};
//!
//! let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
//! // One cache for two Apps, bounded to 1,000 tokens.
//! let cache = TokenCache::new(NonZeroUsize::new(1_000).unwrap());
//! let first = AppAuth::new(AppId(1), key.clone()).token_cache(cache.clone());
//! let second = AppAuth::new(AppId(2), key).token_cache(cache.clone());
//! assert_eq!(first.token_cache_ref().capacity(), 1_000);
//! assert!(second.token_cache_ref().is_empty());
//! # Ok::<(), tower_github_auth::Error>(())
//! ```

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;

use crate::cache::{Policy, Slot};
use crate::clock::Clock;
use crate::strategies::app::token::InstallationToken;

/// What makes one installation token different from another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct InstallationKey {
    /// The API base: the same installation id on two hosts is two installations.
    pub(crate) api_base: String,
    /// The App (its id or client id, as configured).
    pub(crate) issuer: String,
    /// The App's key ([`JwtSigner::key_id`](crate::JwtSigner::key_id), a private key's
    /// [fingerprint](crate::PrivateKey::fingerprint)): two Apps with one id but different keys
    /// (tenants sharing a cache) never share a token.
    pub(crate) key: String,
    /// The installation, or how it is found (`id:42`, `repo:octo/one`, ...).
    pub(crate) installation: String,
    /// The narrowing, canonical (sorted) so that equal requests share a token.
    pub(crate) narrowing: String,
}

/// The shared, bounded cache of installation tokens.
///
/// Every `AppAuth` has one (shared by all the `AppInstallationAuth` it creates); give several apps
/// the same one with [`AppAuth::token_cache`](crate::AppAuth::token_cache). It holds at most
/// `capacity` keys (default [`TokenCache::DEFAULT_CAPACITY`]); past that, the least recently used
/// key is dropped. A stack that still holds a dropped slot keeps working with it.
#[derive(Clone)]
pub struct TokenCache {
    slots: Arc<Mutex<LruCache<InstallationKey, Arc<Slot<InstallationToken>>>>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// Default bound: 10,000 distinct installation tokens (installation × narrowing).
    pub const DEFAULT_CAPACITY: NonZeroUsize = NonZeroUsize::new(10_000).expect("not zero");

    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            slots: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }

    /// How many tokens (or exchanges in flight) it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bound.
    pub fn capacity(&self) -> usize {
        self.lock().cap().get()
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<InstallationKey, Arc<Slot<InstallationToken>>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot for a key, created on first use.
    pub(crate) fn slot(
        &self,
        key: InstallationKey,
        policy: Policy,
        clock: &Arc<Clock>,
    ) -> Arc<Slot<InstallationToken>> {
        let mut slots = self.lock();
        Arc::clone(slots.get_or_insert(key, || Arc::new(Slot::new(policy, Arc::clone(clock)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::new(NonZeroUsize::new(2).unwrap());
        let clock = Arc::new(Clock::default());
        for i in 0..5 {
            let key = InstallationKey {
                api_base: "https://api.github.com".into(),
                issuer: "1".into(),
                key: "k".into(),
                installation: format!("id:{i}"),
                narrowing: String::new(),
            };
            cache.slot(key, Policy::default(), &clock);
        }
        assert_eq!(cache.len(), 2);
    }
}
