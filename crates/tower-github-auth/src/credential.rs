//! The seam between the one middleware and the strategies: where a credential comes from.
//!
//! A strategy is either a fixed header ([`Credential`] implemented directly) or a minted one
//! ([`Mint`]): then it only says how to mint a fresh credential, and the token cache
//! ([`Slot`](crate::cache::Slot)) provides single flight, refresh ahead, expiry and backoff.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::HeaderValue;

use crate::cache::{Fresh, Lookup, Slot, Stamp};
use crate::error::Error;
use crate::side::Side;

/// A fresh token may be refused while it replicates inside GitHub: retry it this many times.
pub(crate) const REPLICATION_RETRIES: u8 = 3;
/// A token younger than this that GitHub refuses is presumed not yet replicated.
pub(crate) const REPLICATION_WINDOW: Duration = Duration::from_secs(10);
/// Pause before replaying with a token GitHub has not replicated yet (times the attempt number).
pub(crate) const REPLICATION_PAUSE: Duration = Duration::from_millis(500);

/// What a warm look-up gives the middleware.
pub(crate) enum Current {
    /// Send the request as it is.
    Nothing,
    /// Add this header; `Some(stamp)` when it came from the cache (and may be dropped on a 401).
    Header(HeaderValue, Option<Stamp>),
    /// Wait for [`Credential::fetch`].
    Cold,
}

/// What to do after GitHub answered 401 to a request that carried a cached credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// The credential is fresh and probably not replicated yet: replay with it after a pause.
    Wait(Duration),
    /// The credential was dropped: replay with a fresh one.
    Renew,
}

/// Where a credential comes from. Implemented by each strategy.
pub(crate) trait Credential: fmt::Debug + Send + Sync + 'static {
    /// Whether the credential goes on a request to this path (below the API base).
    fn applies_to(&self, _api_path: &str) -> bool {
        true
    }

    /// The warm path. `side` builds a side-request helper, only if a refresh must start.
    fn current(&self, side: &dyn Fn() -> Side) -> Current;

    /// The cold path: wait for a usable credential.
    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(HeaderValue, Stamp), Error>>;

    /// GitHub refused the credential stamped `stamp` with 401; `replays` is how many times this
    /// request was already replayed with a fresh-token pause.
    fn rejected(&self, stamp: Stamp, date: Option<&HeaderValue>, replays: u8) -> Rejected;
}

/// A credential minted by an exchange (or a signature) and kept in a [`Slot`].
pub(crate) trait Mint: fmt::Debug + Send + Sync + 'static {
    /// What the slot keeps beside the header (token details for users).
    type Value: Send + Sync + 'static;

    /// Whether a token just minted can be refused while GitHub replicates it.
    const REPLICATES: bool;

    /// The slot the credential lives in.
    fn slot(&self) -> &Arc<Slot<Self::Value>>;

    /// Mints a fresh credential, through `side` when it needs GitHub.
    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<Self::Value>, Error>>;

    /// Whether the credential goes on a request to this path.
    fn applies_to(&self, _api_path: &str) -> bool {
        true
    }

    /// Learns from a 401 before the credential is dropped (the JWT corrects the clock here).
    fn learn_from_rejection(&self, _date: Option<&HeaderValue>) {}
}

impl<M: Mint> Credential for M {
    fn applies_to(&self, api_path: &str) -> bool {
        Mint::applies_to(self, api_path)
    }

    fn current(&self, side: &dyn Fn() -> Side) -> Current {
        match self.slot().lookup(|| self.mint(side())) {
            Lookup::Warm(entry) => Current::Header(entry.header.clone(), Some(entry.stamp())),
            Lookup::Cold => Current::Cold,
        }
    }

    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(HeaderValue, Stamp), Error>> {
        self.slot()
            .obtain(|| self.mint(side))
            .map(|entry| entry.map(|e| (e.header.clone(), e.stamp())))
            .boxed()
    }

    fn rejected(&self, stamp: Stamp, date: Option<&HeaderValue>, replays: u8) -> Rejected {
        if M::REPLICATES && stamp.age() < REPLICATION_WINDOW && replays < REPLICATION_RETRIES {
            tracing::debug!("a fresh token was refused: waiting for GitHub to replicate it");
            return Rejected::Wait(REPLICATION_PAUSE * u32::from(replays + 1));
        }
        self.learn_from_rejection(date);
        self.slot().invalidate(stamp);
        Rejected::Renew
    }
}

/// A credential that never changes: a token, or Basic client credentials.
#[derive(Clone)]
pub(crate) struct Fixed {
    pub(crate) header: HeaderValue,
    /// Only requests whose API path starts with this get it.
    pub(crate) path_prefix: Option<String>,
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixed")
            .field("header", &"***")
            .field("path_prefix", &self.path_prefix)
            .finish()
    }
}

impl Credential for Fixed {
    fn applies_to(&self, api_path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| api_path.starts_with(prefix))
    }

    fn current(&self, _side: &dyn Fn() -> Side) -> Current {
        Current::Header(self.header.clone(), None)
    }

    fn fetch(&self, _side: Side) -> BoxFuture<'static, Result<(HeaderValue, Stamp), Error>> {
        unreachable_cold()
    }

    fn rejected(&self, _stamp: Stamp, _date: Option<&HeaderValue>, _replays: u8) -> Rejected {
        // Never called: a fixed header carries no stamp. Replaying would not help either.
        Rejected::Renew
    }
}

/// No credential at all.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous;

impl Credential for Anonymous {
    fn current(&self, _side: &dyn Fn() -> Side) -> Current {
        Current::Nothing
    }

    fn fetch(&self, _side: Side) -> BoxFuture<'static, Result<(HeaderValue, Stamp), Error>> {
        unreachable_cold()
    }

    fn rejected(&self, _stamp: Stamp, _date: Option<&HeaderValue>, _replays: u8) -> Rejected {
        Rejected::Renew
    }
}

fn unreachable_cold() -> BoxFuture<'static, Result<(HeaderValue, Stamp), Error>> {
    // `current` never answers `Cold` for these, so the middleware never asks.
    std::future::ready(Err(Error::TaskFailed)).boxed()
}

/// Builds an `Authorization` header value, marked sensitive.
pub(crate) fn sensitive_header(
    scheme: &str,
    secret: &str,
    what: &'static str,
) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::try_from(format!("{scheme} {secret}"))
        .map_err(|_| Error::InvalidCredential { what })?;
    value.set_sensitive(true);
    Ok(value)
}
