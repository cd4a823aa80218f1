//! `/applications/{client_id}/token`: check, reset, delete with Basic client credentials.

use base64::Engine as _;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_WEB_FLOW_CODE, Emulator,
};
use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Answer, Http};

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

async fn call(
    http: &Http,
    method: Method,
    client_id: &str,
    auth: Option<&str>,
    token: &str,
) -> Answer {
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
    let body = json!({ "access_token": token }).to_string().into_bytes();
    http.send(
        method,
        &format!("/applications/{client_id}/token"),
        &headers,
        Some(("application/json", body)),
        true,
    )
    .await
}

/// `method` on `/applications/{client_id}/token` as the default OAuth app, with its Basic credentials.
async fn as_client(http: &Http, method: Method, token: &str) -> Answer {
    let auth = basic(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);
    call(http, method, DEFAULT_OAUTH_CLIENT_ID, Some(&auth), token).await
}

async fn oauth_token(http: &Http) -> String {
    let token = http.oauth_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    token["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn check_a_valid_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = oauth_token(&http).await;
    let answer = as_client(&http, Method::POST, &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["token"], token);
    assert_eq!(body["user"]["login"], "octocat");
    assert_eq!(body["app"]["client_id"], DEFAULT_OAUTH_CLIENT_ID);
    assert!(body["scopes"].is_array());
    assert_eq!(body["expires_at"], serde_json::Value::Null);
    assert!(body["id"].is_u64());
}

#[tokio::test]
async fn check_an_expiring_app_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let token = token["access_token"].as_str().unwrap();
    let auth = basic(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let answer = call(
        &http,
        Method::POST,
        DEFAULT_APP_CLIENT_ID,
        Some(&auth),
        token,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json()["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn check_an_invalid_token_is_404() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let auth = basic(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);
    let answer = call(
        &http,
        Method::POST,
        DEFAULT_OAUTH_CLIENT_ID,
        Some(&auth),
        "gho_nope",
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(emulator.counters().refusals_for("token_not_found"), 1);
}

#[tokio::test]
async fn reset_gives_a_new_token_and_ends_the_old() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = oauth_token(&http).await;
    let answer = as_client(&http, Method::PATCH, &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    let fresh = answer.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    assert!(fresh.starts_with("gho_"));
    assert_eq!(http.get("/user", Some(&fresh)).await.status, StatusCode::OK);
    assert_eq!(
        http.get("/user", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn delete_ends_the_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = oauth_token(&http).await;
    let answer = as_client(&http, Method::DELETE, &token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    assert_eq!(
        http.get("/user", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let check = as_client(&http, Method::POST, &token).await;
    assert_eq!(check.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_or_missing_basic_credentials_are_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = oauth_token(&http).await;
    let wrong = basic(DEFAULT_OAUTH_CLIENT_ID, "wrong");
    let answer = call(
        &http,
        Method::POST,
        DEFAULT_OAUTH_CLIENT_ID,
        Some(&wrong),
        &token,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let missing = call(&http, Method::POST, DEFAULT_OAUTH_CLIENT_ID, None, &token).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    // Good credentials of another client than the path's.
    let other = basic(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let mismatch = call(
        &http,
        Method::POST,
        DEFAULT_OAUTH_CLIENT_ID,
        Some(&other),
        &token,
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::NOT_FOUND);
    let unknown = call(&http, Method::POST, "nope", Some(&other), &token).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // A token of another client is not found through this one.
    let app = call(
        &http,
        Method::POST,
        DEFAULT_APP_CLIENT_ID,
        Some(&other),
        &token,
    )
    .await;
    assert_eq!(app.status, StatusCode::NOT_FOUND);
    let counters = emulator.counters();
    assert_eq!(counters.refusals_for("incorrect_client_credentials"), 1);
    assert_eq!(counters.refusals_for("no_credentials"), 1);
}

#[tokio::test]
async fn missing_access_token_is_422() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let auth = basic(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);
    let answer = http
        .send(
            Method::POST,
            &format!("/applications/{DEFAULT_OAUTH_CLIENT_ID}/token"),
            &[("authorization", &auth)],
            Some(("application/json", b"{}".to_vec())),
            true,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
}
