//! Promises of the middleware that a benchmark cannot check: what a warm request allocates, and
//! that every request (replays included) goes to an inner service polled ready. (That a warm
//! request takes no lock a refresh holds is a unit test of the token cache.)

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use common::noop_github::{Body, bearer, installation, noop as github, request};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};
use tower_github_auth::TokenAuth;
use tower_http::set_header::SetRequestHeaderLayer;

/// Heap allocations of one request `req` through `svc`, the second time (the first may set up
/// lazily initialised state); the response is dropped inside the measurement.
fn allocations<S>(svc: &mut S, req: impl Fn() -> Request<Body>) -> u64
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    let mut count = 0;
    for _ in 0..2 {
        svc.ready().now_or_never().expect("ready").unwrap();
        let req = req();
        count = allocation_counter::measure(|| {
            let answer = svc.call(req).now_or_never().expect("warm: ready at once");
            drop(answer.unwrap());
        })
        .count_total;
    }
    count
}

/// The request with one header of its own.
fn dressed() -> Request<Body> {
    let mut req = request();
    req.headers_mut()
        .insert("x-request-id", http::HeaderValue::from_static("42"));
    req
}

#[tokio::test]
async fn a_warm_request_allocates_what_set_request_header_does() {
    let mut installation = installation().layer(github());
    installation.clone().oneshot(request()).await.unwrap(); // mint
    let mut token = TokenAuth::new("ghp_warm").unwrap().layer(github());
    let mut set_header = SetRequestHeaderLayer::overriding(AUTHORIZATION, bearer()).layer(github());
    let mut bare = github();

    // A request without headers of its own (absolute URI): the header map's storage, twice
    // (the map's index and its entries); nothing else, not even for the installation token,
    // which is read from the cache, or the state kept for a replay, which lives in the future.
    let plain = [
        allocations(&mut bare, request),
        allocations(&mut set_header, request),
        allocations(&mut token, request),
        allocations(&mut installation, request),
    ];
    // With a header of its own, the map has room already; the installation path copies it for
    // a replay: the copy's storage (twice), and the custom name's bytes, made shareable (once).
    let with_header = [
        allocations(&mut bare, dressed),
        allocations(&mut set_header, dressed),
        allocations(&mut token, dressed),
        allocations(&mut installation, dressed),
    ];
    eprintln!(
        "allocations (bare, SetRequestHeader, TokenAuth, AppInstallationAuth): \
         {plain:?} without headers, {with_header:?} with one"
    );
    assert_eq!(plain, [0, 2, 2, 2]);
    assert_eq!(with_header, [0, 0, 0, 3]);
}

/// Panics when `call` reaches an instance that was not polled ready since its last call;
/// answers 401 to the first `refusals` API requests.
#[derive(Clone)]
struct Strict<S> {
    inner: S,
    ready: bool,
    refusals: Arc<AtomicUsize>,
    api_calls: Arc<AtomicUsize>,
}

impl<S> Service<Request<Body>> for Strict<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        let ready = self.inner.poll_ready(cx);
        self.ready |= ready.is_ready();
        ready
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        assert!(
            std::mem::take(&mut self.ready),
            "called without poll_ready: {}",
            req.uri()
        );
        let exchange = req.uri().path().ends_with("/access_tokens");
        let refuse = !exchange
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if !exchange {
            self.api_calls.fetch_add(1, Ordering::SeqCst);
        }
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut response = answer.await?;
            if refuse {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            Ok(response)
        })
    }
}

fn strict(
    refusals: usize,
) -> Strict<
    impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static,
> {
    Strict {
        inner: github(),
        ready: false,
        refusals: Arc::new(AtomicUsize::new(refusals)),
        api_calls: Arc::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn every_call_and_replay_goes_to_a_service_polled_ready() {
    // A fresh token refused 0, 1 or 3 times (GitHub replicating it): each refusal is a replay
    // after a pause, through the service the response future keeps.
    for (refusals, api_calls) in [(0, 3), (1, 4), (3, 6)] {
        let inner = strict(refusals);
        let mut svc = installation().layer(inner.clone());
        for _ in 0..3 {
            let response = svc.ready().await.unwrap().call(request()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(
            inner.api_calls.load(Ordering::SeqCst),
            api_calls,
            "{refusals} refusals"
        );
    }
    // Fixed credentials, and requests to other hosts, go to the ready service in place.
    let mut token = TokenAuth::new("ghp_x").unwrap().layer(strict(0));
    for uri in ["https://api.github.com/user", "https://example.com/"] {
        for _ in 0..3 {
            let req = Request::get(uri).body(Body::default()).unwrap();
            token.ready().await.unwrap().call(req).await.unwrap();
        }
    }
}
