//! What a demanding user meets, against the emulator: a hung GitHub, huge and endless answers,
//! an App installed again, a dropped runtime, two tenants in one cache, redirects, and numbers no
//! clock can hold. Each is a promise of the crate: it heals, it never hangs, it never panics,
//! and it never mixes credentials up.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Intercepted, client, forward, get, intercepting, send, stack};
use futures_util::FutureExt;
use futures_util::future::join_all;
use github_auth_emulator::{Emulator, EmulatorHandle, Installation, TEST_APP_PRIVATE_KEY_PKCS1};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::time::Instant;
use tower::Layer;
use tower_github_auth::{
    AppAuth, AppId, Endpoints, Error, Exchange, InstallationId, PrivateKey, TokenCache,
};

fn app(github: &EmulatorHandle) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

fn is_token_exchange(req: &Request<Full<Bytes>>) -> bool {
    req.uri().path().ends_with("/access_tokens")
}

#[tokio::test(start_paused = true)]
async fn a_hung_token_endpoint_fails_every_waiting_request_at_the_deadline_then_heals() {
    let github = Emulator::builder().start().await.unwrap();
    let hung = Arc::new(AtomicBool::new(true));
    let http = intercepting({
        let hung = Arc::clone(&hung);
        move |req, http| {
            if hung.load(Ordering::SeqCst) && is_token_exchange(&req) {
                // Accepted, never answered.
                return futures_util::future::pending().boxed();
            }
            forward(req, http)
        }
    });
    let svc = app(&github).as_installation(InstallationId(1)).layer(http);

    let started = Instant::now();
    let answers = join_all((0..20).map(|_| send(&svc, get("/repos/octo/one")))).await;
    let waited = started.elapsed();
    for answer in answers {
        let err = answer.unwrap_err();
        assert!(
            matches!(err, Error::Timeout { exchange: Exchange::InstallationToken, after, .. }
                if after == Duration::from_secs(10)),
            "{err}"
        );
    }
    assert!(waited <= Duration::from_secs(11), "waited {waited:?}");

    // GitHub answers again: after the backoff, the next request is a new exchange.
    hung.store(false, Ordering::SeqCst);
    let during = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert!(matches!(during, Error::Backoff { .. }), "{during}");
    // 1 s, plus at most 20% jitter.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(github.counters().installation_tokens_minted, 1);
}

#[tokio::test]
async fn a_token_narrowed_to_500_repositories_is_read_whole() {
    let github = Emulator::builder()
        .installation(Installation::new(1, "octo").generated_repositories(500))
        .start()
        .await
        .unwrap();
    let names: Vec<String> = (1..=500).map(|i| format!("repo-{i}")).collect();
    let narrow = app(&github)
        .as_installation(InstallationId(1))
        .repositories(names.iter().cloned());
    let token = narrow.fetch_token(&client()).await.unwrap();
    assert_eq!(token.repositories.len(), 500);
    assert!(token.repositories.contains(&"octo/repo-500".to_owned()));
    assert_eq!(token.repository_selection.as_deref(), Some("selected"));

    // The answer is about 2.5 MiB of repository objects: the old 1 MiB cap refused it.
    let capped = app(&github)
        .max_answer_size(1024 * 1024)
        .as_installation(InstallationId(1))
        .repositories(names);
    let err = capped.fetch_token(&client()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

/// A token-endpoint answer whose body never ends: `chunk` bytes every `every`.
fn endless(chunk: usize, every: Duration) -> Intercepted {
    let chunks = futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        let frame = http_body::Frame::data(Bytes::from(vec![b' '; chunk]));
        Some((Ok::<_, tower_github_auth::BoxError>(frame), ()))
    });
    let body = StreamBody::new(chunks).boxed();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::CREATED;
    async move { Ok(response) }.boxed()
}

#[tokio::test(start_paused = true)]
async fn an_endless_answer_ends_in_a_typed_error_with_bounded_memory() {
    let github = Emulator::builder().start().await.unwrap();
    // Slow: 64 KiB every 100 ms never reaches the size bound; the deadline ends it.
    let slow = intercepting(|req, http| {
        if is_token_exchange(&req) {
            return endless(64 * 1024, Duration::from_millis(100));
        }
        forward(req, http)
    });
    let started = Instant::now();
    let err = send(
        &app(&github).as_installation(InstallationId(1)).layer(slow),
        get("/repos/octo/one"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() <= Duration::from_secs(11));

    // Fast: 1 MiB every millisecond; the size bound (here 4 MiB) ends it long before the deadline.
    let fast = intercepting(|req, http| {
        if is_token_exchange(&req) {
            return endless(1024 * 1024, Duration::from_millis(1));
        }
        forward(req, http)
    });
    let started = Instant::now();
    let err = send(
        &app(&github)
            .max_answer_size(4 * 1024 * 1024)
            .as_installation(InstallationId(1))
            .layer(fast),
        get("/repos/octo/one"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_installation_found_again_after_the_app_was_reinstalled() {
    let github = Emulator::builder().start().await.unwrap();
    let installation = app(&github).installation_for_repository("octo", "one");
    let svc = stack(installation.clone());
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        installation.cached_token().unwrap().installation_id,
        InstallationId(1)
    );

    // Uninstalled and installed again: a new id; the old one's tokens and mints are refused.
    let new_id = github.reinstall(1);
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        installation.cached_token().unwrap().installation_id,
        InstallationId(new_id)
    );
    // And it stays found: the next token needs no lookup.
    let lookups = github.counters().requests;
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().requests, lookups + 1);
}

#[test]
fn an_exchange_cancelled_with_its_runtime_does_not_poison_the_layer() {
    // The emulator runs on a runtime of its own, alive throughout.
    let emulator_runtime = tokio::runtime::Runtime::new().unwrap();
    let github = emulator_runtime
        .block_on(Emulator::builder().start())
        .unwrap();
    // One layer for both runtimes, as a `static` shared by `#[tokio::test]`s would be.
    let installation = app(&github).as_installation(InstallationId(1));

    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    github.set_latency(Duration::from_secs(2));
    first.block_on(async {
        let svc = stack(installation.clone());
        // The request gives up; the exchange it started is still running...
        let gave_up = tokio::time::timeout(
            Duration::from_millis(100),
            send(&svc, get("/repos/octo/one")),
        )
        .await;
        assert!(gave_up.is_err());
    });
    // ...when its runtime goes away.
    drop(first);
    github.set_latency(Duration::ZERO);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, _) = second
        .block_on(async { send(&stack(installation.clone()), get("/repos/octo/one")).await })
        .expect("a new exchange, not the dead one");
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn two_tenants_with_one_app_id_never_share_a_token() {
    let github = Emulator::builder().start().await.unwrap();
    // Another key for the same App id: the PEM of an App the emulator makes from a manifest.
    let code = github.issue_manifest_code(r#"{"name":"other","url":"https://example.com"}"#);
    let converted = send(
        &stack(
            tower_github_auth::Unauthenticated::new()
                .endpoints(Endpoints::single(&github.base_url()).unwrap()),
        ),
        Request::post(format!("/app-manifests/{code}/conversions"))
            .body(Full::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(converted.0, StatusCode::CREATED);
    let other_key = PrivateKey::from_pem(converted.1["pem"].as_str().unwrap()).unwrap();

    let shared = TokenCache::default();
    let ours = app(&github).token_cache(shared.clone());
    let theirs = AppAuth::new(AppId(1), other_key)
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
        .token_cache(shared.clone());
    let token = ours
        .as_installation(InstallationId(1))
        .fetch_token(&client())
        .await
        .unwrap();

    // Same id, same installation, another key: its own exchange, which GitHub refuses.
    let err = theirs
        .as_installation(InstallationId(1))
        .fetch_token(&client())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    assert!(
        theirs
            .as_installation(InstallationId(1))
            .cached_token()
            .is_none()
    );
    assert_eq!(shared.len(), 2);
    assert_eq!(github.counters().installation_tokens_minted, 1);
    drop(token);
}

#[tokio::test]
async fn a_redirect_on_an_exchange_is_a_typed_error_and_nothing_follows_it() {
    let github = Emulator::builder().start().await.unwrap();
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let elsewhere = {
        let hits = Arc::clone(&elsewhere_hits);
        let app = axum::Router::new().fallback(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async { "thanks for the secrets" }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/collect")
    };
    let http = intercepting(move |req, http| {
        if req.uri().path() == "/login/oauth/access_token" {
            let location = elsewhere.clone();
            return async move {
                let body = Full::new(Bytes::from_static(b"moved"))
                    .map_err(Into::into)
                    .boxed();
                let mut moved = Response::new(body);
                *moved.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                moved
                    .headers_mut()
                    .insert("location", location.parse().unwrap());
                Ok(moved)
            }
            .boxed();
        }
        forward(req, http)
    });
    let user = tower_github_auth::OAuthAppAuth::new(tower_github_auth::ClientCredentials::new(
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID,
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .as_web_user(github.issue_web_flow_code("octocat"))
    .build();
    let err = user.fetch_token(&http).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT), "{err}");
    assert!(!format!("{err} {err:?}").contains(github_auth_emulator::DEFAULT_OAUTH_CLIENT_SECRET));
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_an_answer_no_clock_can_hold() {
    let github = Emulator::builder().start().await.unwrap();
    // The refresh answers carry `expires_in: u64::MAX` (a proxy, a broken GitHub).
    let http = intercepting(|req, http| {
        let refresh = req.uri().path() == "/login/oauth/access_token"
            && String::from_utf8_lossy(&common::body_bytes(&req)).contains("refresh_token");
        let answer = forward(req, http);
        if !refresh {
            return answer;
        }
        async move {
            let (parts, body) = answer.await?.into_parts();
            let mut json: serde_json::Value =
                serde_json::from_slice(&body.collect().await?.to_bytes())?;
            json["expires_in"] = u64::MAX.into();
            let body = Full::new(Bytes::from(json.to_string()))
                .map_err(Into::into)
                .boxed();
            Ok(Response::from_parts(parts, body))
        }
        .boxed()
    });
    let user = tower_github_auth::OAuthAppAuth::new(tower_github_auth::ClientCredentials::new(
        github_auth_emulator::DEFAULT_APP_CLIENT_ID,
        github_auth_emulator::DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .as_web_user(github.issue_web_flow_code("octocat"))
    .build();
    user.fetch_token(&http).await.unwrap();
    let token = user.token_auth();
    let first = token.refresh(&http).await.unwrap();
    assert!(first.expires_at.is_some());
    // The next refresh sends the refresh token GitHub issued with that answer: accepted.
    let second = token.refresh(&http).await.unwrap();
    assert!(second.access_token.is_some());
    let counters = github.counters();
    assert_eq!(counters.refreshes, 2);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
}
