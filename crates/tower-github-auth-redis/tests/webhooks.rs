//! `RedisDeliveryStore` behind `tower-github-webhooks`' layer against a real `redis-server` of
//! the test's own: a fleet of replicas runs the handler once per delivery; Redis away follows
//! the layer's policy and never hangs.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};
use tower_github_auth_redis::RedisDeliveryStore;
use tower_github_auth_redis::testing::{RedisServer, TestRedis};
use tower_github_webhooks::{
    DeliveryKey, DeliveryStore, Secrets, StoreUnavailable, VerifyWebhook, WebhookLayer,
};

const SECRET: &str = "fleet webhook secret";
const REPLICAS: usize = 8;
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

type Handler = tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<String>, Infallible>;

/// A handler counting its runs.
fn handler(runs: &Arc<AtomicUsize>) -> Handler {
    let runs = runs.clone();
    tower::util::BoxCloneSyncService::new(service_fn(move |_: Request<Full<Bytes>>| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut response = Response::new(String::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok::<_, Infallible>(response)
        }
    }))
}

fn delivery(id: &str) -> Request<Full<Bytes>> {
    let body = format!(r#"{{"action":"opened","installation":{{"id":1}},"delivery":"{id}"}}"#);
    Request::post("/webhook")
        .header("x-github-event", "issues")
        .header("x-github-delivery", id)
        .header(
            "x-hub-signature-256",
            Secrets::new(SECRET).sign(body.as_bytes()),
        )
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn replica(target: &TestRedis, runs: &Arc<AtomicUsize>) -> VerifyWebhook<Handler> {
    let store = RedisDeliveryStore::builder(target.target())
        .prefix("fleet:")
        .command_timeout(COMMAND_TIMEOUT)
        .build()
        .expect("a store on the test's Redis");
    WebhookLayer::new(SECRET)
        .store(store)
        .on_store_unavailable(StoreUnavailable::Refuse)
        .layer(handler(runs))
}

async fn eight_replicas_run_the_handler_once_per_delivery(redis: TestRedis) {
    let runs = Arc::new(AtomicUsize::new(0));
    let replicas: Vec<_> = (0..REPLICAS).map(|_| replica(&redis, &runs)).collect();
    for round in 0..20 {
        let id = format!("3f8c{round:04}-0000-11e3-81ab-4c9367dc0958");
        let barrier = Arc::new(tokio::sync::Barrier::new(REPLICAS));
        let sends = replicas.iter().map(|replica| {
            let (replica, barrier, req) = (replica.clone(), barrier.clone(), delivery(&id));
            tokio::spawn(async move {
                barrier.wait().await;
                replica.oneshot(req).await.unwrap().status()
            })
        });
        let mut statuses = Vec::new();
        for send in sends.collect::<Vec<_>>() {
            statuses.push(send.await.unwrap());
        }
        statuses.sort();
        let mut expected = vec![StatusCode::OK; REPLICAS - 1];
        expected.push(StatusCode::NO_CONTENT);
        expected.sort();
        assert_eq!(statuses, expected, "round {round}");
        assert_eq!(runs.load(Ordering::SeqCst), round + 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_replicas_one_redis_one_run() {
    eight_replicas_run_the_handler_once_per_delivery(TestRedis::single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_replicas_one_redis_cluster_one_run() {
    eight_replicas_run_the_handler_once_per_delivery(TestRedis::cluster()).await;
}

#[tokio::test]
async fn marks_expire_and_forget_deletes() {
    let redis = RedisServer::start();
    let store = RedisDeliveryStore::builder(redis.url())
        .prefix("t:")
        .command_timeout(COMMAND_TIMEOUT)
        .build()
        .unwrap();
    let key = DeliveryKey::new("d", b"sha256=00");
    assert_eq!(
        store.delivery_key(&key),
        format!("t:delivery:{}", key.to_hex())
    );
    assert!(store.mark(key, Duration::from_millis(300)).await.unwrap());
    assert!(!store.mark(key, Duration::from_millis(300)).await.unwrap());
    store.forget(key).await.unwrap();
    assert!(store.mark(key, Duration::from_millis(300)).await.unwrap());
    // Redis expires it (real time: a short wait).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.mark(key, Duration::from_secs(60)).await.unwrap());
}

/// Sends a delivery to a layer whose store cannot answer, under each policy; the guard timeout
/// only turns a hang into a failure.
async fn away(store: impl Fn() -> RedisDeliveryStore) {
    let runs = Arc::new(AtomicUsize::new(0));
    let layer = |policy| {
        WebhookLayer::new(SECRET)
            .store(store())
            .store_timeout(Duration::from_millis(500))
            .on_store_unavailable(policy)
            .layer(handler(&runs))
    };
    let guard = Duration::from_secs(10);
    let refused = tokio::time::timeout(
        guard,
        layer(StoreUnavailable::Refuse).oneshot(delivery("a")),
    )
    .await
    .expect("no hang")
    .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    for _ in 0..2 {
        let processed = tokio::time::timeout(
            guard,
            layer(StoreUnavailable::ProcessAnyway).oneshot(delivery("a")),
        )
        .await
        .expect("no hang")
        .unwrap();
        assert_eq!(processed.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn redis_stopped_follows_the_policy() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    away(|| {
        RedisDeliveryStore::builder(url.as_str())
            .command_timeout(COMMAND_TIMEOUT)
            .build()
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn nothing_listening_follows_the_policy() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    away(|| {
        RedisDeliveryStore::builder(format!("redis://127.0.0.1:{port}"))
            .command_timeout(COMMAND_TIMEOUT)
            .build()
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_follows_the_policy() {
    // The kernel accepts connections into the backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    away(|| {
        RedisDeliveryStore::builder(format!("redis://127.0.0.1:{port}"))
            .command_timeout(COMMAND_TIMEOUT)
            .connect_timeout(COMMAND_TIMEOUT)
            .build()
            .unwrap()
    })
    .await;
    drop(silent);
}

/// The layer's store timeout shorter than the store's own: the layer drops the `SET` in flight.
/// If it still lands, nobody acted on it, so it must not answer GitHub's redelivery (after the
/// 503 of `Refuse`) as a duplicate: the handler must run then.
#[tokio::test]
async fn a_mark_dropped_in_flight_does_not_make_the_redelivery_a_duplicate() {
    let redis = RedisServer::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let store = RedisDeliveryStore::builder(redis.url())
        .command_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Connect (clones share the connection), then hold every write in Redis for a while: the
    // layer's SET waits there.
    assert!(
        store
            .mark(DeliveryKey::new("warm", b""), Duration::from_secs(60))
            .await
            .unwrap()
    );
    let service = WebhookLayer::new(SECRET)
        .store(store.clone())
        .store_timeout(Duration::from_millis(100))
        .on_store_unavailable(StoreUnavailable::Refuse)
        .layer(handler(&runs));
    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .unwrap();
    let refused = service.clone().oneshot(delivery("a")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Redis resumes (real time) and runs the SET the layer gave up on.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let redelivered = service.oneshot(delivery("a")).await.unwrap();
    assert_eq!(redelivered.status(), StatusCode::NO_CONTENT);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A window beyond what Redis can expire (`Duration::MAX`, "forever") marks for as long as Redis
/// can, as the in-process store does; not an error on every delivery.
#[tokio::test]
async fn a_window_beyond_redis_range_marks_rather_than_fails() {
    let redis = RedisServer::start();
    let store = RedisDeliveryStore::builder(redis.url())
        .command_timeout(COMMAND_TIMEOUT)
        .build()
        .unwrap();
    let key = DeliveryKey::new("forever", b"sha256=00");
    assert!(store.mark(key, Duration::MAX).await.unwrap());
    assert!(!store.mark(key, Duration::MAX).await.unwrap());
}
