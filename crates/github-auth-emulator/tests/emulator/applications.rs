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

/// `DELETE /applications/{DEFAULT_OAUTH_CLIENT_ID}/grant` with `body` and the OAuth app's Basic
/// credentials.
async fn delete_grant(http: &Http, body: &serde_json::Value) -> Answer {
    let auth = basic(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);
    http.send(
        Method::DELETE,
        &format!("/applications/{DEFAULT_OAUTH_CLIENT_ID}/grant"),
        &[("authorization", &auth)],
        Some(("application/json", body.to_string().into_bytes())),
        true,
    )
    .await
}

#[tokio::test]
async fn deleting_the_grant_ends_every_token_of_the_user_for_the_client() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = oauth_token(&http).await;
    let code = emulator.issue_web_flow_code("octocat");
    let second = http.oauth_code_exchange(&code).await;
    let second = second["access_token"].as_str().unwrap().to_owned();
    let code = emulator.issue_web_flow_code("monalisa");
    let other_user = http.oauth_code_exchange(&code).await;
    let other_user = other_user["access_token"].as_str().unwrap().to_owned();
    let app_token = http
        .app_code_exchange(&emulator.issue_web_flow_code("octocat"))
        .await;
    let app_token = app_token["access_token"].as_str().unwrap().to_owned();

    let answer = delete_grant(&http, &json!({ "access_token": first })).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    assert_eq!(emulator.counters().grants_deleted, 1);
    for token in [&first, &second] {
        assert_eq!(
            http.get("/user", Some(token)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            as_client(&http, Method::POST, token).await.status,
            StatusCode::NOT_FOUND
        );
    }
    // Another user's token, and the same user's token for another client, keep working.
    assert_eq!(
        http.get("/user", Some(&other_user)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        http.get("/user", Some(&app_token)).await.status,
        StatusCode::OK
    );
    // The grant is gone: a second deletion with one of its tokens finds nothing.
    let again = delete_grant(&http, &json!({ "access_token": second })).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_github_app_grant_ends_its_refresh_tokens() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let access = token["access_token"].as_str().unwrap();
    let refresh = token["refresh_token"].as_str().unwrap();
    let auth = basic(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let body = json!({ "access_token": access }).to_string().into_bytes();
    let answer = http
        .send(
            Method::DELETE,
            &format!("/applications/{DEFAULT_APP_CLIENT_ID}/grant"),
            &[("authorization", &auth)],
            Some(("application/json", body)),
            true,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let refreshed = http
        .oauth(
            "/login/oauth/access_token",
            &[
                ("client_id", DEFAULT_APP_CLIENT_ID),
                ("client_secret", DEFAULT_APP_CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
            ],
        )
        .await;
    assert_eq!(refreshed.oauth_error(), "bad_refresh_token");
}

#[tokio::test]
async fn deleting_a_grant_needs_a_token_and_the_client_credentials() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let missing = delete_grant(&http, &json!({})).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let token = oauth_token(&http).await;
    let body = json!({ "access_token": token }).to_string().into_bytes();
    let anonymous = http
        .send(
            Method::DELETE,
            &format!("/applications/{DEFAULT_OAUTH_CLIENT_ID}/grant"),
            &[],
            Some(("application/json", body)),
            true,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(http.get("/user", Some(&token)).await.status, StatusCode::OK);
    assert_eq!(emulator.counters().grants_deleted, 0);
}
