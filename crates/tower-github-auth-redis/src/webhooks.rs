//! [`RedisDeliveryStore`]: the [`DeliveryStore`] of `tower-github-webhooks` on Redis, so that a
//! fleet's replicas run a webhook handler once per delivery (feature `webhooks`).
//!
//! ```
//! use std::time::Duration;
//!
//! use tower_github_auth_redis::RedisDeliveryStore;
//! use tower_github_auth_redis::testing::RedisServer;
//! use tower_github_webhooks::{StoreUnavailable, WebhookLayer};
//!
//! # fn main() -> Result<(), tower_github_auth_redis::Error> {
//! let redis = RedisServer::start(); // a throwaway redis-server (feature `testing`)
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # let _guard = rt.enter();
//! let store = RedisDeliveryStore::builder(redis.url())
//!     .prefix("my-app:")
//!     .command_timeout(Duration::from_millis(300))
//!     .build()?;
//! let layer = WebhookLayer::new("the App's webhook secret")
//!     .store(store)
//!     .on_store_unavailable(StoreUnavailable::Refuse);
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # In Redis
//! A delivery is marked under `{prefix}delivery:<64 hex>` (the hash of its delivery id and
//! signature, see [`DeliveryKey`]) by `SET key <random> NX PX <window>`: atomic set-if-absent
//! with a TTL, so that of the replicas receiving one delivery, exactly one marks it and runs the
//! handler. `forget` is `DEL`. Every command is bounded by the command timeout; the layer bounds
//! each call as well, and applies its `StoreUnavailable` policy when Redis fails or is slow.
//!
//! A `SET` that timed out, lost its connection or was dropped in flight (the layer's store
//! timeout is shorter) may still run in Redis: a compare-and-delete for its own random value is
//! sent behind it, so that a mark nobody acted on does not answer
//! GitHub's redelivery as a duplicate. On a Redis Cluster, whose client sends a command again
//! when its connection broke before the reply, a `SET NX` answered "exists" is checked with
//! `GET`: finding its own value, the mark is this call's.

use std::{fmt, time::Duration};

use futures_util::future::BoxFuture;
use redis::Value;
use tower_github_webhooks::{BoxError, DeliveryKey, DeliveryStore};

use crate::{
    connection::{Connection, RedisTarget},
    error::Error,
    store::{
        DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PREFIX, bounded, may_have_run,
        millis,
    },
};

/// The longest `PX` sent: 100 years. Redis refuses an expiry past its clock's range (a window of
/// `Duration::MAX` would fail every mark); a longer window is as good as forever, as in the
/// in-process store.
const LONGEST_PX: u64 = 100 * 365 * 86_400 * 1_000;

/// Deletes a mark only if it holds this call's value. KEYS[1]: the mark; ARGV[1]: the value.
const UNMARK: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
";

/// Configures a [`RedisDeliveryStore`]; from [`RedisDeliveryStore::builder`].
#[derive(Debug)]
pub struct RedisDeliveryStoreBuilder {
    target: RedisTarget,
    prefix: String,
    command_timeout: Duration,
    connect_timeout: Duration,
}

impl RedisDeliveryStoreBuilder {
    /// The prefix of every key (default [`DEFAULT_PREFIX`]): give applications that share a
    /// Redis but not their deliveries different prefixes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on every Redis command (default [`DEFAULT_COMMAND_TIMEOUT`]).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The bound on each connection attempt (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the store without connecting (the first command connects): it builds whether
    /// Redis answers or not, and fails only on an invalid URL or configuration.
    pub fn build(self) -> Result<RedisDeliveryStore, Error> {
        if self.command_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "command_timeout and connect_timeout must be longer than zero",
            ));
        }
        let (connection, _) = self
            .target
            .connect(self.connect_timeout, self.command_timeout)?;
        Ok(RedisDeliveryStore {
            connection,
            prefix: self.prefix,
            command_timeout: self.command_timeout,
        })
    }
}

/// A [`DeliveryStore`] on Redis: the replicas of a fleet share the deliveries they have seen.
/// Cheap to clone (clones share one connection).
#[derive(Clone)]
pub struct RedisDeliveryStore {
    connection: Connection,
    prefix: String,
    command_timeout: Duration,
}

impl fmt::Debug for RedisDeliveryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDeliveryStore")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisDeliveryStore {
    /// A builder connecting to `redis` (a URL, a [`redis::Client`] or a cluster, as for
    /// [`RedisTokenStore::builder`](crate::RedisTokenStore::builder)).
    pub fn builder(redis: impl Into<RedisTarget>) -> RedisDeliveryStoreBuilder {
        RedisDeliveryStoreBuilder {
            target: redis.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The Redis key a delivery is marked under: `{prefix}delivery:<64 hex>`.
    pub fn delivery_key(&self, key: &DeliveryKey) -> String {
        format!("{}delivery:{}", self.prefix, key.to_hex())
    }

    async fn set_if_absent(&self, key: DeliveryKey, ttl: Duration) -> Result<bool, Error> {
        let redis_key = self.delivery_key(&key);
        let mut token = [0u8; 16];
        aws_lc_rs::rand::fill(&mut token).map_err(|_| Error::InvalidConfig("no randomness"))?;
        let token = token.map(|b| format!("{b:02x}")).concat();
        let mut set = redis::cmd("SET");
        set.arg(&redis_key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl).clamp(1, LONGEST_PX));
        let mut connection = self.connection.clone();
        let call = async {
            let reply: Value = set.query_async(&mut connection).await?;
            if reply == Value::Nil && connection.resends_after_loss() {
                let held: Value = redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async(&mut connection)
                    .await?;
                if held == Value::BulkString(token.as_bytes().to_vec()) {
                    return Ok(Value::Okay);
                }
            }
            Ok(reply)
        };
        // Dropped before its outcome is known (the layer's own store timeout, or the request
        // went away), the `SET` may still run: the guard then deletes what it may have set.
        let mut orphan = Orphan {
            store: self,
            mark: Some((redis_key.clone(), token.clone())),
        };
        let outcome = bounded("SET", self.command_timeout, call).await;
        orphan.mark = None;
        match outcome {
            Ok(Value::Okay) => Ok(true),
            Ok(Value::Nil) => Ok(false),
            Ok(_) => Err(Error::UnexpectedReply { command: "SET" }),
            Err(err) => {
                if may_have_run(&err) {
                    self.unmark_orphan(redis_key, token);
                }
                Err(err)
            }
        }
    }

    /// Deletes the mark `token` may have set, behind a `SET` whose outcome is unknown (in the
    /// background, when there is a runtime to do it on).
    fn unmark_orphan(&self, redis_key: String, token: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(UNMARK).arg(1).arg(redis_key).arg(token);
            let mut connection = store.connection.clone();
            let _ = bounded(
                "EVAL",
                store.command_timeout,
                cmd.query_async::<Value>(&mut connection),
            )
            .await;
        });
    }

    async fn delete(&self, key: DeliveryKey) -> Result<(), Error> {
        let mut connection = self.connection.clone();
        let mut del = redis::cmd("DEL");
        del.arg(self.delivery_key(&key));
        let _: Value = bounded(
            "DEL",
            self.command_timeout,
            del.query_async(&mut connection),
        )
        .await?;
        Ok(())
    }
}

/// A `SET` in flight: dropped before its outcome is known, it deletes the mark it may have set.
struct Orphan<'a> {
    store: &'a RedisDeliveryStore,
    mark: Option<(String, String)>,
}

impl Drop for Orphan<'_> {
    fn drop(&mut self) {
        if let Some((redis_key, token)) = self.mark.take() {
            self.store.unmark_orphan(redis_key, token);
        }
    }
}

impl DeliveryStore for RedisDeliveryStore {
    fn mark(&self, key: DeliveryKey, ttl: Duration) -> BoxFuture<'_, Result<bool, BoxError>> {
        Box::pin(async move { self.set_if_absent(key, ttl).await.map_err(Into::into) })
    }

    fn forget(&self, key: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move { self.delete(key).await.map_err(Into::into) })
    }
}
