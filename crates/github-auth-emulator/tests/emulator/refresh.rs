//! Refreshing GitHub App user tokens.

use std::time::Duration;

use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_WEB_FLOW_CODE, Emulator,
};
use http::StatusCode;
use serde_json::Value;

use crate::common::{Answer, Http};

async fn refresh(http: &Http, refresh_token: &str, secret: Option<&str>) -> Answer {
    let mut params = vec![
        ("client_id", DEFAULT_APP_CLIENT_ID),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(secret) = secret {
        params.push(("client_secret", secret));
    }
    http.oauth("/login/oauth/access_token", &params).await
}

fn field<'a>(token: &'a Value, name: &str) -> &'a str {
    token[name].as_str().unwrap()
}

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let answer = refresh(
        &http,
        field(&first, "refresh_token"),
        Some(DEFAULT_APP_CLIENT_SECRET),
    )
    .await;
    let second = answer.json();
    assert!(field(&second, "access_token").starts_with("ghu_"));
    assert_ne!(
        field(&second, "access_token"),
        field(&first, "access_token")
    );
    assert_ne!(
        field(&second, "refresh_token"),
        field(&first, "refresh_token")
    );
    assert_eq!(second["expires_in"], 28800);
    // The new token works, the old one does not.
    let new_user = http
        .get("/user", Some(field(&second, "access_token")))
        .await;
    assert_eq!(new_user.status, StatusCode::OK);
    let old_user = http.get("/user", Some(field(&first, "access_token"))).await;
    assert_eq!(old_user.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old_user.message(), "Bad credentials");
    let counters = emulator.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.refresh_attempts, 1);
    assert_eq!(counters.refusals_for("token_revoked"), 1);
}

#[tokio::test]
async fn spent_refresh_token_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let old = field(&first, "refresh_token");
    assert!(
        refresh(&http, old, Some(DEFAULT_APP_CLIENT_SECRET))
            .await
            .json()["access_token"]
            .is_string()
    );
    let reuse = refresh(&http, old, Some(DEFAULT_APP_CLIENT_SECRET)).await;
    assert_eq!(reuse.oauth_error(), "bad_refresh_token");
    let counters = emulator.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.refresh_attempts, 2);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 1);
}

#[tokio::test]
async fn web_flow_refresh_needs_the_secret() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let without = refresh(&http, field(&first, "refresh_token"), None).await;
    assert_eq!(without.oauth_error(), "incorrect_client_credentials");
    let wrong = refresh(&http, field(&first, "refresh_token"), Some("wrong")).await;
    assert_eq!(wrong.oauth_error(), "incorrect_client_credentials");
}

#[tokio::test]
async fn unknown_refresh_token_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = refresh(&http, "ghr_nosuchtoken", Some(DEFAULT_APP_CLIENT_SECRET)).await;
    assert_eq!(answer.oauth_error(), "bad_refresh_token");
}

#[tokio::test(start_paused = true)]
async fn expired_user_token_is_401_and_refresh_still_works() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    tokio::time::advance(Duration::from_secs(8 * 3600 + 1)).await;
    let answer = http.get("/user", Some(field(&first, "access_token"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Bad credentials");
    assert_eq!(emulator.counters().refusals_for("token_expired"), 1);
    let second = refresh(
        &http,
        field(&first, "refresh_token"),
        Some(DEFAULT_APP_CLIENT_SECRET),
    )
    .await;
    let user = http
        .get("/user", Some(field(&second.json(), "access_token")))
        .await;
    assert_eq!(user.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn expired_refresh_token_is_refused() {
    let emulator = Emulator::builder()
        .refresh_token_ttl(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    assert_eq!(first["refresh_token_expires_in"], 3600);
    tokio::time::advance(Duration::from_secs(3601)).await;
    let answer = refresh(
        &http,
        field(&first, "refresh_token"),
        Some(DEFAULT_APP_CLIENT_SECRET),
    )
    .await;
    assert_eq!(answer.oauth_error(), "bad_refresh_token");
}

#[tokio::test]
async fn revoked_refresh_token_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    emulator.revoke(field(&first, "refresh_token"));
    let answer = refresh(
        &http,
        field(&first, "refresh_token"),
        Some(DEFAULT_APP_CLIENT_SECRET),
    )
    .await;
    assert_eq!(answer.oauth_error(), "bad_refresh_token");
}
