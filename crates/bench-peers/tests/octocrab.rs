//! octocrab's typed API through our layers, against the emulator: installation and user
//! credentials, one exchange for a cold burst, replays after a 401 (replication lag, a revoked
//! token, a JWT refused for GitHub's clock) with octocrab's body, and no credential for
//! another host.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, Emulator, EmulatorHandle,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use octocrab::models::apps::CreateInstallationAccessToken;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tower_github_auth::{
    AppAuth, AppId, AppInstallationAuth, ClientCredentials, Endpoints, InstallationId,
    OAuthAppAuth, OAuthTokenAuth, PrivateKey, TokenSet,
};
use tower_github_auth_octocrab::{copy_octo_body, octocrab_with};

/// The HTTP client under every stack: hyper-util's, with octocrab's request body.
fn client() -> Client<HttpConnector, OctoBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The App, its replays copying octocrab's bodies with `copy`, or without a copier.
fn app(github: &EmulatorHandle, copy: Option<fn(&OctoBody) -> Option<OctoBody>>) -> AppAuth {
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
    let app = AppAuth::new(AppId(1), key).endpoints(Endpoints::single(&github.base_url()).unwrap());
    match copy {
        Some(copy) => app.replay_body_with(copy),
        None => app,
    }
}

fn installation(github: &EmulatorHandle) -> AppInstallationAuth {
    app(github, Some(copy_octo_body)).as_installation(InstallationId(1))
}

/// A user signed in through the web flow, as `OAuthTokenAuth` from the stored token set.
async fn user(github: &EmulatorHandle) -> OAuthTokenAuth {
    let credentials = ClientCredentials::new(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let stored: TokenSet = OAuthAppAuth::new(credentials.clone())
        .endpoints(endpoints.clone())
        .as_web_user(github.issue_web_flow_code("octocat"))
        .build()
        .fetch_token(&client())
        .await
        .unwrap();
    OAuthTokenAuth::builder(credentials)
        .token_set(stored)
        .endpoints(endpoints)
        .replay_body_with(copy_octo_body)
        .build()
}

/// The README's use of tower-github-auth-octocrab, on github.com: compiled, never run (it would
/// go to the network). Kept line for line the same as the README's "Inside octocrab" snippet.
#[allow(dead_code)]
async fn readme_snippet(key: PrivateKey) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // An installation, on github.com:
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_only()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build(https);
    let app = AppAuth::new(AppId(12345), key).replay_body_with(copy_octo_body);
    let octocrab = octocrab_with(&app.as_installation(InstallationId(42)), client);
    let repo = octocrab.repos("octo", "one").get().await?;
    println!("{}", repo.full_name.unwrap_or_default());
    Ok(())
}

#[test]
fn the_readme_shows_this_code() {
    let readme = include_str!("../../../README.md");
    assert!(readme.contains("use tower_github_auth_octocrab::{copy_octo_body, octocrab_with};"));
    let this = include_str!("octocrab.rs");
    let start = this.find("    // An installation, on github.com:").unwrap();
    let end = start + this[start..].find("    Ok(())").unwrap();
    let mut usage = String::new();
    for line in this[start..end].lines() {
        writeln!(usage, "{}", line.strip_prefix("    ").unwrap_or(line)).expect("to a String");
    }
    assert!(readme.contains(&usage), "README lacks:\n{usage}");
}

/// What GitHub took the caller of `GET /repos/{owner}/{repo}` for.
async fn seen_as(octocrab: &Octocrab, owner: &str, repo: &str) -> Value {
    let answer: Value = octocrab
        .get(format!("/repos/{owner}/{repo}"), None::<&()>)
        .await
        .unwrap();
    answer["emulator"].clone()
}

/// The HTTP status of an octocrab error GitHub answered.
fn github_status(error: &octocrab::Error) -> Option<StatusCode> {
    match error {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code),
        _ => None,
    }
}

#[tokio::test]
async fn typed_calls_as_an_installation() {
    let github = Emulator::start().await.unwrap();
    let octocrab = octocrab_with(&installation(&github), client());

    let repo = octocrab.repos("octo", "one").get().await.unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("octo/one"));
    assert_eq!(repo.id.0, 1000);
    assert_eq!(
        seen_as(&octocrab, "octo", "one").await["credential"],
        "installation"
    );
    // A repository outside the installation: GitHub's 404, as octocrab's typed error.
    let outside = octocrab.repos("monalisa", "hello").get().await.unwrap_err();
    assert_eq!(github_status(&outside), Some(StatusCode::NOT_FOUND));
    // `/user` refuses installation tokens (403): the token went, octocrab added nothing. The
    // 403 names no reason and the token is seconds old, so the layer takes it for replication
    // lag first: three replays (0.5 + 1 + 1.5 s), then GitHub's 403 reaches octocrab.
    let refused = octocrab.current().user().await.unwrap_err();
    assert_eq!(github_status(&refused), Some(StatusCode::FORBIDDEN));

    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1);
    assert_eq!(counters.refusals_for("resource_not_accessible"), 4);
    assert_eq!(counters.refusals_for("no_user_agent"), 0);
}

#[tokio::test]
async fn typed_calls_as_a_user() {
    let github = Emulator::start().await.unwrap();
    let user = user(&github).await;
    let octocrab = octocrab_with(&user, client());

    let me = octocrab.current().user().await.unwrap();
    assert_eq!(me.login, "octocat");
    assert_eq!(me.id.0, 1);
    let seen = seen_as(&octocrab, "octo", "one").await;
    assert_eq!(seen["credential"], "user");
    assert_eq!(seen["login"], "octocat");
    // Only the web-flow code was exchanged; the stored token was used as is.
    let counters = github.counters();
    assert_eq!(counters.oauth_code_exchanges, 1);
    assert_eq!(counters.refresh_attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_of_200_typed_calls_makes_one_exchange() {
    // The exchange is answered after 100 ms, so the calls arrive while it is in flight.
    let github = Emulator::builder()
        .latency(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let octocrab = octocrab_with(&installation(&github), client());

    let mut calls = tokio::task::JoinSet::new();
    for n in 0..200 {
        let octocrab = octocrab.clone();
        let name = if n % 2 == 0 { "one" } else { "two" };
        calls.spawn(async move { octocrab.repos("octo", name).get().await });
    }
    let mut answered = 0;
    while let Some(call) = calls.join_next().await {
        let repo = call.unwrap().unwrap();
        assert!(repo.full_name.unwrap().starts_with("octo/"));
        answered += 1;
    }
    assert_eq!(answered, 200);
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(counters.installation_tokens_minted, 1);
}

#[tokio::test]
async fn a_failed_exchange_reaches_octocrab_as_our_error() {
    let github = Emulator::start().await.unwrap();
    // Every try of the exchange (four: server errors are tried again at once) answered 500.
    github.fail_next_exchanges(4);
    let octocrab = octocrab_with(&installation(&github), client());
    let failed = octocrab.repos("octo", "one").get().await.unwrap_err();
    let octocrab::Error::Service { source, .. } = &failed else {
        panic!("not a service error: {failed:?}");
    };
    let ours = source
        .downcast_ref::<tower_github_auth::Error>()
        .expect("tower_github_auth::Error");
    assert_eq!(ours.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(github.counters().refusals_for("injected_error"), 4);
}

/// An installation's typed call on a fresh token GitHub refuses once while it replicates.
async fn call_during_replication_lag(
    copy: Option<fn(&OctoBody) -> Option<OctoBody>>,
) -> (Result<(), octocrab::Error>, EmulatorHandle) {
    let github = Emulator::start().await.unwrap();
    github.set_replication_lag(true);
    let installation = app(&github, copy).as_installation(InstallationId(1));
    let octocrab = octocrab_with(&installation, client());
    let result = octocrab.repos("octo", "one").get().await.map(|repo| {
        assert_eq!(repo.full_name.as_deref(), Some("octo/one"));
    });
    let counters = github.counters();
    assert_eq!(counters.refusals_for("replication_lag"), 1, "{counters:?}");
    (result, github)
}

#[tokio::test(start_paused = true)]
async fn replication_lag_is_replayed_with_copy_octo_body() {
    let (result, github) = call_during_replication_lag(Some(copy_octo_body)).await;
    result.unwrap();
    // The same token, sent again after the pause: no second exchange.
    assert_eq!(github.counters().installation_token_exchanges, 1);
}

#[tokio::test(start_paused = true)]
async fn replication_lag_fails_a_typed_call_without_a_body_copier() {
    let (result, _github) = call_during_replication_lag(None).await;
    assert_eq!(
        github_status(&result.unwrap_err()),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test(start_paused = true)]
async fn octo_body_try_clone_alone_does_not_replay_a_get() {
    // `OctoBody::try_clone` has no copy of the empty body octocrab gives every GET.
    let (result, _github) = call_during_replication_lag(Some(OctoBody::try_clone)).await;
    assert_eq!(
        github_status(&result.unwrap_err()),
        Some(StatusCode::UNAUTHORIZED)
    );
}

/// A typed POST with a JSON body, through the App's JWT layer, to a GitHub whose clock is an hour
/// behind ours: the first JWT is refused (`iat` in the future), the layer learns GitHub's clock
/// and replays the request with a new JWT and a copy of the body made by `copy`.
async fn post_with_github_clock_behind(copy: fn(&OctoBody) -> Option<OctoBody>) -> EmulatorHandle {
    let github = Emulator::builder()
        .clock_offset(-3600)
        .start()
        .await
        .unwrap();
    let octocrab = octocrab_with(&app(&github, Some(copy)), client());
    let narrowed = CreateInstallationAccessToken {
        repositories: Some(vec!["one".to_owned()]),
        ..CreateInstallationAccessToken::default()
    };
    let token = octocrab
        .apps()
        .create_installation_access_token(1_u64, &narrowed)
        .await
        .unwrap();
    assert!(token.token.starts_with("ghs_"));
    assert_eq!(github.counters().refusals_for("jwt_iat_in_future"), 1);
    github
}

#[tokio::test]
async fn a_typed_post_is_replayed_with_its_body() {
    let github = post_with_github_clock_behind(copy_octo_body).await;
    assert_eq!(
        github.last_access_token_request(),
        Some(json!({"repositories": ["one"]}))
    );
    assert_eq!(github.counters().installation_tokens_minted, 1);
}

#[tokio::test]
async fn a_shallow_clone_of_octo_body_would_replay_an_empty_body() {
    // Why `copy_octo_body` copies: `OctoBody::clone` shares the body, which the first send
    // consumed, so the replay goes out empty: here a token for every repository of the
    // installation instead of the one asked for.
    #[allow(clippy::unnecessary_wraps)]
    fn shallow(body: &OctoBody) -> Option<OctoBody> {
        Some(body.clone())
    }
    let github = post_with_github_clock_behind(shallow).await;
    assert_eq!(github.last_access_token_request(), Some(Value::Null));
}

/// A refusal within seconds of minting is taken for replication lag (the same token is tried
/// again after a pause): a revocation is told apart past that window.
const PAST_REPLICATION_WINDOW: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_revoked_installation_token_is_dropped_and_the_call_replayed() {
    let github = Emulator::start().await.unwrap();
    let installation = installation(&github);
    let octocrab = octocrab_with(&installation, client());
    octocrab.repos("octo", "one").get().await.unwrap();
    let revoked = installation.cached_token().unwrap();
    tokio::time::advance(PAST_REPLICATION_WINDOW).await;
    github.revoke(revoked.token.expose_secret());

    let repo = octocrab.repos("octo", "one").get().await.unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("octo/one"));
    let counters = github.counters();
    assert_eq!(counters.refusals_for("token_revoked"), 1, "{counters:?}");
    assert_eq!(counters.installation_token_exchanges, 2);
    let fresh = installation.cached_token().unwrap();
    assert_ne!(fresh.token.expose_secret(), revoked.token.expose_secret());
}

#[tokio::test(start_paused = true)]
async fn without_a_copier_a_revoked_token_fails_one_call_and_is_dropped() {
    let github = Emulator::start().await.unwrap();
    let installation = app(&github, None).as_installation(InstallationId(1));
    let octocrab = octocrab_with(&installation, client());
    octocrab.repos("octo", "one").get().await.unwrap();
    tokio::time::advance(PAST_REPLICATION_WINDOW).await;
    github.revoke(installation.cached_token().unwrap().token.expose_secret());

    let refused = octocrab.repos("octo", "one").get().await.unwrap_err();
    assert_eq!(github_status(&refused), Some(StatusCode::UNAUTHORIZED));
    octocrab.repos("octo", "one").get().await.unwrap();
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

#[tokio::test]
async fn a_revoked_user_token_is_refreshed_and_the_call_replayed() {
    let github = Emulator::start().await.unwrap();
    let user = user(&github).await;
    let octocrab = octocrab_with(&user, client());
    octocrab.current().user().await.unwrap();
    let revoked = user.cached_token().unwrap().access_token.unwrap();
    github.revoke(revoked.expose_secret());

    assert_eq!(octocrab.current().user().await.unwrap().login, "octocat");
    let counters = github.counters();
    assert_eq!(counters.refusals_for("token_revoked"), 1, "{counters:?}");
    assert_eq!(counters.refreshes, 1);
}

/// A loopback server answering every request with the headers it received, one `name: value`
/// a line.
async fn header_echo() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = axum::Router::new().fallback(|headers: http::HeaderMap| async move {
        let mut text = String::new();
        for (name, value) in &headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            writeln!(text, "{name}: {value}").expect("writing to a String");
        }
        Ok::<_, Infallible>(text)
    });
    tokio::spawn(async move { axum::serve(listener, echo).await });
    addr
}

async fn text_of(
    response: http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>>,
) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn no_credential_reaches_another_host() {
    let github = Emulator::start().await.unwrap();
    let echo = header_echo().await;
    let installation = installation(&github);
    let user = user(&github).await;
    for octocrab in [
        octocrab_with(&installation, client()),
        octocrab_with(&user, client()),
    ] {
        // An absolute URL to the API host carries the credential...
        let to_github = octocrab
            ._get(format!("{}/repos/octo/one", github.base_url()))
            .await
            .unwrap();
        let seen: Value = serde_json::from_str(&text_of(to_github).await).unwrap();
        assert_ne!(seen["emulator"]["credential"], "none");

        // ...one to another host (another port on the same loopback address) carries none.
        let elsewhere = text_of(
            octocrab
                ._get(format!("http://{echo}/anything"))
                .await
                .unwrap(),
        )
        .await;
        assert!(elsewhere.contains(&format!("host: {echo}")), "{elsewhere}");
        assert!(elsewhere.contains("x-github-api-version: "), "{elsewhere}"); // octocrab's own
        assert!(!elsewhere.contains("authorization"), "{elsewhere}");
        // Untouched: not even GitHub's required headers (octocrab sends no `User-Agent`).
        assert!(!elsewhere.contains("user-agent"), "{elsewhere}");
        let secrets = [
            installation.cached_token().unwrap().token,
            user.cached_token().unwrap().access_token.unwrap(),
        ];
        for secret in &secrets {
            assert!(!elsewhere.contains(secret.expose_secret()), "{elsewhere}");
        }
    }
}

#[tokio::test]
async fn an_octocrab_base_that_is_not_the_layers_api_gets_no_credential() {
    // octocrab's base URI names another host than the layer's endpoints: octocrab's base decides
    // where requests go, the layer's host pin that they carry no credential.
    let github = Emulator::start().await.unwrap();
    let echo = header_echo().await;
    let installation = installation(&github);
    // Built by hand, as `octocrab_with` does, plus octocrab's `BaseUriLayer` added last (so
    // outermost: it rewrites the URI before the host pin judges it), as the README says.
    let octocrab = OctocrabBuilder::new_empty()
        .with_service(client())
        .with_layer(&installation)
        .with_layer(&BaseUriLayer::new(
            format!("http://{echo}").parse().unwrap(),
        ))
        .with_auth(AuthState::None)
        .build()
        .unwrap();
    let sent = text_of(octocrab._get("/repos/octo/one").await.unwrap()).await;
    assert!(sent.contains(&format!("host: {echo}")), "{sent}");
    assert!(!sent.contains("authorization"), "{sent}");
    assert_eq!(
        github.counters().requests,
        0,
        "nothing went to the layer's API"
    );
}
