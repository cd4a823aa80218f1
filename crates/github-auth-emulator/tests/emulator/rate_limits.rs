//! Primary rate limits per identity and resource, and secondary limits per identity.

use std::time::Duration;

use github_auth_emulator::{DEFAULT_PAT, Emulator, Identity};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Answer, Http};

fn figures(answer: &Answer) -> [Option<&str>; 4] {
    [
        answer.header("x-ratelimit-limit"),
        answer.header("x-ratelimit-remaining"),
        answer.header("x-ratelimit-used"),
        answer.header("x-ratelimit-resource"),
    ]
}

#[tokio::test]
async fn an_installation_spends_one_budget_across_its_tokens_until_refused() {
    let emulator = Emulator::builder()
        .rate_limit("core", 3)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let first = http.installation_token(1, &Value::Null).await;
    let second = http.installation_token(1, &Value::Null).await;
    let other = http.installation_token(2, &Value::Null).await;

    let answer = http.get("/installation/repositories", Some(&first)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        figures(&answer),
        [Some("3"), Some("2"), Some("1"), Some("core")]
    );
    let reset: u64 = answer.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = u64::try_from(crate::common::now()).unwrap();
    assert!(
        reset > now && reset <= now + 3600,
        "reset {reset}, now {now}"
    );
    // A second token of the same installation spends the same budget.
    let answer = http.get("/installation/repositories", Some(&second)).await;
    assert_eq!(answer.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(
        http.get("/repos/octo/one", Some(&first)).await.status,
        StatusCode::OK
    );
    let refused = http.get("/repos/octo/one", Some(&second)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .message()
            .starts_with("API rate limit exceeded for installation ID 1."),
        "{}",
        refused.message()
    );
    assert_eq!(
        figures(&refused),
        [Some("3"), Some("0"), Some("3"), Some("core")]
    );
    assert_eq!(
        refused.header("x-ratelimit-reset"),
        Some(reset.to_string().as_str())
    );
    assert_eq!(emulator.counters().refusals_for("rate_limited"), 1);

    // Another installation, and another resource, have budgets of their own.
    let answer = http.get("/installation/repositories", Some(&other)).await;
    assert_eq!(answer.header("x-ratelimit-remaining"), Some("2"));
    let graphql = http
        .post_json(
            "/graphql",
            Some(&first),
            &json!({"query": "{ viewer { login } }"}),
        )
        .await;
    assert_eq!(graphql.status, StatusCode::OK);
    assert_eq!(
        figures(&graphql),
        [Some("1000000"), Some("999999"), Some("1"), Some("graphql")]
    );
}

#[tokio::test]
async fn a_users_tokens_share_one_budget() {
    let emulator = Emulator::builder()
        .personal_access_token("ghp_second_of_octocat", "octocat")
        .personal_access_token("ghp_of_monalisa", "monalisa")
        .start()
        .await
        .unwrap();
    emulator.set_rate_limit("core", 2);
    let http = Http::new(&emulator);
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT))
            .await
            .header("x-ratelimit-remaining"),
        Some("1")
    );
    assert_eq!(
        http.get("/user", Some("ghp_second_of_octocat"))
            .await
            .header("x-ratelimit-remaining"),
        Some("0")
    );
    let refused = http.get("/user", Some(DEFAULT_PAT)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .message()
            .starts_with("API rate limit exceeded for user ID 1.")
    );
    assert_eq!(
        http.get("/user", Some("ghp_of_monalisa")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_secondary_limit_hits_one_identity() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let one = http.installation_token(1, &Value::Null).await;
    let two = http.installation_token(2, &Value::Null).await;
    emulator.secondary_rate_limit(
        Identity::Installation(2),
        2,
        StatusCode::FORBIDDEN,
        Some(Duration::from_secs(30)),
    );
    let refused = http.get("/installation/repositories", Some(&two)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert!(refused.message().contains("secondary rate limit"));
    // Installation 1 is served meanwhile.
    assert_eq!(
        http.get("/installation/repositories", Some(&one))
            .await
            .status,
        StatusCode::OK
    );
    emulator.secondary_rate_limit(
        Identity::Installation(2),
        1,
        StatusCode::TOO_MANY_REQUESTS,
        None,
    );
    let refused = http.get("/installation/repositories", Some(&two)).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), None);
    assert_eq!(
        http.get("/installation/repositories", Some(&two))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(emulator.counters().refusals_for("secondary_rate_limit"), 2);
}
