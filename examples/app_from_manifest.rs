//! A tool that registers its own GitHub App from a manifest, then acts as it.
//!
//! `/setup` answers the page that posts the manifest to GitHub (with a random `state`); GitHub
//! sends the user back to `/setup/done?code=...&state=...`, where the code is converted into the
//! App's credentials (id, client id and secret, webhook secret, private key) and the App is kept;
//! `/app` and `/installations/{id}/repositories` then call GitHub as that App.
//!
//! Run: `cargo run --example app_from_manifest` (against the emulator, which plays both the user
//! who confirms the App and GitHub).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppManifest, Endpoints, InstallationId, convert_manifest_code};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The setup server's state: the manifest, the `state`s issued, and the App once created.
#[derive(Debug)]
pub struct Setup {
    endpoints: Endpoints,
    manifest: AppManifest,
    client: HttpClient,
    issued: Mutex<Vec<String>>,
    app: Mutex<Option<AppAuth>>,
}

/// The setup server's routes; `public_url` is where it is reached (for the manifest's URLs).
pub fn router(endpoints: Endpoints, public_url: &str) -> axum::Router {
    let manifest = AppManifest::new("manifest-example", public_url)
        .redirect_url(format!("{public_url}/setup/done"))
        .webhook(format!("{public_url}/webhooks"))
        .default_permission("contents", "read")
        .default_events(["push"]);
    let state = Arc::new(Setup {
        endpoints,
        manifest,
        client: Client::builder(TokioExecutor::new()).build_http(),
        issued: Mutex::new(Vec::new()),
        app: Mutex::new(None),
    });
    axum::Router::new()
        .route("/setup", get(setup))
        .route("/setup/done", get(done))
        .route("/app", get(as_app))
        .route("/installations/{id}/repositories", get(repositories))
        .with_state(state)
}

/// The page that posts the manifest to GitHub, with a random `state` checked on the way back.
async fn setup(State(setup): State<Arc<Setup>>) -> Html<String> {
    let mut random = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut random).expect("the system random generator failed");
    let state = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, random);
    setup
        .issued
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(state.clone());
    let manifest = setup.manifest.to_json().replace('\'', "&#39;");
    Html(format!(
        "<form method=post action='{}?state={state}'>\
         <input type=hidden name=manifest value='{manifest}'>\
         <button>Create the GitHub App</button></form>",
        setup.manifest.form_action(&setup.endpoints, None)
    ))
}

/// GitHub sends the user back here with the code: the App is created.
async fn done(
    State(setup): State<Arc<Setup>>,
    Query(back): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let (Some(code), Some(state)) = (back.get("code"), back.get("state")) else {
        return Err((StatusCode::BAD_REQUEST, "needs `code` and `state`".into()));
    };
    let issued = {
        let mut issued = setup.issued.lock().unwrap_or_else(PoisonError::into_inner);
        let known = issued.iter().position(|s| s == state);
        known.map(|at| issued.remove(at))
    };
    if issued.is_none() {
        return Err((StatusCode::BAD_REQUEST, "unknown `state`".into()));
    }
    let created = convert_manifest_code(&setup.client, &setup.endpoints, code)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    // A real tool stores `created` (its secrets are shown once) in its secret store here.
    let app = created
        .app_auth()
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .endpoints(setup.endpoints.clone());
    let installations = app
        .installations(&setup.client)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    *setup.app.lock().unwrap_or_else(PoisonError::into_inner) = Some(app);
    Ok(Json(serde_json::json!({
        "id": created.id.0,
        "slug": created.slug,
        "client_id": created.client_id,
        "installations": installations.iter().map(|i| i.id.0).collect::<Vec<_>>(),
    })))
}

fn created_app(setup: &Setup) -> Result<AppAuth, (StatusCode, String)> {
    setup
        .app
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or((StatusCode::CONFLICT, "no App yet: visit /setup".into()))
}

/// `GET /app` as the created App.
async fn as_app(
    State(setup): State<Arc<Setup>>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let app = created_app(&setup)?;
    call(
        ServiceBuilder::new()
            .layer(app)
            .service(setup.client.clone()),
        "/app",
    )
    .await
}

/// `GET /installation/repositories` as one of the created App's installations.
async fn repositories(
    State(setup): State<Arc<Setup>>,
    Path(id): Path<InstallationId>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let app = created_app(&setup)?;
    let github = ServiceBuilder::new()
        .layer(app.as_installation(id))
        .service(setup.client.clone());
    call(github, "/installation/repositories").await
}

async fn call<S>(github: S, path: &str) -> Result<Json<serde_json::Value>, (StatusCode, String)>
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = tower_github_auth::Error,
        >,
{
    let request = http::Request::get(path)
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
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        return Err((StatusCode::BAD_GATEWAY, format!("GitHub answered {status}")));
    }
    Ok(Json(json))
}

#[allow(dead_code)] // The end-to-end test includes this file for `router` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let github = github_auth_emulator::Emulator::builder().start().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}", listener.local_addr()?);
    let endpoints = Endpoints::single(&github.base_url())?;
    tokio::spawn({
        let router = router(endpoints, &public);
        async move { axum::serve(listener, router).await }
    });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client.get(path.parse()?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
        }
    };

    let (_, page) = get(format!("{public}/setup")).await?;
    let page = String::from_utf8_lossy(&page).into_owned();
    println!("1. the setup page posts the manifest to GitHub:\n   {page}");
    // The user confirms the App on GitHub, which sends them back with a code (the emulator
    // plays both here).
    let manifest = page
        .split("value='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .ok_or("no manifest in the page")?
        .replace("&#39;", "'");
    let state = page
        .split("state=")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .ok_or("no state in the page")?;
    let code = github.issue_manifest_code(&manifest);
    let (status, created) = get(format!("{public}/setup/done?code={code}&state={state}")).await?;
    let created: serde_json::Value = serde_json::from_slice(&created)?;
    println!("2. back with the code: {status}, the App {created}");
    let (status, me) = get(format!("{public}/app")).await?;
    let me: serde_json::Value = serde_json::from_slice(&me)?;
    println!("3. GET /app as the new App: {status}, it is {}", me["slug"]);
    let installation = &created["installations"][0];
    let (status, repositories) = get(format!(
        "{public}/installations/{installation}/repositories"
    ))
    .await?;
    let repositories: serde_json::Value = serde_json::from_slice(&repositories)?;
    println!(
        "4. as its installation {installation}: {status}, {} repositories",
        repositories["total_count"]
    );
    println!(
        "manifest conversions: {}, installation tokens minted: {}",
        github.counters().manifest_conversions,
        github.counters().installation_tokens_minted
    );
    Ok(())
}
