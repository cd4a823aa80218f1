//! 403 after a mint: a fresh installation token GitHub answers with a 403 that gives no reason
//! is waiting to replicate, and is replayed as a 401 would be; a 403 that names its reason (a
//! missing permission, SAML SSO, a spent rate limit) and a 429 reach the caller untouched, and
//! the token stays cached.

mod common;

use std::time::Duration;

use common::{get, send, stack};
use github_auth_emulator::{Emulator, EmulatorHandle, Forbidden, TEST_APP_PRIVATE_KEY_PKCS1};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower::ServiceExt;
use tower_github_auth::{
    AppAuth, AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey,
};

fn installation(github: &EmulatorHandle) -> AppInstallationAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .as_installation(InstallationId(1))
}

/// The token cached now.
fn token(installation: &AppInstallationAuth) -> String {
    installation
        .cached_token()
        .expect("a cached token")
        .token
        .expose_secret()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_fresh_token_refused_with_403_during_replication_is_retried() {
    let github = Emulator::builder().start().await.unwrap();
    github.set_replication_lag_403(2);
    let svc = stack(installation(&github));
    let (status, repo) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["emulator"]["credential"], "installation");
    let counters = github.counters();
    assert_eq!(
        counters.refusals_for("replication_lag_403"),
        2,
        "{counters:?}"
    );
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(counters.installation_tokens_minted, 1, "{counters:?}");
    // One mint, then the request three times: two refused, one answered.
    assert_eq!(counters.requests, 4, "{counters:?}");
}

#[tokio::test(start_paused = true)]
async fn replays_for_a_403_are_bounded_as_for_a_401() {
    let github = Emulator::builder().start().await.unwrap();
    github.set_replication_lag_403(100);
    let installation = installation(&github);
    let svc = stack(installation.clone());
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the last 403 reaches the caller"
    );
    let counters = github.counters();
    // The request and its three replication replays; no fresh token: a 403 does not say the
    // token is bad.
    assert_eq!(
        counters.refusals_for("replication_lag_403"),
        4,
        "{counters:?}"
    );
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    let kept = token(&installation);

    // Past the replication window, a 403 with no reason goes to the caller at once.
    tokio::time::advance(Duration::from_secs(60)).await;
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let counters = github.counters();
    assert_eq!(
        counters.refusals_for("replication_lag_403"),
        5,
        "{counters:?}"
    );
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(token(&installation), kept);
}

#[tokio::test(start_paused = true)]
async fn a_403_long_after_the_mint_is_not_replayed() {
    let github = Emulator::builder().start().await.unwrap();
    let installation = installation(&github);
    let svc = stack(installation.clone());
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let minted = token(&installation);
    tokio::time::advance(Duration::from_secs(60)).await;
    // An installation token on `/user`: 403 `Resource not accessible by integration`, no header
    // naming a reason.
    let (status, body) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "Resource not accessible by integration");
    let counters = github.counters();
    assert_eq!(
        counters.refusals_for("resource_not_accessible"),
        1,
        "{counters:?}"
    );
    assert_eq!(counters.requests, 3, "{counters:?}");
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(token(&installation), minted);
}

#[tokio::test(start_paused = true)]
async fn a_token_narrowed_without_a_permission_is_refused_once() {
    let github = Emulator::builder().start().await.unwrap();
    let narrowed = AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .installation_for_repository("octo", "one")
    .permission("contents", "read");
    let svc = stack(narrowed.clone());
    // The token's first request, moments after the mint: GitHub names the permission it lacks.
    let answer = svc
        .clone()
        .oneshot(get("/repos/octo/one/issues"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        answer.headers()["x-accepted-github-permissions"],
        "issues=read"
    );
    let counters = github.counters();
    // Sent once: a replay would have been refused again.
    assert_eq!(
        counters.refusals_for("missing_permission"),
        1,
        "{counters:?}"
    );
    let minted = token(&narrowed);
    // The token is good for what it may do.
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(token(&narrowed), minted);
}

/// A request with a token minted for it, refused as `why` says: the answer reaches the caller
/// as GitHub gave it (`status`, a header starting with the value given, where `{base}` stands for
/// the emulator's URL), sent once, and the token stays cached for the next request.
async fn refused_untouched(why: Forbidden, status: StatusCode, header: (&str, &str)) {
    let github = Emulator::builder().start().await.unwrap();
    let reason = match &why {
        Forbidden::MissingPermission(_) => "missing_permission",
        Forbidden::SsoRequired { .. } => "sso_required",
        Forbidden::RateLimited => "rate_limited",
        Forbidden::SecondaryRateLimit { .. } => "secondary_rate_limit",
        Forbidden::TooManyRequests { .. } => "too_many_requests",
        _ => unreachable!("a refusal this test does not know"),
    };
    github.forbid_next(1, why);
    let installation = installation(&github);
    let svc = stack(installation.clone());

    // The first request of a cold cache: the token is as fresh as it gets.
    let answer = svc.clone().oneshot(get("/repos/octo/one")).await.unwrap();
    assert_eq!(answer.status(), status);
    let expected = header.1.replace("{base}", &github.base_url());
    let got = answer.headers()[header.0].to_str().unwrap();
    assert!(got.starts_with(&expected), "{got} is not {expected}...");
    let counters = github.counters();
    assert_eq!(counters.refusals_for(reason), 1, "{counters:?}");
    assert_eq!(counters.requests, 2, "one mint, one request: {counters:?}");
    let minted = token(&installation);

    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1, "{counters:?}");
    assert_eq!(counters.requests, 3, "{counters:?}");
    assert_eq!(token(&installation), minted);
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_missing_permission_reaches_the_caller() {
    refused_untouched(
        Forbidden::MissingPermission("contents=read".into()),
        StatusCode::FORBIDDEN,
        ("x-accepted-github-permissions", "contents=read"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_403_for_saml_sso_reaches_the_caller() {
    refused_untouched(
        Forbidden::SsoRequired { org: "octo".into() },
        StatusCode::FORBIDDEN,
        (
            "x-github-sso",
            "required; url={base}/orgs/octo/sso?authorization_request=",
        ),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_spent_rate_limit_reaches_the_caller() {
    refused_untouched(
        Forbidden::RateLimited,
        StatusCode::FORBIDDEN,
        ("x-ratelimit-remaining", "0"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_secondary_rate_limit_reaches_the_caller() {
    refused_untouched(
        Forbidden::SecondaryRateLimit {
            retry_after: Duration::from_secs(60),
        },
        StatusCode::FORBIDDEN,
        ("retry-after", "60"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_429_reaches_the_caller() {
    refused_untouched(
        Forbidden::TooManyRequests {
            retry_after: Duration::from_secs(30),
        },
        StatusCode::TOO_MANY_REQUESTS,
        ("retry-after", "30"),
    )
    .await;
}
