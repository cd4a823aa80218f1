//! A fleet behaves like one process: replicas (separate stacks, separate in-process caches)
//! sharing one `TokenStore` mint one installation token, and spend each refresh token once.
//!
//! These run on an in-process store (`common::memory_store`); `redis_fleet.rs` runs the same
//! promises on a real Redis.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::memory_store::MemoryStore;
use common::{SignIn, client, get, send, stack};
use futures_util::future::join_all;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, Emulator, EmulatorHandle,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower_github_auth::{
    AppAuth, AppId, ClientCredentials, Endpoints, InstallationId, OAuthAppAuth, OAuthTokenAuth,
    PrivateKey, TokenSet, TokenStore,
};

const REPLICAS: usize = 8;

/// A replica's App: its own key parse, JWT and token cache; the fleet's store.
fn replica(github: &EmulatorHandle, store: &Arc<dyn TokenStore>) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
    .token_store(Arc::clone(store))
}

#[tokio::test]
async fn eight_replicas_and_a_thousand_cold_requests_make_one_exchange() {
    let github = Emulator::builder().start().await.unwrap();
    github.set_latency(Duration::from_millis(50));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let replicas: Vec<_> = (0..REPLICAS)
        .map(|_| stack(replica(&github, &store).as_installation(InstallationId(1))))
        .collect();
    let requests = (0..1000).map(|i| send(&replicas[i % REPLICAS], get("/repos/octo/one")));
    for answer in join_all(requests).await {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    assert_eq!(github.counters().installation_token_exchanges, 1);
}

#[tokio::test]
async fn a_store_that_is_down_fails_no_request_and_is_used_again_when_back() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    memory.down.store(true, Ordering::SeqCst);
    // Down: each replica exchanges on its own, and every request is served.
    for i in 0..REPLICAS {
        let svc = stack(replica(&github, &store).as_installation(InstallationId(1)));
        assert_eq!(
            send(&svc, get("/repos/octo/one")).await.unwrap().0,
            StatusCode::OK,
            "replica {i}"
        );
    }
    assert_eq!(github.counters().installation_token_exchanges, 8);
    // Back: the next replicas share one exchange again.
    memory.down.store(false, Ordering::SeqCst);
    let fresh: Vec<_> = (0..REPLICAS)
        .map(|_| stack(replica(&github, &store).as_installation(InstallationId(2))))
        .collect();
    for answer in join_all(
        fresh
            .iter()
            .map(|svc| send(svc, get("/repos/monalisa/hello"))),
    )
    .await
    {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    assert_eq!(github.counters().installation_token_exchanges, 9);
    assert!(memory.saves.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_lock_whose_holder_never_finishes_is_taken_over_when_it_expires() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    // A replica takes the lock, exchanges, and dies before it saves or unlocks: the lock stays
    // for its TTL (3 × the 10 s exchange deadline).
    memory.holder_dies.store(true, Ordering::SeqCst);
    let dying = stack(replica(&github, &store).as_installation(InstallationId(1)));
    send(&dying, get("/repos/octo/one")).await.unwrap();
    memory.holder_dies.store(false, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let other = stack(replica(&github, &store).as_installation(InstallationId(1)));
    let (status, _) = send(&other, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited <= Duration::from_secs(61),
        "waited {waited:?}"
    );
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

/// octocat's token set, signed in through the web flow.
async fn signed_in(github: &EmulatorHandle) -> TokenSet {
    app_client(github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap()
        .cached_token()
        .unwrap()
}

fn app_client(github: &EmulatorHandle) -> OAuthAppAuth {
    OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

#[tokio::test]
async fn eight_replicas_refresh_one_user_a_hundred_times_without_a_bad_refresh_token() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let signed_in = signed_in(&github).await;
    // Every replica's hook: the refresh tokens it was handed, in order.
    let hooked: Arc<Mutex<Vec<String>>> = Arc::default();
    let replicas: Vec<OAuthTokenAuth> = (0..REPLICAS)
        .map(|_| {
            let hooked = Arc::clone(&hooked);
            app_client(&github)
                .as_user(signed_in.clone())
                .token_store(Arc::clone(&store), "user-42")
                .on_refresh(move |set: TokenSet| {
                    hooked
                        .lock()
                        .unwrap()
                        .push(set.refresh_token.unwrap().expose_secret().to_owned());
                    async { Ok::<_, std::io::Error>(()) }
                })
                .build()
        })
        .collect();
    let http = client();
    for round in 0..100 {
        // All replicas ask for a refresh at once: they take turns under the store's lock, each
        // refreshing with the pair the one before stored.
        let refreshed = join_all(replicas.iter().map(|r| r.refresh(&http))).await;
        for (i, set) in refreshed.into_iter().enumerate() {
            assert!(set.is_ok(), "round {round}, replica {i}: {:?}", set.err());
        }
    }
    let counters = github.counters();
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    assert!(counters.refreshes >= 100, "{}", counters.refreshes);
    // Every rotated pair reached the store and the hook, each once and in GitHub's order.
    let hooked = hooked.lock().unwrap().clone();
    assert_eq!(hooked.len() as u64, counters.refreshes);
    let distinct: std::collections::HashSet<_> = hooked.iter().collect();
    assert_eq!(distinct.len(), hooked.len());
    let mut stored: Vec<String> = memory
        .saved
        .lock()
        .unwrap()
        .iter()
        .map(|value| {
            let set: serde_json::Value = serde_json::from_slice(value).unwrap();
            set["refresh_token"].as_str().unwrap().to_owned()
        })
        .collect();
    stored.dedup();
    assert_eq!(stored, hooked);
    println!(
        "{} refreshes for {} forced refresh calls from {REPLICAS} replicas",
        counters.refreshes,
        100 * REPLICAS
    );
    // And a replica that starts later takes the newest pair from the store.
    let late = app_client(&github)
        .as_user(signed_in)
        .token_store(Arc::clone(&store), "user-42")
        .build();
    let (status, _) = send(&stack(late.clone()), get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_serving_one_user_refresh_once_per_half_life_between_them() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(4))
        .start()
        .await
        .unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let signed_in = signed_in(&github).await;
    let replicas: Vec<_> = (0..REPLICAS)
        .map(|_| {
            stack(
                app_client(&github)
                    .as_user(signed_in.clone())
                    .token_store(Arc::clone(&store), "user-42")
                    .build(),
            )
        })
        .collect();
    let started = tokio::time::Instant::now();
    let callers = replicas.iter().map(|svc| async move {
        while started.elapsed() < Duration::from_secs(8) {
            let (status, _) = send(svc, get("/user")).await.unwrap();
            assert_eq!(status, StatusCode::OK);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    join_all(callers).await;
    let counters = github.counters();
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    assert_eq!(counters.refusals_for("token_revoked"), 0);
    // 4 s tokens refreshed from half-life, by one replica for all: about 8 / 2.
    assert!(
        counters.refreshes <= 5,
        "{} refreshes in 8 s",
        counters.refreshes
    );
}

#[tokio::test]
async fn a_stale_stored_set_never_takes_back_a_spent_refresh_token() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let user = app_client(&github)
        .as_user(signed_in(&github).await)
        .token_store(Arc::clone(&store), "user-42")
        .build();
    let http = client();
    user.fetch_token(&http).await.unwrap(); // the store now holds this set
    // A refresh while the store is down: the new pair is this replica's alone.
    memory.down.store(true, Ordering::SeqCst);
    user.refresh(&http).await.unwrap();
    memory.down.store(false, Ordering::SeqCst);
    // The store still holds the older set, whose refresh token is spent: it is not taken back.
    user.refresh(&http).await.unwrap();
    user.refresh(&http).await.unwrap();
    let counters = github.counters();
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    assert_eq!(counters.refreshes, 3);
}

#[tokio::test]
async fn a_revoked_or_refreshed_installation_token_is_not_taken_back_from_the_store() {
    let github = Emulator::builder().start().await.unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let a = replica(&github, &store).as_installation(InstallationId(1));
    let b = replica(&github, &store).as_installation(InstallationId(1));
    let (svc_a, svc_b) = (stack(a.clone()), stack(b.clone()));
    assert_eq!(
        send(&svc_a, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        send(&svc_b, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let first = a.cached_token().unwrap();
    assert_eq!(github.counters().installation_token_exchanges, 1);

    // A forced refresh mints, even with a usable token in the store.
    let refreshed = a.refresh(&client()).await.unwrap();
    assert_ne!(refreshed.token.expose_secret(), first.token.expose_secret());
    assert_eq!(github.counters().installation_token_exchanges, 2);

    // Revoked at GitHub: this replica does not take it back from the store, and the other
    // replica, which meets a 401 with it, does not either.
    a.revoke(&client()).await.unwrap();
    assert_eq!(
        send(&svc_a, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_ne!(
        a.cached_token().unwrap().token.expose_secret(),
        refreshed.token.expose_secret()
    );
    assert_eq!(
        send(&svc_b, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().installation_token_exchanges, 3);
}
