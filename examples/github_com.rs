//! The same strategies against real GitHub, over TLS (hyper-rustls), with your credentials.
//!
//! Set one of:
//! - `GITHUB_TOKEN`: a personal access token (or any token) → `TokenAuth`, `GET /user`;
//! - `GITHUB_APP_ID` (or the client id), `GITHUB_APP_PRIVATE_KEY_PATH` (the PEM GitHub gave you)
//!   and `GITHUB_INSTALLATION_ID` → `AppAuth` (`GET /app`) and `AppInstallationAuth`
//!   (`GET /installation/repositories`).
//!
//! Optional: `GITHUB_API_URL` and `GITHUB_SERVER_URL` for GitHub Enterprise Server
//! (`https://HOST/api/v3`) or GHE.com (`https://api.SUBDOMAIN.ghe.com`), read by
//! `Endpoints::from_env` as in GitHub Actions.
//!
//! Run: `GITHUB_TOKEN=ghp_... cargo run --example github_com`

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, AppIssuer, Endpoints, Error, InstallationId, TokenAuth};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn show<S>(svc: S, path: &str) -> Result<serde_json::Value, BoxError>
where
    S: Service<
            Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = Error,
        >,
{
    let response = svc
        .oneshot(Request::get(path).body(Full::default())?)
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("GET {path} -> {status}");
    Ok(serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // One TLS stack (rustls over aws-lc-rs, the crypto backend jsonwebtoken uses too).
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(https);
    let endpoints = Endpoints::from_env()?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());

    if let Some(token) = var("GITHUB_TOKEN") {
        let svc = ServiceBuilder::new()
            .layer(TokenAuth::new(token)?.endpoints(endpoints.clone()))
            .service(client.clone());
        let me = show(svc, "/user").await?;
        println!("  you are {}", me["login"]);
    }

    if let (Some(app_id), Some(key_path), Some(installation)) = (
        var("GITHUB_APP_ID"),
        var("GITHUB_APP_PRIVATE_KEY_PATH"),
        var("GITHUB_INSTALLATION_ID"),
    ) {
        // The App id (`12345`) or its client id (`Iv23li...`): GitHub takes either as issuer.
        let issuer = app_id
            .parse()
            .map_or_else(|_| AppIssuer::client_id(&app_id), |id| AppId(id).into());
        let app = AppAuth::from_pem(issuer, std::fs::read(key_path)?)?.endpoints(endpoints);
        let me = show(
            ServiceBuilder::new()
                .layer(app.clone())
                .service(client.clone()),
            "/app",
        )
        .await?;
        println!("  the App is {} (id {})", me["slug"], me["id"]);
        let installation = app.as_installation(InstallationId(installation.parse()?));
        let svc = ServiceBuilder::new()
            .layer(installation.clone())
            .service(client.clone());
        let repos = show(svc, "/installation/repositories?per_page=5").await?;
        println!("  it can see {} repositories", repos["total_count"]);
        let token = installation.fetch_token(&client).await?;
        println!("  token {token:?}"); // Debug shows the token as ***
    } else if var("GITHUB_TOKEN").is_none() {
        eprintln!(
            "Set GITHUB_TOKEN, or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY_PATH + GITHUB_INSTALLATION_ID \
             (see the top of examples/github_com.rs). For a demo without GitHub: cargo run --example quickstart"
        );
        std::process::exit(2);
    }
    Ok(())
}
