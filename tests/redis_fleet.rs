//! The fleet's promises on a real Redis (`tower-github-auth-redis`, a `redis-server` each test
//! starts and stops), and each again on a Redis Cluster of three primaries of its own: eight
//! replicas mint one installation token, spend each refresh token once, keep serving while Redis
//! is down and use it again when it is back, start while Redis is down, and take over a lock whose
//! holder died.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{SignIn, client, get, send, stack};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, Emulator, EmulatorHandle,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower_github_auth::{
    AppAuth, AppId, BoxError, ClientCredentials, Endpoints, InstallationId, Lease, OAuthAppAuth,
    PrivateKey, Saved, StoredCredential, TokenSet, TokenStore,
};
use tower_github_auth_redis::testing::TestRedis;
use tower_github_auth_redis::{EncryptionKey, RedisTokenStore};

const REPLICAS: usize = 8;

/// A replica's store: its own connection to the fleet's Redis, values encrypted.
async fn store(redis: &TestRedis, key: &EncryptionKey) -> Arc<dyn TokenStore> {
    Arc::new(
        RedisTokenStore::builder(redis.target())
            .encryption_keys([key.clone()])
            .build()
            .await
            .unwrap(),
    )
}

fn replica(github: &EmulatorHandle, store: Arc<dyn TokenStore>) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .token_store(store)
}

async fn eight_replicas_on_redis_and_a_thousand_cold_requests_make_one_exchange(redis: TestRedis) {
    let key = EncryptionKey::generate();
    let github = Emulator::builder().start().await.unwrap();
    github.set_latency(Duration::from_millis(50));
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        let store = store(&redis, &key).await;
        replicas.push(stack(
            replica(&github, store).as_installation(InstallationId(1)),
        ));
    }
    let requests = (0..1000).map(|i| send(&replicas[i % REPLICAS], get("/repos/octo/one")));
    for answer in join_all(requests).await {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    assert_eq!(github.counters().installation_token_exchanges, 1);
}

async fn eight_replicas_on_redis_refresh_one_user_a_hundred_times_without_a_bad_refresh_token(
    redis: TestRedis,
) {
    let key = EncryptionKey::generate();
    let github = Emulator::builder().start().await.unwrap();
    let app = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let signed_in = app
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap()
        .cached_token()
        .unwrap();
    let hooked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        let hooked = Arc::clone(&hooked);
        replicas.push(
            app.as_user(signed_in.clone())
                .token_store(store(&redis, &key).await, "user-42")
                .on_refresh(move |set: TokenSet| {
                    hooked
                        .lock()
                        .unwrap()
                        .push(set.refresh_token.unwrap().expose_secret().to_owned());
                    async { Ok::<_, std::io::Error>(()) }
                })
                .build(),
        );
    }
    let http = client();
    for round in 0..100 {
        let refreshed = join_all(replicas.iter().map(|r| r.refresh(&http))).await;
        for (i, set) in refreshed.into_iter().enumerate() {
            assert!(set.is_ok(), "round {round}, replica {i}: {:?}", set.err());
        }
    }
    let counters = github.counters();
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    let hooked = hooked.lock().unwrap().clone();
    assert_eq!(hooked.len() as u64, counters.refreshes);
    let distinct: std::collections::HashSet<_> = hooked.iter().collect();
    assert_eq!(
        distinct.len(),
        hooked.len(),
        "each rotated pair reached a hook once"
    );
    // A replica that starts later takes the newest pair from Redis.
    let late = app
        .as_user(signed_in)
        .token_store(store(&redis, &key).await, "user-42")
        .build();
    assert_eq!(
        send(&stack(late.clone()), get("/user")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        late.cached_token()
            .unwrap()
            .refresh_token
            .unwrap()
            .expose_secret(),
        hooked.last().unwrap()
    );
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

async fn redis_stopped_mid_run_fails_no_request_and_is_used_again_when_back(mut redis: TestRedis) {
    let key = EncryptionKey::generate();
    let github = Emulator::builder().start().await.unwrap();
    let mut stores = Vec::new();
    for _ in 0..REPLICAS {
        stores.push(store(&redis, &key).await);
    }
    // Installation 1 through Redis: one exchange.
    for store in &stores {
        let svc = stack(replica(&github, Arc::clone(store)).as_installation(InstallationId(1)));
        assert_eq!(
            send(&svc, get("/repos/octo/one")).await.unwrap().0,
            StatusCode::OK
        );
    }
    assert_eq!(github.counters().installation_token_exchanges, 1);

    // Redis stops: every request is still served (each replica on its own).
    redis.stop();
    for store in &stores {
        let svc = stack(replica(&github, Arc::clone(store)).as_installation(InstallationId(2)));
        assert_eq!(
            send(&svc, get("/repos/monalisa/hello")).await.unwrap().0,
            StatusCode::OK
        );
    }
    let while_down = github.counters().installation_token_exchanges;
    assert_eq!(while_down, 1 + REPLICAS as u64);

    // Redis is back: the fleet shares one exchange again.
    redis.restart();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let svcs: Vec<_> = stores
        .iter()
        .map(|store| {
            stack(replica(&github, Arc::clone(store)).as_installation(InstallationId(100)))
        })
        .collect();
    for answer in join_all(
        svcs.iter()
            .map(|svc| send(svc, get("/installation/repositories"))),
    )
    .await
    {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    assert_eq!(
        github.counters().installation_token_exchanges,
        while_down + 1
    );
}

/// A replica whose process dies right after taking the lock: its saves and unlocks never reach
/// Redis.
#[derive(Debug)]
struct Dying {
    redis: Arc<dyn TokenStore>,
    dead: AtomicBool,
}

impl TokenStore for Dying {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredential>, BoxError>> {
        self.redis.load(key)
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        credential: &'a StoredCredential,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Saved, BoxError>> {
        if self.dead.load(Ordering::SeqCst) {
            return async { Ok(Saved::Stored) }.boxed();
        }
        self.redis.save(key, credential, ttl)
    }

    fn lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Lease>, BoxError>> {
        self.redis.lock(key, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, lease: &'a Lease) -> BoxFuture<'a, Result<(), BoxError>> {
        if self.dead.load(Ordering::SeqCst) {
            return async { Ok(()) }.boxed();
        }
        self.redis.unlock(key, lease)
    }

    fn changed<'a>(
        &'a self,
        key: &'a str,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.redis.changed(key, within)
    }
}

async fn a_lock_whose_holder_died_is_taken_over_when_it_expires(redis: TestRedis) {
    let key = EncryptionKey::generate();
    let github = Emulator::builder().start().await.unwrap();
    let dying = Arc::new(Dying {
        redis: store(&redis, &key).await,
        dead: AtomicBool::new(true),
    });
    // The lock lives 3 × the exchange deadline: 1 s here.
    let deadline = Duration::from_millis(333);
    let holder = stack(
        replica(&github, dying)
            .exchange_timeout(deadline)
            .as_installation(InstallationId(1)),
    );
    assert_eq!(
        send(&holder, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );

    let started = tokio::time::Instant::now();
    let other = stack(
        replica(&github, store(&redis, &key).await)
            .exchange_timeout(deadline)
            .as_installation(InstallationId(1)),
    );
    assert_eq!(
        send(&other, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "waited {waited:?} for the dead holder's lock"
    );
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

async fn replicas_started_while_redis_is_down_serve_and_use_redis_once_it_answers(
    mut redis: TestRedis,
) {
    redis.stop();
    let key = EncryptionKey::generate();
    let github = Emulator::builder().start().await.unwrap();

    // Redis is down at boot: the stores are built all the same, and every request is served,
    // each replica exchanging on its own.
    let mut stores = Vec::new();
    for _ in 0..2 {
        stores.push(store(&redis, &key).await);
    }
    for store in &stores {
        let svc = stack(replica(&github, Arc::clone(store)).as_installation(InstallationId(1)));
        for _ in 0..3 {
            assert_eq!(
                send(&svc, get("/repos/octo/one")).await.unwrap().0,
                StatusCode::OK
            );
        }
    }
    assert_eq!(github.counters().installation_token_exchanges, 2);

    // Redis comes up: the first replica's exchange is stored, and a replica on the second
    // store (built while Redis was down) takes it from Redis without an exchange.
    redis.restart();
    let first = stack(replica(&github, Arc::clone(&stores[0])).as_installation(InstallationId(2)));
    assert_eq!(
        send(&first, get("/repos/monalisa/hello")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().installation_token_exchanges, 3);
    let second = stack(replica(&github, Arc::clone(&stores[1])).as_installation(InstallationId(2)));
    assert_eq!(
        send(&second, get("/repos/monalisa/hello")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().installation_token_exchanges, 3);
}

/// A minute of faults: on a single Redis only (the cluster runs the same save script and locks,
/// and the run is the longest test here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_replicas_on_redis_under_faults_for_a_minute_never_lose_the_token_family() {
    let redis = TestRedis::single();
    let key = EncryptionKey::generate();
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let mut stores = Vec::new();
    for _ in 0..REPLICAS {
        stores.push(store(&redis, &key).await);
    }
    let report = common::fault_run::run(&github, stores).await;
    common::fault_run::check(&report);
}

async fn a_save_on_redis_never_replaces_a_newer_generation(redis: TestRedis) {
    let key = EncryptionKey::generate();
    let (a, b) = (store(&redis, &key).await, store(&redis, &key).await);
    let now = std::time::SystemTime::now();
    let set = |value: &str, generation| {
        StoredCredential::new(
            value.as_bytes().to_vec(),
            now,
            now + Duration::from_secs(60),
        )
        .with_generation(generation)
    };
    let ttl = Duration::from_secs(60);
    assert_eq!(
        a.save("user:k", &set("two", 2), ttl).await.unwrap(),
        Saved::Stored
    );
    // A late save of an older set, from another replica: refused, not written.
    assert_eq!(
        b.save("user:k", &set("one", 1), ttl).await.unwrap(),
        Saved::Superseded
    );
    assert_eq!(
        b.save("user:k", &set("two'", 2), ttl).await.unwrap(),
        Saved::Superseded
    );
    assert_eq!(a.load("user:k").await.unwrap().unwrap().value, b"two");
    // Generations compare as whole u64s (past 2^53, where Lua's numbers would round).
    let high = (1_u64 << 60) + 1;
    assert_eq!(
        b.save("user:k", &set("high", high), ttl).await.unwrap(),
        Saved::Stored
    );
    assert_eq!(
        a.save("user:k", &set("high-1", high - 1), ttl)
            .await
            .unwrap(),
        Saved::Superseded
    );
    assert_eq!(
        a.save("user:k", &set("high+1", high + 1), ttl)
            .await
            .unwrap(),
        Saved::Stored
    );
    let stored = b.load("user:k").await.unwrap().unwrap();
    assert_eq!(
        (stored.value.as_slice(), stored.generation),
        (&b"high+1"[..], high + 1)
    );
}

/// Each test body on a single Redis (`single::`) and on a three-primary Redis Cluster
/// (`cluster::`).
macro_rules! on_single_and_cluster {
    ($($test:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::TestRedis::single()).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::TestRedis::cluster()).await;
                }
            )*
        }
    };
}

on_single_and_cluster!(
    eight_replicas_on_redis_and_a_thousand_cold_requests_make_one_exchange,
    eight_replicas_on_redis_refresh_one_user_a_hundred_times_without_a_bad_refresh_token,
    redis_stopped_mid_run_fails_no_request_and_is_used_again_when_back,
    a_lock_whose_holder_died_is_taken_over_when_it_expires,
    replicas_started_while_redis_is_down_serve_and_use_redis_once_it_answers,
    a_save_on_redis_never_replaces_a_newer_generation,
);
