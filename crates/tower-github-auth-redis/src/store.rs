//! [`RedisTokenStore`]: the [`TokenStore`] of a fleet, on Redis; [`RedisTokenStoreBuilder`]
//! configures it.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};
//!
//! # async fn run() -> Result<(), tower_github_auth_redis::Error> {
//! let store = RedisTokenStore::builder("redis://redis.internal:6379/0")
//!     .prefix("tgha:")
//!     .encryption_keys([EncryptionKey::from_base64(&std::env::var("TGHA_KEY").unwrap())?])
//!     .command_timeout(Duration::from_millis(300))
//!     .build()
//!     .await?;
//! assert_eq!(store.value_key("installation:ab12"), "tgha:{installation:ab12}");
//! assert_eq!(store.lock_key("installation:ab12"), "tgha:{installation:ab12}:lock");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use redis::{Script, Value};
use tokio::time::timeout;
use tower_github_auth::{BoxError, Lease, Saved, StoredCredential, TokenStore};

use crate::connection::{Connection, RedisTarget};
use crate::crypto::{EncryptionKey, KeyRing};
use crate::error::Error;
use crate::notify::Notifications;
use crate::value;

/// The prefix of every key (and of the notification channel) unless [`prefix`] says otherwise.
///
/// [`prefix`]: RedisTokenStoreBuilder::prefix
pub const DEFAULT_PREFIX: &str = "tower-github-auth:";
/// The bound on every Redis call unless [`command_timeout`] says otherwise.
///
/// [`command_timeout`]: RedisTokenStoreBuilder::command_timeout
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// The bound on connecting unless [`connect_timeout`] says otherwise.
///
/// [`connect_timeout`]: RedisTokenStoreBuilder::connect_timeout
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Releases a lock only for its holder, and tells the waiters (one round trip, atomically).
/// KEYS[1]: the lock; ARGV[1]: the lease; ARGV[2]: the channel; ARGV[3]: the key to announce.
const UNLOCK: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('del', KEYS[1])
    redis.call('publish', ARGV[2], ARGV[3])
    return 1
end
return 0
";

/// Saves a value unless the stored one is of an equal or higher generation, and tells the
/// waiters (one round trip, atomically). A generation is the 8 bytes after a value's first byte
/// (`0x03` in clear, `0x04` sealed: see `value.rs`), big-endian, compared byte by byte (Lua's
/// numbers are doubles, and its string comparison depends on the locale); a value in an older
/// format counts as lower than any. KEYS[1]: the value; ARGV[1]: the new value; ARGV[2]: its TTL
/// in milliseconds; ARGV[3]: the channel; ARGV[4]: the key to announce. Returns 1 when saved,
/// 0 when superseded. A value that finds exactly its own bytes stored is this save sent again
/// (the cluster client resends a command whose connection broke before its reply): saved.
const SAVE: &str = r"
local old = redis.call('get', KEYS[1])
if old == ARGV[1] then
    return 1
end
if old and string.len(old) >= 9 then
    local kind = string.byte(old, 1)
    if kind == 3 or kind == 4 then
        local newer = false
        for i = 2, 9 do
            local was, now = string.byte(old, i), string.byte(ARGV[1], i)
            if was ~= now then
                newer = now > was
                break
            end
        end
        if not newer then
            return 0
        end
    end
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('publish', ARGV[3], ARGV[4])
return 1
";

/// Configures a [`RedisTokenStore`]; from [`RedisTokenStore::builder`].
#[derive(Debug)]
pub struct RedisTokenStoreBuilder {
    target: RedisTarget,
    prefix: String,
    keys: Vec<EncryptionKey>,
    command_timeout: Duration,
    connect_timeout: Duration,
}

impl RedisTokenStoreBuilder {
    /// The prefix of every Redis key the store writes, and of its notification channel
    /// (default [`DEFAULT_PREFIX`]). Give fleets that share a Redis but not their credentials
    /// different prefixes. It must not contain `{` or `}` (they delimit the hash tag).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Encrypts stored values with AES-256-GCM: the first key encrypts, every key decrypts.
    ///
    /// Without keys, values (the tokens themselves) are stored in clear, readable by anyone who
    /// can read Redis or its backups: configure keys. To rotate, give every replica
    /// `[new, old]`, then, once the values written under `old` have expired (an hour at most
    /// for installation tokens; up to the refresh token's lifetime for user tokens), `[new]`.
    /// A value written with a key the store does not have fails to load (an error the core
    /// passes by, exchanging again and overwriting it).
    pub fn encryption_keys(mut self, keys: impl IntoIterator<Item = EncryptionKey>) -> Self {
        self.keys = keys.into_iter().collect();
        self
    }

    /// The bound on every Redis call (default [`DEFAULT_COMMAND_TIMEOUT`]); a call that takes
    /// longer fails with [`Error::Timeout`], which the core passes by. Keep it short: a request
    /// that misses the in-process cache waits for it.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The bound on each connection attempt (default [`DEFAULT_CONNECT_TIMEOUT`]), of the
    /// command connection and of the notification connection. [`build`](Self::build) does not
    /// wait for it: it waits the command timeout at most.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the store, whether Redis answers or not: Redis is a help, not a dependency.
    /// Fails only when the URL or the configuration is invalid, or when Redis answers but
    /// refuses the credentials. Needs a tokio runtime.
    ///
    /// Waits at most the command timeout, for the first subscription to change notifications
    /// (the command connection is made by the first call). A store built while Redis is away serves like a store whose Redis
    /// went away: each call fails within the command timeout (the core then exchanges on its
    /// own), the connection and the subscription are made by themselves once Redis answers, and
    /// the store is used from then on.
    pub async fn build(self) -> Result<RedisTokenStore, Error> {
        if self.prefix.contains(['{', '}']) {
            return Err(Error::InvalidConfig(
                "the prefix must not contain '{' or '}': they delimit the hash tag the store puts \
                 around each key",
            ));
        }
        if self.command_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "command_timeout and connect_timeout must be longer than zero",
            ));
        }
        let (connection, subscribers) = self
            .target
            .connect(self.connect_timeout, self.command_timeout)?;
        let keys = KeyRing::new(&self.keys);
        if keys.is_none() {
            tracing::warn!(
                "tower-github-auth-redis: no encryption_keys: credentials are stored in clear in \
                 Redis; configure keys"
            );
        }
        let channel = format!("{}changed", self.prefix);
        // Redis is a help, not a dependency: the store is built whether Redis answers or not.
        // Building waits at most the command timeout for the first subscription to change
        // notifications, so that a store built while Redis is up starts with them, and so that
        // Redis refusing the credentials is an error here rather than in every call.
        let notifications = Notifications::start(
            subscribers,
            channel.clone(),
            self.connect_timeout,
            self.command_timeout,
        )
        .await?;
        Ok(RedisTokenStore {
            inner: Arc::new(Inner {
                connection,
                prefix: self.prefix,
                channel,
                keys,
                command_timeout: self.command_timeout,
                unlock: Script::new(UNLOCK),
                save: Script::new(SAVE),
                notifications,
            }),
        })
    }
}

/// A [`TokenStore`] on Redis: the replicas of a fleet share their minted credentials through it.
///
/// Cheap to clone (the clones share one connection). See the [crate docs](crate) for the layout
/// in Redis, encryption, notifications and what happens while Redis is away.
#[derive(Clone)]
pub struct RedisTokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    prefix: String,
    channel: String,
    keys: Option<KeyRing>,
    command_timeout: Duration,
    unlock: Script,
    /// The compare-and-set of [`SAVE`].
    save: Script,
    notifications: Notifications,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let encryption = match &inner.keys {
            Some(keys) => format!("AES-256-GCM, {keys:?}"),
            None => "none (values in clear)".to_owned(),
        };
        f.debug_struct("RedisTokenStore")
            .field("prefix", &inner.prefix)
            .field("encryption", &encryption)
            .field("command_timeout", &inner.command_timeout)
            .field("notifications", &inner.notifications)
            .finish_non_exhaustive()
    }
}

impl RedisTokenStore {
    /// A builder connecting to `redis`: a URL (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://...` with this crate's feature `tls-rustls`, `redis+unix:///path`), a
    /// [`redis::Client`], or a Redis Cluster ([`RedisTarget::cluster`]).
    pub fn builder(redis: impl Into<RedisTarget>) -> RedisTokenStoreBuilder {
        RedisTokenStoreBuilder {
            target: redis.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            keys: Vec::new(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The Redis key the credential `key` is stored under: `{prefix}{<key>}`, the braces making
    /// `key` the hash tag, so that the value and its lock live in one Redis Cluster slot.
    pub fn value_key(&self, key: &str) -> String {
        format!("{}{{{key}}}", self.inner.prefix)
    }

    /// The Redis key of the exchange lock of `key`: `{prefix}{<key>}:lock`.
    pub fn lock_key(&self, key: &str) -> String {
        format!("{}{{{key}}}:lock", self.inner.prefix)
    }

    /// The pub/sub channel `save` and `unlock` announce keys on: `{prefix}changed`.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Whether change notifications arrive over pub/sub right now; while not (the subscriber
    /// connection is reconnecting), [`changed`](TokenStore::changed) polls every 100 ms.
    pub fn notifications_connected(&self) -> bool {
        self.inner.notifications.is_subscribed()
    }

    /// Runs `cmd` within the command timeout.
    async fn query(&self, command: &'static str, cmd: &redis::Cmd) -> Result<Value, Error> {
        let mut connection = self.inner.connection.clone();
        bounded(
            command,
            self.inner.command_timeout,
            cmd.query_async(&mut connection),
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<StoredCredential>, Error> {
        check_key(key)?;
        let redis_key = self.value_key(key);
        match self.query("GET", redis::cmd("GET").arg(&redis_key)).await? {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => {
                value::decode(bytes, self.inner.keys.as_ref(), &redis_key).map(Some)
            }
            _ => Err(Error::UnexpectedReply { command: "GET" }),
        }
    }

    async fn set(
        &self,
        key: &str,
        credential: &StoredCredential,
        ttl: Duration,
    ) -> Result<Saved, Error> {
        check_key(key)?;
        let ttl_ms = millis(ttl);
        if ttl_ms == 0 {
            // It would be forgotten at once.
            return Ok(Saved::Superseded);
        }
        let redis_key = self.value_key(key);
        let bytes = value::encode(credential, self.inner.keys.as_ref(), &redis_key);
        let mut invocation = self.inner.save.key(&redis_key);
        invocation
            .arg(bytes)
            .arg(ttl_ms)
            .arg(&self.inner.channel)
            .arg(key);
        let mut connection = self.inner.connection.clone();
        let reply: Value = bounded(
            "EVALSHA",
            self.inner.command_timeout,
            invocation.invoke_async(&mut connection),
        )
        .await?;
        match reply {
            Value::Int(1) => Ok(Saved::Stored),
            Value::Int(0) => Ok(Saved::Superseded),
            _ => Err(Error::UnexpectedReply { command: "EVALSHA" }),
        }
    }

    async fn acquire(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, Error> {
        check_key(key)?;
        let lease = Lease::random();
        let lock_key = self.lock_key(key);
        let mut set = redis::cmd("SET");
        set.arg(&lock_key)
            .arg(lease.value())
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl).max(1));
        let mut connection = self.inner.connection.clone();
        let call = async {
            let reply: Value = set.query_async(&mut connection).await?;
            // The cluster client sends a command again when its connection broke before the
            // reply: a `SET NX` that had run then finds our own lease, and answering `None`
            // would leave the lock to a lease nobody knows, holding every replica (this one too)
            // off until its TTL. Whether the holder is us, `GET` says (a lease is random: nobody
            // else holds ours). A single node's connection never resends a command it sent.
            if reply == Value::Nil && connection.resends_after_loss() {
                let held: Value = redis::cmd("GET")
                    .arg(&lock_key)
                    .query_async(&mut connection)
                    .await?;
                if held == Value::BulkString(lease.value().as_bytes().to_vec()) {
                    return Ok(Value::Okay);
                }
            }
            Ok(reply)
        };
        let reply = bounded("SET", self.inner.command_timeout, call).await;
        let reply = match reply {
            Err(err) if may_have_run(&err) => {
                self.release_orphan(key, lease);
                return Err(err);
            }
            other => other?,
        };
        match reply {
            Value::Okay => Ok(Some(lease)),
            Value::Nil => Ok(None),
            _ => Err(Error::UnexpectedReply { command: "SET" }),
        }
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), Error> {
        check_key(key)?;
        let mut invocation = self.inner.unlock.key(self.lock_key(key));
        invocation
            .arg(lease.value())
            .arg(&self.inner.channel)
            .arg(key);
        let mut connection = self.inner.connection.clone();
        let reply: Value = bounded(
            "EVALSHA",
            self.inner.command_timeout,
            invocation.invoke_async(&mut connection),
        )
        .await?;
        match reply {
            Value::Int(0 | 1) => Ok(()),
            _ => Err(Error::UnexpectedReply { command: "EVALSHA" }),
        }
    }

    /// After a `SET NX` that timed out or lost its connection: Redis may have run it, or still
    /// run it once it answers again, taking the lock for a lease nobody knows, which would hold
    /// the other replicas off until its TTL. Sends the compare-and-delete for that lease right
    /// behind it (on the same connection, so that Redis runs both in order, unless it was lost).
    /// `EVAL` with the script's text, not `EVALSHA`: one command, whose answer nobody needs to
    /// wait for.
    fn release_orphan(&self, key: &str, lease: Lease) {
        let store = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(UNLOCK)
                .arg(1)
                .arg(store.lock_key(&key))
                .arg(lease.value())
                .arg(&store.inner.channel)
                .arg(&key);
            let _ = store.query("EVAL", &cmd).await;
        });
    }
}

/// `call`, bounded by `limit`.
pub(crate) async fn bounded<T>(
    command: &'static str,
    limit: Duration,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match timeout(limit, call).await {
        Ok(Ok(reply)) => Ok(reply),
        // The connection's own response timeout (the same bound) fired first.
        Ok(Err(source)) if source.is_timeout() => {
            tracing::debug!(command, "tower-github-auth-redis: command timed out");
            Err(Error::Timeout {
                command,
                timeout: limit,
            })
        }
        Ok(Err(source)) => {
            tracing::debug!(command, error = %source, "tower-github-auth-redis: command failed");
            Err(Error::Command { command, source })
        }
        Err(_) => {
            tracing::debug!(command, "tower-github-auth-redis: command timed out");
            Err(Error::Timeout {
                command,
                timeout: limit,
            })
        }
    }
}

/// Whether a command that failed with `err` may have run in Redis all the same: it timed out,
/// or its connection broke after it was sent (not: the connection was refused).
pub(crate) fn may_have_run(err: &Error) -> bool {
    match err {
        Error::Timeout { .. } => true,
        Error::Command { source, .. } => source.is_connection_dropped(),
        _ => false,
    }
}

/// `ttl` in whole milliseconds, as `PX` takes it.
pub(crate) fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

/// A key must be non-empty and free of hash-tag braces (the core's keys always are).
fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.contains(['{', '}']) {
        return Err(Error::InvalidConfig(
            "a store key must be non-empty and free of '{' and '}' (tower-github-auth's keys are)",
        ));
    }
    Ok(())
}

fn boxed(err: Error) -> BoxError {
    Box::new(err)
}

impl TokenStore for RedisTokenStore {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
        async move { self.get(key).await.map_err(boxed) }.boxed()
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>> {
        async move { self.set(key, credential, ttl).await.map_err(boxed) }.boxed()
    }

    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
        async move { self.acquire(key, ttl).await.map_err(boxed) }.boxed()
    }

    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
        async move { self.release(key, lease).await.map_err(boxed) }.boxed()
    }

    fn changed<'a>(
        &'a self,
        key: &'a str,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        async move {
            self.inner.notifications.changed(key, within).await;
            Ok(())
        }
        .boxed()
    }
}

#[cfg(all(test, feature = "testing", unix))]
mod tests {
    use super::*;
    use crate::testing::RedisServer;

    /// A value as `value.rs` lays it out: its kind, then its generation (big-endian), then the
    /// rest; the script reads no further.
    fn laid_out(generation: u64, rest: &[u8]) -> Vec<u8> {
        let mut value = vec![4_u8];
        value.extend_from_slice(&generation.to_be_bytes());
        value.extend_from_slice(rest);
        value
    }

    /// The cluster client sends a command again when the connection broke before its reply
    /// (whether or not Redis ran it): a save that finds exactly its own bytes stored was this
    /// save, and is told so, not superseded by itself. Another value of the same generation is
    /// still refused.
    #[tokio::test]
    async fn a_save_sent_twice_is_stored_not_superseded_by_itself() {
        let redis = RedisServer::start();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let script = Script::new(SAVE);
        let mut save = async |value: &[u8]| -> i64 {
            script
                .key("user:{k}")
                .arg(value)
                .arg(60_000)
                .arg("changes")
                .arg("user:{k}")
                .invoke_async(&mut connection)
                .await
                .unwrap()
        };
        let sealed = laid_out(7, b"sealed once");
        assert_eq!(save(&sealed).await, 1, "the first save stores");
        assert_eq!(
            save(&sealed).await,
            1,
            "its resend finds its own bytes: stored"
        );
        assert_eq!(
            save(&laid_out(7, b"sealed by another")).await,
            0,
            "another value of the same generation is refused"
        );
        assert_eq!(save(&laid_out(6, b"older")).await, 0, "an older one too");
        assert_eq!(
            save(&laid_out(8, b"newer")).await,
            1,
            "a newer one replaces it"
        );
    }
}
