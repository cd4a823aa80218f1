//! A GitHub App backend's other half: it receives webhooks, verified by `tower-github-webhooks`,
//! and answers each `issues` `opened` event with a comment on the issue, as the installation
//! that sent it (`app.as_installation(...)`).
//!
//! Run: `cargo run --example webhook_app` (against the emulator, which plays GitHub: it delivers
//! the events, signed, and takes the comment). The run shows a delivery, GitHub's redelivery of
//! it (answered 200 without running the handler again), a delivery signed with a wrong secret
//! (401), and the comment the App left.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey};
use tower_github_webhooks::{Delivery, WebhookLayer};

/// What the handler shares: the App (key, JWT, token cache) and the HTTP client.
#[derive(Clone, Debug)]
pub struct AppState {
    app: AppAuth,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The webhook route, behind the layer that verifies each delivery with `webhook_secret`.
pub fn router(app: AppAuth, webhook_secret: &str) -> axum::Router {
    let state = Arc::new(AppState {
        app,
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    axum::Router::new()
        .route("/webhook", post(webhook))
        .layer(WebhookLayer::new(webhook_secret.to_owned()))
        .with_state(state)
}

/// The parts of an `issues` payload this App reads.
#[derive(Deserialize)]
struct IssuesEvent {
    issue: Issue,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    user: User,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
    owner: User,
}

/// A verified delivery: thanks the author of each new issue. A failure answers 502, so that the
/// layer forgets the delivery and GitHub's redelivery runs this again.
async fn webhook(
    State(state): State<Arc<AppState>>,
    delivery: Delivery,
) -> Result<StatusCode, (StatusCode, String)> {
    if delivery.event != "issues" || delivery.action.as_deref() != Some("opened") {
        return Ok(StatusCode::NO_CONTENT);
    }
    let Some(installation) = delivery.installation_id else {
        return Err((StatusCode::BAD_REQUEST, "no installation".to_owned()));
    };
    let event: IssuesEvent = delivery
        .payload()
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let github = ServiceBuilder::new()
        .layer(state.app.as_installation(InstallationId(installation)))
        .service(state.client.clone());
    let comment = serde_json::json!({
        "body": format!("Thanks for the report, @{}!", event.issue.user.login),
    });
    let request = http::Request::post(format!(
        "/repos/{}/{}/issues/{}/comments",
        event.repository.owner.login, event.repository.name, event.issue.number
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(Full::from(comment.to_string()))
    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = github
        .oneshot(request)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    if response.status() != StatusCode::CREATED {
        return Err((
            StatusCode::BAD_GATEWAY,
            format!("GitHub answered {}", response.status()),
        ));
    }
    Ok(StatusCode::CREATED)
}

#[allow(dead_code)] // The end-to-end test includes this file for `router` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let github = github_auth_emulator::Emulator::builder().start().await?;
    let webhook_secret = "the App's webhook secret";
    github.set_webhook_secret(webhook_secret);
    let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    let app = AppAuth::new(AppId(1), key).endpoints(Endpoints::single(&github.base_url())?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(app, webhook_secret)).await });
    println!(
        "webhooks on {url} (GitHub emulator on {})",
        github.base_url()
    );

    let event = github
        .issues_opened_event("octo", "one", 7, "Crash on start")
        .ok_or("the emulator has octo/one")?;
    let first = github.deliver(&url, &event).await?;
    println!("issues opened, delivery {} -> {}", first.id, first.status);
    let again = github.redeliver(&url, &first.id).await?;
    println!("redelivered {} -> {} (a duplicate)", again.id, again.status);
    let forged = github.deliver_signed_with(&url, &event, "a guess").await?;
    println!("signed with a wrong secret -> {}", forged.status);
    for comment in github.issue_comments() {
        println!(
            "comment on {}/{}#{} by {}: {}",
            comment.owner, comment.repo, comment.issue_number, comment.author, comment.body
        );
    }
    Ok(())
}
