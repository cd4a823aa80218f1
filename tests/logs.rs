//! What the layers log: every line they write at trace level, through a user's `fmt`
//! subscriber, while each kind of credential is made, used, refused, refreshed, revoked and
//! failed, holds none of the secrets involved (tokens, refresh tokens, JWTs, client secrets,
//! codes, a manifest's code and the key it returns). The spans exchanges and store calls run
//! in are written when created, with their fields, and every event the event hook receives
//! (`AuthEvent`, its `Debug`) is searched too.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::captured::Captured;
use common::{client, get, send, stack};
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DeviceOutcome, Emulator,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower_github_auth::{
    AppAuth, AppId, AppInstallationAuth, AppManifest, ClientCredentials, DeviceCode, Endpoints,
    InstallationId, OAuthAppAuth, OAuthDeviceAuth, TokenSet, convert_manifest_code,
};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

/// The secrets of a token set.
fn secrets_of(set: &TokenSet) -> impl Iterator<Item = String> + '_ {
    [set.access_token.as_ref(), set.refresh_token.as_ref()]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_owned())
}

/// The token an installation holds now.
fn cached_token(installation: &AppInstallationAuth) -> String {
    let token = installation.cached_token().expect("a cached token");
    token.token.expose_secret().to_owned()
}

#[tokio::test(start_paused = true)]
async fn no_secret_reaches_a_log_line() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_ansi(false)
                .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE),
        )
        .with(
            Targets::new()
                .with_target("tower_github_auth", tracing::Level::TRACE)
                .with_target("tower_github_auth_redis", tracing::Level::TRACE),
        );
    // Global: the layers' background refreshes run on tasks of their own.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    // Every event the hook gets, as its `Debug` writes it, among the lines searched.
    let events = captured.clone();
    tower_github_auth::set_event_hook(move |event: &tower_github_auth::AuthEvent| {
        use std::io::Write;
        writeln!(events.clone(), "EVENT {event:?}").unwrap();
    });

    let github = Emulator::builder()
        .device_outcome(DeviceOutcome::ApproveAfter(2))
        .start()
        .await
        .unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let mut secrets: Vec<String> = vec![
        DEFAULT_APP_CLIENT_SECRET.to_owned(),
        // A line from the middle of the App's private key.
        TEST_APP_PRIVATE_KEY_PKCS1
            .lines()
            .nth(5)
            .unwrap()
            .to_owned(),
    ];

    // An App and its installation: a JWT, a token minted through two server errors, used,
    // refused once while it replicates (a 401 replay), refreshed, revoked.
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints.clone());
    secrets.push(app.fetch_jwt().await.unwrap().expose_secret().to_owned());
    let installation = app.as_installation(InstallationId(1));
    let repositories = stack(installation.clone());
    github.fail_next_exchanges(2);
    github.set_replication_lag(true);
    let (status, _) = send(&repositories, get("/installation/repositories"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    github.set_replication_lag(false);
    let minted = installation.fetch_token(&client()).await.unwrap();
    secrets.push(minted.token.expose_secret().to_owned());
    let refreshed = installation.refresh(&client()).await.unwrap();
    secrets.push(refreshed.token.expose_secret().to_owned());
    installation.revoke(&client()).await.unwrap();
    let (status, _) = send(&repositories, get("/installation/repositories"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    secrets.push(cached_token(&installation));

    // A user: the web flow's code exchanged, the token used, refreshed (rotated), checked with
    // the client's Basic credentials, and a refresh GitHub refuses.
    let oauth = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(endpoints.clone());
    let code = github.issue_web_flow_code("octocat");
    secrets.push(code.clone());
    let user = oauth.as_web_user(code).build();
    let first = user.fetch_token(&client()).await.unwrap();
    secrets.extend(secrets_of(&first));
    let user = user.token_auth();
    let (status, _) = send(&stack(user.clone()), get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let rotated = user.refresh(&client()).await.unwrap();
    secrets.extend(secrets_of(&rotated));
    let checked = oauth
        .check_token(&client(), rotated.access_token.as_ref().unwrap())
        .await
        .unwrap();
    assert!(checked.is_some());
    let spent = oauth.as_user(first.clone()).build();
    assert!(
        spent.refresh(&client()).await.is_err(),
        "a spent refresh token"
    );

    // The device flow.
    let device = OAuthDeviceAuth::builder(DEFAULT_APP_CLIENT_ID)
        .on_user_code(|_: DeviceCode| {})
        .endpoints(endpoints.clone())
        .build();
    let signed_in = device.fetch_token(&client()).await.unwrap();
    secrets.extend(secrets_of(&signed_in));

    // A manifest's code, converted into an App's key and secrets, then refused as spent.
    let manifest = AppManifest::new("from-manifest", "https://example.com")
        .webhook("https://example.com/hook");
    let code = github.issue_manifest_code(&manifest.to_json());
    secrets.push(code.clone());
    let created = convert_manifest_code(&client(), &endpoints, &code)
        .await
        .unwrap();
    secrets.push(created.client_secret.expose_secret().to_owned());
    secrets.extend(
        created
            .webhook_secret
            .iter()
            .map(|s| s.expose_secret().to_owned()),
    );
    secrets.push(
        created
            .pem
            .expose_secret()
            .lines()
            .nth(5)
            .unwrap()
            .to_owned(),
    );
    assert!(
        convert_manifest_code(&client(), &endpoints, &code)
            .await
            .is_err()
    );

    // The background refresh of a short-lived token, and its end.
    github.set_installation_token_ttl(Duration::from_secs(60));
    let short = app.as_installation(InstallationId(2));
    let svc = stack(short.clone());
    send(&svc, get("/installation/repositories")).await.unwrap();
    secrets.push(cached_token(&short));
    tokio::time::sleep(Duration::from_secs(45)).await;
    send(&svc, get("/installation/repositories")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    secrets.push(cached_token(&short));

    // An installation through a fleet's store: the store's spans, a store going down and back.
    let store = Arc::new(common::memory_store::MemoryStore::default());
    let fleet_app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints.clone())
        .token_store(Arc::clone(&store));
    let through_store = fleet_app.as_installation(InstallationId(1));
    secrets.push(
        through_store
            .fetch_token(&client())
            .await
            .unwrap()
            .token
            .expose_secret()
            .to_owned(),
    );
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let during = through_store.refresh(&client()).await.unwrap();
    secrets.push(during.token.expose_secret().to_owned());
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let after = through_store.refresh(&client()).await.unwrap();
    secrets.push(after.token.expose_secret().to_owned());

    let logged = captured.text();
    // The capture works: every exchange above was logged, the tries and the refusals too.
    for logged_event in [
        "exchange=installation token exchange",
        "trying again",
        "waiting for GitHub to replicate it",
        "exchange=installation token revocation",
        "exchange=OAuth code exchange",
        "exchange=user token refresh",
        "bad_refresh_token",
        "exchange=token check",
        "exchange=device flow poll",
        "exchange=manifest conversion",
        // The spans and their fields.
        "github_auth.exchange{cache=\"installation\"}",
        "github_auth.exchange{cache=\"jwt\"}",
        "github_auth.exchange{cache=\"user\"}",
        "github_auth.side_request{",
        "github_auth.store{op=\"lock\" store_key=installation:",
        "kind=installation token exchange",
        "client_id=",
        "request_id=",
        "tries=",
        "duration_ms=",
        "outcome=\"ok\"",
        "exchange failed: backing off",
        // The hook's events.
        "EVENT AuthEvent { kind: Minted",
        "EVENT AuthEvent { kind: Refreshed",
        "EVENT AuthEvent { kind: Revoked",
        "EVENT AuthEvent { kind: BackoffEntered",
        "EVENT AuthEvent { kind: StoreUnavailable",
        "EVENT AuthEvent { kind: StoreBack",
    ] {
        assert!(
            logged.contains(logged_event),
            "{logged_event} not in:\n{logged}"
        );
    }
    // A stateless installation token (`ghs_<APPID>_<JWT>`, the emulator's default) is searched
    // for by its claims and signature too: a line cut inside it would still leak it.
    let parts: Vec<String> = secrets
        .iter()
        .filter(|s| s.starts_with("ghs_") && s.matches('.').count() == 2)
        .flat_map(|s| s.split('.').skip(1).map(str::to_owned))
        .collect();
    assert!(!parts.is_empty(), "no stateless token among the secrets");
    secrets.extend(parts);
    for secret in &secrets {
        assert!(
            secret.len() >= 6,
            "a secret too short to look for: {secret:?}"
        );
        if let Some(line) = logged.lines().find(|line| line.contains(secret.as_str())) {
            panic!("a secret was logged: {line}");
        }
    }
}

/// A copier given to `replay_body_with` for another body type than the layer's requests carry is
/// never used: the layer says so in a warning, once, at its first request, instead of letting the
/// caller find out from a 401 that was not replayed.
#[tokio::test(flavor = "current_thread")]
async fn a_copier_for_another_body_type_is_a_warning_once() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_ansi(false),
        )
        .with(Targets::new().with_target("tower_github_auth", tracing::Level::WARN));
    // This thread only (the runtime is this thread); the other test holds the global default.
    let _guard = tracing::subscriber::set_default(subscriber);

    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints);
    // The test client's bodies are `Full<Bytes>`, not `String`.
    let installation = app
        .as_installation(InstallationId(1))
        .replay_body_with(|body: &String| Some(body.clone()));
    let svc = stack(installation);
    for _ in 0..3 {
        let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    let text = captured.text();
    let warnings = text
        .lines()
        .filter(|line| line.contains("replay_body_with"));
    assert_eq!(warnings.count(), 1, "{text}");
    assert!(text.contains("WARN"), "{text}");
    // Both types named (as `std::any::type_name` spells them).
    assert!(text.contains("String"), "{text}");
    assert!(text.contains("Full<"), "{text}");
}
