//! Where the store connects ([`RedisTarget`]: one Redis, or a Redis Cluster) and the one
//! connection every store command goes through ([`Connection`]: a `ConnectionManager` to one
//! node, or a cluster connection routing each command to its key's slot).
//!
//! Both connect lazily: nothing is sent while the store is built, the first command connects,
//! and a connection that broke (or never came up) is made again by a later command. So a store
//! built while Redis is down works as soon as Redis answers.
//!
//! ```
//! use tower_github_auth_redis::RedisTarget;
//!
//! // A password in a URL never shows.
//! let cluster = RedisTarget::cluster([
//!     "redis://:hunter2@10.0.0.1:6379",
//!     "redis://:hunter2@10.0.0.2:6379",
//! ]);
//! assert_eq!(format!("{cluster:?}"), "RedisTarget(cluster of 2 nodes: ***)");
//! ```

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::Error;

/// Where a [`RedisTokenStore`](crate::RedisTokenStore) connects: a URL (`redis://`,
/// `rediss://`, `redis+unix://`), a [`redis::Client`] of your own, or the nodes of a Redis
/// Cluster ([`RedisTarget::cluster`]).
///
/// The URLs may hold a password: `Debug` does not show them.
pub struct RedisTarget(Target);

enum Target {
    Url(SecretString),
    // Boxed: with TLS, a client holds its certificates' configuration.
    Client(Box<redis::Client>),
    Cluster(Vec<SecretString>),
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Target::Url(_) => f.write_str("RedisTarget(url: ***)"),
            Target::Client(_) => f.write_str("RedisTarget(client)"),
            Target::Cluster(nodes) => {
                write!(f, "RedisTarget(cluster of {} nodes: ***)", nodes.len())
            }
        }
    }
}

impl From<&str> for RedisTarget {
    fn from(url: &str) -> Self {
        Self(Target::Url(SecretString::from(url)))
    }
}

impl From<String> for RedisTarget {
    fn from(url: String) -> Self {
        Self(Target::Url(SecretString::from(url)))
    }
}

impl From<&String> for RedisTarget {
    fn from(url: &String) -> Self {
        Self::from(url.as_str())
    }
}

impl From<SecretString> for RedisTarget {
    fn from(url: SecretString) -> Self {
        Self(Target::Url(url))
    }
}

impl From<redis::Client> for RedisTarget {
    fn from(client: redis::Client) -> Self {
        Self(Target::Client(Box::new(client)))
    }
}

impl RedisTarget {
    /// A Redis Cluster, reached through any of `nodes` (`redis://[user:password@]host:port` or
    /// `rediss://...`; give a few, in case one is down): the store learns the slot layout from
    /// them and sends each command to the primary holding its key's slot.
    ///
    /// Change notifications (`PUBLISH`, which a cluster forwards to every node) are received on
    /// one of these nodes at a time: the next one when it fails.
    ///
    /// ```no_run
    /// use tower_github_auth_redis::{RedisTarget, RedisTokenStore};
    ///
    /// # async fn run() -> Result<(), tower_github_auth_redis::Error> {
    /// let store = RedisTokenStore::builder(RedisTarget::cluster([
    ///     "redis://redis-0.internal:6379",
    ///     "redis://redis-1.internal:6379",
    ///     "redis://redis-2.internal:6379",
    /// ]))
    /// .build()
    /// .await?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster<I>(nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<SecretString>,
    {
        Self(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    /// The command connection (not connected yet: it connects on first use) and the clients
    /// the notification listener subscribes with, in turn. Fails on a URL that does not parse
    /// or a cluster configuration redis-rs refuses; sends nothing.
    pub(crate) fn connect(
        self,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<(Connection, Vec<redis::Client>), Error> {
        #[cfg(feature = "tls-rustls")]
        ensure_crypto_provider();
        match self.0 {
            Target::Client(client) => single(*client, connect_timeout, command_timeout),
            Target::Url(url) => single(open(&url)?, connect_timeout, command_timeout),
            Target::Cluster(urls) => {
                if urls.is_empty() {
                    return Err(Error::InvalidConfig(
                        "RedisTarget::cluster needs at least one node URL",
                    ));
                }
                let clients = urls.iter().map(open).collect::<Result<Vec<_>, _>>()?;
                let nodes = clients.iter().map(|c| c.get_connection_info().clone());
                let client =
                    ClusterClientBuilder::new(nodes)
                        .build()
                        .map_err(|err| Error::InvalidUrl {
                            detail: err.to_string(),
                        })?;
                // Each attempt bounded like a single node's; the cluster connection's own
                // overall bound (retries on MOVED, reconnections) is the command timeout, which
                // the store enforces around every call as well.
                let config = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout)
                    .set_response_timeout(command_timeout);
                let connection = client.get_pending_async_connection_with_config(config);
                Ok((Connection::Cluster(connection), clients))
            }
        }
    }
}

/// redis-rs builds its TLS configuration with rustls's process-wide crypto provider, which
/// rustls picks from its features only when exactly one provider is compiled in: in an
/// application whose other dependencies enable rustls's `ring` as well, every TLS connection
/// would panic (in the caller's request, and in the notification listener, which would then be
/// gone for good). Installs aws-lc-rs, this crate's provider, unless the application installed
/// one.
#[cfg(feature = "tls-rustls")]
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one in between: either way, one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

fn open(url: &SecretString) -> Result<redis::Client, Error> {
    redis::Client::open(url.expose_secret()).map_err(|err| Error::InvalidUrl {
        detail: err.to_string(),
    })
}

/// One node through a lazy `ConnectionManager`.
fn single(
    client: redis::Client,
    connect_timeout: Duration,
    command_timeout: Duration,
) -> Result<(Connection, Vec<redis::Client>), Error> {
    // One connection attempt per reconnection, no retries with backoff: while Redis is away, a
    // call fails at once (refused) instead of waiting out the command timeout behind a retrying
    // reconnection, and the next call tries again, so the first call after Redis is back
    // reconnects.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(command_timeout))
        .set_number_of_retries(0);
    let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|source| Error::Connect { source })?;
    Ok((Connection::Node(manager), vec![client]))
}

/// The connection every store command goes through: one Redis node, or a Redis Cluster. Cheap
/// to clone (both are handles to one multiplexed connection, per node for a cluster).
#[derive(Clone)]
pub(crate) enum Connection {
    /// One Redis (or a primary, or a cluster-aware proxy).
    Node(ConnectionManager),
    /// A Redis Cluster: each command, and each pipeline, goes to the primary of its first key's
    /// slot (the store's commands, pipelines and scripts each touch one hash tag, so one slot).
    Cluster(ClusterConnection),
}

impl Connection {
    /// Whether this connection sends a command again by itself when the connection it went out
    /// on broke before the reply came, so that the command may have run twice: the cluster
    /// client does (on a new connection to the node); a single node's connection does not (it
    /// sends again only after a refused connection, when nothing was sent).
    pub(crate) fn resends_after_loss(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

// A `ConnectionManager` whose last connection attempt was refused answers the next command with
// that refusal, and only then connects again: so the first command after Redis is back would
// fail. A refused connection sent nothing, so the command is sent once more, on the connection
// that refusal started (it waits for that attempt).
impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Node(connection) => Box::pin(async move {
                match connection.req_packed_command(cmd).await {
                    Err(err) if err.is_connection_refusal() => {
                        connection.req_packed_command(cmd).await
                    }
                    done => done,
                }
            }),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Node(connection) => Box::pin(async move {
                match connection
                    .req_packed_commands(pipeline, offset, count)
                    .await
                {
                    Err(err) if err.is_connection_refusal() => {
                        connection
                            .req_packed_commands(pipeline, offset, count)
                            .await
                    }
                    done => done,
                }
            }),
            // To the primary of the first command's key (its first argument): redis-rs would
            // route a pipeline by every command's first argument, taking `PUBLISH`'s channel for
            // a key of another slot; for Redis a channel is no key, and a cluster forwards the
            // message to every node.
            Self::Cluster(connection) => {
                let key = pipeline
                    .cmd_iter()
                    .next()
                    .and_then(|cmd| cmd.args_iter().nth(1));
                match key {
                    Some(Arg::Simple(key)) => {
                        let route = Route::new(key_slot(key), SlotAddr::Master);
                        Box::pin(connection.route_pipeline(
                            pipeline.clone(),
                            offset,
                            count,
                            SingleNodeRoutingInfo::SpecificNode(route),
                        ))
                    }
                    _ => connection.req_packed_commands(pipeline, offset, count),
                }
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the first non-empty `{...}`),
/// or of the whole key without one, modulo 16384.
fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&byte| byte == b'{').and_then(|open| {
        let rest = key.get(open + 1..)?;
        let len = rest.iter().position(|&byte| byte == b'}')?;
        (len > 0).then(|| rest.get(..len)).flatten()
    });
    let mut crc: u16 = 0;
    for &byte in tagged.unwrap_or(key) {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn key_slots_are_those_redis_computes() {
        // The CRC16 check value, and slots Redis answers to `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        // The hash tag decides: a value and its lock share a slot.
        assert_eq!(
            key_slot(b"t:{installation:ab}"),
            key_slot(b"installation:ab")
        );
        assert_eq!(
            key_slot(b"t:{installation:ab}:lock"),
            key_slot(b"installation:ab")
        );
        // An empty or unclosed tag is no tag: the whole key counts; the first tag counts.
        assert_eq!(key_slot(b"{}foo"), 9500);
        assert_eq!(key_slot(b"{foo"), 13308);
        assert_eq!(key_slot(b"a{b}{c}"), 3300);
        assert_eq!(key_slot(b"b"), 3300);
    }
}
