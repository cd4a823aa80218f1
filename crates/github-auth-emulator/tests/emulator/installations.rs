//! Installation tokens and the installation look-ups.

use std::time::{Duration, SystemTime};

use github_auth_emulator::{
    AccountType, Config, DEFAULT_PAT, Emulator, EmulatorBuilder, Installation,
};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Http, app_jwt};

#[tokio::test]
async fn access_token_is_minted() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let body = answer.json();
    assert!(body["token"].as_str().unwrap().starts_with("ghs_"));
    assert_eq!(
        body["permissions"],
        json!({ "contents": "write", "issues": "write", "metadata": "read" })
    );
    assert_eq!(body["repository_selection"], "all");
    assert!(body.get("repositories").is_none());
    let expires_at = body["expires_at"].as_str().unwrap();
    assert!(
        expires_at.ends_with('Z') && expires_at.len() == 20,
        "{expires_at}"
    );
    let counters = emulator.counters();
    assert_eq!(counters.installation_token_exchanges, 1);
    assert_eq!(counters.installation_tokens_minted, 1);
    assert_eq!(counters.exchanges(), 1);
    assert_eq!(emulator.last_access_token_request(), Some(Value::Null));
}

#[tokio::test]
async fn access_token_expires_in_an_hour_of_emulator_time() {
    let emulator = Emulator::builder()
        .clock_offset(-7200)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt_at(-7200)),
            &Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let expires_at = answer.json()["expires_at"].as_str().unwrap().to_owned();
    let date = httpdate::parse_http_date(answer.header("date").unwrap()).unwrap();
    let expected = date + Duration::from_secs(3600);
    let formatted = httpdate::fmt_http_date(expected);
    let parsed = parse_rfc3339(&expires_at);
    let drift = parsed
        .duration_since(expected)
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift <= Duration::from_secs(1),
        "{expires_at} vs {formatted}"
    );
}

/// A JWT for an emulator whose clock is `offset` seconds from the machine's.
fn app_jwt_at(offset: i64) -> String {
    let now = crate::common::now() + offset;
    crate::common::sign(&json!({ "iat": now - 30, "exp": now + 570, "iss": 1 }))
}

/// `YYYY-MM-DDTHH:MM:SSZ` to a time.
fn parse_rfc3339(text: &str) -> SystemTime {
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    // Days since 1970-01-01 of a Gregorian date (years counted from March).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
}

#[tokio::test]
async fn access_token_for_unknown_installation_is_404() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .post_json(
            "/app/installations/42/access_tokens",
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.message(), "Not Found");
    assert_eq!(emulator.counters().refusals_for("unknown_installation"), 1);
}

#[tokio::test]
async fn narrowing_to_a_foreign_repository_is_422() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let body = json!({ "repositories": ["one", "hello"] });
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt()),
            &body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.message().contains("repository"));
    let ids = json!({ "repository_ids": [1002] });
    let answer = http
        .post_json("/app/installations/1/access_tokens", Some(&app_jwt()), &ids)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let counters = emulator.counters();
    assert_eq!(counters.refusals_for("bad_narrowing"), 2);
    assert_eq!(counters.installation_tokens_minted, 0);
    assert_eq!(emulator.last_access_token_request(), Some(ids));
}

#[tokio::test]
async fn narrowing_to_a_higher_permission_is_422() {
    let emulator = Emulator::builder()
        .installation(
            Installation::new(5, "acme")
                .repository("acme/api")
                .permission("contents", "read"),
        )
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    for permissions in [json!({ "contents": "write" }), json!({ "issues": "read" })] {
        let answer = http
            .post_json(
                "/app/installations/5/access_tokens",
                Some(&app_jwt()),
                &json!({ "permissions": permissions }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(answer.message().contains("permissions"));
    }
    assert_eq!(emulator.counters().refusals_for("bad_narrowing"), 2);
}

#[tokio::test]
async fn narrowed_token_answer_lists_repositories_and_permissions() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let body = json!({
        "repositories": ["one"],
        "repository_ids": [1001],
        "permissions": { "contents": "read" },
    });
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt()),
            &body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let token = answer.json();
    assert_eq!(token["repository_selection"], "selected");
    assert_eq!(token["permissions"], json!({ "contents": "read" }));
    let repos = token["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 2);
    assert_eq!(repos[0]["id"], 1000);
    assert_eq!(repos[0]["name"], "one");
    assert_eq!(repos[0]["full_name"], "octo/one");
    assert_eq!(repos[1]["id"], 1001);
    assert_eq!(repos[1]["full_name"], "octo/two");
    assert_eq!(emulator.last_access_token_request(), Some(body));
}

#[tokio::test]
async fn list_installations() {
    // The organization and user installations of the default world (it has an enterprise one too).
    let mut config = Config::default();
    config
        .installations
        .retain(|inst| inst.account_type != AccountType::Enterprise);
    let emulator = EmulatorBuilder::from_config(config).start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/app/installations", Some(&app_jwt()))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let list = answer.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], 1);
    assert_eq!(list[0]["account"]["login"], "octo");
    assert_eq!(list[0]["account"]["type"], "Organization");
    assert_eq!(list[1]["account"]["type"], "User");
    assert_eq!(list[1]["permissions"]["metadata"], "read");
    let tokens_url = list[1]["access_tokens_url"].as_str().unwrap();
    assert_eq!(
        tokens_url,
        format!("{}/app/installations/2/access_tokens", emulator.base_url())
    );
}

#[tokio::test]
async fn get_installation_by_id() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/app/installations/2", Some(&app_jwt())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["account"]["login"], "monalisa");
    let missing = http.get("/app/installations/3", Some(&app_jwt())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn repository_installation_lookup() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .get("/repos/octo/two/installation", Some(&app_jwt()))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let inst = answer.json();
    assert_eq!(inst["id"], 1);
    assert_eq!(inst["repository_selection"], "all");
    let missing = http
        .get("/repos/octo/three/installation", Some(&app_jwt()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(emulator.counters().refusals_for("unknown_installation"), 1);
}

#[tokio::test]
async fn organization_installation_lookup() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/orgs/octo/installation", Some(&app_jwt())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["id"], 1);
    // monalisa is a user, not an organization.
    let user = http
        .get("/orgs/monalisa/installation", Some(&app_jwt()))
        .await;
    assert_eq!(user.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_installation_lookup() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .get("/users/monalisa/installation", Some(&app_jwt()))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["id"], 2);
    let missing = http
        .get("/users/nobody/installation", Some(&app_jwt()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn installation_lookups_refuse_tokens() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    for path in [
        "/app/installations",
        "/app/installations/1",
        "/repos/octo/one/installation",
        "/orgs/octo/installation",
        "/users/monalisa/installation",
    ] {
        for credential in [token.as_str(), DEFAULT_PAT] {
            assert_eq!(
                http.get(path, Some(credential)).await.status,
                StatusCode::UNAUTHORIZED,
                "{path}"
            );
        }
    }
    assert_eq!(emulator.counters().refusals_for("jwt_required"), 10);
}

#[tokio::test]
async fn first_installation_call_replaces_the_defaults() {
    let emulator = Emulator::builder()
        .installation(Installation::new(10, "acme").repository("api"))
        .installation(Installation::new(11, "zed").user().repository("zed/tool"))
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let list = http
        .get("/app/installations", Some(&app_jwt()))
        .await
        .json();
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [10, 11]);
    let token = http.installation_token(10, &Value::Null).await;
    let repo = http.get("/repos/acme/api", Some(&token)).await;
    assert_eq!(repo.status, StatusCode::OK);
    assert_eq!(repo.json()["id"], 1000);
    assert_eq!(
        http.get("/repos/zed/tool", Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn generated_installations_mint_like_the_default_ones() {
    use github_auth_emulator::FIRST_GENERATED_INSTALLATION_ID as FIRST;
    let emulator = Emulator::builder()
        .generated_installations(3)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    // The default world stays; the generated ones come after it.
    let default = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(default.status, StatusCode::CREATED);
    let last = http
        .post_json(
            &format!("/app/installations/{}/access_tokens", FIRST + 2),
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(last.status, StatusCode::CREATED);
    let (default, last) = (default.json(), last.json());
    // The same answer as the default world's installations give.
    assert_eq!(last["permissions"], default["permissions"]);
    assert_eq!(last["repository_selection"], "all");
    assert!(last.get("repositories").is_none());
    let beyond = http
        .post_json(
            &format!("/app/installations/{}/access_tokens", FIRST + 3),
            Some(&app_jwt()),
            &Value::Null,
        )
        .await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    // Each is on an organization of its own.
    let org = http
        .get(
            &format!("/orgs/org-{}/installation", FIRST + 1),
            Some(&app_jwt()),
        )
        .await;
    assert_eq!(org.status, StatusCode::OK);
    assert_eq!(org.json()["id"], FIRST + 1);
    assert_eq!(emulator.counters().installation_tokens_minted, 2);
}

#[test]
fn generated_installations_can_be_configured() {
    let config: Config = toml::from_str("generated_installations = 100000").unwrap();
    assert_eq!(config.generated_installations, 100_000);
    assert_eq!(Config::default().generated_installations, 0);
}
