//! An axum backend that calls GitHub as the installation named in each request.
//!
//! A GitHub App backend learns the installation from each webhook (`installation.id`) or from its
//! own records, and builds a stack per request with `app.as_installation(id)`: cheap, because the
//! key, the JWT and the token cache are shared. Every request after the first for an installation
//! is warm.
//!
//! Run: `cargo run --example axum_app` (against the emulator; add `-- --serve` to keep serving),
//! then `curl localhost:PORT/installations/1/repos/octo/one`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey};

/// What every handler shares: the App (key, JWT, token cache) and the HTTP client.
#[derive(Clone, Debug)]
pub struct AppState {
    app: AppAuth,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The backend's routes.
pub fn router(app: AppAuth) -> axum::Router {
    let state = Arc::new(AppState {
        app,
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    axum::Router::new()
        .route(
            "/installations/{installation}/repos/{owner}/{repo}",
            get(repository),
        )
        .with_state(state)
}

/// Fetches a repository from GitHub as `installation`.
async fn repository(
    State(state): State<Arc<AppState>>,
    Path((installation, owner, repo)): Path<(InstallationId, String, String)>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let github = ServiceBuilder::new()
        .layer(state.app.as_installation(installation))
        .service(state.client.clone());
    let request = http::Request::get(format!("/repos/{owner}/{repo}"))
        .body(Full::default())
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let response = github
        .oneshot(request)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        return Err((code, String::from_utf8_lossy(&body).into_owned()));
    }
    let json =
        serde_json::from_slice(&body).map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(json))
}

#[allow(dead_code)] // The end-to-end test includes this file for `router` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let github = github_auth_emulator::Emulator::builder().start().await?;
    let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    let app = AppAuth::new(AppId(1), key).endpoints(Endpoints::single(&github.base_url())?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(app)).await });
    println!(
        "backend on http://{addr} (GitHub emulator on {})",
        github.base_url()
    );

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for path in [
        "/installations/1/repos/octo/one",
        "/installations/2/repos/monalisa/hello",
    ] {
        let response = client.get(format!("http://{addr}{path}").parse()?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let repo: serde_json::Value = serde_json::from_slice(&body)?;
        println!(
            "GET {path} -> {status}: {} as {}",
            repo["full_name"], repo["emulator"]
        );
    }
    println!(
        "installation tokens minted: {}",
        github.counters().installation_tokens_minted
    );

    if std::env::args().any(|a| a == "--serve") {
        println!("serving until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
