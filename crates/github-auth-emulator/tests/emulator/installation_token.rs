//! What an installation token does with itself: `GET /installation/repositories` a page at a
//! time, `DELETE /installation/token`; and the full repository objects of a narrowed token.

use github_auth_emulator::{DEFAULT_PAT, Emulator, EmulatorHandle, Installation};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Http, app_jwt, links};

/// An emulator with installation 7 on `acme`, which has `count` generated repositories.
async fn acme(count: usize) -> EmulatorHandle {
    Emulator::builder()
        .installation(
            Installation::new(7, "acme")
                .generated_repositories(count)
                .permission("contents", "read"),
        )
        .start()
        .await
        .unwrap()
}

fn names(answer: &Value) -> Vec<&str> {
    answer["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|repo| repo["full_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn revoked_installation_token_is_refused_everywhere() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::OK
    );

    let answer = http.delete("/installation/token", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    assert_eq!(emulator.counters().installation_tokens_revoked, 1);

    for path in ["/installation/repositories", "/repos/octo/one", "/user"] {
        let answer = http.get(path, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.message(), "Bad credentials");
    }
    let again = http.delete("/installation/token", Some(&token)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        http.get("/app", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let counters = emulator.counters();
    assert_eq!(counters.refusals_for("token_revoked"), 5);
    assert_eq!(counters.installation_tokens_revoked, 1);

    // Other tokens of the same installation keep working.
    let other = http.installation_token(1, &Value::Null).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(&other)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_an_installation_token_revokes_itself() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let pat = http.delete("/installation/token", Some(DEFAULT_PAT)).await;
    assert_eq!(pat.status, StatusCode::FORBIDDEN);
    let jwt = http.delete("/installation/token", Some(&app_jwt())).await;
    assert_eq!(jwt.status, StatusCode::UNAUTHORIZED);
    let nothing = http.delete("/installation/token", None).await;
    assert_eq!(nothing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(nothing.message(), "Requires authentication");
    let unknown = http
        .delete("/installation/token", Some("ghs_unknown"))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let counters = emulator.counters();
    assert_eq!(counters.installation_tokens_revoked, 0);
    assert_eq!(counters.refusals_for("installation_token_required"), 1);
    assert_eq!(counters.refusals_for("jwt_not_allowed"), 1);
    assert_eq!(counters.refusals_for("no_credentials"), 1);
    assert_eq!(counters.refusals_for("bad_credentials"), 1);
    // The PAT still works: nothing was revoked.
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn installation_repositories_come_a_page_at_a_time() {
    let emulator = acme(5).await;
    let http = Http::new(&emulator);
    let token = http.installation_token(7, &Value::Null).await;

    let all = http.get("/installation/repositories", Some(&token)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.header("link").is_none(), "one page: no Link");
    let body = all.json();
    assert_eq!(body["total_count"], 5);
    assert_eq!(body["repository_selection"], "all");
    assert_eq!(names(&body).len(), 5);

    let first = http
        .get("/installation/repositories?per_page=2", Some(&token))
        .await;
    let body = first.json();
    assert_eq!(body["total_count"], 5);
    assert_eq!(names(&body), ["acme/repo-1", "acme/repo-2"]);
    let base = emulator.base_url();
    let rels = links(&first);
    assert_eq!(
        rels["next"],
        format!("{base}/installation/repositories?per_page=2&page=2")
    );
    assert_eq!(
        rels["last"],
        format!("{base}/installation/repositories?per_page=2&page=3")
    );
    assert!(!rels.contains_key("prev") && !rels.contains_key("first"));
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{base}/installation/repositories?per_page=2&page=2>; rel=\"next\", \
             <{base}/installation/repositories?per_page=2&page=3>; rel=\"last\""
        )
    );

    let last = http
        .get("/installation/repositories?per_page=2&page=3", Some(&token))
        .await;
    assert_eq!(names(&last.json()), ["acme/repo-5"]);
    let rels = links(&last);
    assert_eq!(
        rels["prev"],
        format!("{base}/installation/repositories?per_page=2&page=2")
    );
    assert_eq!(
        rels["first"],
        format!("{base}/installation/repositories?per_page=2&page=1")
    );
    assert!(!rels.contains_key("next") && !rels.contains_key("last"));

    let past = http
        .get("/installation/repositories?per_page=2&page=9", Some(&token))
        .await
        .json();
    assert_eq!(past["total_count"], 5);
    assert!(names(&past).is_empty());
}

#[tokio::test]
async fn installation_repositories_respect_narrowing_and_pages() {
    let emulator = acme(5).await;
    let http = Http::new(&emulator);
    let token = http
        .installation_token(
            7,
            &json!({ "repositories": ["repo-2", "repo-4", "repo-5"] }),
        )
        .await;
    let answer = http
        .get("/installation/repositories?per_page=2&page=2", Some(&token))
        .await;
    let body = answer.json();
    assert_eq!(body["total_count"], 3);
    assert_eq!(body["repository_selection"], "selected");
    assert_eq!(names(&body), ["acme/repo-5"]);
    assert!(links(&answer).contains_key("prev"));
}

#[tokio::test]
async fn per_page_is_at_most_100() {
    let emulator = acme(150).await;
    let http = Http::new(&emulator);
    let token = http.installation_token(7, &Value::Null).await;
    let answer = http
        .get("/installation/repositories?per_page=500", Some(&token))
        .await;
    assert_eq!(names(&answer.json()).len(), 100);
    assert!(links(&answer)["last"].ends_with("per_page=500&page=2"));
    let default = http.get("/installation/repositories", Some(&token)).await;
    assert_eq!(names(&default.json()).len(), 30);
    assert!(links(&default)["last"].ends_with("?page=5"));
}

#[tokio::test]
async fn narrowed_token_answer_has_full_repository_objects() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt()),
            &json!({ "repositories": ["two"] }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let repo = &answer.json()["repositories"][0];
    let base = emulator.base_url();
    assert_eq!(repo["full_name"], "octo/two");
    assert_eq!(repo["owner"]["login"], "octo");
    assert_eq!(repo["owner"]["type"], "Organization");
    assert_eq!(repo["url"], format!("{base}/repos/octo/two"));
    assert_eq!(repo["html_url"], format!("{base}/octo/two"));
    assert_eq!(repo["clone_url"], format!("{base}/octo/two.git"));
    assert_eq!(
        repo["issues_url"],
        format!("{base}/repos/octo/two/issues{{/number}}")
    );
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["license"]["spdx_id"], "MIT");
    assert!(repo.as_object().unwrap().len() > 80);
    let size = repo.to_string().len();
    assert!((3_000..8_000).contains(&size), "{size} bytes");
}

#[tokio::test]
async fn a_token_narrowed_to_500_repositories_gets_megabytes() {
    let emulator = acme(500).await;
    let http = Http::new(&emulator);
    let ids: Vec<u64> = (1000..1500).collect();
    let answer = http
        .post_json(
            "/app/installations/7/access_tokens",
            Some(&app_jwt()),
            &json!({ "repository_ids": ids }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let size = answer.body.len();
    assert!(
        (2_000_000..3_500_000).contains(&size),
        "{size} bytes for 500 repositories"
    );
    let body = answer.json();
    assert_eq!(body["repository_selection"], "selected");
    let repos = body["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 500);
    assert_eq!(repos[499]["full_name"], "acme/repo-500");
    assert_eq!(repos[499]["id"], 1499);
}
