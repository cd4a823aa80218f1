//! The one middleware every strategy uses: [`AuthService`] and its [`ResponseFuture`].
//!
//! For each request: a bare path is resolved against the API base; a request to any other
//! host passes through untouched; GitHub's required headers are added where absent; the
//! strategy's credential is inserted (warm: a lock-free read of the cache and one copy of the
//! headers prepared with the credential; cold: the request waits on the single exchange in
//! flight). A 401 on a cached credential drops it and, when the request can be replayed, sends
//! it once more with a fresh one.
//!
//! A warm request with an absolute URI and no headers of its own allocates what inserting one
//! header into an empty map does (the map's storage): the state kept for a 401 lives in the
//! [`ResponseFuture`], not on the heap, which makes the future larger (about 650 bytes over
//! hyper-util's client). A request with headers of its own allocates nothing for them, except
//! the copy of its header map kept for a replay; a bare path allocates its resolved URI. The inner
//! service is cloned (and the ready one moved into the future) only for cached credentials, whose
//! future may send the request again; other requests are handed to the ready service in place.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{ACCEPT, DATE, USER_AGENT};
use http::{
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri,
    Version,
};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::cache::Stamp;
use crate::clock::Clock;
use crate::credential::{Applied, Authorization, Credential, Rejected};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error};
use crate::side::Side;

/// `X-GitHub-Api-Version`.
pub(crate) const API_VERSION_HEADER: HeaderName = HeaderName::from_static("x-github-api-version");
/// The REST API version this crate sends by default.
pub(crate) const API_VERSION: &str = "2022-11-28";
/// GitHub's JSON media type.
pub(crate) const GITHUB_JSON: &str = "application/vnd.github+json";

/// The default `User-Agent`: `tower-github-auth/<version>`.
pub(crate) const USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("tower-github-auth/", env!("CARGO_PKG_VERSION")));
/// Constants, so that the warm path copies them instead of validating them.
const ACCEPT_VALUE: HeaderValue = HeaderValue::from_static(GITHUB_JSON);
const API_VERSION_VALUE: HeaderValue = HeaderValue::from_static(API_VERSION);

/// The HTTP clients the layers wrap, and send their token exchanges through: any cloneable
/// `tower::Service<http::Request<B>>` answering `http::Response<RB>`, such as a hyper-util
/// client. Implemented for every such service; you never implement it.
pub trait HttpClient<B, RB>:
    Service<Request<B>, Response = Response<RB>, Error: Into<BoxError>, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S, B, RB> HttpClient<B, RB> for S
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
}

/// A request body the layers can build a token exchange with (`Full<Bytes>`, axum's `Body`,
/// `String`, ...): anything made `From<Bytes>`. Implemented for every such type.
pub trait RequestBody: From<Bytes> + Send + 'static {}

impl<B: From<Bytes> + Send + 'static> RequestBody for B {}

/// A response body the layers can read an exchange's answer from (hyper's `Incoming`,
/// `Full<Bytes>`, ...). Implemented for every such type.
pub trait ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<RB> ResponseBody for RB
where
    RB: Body + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<BoxError>,
{
}

/// What a layer gives its services: where GitHub is, the clock, and the credential.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) endpoints: Endpoints,
    pub(crate) clock: Arc<Clock>,
    pub(crate) credential: Arc<dyn Credential>,
    pub(crate) replay: bool,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("endpoints", &self.endpoints)
            .field("credential", &self.credential)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(
        endpoints: Endpoints,
        clock: Arc<Clock>,
        credential: Arc<dyn Credential>,
    ) -> Self {
        Self {
            endpoints,
            clock,
            credential,
            replay: true,
        }
    }

    pub(crate) fn side<S, B, RB>(&self, inner: S) -> Side
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        Side::new(inner, self.endpoints.clone(), Arc::clone(&self.clock))
    }
}

/// The middleware of every strategy in this crate. Build it with a strategy's `Layer` impl.
///
/// Its error is [`Error`]: [`Error::Inner`] when your inner service failed, any other variant
/// when authentication did.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("auth", &self.auth)
            .finish()
    }
}

impl<S> AuthService<S> {
    pub(crate) fn new(inner: S, auth: Auth) -> Self {
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
    pub fn endpoints(&self) -> &Endpoints {
        &self.auth.endpoints
    }
}

impl<S, B, RB> Service<Request<B>> for AuthService<S>
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
        let Some(path) = auth.endpoints.api_path(req.uri()) else {
            // Host pin: a request to any other host carries no GitHub credential, and is untouched.
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        let credential = &*auth.credential;
        if !credential.applies_to(path) {
            add_default_headers(req.headers_mut());
        } else if credential.cached() {
            // The future keeps the service (to replay the request, or to send it once an exchange
            // is done): the one polled ready goes with it, and its clone (maybe not ready) stays.
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            return ResponseFuture {
                state: Pending::new(inner, Arc::clone(auth)).send(req, None),
            };
        } else if let Applied::Nothing =
            credential.apply(req.headers_mut(), &|| auth.side(self.inner.clone()))
        {
            add_default_headers(req.headers_mut());
        }
        // Nothing to keep for later: the ready service takes the request, as tower-http's do.
        ResponseFuture::passthrough(self.inner.call(req))
    }
}

/// GitHub's default headers, prepared once.
static DEFAULT_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(USER_AGENT, USER_AGENT_VALUE);
    headers.insert(ACCEPT, ACCEPT_VALUE);
    headers.insert(API_VERSION_HEADER, API_VERSION_VALUE);
    headers
});

/// Adds GitHub's default headers where absent (a request without headers gets a copy of the
/// prepared set: one copy instead of three inserts).
pub(crate) fn add_default_headers(headers: &mut HeaderMap) {
    if headers.is_empty() {
        headers.clone_from(&DEFAULT_HEADERS);
        return;
    }
    headers.entry(USER_AGENT).or_insert(USER_AGENT_VALUE);
    headers.entry(ACCEPT).or_insert(ACCEPT_VALUE);
    headers
        .entry(API_VERSION_HEADER)
        .or_insert(API_VERSION_VALUE);
}

/// A request on its way with a cached credential, and what is needed to replay it after a 401.
struct Pending<S, B> {
    inner: S,
    auth: Arc<Auth>,
    /// The caller's request as given (no credential, no default headers): before a call, the one
    /// to send; during a call, a copy kept for a replay (only when its body can be cloned).
    req: Option<Replay<B>>,
    /// The credential to send it with; `None`: look the current one up.
    credential: Option<(Arc<Authorization>, Stamp)>,
    /// The credential the request in flight carries.
    stamp: Option<Stamp>,
    /// Whether `inner` was polled ready for the next call.
    ready: bool,
    /// Replays made while waiting for a fresh token to replicate.
    replays: u8,
    /// Whether the request was already replayed with a renewed credential.
    renewed: bool,
}

impl<S, B, RB> Pending<S, B>
where
    S: Service<Request<B>, Response = Response<RB>> + HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    fn new(inner: S, auth: Arc<Auth>) -> Self {
        Self {
            inner,
            auth,
            req: None,
            credential: None,
            stamp: None,
            ready: true,
            replays: 0,
            renewed: false,
        }
    }

    /// Sends `req` (as the caller gave it) through the ready inner service with `given`, or else
    /// with the cached credential; with nothing cached, waits for the exchange instead. The copy
    /// for a replay is taken before our headers go in: for the usual request that is a copy of
    /// an empty header map.
    fn send(
        mut self,
        mut req: Request<B>,
        given: Option<(Arc<Authorization>, Stamp)>,
    ) -> State<S, B> {
        debug_assert!(self.ready, "the inner service must be ready");
        self.req = if self.auth.replay {
            Replay::copy(&req)
        } else {
            None
        };
        let stamp = if let Some((authorization, stamp)) = given {
            authorization.apply(req.headers_mut());
            stamp
        } else {
            let auth = &self.auth;
            let inner = &self.inner;
            match auth
                .credential
                .apply(req.headers_mut(), &|| auth.side(inner.clone()))
            {
                Applied::Cached(stamp) => stamp,
                // Only cached credentials get here: `Cold` is the one other answer.
                Applied::Cold | Applied::Fixed | Applied::Nothing => {
                    let fetch = auth.credential.fetch(auth.side(inner.clone()));
                    self.req = Some(Replay::from(req));
                    return State::Fetching {
                        fetch,
                        pending: Some(self),
                    };
                }
            }
        };
        self.stamp = Some(stamp);
        self.ready = false;
        State::Calling {
            fut: self.inner.call(req),
            pending: Some(self),
        }
    }
}

pin_project! {
    /// The future of [`AuthService`]. Warm requests go straight to `Calling`.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        /// Waiting for the inner service, without a cached credential to watch for.
        Passthrough { #[pin] fut: S::Future },
        /// Waiting for the single exchange in flight.
        Fetching {
            fetch: BoxFuture<'static, Result<(Arc<Authorization>, Stamp), Error>>,
            pending: Option<Pending<S, B>>,
        },
        /// Waiting for the inner service, ready to react to a 401.
        Calling { #[pin] fut: S::Future, pending: Option<Pending<S, B>> },
        /// Waiting for a fresh token to replicate, or for the inner service to be ready.
        Waiting { sleep: Option<Pin<Box<Sleep>>>, pending: Option<Pending<S, B>> },
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Passthrough { .. } => "Passthrough",
            State::Fetching { .. } => "Fetching",
            State::Calling { .. } => "Calling",
            State::Waiting { .. } => "Waiting",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn passthrough(fut: S::Future) -> Self {
        Self {
            state: State::Passthrough { fut },
        }
    }
}

impl<S, B, RB> Future for ResponseFuture<S, B>
where
    // `Response = ...` here names RB for the impl; HttpClient says the rest.
    S: Service<Request<B>, Response = Response<RB>> + HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    type Output = Result<Response<RB>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Passthrough { fut } => {
                    return fut.poll(cx).map_err(Error::inner);
                }
                StateProj::Fetching { fetch, pending } => {
                    let credential = ready!(fetch.as_mut().poll(cx))?;
                    let mut pending = pending.take().expect("polled after completion");
                    pending.credential = Some(credential);
                    State::Waiting {
                        sleep: None,
                        pending: Some(pending),
                    }
                }
                StateProj::Waiting { sleep, pending } => {
                    if let Some(sleep) = sleep {
                        ready!(sleep.as_mut().poll(cx));
                    }
                    let p = pending.as_mut().expect("polled after completion");
                    if !p.ready {
                        ready!(p.inner.poll_ready(cx)).map_err(Error::inner)?;
                        p.ready = true;
                    }
                    let mut pending = pending.take().expect("polled after completion");
                    let req = pending.req.take().expect("a request to send").into();
                    // After a replication pause there is no credential given: the cached one goes.
                    let given = pending.credential.take();
                    pending.send(req, given)
                }
                StateProj::Calling { fut, pending } => {
                    let response = ready!(fut.poll(cx)).map_err(Error::inner)?;
                    if response.status() != StatusCode::UNAUTHORIZED {
                        return Poll::Ready(Ok(response));
                    }
                    let p = pending.take().expect("polled after completion");
                    let Some(next) = after_unauthorized(p, &response) else {
                        return Poll::Ready(Ok(response));
                    };
                    next
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// GitHub refused the credential: drop it (or wait for it to replicate), and decide on a replay.
fn after_unauthorized<S, B, RB>(
    mut p: Pending<S, B>,
    response: &Response<RB>,
) -> Option<State<S, B>>
where
    S: Service<Request<B>, Response = Response<RB>> + HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    let stamp = p.stamp.take()?;
    let decision = p
        .auth
        .credential
        .rejected(stamp, response.headers().get(DATE), p.replays);
    // Without a copy the 401 goes to the caller; the cache has already learned from it.
    p.req.as_ref()?;
    match decision {
        Rejected::Wait(pause) => {
            p.replays += 1;
            Some(State::Waiting {
                sleep: Some(Box::pin(tokio::time::sleep(pause))),
                pending: Some(p),
            })
        }
        Rejected::Renew if !p.renewed => {
            tracing::debug!("GitHub refused a cached credential: replaying once with a fresh one");
            p.renewed = true;
            let fetch = p.auth.credential.fetch(p.auth.side(p.inner.clone()));
            Some(State::Fetching {
                fetch,
                pending: Some(p),
            })
        }
        Rejected::Renew => None,
    }
}

/// What a replay needs of the caller's request, kept while the request is out.
struct Replay<B> {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: B,
}

impl<B: 'static> Replay<B> {
    /// Copies a request whose body is one of the common clonable body types; `None` otherwise.
    /// (Field by field: cheaper than building a `Request` that is sent only after a 401.)
    fn copy(req: &Request<B>) -> Option<Self> {
        Some(Self {
            body: clone_body(req.body())?,
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            extensions: req.extensions().clone(),
        })
    }
}

impl<B> From<Request<B>> for Replay<B> {
    fn from(req: Request<B>) -> Self {
        let (parts, body) = req.into_parts();
        Self {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
            body,
        }
    }
}

impl<B> From<Replay<B>> for Request<B> {
    fn from(replay: Replay<B>) -> Self {
        let mut req = Request::new(replay.body);
        *req.method_mut() = replay.method;
        *req.uri_mut() = replay.uri;
        *req.version_mut() = replay.version;
        *req.headers_mut() = replay.headers;
        *req.extensions_mut() = replay.extensions;
        req
    }
}

fn clone_body<B: 'static>(body: &B) -> Option<B> {
    fn as_clone<T: Clone + 'static, B: 'static>(body: &B) -> Option<B> {
        let mut out = Some((body as &dyn Any).downcast_ref::<T>()?.clone());
        (&mut out as &mut dyn Any)
            .downcast_mut::<Option<B>>()?
            .take()
    }
    as_clone::<http_body_util::Full<Bytes>, B>(body)
        .or_else(|| as_clone::<http_body_util::Empty<Bytes>, B>(body))
        .or_else(|| as_clone::<String, B>(body))
        .or_else(|| as_clone::<Bytes, B>(body))
        .or_else(|| as_clone::<Vec<u8>, B>(body))
        .or_else(|| as_clone::<&'static str, B>(body))
        .or_else(|| as_clone::<(), B>(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[test]
    fn clonable_bodies_are_copied() {
        type Stream =
            StreamBody<futures_util::stream::Empty<Result<http_body::Frame<Bytes>, BoxError>>>;
        #[derive(Clone, Debug, PartialEq)]
        struct Marker(u32);
        let req = Request::post("/x")
            .header("x-a", "1")
            .header("x-a", "2")
            .version(http::Version::HTTP_2)
            .extension(Marker(7))
            .body(Full::new(Bytes::from_static(b"hi")))
            .unwrap();
        let copy: Request<_> = Replay::copy(&req).unwrap().into();
        let values: Vec<_> = copy.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(copy.method(), http::Method::POST);
        assert_eq!(copy.uri(), "/x");
        assert_eq!(copy.version(), http::Version::HTTP_2);
        assert_eq!(copy.extensions().get::<Marker>(), Some(&Marker(7)));
        assert_eq!(
            futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
                copy.into_body()
            ))
            .unwrap()
            .unwrap()
            .to_bytes(),
            "hi"
        );
        assert!(Replay::copy(&Request::new(String::from("s"))).is_some());

        let streaming: Request<Stream> =
            Request::new(StreamBody::new(futures_util::stream::empty()));
        assert!(Replay::copy(&streaming).is_none());
    }

    #[test]
    fn default_headers_do_not_override() {
        let mut headers = http::HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static("mine/1"));
        add_default_headers(&mut headers);
        assert_eq!(headers[USER_AGENT], "mine/1");
        assert_eq!(headers[ACCEPT], GITHUB_JSON);
        assert_eq!(headers[API_VERSION_HEADER], API_VERSION);

        let mut empty = http::HeaderMap::new();
        add_default_headers(&mut empty);
        assert_eq!(empty.len(), 3);
        assert_eq!(empty[USER_AGENT], USER_AGENT_VALUE);
        assert_eq!(empty[ACCEPT], GITHUB_JSON);
        assert_eq!(empty[API_VERSION_HEADER], API_VERSION);
    }
}
