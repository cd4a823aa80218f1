//! The two formats of installation tokens: stateless `ghs_<APPID>_<JWT>` (the default, as on
//! GitHub since April 2026) and the classic 40 characters, chosen per mint by the
//! `X-GitHub-Stateless-S2S-Token` header.

use github_auth_emulator::{Config, Emulator, TokenFormat};
use http::{Method, StatusCode};
use serde_json::Value;

use crate::common::{Answer, Http, app_jwt};

const HEADER: &str = "x-github-stateless-s2s-token";

/// `POST /app/installations/1/access_tokens`, with the override header when given.
async fn mint(http: &Http, header: Option<&str>) -> Answer {
    let auth = format!("Bearer {}", app_jwt());
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend(header.map(|value| (HEADER, value)));
    http.send(
        Method::POST,
        "/app/installations/1/access_tokens",
        &headers,
        None,
        true,
    )
    .await
}

fn token(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    answer.json()["token"].as_str().unwrap().to_owned()
}

fn assert_classic(token: &str) {
    let rest = token.strip_prefix("ghs_").expect(token);
    assert_eq!(rest.len(), 36, "{token}");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
}

/// `ghs_<app id>_<header>.<payload>.<signature>`, each part base64url, about 520 characters.
fn assert_stateless(token: &str, app_id: u64) {
    let jwt = token
        .strip_prefix(&format!("ghs_{app_id}_"))
        .unwrap_or_else(|| panic!("not ghs_{app_id}_...: {token}"));
    assert!(
        (480..=560).contains(&token.len()),
        "{} characters: {token}",
        token.len()
    );
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    for part in parts {
        assert!(!part.is_empty(), "{token}");
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
    }
}

#[tokio::test]
async fn stateless_is_the_default_and_works_like_a_classic_token() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let first = token(&mint(&http, None).await);
    let second = token(&mint(&http, None).await);
    assert_stateless(&first, 1);
    assert_stateless(&second, 1);
    assert_ne!(first, second);
    // Looked up by string like any token: the REST routes take it, revocation ends it.
    let listed = http.get("/installation/repositories", Some(&first)).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.json());
    assert_eq!(listed.json()["total_count"], 2);
    let repo = http.get("/repos/octo/one", Some(&first)).await;
    assert_eq!(repo.json()["emulator"]["installation_id"], 1);
    assert_eq!(
        http.delete("/installation/token", Some(&first))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let after = http.get("/installation/repositories", Some(&first)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        http.get("/installation/repositories", Some(&second))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(emulator.counters().installation_tokens_minted, 2);
}

#[tokio::test]
async fn stateless_tokens_vary_in_length_and_carry_the_app_id() {
    let emulator = Emulator::builder().app_id(4242).start().await.unwrap();
    let http = Http::new(&emulator);
    let jwt = crate::common::jwt_with(
        github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1,
        &Value::from(4242),
    );
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let answer = http
            .post_json(
                "/app/installations/1/access_tokens",
                Some(&jwt),
                &Value::Null,
            )
            .await;
        let token = token(&answer);
        assert_stateless(&token, 4242);
        lengths.insert(token.len());
    }
    assert!(lengths.len() > 1, "always {lengths:?} characters");
}

#[tokio::test]
async fn classic_is_configurable() {
    let emulator = Emulator::builder()
        .installation_token_format(TokenFormat::Classic)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let token = token(&mint(&http, None).await);
    assert_classic(&token);
    assert_eq!(
        http.get("/installation/repositories", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_header_forces_a_format_whatever_the_default() {
    for default in [TokenFormat::Stateless, TokenFormat::Classic] {
        let emulator = Emulator::builder()
            .installation_token_format(default)
            .start()
            .await
            .unwrap();
        let http = Http::new(&emulator);
        assert_stateless(&token(&mint(&http, Some("enabled")).await), 1);
        assert_classic(&token(&mint(&http, Some("disabled")).await));
        assert_eq!(
            emulator.last_access_token_request_header(HEADER).as_deref(),
            Some("disabled")
        );
        token(&mint(&http, None).await);
        assert_eq!(emulator.last_access_token_request_header(HEADER), None);
    }
}

#[tokio::test]
async fn any_other_header_value_is_a_validation_error() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    for value in ["true", "", "enabled, disabled", "on"] {
        let answer = mint(&http, Some(value)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{value:?}: {:?}",
            answer.json()
        );
        assert!(answer.message().contains("X-GitHub-Stateless-S2S-Token"));
        assert_eq!(
            emulator.last_access_token_request_header(HEADER).as_deref(),
            Some(value)
        );
    }
    let counters = emulator.counters();
    assert_eq!(counters.installation_tokens_minted, 0);
    assert_eq!(counters.refusals_for("bad_token_format_header"), 4);
}

#[test]
fn the_format_reads_from_toml() {
    let config: Config = toml::from_str(r#"installation_token_format = "classic""#).unwrap();
    assert_eq!(config.installation_token_format, TokenFormat::Classic);
    assert_eq!(
        Config::default().installation_token_format,
        TokenFormat::Stateless
    );
    assert!(toml::from_str::<Config>(r#"installation_token_format = "long""#).is_err());
}
