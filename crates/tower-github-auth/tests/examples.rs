//! The examples' servers, driven by a real HTTP client against the emulator.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

use bytes::Bytes;
use futures_util::future::join_all;
use github_auth_emulator::{Emulator, TEST_APP_PRIVATE_KEY_PKCS1};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_github_auth::{AppAuth, Endpoints};

#[tokio::test]
async fn axum_app_calls_github_as_the_installation_in_the_request() {
    let github = Emulator::builder().start().await.unwrap();
    let app = AppAuth::from_pem(1, TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_app::router(app)).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let fetch = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}{path}").parse().unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).ok(),
            )
        }
    };
    let answers = join_all((0..20).map(|i| {
        fetch(if i % 2 == 0 {
            "/installations/1/repos/octo/one"
        } else {
            "/installations/2/repos/monalisa/hello"
        })
    }))
    .await;
    for (i, (status, body)) in answers.into_iter().enumerate() {
        assert_eq!(status, 200);
        let body = body.unwrap();
        let expected = if i % 2 == 0 { 1 } else { 2 };
        assert_eq!(body["emulator"]["installation_id"], expected);
    }
    // Twenty requests, two installations: two exchanges.
    assert_eq!(github.counters().installation_token_exchanges, 2);

    // An installation that does not cover the repository: GitHub's 404 comes through.
    let (status, _) = fetch("/installations/2/repos/octo/one").await;
    assert_eq!(status, 404);
}
