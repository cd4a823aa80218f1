//! A promise of the warm path that a benchmark cannot check: what a warm request allocates.
//! (That it takes no lock a refresh holds is a unit test of the token cache.)

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_github_auth::{AppInstallationAuth, Endpoints, PrivateKey, TokenAuth};
use tower_http::set_header::SetRequestHeaderLayer;

type Body = Full<Bytes>;

fn request() -> Request<Body> {
    Request::get("https://api.github.com/repos/octo/one")
        .body(Body::default())
        .unwrap()
}

/// GitHub without a network: 200 to everything, a token at the token endpoint.
fn github()
-> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|req: Request<Body>| async move {
        if req.uri().path().ends_with("/access_tokens") {
            let expires = SystemTime::now() + Duration::from_secs(3600);
            let body = format!(
                r#"{{"token":"ghs_warm","expires_at":"{}"}}"#,
                humantime::format_rfc3339_seconds(expires)
            );
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = StatusCode::CREATED;
            return Ok(res);
        }
        Ok(Response::new(Body::default()))
    })
}

/// Heap allocations of one request through `svc` (request built beforehand, response dropped).
fn allocations<S>(svc: &mut S) -> u64
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    let req = request();
    allocation_counter::measure(|| {
        let answer = svc.call(req).now_or_never().expect("warm: ready at once");
        drop(answer.unwrap());
    })
    .count_total
}

#[tokio::test]
async fn a_warm_request_allocates_what_set_request_header_does() {
    let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
    let mut installation = AppInstallationAuth::new(1, key, 1)
        .endpoints(Endpoints::github_com())
        .layer(github());
    installation.clone().oneshot(request()).await.unwrap(); // mint
    let mut token = TokenAuth::new("ghp_warm").unwrap().layer(github());
    let value = HeaderValue::try_from(String::from("Bearer ghp_warm")).unwrap();
    let mut set_header = SetRequestHeaderLayer::overriding(AUTHORIZATION, value).layer(github());
    let mut bare = github();

    // Twice each: the first call may set up lazily initialised state.
    let counts: Vec<[u64; 2]> = [
        [allocations(&mut bare), allocations(&mut bare)],
        [allocations(&mut set_header), allocations(&mut set_header)],
        [allocations(&mut token), allocations(&mut token)],
        [
            allocations(&mut installation),
            allocations(&mut installation),
        ],
    ]
    .into();
    eprintln!("allocations (bare, SetRequestHeader, TokenAuth, AppInstallationAuth): {counts:?}");
    let [bare, set_header, token, installation] = [counts[0], counts[1], counts[2], counts[3]];
    assert_eq!(bare, [0, 0]);
    // The counter works: inserting a header into an empty map allocates the map's storage.
    assert!(set_header[1] > 0, "{set_header:?}");
    // Our four headers go in with the same allocations as tower-http's one; the installation
    // token is read from the cache and the replay state lives in the response future.
    assert_eq!(token[1], set_header[1], "TokenAuth");
    assert_eq!(installation[1], set_header[1], "AppInstallationAuth");
}
