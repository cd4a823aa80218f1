//! 403 after a mint: a fresh installation token GitHub answers with a 403 that gives no reason
//! is waiting to replicate, and is replayed as a 401 would be; a 403 that names its reason (a
//! missing permission, SAML SSO, a spent rate limit) and a 429 reach the caller untouched, and
//! the token stays cached. Each refusal is also read, typed, with [`Refused::of`] from the
//! answer the caller gets.

mod common;

use std::time::Duration;

use common::{get, send, stack};
use github_auth_emulator::{Emulator, EmulatorHandle, Forbidden, TEST_APP_PRIVATE_KEY_PKCS1};
use http::StatusCode;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use tower::ServiceExt;
use tower_github_auth::{
    AppAuth, AppId, AppInstallationAuth, AppIssuer, Endpoints, InstallationId, InstallationTarget,
    Permission, PrivateKey, Refused, Subject, TokenAuth,
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
    let answer = svc.clone().oneshot(get("/user")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(Refused::of(&answer), Some(Refused::Unexplained));
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
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
    assert_eq!(
        Refused::of(&answer),
        Some(Refused::MissingPermissions(vec![Permission::new(
            "issues", "read"
        )]))
    );
    // Which credential GitHub refused: the narrowed token of that installation.
    let Some(Subject::Installation {
        installation,
        narrowing: Some(narrowing),
        ..
    }) = Subject::of(&answer)
    else {
        panic!("no narrowed installation named: {:?}", Subject::of(&answer))
    };
    assert_eq!(
        *installation,
        InstallationTarget::Repository {
            owner: "octo".into(),
            repo: "one".into()
        }
    );
    assert_eq!(narrowing.permissions["contents"], "read");
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
/// the emulator's URL), sent once, and the token stays cached for the next request. What
/// [`Refused::of`] reads from that answer, and the emulator's URL.
async fn refused_untouched(
    why: Forbidden,
    status: StatusCode,
    header: (&str, &str),
) -> (Option<Refused>, String) {
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
    let reading = Refused::of(&answer);
    assert_eq!(
        Subject::of(&answer),
        Some(&Subject::Installation {
            app: AppIssuer::Id(AppId(1)),
            installation: InstallationTarget::Id(InstallationId(1)),
            narrowing: None,
        })
    );
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
    (reading, github.base_url())
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_missing_permission_reaches_the_caller() {
    let (reading, _) = refused_untouched(
        Forbidden::MissingPermission("contents=read, metadata=read".into()),
        StatusCode::FORBIDDEN,
        ("x-accepted-github-permissions", "contents=read"),
    )
    .await;
    assert_eq!(
        reading,
        Some(Refused::MissingPermissions(vec![
            Permission::new("contents", "read"),
            Permission::new("metadata", "read"),
        ]))
    );
}

#[tokio::test(start_paused = true)]
async fn a_403_for_saml_sso_reaches_the_caller() {
    let (reading, base) = refused_untouched(
        Forbidden::SsoRequired { org: "octo".into() },
        StatusCode::FORBIDDEN,
        (
            "x-github-sso",
            "required; url={base}/orgs/octo/sso?authorization_request=",
        ),
    )
    .await;
    let Some(Refused::SsoRequired { url: Some(url), .. }) = reading else {
        panic!("{reading:?} is not SSO required with a URL");
    };
    let expected = format!("{base}/orgs/octo/sso?authorization_request=");
    assert!(url.starts_with(&expected), "{url} is not {expected}...");
    assert!(url.len() > expected.len(), "{url} has no request id");
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_spent_rate_limit_reaches_the_caller() {
    let (reading, _) = refused_untouched(
        Forbidden::RateLimited,
        StatusCode::FORBIDDEN,
        ("x-ratelimit-remaining", "0"),
    )
    .await;
    let Some(Refused::RateLimited {
        reset: Some(reset),
        resource: Some(resource),
        ..
    }) = reading
    else {
        panic!("{reading:?} is not a spent rate limit with its reset and resource");
    };
    assert_eq!(resource, "core");
    // The emulator resets the budget an hour after its own clock's now.
    let ahead = reset
        .duration_since(std::time::SystemTime::now())
        .expect("a reset ahead");
    assert!(ahead <= Duration::from_secs(3600), "{ahead:?}");
}

#[tokio::test(start_paused = true)]
async fn a_403_for_a_secondary_rate_limit_reaches_the_caller() {
    let (reading, _) = refused_untouched(
        Forbidden::SecondaryRateLimit {
            retry_after: Duration::from_secs(60),
        },
        StatusCode::FORBIDDEN,
        ("retry-after", "60"),
    )
    .await;
    assert!(
        matches!(
            reading,
            Some(Refused::SecondaryRateLimit { retry_after: Some(wait), .. })
                if wait == Duration::from_secs(60)
        ),
        "{reading:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_reaches_the_caller() {
    let (reading, _) = refused_untouched(
        Forbidden::TooManyRequests {
            retry_after: Duration::from_secs(30),
        },
        StatusCode::TOO_MANY_REQUESTS,
        ("retry-after", "30"),
    )
    .await;
    assert!(
        matches!(
            reading,
            Some(Refused::SecondaryRateLimit { retry_after: Some(wait), .. })
                if wait == Duration::from_secs(30)
        ),
        "{reading:?}"
    );
}

#[tokio::test]
async fn a_token_github_does_not_take_is_bad_credentials() {
    let github = Emulator::builder().start().await.unwrap();
    let svc = stack(
        TokenAuth::new("ghp_not_a_token_the_emulator_knows")
            .unwrap()
            .endpoints(Endpoints::single(&github.base_url()).unwrap()),
    );
    let answer = svc.oneshot(get("/repos/octo/one")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(Refused::of(&answer), Some(Refused::BadCredentials));
}
