//! The App-manifest flow: `issue_manifest_code`, then `POST /app-manifests/{code}/conversions`.

use std::time::Duration;

use github_auth_emulator::{DEFAULT_APP_ID, Emulator, EmulatorHandle};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Answer, Http, app_jwt, jwt_with};

fn manifest() -> Value {
    json!({
        "name": "Octo Deployer",
        "url": "https://example.com/deployer",
        "description": "Deploys things",
        "hook_attributes": { "url": "https://example.com/deployer/hook" },
        "redirect_url": "https://example.com/deployer/callback",
        "public": false,
        "default_permissions": { "contents": "read", "issues": "write" },
        "default_events": ["push", "issues"],
    })
}

async fn convert(http: &Http, code: &str) -> Answer {
    http.post_json(
        &format!("/app-manifests/{code}/conversions"),
        None,
        &Value::Null,
    )
    .await
}

/// Creates the app of `manifest()` and answers its conversion body.
async fn create(emulator: &EmulatorHandle, http: &Http) -> Value {
    let code = emulator.issue_manifest_code(&manifest());
    let answer = convert(http, &code).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    answer.json()
}

#[tokio::test]
async fn conversion_creates_an_app_with_its_secrets_and_key() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let app = create(&emulator, &http).await;
    let id = app["id"].as_u64().unwrap();
    assert_ne!(id, DEFAULT_APP_ID);
    assert_eq!(app["slug"], "octo-deployer");
    assert_eq!(app["name"], "Octo Deployer");
    assert_eq!(app["description"], "Deploys things");
    assert_eq!(app["external_url"], "https://example.com/deployer");
    assert_eq!(
        app["html_url"],
        format!("{}/apps/octo-deployer", emulator.base_url())
    );
    assert_eq!(app["owner"]["login"], "octocat");
    assert_eq!(
        app["permissions"],
        json!({ "contents": "read", "issues": "write", "metadata": "read" })
    );
    assert_eq!(app["events"], json!(["push", "issues"]));
    assert!(app["client_id"].as_str().unwrap().starts_with("Iv"));
    assert_eq!(app["client_secret"].as_str().unwrap().len(), 40);
    assert_eq!(app["webhook_secret"].as_str().unwrap().len(), 40);
    let pem = app["pem"].as_str().unwrap();
    assert!(
        pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{pem}"
    );
    assert_eq!(app["installations_count"], 1);
    assert_eq!(emulator.counters().manifest_conversions, 1);
}

#[tokio::test]
async fn the_new_app_signs_jwts_with_its_key_and_mints_tokens() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let app = create(&emulator, &http).await;
    let pem = app["pem"].as_str().unwrap();

    for iss in [app["id"].clone(), app["client_id"].clone()] {
        let me = http.get("/app", Some(&jwt_with(pem, &iss))).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.json()["slug"], "octo-deployer");
    }
    let jwt = jwt_with(pem, &app["id"]);
    let installations = http.get("/app/installations", Some(&jwt)).await.json();
    let installations = installations.as_array().unwrap();
    assert_eq!(installations.len(), 1);
    let inst = &installations[0];
    assert_eq!(inst["app_id"], app["id"]);
    assert_eq!(inst["app_slug"], "octo-deployer");
    assert_eq!(inst["account"]["login"], "octo");
    let inst_id = inst["id"].as_u64().unwrap();
    // Looked up by repository, the new app's JWT finds its own installation.
    let by_repo = http.get("/repos/octo/one/installation", Some(&jwt)).await;
    assert_eq!(by_repo.json()["id"], inst_id);

    let minted = http
        .post_json(
            &format!("/app/installations/{inst_id}/access_tokens"),
            Some(&jwt),
            &Value::Null,
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED);
    let token = minted.json();
    assert_eq!(
        token["permissions"],
        json!({ "contents": "read", "issues": "write", "metadata": "read" })
    );
    let repo = http.get("/repos/octo/two", token["token"].as_str()).await;
    assert_eq!(repo.json()["emulator"]["installation_id"], inst_id);

    // Each app sees its own installations only.
    let foreign = http
        .post_json(
            &format!("/app/installations/{inst_id}/access_tokens"),
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let mine = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&jwt),
            &Value::Null,
        )
        .await;
    assert_eq!(mine.status, StatusCode::NOT_FOUND);
    // The configured key does not sign for the new app.
    let now = crate::common::now();
    let forged =
        crate::common::sign(&json!({ "iat": now - 30, "exp": now + 500, "iss": app["id"] }));
    let refused = http.get("/app", Some(&forged)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.counters().refusals_for("jwt_bad_signature"), 1);
}

#[tokio::test]
async fn the_new_app_runs_the_oauth_web_flow() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let app = create(&emulator, &http).await;
    let code = emulator.issue_web_flow_code("monalisa");
    let answer = http
        .oauth(
            "/login/oauth/access_token",
            &[
                ("client_id", app["client_id"].as_str().unwrap()),
                ("client_secret", app["client_secret"].as_str().unwrap()),
                ("code", &code),
            ],
        )
        .await
        .json();
    let token = answer["access_token"].as_str().unwrap();
    assert!(token.starts_with("ghu_"), "{answer}");
    assert!(answer["refresh_token"].is_string());
    assert_eq!(
        http.get("/user", Some(token)).await.json()["login"],
        "monalisa"
    );
}

#[tokio::test]
async fn a_code_converts_once() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = emulator.issue_manifest_code(&manifest().to_string());
    assert_eq!(convert(&http, &code).await.status, StatusCode::CREATED);
    let again = convert(&http, &code).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.message(), "Not Found");
    let unknown = convert(&http, "0123456789abcdef0123").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let counters = emulator.counters();
    assert_eq!(counters.manifest_conversions, 1);
    assert_eq!(counters.refusals_for("unknown_manifest_code"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_code_lasts_an_hour() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = emulator.issue_manifest_code(&manifest());
    tokio::time::advance(Duration::from_secs(3601)).await;
    assert_eq!(convert(&http, &code).await.status, StatusCode::NOT_FOUND);
    let fresh = emulator.issue_manifest_code(&manifest());
    tokio::time::advance(Duration::from_secs(3599)).await;
    assert_eq!(convert(&http, &fresh).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_bad_manifest_is_422_and_keeps_its_code() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    for (manifest, error) in [
        (json!({ "name": "No URL" }), "Url can't be blank"),
        (
            json!({ "name": "Emulator App", "url": "https://example.com" }),
            "Name is already in use",
        ),
        (
            json!(["not", "an", "object"]),
            "Manifest is not a JSON object",
        ),
        (
            json!({ "url": "https://example.com", "default_permissions": { "contents": "all" } }),
            "Default permissions are not valid",
        ),
    ] {
        let code = emulator.issue_manifest_code(&manifest);
        let answer = convert(&http, &code).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{manifest}"
        );
        let body = answer.json();
        assert_eq!(body["message"], "Validation Failed");
        assert_eq!(body["errors"], json!([error]));
        assert!(body["documentation_url"].is_string());
    }
    assert_eq!(emulator.counters().refusals_for("bad_manifest"), 4);
    assert_eq!(
        emulator.issue_manifest_code("not json").len(),
        20,
        "any text is accepted as the manifest"
    );
    // A manifest without a name gets one; without hook_attributes, no webhook secret.
    let code = emulator.issue_manifest_code(&json!({ "url": "https://example.com" }));
    let app = convert(&http, &code).await.json();
    assert!(
        app["slug"]
            .as_str()
            .unwrap()
            .starts_with("emulator-manifest-app-")
    );
    assert_eq!(app["webhook_secret"], Value::Null);
    assert_eq!(app["permissions"], json!({ "metadata": "read" }));
}
