//! The one middleware every strategy uses: [`AuthService`] and its response futures.

pub(crate) mod auth;
pub(crate) mod future;
pub(crate) mod replay;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::credential::{Fixed, Minted};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error};
use crate::headers::add_default_headers;
use crate::rate_limit::{RateLimit, RateLimits, Resource};
use crate::service::auth::Auth;
use crate::service::future::{FixedResponseFuture, Pending, ResponseFuture};

/// The middleware of every strategy in this crate. Build it with a strategy's `Layer` impl.
///
/// `C` is the kind of credential: [`Fixed`] (a token you hold, no credential at all) asks
/// nothing of the inner service but to be a `Service`; [`Minted`] (installation tokens, JWTs,
/// user tokens) sends its exchanges through clones of the inner service, so that must be an
/// [`HttpClient`] with a [`RequestBody`] it can build.
///
/// Its error is [`Error`]: [`Error::Inner`] when your inner service failed, any other variant
/// when authentication did.
///
/// ```
/// use tower::{Layer, ServiceExt};
/// use tower_github_auth::{AuthService, Endpoints, Fixed, TokenAuth};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // Any `tower::Service`; here one that echoes the `Authorization` header it received.
/// let client = tower::service_fn(|req: http::Request<String>| async move {
///     let auth = req.headers().get("authorization").cloned();
///     Ok::<_, std::convert::Infallible>(http::Response::new(auth))
/// });
/// let github: AuthService<_, Fixed> = TokenAuth::new("ghp_example")?.layer(client);
/// assert_eq!(github.endpoints_ref(), &Endpoints::github_com());
///
/// let to_github = http::Request::get("/user").body(String::new())?;
/// let sent = github.clone().oneshot(to_github).await?.into_body();
/// assert_eq!(sent.unwrap(), "Bearer ghp_example");
///
/// // Host pinning: another host gets no credential.
/// let elsewhere = http::Request::get("https://example.com/").body(String::new())?;
/// assert!(github.oneshot(elsewhere).await?.into_body().is_none());
/// # Ok(())
/// # }
/// ```
///
/// For each request: a bare path is resolved against the API base; a request to any other
/// host passes through untouched; GitHub's required headers are added where absent; the
/// strategy's credential is inserted (warm: a lock-free read of the cache and one copy of the
/// headers prepared with the credential; cold: the request waits on the single exchange in
/// flight). A 401 on a cached credential drops it and, when the request can be replayed, sends
/// it once more with a fresh one. An installation token minted less than 10 s ago that GitHub
/// refuses with 401, or with a 403 that names no reason (no `X-Accepted-GitHub-Permissions`,
/// `X-GitHub-SSO`, `Retry-After` or `x-ratelimit-remaining: 0`), is presumed not replicated
/// yet: the request is sent again with it after a pause, up to three times. Any other 403, and
/// a 429, reaches the caller as GitHub gave it, and the credential stays cached.
///
/// A warm request with an absolute URI and no headers of its own allocates what inserting one
/// header into an empty map does (the map's storage): the state kept for a 401 lives in the
/// [`ResponseFuture`], not on the heap, which makes the future larger (about 650 bytes over
/// hyper-util's client). A request with headers of its own allocates nothing for them, except
/// the copy of its header map kept for a replay; a bare path allocates its resolved URI. The inner
/// service is cloned (and the ready one moved into the future) only for minted credentials, whose
/// future may send the request again; other requests are handed to the ready service in place.
pub struct AuthService<S, C = Minted> {
    inner: S,
    auth: Arc<Auth<C>>,
}

impl<S: Clone, C> Clone for AuthService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            auth: Arc::clone(&self.auth),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for AuthService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("endpoints", &self.auth.endpoints)
            .field("credential", &self.auth.credential)
            .field("replay_unauthorized", &self.auth.replay)
            .finish()
    }
}

impl<S, C> AuthService<S, C> {
    pub(crate) fn new(inner: S, auth: Auth<C>) -> Self {
        Self {
            inner,
            auth: Arc::new(auth),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The GitHub deployment this service adds credentials for.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.auth.endpoints
    }

    /// What GitHub last reported of `resource`'s rate limit for this service's credential
    /// (from the `x-ratelimit-*` headers of answers to requests that carried it); `None` before
    /// any did.
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.auth.rate_limits.get(resource)
    }

    /// The record of this service's credential's rate limits (shared with its layer).
    pub fn rate_limits_ref(&self) -> &RateLimits {
        &self.auth.rate_limits
    }

    /// GitHub's time as this service's clock knows it.
    pub(crate) fn github_now(&self) -> std::time::SystemTime {
        self.auth.clock.github_now()
    }
}

impl<S, B, RB> Service<Request<B>> for AuthService<S, Fixed>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<RB>;
    type Error = Error;
    type Future = FixedResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::inner)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let auth = &self.auth;
        auth.endpoints.resolve(req.uri_mut());
        // Host pin: a request to any other host carries no GitHub credential, and is untouched.
        let mut record = None;
        if let Some(path) = auth.endpoints.credential_path(req.uri()) {
            let authorization = auth.credential.authorization_for(path);
            auth.dress(req.headers_mut());
            match authorization {
                Some(authorization) => {
                    authorization.apply(req.headers_mut());
                    record = Some(auth.rate_limits.clone());
                }
                None => add_default_headers(req.headers_mut()),
            }
        }
        FixedResponseFuture::new(self.inner.call(req), record)
    }
}

impl<S, B, RB> Service<Request<B>> for AuthService<S, Minted>
where
    // `Response = ...` here names RB for the impl; HttpClient says the rest.
    S: Service<Request<B>, Response = Response<RB>> + HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    type Response = Response<RB>;
    type Error = Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::inner)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let auth = &self.auth;
        auth.endpoints.resolve(req.uri_mut());
        let Some(path) = auth.endpoints.credential_path(req.uri()) else {
            // Host pin: a request to any other host carries no GitHub credential, and is untouched.
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        if !auth.credential.get().applies_to(path) {
            auth.dress(req.headers_mut());
            add_default_headers(req.headers_mut());
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        // The future keeps the service (to replay the request, or to send it once an exchange
        // is done): the one polled ready goes with it, and its clone (maybe not ready) stays.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Pending::new(inner, Arc::clone(auth)).send(req, None)
    }
}
