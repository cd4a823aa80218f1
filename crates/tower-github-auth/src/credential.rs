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
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use crate::cache::{Fresh, Slot, Stamp};
use crate::error::Error;
use crate::service::add_default_headers;
use crate::side::Side;

/// A fresh token may be refused while it replicates inside GitHub: retry it this many times.
pub(crate) const REPLICATION_RETRIES: u8 = 3;
/// A token younger than this that GitHub refuses is presumed not yet replicated.
pub(crate) const REPLICATION_WINDOW: Duration = Duration::from_secs(10);
/// Pause before replaying with a token GitHub has not replicated yet (times the attempt number).
pub(crate) const REPLICATION_PAUSE: Duration = Duration::from_millis(500);

/// A credential ready to go on requests: its `Authorization` value, and the whole header set
/// (GitHub's default headers plus this one) prepared once, for requests without headers of
/// their own, the usual case, which then get one map copy instead of four inserts.
pub(crate) struct Authorization {
    value: HeaderValue,
    prepared: HeaderMap,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(***)")
    }
}

impl Authorization {
    /// `value` must already be marked sensitive ([`sensitive_header`]).
    pub(crate) fn new(value: HeaderValue) -> Self {
        let mut prepared = HeaderMap::with_capacity(4);
        add_default_headers(&mut prepared);
        prepared.insert(AUTHORIZATION, value.clone());
        Self { value, prepared }
    }

    /// The `Authorization` header value.
    pub(crate) fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// Adds GitHub's default headers where absent, and this credential (replacing any other).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if headers.is_empty() {
            headers.clone_from(&self.prepared);
        } else {
            add_default_headers(headers);
            headers.insert(AUTHORIZATION, self.value.clone());
        }
    }
}

/// What the warm path did to a request's headers.
pub(crate) enum Applied {
    /// Nothing: the request goes without a credential (the middleware adds the default headers).
    Nothing,
    /// A credential that never changes.
    Fixed,
    /// The cached credential stamped so: dropped if GitHub answers 401.
    Cached(Stamp),
    /// Nothing usable is cached: wait for [`Credential::fetch`].
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

    /// Whether the credential is cached (so a 401 can drop it, and a replay can fetch another).
    fn cached(&self) -> bool {
        false
    }

    /// The warm path: puts the current credential (with the default headers) on `headers`.
    /// `side` builds a side-request helper, only if a refresh must start.
    fn apply(&self, headers: &mut HeaderMap, side: &dyn Fn() -> Side) -> Applied;

    /// The cold path: wait for a usable credential.
    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>>;

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

    fn cached(&self) -> bool {
        true
    }

    fn apply(&self, headers: &mut HeaderMap, side: &dyn Fn() -> Side) -> Applied {
        match self.slot().lookup(|| self.mint(side())) {
            Some(entry) => {
                entry.authorization.apply(headers);
                Applied::Cached(entry.stamp())
            }
            None => Applied::Cold,
        }
    }

    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>> {
        self.slot()
            .obtain(|| self.mint(side))
            .map(|entry| entry.map(|e| (Arc::clone(&e.authorization), e.stamp())))
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
#[derive(Debug)]
pub(crate) struct Fixed {
    pub(crate) authorization: Authorization,
    /// Only requests whose API path starts with this get it.
    pub(crate) path_prefix: Option<String>,
}

impl Fixed {
    /// `header` must already be marked sensitive.
    pub(crate) fn new(header: HeaderValue, path_prefix: Option<String>) -> Self {
        Self {
            authorization: Authorization::new(header),
            path_prefix,
        }
    }
}

impl Credential for Fixed {
    fn applies_to(&self, api_path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| api_path.starts_with(prefix))
    }

    fn apply(&self, headers: &mut HeaderMap, _side: &dyn Fn() -> Side) -> Applied {
        self.authorization.apply(headers);
        Applied::Fixed
    }

    fn fetch(&self, _side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>> {
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
    fn apply(&self, _headers: &mut HeaderMap, _side: &dyn Fn() -> Side) -> Applied {
        Applied::Nothing
    }

    fn fetch(&self, _side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>> {
        unreachable_cold()
    }

    fn rejected(&self, _stamp: Stamp, _date: Option<&HeaderValue>, _replays: u8) -> Rejected {
        Rejected::Renew
    }
}

fn unreachable_cold() -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>> {
    // `apply` never answers `Cold` for these, so the middleware never asks.
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, USER_AGENT};

    #[test]
    fn authorization_on_bare_and_on_dressed_requests() {
        let authorization = Authorization::new(sensitive_header("Bearer", "t0k", "test").unwrap());

        // No headers of its own: the prepared set, credential marked sensitive.
        let mut bare = HeaderMap::new();
        authorization.apply(&mut bare);
        assert_eq!(bare.len(), 4);
        assert_eq!(bare[AUTHORIZATION], "Bearer t0k");
        assert!(bare[AUTHORIZATION].is_sensitive());
        assert_eq!(bare[ACCEPT], "application/vnd.github+json");

        // Headers of its own: kept, defaults only where absent, any other credential replaced.
        let mut dressed = HeaderMap::new();
        dressed.insert(USER_AGENT, HeaderValue::from_static("mine/1"));
        dressed.insert(AUTHORIZATION, HeaderValue::from_static("token stale"));
        dressed.append(AUTHORIZATION, HeaderValue::from_static("token staler"));
        dressed.insert("x-custom", HeaderValue::from_static("1"));
        authorization.apply(&mut dressed);
        assert_eq!(dressed.len(), 5);
        assert_eq!(dressed[USER_AGENT], "mine/1");
        assert_eq!(dressed.get_all(AUTHORIZATION).iter().count(), 1);
        assert_eq!(dressed[AUTHORIZATION], "Bearer t0k");
        assert!(dressed[AUTHORIZATION].is_sensitive());
        assert_eq!(dressed["x-github-api-version"], "2022-11-28");

        assert_eq!(format!("{authorization:?}"), "Authorization(***)");
    }
}
