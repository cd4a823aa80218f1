//! A promise of the warm path that a benchmark cannot check: what a warm request allocates.
//! (That it takes no lock a refresh holds is a unit test of the token cache.)

use futures_util::FutureExt;
use http::Request;
use http::header::AUTHORIZATION;
use tower::{Layer, Service, ServiceExt};
use tower_github_auth::TokenAuth;
use tower_http::set_header::SetRequestHeaderLayer;

#[path = "common/noop_github.rs"]
mod noop_github;
use noop_github::{Body, bearer, installation, noop as github, request};

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
    let mut installation = installation().layer(github());
    installation.clone().oneshot(request()).await.unwrap(); // mint
    let mut token = TokenAuth::new("ghp_warm").unwrap().layer(github());
    let mut set_header = SetRequestHeaderLayer::overriding(AUTHORIZATION, bearer()).layer(github());
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
