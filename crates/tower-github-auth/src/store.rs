//! [`TokenStore`]: where a fleet of replicas shares its minted credentials, so that it mints one
//! installation token per installation and spends each refresh token once, as one process would.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;

use crate::clock::Rfc3339;
use crate::error::BoxError;

/// A credential as a [`TokenStore`] keeps it.
///
/// `value` holds a secret (the token, or a user's access and refresh tokens, as JSON): a store
/// must keep it as a secret (the Redis store encrypts it). `Debug` shows it as `***`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCredential {
    /// What the crate needs to use the credential again, as it wrote it (opaque to the store).
    pub value: Vec<u8>,
    /// When it was issued (GitHub's clock).
    pub issued_at: SystemTime,
    /// When the credential's access token (or installation token) expires (GitHub's clock).
    /// This is not when the store may forget it: a user's set is worth keeping after its access
    /// token expired, as long as its refresh token works; [`TokenStore::save`]'s `ttl` says how
    /// long to keep it.
    pub expires_at: SystemTime,
    /// Its place in the history of its key: a save never replaces a higher (or equal) generation
    /// ([`TokenStore::save`]). The crate sets it; a store keeps it beside the value, where its
    /// compare-and-set can read it.
    pub generation: u64,
}

impl StoredCredential {
    /// A credential to store, of generation 0 (the lowest).
    pub fn new(value: Vec<u8>, issued_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            value,
            issued_at,
            expires_at,
            generation: 0,
        }
    }

    /// The same credential, of generation `generation`.
    #[must_use]
    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }
}

/// What a [`TokenStore::save`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Saved {
    /// The credential is stored (nothing was, or an older generation was).
    Stored,
    /// Nothing was written: the store holds this generation or a newer one.
    Superseded,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("value", &"***")
            .field("issued_at", &Rfc3339(self.issued_at))
            .field("expires_at", &Rfc3339(self.expires_at))
            .field("generation", &self.generation)
            .finish()
    }
}

/// Proof of holding a store's exchange lock: a random value only its holder knows, so that only
/// the holder can release it (compare-and-delete).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Lease(String);

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease(***)")
    }
}

impl Lease {
    /// A new random lease (256 bits from the system's generator).
    pub fn random() -> Self {
        let mut bytes = [0_u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A lease a store read back (its own value).
    pub fn from_value(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The lease's value, as a store writes it.
    pub fn value(&self) -> &str {
        &self.0
    }
}

/// Where a fleet shares minted credentials: read and write a credential, and a short-lived lock
/// per credential so that one holder exchanges while the others wait for its result.
///
/// Keys are the crate's: one per credential (an installation token with its narrowing, a user's
/// token), stable across replicas, free of secrets, made of `[a-z0-9:_-]`; a store may prefix
/// them. Every call must be bounded in time (the crate also bounds it, and passes a failing or
/// slow store by).
///
/// The in-process token cache stays in front: a warm request is served from memory exactly as
/// without a store. The store is consulted only when a replica has nothing usable cached, or its
/// credential is due for refresh: it reads the stored credential; if there is none usable, it
/// takes the store's short exchange lock, reads again, exchanges, writes the result, and lets the
/// lock go, while the other replicas wait for the stored result instead of exchanging too.
///
/// **Ordered saves.** Every stored credential carries its [`generation`]: its place in the
/// history of its key (a user's token set counts its rotations; a new sign-in starts above every
/// earlier one). [`TokenStore::save`] is a compare-and-set: it writes only over nothing or over a
/// lower generation, and answers [`Saved::Superseded`] otherwise. So no interleaving of slow
/// replicas, expired locks or retried saves moves the store back to an older set, whose refresh
/// token would be spent.
///
/// **A store that fails** (or answers slowly) is passed by: a replica keeps serving the
/// credential it holds while it is usable and tries the lock again; it exchanges on its own only
/// when that credential would otherwise expire, and then keeps trying to save the result until
/// the store takes it or holds a newer one. The README's "Running a fleet" tells the whole path.
///
/// `tower-github-auth-redis` implements it on Redis (the compare-and-set is a Lua script). A store
/// of your own implements five calls; this one keeps everything in the process (for tests, and
/// to show the contract):
///
/// [`generation`]: StoredCredential::generation
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// use futures_util::FutureExt;
/// use futures_util::future::BoxFuture;
/// use tower_github_auth::{BoxError, Lease, Saved, StoredCredential, TokenStore};
///
/// #[derive(Debug, Default)]
/// struct InMemory {
///     values: Mutex<HashMap<String, StoredCredential>>,
///     locks: Mutex<HashMap<String, Lease>>,
/// }
///
/// impl TokenStore for InMemory {
///     fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
///         let found = self.values.lock().unwrap().get(key).cloned();
///         async move { Ok(found) }.boxed()
///     }
///
///     fn save<'a>(
///         &'a self,
///         key: &'a str,
///         credential: &'a StoredCredential,
///         _ttl: Duration,
///     ) -> BoxFuture<'a, Result<Saved, BoxError>> {
///         // Compare and set, atomically (here: under one mutex).
///         let mut values = self.values.lock().unwrap();
///         let saved = match values.get(key) {
///             Some(stored) if stored.generation >= credential.generation => Saved::Superseded,
///             _ => {
///                 values.insert(key.to_owned(), credential.clone());
///                 Saved::Stored
///             }
///         };
///         async move { Ok(saved) }.boxed()
///     }
///
///     fn lock<'a>(&'a self, key: &'a str, _ttl: Duration) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
///         let mut locks = self.locks.lock().unwrap();
///         let lease = (!locks.contains_key(key)).then(Lease::random);
///         if let Some(lease) = &lease {
///             locks.insert(key.to_owned(), lease.clone());
///         }
///         async move { Ok(lease) }.boxed()
///     }
///
///     fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
///         let mut locks = self.locks.lock().unwrap();
///         if locks.get(key) == Some(lease) {
///             locks.remove(key);
///         }
///         async { Ok(()) }.boxed()
///     }
///
///     fn changed<'a>(&'a self, _key: &'a str, within: Duration) -> BoxFuture<'a, Result<(), BoxError>> {
///         // No notifications here: a bounded poll.
///         async move {
///             tokio::time::sleep(within.min(Duration::from_millis(50))).await;
///             Ok(())
///         }
///         .boxed()
///     }
/// }
/// ```
pub trait TokenStore: fmt::Debug + Send + Sync + 'static {
    /// The credential stored under `key`, if any.
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>>;

    /// Stores `credential` under `key`, to be forgotten after `ttl`, **unless** the store holds
    /// a credential under `key` whose [`generation`](StoredCredential::generation) is equal or
    /// higher: then it writes nothing and answers [`Saved::Superseded`]. The comparison and the
    /// write must be one atomic step (a Lua script on Redis, a transaction on SQL), so that a
    /// late save never puts an older set back.
    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>>;

    /// Takes the exchange lock of `key` for at most `ttl`: `Some(lease)` when this caller now
    /// holds it, `None` when another does. A holder that dies leaves a lock that expires.
    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>>;

    /// Releases the lock of `key` if `lease` still holds it (never another holder's).
    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Waits until the credential under `key` may have changed (a notification), or `within`
    /// has passed (a bounded poll): waiters learn the holder's result without hammering the
    /// store.
    fn changed<'a>(&'a self, key: &'a str, within: Duration)
    -> BoxFuture<'a, Result<(), BoxError>>;
}

/// A shared store is a store: `token_store` takes a store, an `Arc` of one, or an
/// `Arc<dyn TokenStore>`.
impl<S: TokenStore + ?Sized> TokenStore for std::sync::Arc<S> {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
        (**self).load(key)
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>> {
        (**self).save(key, credential, ttl)
    }

    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
        (**self).lock(key, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
        (**self).unlock(key, lease)
    }

    fn changed<'a>(
        &'a self,
        key: &'a str,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        (**self).changed(key, within)
    }
}
