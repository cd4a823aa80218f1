//! Every host a credential belongs to, end to end: the API, the uploads host (release assets),
//! GraphQL (outside `/api/v3` on GitHub Enterprise Server), never a foreign host, and two
//! deployments in one process that never share a credential.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{SignIn, client, echo_server, get, send, stack};
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_PAT, Emulator, EmulatorHandle,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, dns::Name};
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tower_github_auth::{
    AppAuth, AppId, AppInstallationAuth, ClientCredentials, Endpoints, InstallationId,
    OAuthAppAuth, PrivateKey, TokenAuth, TokenCache,
};

fn installation(endpoints: Endpoints) -> AppInstallationAuth {
    AppInstallationAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
        InstallationId(1),
    )
    .endpoints(endpoints)
}

fn upload(url: &str) -> Request<Full<Bytes>> {
    Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/zip")
        .body(Full::new(Bytes::from_static(b"PK\x03\x04 an asset")))
        .unwrap()
}

fn graphql(url: &str) -> Request<Full<Bytes>> {
    let query = json!({ "query": "{ viewer { login } }" }).to_string();
    Request::post(url).body(Full::from(query)).unwrap()
}

const ASSET: &str = "/repos/octo/one/releases/7/assets?name=tool.zip";

async fn separate_uploads() -> EmulatorHandle {
    Emulator::builder()
        .separate_uploads_host(true)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_through_the_installation_layer_carries_the_token_on_the_uploads_host() {
    let github = separate_uploads().await;
    let endpoints = Endpoints::single(&github.base_url())
        .unwrap()
        .with_uploads_base(&github.uploads_url())
        .unwrap();
    let svc = stack(installation(endpoints.clone()));
    let url = endpoints.uploads_url(ASSET).unwrap().to_string();
    assert!(url.starts_with(&github.uploads_url()));
    assert_ne!(github.uploads_url(), github.base_url());
    let (status, asset) = send(&svc, upload(&url)).await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{asset}");
    assert_eq!(asset["name"], "tool.zip");
    assert_eq!(asset["size"], 13);
    assert_eq!(asset["emulator"]["credential"], "installation");
    assert_eq!(github.counters().release_assets_uploaded, 1);
}

#[tokio::test]
async fn on_a_ghes_host_uploads_and_graphql_carry_the_token() {
    let github = Emulator::builder().start().await.unwrap();
    let base = github.base_url();
    let svc = stack(installation(Endpoints::enterprise(&base).unwrap()));

    let (status, asset) = send(&svc, upload(&format!("{base}/api/uploads{ASSET}")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{asset}");
    assert_eq!(asset["emulator"]["credential"], "installation");

    let (status, answer) = send(&svc, graphql(&format!("{base}/api/graphql")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["viewer"]["login"], "emulator-app[bot]");
    assert_eq!(github.counters().installation_token_exchanges, 1);
}

#[tokio::test]
async fn the_api_host_refuses_an_upload_the_uploads_host_takes() {
    // The emulator's hosts are distinct: the test above proves the layer chose the right one.
    let github = separate_uploads().await;
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let svc = stack(installation(endpoints));
    let (status, _) = send(&svc, upload(ASSET)).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(github.counters().release_assets_uploaded, 0);
}

#[tokio::test]
async fn a_third_host_gets_no_credential() {
    let github = separate_uploads().await;
    let foreign = echo_server().await;
    let endpoints = Endpoints::single(&github.base_url())
        .unwrap()
        .with_uploads_base(&github.uploads_url())
        .unwrap();
    let svc = stack(installation(endpoints));
    // The token is minted and cached by a request to GitHub first.
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    for path in [ASSET, "/graphql", "/repos/octo/one"] {
        let (status, echoed) = send(&svc, upload(&format!("{foreign}{path}")))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed["authorization"], serde_json::Value::Null, "{path}");
        // Untouched: not even GitHub's headers.
        assert_eq!(echoed["user_agent"], serde_json::Value::Null, "{path}");
    }
}

#[tokio::test]
async fn graphql_works_through_the_installation_layer_and_user_layers() {
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let url = endpoints.graphql_url().to_string();

    let app = stack(installation(endpoints.clone()));
    let (status, answer) = send(&app, graphql(&url)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["viewer"]["login"], "emulator-app[bot]");

    let pat = stack(
        TokenAuth::new(DEFAULT_PAT)
            .unwrap()
            .endpoints(endpoints.clone()),
    );
    let (status, answer) = send(&pat, graphql(&url)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["viewer"]["login"], "octocat");

    let signed_in = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(endpoints.clone())
    .as_web_user(github.issue_web_flow_code("monalisa"))
    .sign_in(&client())
    .await
    .unwrap();
    let user = stack(signed_in);
    let (status, answer) = send(&user, graphql(&url)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["viewer"]["login"], "monalisa");

    assert_eq!(github.counters().graphql_queries, 3);
    assert_eq!(github.counters().refusals_for("no_credentials"), 0);
}

#[tokio::test]
async fn two_deployments_in_one_process_never_share_a_cached_token() {
    let one = Emulator::builder().start().await.unwrap();
    let two = Emulator::builder().start().await.unwrap();
    // One cache for both, as a process serving two GitHub hosts might share it.
    let cache = TokenCache::default();
    let app = |github: &EmulatorHandle| {
        AppAuth::new(
            AppId(1),
            PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
        )
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
        .token_cache(cache.clone())
        .as_installation(InstallationId(1))
    };
    let (svc_one, svc_two) = (stack(app(&one)), stack(app(&two)));
    for _ in 0..3 {
        for (svc, github) in [(&svc_one, &one), (&svc_two, &two)] {
            let (status, answer) = send(svc, graphql(&format!("{}/graphql", github.base_url())))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    }
    for github in [&one, &two] {
        let counters = github.counters();
        assert_eq!(counters.installation_tokens_minted, 1);
        assert_eq!(counters.refusals_for("bad_credentials"), 0);
        assert_eq!(counters.graphql_queries, 3);
    }
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn a_ghe_com_host_pins_its_api_and_uploads_names_and_no_other() {
    let github = Emulator::builder().start().await.unwrap();
    let port = github.addr().port();
    let endpoints = Endpoints::from_api_url(&format!("http://api.octo.ghe.com:{port}")).unwrap();
    assert_eq!(endpoints.web_base(), format!("http://octo.ghe.com:{port}"));
    assert_eq!(
        endpoints.uploads_base(),
        format!("http://uploads.octo.ghe.com:{port}")
    );
    // A client whose resolver sends every `*.ghe.com` name to the loopback address: the GHE.com
    // host shapes (`api.`, `uploads.`, other subdomains) end to end against one emulator.
    let loopback = tower::service_fn(|name: Name| async move {
        if name.as_str().ends_with(".ghe.com") {
            // The connector puts the URI's port on the address.
            Ok(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))))
        } else {
            Err(std::io::Error::other(format!("no test address for {name}")))
        }
    });
    let client = Client::builder(TokioExecutor::new())
        .build::<_, Full<Bytes>>(HttpConnector::new_with_resolver(loopback));
    let svc = tower::Layer::layer(&installation(endpoints.clone()), client);

    let (status, repo) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(repo["emulator"]["credential"], "installation");
    let asset = endpoints.uploads_url(ASSET).unwrap().to_string();
    let (status, answer) = send(&svc, upload(&asset)).await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["emulator"]["credential"], "installation");
    let query = endpoints.graphql_url().to_string();
    let (status, answer) = send(&svc, graphql(&query)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["viewer"]["login"], "emulator-app[bot]");

    // Same emulator, other names: untouched (no token, not even a User-Agent, so 403).
    for foreign in [
        format!("http://uploads.other.ghe.com:{port}{ASSET}"),
        format!("http://octo.ghe.com:{port}{ASSET}"),
        format!("http://api.octo.ghe.com.evil.ghe.com:{port}{ASSET}"),
    ] {
        let (status, _) = send(&svc, upload(&foreign)).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{foreign}");
    }
    let counters = github.counters();
    assert_eq!(counters.release_assets_uploaded, 1);
    assert_eq!(counters.requests_without_user_agent, 3);
    assert_eq!(counters.installation_tokens_minted, 1);
}
