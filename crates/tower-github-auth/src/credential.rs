//! The seam between the one middleware and the strategies: where a credential comes from.
//!
//! A strategy's credential is one of two kinds, the second type parameter of
//! [`AuthService`](crate::AuthService):
//! - [`Fixed`]: a header that never changes (a token you hold, Basic client credentials, or
//!   none at all). Nothing is minted, so the middleware asks nothing of the inner service beyond
//!   being a `Service`.
//! - [`Minted`]: a credential minted by an exchange (or a signature) and kept in the token cache
//!   ([`Slot`]), which provides single flight, refresh ahead, expiry and backoff. A strategy only
//!   says how to mint one ([`Mint`]).
//!
//! ```
//! use tower::Layer;
//! use tower_github_auth::{AuthService, Fixed, TokenAuth};
//! # let client = tower::service_fn(|_req: http::Request<String>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! # });
//!
//! // A fixed token needs nothing cloneable of the inner service.
//! let service: AuthService<_, Fixed> = TokenAuth::new("ghp_example")?.layer(client);
//! # Ok::<(), tower_github_auth::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue};

use crate::cache::{Fresh, Slot, Stamp};
use crate::error::Error;
use crate::headers::Authorization;
use crate::observe::Identity;
use crate::refusal::Refusal;
use crate::side::Side;
use crate::subject::Subject;

/// A fresh token may be refused while it replicates inside GitHub: retry it this many times.
pub(crate) const REPLICATION_RETRIES: u8 = 3;
/// A token younger than this that GitHub refuses is presumed not yet replicated.
pub(crate) const REPLICATION_WINDOW: Duration = Duration::from_secs(10);
/// Pause before replaying with a token GitHub has not replicated yet (times the attempt number).
pub(crate) const REPLICATION_PAUSE: Duration = Duration::from_millis(500);

/// A credential that never changes: a token, Basic client credentials, or none at all.
///
/// The credential kind of [`TokenAuth`](crate::TokenAuth), [`ActionAuth`](crate::ActionAuth),
/// [`Unauthenticated`](crate::Unauthenticated) and [`OAuthAppAuth`](crate::OAuthAppAuth).
/// `Debug` shows the credential as `***`.
#[derive(Debug)]
pub struct Fixed {
    authorization: Option<Authorization>,
    /// Only requests whose API path starts with this get it.
    path_prefix: Option<String>,
}

impl Fixed {
    /// No credential: only GitHub's default headers.
    pub(crate) fn none() -> Self {
        Self {
            authorization: None,
            path_prefix: None,
        }
    }

    /// `header` (already marked sensitive) on every API request, or only on those whose path
    /// starts with `path_prefix`.
    pub(crate) fn header(header: HeaderValue, path_prefix: Option<String>) -> Self {
        Self {
            authorization: Some(Authorization::new(header)),
            path_prefix,
        }
    }

    /// The credential for a request to `api_path` (below the API base), if it goes there.
    pub(crate) fn authorization_for(&self, api_path: &str) -> Option<&Authorization> {
        self.authorization.as_ref().filter(|_| {
            self.path_prefix
                .as_deref()
                .is_none_or(|prefix| api_path.starts_with(prefix))
        })
    }
}

/// A credential minted by an exchange or a signature, kept in the token cache.
///
/// The credential kind of [`AppAuth`](crate::AppAuth),
/// [`AppInstallationAuth`](crate::AppInstallationAuth) and the OAuth user layers.
#[derive(Clone)]
pub struct Minted(Arc<dyn Cached>);

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Minted {
    pub(crate) fn new(mint: impl Mint) -> Self {
        Self(Arc::new(mint))
    }
}

impl Minted {
    /// The credential behind it.
    pub(crate) fn get(&self) -> &dyn Cached {
        &*self.0
    }
}

/// What to do after GitHub refused (401, or a 403 that gives no reason) a request that carried
/// a cached credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// The credential is fresh and probably not replicated yet: replay with it after a pause.
    Wait(Duration),
    /// The credential was dropped (a 401): replay with a fresh one.
    Renew,
    /// The answer goes to the caller; the credential stays (a 403: it says nothing against it).
    Keep,
}

/// What the middleware asks of a minted credential.
pub(crate) trait Cached: fmt::Debug + Send + Sync + 'static {
    /// Whether the credential goes on a request to this path (below the API base).
    fn applies_to(&self, api_path: &str) -> bool;

    /// The warm path: puts the current credential (with the default headers) on `headers` and
    /// returns its stamp; `None` when nothing usable is cached (wait for [`Cached::fetch`]).
    /// `side` builds a side-request helper, only if a refresh must start.
    fn apply(&self, headers: &mut HeaderMap, side: &dyn Fn() -> Side) -> Option<Stamp>;

    /// The cold path: wait for a usable credential.
    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>>;

    /// GitHub refused the credential stamped `stamp` as `refusal` says; `replays` is how many
    /// times this request was already replayed with a fresh-token pause. The one place that
    /// decides whether a refusal is replication lag.
    fn rejected(
        &self,
        stamp: Stamp,
        refusal: Refusal,
        date: Option<&HeaderValue>,
        replays: u8,
    ) -> Rejected;

    /// Who the credential speaks for (built on demand: a refusal or a failed exchange).
    fn subject(&self) -> Subject;
}

/// A credential minted by an exchange (or a signature) and kept in a [`Slot`]: what a minting
/// strategy implements.
pub(crate) trait Mint: fmt::Debug + Send + Sync + 'static {
    /// What the slot keeps beside the header (token details).
    type Value: Send + Sync + 'static;

    /// Whether a token just minted can be refused while GitHub replicates it.
    const REPLICATES: bool;

    /// The slot the credential lives in.
    fn slot(&self) -> &Arc<Slot<Self::Value>>;

    /// Mints a fresh credential, through `side` when it needs GitHub.
    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<Self::Value>, Error>>;

    /// Who the credential speaks for: named in the errors of its exchanges and on GitHub's
    /// refusals of the requests that carried it.
    fn subject(&self) -> Subject;

    /// What the credential is for, as events and spans name it (App, installation, client id):
    /// never a secret. By default what [`Mint::subject`] says.
    fn identity(&self) -> Identity {
        Identity::of(&self.subject())
    }

    /// Whether the credential goes on a request to this path.
    fn applies_to(&self, _api_path: &str) -> bool {
        true
    }

    /// Learns from a 401 before the credential is dropped (the JWT corrects the clock here).
    fn learn_from_rejection(&self, _date: Option<&HeaderValue>) {}
}

/// `mint`'s exchange, its errors naming who it was for.
fn minted<M: Mint>(mint: &M, side: Side) -> BoxFuture<'static, Result<Fresh<M::Value>, Error>> {
    let subject = mint.subject();
    mint.mint(side)
        .map(move |minted| minted.map_err(|e| e.with_subject(|| subject)))
        .boxed()
}

impl<M: Mint> Cached for M {
    fn subject(&self) -> Subject {
        Mint::subject(self)
    }

    fn applies_to(&self, api_path: &str) -> bool {
        Mint::applies_to(self, api_path)
    }

    fn apply(&self, headers: &mut HeaderMap, side: &dyn Fn() -> Side) -> Option<Stamp> {
        let entry = self.slot().lookup(|| minted(self, side()))?;
        entry.authorization.apply(headers);
        Some(entry.stamp())
    }

    fn fetch(&self, side: Side) -> BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>> {
        self.slot()
            .obtain(|| minted(self, side))
            .map(|entry| entry.map(|e| (Arc::clone(&e.authorization), e.stamp())))
            .boxed()
    }

    fn rejected(
        &self,
        stamp: Stamp,
        refusal: Refusal,
        date: Option<&HeaderValue>,
        replays: u8,
    ) -> Rejected {
        // A token GitHub has not replicated yet is refused with 401 or with a 403 that gives no
        // reason (a 403 naming one never gets here): the same pauses for both.
        if M::REPLICATES && stamp.age() < REPLICATION_WINDOW && replays < REPLICATION_RETRIES {
            tracing::debug!(
                ?refusal,
                "a fresh token was refused: waiting for GitHub to replicate it"
            );
            return Rejected::Wait(REPLICATION_PAUSE * u32::from(replays + 1));
        }
        match refusal {
            Refusal::Unauthorized => {
                self.learn_from_rejection(date);
                self.slot().invalidate(stamp, || self.identity());
                Rejected::Renew
            }
            // GitHub keeps the credential out of this one resource: not a reason to drop it.
            Refusal::Unexplained => Rejected::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::sensitive_header;
    use http::header::AUTHORIZATION;

    #[test]
    fn fixed_credentials_go_only_where_they_apply() {
        let basic = sensitive_header("Basic", "abc", "test").unwrap();
        let scoped = Fixed::header(basic, Some("/applications/Iv1.x/".into()));
        let mut on = HeaderMap::new();
        scoped
            .authorization_for("/applications/Iv1.x/token")
            .unwrap()
            .apply(&mut on);
        assert_eq!(on[AUTHORIZATION], "Basic abc");
        assert!(scoped.authorization_for("/user").is_none());
        assert!(Fixed::none().authorization_for("/user").is_none());
        assert!(!format!("{scoped:?}").contains("abc"));
    }
}
