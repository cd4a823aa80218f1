//! `RedisTokenStore` against a real `redis-server` of each test's own (started on a unix socket in
//! a temp dir, killed at the end; see `testing::RedisServer`), and each again against a Redis
//! Cluster of three primaries of its own (`testing::RedisCluster`). Real Redis, real time: every
//! wait is short.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tower_github_auth::{BoxError, Lease, StoredCredential, TokenStore};
use tower_github_auth_redis::testing::TestRedis;
use tower_github_auth_redis::{EncryptionKey, Error, RedisTarget, RedisTokenStore};

const KEY: &str = "installation:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "user:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const TOKEN: &[u8] = b"ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
const LONG: Duration = Duration::from_secs(60);

fn credential() -> StoredCredential {
    StoredCredential::new(
        TOKEN.to_vec(),
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        UNIX_EPOCH + Duration::from_secs(1_800_003_600),
    )
}

async fn store(
    redis: &TestRedis,
    keys: impl IntoIterator<Item = EncryptionKey>,
) -> RedisTokenStore {
    RedisTokenStore::builder(redis.target())
        .prefix("t:")
        .encryption_keys(keys)
        .command_timeout(COMMAND_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("a store on the test's Redis")
}

async fn raw_get(redis: &TestRedis, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis.connection())
        .await
        .unwrap()
}

async fn raw_set(redis: &TestRedis, key: &str, value: &[u8]) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The store's error behind a `TokenStore` method's boxed one.
#[track_caller]
fn store_error(err: &BoxError) -> &Error {
    err.downcast_ref::<Error>()
        .unwrap_or_else(|| panic!("not the store's Error: {err}"))
}

/// Waits (real time, bounded) until `done` holds.
async fn eventually(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_saved_credential_loads_back_and_a_missing_one_is_none(redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);

    assert_eq!(a.load(KEY).await.unwrap(), None);
    a.save(KEY, &credential(), LONG).await.unwrap();
    // Another replica reads what this one wrote.
    assert_eq!(b.load(KEY).await.unwrap(), Some(credential()));
    assert_eq!(b.load(OTHER).await.unwrap(), None);

    // Times are kept to the second.
    let now = SystemTime::now();
    let precise = StoredCredential::new(vec![], now, now + Duration::from_millis(1500));
    a.save(OTHER, &precise, LONG).await.unwrap();
    let loaded = b.load(OTHER).await.unwrap().unwrap();
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(loaded.issued_at), secs(now));
    assert_eq!(
        secs(loaded.expires_at),
        secs(now + Duration::from_millis(1500))
    );
    assert!(loaded.value.is_empty());
}

async fn values_and_locks_share_a_hash_tag(redis: TestRedis) {
    let a = store(&redis, [EncryptionKey::generate()]).await;
    assert_eq!(a.value_key(KEY), format!("t:{{{KEY}}}"));
    assert_eq!(a.lock_key(KEY), format!("t:{{{KEY}}}:lock"));
    assert_eq!(a.channel(), "t:changed");

    a.save(KEY, &credential(), LONG).await.unwrap();
    let _lease = a.lock(KEY, LONG).await.unwrap().unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, [a.value_key(KEY), a.lock_key(KEY)]);
}

async fn a_value_is_forgotten_after_its_ttl(redis: TestRedis) {
    let a = store(&redis, []).await;

    a.save(KEY, &credential(), Duration::from_millis(200))
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.value_key(KEY))
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert!((1..=200).contains(&pttl), "PTTL {pttl}");
    assert!(a.load(KEY).await.unwrap().is_some());

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(a.load(KEY).await.unwrap(), None);

    // A TTL under a millisecond stores nothing.
    a.save(KEY, &credential(), Duration::from_micros(10))
        .await
        .unwrap();
    assert_eq!(a.load(KEY).await.unwrap(), None);
}

async fn the_lock_is_exclusive_and_only_its_holder_releases_it(redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);

    let lease = a.lock(KEY, LONG).await.unwrap().expect("a free lock");
    assert_eq!(b.lock(KEY, LONG).await.unwrap(), None);
    assert_eq!(a.lock(KEY, LONG).await.unwrap(), None, "not re-entrant");
    // Locks are per key.
    assert!(b.lock(OTHER, LONG).await.unwrap().is_some());

    // A lease that is not the holder's releases nothing.
    b.unlock(KEY, &Lease::random()).await.unwrap();
    b.unlock(KEY, &Lease::from_value("")).await.unwrap();
    assert_eq!(b.lock(KEY, LONG).await.unwrap(), None);

    // The holder's does, from any replica (the lease is the proof).
    b.unlock(KEY, &lease).await.unwrap();
    let again = b.lock(KEY, LONG).await.unwrap().expect("released");
    assert_ne!(again, lease);
    // A released lease cannot release its successor's lock.
    a.unlock(KEY, &lease).await.unwrap();
    assert_eq!(a.lock(KEY, LONG).await.unwrap(), None);
}

async fn a_lock_whose_holder_never_unlocks_expires(redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);

    let _abandoned = a
        .lock(KEY, Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.lock(KEY, LONG).await.unwrap(), None);
    let started = Instant::now();
    eventually(
        "the abandoned lock expires",
        Duration::from_secs(2),
        async || b.lock(KEY, LONG).await.unwrap().is_some(),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

async fn an_encrypted_value_hides_the_token_and_needs_the_key(redis: TestRedis) {
    let a = store(&redis, [EncryptionKey::generate()]).await;
    a.save(KEY, &credential(), LONG).await.unwrap();

    let stored = raw_get(&redis, &a.value_key(KEY)).await.unwrap();
    assert!(!contains(&stored, TOKEN));
    assert!(!contains(&stored, b"ghs_"));
    assert!(!contains(&stored, &1_800_000_000_u64.to_be_bytes()));
    assert_eq!(a.load(KEY).await.unwrap(), Some(credential()));

    // Another key: an error (the core passes it by and overwrites the value).
    let other_key = store(&redis, [EncryptionKey::generate()]).await;
    let err = other_key.load(KEY).await.unwrap_err();
    assert!(
        matches!(store_error(&err), Error::UnknownEncryptionKey),
        "{err}"
    );
    // No key at all.
    let no_key = store(&redis, []).await;
    let err = no_key.load(KEY).await.unwrap_err();
    assert!(matches!(store_error(&err), Error::Encrypted), "{err}");
    // Neither error shows the value.
    assert!(!err.to_string().contains("ghs_"));
}

async fn a_value_written_under_the_old_key_loads_after_rotation(redis: TestRedis) {
    let (old, new) = (EncryptionKey::generate(), EncryptionKey::generate());
    let before = store(&redis, [old.clone()]).await;
    let during = store(&redis, [new.clone(), old.clone()]).await;
    let after = store(&redis, [new]).await;

    before.save(KEY, &credential(), LONG).await.unwrap();
    assert_eq!(during.load(KEY).await.unwrap(), Some(credential()));

    // During the rotation, the new key writes; replicas still on [old] cannot read it (an error
    // they pass by), replicas on [new] can.
    during.save(OTHER, &credential(), LONG).await.unwrap();
    assert_eq!(after.load(OTHER).await.unwrap(), Some(credential()));
    let err = before.load(OTHER).await.unwrap_err();
    assert!(
        matches!(store_error(&err), Error::UnknownEncryptionKey),
        "{err}"
    );
    // Once only [new] is left, a value under `old` is an error too.
    let err = after.load(KEY).await.unwrap_err();
    assert!(
        matches!(store_error(&err), Error::UnknownEncryptionKey),
        "{err}"
    );
}

async fn a_value_copied_to_another_key_does_not_open(redis: TestRedis) {
    let a = store(&redis, [EncryptionKey::generate()]).await;
    a.save(KEY, &credential(), LONG).await.unwrap();

    let stored = raw_get(&redis, &a.value_key(KEY)).await.unwrap();
    raw_set(&redis, &a.value_key(OTHER), &stored).await;
    let err = a.load(OTHER).await.unwrap_err();
    assert!(matches!(store_error(&err), Error::Decrypt), "{err}");

    // One flipped bit: the same.
    let mut flipped = stored;
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    raw_set(&redis, &a.value_key(KEY), &flipped).await;
    let err = a.load(KEY).await.unwrap_err();
    assert!(matches!(store_error(&err), Error::Decrypt), "{err}");
}

async fn without_keys_values_are_in_clear_and_a_store_with_keys_refuses_them(redis: TestRedis) {
    let clear = store(&redis, []).await;
    clear.save(KEY, &credential(), LONG).await.unwrap();
    // As documented: readable by whoever reads Redis.
    assert!(contains(
        &raw_get(&redis, &clear.value_key(KEY)).await.unwrap(),
        TOKEN
    ));

    // A store with keys does not take a value anyone with write access could have planted.
    let encrypting = store(&redis, [EncryptionKey::generate()]).await;
    let err = encrypting.load(KEY).await.unwrap_err();
    assert!(matches!(store_error(&err), Error::Cleartext), "{err}");
}

async fn foreign_values_are_errors_not_panics(redis: TestRedis) {
    let keyed = store(&redis, [EncryptionKey::generate()]).await;
    let clear = store(&redis, []).await;

    for value in [
        &b""[..],
        b"\x7fgarbage",
        b"\x01short",
        b"\x02short",
        b"{\"token\":\"x\"}",
    ] {
        raw_set(&redis, &keyed.value_key(KEY), value).await;
        for store in [&keyed, &clear] {
            let err = store.load(KEY).await.unwrap_err();
            let err = store_error(&err);
            assert!(
                matches!(err, Error::Corrupt(_) | Error::Cleartext | Error::Encrypted),
                "{value:?}: {err}"
            );
        }
    }

    // Another type under the key: Redis's WRONGTYPE, as an error.
    let () = redis::cmd("HSET")
        .arg(keyed.value_key(OTHER))
        .arg("f")
        .arg("v")
        .query_async(&mut redis.connection())
        .await
        .map(|_: i64| ())
        .unwrap();
    let err = keyed.load(OTHER).await.unwrap_err();
    assert!(
        matches!(store_error(&err), Error::Command { command: "GET", .. }),
        "{err}"
    );
}

async fn changed_returns_soon_after_another_replica_saves_or_unlocks(redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);
    assert!(a.notifications_connected());

    // Saved.
    let started = Instant::now();
    let (woken, saved) = tokio::join!(a.changed(KEY, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.save(KEY, &credential(), LONG).await
    });
    woken.unwrap();
    saved.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Unlocked without a result (the holder's exchange failed): waiters learn it too.
    let lease = b.lock(KEY, LONG).await.unwrap().unwrap();
    let started = Instant::now();
    let (woken, unlocked) = tokio::join!(a.changed(KEY, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.unlock(KEY, &lease).await
    });
    woken.unwrap();
    unlocked.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

async fn changed_returns_after_within_when_its_key_does_not_change(redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);

    let within = Duration::from_millis(300);
    let started = Instant::now();
    // Another key changes meanwhile, and a non-holder's unlock changes nothing.
    let (woken, other) = tokio::join!(a.changed(KEY, within), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.save(OTHER, &credential(), LONG).await.unwrap();
        b.unlock(KEY, &Lease::random()).await
    });
    woken.unwrap();
    other.unwrap();
    let took = started.elapsed();
    assert!(took >= within, "{took:?}");
    assert!(took < within + Duration::from_millis(500), "{took:?}");
}

async fn calls_fail_within_the_command_timeout_while_redis_is_down(mut redis: TestRedis) {
    let a = store(&redis, [EncryptionKey::generate()]).await;
    a.save(KEY, &credential(), LONG).await.unwrap();

    redis.stop();
    // Each call fails, and within the command timeout (a refused connection: at once).
    let bound = COMMAND_TIMEOUT + Duration::from_millis(100);
    let lease = Lease::random();
    for _ in 0..3 {
        let started = Instant::now();
        let err = a.load(KEY).await.unwrap_err();
        assert!(
            matches!(
                store_error(&err),
                Error::Command { .. } | Error::Timeout { .. }
            ),
            "{err}"
        );
        assert!(started.elapsed() < bound, "load: {:?}", started.elapsed());
        let started = Instant::now();
        assert!(a.save(KEY, &credential(), LONG).await.is_err());
        assert!(started.elapsed() < bound, "save: {:?}", started.elapsed());
        let started = Instant::now();
        assert!(a.lock(KEY, LONG).await.is_err());
        assert!(started.elapsed() < bound, "lock: {:?}", started.elapsed());
        let started = Instant::now();
        assert!(a.unlock(KEY, &lease).await.is_err());
        assert!(started.elapsed() < bound, "unlock: {:?}", started.elapsed());
    }

    // Without the subscriber connection, `changed` polls: it returns early, and never fails.
    eventually(
        "the notification connection is seen lost",
        Duration::from_secs(7),
        async || !a.notifications_connected(),
    )
    .await;
    let started = Instant::now();
    a.changed(KEY, Duration::from_secs(5)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// On one node only: on a cluster, the connection to a hanging node is made again behind the
/// timed-out lock request, and the two may run in either order.
#[tokio::test]
async fn calls_fail_within_the_command_timeout_while_redis_hangs() {
    let redis = TestRedis::single();
    let a = store(&redis, []).await;
    a.save(KEY, &credential(), LONG).await.unwrap();

    // Redis stops answering (as an overloaded or partitioned one does) for 1.5 s.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    let started = Instant::now();
    let err = a.load(KEY).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(store_error(&err), Error::Timeout { command: "GET", .. }),
        "{err}"
    );
    assert!(
        took >= COMMAND_TIMEOUT && took < COMMAND_TIMEOUT + Duration::from_millis(250),
        "{took:?}"
    );
    // Redis runs this SET NX once it answers again, for a lease nobody got: the store releases
    // it right behind, so that it does not hold everyone off for its TTL.
    let err = a.lock(KEY, LONG).await.unwrap_err();
    assert!(matches!(store_error(&err), Error::Timeout { .. }), "{err}");

    // Once Redis answers again, so does the store (the late answers are not mistaken for new ones).
    eventually("Redis answers again", Duration::from_secs(3), async || {
        a.load(KEY).await.is_ok()
    })
    .await;
    assert_eq!(a.load(KEY).await.unwrap(), Some(credential()));
    let free: Option<String> = redis::cmd("GET")
        .arg(a.lock_key(KEY))
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert_eq!(free, None, "the timed-out lock was released");
    assert!(a.lock(KEY, LONG).await.unwrap().is_some());
}

async fn calls_work_again_after_redis_restarts(mut redis: TestRedis) {
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);

    redis.stop();
    assert!(a.load(KEY).await.is_err());
    assert!(b.lock(KEY, LONG).await.is_err());
    redis.restart();

    // The connection comes back by itself (the new server is empty: nothing was persisted).
    eventually(
        "the store reconnects",
        Duration::from_secs(10),
        async || a.load(KEY).await.is_ok() && b.load(KEY).await.is_ok(),
    )
    .await;
    a.save(KEY, &credential(), LONG).await.unwrap();
    assert_eq!(b.load(KEY).await.unwrap(), Some(credential()));
    assert!(b.lock(KEY, LONG).await.unwrap().is_some());

    // And so do notifications.
    eventually(
        "notifications reconnect",
        Duration::from_secs(10),
        async || a.notifications_connected() && b.notifications_connected(),
    )
    .await;
    let started = Instant::now();
    let (woken, saved) = tokio::join!(a.changed(OTHER, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.save(OTHER, &credential(), LONG).await
    });
    woken.unwrap();
    saved.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

async fn build_fails_clearly_on_bad_settings(redis: TestRedis) {
    let err = RedisTokenStore::builder("http://user:hunter2@example.com")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"));

    let err = RedisTokenStore::builder(redis.target())
        .prefix("{tgha}:")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");

    // A cluster: no nodes, a node that is not a URL, a unix socket (a cluster tells its nodes'
    // addresses as IP and port), nodes with different passwords.
    let empty: [&str; 0] = [];
    let err = RedisTokenStore::builder(RedisTarget::cluster(empty))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    for nodes in [
        vec!["redis://127.0.0.1:7000", "tcp://:hunter2@127.0.0.1:7001"],
        vec!["redis+unix:///tmp/redis.sock"],
        vec![
            "redis://:hunter2@127.0.0.1:7000",
            "redis://:other@127.0.0.1:7001",
        ],
    ] {
        let err = RedisTokenStore::builder(RedisTarget::cluster(nodes.clone()))
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { .. }), "{nodes:?}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    // A client of one's own works as well as a URL.
    if let TestRedis::Single(server) = &redis {
        let client = tower_github_auth_redis::redis::Client::open(server.url()).unwrap();
        let store = RedisTokenStore::builder(client).build().await.unwrap();
        assert_eq!(store.value_key("k"), "tower-github-auth:{k}");
        assert!(store.load("k").await.unwrap().is_none());
    }
}

async fn build_fails_when_redis_refuses_the_credentials(redis: TestRedis) {
    // Redis answers, but wants a password: a configuration error, reported by `build`.
    for url in redis.urls() {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg("hunter2")
            .query_async(
                &mut redis::Client::open(url)
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let err = RedisTokenStore::builder(redis.target())
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");

    // With it, the store works.
    let with_password = |url: &String| url.replace("redis://", "redis://:hunter2@");
    let target = match &redis {
        TestRedis::Single(server) => RedisTarget::from(format!("{}?pass=hunter2", server.url())),
        TestRedis::Cluster(cluster) => {
            RedisTarget::cluster(cluster.urls().iter().map(with_password).collect::<Vec<_>>())
        }
    };
    let store = RedisTokenStore::builder(target)
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    store.save(KEY, &credential(), LONG).await.unwrap();
    assert_eq!(store.load(KEY).await.unwrap(), Some(credential()));
}

async fn a_store_built_while_redis_is_down_is_used_once_redis_answers(mut redis: TestRedis) {
    redis.stop();
    // Redis is a help, not a dependency: building does not need it.
    let started = Instant::now();
    let (a, b) = (store(&redis, []).await, store(&redis, []).await);
    assert!(
        started.elapsed() < 2 * (COMMAND_TIMEOUT + Duration::from_millis(250)),
        "{:?}",
        started.elapsed()
    );
    assert!(!a.notifications_connected());
    // Calls fail within the command timeout (the core passes the store by), and `changed`
    // polls.
    for _ in 0..3 {
        let started = Instant::now();
        assert!(a.load(KEY).await.is_err());
        assert!(a.lock(KEY, LONG).await.is_err());
        assert!(
            started.elapsed() < 2 * (COMMAND_TIMEOUT + Duration::from_millis(100)),
            "{:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    b.changed(KEY, Duration::from_secs(5)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));

    // Redis comes up: the stores connect by themselves and share what they write.
    redis.restart();
    eventually("the stores connect", Duration::from_secs(10), async || {
        a.load(KEY).await.is_ok() && b.load(KEY).await.is_ok()
    })
    .await;
    a.save(KEY, &credential(), LONG).await.unwrap();
    assert_eq!(b.load(KEY).await.unwrap(), Some(credential()));
    let lease = b.lock(KEY, LONG).await.unwrap().expect("a free lock");
    assert_eq!(a.lock(KEY, LONG).await.unwrap(), None);

    // And notifications come on.
    eventually(
        "notifications connect",
        Duration::from_secs(10),
        async || a.notifications_connected() && b.notifications_connected(),
    )
    .await;
    let started = Instant::now();
    let (woken, unlocked) = tokio::join!(a.changed(KEY, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.unlock(KEY, &lease).await
    });
    woken.unwrap();
    unlocked.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

async fn debug_output_shows_no_secret(redis: TestRedis) {
    let bytes = [0xA5_u8; 32];
    let key = EncryptionKey::from_bytes(bytes);
    let with_password = match &redis {
        TestRedis::Single(server) => RedisTarget::from(format!("{}?pass=hunter2", server.url())),
        TestRedis::Cluster(cluster) => RedisTarget::cluster(
            cluster
                .urls()
                .iter()
                .map(|url| url.replace("redis://", "redis://:hunter2@"))
                .collect::<Vec<_>>(),
        ),
    };
    let builder = RedisTokenStore::builder(with_password).encryption_keys([key.clone()]);
    let shown = format!("{builder:?} {key:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        !shown.contains("165") && !shown.contains("a5a5") && !shown.contains("paWl"),
        "{shown}"
    );

    let a = store(&redis, [key]).await;
    let shown = format!("{a:?}");
    assert!(
        shown.contains("AES-256-GCM") && shown.contains("***"),
        "{shown}"
    );
    assert!(
        !shown.contains("165") && !shown.contains("a5a5") && !shown.contains("paWl"),
        "{shown}"
    );
    let lease = a.lock(KEY, LONG).await.unwrap().unwrap();
    assert!(!format!("{lease:?}").contains(lease.value()));
}

async fn the_store_works_over_resp3_too(redis: TestRedis) {
    let resp3 = async || {
        let urls = redis
            .urls()
            .into_iter()
            .map(|url| format!("{url}?protocol=resp3"));
        let target = match &redis {
            TestRedis::Single(_) => RedisTarget::from(urls.collect::<String>()),
            TestRedis::Cluster(_) => RedisTarget::cluster(urls.collect::<Vec<_>>()),
        };
        RedisTokenStore::builder(target)
            .encryption_keys([EncryptionKey::from_bytes([9; 32])])
            .command_timeout(COMMAND_TIMEOUT)
            .build()
            .await
            .unwrap()
    };
    let (a, b) = (resp3().await, resp3().await);

    let lease = a.lock(KEY, LONG).await.unwrap().unwrap();
    assert_eq!(b.lock(KEY, LONG).await.unwrap(), None);
    let started = Instant::now();
    let (woken, saved) = tokio::join!(b.changed(KEY, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        a.save(KEY, &credential(), LONG).await?;
        a.unlock(KEY, &lease).await
    });
    woken.unwrap();
    saved.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(b.load(KEY).await.unwrap(), Some(credential()));
    assert!(b.lock(KEY, LONG).await.unwrap().is_some());
}

/// Each test body, on a single Redis (`single::`) and on a three-primary Redis Cluster
/// (`cluster::`).
macro_rules! on_single_and_cluster {
    ($($test:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::TestRedis::single()).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::TestRedis::cluster()).await;
                }
            )*
        }
    };
}

on_single_and_cluster!(
    a_saved_credential_loads_back_and_a_missing_one_is_none,
    values_and_locks_share_a_hash_tag,
    a_value_is_forgotten_after_its_ttl,
    the_lock_is_exclusive_and_only_its_holder_releases_it,
    a_lock_whose_holder_never_unlocks_expires,
    an_encrypted_value_hides_the_token_and_needs_the_key,
    a_value_written_under_the_old_key_loads_after_rotation,
    a_value_copied_to_another_key_does_not_open,
    without_keys_values_are_in_clear_and_a_store_with_keys_refuses_them,
    foreign_values_are_errors_not_panics,
    changed_returns_soon_after_another_replica_saves_or_unlocks,
    changed_returns_after_within_when_its_key_does_not_change,
    calls_fail_within_the_command_timeout_while_redis_is_down,
    calls_work_again_after_redis_restarts,
    build_fails_clearly_on_bad_settings,
    build_fails_when_redis_refuses_the_credentials,
    a_store_built_while_redis_is_down_is_used_once_redis_answers,
    debug_output_shows_no_secret,
    the_store_works_over_resp3_too,
);
