//! The response futures of [`AuthService`](crate::AuthService).
//!
//! [`ResponseFuture`] (minted credentials) is a small state machine: `Calling` for a warm
//! request, `Fetching` while a request waits on the exchange in flight, `Waiting` while a
//! fresh token replicates or the inner service gets ready for a replay, `Passthrough` for
//! requests that carry no cached credential. [`FixedResponseFuture`] (fixed credentials) only
//! maps the inner service's error.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::future::BoxFuture;
use http::header::DATE;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::cache::Stamp;
use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::credential::{Minted, Rejected};
use crate::error::{BoxError, Error};
use crate::headers::Authorization;
use crate::rate_limit::RateLimits;
use crate::refusal::Refusal;
use crate::service::auth::Auth;
use crate::service::replay::Replay;

pin_project! {
    /// The future of an [`AuthService`](crate::AuthService) with a [`Fixed`](crate::Fixed)
    /// credential: the inner service's, its error wrapped in [`Error::Inner`]; the answer's
    /// rate-limit headers are recorded when the request carried the credential.
    pub struct FixedResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<RateLimits>,
    }
}

impl<F> FixedResponseFuture<F> {
    pub(crate) fn new(inner: F, record: Option<RateLimits>) -> Self {
        Self { inner, record }
    }
}

impl<F> fmt::Debug for FixedResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedResponseFuture")
            .finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for FixedResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<RB>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx)).map_err(Error::inner)?;
        if let Some(record) = this.record {
            record.observe(response.status(), response.headers());
        }
        Poll::Ready(Ok(response))
    }
}

/// A request on its way with a cached credential, and what is needed to replay it after a 401
/// (or a 403 on a token not replicated yet).
pub(crate) struct Pending<S, B> {
    inner: S,
    auth: Arc<Auth<Minted>>,
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
    /// `inner` must have been polled ready.
    #[inline]
    pub(crate) fn new(inner: S, auth: Arc<Auth<Minted>>) -> Self {
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
    #[inline]
    pub(crate) fn send(
        mut self,
        mut req: Request<B>,
        given: Option<(Arc<Authorization>, Stamp)>,
    ) -> ResponseFuture<S, B> {
        debug_assert!(self.ready, "the inner service must be ready");
        let replay = self.auth.replay.copy(&req);
        self.auth.dress(req.headers_mut());
        let stamp = if let Some((authorization, stamp)) = given {
            authorization.apply(req.headers_mut());
            stamp
        } else {
            let auth = &self.auth;
            let inner = &self.inner;
            let applied = auth
                .credential
                .get()
                .apply(req.headers_mut(), &|| auth.side(inner));
            if let Some(stamp) = applied {
                stamp
            } else {
                let fetch = auth.credential.get().fetch(auth.side(inner));
                self.req = Some(Replay::from(req));
                return ResponseFuture::new(State::Fetching {
                    fetch,
                    pending: Some(self),
                });
            }
        };
        // Built in one expression, so that the (large) future is written once where it goes.
        ResponseFuture {
            state: State::Calling {
                fut: self.inner.call(req),
                pending: Some(Self {
                    req: replay,
                    stamp: Some(stamp),
                    ready: false,
                    ..self
                }),
            },
        }
    }
}

pin_project! {
    /// The future of an [`AuthService`](crate::AuthService) with a [`Minted`] credential. Warm
    /// requests go straight to the inner service's call.
    ///
    /// It holds what a replay after a 401 needs (the caller's request, when its body can be
    /// cloned, and the inner service), so it is larger than the inner service's future (about
    /// 650 bytes over hyper-util's client); that keeps a warm request free of heap allocations
    /// of its own.
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
        /// Waiting for the inner service, ready to react to a 401 or a 403.
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
    #[inline]
    fn new(state: State<S, B>) -> Self {
        Self { state }
    }

    /// The inner service's future, for a request that carries no cached credential.
    pub(crate) fn passthrough(fut: S::Future) -> Self {
        Self::new(State::Passthrough { fut })
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
                    pending.send(req, given).state
                }
                StateProj::Calling { fut, pending } => {
                    let mut response = ready!(fut.poll(cx)).map_err(Error::inner)?;
                    if let Some(p) = pending.as_ref() {
                        p.auth
                            .rate_limits
                            .observe(response.status(), response.headers());
                    }
                    // A success costs three status comparisons; only a 403's headers are read.
                    let Some(refusal) = Refusal::of(response.status(), response.headers()) else {
                        if response.status().is_client_error() {
                            name_subject(&mut response, pending.as_ref());
                        }
                        return Poll::Ready(Ok(response));
                    };
                    let p = pending.take().expect("polled after completion");
                    // Which credential GitHub refused, for the caller (built only on a refusal).
                    let subject = p.auth.credential.get().subject();
                    let Some(next) = after_refusal(p, refusal, &response) else {
                        response.extensions_mut().insert(subject);
                        return Poll::Ready(Ok(response));
                    };
                    next
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// Names the credential a refusal (401, 403, 429) answered, in the response's extensions.
#[cold]
fn name_subject<S, B, RB>(response: &mut Response<RB>, pending: Option<&Pending<S, B>>) {
    let refused = matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    );
    if let (true, Some(p)) = (refused, pending) {
        response
            .extensions_mut()
            .insert(p.auth.credential.get().subject());
    }
}

/// GitHub refused the credential: drop it (or wait for it to replicate, or keep it), and decide
/// on a replay; `None`: the answer goes to the caller.
fn after_refusal<S, B, RB>(
    mut p: Pending<S, B>,
    refusal: Refusal,
    response: &Response<RB>,
) -> Option<State<S, B>>
where
    S: Service<Request<B>, Response = Response<RB>> + HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    let stamp = p.stamp.take()?;
    let decision =
        p.auth
            .credential
            .get()
            .rejected(stamp, refusal, response.headers().get(DATE), p.replays);
    // Without a copy the answer goes to the caller; the cache has already learned from it.
    p.req.as_ref()?;
    match decision {
        Rejected::Wait(pause) => {
            #[cfg(feature = "metrics")]
            crate::observe::replayed(response.status().as_u16());
            p.replays += 1;
            Some(State::Waiting {
                sleep: Some(Box::pin(tokio::time::sleep(pause))),
                pending: Some(p),
            })
        }
        Rejected::Renew if !p.renewed => {
            tracing::debug!("GitHub refused a cached credential: replaying once with a fresh one");
            p.renewed = true;
            #[cfg(feature = "metrics")]
            crate::observe::replayed(response.status().as_u16());
            let fetch = p.auth.credential.get().fetch(p.auth.side(&p.inner));
            Some(State::Fetching {
                fetch,
                pending: Some(p),
            })
        }
        Rejected::Renew | Rejected::Keep => None,
    }
}
