//! A Redis [`TokenStore`](tower_github_auth::TokenStore) for `tower-github-auth`: the replicas of a fleet share their minted
//! GitHub credentials, so that the fleet mints one installation token per installation and spends
//! each refresh token once.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//!
//! use tower_github_auth::{StoredCredential, TokenStore};
//! use tower_github_auth_redis::testing::RedisServer;
//! use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let redis = RedisServer::start(); // a throwaway redis-server (feature `testing`)
//! let key = EncryptionKey::generate(); // in production: EncryptionKey::from_base64(...)
//! let replica = |key: EncryptionKey| {
//!     RedisTokenStore::builder(redis.url())
//!         .prefix("tgha:")
//!         .encryption_keys([key])
//!         .command_timeout(Duration::from_millis(500))
//!         .build()
//! };
//! let (a, b) = (replica(key.clone()).await?, replica(key).await?);
//!
//! // Replica `a` takes the exchange lock; `b` finds it taken and waits for `a`'s result.
//! let lease = a.lock("installation:ab12", Duration::from_secs(10)).await?.expect("free");
//! assert!(b.lock("installation:ab12", Duration::from_secs(10)).await?.is_none());
//! let waiting = b.changed("installation:ab12", Duration::from_secs(5));
//!
//! let now = SystemTime::now();
//! let token = StoredCredential::new(b"ghs_example".to_vec(), now, now + Duration::from_secs(3600));
//! let publishing = async {
//!     a.save("installation:ab12", &token, Duration::from_secs(3000)).await?;
//!     a.unlock("installation:ab12", &lease).await
//! };
//! let (woken, saved) = tokio::join!(waiting, publishing);
//! woken?;
//! saved?;
//! assert_eq!(b.load("installation:ab12").await?.expect("stored").value, b"ghs_example");
//! # Ok(())
//! # }
//! ```
//!
//! # In Redis
//! A credential `<key>` (the core's keys look like `installation:<64 hex>`, `user:<64 hex>`) is
//! stored under `{prefix}{<key>}` with `SET ... PX <ttl>`, its exchange lock under
//! `{prefix}{<key>}:lock` (`SET ... NX PX <ttl>`, released by a compare-and-delete script for its
//! holder only). The braces make `<key>` the hash tag: a value and its lock share a Redis Cluster
//! slot. The default prefix is [`DEFAULT_PREFIX`].
//!
//! # Encryption
//! With [`encryption_keys`](RedisTokenStoreBuilder::encryption_keys), values are sealed with
//! AES-256-GCM (aws-lc-rs), a random nonce each, the Redis key as associated data (a value copied
//! to another key does not open). The first key encrypts; every key decrypts a value naming it
//! (rotation: `[new, old]`, later `[new]`). **Without keys, the tokens are stored in clear**:
//! configure keys. A value that cannot be decrypted loads as an [`Error`]; the core passes it by
//! and overwrites it with a fresh exchange.
//!
//! # Notifications
//! `save` and `unlock` publish the key on the channel `{prefix}changed` (Redis pub/sub). Each
//! store keeps one subscriber connection (reconnecting by itself); a waiter in
//! [`changed`](tower_github_auth::TokenStore::changed) returns when its key is published or after `within`. While
//! the subscriber connection is down, `changed` polls: it returns after 100 ms (or `within`, if
//! shorter), so the core reads the store again. `changed` never fails.
//!
//! # When Redis is away
//! Every call is bounded by the [command timeout](RedisTokenStoreBuilder::command_timeout)
//! (default 500 ms) and fails with an [`Error`] when Redis does not answer; the core then serves
//! from its in-process cache and exchanges on its own, as without a store. The connection
//! (`redis::aio::ConnectionManager`) re-establishes itself: each call while Redis is away makes
//! one connection attempt, so the first call after Redis is back reconnects. A `lock` that timed
//! out is released behind itself (Redis may still take it once it answers again), so that it
//! does not hold the other replicas off until its TTL.
//!
//! # Features
//! - `testing` (off by default): the [`testing`] module, whose `RedisServer` starts a throwaway
//!   `redis-server` per test (a unix socket in a temp dir, persistence off), for the fleet tests
//!   of your own service. Needs `redis-server` on `PATH`; unix only.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod crypto;
mod error;
mod notify;
mod store;
#[cfg(all(feature = "testing", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "testing", unix))))]
pub mod testing;
mod value;

pub use crypto::EncryptionKey;
pub use error::Error;
pub use store::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PREFIX, RedisTarget, RedisTokenStore,
    RedisTokenStoreBuilder,
};

/// The `redis` crate this store is built on, to name its [`Client`](redis::Client).
pub use redis;

// The README's code blocks are compiled as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
