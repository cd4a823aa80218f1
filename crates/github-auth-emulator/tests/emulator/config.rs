//! The TOML configuration and the builder's `from_config`.

use github_auth_emulator::{
    AccountType, Config, DEFAULT_PAT, DeviceOutcome, Emulator, EmulatorBuilder, Installation,
};
use http::StatusCode;
use serde_json::Value;

use crate::common::{Http, app_jwt};

const EXAMPLE: &str = include_str!("../../emulator.example.toml");

#[test]
fn example_config_parses() {
    let config: Config = toml::from_str(EXAMPLE).expect("emulator.example.toml must parse");
    assert_eq!(config.app_id, 1);
    assert_eq!(config.installation_token_ttl_secs, 3600);
    assert_eq!(
        config.installation_token_format,
        github_auth_emulator::TokenFormat::Stateless
    );
    assert_eq!(config.device_outcome, DeviceOutcome::ApproveAfter(2));
    assert_eq!(config.installations.len(), 2);
    assert_eq!(config.installations[1].account_type, AccountType::User);
    assert_eq!(config.personal_access_tokens[0].token, DEFAULT_PAT);
}

#[test]
fn empty_config_is_the_default() {
    let config: Config = toml::from_str("").unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(
        config.installations,
        Emulator::builder().config().installations
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(toml::from_str::<Config>("app_idd = 3").is_err());
}

#[test]
fn device_outcome_spellings() {
    let deny: Config = toml::from_str(r#"device_outcome = "deny""#).unwrap();
    assert_eq!(deny.device_outcome, DeviceOutcome::Deny);
    let later: Config = toml::from_str("device_outcome = { approve_after = 4 }").unwrap();
    assert_eq!(later.device_outcome, DeviceOutcome::ApproveAfter(4));
}

#[tokio::test]
async fn from_config_starts_and_installation_adds() {
    let config: Config = toml::from_str(
        r#"
        app_id = 77
        [[installations]]
        id = 9
        account = "acme"
        repositories = ["acme/api"]
        "#,
    )
    .unwrap();
    let emulator = EmulatorBuilder::from_config(config)
        .installation(Installation::new(10, "zed").user())
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    // The JWT must now name app 77.
    assert_eq!(
        http.get("/app", Some(&app_jwt())).await.status,
        StatusCode::UNAUTHORIZED
    );
    let now = crate::common::now();
    let jwt =
        crate::common::sign(&serde_json::json!({ "iat": now - 30, "exp": now + 500, "iss": 77 }));
    let list = http.get("/app/installations", Some(&jwt)).await.json();
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [9, 10]);
    let perms = &list[0]["permissions"];
    assert_eq!(perms, &serde_json::json!({ "metadata": "read" }));
    assert_eq!(list[1]["account"]["type"], Value::from("User"));
}

#[tokio::test]
async fn bad_public_key_fails_to_start() {
    let err = Emulator::builder()
        .app_public_key_pem("not a key")
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
