//! A fleet behaves like one process: replicas (separate stacks, separate in-process caches)
//! sharing one `TokenStore` mint one installation token, and spend each refresh token once.
//!
//! These run on an in-process store (`common::memory_store`); `redis_fleet.rs` runs the same
//! promises on a real Redis.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fault_run;
use common::faulty::{Faults, Faulty};
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

/// `as_user(set).token_store(store)`, for the tests below.
fn user_on(
    github: &EmulatorHandle,
    set: &TokenSet,
    store: &Arc<dyn TokenStore>,
) -> tower_github_auth::UserAuthBuilder<TokenSet> {
    app_client(github)
        .as_user(set.clone())
        .token_store(Arc::clone(store), "user-42")
}

fn refresh_token_of(user: &OAuthTokenAuth) -> String {
    user.cached_token()
        .unwrap()
        .refresh_token
        .unwrap()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn a_rotated_pair_that_failed_to_save_reaches_the_store_once_it_is_back() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    let (a, b) = (
        user_on(&github, &set, &store).build(),
        user_on(&github, &set, &store).build(),
    );
    let (svc_a, svc_b) = (stack(a.clone()), stack(b.clone()));
    assert_eq!(send(&svc_a, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(send(&svc_b, get("/user")).await.unwrap().0, StatusCode::OK);
    // A refreshes during a store blip: its save fails; the refresh ended B's access token.
    memory.down.store(true, Ordering::SeqCst);
    a.refresh(&client()).await.unwrap();
    memory.down.store(false, Ordering::SeqCst);
    // Once the store is back, A's pair reaches it by itself (retried in the background).
    let newest = refresh_token_of(&a);
    let mut waited = 0;
    while memory
        .newest()
        .is_none_or(|_| memory_refresh_token(&memory) != newest)
    {
        assert!(waited < 100, "the rotated pair never reached the store");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    // B, refused with its ended token, takes A's pair instead of spending the spent one.
    assert_eq!(send(&svc_b, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(refresh_token_of(&b), newest);
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

#[tokio::test]
async fn a_replica_whose_refresh_token_another_spent_takes_the_stored_set_of_a_lower_generation() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    let a = user_on(&github, &set, &store).build();
    // A rotates a few times: its generation climbs.
    for _ in 0..3 {
        a.refresh(&client()).await.unwrap();
    }
    // Redis restarts empty; a new replica starts from the set the hook saved (A's newest) and
    // refreshes: the store now holds a set of a low generation, and A's refresh token is spent.
    memory.forget();
    let c = user_on(&github, &a.cached_token().unwrap(), &store).build();
    c.refresh(&client()).await.unwrap();
    let newest = refresh_token_of(&c);
    // A refreshes: its own refresh token is refused (spent by C); the stored set is the only
    // one that works, whatever its generation. A takes it instead of failing for good.
    a.refresh(&client())
        .await
        .expect("A takes the stored set once its own refresh token is refused");
    assert_eq!(refresh_token_of(&a), newest);
    // And from there the fleet goes on as one: A's next refresh is stored, C follows it.
    a.refresh(&client()).await.unwrap();
    assert_eq!(memory_refresh_token(&memory), refresh_token_of(&a));
    c.refresh(&client()).await.unwrap();
    assert_eq!(memory_refresh_token(&memory), refresh_token_of(&c));
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 1);
    let svc_c = stack(c.clone());
    assert_eq!(send(&svc_c, get("/user")).await.unwrap().0, StatusCode::OK);
}

/// The newest refresh token of `user` reaches `memory` within 5 s (real time).
async fn reaches_the_store(user: &OAuthTokenAuth, memory: &MemoryStore) {
    let newest = refresh_token_of(user);
    let mut waited = 0;
    while memory
        .newest()
        .is_none_or(|_| memory_refresh_token(memory) != newest)
    {
        assert!(waited < 100, "the rotated pair never reached the store");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
}

#[test]
fn a_pending_save_goes_on_in_the_next_runtime_when_its_runtime_ended() {
    // GitHub lives on a runtime of its own; the replica on two runtimes, one after the other
    // (a program that makes a runtime per job).
    let server = tokio::runtime::Runtime::new().unwrap();
    let (github, set) = server.block_on(async {
        let github = Emulator::builder().start().await.unwrap();
        let set = signed_in(&github).await;
        (github, set)
    });
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let a = user_on(&github, &set, &store).build();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // A refreshes during a store blip; its runtime ends before the store is back (the task
    // saving the pair again ends with it).
    runtime().block_on(async {
        memory.down.store(true, Ordering::SeqCst);
        a.refresh(&client()).await.unwrap();
    });
    // On the next runtime, another blip: this pair too must reach the store once it is back.
    runtime().block_on(async {
        a.refresh(&client()).await.unwrap();
        memory.down.store(false, Ordering::SeqCst);
        reaches_the_store(&a, &memory).await;
    });
    drop(server);
}

fn memory_refresh_token(memory: &MemoryStore) -> String {
    let newest = memory.newest().unwrap();
    let set: serde_json::Value = serde_json::from_slice(&newest).unwrap();
    set["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_blocks_past_the_lock_never_moves_the_store_back() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    // A's hook blocks for 2 s the first time: far past the lock (3 × 100 ms).
    let blocked = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&blocked);
    let a = user_on(&github, &set, &store)
        .exchange_timeout(Duration::from_millis(100))
        .on_refresh(move |_set: TokenSet| {
            let first = !gate.swap(true, Ordering::SeqCst);
            async move {
                if first {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Ok::<_, std::io::Error>(())
            }
        })
        .build();
    let b = user_on(&github, &set, &store)
        .exchange_timeout(Duration::from_millis(100))
        .build();
    let http = client();
    let slow = tokio::spawn({
        let (a, http) = (a.clone(), http.clone());
        async move { a.refresh(&http).await }
    });
    // While A's hook runs, its lock expires and B rotates the pair further.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(blocked.load(Ordering::SeqCst), "A's hook is running");
    b.refresh(&http).await.unwrap();
    let newest = refresh_token_of(&b);
    slow.await.unwrap().unwrap();
    // A's late save did not put its older set back: the store holds B's.
    assert_eq!(memory_refresh_token(&memory), newest);
    // A replica starting now takes B's pair: no spent token is ever sent.
    let c = user_on(&github, &set, &store).build();
    assert_eq!(
        send(&stack(c.clone()), get("/user")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(refresh_token_of(&c), newest);
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

#[tokio::test]
async fn after_a_401_the_replay_refreshes_and_never_resends_the_refused_token() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    let (a, b) = (
        user_on(&github, &set, &store).build(),
        user_on(&github, &set, &store).build(),
    );
    let (svc_a, svc_b) = (stack(a.clone()), stack(b.clone()));
    assert_eq!(send(&svc_a, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(send(&svc_b, get("/user")).await.unwrap().0, StatusCode::OK);
    // GitHub ends the access token (revoked); the refresh token still works.
    github.revoke(set.access_token.as_ref().unwrap().expose_secret());
    let (status, _) = send(&svc_b, get("/user")).await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the replay went out with a refreshed token"
    );
    assert_ne!(
        b.cached_token()
            .unwrap()
            .access_token
            .unwrap()
            .expose_secret(),
        set.access_token.as_ref().unwrap().expose_secret()
    );
    // One 401 for B's first try; the replay and A's next request use the refreshed pair.
    assert_eq!(send(&svc_a, get("/user")).await.unwrap().0, StatusCode::OK);
    let counters = github.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    // The refused set was never stored again.
    let refused = set
        .access_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    for value in memory.saved.lock().unwrap().iter() {
        let stored: serde_json::Value = serde_json::from_slice(value).unwrap();
        assert_ne!(stored["access_token"].as_str(), Some(refused.as_str()));
    }
}

#[tokio::test]
async fn a_set_no_hook_accepted_is_never_sent_and_its_refresh_token_is_not_lost() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    // A's hook refuses every set (its database is down).
    let a = user_on(&github, &set, &store)
        .on_refresh(|_set: TokenSet| async { Err::<(), _>(std::io::Error::other("db down")) })
        .build();
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let b = {
        let accepted = Arc::clone(&accepted);
        user_on(&github, &set, &store)
            .on_refresh(move |set: TokenSet| {
                accepted
                    .lock()
                    .unwrap()
                    .push(set.access_token.unwrap().expose_secret().to_owned());
                async { Ok::<_, std::io::Error>(()) }
            })
            .build()
    };
    let refused = a.refresh(&client()).await.unwrap_err();
    assert!(
        matches!(refused, tower_github_auth::Error::Hook(_)),
        "{refused:?}"
    );
    // The refused set's refresh token was kept (in the store): B continues the family, and
    // sends only an access token its hook accepted.
    let (status, _) = send(&stack(b.clone()), get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let sent = b.cached_token().unwrap().access_token.unwrap();
    assert_eq!(
        accepted.lock().unwrap().as_slice(),
        [sent.expose_secret().to_owned()]
    );
    let counters = github.counters();
    assert_eq!(counters.refreshes, 2);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
}

#[tokio::test]
async fn a_new_sign_in_is_who_the_layer_acts_as_even_with_a_set_stored() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let old = user_on(&github, &signed_in(&github).await, &store).build();
    old.refresh(&client()).await.unwrap(); // the store holds the old family's newest set
    let stored = refresh_token_of(&old);
    let code_exchanges = github.counters().oauth_code_exchanges;
    // The user signs in again (a new code): that is who the layer acts as from now on.
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .token_store(Arc::clone(&store), "user-42")
        .build();
    let set = user.fetch_token(&client()).await.unwrap();
    assert_eq!(github.counters().oauth_code_exchanges, code_exchanges + 1);
    let new = set.refresh_token.unwrap().expose_secret().to_owned();
    assert_ne!(new, stored);
    // And the fleet follows: the store holds the new family, the old replica adopts it.
    assert_eq!(memory_refresh_token(&memory), new);
    old.refresh(&client()).await.unwrap();
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

#[tokio::test]
async fn a_store_with_no_exchange_deadline_works() {
    let github = Emulator::builder().start().await.unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let user = user_on(&github, &signed_in(&github).await, &store)
        .exchange_timeout(Duration::MAX)
        .build();
    user.refresh(&client()).await.unwrap();
    let app = replica(&github, &store)
        .exchange_timeout(Duration::MAX)
        .as_installation(InstallationId(1));
    assert_eq!(
        send(&stack(app), get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refusing_writes_before_the_rotation_fails_no_request_and_spends_nothing_twice() {
    if std::env::var_os("FLEET_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    // One user on 8 replicas (4 callers each), 8 s tokens refreshed from half-life, each
    // refresh ending the token it replaces; the store refuses writes (reads work) for 1.4 s
    // around the rotation, a stall shorter than what is left of the token.
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(8))
        .start()
        .await
        .unwrap();
    let memory: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let faults = Faults::new(7);
    let set = signed_in(&github).await;
    let users: Vec<OAuthTokenAuth> = (0..REPLICAS)
        .map(|_| {
            app_client(&github)
                .as_user(set.clone())
                .token_store(
                    Faulty {
                        inner: Arc::clone(&memory),
                        faults: Arc::clone(&faults),
                    },
                    "user-42",
                )
                .exchange_timeout(Duration::from_secs(1))
                .build()
        })
        .collect();
    let services: Vec<_> = users.iter().map(|u| stack(u.clone())).collect();
    let started = tokio::time::Instant::now();
    let failed = std::sync::atomic::AtomicU64::new(0);
    let callers = services
        .iter()
        .flat_map(|svc| std::iter::repeat_n(svc, 4))
        .map(|svc| async {
            while started.elapsed() < Duration::from_secs(10) {
                if !matches!(send(svc, get("/user")).await, Ok((StatusCode::OK, _))) {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    let control = async {
        // The first pair (refreshed at once: 8 s is too short to be used as given) is due at
        // 4 s; writes are refused from 3.2 s to 4.6 s.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        faults.writes_refused.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1400)).await;
        faults.writes_refused.store(false, Ordering::SeqCst);
    };
    tokio::join!(join_all(callers), control);
    let counters = github.counters();
    println!(
        "writes refused 1.4 s around the rotation: {} failed requests, {} refreshes, {} bad_refresh_token",
        failed.load(Ordering::SeqCst),
        counters.refreshes,
        counters.refusals_for("bad_refresh_token")
    );
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    assert_eq!(failed.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_replicas_under_store_faults_for_a_minute_never_lose_the_token_family() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let memory: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let stores = (0..REPLICAS).map(|_| Arc::clone(&memory)).collect();
    let report = fault_run::run(&github, stores).await;
    fault_run::check(&report);
}

#[tokio::test]
async fn a_refresh_token_github_refused_is_never_sent_again_and_the_stored_pair_heals_it() {
    let github = Emulator::builder().start().await.unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn TokenStore> = memory.clone();
    let set = signed_in(&github).await;
    let bad = || github.counters().refusals_for("bad_refresh_token");
    // A replica whose pair never reached the store (it died before saving it) spent the
    // signed-in refresh token.
    let lost = app_client(&github).as_user(set.clone()).build();
    lost.refresh(&client()).await.unwrap();
    // B, on the store, refreshes with that token: GitHub refuses it once; no newer pair
    // appears in the store while B waits for one.
    let b = user_on(&github, &set, &store).build();
    let refused = b.refresh(&client()).await.unwrap_err();
    assert_eq!(refused.oauth_error(), Some("bad_refresh_token"));
    assert_eq!(bad(), 1);
    // B never sends it again: it says why, without asking GitHub.
    let again = b.refresh(&client()).await.unwrap_err();
    assert!(
        matches!(
            again,
            tower_github_auth::Error::RefreshImpossible {
                reason: tower_github_auth::RefreshImpossible::RefreshTokenSpent
            }
        ),
        "{again}"
    );
    assert_eq!(bad(), 1, "the refused refresh token was sent again");
    // Once the fleet's newer pair reaches the store, B takes it and goes on.
    let c = user_on(&github, &lost.cached_token().unwrap(), &store).build();
    c.refresh(&client()).await.unwrap();
    b.refresh(&client())
        .await
        .expect("B takes the stored pair and refreshes with it");
    assert_eq!(memory_refresh_token(&memory), refresh_token_of(&b));
    assert_eq!(bad(), 1);
    // Without a store, GitHub's answer is the one given, every time.
    let alone = app_client(&github).as_user(set).build();
    for _ in 0..2 {
        let err = alone.refresh(&client()).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("bad_refresh_token"));
    }
    assert_eq!(bad(), 3);
}
