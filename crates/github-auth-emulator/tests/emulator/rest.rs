//! `GET /user`, `GET /repos/{owner}/{repo}` and its `/issues` with every kind of credential.

use github_auth_emulator::{DEFAULT_PAT, DEFAULT_WEB_FLOW_CODE, Emulator};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Http, app_jwt};

#[tokio::test]
async fn user_with_a_pat() {
    let emulator = Emulator::builder()
        .personal_access_token("github_pat_other", "hubot")
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/user", Some(DEFAULT_PAT)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let user = answer.json();
    assert_eq!(user["login"], "octocat");
    assert_eq!(user["id"], 1);
    assert_eq!(user["type"], "User");
    let other = http.get("/user", Some("github_pat_other")).await.json();
    assert_eq!(other["login"], "hubot");
}

#[tokio::test]
async fn user_with_a_user_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let code = emulator.issue_web_flow_code("monalisa");
    let token = http.app_code_exchange(&code).await;
    let token = token["access_token"].as_str().unwrap();
    assert!(token.starts_with("ghu_"));
    let answer = http.get("/user", Some(token)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["login"], "monalisa");
}

#[tokio::test]
async fn user_with_an_installation_token_is_403() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    let answer = http.get("/user", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.message(), "Resource not accessible by integration");
    assert_eq!(
        emulator.counters().refusals_for("resource_not_accessible"),
        1
    );
}

#[tokio::test]
async fn user_with_a_jwt_is_401() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator).get("/user", Some(&app_jwt())).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.counters().refusals_for("jwt_not_allowed"), 1);
}

#[tokio::test]
async fn user_without_credentials_is_401() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator).get("/user", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Requires authentication");
}

#[tokio::test]
async fn unknown_token_is_bad_credentials() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/user", Some("ghp_nosuchtoken"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Bad credentials");
    assert_eq!(emulator.counters().refusals_for("bad_credentials"), 1);
}

#[tokio::test]
async fn token_scheme_is_accepted_too() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .send(
            Method::GET,
            "/user",
            &[("authorization", &format!("token {DEFAULT_PAT}"))],
            None,
            true,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn repo_with_an_installation_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    let answer = http.get("/repos/octo/one", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let repo = answer.json();
    assert_eq!(repo["id"], 1000);
    assert_eq!(repo["name"], "one");
    assert_eq!(repo["full_name"], "octo/one");
    assert_eq!(repo["owner"]["login"], "octo");
    assert_eq!(repo["emulator"]["credential"], "installation");
    assert_eq!(repo["emulator"]["installation_id"], 1);
    assert_eq!(repo["emulator"]["login"], Value::Null);
}

#[tokio::test]
async fn repo_outside_an_installation_token_is_404() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    assert_eq!(
        http.get("/repos/monalisa/hello", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        emulator
            .counters()
            .refusals_for("repository_not_accessible"),
        1
    );
}

#[tokio::test]
async fn repo_outside_the_narrowing_is_404() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http
        .installation_token(
            1,
            &json!({ "repositories": ["two"], "permissions": { "issues": "read" } }),
        )
        .await;
    let two = http.get("/repos/octo/two", Some(&token)).await;
    assert_eq!(two.status, StatusCode::OK);
    assert_eq!(
        two.json()["emulator"]["permissions"],
        json!({ "issues": "read" })
    );
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn issues_need_the_issues_permission() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let narrowed = http
        .installation_token(1, &json!({ "permissions": { "contents": "read" } }))
        .await;
    let refused = http.get("/repos/octo/one/issues", Some(&narrowed)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.message(), "Resource not accessible by integration");
    assert_eq!(
        refused.header("x-accepted-github-permissions"),
        Some("issues=read")
    );
    assert_eq!(emulator.counters().refusals_for("missing_permission"), 1);

    let reader = http
        .installation_token(1, &json!({ "permissions": { "issues": "read" } }))
        .await;
    let full = http.installation_token(1, &Value::Null).await;
    for token in [reader.as_str(), full.as_str(), DEFAULT_PAT] {
        let answer = http.get("/repos/octo/one/issues", Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), json!([]));
    }
    assert_eq!(
        http.get("/repos/monalisa/hello/issues", Some(&full))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn repo_with_a_pat() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/repos/monalisa/hello", Some(DEFAULT_PAT))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let who = &answer.json()["emulator"];
    assert_eq!(who["credential"], "pat");
    assert_eq!(who["login"], "octocat");
    assert_eq!(who["installation_id"], Value::Null);
}

#[tokio::test]
async fn repo_with_a_user_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.oauth_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let token = token["access_token"].as_str().unwrap();
    assert!(token.starts_with("gho_"));
    let who = http.get("/repos/octo/one", Some(token)).await.json()["emulator"].clone();
    assert_eq!(who["credential"], "user");
    assert_eq!(who["login"], "octocat");
}

#[tokio::test]
async fn repo_without_credentials_is_public_read() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/repos/octo/two", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["emulator"]["credential"], "none");
    assert_eq!(
        http.get("/repos/octo/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn repo_with_a_jwt_is_401() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/repos/octo/one", Some(&app_jwt()))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "A JSON web token could not be decoded");
    assert_eq!(emulator.counters().refusals_for("jwt_not_allowed"), 1);
}

#[tokio::test]
async fn unknown_route_is_404() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/no/such/route", Some(DEFAULT_PAT)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.message(), "Not Found");
    let wrong_method = http.post_json("/user", Some(DEFAULT_PAT), &json!({})).await;
    assert_eq!(wrong_method.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enterprise_prefix_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/api/v3/user", Some(DEFAULT_PAT))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn installation_repositories_follow_the_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let all = http.installation_token(1, &Value::Null).await;
    let answer = http
        .get("/installation/repositories", Some(&all))
        .await
        .json();
    assert_eq!(answer["total_count"], 2);
    assert_eq!(answer["repository_selection"], "all");
    let narrowed = http
        .installation_token(1, &json!({ "repository_ids": [1001] }))
        .await;
    let answer = http
        .get("/installation/repositories", Some(&narrowed))
        .await
        .json();
    assert_eq!(answer["repository_selection"], "selected");
    assert_eq!(answer["repositories"][0]["full_name"], "octo/two");
    let pat = http
        .get("/installation/repositories", Some(DEFAULT_PAT))
        .await;
    assert_eq!(pat.status, StatusCode::FORBIDDEN);
}
