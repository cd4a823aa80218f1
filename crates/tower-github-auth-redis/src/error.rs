//! [`Error`]: what went wrong with the Redis store, and what to do about it.
//!
//! ```
//! use std::time::Duration;
//!
//! use tower_github_auth_redis::{EncryptionKey, Error};
//!
//! // A key that is not 32 bytes is refused with a message saying how to make one.
//! let err = EncryptionKey::from_base64("c2hvcnQ=").unwrap_err();
//! assert!(matches!(err, Error::InvalidEncryptionKey { .. }));
//! assert!(err.to_string().contains("openssl rand -base64 32"));
//!
//! // A slow Redis is an error like any other: the core passes the store by.
//! let err = Error::Timeout { command: "GET", timeout: Duration::from_millis(500) };
//! assert!(err.to_string().contains("command_timeout"));
//! ```

use std::time::Duration;

/// What went wrong with the Redis store. Every message says what happened and what to do.
///
/// The [`TokenStore`](tower_github_auth::TokenStore) methods return it boxed; the core passes a
/// failing store by (it serves from memory and exchanges on its own), so none of these stops a
/// request. Messages never contain a stored value, a lease, an encryption key or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL could not be parsed (the URL is not repeated: it may hold a password).
    #[error(
        "the Redis URL could not be parsed ({detail}): use redis://[user:password@]host[:port][/db], \
         rediss://... (TLS needs a TLS feature of the `redis` crate) or redis+unix:///path/to/socket"
    )]
    InvalidUrl {
        /// What the `redis` crate found wrong.
        detail: String,
    },

    /// The builder was given a setting the store cannot work with.
    #[error("invalid Redis store configuration: {0}")]
    InvalidConfig(&'static str),

    /// An encryption key is not 32 bytes (or not base64).
    #[error(
        "an encryption key must be 32 bytes ({detail}): generate one with `openssl rand -base64 32` \
         and pass it to EncryptionKey::from_base64"
    )]
    InvalidEncryptionKey {
        /// What was wrong with it (never the key itself).
        detail: &'static str,
    },

    /// Connecting to Redis failed.
    #[error(
        "connecting to Redis failed: {source}; check the URL, that Redis runs and is reachable from \
         here, and its user and password"
    )]
    Connect {
        /// The `redis` crate's error.
        #[source]
        source: redis::RedisError,
    },

    /// Connecting to Redis took longer than the connect timeout.
    #[error(
        "connecting to Redis took longer than {0:?}: check that Redis runs and is reachable from \
         here, or raise connect_timeout"
    )]
    ConnectTimeout(Duration),

    /// Redis answered a command with an error, or the connection broke.
    #[error(
        "the Redis command {command} failed: {source}; the store is passed by (the core exchanges \
         on its own) until Redis answers again, the connection is re-established by itself"
    )]
    Command {
        /// The command (`GET`, `SET`, `EVALSHA`, ...).
        command: &'static str,
        /// The `redis` crate's error.
        #[source]
        source: redis::RedisError,
    },

    /// Redis did not answer within the command timeout.
    #[error(
        "Redis did not answer {command} within {timeout:?} (command_timeout): check Redis's load \
         and the network, or raise command_timeout; the store is passed by meanwhile"
    )]
    Timeout {
        /// The command that went unanswered.
        command: &'static str,
        /// The command timeout.
        timeout: Duration,
    },

    /// Redis answered with a reply of an unexpected kind.
    #[error(
        "Redis answered {command} with an unexpected reply: is the URL that of a Redis (or \
         compatible) server, and is nothing else writing under the store's prefix?"
    )]
    UnexpectedReply {
        /// The command.
        command: &'static str,
    },

    /// A stored value was encrypted with a key this store does not have.
    #[error(
        "a stored value was encrypted with a key that is not among encryption_keys: give every \
         replica the same keys (during a rotation: [new, old]); the value is ignored and will be \
         overwritten by the next exchange"
    )]
    UnknownEncryptionKey,

    /// A stored value did not decrypt with the key that wrote it: it was altered, or copied from
    /// another Redis key.
    #[error(
        "a stored value failed authentication: it was altered, or copied from another Redis key; \
         it is ignored and will be overwritten by the next exchange (check who writes to Redis)"
    )]
    Decrypt,

    /// A stored value is encrypted but this store has no encryption keys.
    #[error(
        "a stored value is encrypted but this store has no encryption_keys: configure the same \
         keys as the other replicas"
    )]
    Encrypted,

    /// A stored value is in clear but this store encrypts: it is refused, so that whoever can
    /// write to Redis cannot plant a credential.
    #[error(
        "a stored value is in clear but this store has encryption_keys: it was written by a \
         replica without keys (configure the same keys everywhere); it is refused and will be \
         overwritten by the next exchange"
    )]
    Cleartext,

    /// A stored value is not in this crate's format.
    #[error(
        "a stored value is corrupt ({0}): it was not written by tower-github-auth-redis (another \
         program under the same prefix? choose another prefix) or is from a newer version; it is \
         ignored and will be overwritten by the next exchange"
    )]
    Corrupt(&'static str),
}
