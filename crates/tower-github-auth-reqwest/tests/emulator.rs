//! tower-github-auth's layers over a `reqwest::Client`, against the emulator: a cold burst makes
//! one exchange, exchanges go through the reqwest client, a 401 is replayed with a copy of the
//! body, no credential reaches another host, redirects are never followed under the layers.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use github_auth_emulator::{Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1};
use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, AppInstallationAuth, Endpoints, InstallationId};
use tower_github_auth_reqwest::{Error, ReqwestService, copy_reqwest_body};

/// The reqwest client under every stack, redirects off.
fn reqwest() -> ReqwestService {
    ReqwestService::from_builder(reqwest::Client::builder()).unwrap()
}

fn app(github: &EmulatorHandle) -> AppAuth {
    AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

fn installation(github: &EmulatorHandle) -> AppInstallationAuth {
    app(github).as_installation(InstallationId(1))
}

/// The answer's status and its body as JSON.
async fn json_of(answer: http::Response<reqwest::Body>) -> (StatusCode, Value) {
    let answer = reqwest::Response::from(answer);
    let status = answer.status();
    let bytes = answer.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_installation_calls_github_through_reqwest() {
    let github = Emulator::start().await.unwrap();
    let service = ServiceBuilder::new()
        .layer(installation(&github))
        .service(reqwest());
    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let answer = service.clone().oneshot(request).await.unwrap();
    // reqwest's own `Response`, its URL carried over.
    let answer = reqwest::Response::from(answer);
    assert_eq!(
        answer.url().as_str(),
        format!("{}/repos/octo/one", github.base_url())
    );
    let (status, body) = (answer.status(), answer.text().await.unwrap());
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["full_name"], "octo/one");
    assert_eq!(body["emulator"]["credential"], "installation");
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1);
    assert_eq!(counters.refusals_for("no_user_agent"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_of_200_requests_makes_one_exchange() {
    // The exchange is answered after 100 ms, so the requests arrive while it is in flight.
    let github = Emulator::builder()
        .latency(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(installation(&github))
        .service(reqwest());
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..200 {
        let service = service.clone();
        let path = if n % 2 == 0 {
            "/repos/octo/one"
        } else {
            "/repos/octo/two"
        };
        let request = http::Request::get(path).body(Bytes::new()).unwrap();
        calls.spawn(async move { service.oneshot(request).await });
    }
    let mut answered = 0;
    while let Some(call) = calls.join_next().await {
        let (status, body) = json_of(call.unwrap().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["emulator"]["credential"], "installation");
        answered += 1;
    }
    assert_eq!(answered, 200);
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(counters.installation_tokens_minted, 1);
}

#[tokio::test]
async fn exchanges_go_through_the_reqwest_client() {
    // GitHub is `github.test`, a name only this reqwest client resolves (to the emulator): the
    // JWT's and the token's requests can only have gone through it.
    let github = Emulator::start().await.unwrap();
    let base = format!("http://github.test:{}", github.addr().port());
    let client = reqwest::Client::builder().resolve("github.test", github.addr());
    let installation = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&base).unwrap())
        .as_installation(InstallationId(1));
    let service = ServiceBuilder::new()
        .layer(installation.clone())
        .service(ReqwestService::from_builder(client).unwrap());

    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = json_of(service.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["emulator"]["credential"], "installation");
    assert_eq!(github.counters().installation_token_exchanges, 1);
    assert!(installation.cached_token().is_some());

    // The same layer over a client that resolves the name elsewhere (another loopback address,
    // where nothing listens) fails at the exchange.
    let fresh = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&base).unwrap())
        .as_installation(InstallationId(1));
    let unresolved = ReqwestService::from_builder(
        reqwest::Client::builder().resolve("github.test", "127.0.0.2:1".parse().unwrap()),
    )
    .unwrap();
    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let failed = ServiceBuilder::new()
        .layer(fresh)
        .service(unresolved)
        .oneshot(request)
        .await
        .unwrap_err();
    assert!(!failed.is_inner(), "an exchange error: {failed:?}");
    assert_eq!(github.counters().installation_token_exchanges, 1);
}

#[tokio::test(start_paused = true)]
async fn a_401_during_replication_lag_is_replayed() {
    let github = Emulator::start().await.unwrap();
    github.set_replication_lag(true);
    let service = ServiceBuilder::new()
        .layer(installation(&github))
        .service(reqwest());
    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = json_of(service.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["full_name"], "octo/one");
    let counters = github.counters();
    assert_eq!(counters.refusals_for("replication_lag"), 1, "{counters:?}");
    // The same token, sent again after the pause: no second exchange.
    assert_eq!(counters.installation_token_exchanges, 1);
}

/// A POST with a JSON body, through the App's JWT layer, to a GitHub whose clock is an hour
/// behind ours: the first JWT is refused (`iat` in the future), the layer learns GitHub's clock
/// and replays the request with a new JWT and a copy of `body` when it can copy it. The status
/// the caller got.
async fn post_with_github_clock_behind<B>(app: AppAuth, body: B) -> StatusCode
where
    B: Into<reqwest::Body> + From<Bytes> + Send + 'static,
{
    let request = http::Request::post("/app/installations/1/access_tokens")
        .body(body)
        .unwrap();
    let answer = ServiceBuilder::new()
        .layer(app)
        .service(reqwest().request_body::<B>())
        .oneshot(request)
        .await
        .unwrap();
    answer.status()
}

const NARROWED: &[u8] = br#"{"repositories":["one"]}"#;

async fn github_clock_behind() -> EmulatorHandle {
    Emulator::builder()
        .clock_offset(-3600)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_post_is_replayed_with_a_copy_of_its_bytes() {
    let github = github_clock_behind().await;
    let status = post_with_github_clock_behind(app(&github), Bytes::from_static(NARROWED)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(github.counters().refusals_for("jwt_iat_in_future"), 1);
    assert_eq!(
        github.last_access_token_request(),
        Some(json!({"repositories": ["one"]}))
    );
}

#[tokio::test]
async fn a_reqwest_body_is_replayed_with_copy_reqwest_body() {
    let github = github_clock_behind().await;
    let app = app(&github).replay_body_with(copy_reqwest_body);
    let status = post_with_github_clock_behind(app, reqwest::Body::from(NARROWED)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        github.last_access_token_request(),
        Some(json!({"repositories": ["one"]}))
    );
}

#[tokio::test]
async fn a_reqwest_body_without_a_copier_is_not_replayed() {
    let github = github_clock_behind().await;
    let status = post_with_github_clock_behind(app(&github), reqwest::Body::from(NARROWED)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(github.counters().installation_tokens_minted, 0);
}

/// A loopback server answering every request with the headers it received, one `name: value`
/// a line, and counting the requests.
async fn header_echo() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let echo = axum::Router::new().fallback(move |headers: http::HeaderMap| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut text = String::new();
            for (name, value) in &headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                writeln!(text, "{name}: {value}").expect("writing to a String");
            }
            Ok::<_, Infallible>(text)
        }
    });
    tokio::spawn(async move { axum::serve(listener, echo).await });
    (addr, seen)
}

/// A loopback server answering every request with `307 Temporary Redirect` to `to`.
async fn redirecting_to(to: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redirect = axum::Router::new().fallback(move || async move {
        http::Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(http::header::LOCATION, format!("http://{to}/landed"))
            .body(axum::body::Body::empty())
            .unwrap()
    });
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    addr
}

#[tokio::test]
async fn no_credential_reaches_another_host() {
    let github = Emulator::start().await.unwrap();
    let (echo, _) = header_echo().await;
    let installation = installation(&github);
    let service = ServiceBuilder::new()
        .layer(installation.clone())
        .service(reqwest());

    // The API host gets the credential...
    let to_github = http::Request::get(format!("{}/repos/octo/one", github.base_url()))
        .body(Bytes::new())
        .unwrap();
    let (_, seen) = json_of(service.clone().oneshot(to_github).await.unwrap()).await;
    assert_eq!(seen["emulator"]["credential"], "installation");

    // ...another host (another port on the same loopback address) gets none, untouched.
    let elsewhere = http::Request::get(format!("http://{echo}/anything"))
        .body(Bytes::new())
        .unwrap();
    let answer = reqwest::Response::from(service.oneshot(elsewhere).await.unwrap());
    let sent = answer.text().await.unwrap();
    assert!(sent.contains(&format!("host: {echo}")), "{sent}");
    assert!(!sent.contains("authorization"), "{sent}");
    assert!(!sent.contains("user-agent"), "{sent}");
    let token = installation.cached_token().unwrap().token;
    assert!(!sent.contains(token.expose_secret()), "{sent}");
}

#[tokio::test]
async fn an_exchange_answered_with_a_redirect_is_not_followed() {
    // A "GitHub" that redirects everything, the token request included, to another host.
    let (elsewhere, reached) = header_echo().await;
    let github = redirecting_to(elsewhere).await;
    let installation = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&format!("http://{github}")).unwrap())
        .as_installation(InstallationId(1));
    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let failed = ServiceBuilder::new()
        .layer(installation)
        .service(reqwest())
        .oneshot(request)
        .await
        .unwrap_err();
    assert_eq!(failed.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the JWT went elsewhere");
}

#[tokio::test]
async fn a_client_that_follows_redirects_fails_the_request() {
    let (elsewhere, reached) = header_echo().await;
    let redirecting = redirecting_to(elsewhere).await;
    let request = || {
        http::Request::get(format!("http://{redirecting}/moved"))
            .body(Bytes::new())
            .unwrap()
    };

    // reqwest's default client follows up to 10 redirects: the answer is not the URL's.
    let following = ReqwestService::new(reqwest::Client::new());
    let error = following.oneshot(request()).await.unwrap_err();
    assert!(
        matches!(error, Error::Redirected { status } if status == StatusCode::OK),
        "{error:?}"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    // `from_builder` turns redirects off whatever the builder says: the 307 comes back.
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10));
    let answer = ReqwestService::from_builder(builder)
        .unwrap()
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_relative_uri_is_a_typed_error() {
    let request = http::Request::get("/repos/octo/one")
        .body(Bytes::new())
        .unwrap();
    let error = reqwest().oneshot(request).await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest(_)), "{error:?}");
}

#[tokio::test]
async fn no_error_shows_the_url_of_a_failed_request() {
    // An App manifest's code travels in the path (`/app-manifests/{code}/conversions`): a
    // failed conversion's error must not show it. Port 1 on loopback: connection refused.
    let endpoints = Endpoints::single("http://127.0.0.1:1").unwrap();
    let code = "manifest-code-4f9a1c";
    let error = tower_github_auth::convert_manifest_code(&reqwest(), &endpoints, code)
        .await
        .unwrap_err();
    let mut shown = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        write!(shown, " / {cause} {cause:?}").unwrap();
        source = cause.source();
    }
    assert!(!shown.contains(code), "{shown}");
    assert!(!shown.contains("conversions"), "{shown}");
}
