//! GitHub without a network, for measuring the layers themselves: shared by the warm-path
//! benchmark and the allocation test.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, service_fn};
use tower_github_auth::{AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey};

pub type Body = Full<Bytes>;

/// The request every measurement sends: an absolute API URL, no headers of its own. Never
/// inlined, so that building it costs the same everywhere (inlined in some benchmarks and not in
/// others, it moved results by up to 60 ns).
#[inline(never)]
pub fn request() -> Request<Body> {
    Request::get("https://api.github.com/repos/octo/one")
        .body(Body::default())
        .unwrap()
}

/// Answers 200 to everything, and mints an hour-long installation token at the token endpoint
/// (after `exchange_delay`), counting the exchanges.
pub fn github(
    exchanges: Arc<AtomicUsize>,
    exchange_delay: Duration,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    answering(exchanges, exchange_delay, None)
}

/// The five `x-ratelimit-*` headers GitHub puts on every API answer, `remaining` left.
fn add_rate_limit_headers(headers: &mut http::HeaderMap, remaining: &'static str) {
    for (name, value) in [
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", remaining),
        ("x-ratelimit-reset", "1765000000"),
        ("x-ratelimit-used", "1"),
        ("x-ratelimit-resource", "core"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Like [`github`], its API answers carrying the five `x-ratelimit-*` headers (`remaining`
/// left) when `remaining` is given, as GitHub's do.
fn answering(
    exchanges: Arc<AtomicUsize>,
    exchange_delay: Duration,
    remaining: Option<&'static str>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |req: Request<Body>| {
        let exchanges = Arc::clone(&exchanges);
        async move {
            if req.uri().path().ends_with("/access_tokens") {
                exchanges.fetch_add(1, Ordering::Relaxed);
                if !exchange_delay.is_zero() {
                    tokio::time::sleep(exchange_delay).await;
                }
                let expires = SystemTime::now() + Duration::from_secs(3600);
                let body = format!(
                    r#"{{"token":"ghs_noop","expires_at":"{}"}}"#,
                    humantime::format_rfc3339_seconds(expires)
                );
                let mut res = Response::new(Body::from(body));
                *res.status_mut() = StatusCode::CREATED;
                return Ok(res);
            }
            let mut res = Response::new(Body::default());
            if let Some(remaining) = remaining {
                add_rate_limit_headers(res.headers_mut(), remaining);
            }
            Ok(res)
        }
    })
}

/// The no-op GitHub with nothing to count and no delay.
pub fn noop()
-> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    github(Arc::new(AtomicUsize::new(0)), Duration::ZERO)
}

/// The no-op GitHub whose answers carry the five `x-ratelimit-*` headers, as GitHub's do, with
/// `remaining` requests left.
pub fn noop_rate_limited(
    remaining: &'static str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    answering(
        Arc::new(AtomicUsize::new(0)),
        Duration::ZERO,
        Some(remaining),
    )
}

/// Installation 1 of App 1 (the emulator's test key), on github.com.
pub fn installation() -> AppInstallationAuth {
    let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
    AppInstallationAuth::new(AppId(1), key, InstallationId(1)).endpoints(Endpoints::github_com())
}

/// An `Authorization` value as a program builds it: from a token known at run time (a
/// `'static` one would skip a reference count on every copy).
pub fn bearer() -> HeaderValue {
    let token = String::from("ghs_0123456789abcdefghijklmnopqrstuvwxyz");
    HeaderValue::try_from(format!("Bearer {token}")).unwrap()
}

/// The same header work as this crate's layers, with tower-http: GitHub's three required headers
/// (where absent) plus the credential, four `SetRequestHeader` layers over `inner`.
pub fn four_set_request_headers<S, RB>(
    authorization: HeaderValue,
    inner: S,
) -> impl Service<Request<Body>, Response = Response<RB>, Error = S::Error>
where
    S: Service<Request<Body>, Response = Response<RB>>,
{
    use tower_http::set_header::SetRequestHeaderLayer;
    tower::ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::if_not_present(
            http::header::USER_AGENT,
            HeaderValue::from_static("tower-github-auth/0.1.0"),
        ))
        .layer(SetRequestHeaderLayer::if_not_present(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        ))
        .layer(SetRequestHeaderLayer::if_not_present(
            http::HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        ))
        .layer(SetRequestHeaderLayer::overriding(
            http::header::AUTHORIZATION,
            authorization,
        ))
        .service(inner)
}
