//! A replica of a fleet wired to Redis: installation tokens and user tokens shared, so that the
//! fleet exchanges as one process would.
//!
//! In production each replica runs this wiring once at start, with `REDIS_URL` and a 32-byte
//! encryption key every replica shares (`TOKEN_KEY`, base64). Here the example starts its own
//! `redis-server` (it must be installed: `apt-get install redis-server`) and the emulator, and runs
//! three replicas in one process to show the one exchange.
//!
//! Run: `cargo run --example fleet_replica`

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey, TokenStore};
use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a replica builds once at start: its App, sharing tokens through the fleet's Redis.
async fn replica(redis_url: &str, key: &EncryptionKey, github: &str) -> Result<AppAuth, BoxError> {
    let store: Arc<dyn TokenStore> = Arc::new(
        RedisTokenStore::builder(redis_url)
            .prefix("my-service:")
            .encryption_keys([key.clone()])
            .build()
            .await?,
    );
    let pem = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1; // your App's key (or a KMS signer)
    Ok(AppAuth::new(AppId(1), PrivateKey::from_pem(pem)?)
        .endpoints(Endpoints::single(github)?)
        .token_store(store))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let redis = tower_github_auth_redis::testing::RedisServer::start();
    let github = github_auth_emulator::Emulator::builder().start().await?;
    let key = EncryptionKey::generate(); // shared by every replica: `EncryptionKey::from_base64(..)`
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    for n in 1..=3 {
        let app = replica(&redis.url(), &key, &github.base_url()).await?;
        let github_as_installation = ServiceBuilder::new()
            .layer(app.as_installation(InstallationId(1)))
            .service(client.clone());
        let request = http::Request::get("/repos/octo/one").body(Full::default())?;
        let status = github_as_installation.oneshot(request).await?.status();
        println!("replica {n}: GET /repos/octo/one -> {status}");
    }
    println!(
        "installation token exchanges for the three replicas: {}",
        github.counters().installation_token_exchanges
    );
    Ok(())
}
