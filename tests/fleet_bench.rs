//! A fleet with and without a shared store, in one run: exchanges per fleet, and the latency a
//! store adds to cold and warm requests. Starts its own emulator and `redis-server`.
//!
//! `cargo bench -p integration-tests --bench fleet`

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use github_auth_emulator::{Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey, TokenStore};
use tower_github_auth_redis::testing::RedisServer;
use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};

const REPLICAS: usize = 8;
const COLD_REQUESTS: usize = 1_000;
const WARM_REQUESTS: usize = 10_000;

/// One stack per replica over its own client: separate caches, one store (or none).
fn fleet(
    github: &EmulatorHandle,
    store: Option<&Arc<dyn TokenStore>>,
    installation: u64,
) -> Vec<
    impl Service<
        Request<Full<Bytes>>,
        Response = http::Response<hyper::body::Incoming>,
        Error = tower_github_auth::Error,
    > + Clone,
> {
    (0..REPLICAS)
        .map(|_| {
            let mut app = AppAuth::new(
                AppId(1),
                PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).expect("the test key"),
            )
            .endpoints(Endpoints::single(&github.base_url()).expect("the emulator's URL"));
            if let Some(store) = store {
                app = app.token_store(Arc::clone(store));
            }
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            app.as_installation(InstallationId(installation))
                .layer(client)
        })
        .collect()
}

async fn get<S>(svc: S) -> Duration
where
    S: Service<
            Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = tower_github_auth::Error,
        >,
{
    let started = Instant::now();
    let request = Request::get("/installation/repositories")
        .body(Full::default())
        .expect("a request");
    let response = svc.oneshot(request).await.expect("answered");
    assert!(response.status().is_success(), "{}", response.status());
    response.into_body().collect().await.expect("a body");
    started.elapsed()
}

fn percentile(mut times: Vec<Duration>, p: f64) -> Duration {
    times.sort();
    times[((times.len() - 1) as f64 * p) as usize]
}

struct Row {
    exchanges: u64,
    cold_all: Duration,
    cold_p50: Duration,
    joiner: Duration,
    warm_mean: Duration,
}

async fn measure(
    github: &EmulatorHandle,
    store: Option<&Arc<dyn TokenStore>>,
    installation: u64,
) -> Row {
    let before = github.counters().installation_token_exchanges;
    let replicas = fleet(github, store, installation);
    // Cold: 1,000 concurrent requests spread over the fleet, nothing cached anywhere.
    let started = Instant::now();
    let times = join_all((0..COLD_REQUESTS).map(|i| get(replicas[i % REPLICAS].clone()))).await;
    let cold_all = started.elapsed();
    let exchanges = github.counters().installation_token_exchanges - before;
    // A replica joining later: its first request (from the store, or its own exchange).
    let joiner = get(fleet(github, store, installation).swap_remove(0)).await;
    // Warm: sequential requests on one replica; the store is not consulted.
    let warm = replicas[0].clone();
    let started = Instant::now();
    for _ in 0..WARM_REQUESTS {
        get(warm.clone()).await;
    }
    let warm_mean = started.elapsed() / u32::try_from(WARM_REQUESTS).expect("small");
    Row {
        exchanges,
        cold_all,
        cold_p50: percentile(times, 0.5),
        joiner,
        warm_mean,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let redis = RedisServer::start();
        let github = Emulator::builder().start().await.expect("the emulator");
        // An exchange as github.com answers it, about 250 ms.
        github.set_latency(Duration::from_millis(250));
        let redis_store: Arc<dyn TokenStore> = Arc::new(
            RedisTokenStore::builder(redis.url())
                .encryption_keys([EncryptionKey::generate()])
                .build()
                .await
                .expect("the Redis store"),
        );
        let alone = measure(&github, None, 1).await;
        let shared = measure(&github, Some(&redis_store), 2).await;
        println!(
            "fleet of {REPLICAS} replicas, {COLD_REQUESTS} cold requests, {WARM_REQUESTS} warm ones; exchanges answered after 250 ms\n"
        );
        println!("{:<52} {:>14} {:>14}", "", "in-process only", "Redis store");
        let row = |name: &str, a: String, b: String| println!("{name:<52} {a:>14} {b:>14}");
        row("installation-token exchanges for the fleet", alone.exchanges.to_string(), shared.exchanges.to_string());
        row("cold burst: all answered after", format!("{:.0?}", alone.cold_all), format!("{:.0?}", shared.cold_all));
        row("cold burst: p50 request", format!("{:.0?}", alone.cold_p50), format!("{:.0?}", shared.cold_p50));
        row("a replica joining later: its first request", format!("{:.1?}", alone.joiner), format!("{:.1?}", shared.joiner));
        row("warm request, mean (emulator round trip included)", format!("{:.0?}", alone.warm_mean), format!("{:.0?}", shared.warm_mean));
    });
}
