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
//! stored under `{prefix}{<key>}` by a compare-and-set script (`SET ... PX <ttl>` unless the
//! stored value's generation is equal or higher, then `PUBLISH`, in one step), its exchange lock
//! under
//! `{prefix}{<key>}:lock` (`SET ... NX PX <ttl>`, released by a compare-and-delete script for its
//! holder only). The braces make `<key>` the hash tag: a value and its lock share a Redis Cluster
//! slot. The default prefix is [`DEFAULT_PREFIX`].
//!
//! # Redis Cluster
//! [`RedisTarget::cluster`] with a few of the cluster's nodes: the store learns the slot layout
//! from them (redis-rs's `cluster_async` connection) and sends every command, pipeline and script
//! to the primary of its key's slot; each touches one hash tag, so one slot. Notifications use
//! classic pub/sub, which a cluster forwards to every node: `save` and `unlock` publish from the
//! key's node (the unlock script publishes from inside, which a cluster allows for `PUBLISH`, a
//! command without keys), and the store listens on one node at a time (the next of the given
//! nodes when that one fails). Not sharded pub/sub (`SPUBLISH`, Redis 7): one channel for every
//! key would live in one slot, so a script publishing for a key of another slot would be refused
//! (cross-slot), and a channel per key would need a subscription per waited-for key. Credentials
//! change a few times an hour: broadcasting them costs the cluster nothing worth saving.
//!
//! # Features
//! - `tls-rustls`: `rediss://` URLs, with rustls (on aws-lc-rs, as the rest of
//!   `tower-github-auth`), checking the server's certificate against the operating system's root
//!   certificates (where a private CA is installed). It forwards redis-rs's
//!   `tokio-rustls-comp`, so there is no feature of `redis` to enable yourself. Building a store
//!   installs aws-lc-rs as rustls's process-wide crypto provider unless one is installed already
//!   (redis-rs uses that provider; without it, rustls panics when the application's dependencies
//!   enable a second provider, such as `ring`).
//! - `tls-rustls-webpki-roots`: the same with Mozilla's roots compiled in (webpki-roots), for
//!   images without a CA bundle. For a private CA without either, build a
//!   [`redis::Client`] with `Client::build_with_tls` and pass it to
//!   [`RedisTokenStore::builder`].
//! - `webhooks`: `RedisDeliveryStore`, the replay protection of `tower-github-webhooks`
//!   shared by a fleet (`SET NX PX`): eight replicas receiving one delivery run its handler once.
//! - `testing` (off by default): the `testing` module, whose `RedisServer` and `RedisCluster`
//!   start throwaway `redis-server`s per test (persistence off), for the fleet tests of your own
//!   service. Needs `redis-server` on `PATH`; unix only.
//!
//! # Encryption
//! With [`encryption_keys`](RedisTokenStoreBuilder::encryption_keys), values are sealed with
//! AES-256-GCM (aws-lc-rs), a random nonce each, the Redis key as associated data (a value copied
//! to another key does not open). The first key encrypts; every key decrypts a value naming it
//! (rotation: `[new, old]`, later `[new]`). **Without keys, the tokens are stored in clear**:
//! configure keys. A value that cannot be decrypted loads as an [`Error`]; the core passes it by
//! (and its next save replaces it when its generation is lower).
//!
//! A value is `format byte | generation (8 bytes, big-endian, in clear) | ...`: the save script
//! compares generations without the key, and the generation is part of the associated data, so
//! an edited one does not open. Someone who can write to Redis can still delete values, or
//! block saves to a key (a forged higher generation) until it expires: the fleet then runs as
//! without a store. Putting back an older value no longer works: replicas refuse a set older
//! than theirs.
//!
//! # Notifications
//! `save` and `unlock` publish the key on the channel `{prefix}changed` (Redis pub/sub). Each
//! store keeps one subscriber connection (reconnecting by itself); a waiter in
//! [`changed`](tower_github_auth::TokenStore::changed) returns when its key is published or after `within`. While
//! the subscriber connection is down, `changed` polls: it returns after 100 ms (or `within`, if
//! shorter), so the core reads the store again. `changed` never fails.
//!
//! # When Redis is away
//! Redis is a help, not a dependency. [`build`](RedisTokenStoreBuilder::build) succeeds
//! whether Redis answers or not (it fails only on a bad URL or configuration, or when Redis
//! answers refusing the credentials), waiting at most the command timeout. Every call is bounded
//! by the [command timeout](RedisTokenStoreBuilder::command_timeout) (default 500 ms) and fails
//! with an [`Error`] when Redis does not answer; the core then serves from its in-process cache
//! and exchanges on its own, as without a store. The connection (a lazy
//! `redis::aio::ConnectionManager`, or the cluster connection) is made by the first call and made
//! again by itself: while Redis is away each call makes one connection attempt, so the first call
//! once Redis answers (at boot or after an outage) uses it. A `lock` that timed out is released
//! behind itself (Redis may still take it once it answers again), so that it does not hold the
//! other replicas off until its TTL.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod crypto;
mod error;
mod notify;
mod store;
#[cfg(all(feature = "testing", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "testing", unix))))]
pub mod testing;
mod value;
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
mod webhooks;

pub use connection::RedisTarget;
pub use crypto::EncryptionKey;
pub use error::Error;
pub use store::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PREFIX, RedisTokenStore,
    RedisTokenStoreBuilder,
};
#[cfg(feature = "webhooks")]
pub use webhooks::{RedisDeliveryStore, RedisDeliveryStoreBuilder};

/// The `redis` crate this store is built on, to name its [`Client`](redis::Client).
pub use redis;

// The README's code blocks are compiled as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
