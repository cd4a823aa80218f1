//! [`TokenCache`]: the App's installation tokens, one [`Slot`] per installation and narrowing.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;

use crate::cache::{Policy, Slot};
use crate::clock::Clock;
use crate::observe::{CacheStats, Counters};
use crate::rate_limit::RateLimits;
use crate::strategies::app::token::{Permissions, TokenFacts};

/// Where, and as which App, installation tokens are minted: one per App and API base, shared by
/// every key of that App (a key holds a pointer to it, not copies of its strings).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyScope {
    /// The API base: the same installation id on two hosts is two installations.
    pub(crate) api_base: String,
    /// The App (its id or client id, as configured).
    pub(crate) issuer: String,
    /// The App's key ([`JwtSigner::key_id`](crate::JwtSigner::key_id), a private key's
    /// [fingerprint](crate::PrivateKey::fingerprint)): two Apps with one id but different keys
    /// (tenants sharing a cache) never share a token.
    pub(crate) key: String,
    /// A hash of the three, computed once: a look-up hashes eight bytes, not the strings.
    digest: u64,
}

impl KeyScope {
    pub(crate) fn new(api_base: String, issuer: String, key: String) -> Self {
        // Stable within the process (no random seed): only ever compared with itself.
        let digest =
            BuildHasherDefault::<DefaultHasher>::default().hash_one((&api_base, &issuer, &key));
        Self {
            api_base,
            issuer,
            key,
            digest,
        }
    }
}

impl Hash for KeyScope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal scopes have equal strings, hence equal digests.
        state.write_u64(self.digest);
    }
}

/// The installation of a key: its id, or how it is found (`repo:octo/one`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyTarget {
    /// A known installation id: no allocation.
    Id(u64),
    /// Found through what it is installed on, as [`InstallationTarget`]'s `Display` writes it.
    ///
    /// [`InstallationTarget`]: crate::InstallationTarget
    Found(Box<str>),
}

/// What makes one installation token different from another: 48 bytes, and no allocation for an
/// installation named by id and not narrowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct InstallationKey {
    /// API base, App and key.
    pub(crate) scope: Arc<KeyScope>,
    /// The installation, or how it is found.
    pub(crate) target: KeyTarget,
    /// The narrowing, canonical (sorted) so that equal requests share a token; `None`: none.
    pub(crate) narrowing: Option<Box<str>>,
}

/// Distinct permission sets kept shared at most: an App's installations have a handful (the
/// App's permissions, and those its narrowings ask for); past this many in use by tokens, a set
/// is kept unshared. Sets no token uses are let go when the table is full.
const SHARED_PERMISSION_SETS: usize = 256;

/// The shared, bounded cache of installation tokens.
///
/// Every `AppAuth` has one (shared by all the `AppInstallationAuth` it creates); give several apps
/// the same one with [`AppAuth::token_cache`](crate::AppAuth::token_cache). It holds at most
/// `capacity` keys (default [`TokenCache::DEFAULT_CAPACITY`]); past that, the least recently used
/// key is dropped. A stack that still holds a dropped slot keeps working with it.
///
/// Memory grows with the installations used, not with the capacity: a cached installation
/// (named by id, its token as GitHub answers it without narrowing) costs about 540 bytes of heap
/// with a classic 40-character token, so 100,000 of them about 52 MiB; GitHub's stateless tokens
/// (about 520 characters) make it about 1,010 bytes, 100,000 in about 97 MiB (the token is kept
/// once, in its `Authorization` header). A token narrowed to repositories also keeps their names
/// (`owner/name`, for [`InstallationToken::repositories`](crate::InstallationToken)). Identical
/// permission sets are kept once for all the installations that have them.
///
/// ```
/// use std::num::NonZeroUsize;
/// use tower_github_auth::{AppAuth, AppId, PrivateKey, TokenCache};
///
/// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
/// // One cache for two Apps, bounded to 1,000 tokens.
/// let cache = TokenCache::new(NonZeroUsize::new(1_000).unwrap());
/// let first = AppAuth::new(AppId(1), key.clone()).token_cache(cache.clone());
/// let second = AppAuth::new(AppId(2), key).token_cache(cache.clone());
/// assert_eq!(first.token_cache_ref().capacity(), 1_000);
/// assert!(second.token_cache_ref().is_empty());
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Mutex<LruCache<InstallationKey, Arc<Slot<TokenFacts>>>>,
    /// Each distinct permission set, once.
    permissions: Mutex<HashSet<Arc<Permissions>>>,
    /// Hits, misses, refreshes and evictions of every slot.
    counters: Arc<Counters>,
    /// Each installation's rate-limit record, shared by all of its tokens (narrowed or not, and
    /// across refreshes): GitHub counts per installation. Bounded like the slots.
    rate_limits: Mutex<LruCache<(Arc<KeyScope>, KeyTarget), RateLimits>>,
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
    /// Default bound: 100,000 distinct installation tokens (installation × narrowing).
    ///
    /// Enough for an App whose 100,000 installations are all active within an hour, the life of
    /// an installation token. A smaller bound drops tokens that are still valid when more
    /// installations than that are used within the hour; each one used again costs one more
    /// exchange with GitHub (and, if they are used in turn, every request becomes one). A larger
    /// bound never costs more than the installations actually used: memory is taken as
    /// installations are cached (about 540 bytes each), never up front.
    pub const DEFAULT_CAPACITY: NonZeroUsize = NonZeroUsize::new(100_000).expect("not zero");

    /// A cache holding at most `capacity` tokens. Nothing is allocated up front for them.
    pub fn new(capacity: NonZeroUsize) -> Self {
        // `LruCache::new` would size its table for `capacity` at once (about 2 MiB for 100,000):
        // an unbounded cache given its bound grows as it fills.
        let mut slots = LruCache::unbounded();
        slots.resize(capacity);
        let mut rate_limits = LruCache::unbounded();
        rate_limits.resize(capacity);
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::new(slots),
                permissions: Mutex::new(HashSet::new()),
                counters: Arc::new(Counters::new("installation")),
                rate_limits: Mutex::new(rate_limits),
            }),
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

    /// What it has done since it was made: tokens held, warm hits, misses (requests that waited
    /// on a mint or were told to back off), refreshes ahead of expiry, and evictions.
    ///
    /// ```
    /// use tower_github_auth::TokenCache;
    ///
    /// let stats = TokenCache::default().stats();
    /// assert_eq!((stats.entries, stats.hits, stats.misses), (0, 0, 0));
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.stats(self.len() as u64)
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<InstallationKey, Arc<Slot<TokenFacts>>>> {
        self.inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot for a key, created on first use.
    pub(crate) fn slot(
        &self,
        key: InstallationKey,
        policy: Policy,
        clock: &Arc<Clock>,
    ) -> Arc<Slot<TokenFacts>> {
        let mut slots = self.lock();
        if let Some(slot) = slots.get(&key) {
            return Arc::clone(slot);
        }
        let counters = &self.inner.counters;
        let slot = Arc::new(Slot::new(policy, Arc::clone(clock), Arc::clone(counters)));
        if slots.push(key, Arc::clone(&slot)).is_some() {
            // `push` gives back the least recently used entry it dropped (the key is new).
            counters.evicted();
        }
        counters.entries(slots.len());
        slot
    }

    /// `permissions`, shared with every other token of this cache that has the same.
    /// The rate-limit record of the installation `key` names (whatever its narrowing).
    pub(crate) fn rate_limits(&self, key: &InstallationKey) -> RateLimits {
        let mut records = self
            .inner
            .rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        records
            .get_or_insert(
                (Arc::clone(&key.scope), key.target.clone()),
                RateLimits::new,
            )
            .clone()
    }

    pub(crate) fn share_permissions(&self, permissions: Permissions) -> Arc<Permissions> {
        let mut sets = self
            .inner
            .permissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = sets.get(&permissions) {
            return Arc::clone(shared);
        }
        let permissions = Arc::new(permissions);
        if sets.len() == SHARED_PERMISSION_SETS {
            // Full: let go of the sets no token uses any more (held by this table alone), so
            // the bound keeps what is in use, not the first sets ever seen.
            sets.retain(|set| Arc::strong_count(set) > 1);
        }
        if sets.len() < SHARED_PERMISSION_SETS {
            sets.insert(Arc::clone(&permissions));
        }
        permissions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(api_base: &str) -> Arc<KeyScope> {
        Arc::new(KeyScope::new(api_base.into(), "1".into(), "k".into()))
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::new(NonZeroUsize::new(2).unwrap());
        let clock = Arc::new(Clock::default());
        for i in 0..5 {
            let key = InstallationKey {
                scope: scope("https://api.github.com"),
                target: KeyTarget::Id(i),
                narrowing: None,
            };
            cache.slot(key, Policy::default(), &clock);
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.capacity(), 2);
    }

    #[test]
    fn keys_are_equal_by_content_not_by_pointer() {
        let cache = TokenCache::default();
        let clock = Arc::new(Clock::default());
        let key = |api_base: &str, target: KeyTarget, narrowing: Option<&str>| InstallationKey {
            scope: scope(api_base),
            target,
            narrowing: narrowing.map(Into::into),
        };
        let github = "https://api.github.com";
        let first = cache.slot(
            key(github, KeyTarget::Id(7), None),
            Policy::default(),
            &clock,
        );
        // Another App value with the same base, issuer and key: the same slot.
        let again = cache.slot(
            key(github, KeyTarget::Id(7), None),
            Policy::default(),
            &clock,
        );
        assert!(Arc::ptr_eq(&first, &again));
        for other in [
            key("https://ghe.example/api/v3", KeyTarget::Id(7), None),
            key(github, KeyTarget::Id(8), None),
            key(github, KeyTarget::Found("org:octo".into()), None),
            key(
                github,
                KeyTarget::Id(7),
                Some(r#"{"repositories":["one"]}"#),
            ),
        ] {
            let slot = cache.slot(other, Policy::default(), &clock);
            assert!(!Arc::ptr_eq(&first, &slot));
        }
        assert_eq!(cache.len(), 5);
    }

    #[test]
    fn equal_permission_sets_are_kept_once() {
        let cache = TokenCache::default();
        let set = |level: &str| Permissions::from([("contents".to_owned(), level.to_owned())]);
        let a = cache.share_permissions(set("read"));
        let b = cache.share_permissions(set("read"));
        let c = cache.share_permissions(set("write"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, set("write"));
        // Past the bound, with every kept set still in use, sets are still answered, only no
        // longer shared.
        let in_use: Vec<_> = (0..SHARED_PERMISSION_SETS)
            .map(|n| cache.share_permissions(set(&n.to_string())))
            .collect();
        let late = cache.share_permissions(set("late"));
        assert_eq!(*late, set("late"));
        assert!(!Arc::ptr_eq(&late, &cache.share_permissions(set("late"))));
        drop(in_use);
    }

    #[test]
    fn sets_no_token_uses_make_room() {
        let cache = TokenCache::default();
        let set = |n: usize| Permissions::from([(format!("p{n}"), "read".to_owned())]);
        // Tokens come and go: every set below is used by none once the loop is over.
        for n in 0..SHARED_PERMISSION_SETS {
            drop(cache.share_permissions(set(n)));
        }
        let a = cache.share_permissions(set(1_000));
        let b = cache.share_permissions(set(1_000));
        assert!(
            Arc::ptr_eq(&a, &b),
            "the table is full of sets no token uses"
        );
        assert_eq!(*a, set(1_000));
    }
}
