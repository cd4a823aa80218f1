//! The OAuth device flow.

use std::time::Duration;

use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_OAUTH_CLIENT_ID, DeviceOutcome, Emulator, EmulatorHandle,
};
use http::StatusCode;
use serde_json::Value;

use crate::common::{Answer, Http};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(http: &Http, client_id: &str) -> Answer {
    http.oauth(
        "/login/device/code",
        &[("client_id", client_id), ("scope", "repo")],
    )
    .await
}

async fn start(emulator: &EmulatorHandle, client_id: &str) -> (Http, String) {
    let http = Http::new(emulator);
    let answer = device_code(&http, client_id).await;
    let code = answer.json()["device_code"].as_str().unwrap().to_owned();
    (http, code)
}

async fn poll(http: &Http, client_id: &str, device_code: &str) -> Answer {
    http.oauth(
        "/login/oauth/access_token",
        &[
            ("client_id", client_id),
            ("device_code", device_code),
            ("grant_type", DEVICE_GRANT),
        ],
    )
    .await
}

async fn wait(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
}

/// A poll's OAuth `error` field.
async fn poll_error(http: &Http, client_id: &str, device_code: &str) -> String {
    poll(http, client_id, device_code).await.oauth_error()
}

#[tokio::test]
async fn device_code_answer() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = device_code(&http, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert!(!body["device_code"].as_str().unwrap().is_empty());
    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        body["verification_uri"],
        format!("{}/login/device", emulator.base_url())
    );
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["interval"], 5);
    assert_eq!(emulator.counters().device_code_requests, 1);
    let page = http.get("/login/device", None).await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn device_code_answer_form_encoded() {
    let emulator = Emulator::builder()
        .device_interval(7)
        .device_expires_in(60)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .send(
            http::Method::POST,
            "/login/device/code",
            &[],
            Some((
                "application/x-www-form-urlencoded",
                b"client_id=Iv1.emulatorapp".to_vec(),
            )),
            true,
        )
        .await;
    let form = answer.form();
    assert_eq!(form["interval"], "7");
    assert_eq!(form["expires_in"], "60");
}

#[tokio::test(start_paused = true)]
async fn pending_then_approved() {
    let emulator = Emulator::start().await.unwrap();
    let (http, code) = start(&emulator, DEFAULT_APP_CLIENT_ID).await;
    let first = poll(&http, DEFAULT_APP_CLIENT_ID, &code).await;
    assert_eq!(first.oauth_error(), "authorization_pending");
    wait(5).await;
    let second = poll(&http, DEFAULT_APP_CLIENT_ID, &code).await;
    let token = second.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("ghu_"));
    assert!(token["refresh_token"].as_str().unwrap().starts_with("ghr_"));
    let user = http
        .get("/user", token["access_token"].as_str())
        .await
        .json();
    assert_eq!(user["login"], "octocat");
    // The device code is spent.
    wait(5).await;
    assert_eq!(
        poll_error(&http, DEFAULT_APP_CLIENT_ID, &code).await,
        "incorrect_device_code"
    );
    let counters = emulator.counters();
    assert_eq!(counters.device_polls, 3);
    assert_eq!(counters.device_polls_too_fast, 0);
    assert_eq!(counters.refusals_for("authorization_pending"), 1);
}

#[tokio::test(start_paused = true)]
async fn oauth_app_device_token_and_scope() {
    let emulator = Emulator::builder()
        .device_outcome(DeviceOutcome::ApproveAfter(1))
        .start()
        .await
        .unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    let token = poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("gho_"));
    assert_eq!(token["scope"], "repo");
}

#[tokio::test(start_paused = true)]
async fn polling_too_fast_is_slowed_down_and_counted() {
    let emulator = Emulator::start().await.unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "authorization_pending"
    );
    wait(2).await;
    let fast = poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await;
    assert_eq!(fast.oauth_error(), "slow_down");
    assert_eq!(fast.json()["interval"], 10);
    // 5 s later is still too fast for the new 10 s interval.
    wait(5).await;
    let again = poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await;
    assert_eq!(again.json()["interval"], 15);
    wait(15).await;
    assert!(poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await.json()["access_token"].is_string());
    let counters = emulator.counters();
    assert_eq!(counters.device_polls_too_fast, 2);
    assert_eq!(counters.refusals_for("slow_down"), 2);
}

#[tokio::test(start_paused = true)]
async fn forced_slow_down_is_not_counted_as_too_fast() {
    let emulator = Emulator::start().await.unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    emulator.set_device_slow_down(2);
    let first = poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await;
    assert_eq!(first.oauth_error(), "slow_down");
    assert_eq!(first.json()["interval"], 10);
    wait(10).await;
    let second = poll(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await;
    assert_eq!(second.json()["interval"], 15);
    wait(15).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "authorization_pending"
    );
    let counters = emulator.counters();
    assert_eq!(counters.device_polls_too_fast, 0);
    assert_eq!(counters.refusals_for("slow_down"), 2);
}

#[tokio::test]
async fn denied() {
    let emulator = Emulator::builder()
        .device_outcome(DeviceOutcome::Deny)
        .start()
        .await
        .unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "access_denied"
    );
}

#[tokio::test]
async fn expire_outcome() {
    let emulator = Emulator::start().await.unwrap();
    emulator.set_device_outcome(DeviceOutcome::Expire);
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "expired_token"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_expires_after_expires_in() {
    let emulator = Emulator::builder()
        .device_outcome(DeviceOutcome::ForeverPending)
        .start()
        .await
        .unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "authorization_pending"
    );
    wait(899).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "authorization_pending"
    );
    wait(1).await;
    assert_eq!(
        poll_error(&http, DEFAULT_OAUTH_CLIENT_ID, &code).await,
        "expired_token"
    );
}

#[tokio::test]
async fn disabled() {
    let emulator = Emulator::builder()
        .device_outcome(DeviceOutcome::Disabled)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let answer = device_code(&http, DEFAULT_APP_CLIENT_ID).await;
    assert_eq!(answer.oauth_error(), "device_flow_disabled");
    assert_eq!(emulator.counters().refusals_for("device_flow_disabled"), 1);
}

#[tokio::test]
async fn unknown_client_and_device_code() {
    let emulator = Emulator::start().await.unwrap();
    let (http, code) = start(&emulator, DEFAULT_OAUTH_CLIENT_ID).await;
    assert_eq!(
        device_code(&http, "nope").await.oauth_error(),
        "incorrect_client_credentials"
    );
    assert_eq!(
        poll(&http, DEFAULT_OAUTH_CLIENT_ID, "nope")
            .await
            .oauth_error(),
        "incorrect_device_code"
    );
    // A device code belongs to the client that asked for it.
    assert_eq!(
        poll_error(&http, DEFAULT_APP_CLIENT_ID, &code).await,
        "incorrect_client_credentials"
    );
}

#[tokio::test(start_paused = true)]
async fn device_tokens_refresh_without_secret() {
    let emulator = Emulator::builder()
        .device_outcome(DeviceOutcome::ApproveAfter(1))
        .start()
        .await
        .unwrap();
    let (http, code) = start(&emulator, DEFAULT_APP_CLIENT_ID).await;
    let token: Value = poll(&http, DEFAULT_APP_CLIENT_ID, &code).await.json();
    let answer = http
        .oauth(
            "/login/oauth/access_token",
            &[
                ("client_id", DEFAULT_APP_CLIENT_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert!(
        answer.json()["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ghu_")
    );
    assert_eq!(emulator.counters().refreshes, 1);
}
