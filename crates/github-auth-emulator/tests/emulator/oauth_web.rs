//! The OAuth web flow: authorize, code exchange, its refusals, answer formats.

use std::time::Duration;

use base64::Engine as _;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_WEB_FLOW_CODE, Emulator,
};
use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Answer, Http};

const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// Runs `/login/oauth/authorize` and returns the code from the redirect.
async fn authorize(http: &Http, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "xyz"),
        ("scope", "repo gist"),
    ];
    params.extend_from_slice(extra);
    let query = serde_urlencoded::to_string(&params).unwrap();
    let answer = http
        .get(&format!("/login/oauth/authorize?{query}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.header("location").unwrap();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, CALLBACK);
    let back: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    assert!(back.contains(&("state".to_owned(), "xyz".to_owned())));
    back.into_iter().find(|(k, _)| k == "code").unwrap().1
}

async fn exchange(http: &Http, client: (&str, &str), code: &str, extra: &[(&str, &str)]) -> Answer {
    let mut params = vec![
        ("client_id", client.0),
        ("client_secret", client.1),
        ("code", code),
    ];
    params.extend_from_slice(extra);
    http.oauth("/login/oauth/access_token", &params).await
}

const APP: (&str, &str) = (DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
const OAUTH: (&str, &str) = (DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);

#[tokio::test]
async fn authorize_redirects_with_code_and_state() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = authorize(&http, DEFAULT_OAUTH_CLIENT_ID, &[]).await;
    assert!(!code.is_empty());
    let unknown = http
        .get("/login/oauth/authorize?client_id=nope", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn code_exchange_for_a_github_app_gives_expiring_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = authorize(&http, DEFAULT_APP_CLIENT_ID, &[("login", "monalisa")]).await;
    let answer = exchange(&http, APP, &code, &[("redirect_uri", CALLBACK)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let token = answer.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("ghu_"));
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["scope"], "");
    assert_eq!(token["expires_in"], 28800);
    assert!(token["refresh_token"].as_str().unwrap().starts_with("ghr_"));
    assert_eq!(token["refresh_token_expires_in"], 15_811_200);
    let user = http
        .get("/user", token["access_token"].as_str())
        .await
        .json();
    assert_eq!(user["login"], "monalisa");
    assert_eq!(emulator.counters().oauth_code_exchanges, 1);
}

#[tokio::test]
async fn code_exchange_for_an_oauth_app_gives_lasting_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = authorize(&http, DEFAULT_OAUTH_CLIENT_ID, &[]).await;
    let token = exchange(&http, OAUTH, &code, &[]).await.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("gho_"));
    assert_eq!(token["scope"], "repo,gist");
    assert!(token.get("expires_in").is_none());
    assert!(token.get("refresh_token").is_none());
}

#[tokio::test]
async fn reused_code_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = exchange(&http, OAUTH, DEFAULT_WEB_FLOW_CODE, &[]).await;
    assert!(first.json()["access_token"].is_string());
    let again = exchange(&http, OAUTH, DEFAULT_WEB_FLOW_CODE, &[]).await;
    assert_eq!(again.oauth_error(), "bad_verification_code");
    let body = again.json();
    assert!(body["error_description"].is_string());
    assert!(
        body["error_uri"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.github.com/")
    );
    let counters = emulator.counters();
    assert_eq!(counters.oauth_code_exchanges, 2);
    assert_eq!(counters.refusals_for("bad_verification_code"), 1);
}

#[tokio::test(start_paused = true)]
async fn expired_code_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let fresh = authorize(&http, DEFAULT_OAUTH_CLIENT_ID, &[]).await;
    let issued = emulator.issue_web_flow_code("octocat");
    tokio::time::advance(Duration::from_secs(9 * 60)).await;
    // Still valid after 9 minutes...
    assert!(exchange(&http, OAUTH, &fresh, &[]).await.json()["access_token"].is_string());
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    // ...but not after 11.
    let late = exchange(&http, OAUTH, &issued, &[]).await;
    assert_eq!(late.oauth_error(), "bad_verification_code");
}

#[tokio::test]
async fn wrong_client_secret_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = exchange(
        &http,
        (DEFAULT_OAUTH_CLIENT_ID, "wrong"),
        DEFAULT_WEB_FLOW_CODE,
        &[],
    )
    .await;
    assert_eq!(answer.oauth_error(), "incorrect_client_credentials");
    let unknown = exchange(&http, ("nope", "nope"), DEFAULT_WEB_FLOW_CODE, &[]).await;
    assert_eq!(unknown.oauth_error(), "incorrect_client_credentials");
    assert_eq!(
        emulator
            .counters()
            .refusals_for("incorrect_client_credentials"),
        2
    );
    // The code was not spent by the failed attempts.
    assert!(
        exchange(&http, OAUTH, DEFAULT_WEB_FLOW_CODE, &[])
            .await
            .json()["access_token"]
            .is_string()
    );
}

#[tokio::test]
async fn code_of_another_client_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = authorize(&http, DEFAULT_OAUTH_CLIENT_ID, &[]).await;
    let answer = exchange(&http, APP, &code, &[]).await;
    assert_eq!(answer.oauth_error(), "bad_verification_code");
}

#[tokio::test]
async fn redirect_uri_mismatch_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = authorize(&http, DEFAULT_OAUTH_CLIENT_ID, &[]).await;
    let answer = exchange(
        &http,
        OAUTH,
        &code,
        &[("redirect_uri", "http://127.0.0.1:9/other")],
    )
    .await;
    assert_eq!(answer.oauth_error(), "redirect_uri_mismatch");
    assert_eq!(emulator.counters().refusals_for("redirect_uri_mismatch"), 1);
}

fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[tokio::test]
async fn pkce_with_the_right_verifier_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = challenge(verifier);
    let code = authorize(
        &http,
        DEFAULT_APP_CLIENT_ID,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let answer = exchange(&http, APP, &code, &[("code_verifier", verifier)]).await;
    assert!(
        answer.json()["access_token"].is_string(),
        "{:?}",
        answer.json()
    );
}

#[tokio::test]
async fn pkce_with_a_wrong_or_missing_verifier_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let challenge = challenge("the-real-verifier-of-at-least-forty-three-characters");
    let code = authorize(
        &http,
        DEFAULT_APP_CLIENT_ID,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let wrong = exchange(&http, APP, &code, &[("code_verifier", "another-verifier")]).await;
    assert_eq!(wrong.oauth_error(), "bad_verification_code");
    let missing = exchange(&http, APP, &code, &[]).await;
    assert_eq!(missing.oauth_error(), "bad_verification_code");
}

#[tokio::test]
async fn answers_are_form_encoded_without_accept_json() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let body = serde_urlencoded::to_string([
        ("client_id", DEFAULT_OAUTH_CLIENT_ID),
        ("client_secret", DEFAULT_OAUTH_CLIENT_SECRET),
        ("code", DEFAULT_WEB_FLOW_CODE),
    ])
    .unwrap();
    let send = || {
        http.send(
            Method::POST,
            "/login/oauth/access_token",
            &[],
            Some((
                "application/x-www-form-urlencoded",
                body.clone().into_bytes(),
            )),
            true,
        )
    };
    let answer = send().await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let form = answer.form();
    assert!(form["access_token"].starts_with("gho_"));
    assert_eq!(form["token_type"], "bearer");
    // Errors too: form-encoded, under 200.
    let again = send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.form()["error"], "bad_verification_code");
}

#[tokio::test]
async fn json_request_body_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let body = json!({
        "client_id": DEFAULT_APP_CLIENT_ID,
        "client_secret": DEFAULT_APP_CLIENT_SECRET,
        "code": DEFAULT_WEB_FLOW_CODE,
    });
    let answer = http
        .send(
            Method::POST,
            "/login/oauth/access_token",
            &[("accept", "application/json")],
            Some(("application/json", body.to_string().into_bytes())),
            true,
        )
        .await;
    assert!(
        answer.json()["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ghu_")
    );
}

#[tokio::test]
async fn non_expiring_app_tokens_have_no_refresh_token() {
    let emulator = Emulator::builder()
        .expiring_user_tokens(false)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let token = http.app_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    assert!(token["access_token"].as_str().unwrap().starts_with("ghu_"));
    assert!(token.get("refresh_token").is_none());
    assert!(token.get("expires_in").is_none());
}

#[tokio::test]
async fn configured_code_for_another_login() {
    let emulator = Emulator::builder()
        .web_flow_code("hubot-code", "hubot")
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let token = http.oauth_code_exchange("hubot-code").await;
    let user = http
        .get("/user", token["access_token"].as_str())
        .await
        .json();
    assert_eq!(user["login"], "hubot");
}

#[tokio::test]
async fn unsupported_grant_type_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .oauth(
            "/login/oauth/access_token",
            &[
                ("client_id", DEFAULT_OAUTH_CLIENT_ID),
                ("grant_type", "password"),
            ],
        )
        .await;
    assert_eq!(answer.oauth_error(), "unsupported_grant_type");
    assert_eq!(emulator.counters().exchanges(), 1);
}
