//! The uploads host (release assets) and `POST /graphql`, with every kind of credential.

use github_auth_emulator::{DEFAULT_PAT, Emulator};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Answer, Http, app_jwt};

const ASSET: &str = "/repos/octo/one/releases/7/assets?name=tool%20v1.zip";

async fn upload(http: &Http, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let body = Some(("application/zip", b"0123456789".to_vec()));
    http.send(Method::POST, path, &headers, body, true).await
}

fn query(q: &str) -> Value {
    json!({ "query": q })
}

#[tokio::test]
async fn an_installation_token_uploads_an_asset_on_the_uploads_host_only() {
    let emulator = Emulator::builder()
        .separate_uploads_host(true)
        .start()
        .await
        .unwrap();
    assert_ne!(emulator.uploads_url(), emulator.base_url());
    let api = Http::new(&emulator);
    let token = api.installation_token(1, &Value::Null).await;
    let uploads = Http::at(emulator.uploads_url());

    let answer = upload(&uploads, ASSET, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let asset = answer.json();
    assert_eq!(asset["name"], "tool v1.zip");
    assert_eq!(asset["size"], 10);
    assert_eq!(asset["content_type"], "application/zip");
    assert_eq!(asset["state"], "uploaded");
    assert_eq!(asset["emulator"]["credential"], "installation");
    assert_eq!(emulator.counters().release_assets_uploaded, 1);

    // The API host takes no upload, and the uploads host nothing else.
    assert_eq!(
        upload(&api, ASSET, Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    let elsewhere = uploads.get("/repos/octo/one", Some(&token)).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(emulator.counters().release_assets_uploaded, 1);
}

#[tokio::test]
async fn uploads_need_a_token_a_reachable_repository_and_a_name() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    // One host for all: uploads at the root and under GHES's /api/uploads.
    let token = http.installation_token(1, &Value::Null).await;
    for path in [ASSET.to_owned(), format!("/api/uploads{ASSET}")] {
        assert_eq!(
            upload(&http, &path, Some(&token)).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        upload(&http, ASSET, Some(DEFAULT_PAT)).await.status,
        StatusCode::CREATED
    );

    let refused = [
        (ASSET, None, StatusCode::UNAUTHORIZED, "no_credentials"),
        (
            ASSET,
            Some(app_jwt()),
            StatusCode::UNAUTHORIZED,
            "jwt_not_allowed",
        ),
        (
            "/repos/monalisa/hello/releases/7/assets?name=a",
            Some(token.clone()),
            StatusCode::NOT_FOUND,
            "repository_not_accessible",
        ),
        (
            "/repos/octo/one/releases/7/assets",
            Some(token.clone()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/repos/octo/one/releases/x/assets?name=a",
            Some(token.clone()),
            StatusCode::NOT_FOUND,
            "repository_not_found",
        ),
    ];
    for (path, credential, status, reason) in refused {
        let answer = upload(&http, path, credential.as_deref()).await;
        assert_eq!(answer.status, status, "{path}");
        assert_eq!(emulator.counters().refusals_for(reason), 1, "{reason}");
    }
    // Only under /api/uploads on a GHES-shaped path: nothing else lives there.
    let other = http.get("/api/uploads/repos/octo/one", Some(&token)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(emulator.counters().release_assets_uploaded, 3);
}

#[tokio::test]
async fn graphql_answers_the_viewer_of_each_credential() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let installation = http.installation_token(1, &Value::Null).await;
    let viewer = query("{ viewer { login } }");
    for (path, token, login) in [
        ("/graphql", installation.as_str(), "emulator-app[bot]"),
        ("/api/graphql", DEFAULT_PAT, "octocat"),
    ] {
        let answer = http.post_json(path, Some(token), &viewer).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json()["data"]["viewer"]["login"], login);
    }
    let other = http
        .post_json(
            "/graphql",
            Some(DEFAULT_PAT),
            &query("{ repository { id } }"),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.json()["errors"][0]["message"].is_string());
    assert_eq!(emulator.counters().graphql_queries, 3);

    let anonymous = http.post_json("/graphql", None, &viewer).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let jwt = http.post_json("/graphql", Some(&app_jwt()), &viewer).await;
    assert_eq!(jwt.status, StatusCode::UNAUTHORIZED);
    let no_query = http
        .post_json("/graphql", Some(DEFAULT_PAT), &json!({}))
        .await;
    assert_eq!(no_query.status, StatusCode::BAD_REQUEST);
    // GraphQL is not below /api/v3 on GitHub Enterprise Server.
    let misplaced = http
        .post_json("/api/v3/graphql", Some(DEFAULT_PAT), &viewer)
        .await;
    assert_eq!(misplaced.status, StatusCode::NOT_FOUND);
    assert_eq!(emulator.counters().graphql_queries, 3);
}
