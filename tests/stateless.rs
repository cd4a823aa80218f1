//! Stateless installation tokens (`ghs_<APPID>_<JWT>`, about 520 characters, GitHub's format
//! since April 2026) end to end: minted, sent, cached, shared through Redis, never shown; and the
//! option that asks GitHub for one format during the rollout.

mod common;

use std::sync::{Arc, Mutex};

use common::{client, forward, get, intercepting, send};
use github_auth_emulator::{Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1, TokenFormat};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower::Layer;
use tower_github_auth::{
    AppAuth, AppId, Endpoints, InstallationId, InstallationTokenFormat, TokenStore,
};
use tower_github_auth_redis::testing::TestRedis;
use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};

const FORMAT_HEADER: &str = "x-github-stateless-s2s-token";

fn app(github: &EmulatorHandle) -> AppAuth {
    AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

/// `ghs_1_` and three base64url parts, about 520 characters.
fn assert_stateless(token: &str) {
    assert!(token.starts_with("ghs_1_"), "{token}");
    assert!((480..=560).contains(&token.len()), "{}", token.len());
    assert_eq!(token.matches('.').count(), 2, "{token}");
}

/// Whether `text` shows any part of `token` (its JWT's three parts, or its first 12 characters).
fn shows(text: &str, token: &str) -> bool {
    let jwt = token.strip_prefix("ghs_1_").unwrap_or(token);
    text.contains(&token[..12]) || jwt.split('.').any(|part| text.contains(part))
}

#[tokio::test]
async fn a_stateless_token_is_minted_sent_whole_cached_and_never_shown() {
    let github = Emulator::start().await.unwrap();
    let installation = app(&github).as_installation(InstallationId(1));
    // Every Authorization the layer sends, as sent.
    let sent = Arc::new(Mutex::new(Vec::new()));
    let http = intercepting({
        let sent = Arc::clone(&sent);
        move |req, http| {
            if let Some(auth) = req.headers().get(http::header::AUTHORIZATION) {
                sent.lock().unwrap().push(auth.clone());
            }
            forward(req, http)
        }
    });
    let service = installation.layer(http);
    for _ in 0..3 {
        let (status, body) = send(&service, get("/repos/octo/one")).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["emulator"]["installation_id"], 1, "{body}");
    }
    // One mint, then the cache.
    assert_eq!(github.counters().installation_token_exchanges, 1);
    assert_eq!(github.last_access_token_request_header(FORMAT_HEADER), None);
    let token = installation.cached_token().expect("a cached token");
    let text = token.token.expose_secret().to_owned();
    assert_stateless(&text);
    // The header of each request carried it whole (the mint's carried the JWT).
    let sent = sent.lock().unwrap();
    let bearer = format!("Bearer {text}");
    let carried: Vec<_> = sent
        .iter()
        .filter(|v| v.as_bytes() == bearer.as_bytes())
        .collect();
    assert_eq!(carried.len(), 3, "{} headers sent", sent.len());
    assert!(carried.iter().all(|v| v.is_sensitive()));
    // Nothing shows it.
    for debug in [
        format!("{token:?}"),
        format!("{installation:?}"),
        format!("{:?}", installation.clone().layer(client())),
        format!("{:?}", installation.app()),
        format!("{:?}", installation.app().token_cache_ref()),
    ] {
        assert!(!shows(&debug, &text), "{debug}");
    }
}

#[tokio::test]
async fn token_format_sends_the_header_and_caches_each_format_apart() {
    // The emulator's own default is classic here: only the header makes a stateless token.
    let github = Emulator::builder()
        .installation_token_format(TokenFormat::Classic)
        .start()
        .await
        .unwrap();
    let http = client();
    let app = app(&github);
    let chosen = app.as_installation(InstallationId(1));
    let stateless = chosen
        .clone()
        .token_format(InstallationTokenFormat::Stateless);
    let classic = chosen
        .clone()
        .token_format(InstallationTokenFormat::Classic);

    let token = stateless.fetch_token(&http).await.unwrap();
    assert_stateless(token.token.expose_secret());
    assert_eq!(
        github
            .last_access_token_request_header(FORMAT_HEADER)
            .as_deref(),
        Some("enabled")
    );
    let token = classic.fetch_token(&http).await.unwrap();
    assert_eq!(token.token.expose_secret().len(), 40);
    assert_eq!(
        github
            .last_access_token_request_header(FORMAT_HEADER)
            .as_deref(),
        Some("disabled")
    );
    let token = chosen.fetch_token(&http).await.unwrap();
    assert_eq!(token.token.expose_secret().len(), 40);
    assert_eq!(github.last_access_token_request_header(FORMAT_HEADER), None);
    assert_eq!(github.counters().installation_token_exchanges, 3);

    // Each is cached under its own format; a refresh asks for the format again.
    for auth in [&stateless, &classic, &chosen] {
        auth.fetch_token(&http).await.unwrap();
    }
    assert_eq!(github.counters().installation_token_exchanges, 3);
    let renewed = stateless.refresh(&http).await.unwrap();
    assert_stateless(renewed.token.expose_secret());
    assert_eq!(
        github
            .last_access_token_request_header(FORMAT_HEADER)
            .as_deref(),
        Some("enabled")
    );
    let (status, _) = send(
        &stateless.layer(client()),
        get("/installation/repositories"),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(github.counters().installation_token_exchanges, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reads_the_long_token_back_from_redis_sealed() {
    let redis = TestRedis::single();
    let key = EncryptionKey::generate();
    let github = Emulator::start().await.unwrap();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn TokenStore> = Arc::new(
            RedisTokenStore::builder(redis.target())
                .encryption_keys([key.clone()])
                .build()
                .await
                .unwrap(),
        );
        let replica = app(&github)
            .token_store(store)
            .as_installation(InstallationId(1));
        let service = replica.clone().layer(client());
        let (status, _) = send(&service, get("/repos/octo/one")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        tokens.push(
            replica
                .cached_token()
                .unwrap()
                .token
                .expose_secret()
                .to_owned(),
        );
    }
    // The second replica took the first one's token from Redis, whole.
    assert_eq!(github.counters().installation_token_exchanges, 1);
    assert_stateless(&tokens[0]);
    assert_eq!(tokens[0], tokens[1]);

    // What Redis holds: sealed, the token nowhere in it, its size the token's and a little more.
    let mut connection = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut values = Vec::new();
    for name in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&name)
            .query_async(&mut connection)
            .await
            .unwrap();
        if kind == "string" && !name.ends_with(":lock") {
            let value: Vec<u8> = redis::cmd("GET")
                .arg(&name)
                .query_async(&mut connection)
                .await
                .unwrap();
            values.push(value);
        }
    }
    assert_eq!(values.len(), 1, "{} values", values.len());
    let sealed = &values[0];
    let token = tokens[0].as_bytes();
    assert!(!sealed.windows(4).any(|w| w == b"ghs_"));
    assert!(
        !sealed
            .windows(32)
            .any(|w| token.windows(32).any(|t| t == w))
    );
    assert!(
        sealed.len() > token.len() && sealed.len() < token.len() + 1024,
        "{} bytes sealed for a token of {}",
        sealed.len(),
        token.len()
    );
    println!(
        "sealed value: {} bytes for a {}-character token",
        sealed.len(),
        token.len()
    );
}
