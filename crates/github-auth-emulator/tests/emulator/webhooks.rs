//! Webhook deliveries to a receiver of the test's own, and `POST .../issues/{n}/comments`.

use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::{extract::State, http::HeaderMap, routing::post};
use bytes::Bytes;
use github_auth_emulator::{DEFAULT_PAT, DEFAULT_WEBHOOK_SECRET, Emulator, WebhookEvent};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common::Http;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver recording every request; answers 204.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    received.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

/// Whether `signature` is the HMAC-SHA256 of `body` with `secret`, as `sha256=<lowercase hex>`.
fn signed_with(secret: &str, body: &[u8], signature: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let hex = hmac::sign(&key, body)
        .as_ref()
        .iter()
        .fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
    signature == format!("sha256={hex}")
}

#[tokio::test]
async fn delivers_a_signed_issues_opened_event_and_redelivers_it() {
    let emulator = Emulator::start().await.unwrap();
    let (url, received) = receiver().await;
    let event = emulator
        .issues_opened_event("octo", "one", 7, "Crash on start")
        .unwrap();
    let first = emulator.deliver(&url, &event).await.unwrap();
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    assert_eq!(first.id.len(), 36);
    let again = emulator.redeliver(&url, &first.id).await.unwrap();
    assert_eq!(again.id, first.id);
    let other = emulator.deliver(&url, &event).await.unwrap();
    assert_ne!(other.id, first.id);

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let (headers, body) = &received[0];
    assert_eq!(header(headers, "x-github-event"), "issues");
    assert_eq!(header(headers, "x-github-delivery"), first.id);
    assert_eq!(header(headers, "x-github-hook-id"), "1");
    assert_eq!(
        header(headers, "x-github-hook-installation-target-type"),
        "integration"
    );
    assert_eq!(header(headers, "x-github-hook-installation-target-id"), "1");
    assert_eq!(header(headers, "content-type"), "application/json");
    assert!(header(headers, "user-agent").starts_with("GitHub-Hookshot/"));
    assert!(signed_with(
        DEFAULT_WEBHOOK_SECRET,
        body,
        header(headers, "x-hub-signature-256")
    ));
    // The redelivery: same id, same body, same signature.
    assert_eq!(received[1].1, *body);
    assert_eq!(
        header(&received[1].0, "x-github-delivery"),
        first.id.as_str()
    );
    assert_eq!(
        header(&received[1].0, "x-hub-signature-256"),
        header(headers, "x-hub-signature-256")
    );

    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["action"], "opened");
    assert_eq!(payload["installation"]["id"], 1);
    assert_eq!(payload["issue"]["number"], 7);
    assert_eq!(payload["issue"]["title"], "Crash on start");
    assert_eq!(payload["issue"]["user"]["login"], "octocat");
    assert_eq!(payload["sender"]["login"], "octocat");
    assert_eq!(payload["repository"]["full_name"], "octo/one");
    assert_eq!(
        payload["issue"]["url"],
        format!("{}/repos/octo/one/issues/7", emulator.base_url())
    );
    assert_eq!(emulator.counters().webhooks_delivered, 3);
    // Installation 2 holds monalisa/hello; no installation holds an unknown repository.
    let theirs = emulator
        .issues_opened_event("monalisa", "hello", 1, "t")
        .unwrap();
    let payload: Value = serde_json::from_slice(theirs.body()).unwrap();
    assert_eq!(payload["installation"]["id"], 2);
    assert!(
        emulator
            .issues_opened_event("octo", "nope", 1, "t")
            .is_none()
    );
}

#[tokio::test]
async fn signs_with_a_wrong_or_rotated_secret() {
    let emulator = Emulator::start().await.unwrap();
    let (url, received) = receiver().await;
    let event = WebhookEvent::new("ping", &json!({ "zen": "Design for failure." }));
    emulator
        .deliver_signed_with(&url, &event, "wrong")
        .await
        .unwrap();
    emulator.set_webhook_secret("rotated");
    let sent = emulator.deliver(&url, &event).await.unwrap();
    let received = received.lock().unwrap().clone();
    assert!(signed_with(
        "wrong",
        event.body(),
        header(&received[0].0, "x-hub-signature-256")
    ));
    assert!(!signed_with(
        DEFAULT_WEBHOOK_SECRET,
        event.body(),
        header(&received[0].0, "x-hub-signature-256")
    ));
    assert!(signed_with(
        "rotated",
        event.body(),
        header(&received[1].0, "x-hub-signature-256")
    ));
    assert_eq!(header(&received[1].0, "x-github-delivery"), sent.id);
    assert_eq!(header(&received[1].0, "x-github-event"), "ping");
}

#[tokio::test]
async fn a_delivery_fails_when_nobody_answers_or_the_id_is_unknown() {
    let emulator = Emulator::start().await.unwrap();
    let event = WebhookEvent::new("ping", &json!({}));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    assert!(emulator.deliver(&url, &event).await.is_err());
    assert_eq!(
        emulator
            .redeliver(&url, "no-such-id")
            .await
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::NotFound
    );
    assert!(
        emulator
            .deliver("https://example.com/", &event)
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_never_answers_fails_after_ten_seconds() {
    let emulator = Emulator::start().await.unwrap();
    // Accepted by the kernel, never read nor answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let event = WebhookEvent::new("ping", &json!({}));
    let err = emulator.deliver(&url, &event).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn comments_on_an_issue_as_the_installation_or_a_user() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    let path = "/repos/octo/one/issues/7/comments";
    let answer = http
        .post_json(path, Some(&token), &json!({ "body": "Thanks!" }))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let comment = answer.json();
    assert_eq!(comment["body"], "Thanks!");
    assert_eq!(comment["user"]["login"], "emulator-app[bot]");
    assert_eq!(comment["user"]["type"], "Bot");
    assert!(
        comment["html_url"]
            .as_str()
            .unwrap()
            .contains("/octo/one/issues/7#issuecomment-")
    );
    let by_user = http
        .post_json(path, Some(DEFAULT_PAT), &json!({ "body": "Me too" }))
        .await;
    assert_eq!(by_user.status, StatusCode::CREATED);

    // Refusals: no token, no body, outside the token's reach, without issues=write.
    assert_eq!(
        http.post_json(path, None, &json!({ "body": "x" }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        http.post_json(path, Some(&token), &json!({ "text": "x" }))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        http.post_json(
            "/repos/monalisa/hello/issues/1/comments",
            Some(&token),
            &json!({ "body": "x" })
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let read_only = http
        .installation_token(1, &json!({ "permissions": { "issues": "read" } }))
        .await;
    let refused = http
        .post_json(path, Some(&read_only), &json!({ "body": "x" }))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.header("x-accepted-github-permissions"),
        Some("issues=write")
    );

    let comments = emulator.issue_comments();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].body, "Thanks!");
    assert_eq!(comments[0].author, "emulator-app[bot]");
    assert_eq!(comments[0].installation_id, Some(1));
    assert_eq!(
        (comments[0].owner.as_str(), comments[0].repo.as_str()),
        ("octo", "one")
    );
    assert_eq!(comments[0].issue_number, 7);
    assert_eq!(comments[1].author, "octocat");
    assert_eq!(comments[1].installation_id, None);
    assert_eq!(emulator.counters().issue_comments_created, 2);
}
