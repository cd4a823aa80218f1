//! A replica that exposes its metrics to Prometheus while it calls GitHub (here the emulator).
//!
//! The `metrics` feature of `tower-github-auth` emits `github_auth_*` metrics through the
//! [`metrics`](https://docs.rs/metrics) facade; `metrics-exporter-prometheus` records them and
//! renders Prometheus' text format, served here at `GET /metrics` by the replica's own axum
//! router (no second HTTP server). Install the recorder **before the first layer is built**:
//! the caches take their metric handles once, when their first stack is built.
//!
//! The replica makes a cold burst (one exchange, many waiting requests), warm requests, a mint
//! GitHub fails (a backoff), and a fresh token refused once while GitHub replicates it (a
//! replay); then it scrapes its own `/metrics`, prints the `github_auth_` lines and exits.
//!
//! Run: `cargo run -p examples --example prometheus --features metrics`

use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use futures_util::future::join_all;
use github_auth_emulator::{Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Layer, ServiceExt};
use tower_github_auth::{AppAuth, AppId, BoxError, Endpoints, InstallationId};

/// The HTTP client the layers are stacked on.
type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Installs the Prometheus recorder for the process (once, before the first layer is built).
pub fn install_recorder() -> Result<PrometheusHandle, BoxError> {
    Ok(PrometheusBuilder::new().install_recorder()?)
}

/// The replica's routes: `GET /metrics`, in Prometheus' text format.
pub fn router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    )
}

/// What the replica does with GitHub: a cold burst of 20 requests, 100 warm ones, a mint that
/// fails (four server errors: a backoff), and a token refused once while it replicates (a 401
/// replayed).
pub async fn work(github: &EmulatorHandle) -> Result<(), BoxError> {
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)?
        .endpoints(Endpoints::single(&github.base_url())?);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let call = |installation: u64| {
        let svc = app
            .as_installation(InstallationId(installation))
            .layer(client.clone());
        async move {
            let request = Request::get("/installation/repositories").body(Full::default())?;
            let response = svc.oneshot(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, BoxError>(status)
        }
    };
    for status in join_all((0..20).map(|_| call(1))).await {
        assert!(status?.is_success());
    }
    for _ in 0..100 {
        call(1).await?;
    }
    github.fail_next_exchanges(4);
    assert!(call(2).await.is_err(), "four server errors: the mint fails");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    github.set_replication_lag(true);
    assert!(call(2).await?.is_success(), "replayed after the 401");
    github.set_replication_lag(false);
    Ok(())
}

/// `GET http://{addr}/metrics`.
pub async fn scrape(addr: std::net::SocketAddr) -> Result<String, BoxError> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .get(format!("http://{addr}/metrics").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let handle = install_recorder()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(handle)).await });

    let github = Emulator::builder().start().await?;
    work(&github).await?;

    println!("GET http://{addr}/metrics:");
    for line in scrape(addr).await?.lines() {
        if line.starts_with("github_auth_") {
            println!("  {line}");
        }
    }
    Ok(())
}
