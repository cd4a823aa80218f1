//! What an operator sees (issue 21): the exchange spans and how the requests that waited on an
//! exchange are linked to it, the caches' counters, and (feature `metrics`) the metrics.

mod common;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use common::captured::Captured;
use common::{get, send, stack};
use futures_util::future::join_all;
use github_auth_emulator::{Emulator, TEST_APP_PRIVATE_KEY_PKCS1};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower_github_auth::{
    AppAuth, AppId, AuthEvent, AuthEventKind, Endpoints, InstallationId, TokenCache,
    clear_event_hook, set_event_hook,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Instrument, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as it was created: its name, its parent, its `cache` field.
#[derive(Clone, Debug)]
struct Created {
    name: &'static str,
    parent: Option<u64>,
    cache: Option<String>,
}

/// The spans created and the `follows_from` links made, by span id.
#[derive(Clone, Default)]
struct Links {
    spans: Arc<Mutex<HashMap<u64, Created>>>,
    follows: Arc<Mutex<Vec<(u64, u64)>>>,
}

struct CacheField(Option<String>);

impl Visit for CacheField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "cache" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "cache" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Links {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx.span_scope(id).and_then(|mut scope| {
            // The scope starts at the span itself.
            scope.next();
            scope.next().map(|p| p.id().into_u64())
        });
        let mut cache = CacheField(None);
        attrs.record(&mut cache);
        self.spans.lock().unwrap().insert(
            id.into_u64(),
            Created {
                name: attrs.metadata().name(),
                parent,
                cache: cache.0,
            },
        );
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, _ctx: Context<'_, S>) {
        self.follows
            .lock()
            .unwrap()
            .push((span.into_u64(), follows.into_u64()));
    }
}

const BURST: usize = 40;

/// A cold burst: forty requests at once on an empty cache. One installation exchange runs, in
/// one `github_auth.exchange` span, child of the request that started it; each of the 39
/// others is linked to it with `follows_from`. Checked on a `fmt` subscriber's output too.
#[tokio::test(flavor = "current_thread")]
async fn a_cold_burst_is_one_exchange_span_linked_to_every_waiting_request() {
    let captured = Captured::default();
    let links = Links::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_ansi(false)
                .with_span_events(FmtSpan::NEW),
        )
        .with(links.clone())
        .with(
            Targets::new()
                .with_target("tower_github_auth", tracing::Level::TRACE)
                .with_target("observe", tracing::Level::TRACE),
        );
    // The process's subscriber (a thread's own can miss callsites another test thread saw
    // first); the other tests' spans are told apart by their parents, spans of no request.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let github = Emulator::builder().start().await.unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let svc = stack(app.as_installation(InstallationId(1)));
    let answers = join_all((0..BURST).map(|n| {
        let svc = svc.clone();
        async move { send(&svc, get("/installation/repositories")).await }
            .instrument(tracing::info_span!("request", n))
    }))
    .await;
    for answer in answers {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    assert_eq!(github.counters().installation_token_exchanges, 1);

    let spans = links.spans.lock().unwrap().clone();
    let requests: HashSet<u64> = spans
        .iter()
        .filter(|(_, s)| s.name == "request")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(requests.len(), BURST);
    let exchanges: Vec<(&u64, &Created)> = spans
        .iter()
        .filter(|(_, s)| {
            s.name == "github_auth.exchange"
                && s.cache.as_deref() == Some("installation")
                && s.parent.is_some_and(|p| requests.contains(&p))
        })
        .collect();
    assert_eq!(exchanges.len(), 1, "one exchange span: {spans:#?}");
    let (&exchange, created) = exchanges[0];
    let starter = created.parent.expect("the exchange span has a parent");
    assert!(
        requests.contains(&starter),
        "child of the request that started it"
    );
    // The JWT it needed was signed in a span of its own, inside the exchange's.
    assert!(spans.values().any(|s| s.name == "github_auth.exchange"
        && s.cache.as_deref() == Some("jwt")
        && s.parent == Some(exchange)));
    let follows = links.follows.lock().unwrap().clone();
    let waiters: HashSet<u64> = follows
        .iter()
        .filter(|(_, to)| *to == exchange)
        .map(|(from, _)| *from)
        .collect();
    let others: HashSet<u64> = requests.iter().copied().filter(|r| *r != starter).collect();
    assert_eq!(waiters, others, "every other request follows from it");

    // The same, as a user's `fmt` subscriber writes it: one exchange span created, its side
    // request named with its host, status and tries.
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let created = logged
        .lines()
        .filter(|line| {
            line.contains(" request{n=")
                && line.ends_with(
                    "github_auth.exchange{cache=\"installation\"}: tower_github_auth::observe: new",
                )
        })
        .count();
    assert_eq!(created, 1, "{logged}");
    let answered = logged
        .lines()
        .find(|line| {
            line.contains(" request{n=")
                && line.contains("side request answered")
                && line.contains("installation token exchange")
        })
        .unwrap_or_else(|| panic!("no answered side request in:\n{logged}"));
    for field in ["status=201", "tries=1", "duration_ms=", "outcome=\"ok\""] {
        assert!(answered.contains(field), "{field} not in {answered}");
    }
    assert!(
        logged.contains("kind=installation token exchange")
            && logged.contains("installation=id:1")
            && logged.contains("app=1"),
        "the exchange span names what it is for:\n{logged}"
    );
}

/// `TokenCache::stats` and `AppAuth::jwt_stats` count what the caches did.
#[tokio::test(flavor = "current_thread")]
async fn the_caches_count_hits_misses_and_evictions() {
    let github = Emulator::builder().start().await.unwrap();
    let cache = TokenCache::new(NonZeroUsize::new(1).unwrap());
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
        .token_cache(cache.clone());
    let first = stack(app.as_installation(InstallationId(1)));
    let cold = join_all((0..10).map(|_| send(&first, get("/installation/repositories")))).await;
    assert!(cold.into_iter().all(|a| a.unwrap().0 == StatusCode::OK));
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.misses, stats.hits), (1, 10, 0));
    for _ in 0..5 {
        send(&first, get("/installation/repositories"))
            .await
            .unwrap();
    }
    assert_eq!(cache.stats().hits, 5);
    assert_eq!(cache.stats().evictions, 0);
    // A second installation in a cache bounded to one: the first is evicted.
    let second = stack(app.as_installation(InstallationId(2)));
    send(&second, get("/installation/repositories"))
        .await
        .unwrap();
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.evictions, stats.misses), (1, 1, 11));

    let jwt = app.jwt_stats();
    assert_eq!(jwt.entries, 1);
    assert_eq!(jwt.misses, 1, "one signature for both installations");
    assert_eq!(jwt.hits, 1, "the second mint used the cached JWT");
}

/// The event hook learns of a backoff entered and left, a mint, a refresh and a revocation,
/// each naming the App and installation and carrying GitHub's status and request id; a hook
/// that panics fails no request.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_event_hook_learns_what_happened_and_cannot_fail_a_request() {
    let github = Emulator::builder().start().await.unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    // Narrowed: the hook is the process's, and other tests here mint unnarrowed tokens.
    let installation = app.as_installation(InstallationId(1)).repositories(["one"]);
    let svc = stack(installation.clone());
    let seen: Arc<Mutex<Vec<AuthEvent>>> = Arc::default();
    let keep = Arc::clone(&seen);
    set_event_hook(move |event: &AuthEvent| {
        if event.narrowing.is_some() {
            keep.lock().unwrap().push(event.clone());
        }
    });

    // Four server errors: the mint's tries all fail, a backoff starts.
    github.fail_next_exchanges(4);
    let failed = send(&svc, get("/installation/repositories")).await;
    assert!(failed.is_err());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (status, _) = send(&svc, get("/installation/repositories")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let refreshed = installation.refresh(&common::client()).await.unwrap();
    // Ended behind the layer's back, and no longer fresh: GitHub's 401 drops it, a new one is
    // minted and the request replayed.
    github.revoke(refreshed.token.expose_secret());
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let (status, _) = send(&svc, get("/installation/repositories")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    installation.revoke(&common::client()).await.unwrap();

    let events = seen.lock().unwrap().clone();
    let kinds: Vec<AuthEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuthEventKind::BackoffEntered,
            AuthEventKind::BackoffLeft,
            AuthEventKind::Minted,
            AuthEventKind::Refreshed,
            AuthEventKind::Refused,
            AuthEventKind::Minted,
            AuthEventKind::Revoked,
        ]
    );
    assert_eq!(events[4].cache, "installation");
    assert_eq!(events[4].status, Some(401));
    assert_eq!(events[4].installation.as_deref(), Some("id:1"));
    let entered = &events[0];
    assert_eq!(entered.status, Some(500));
    assert_eq!(entered.tries, Some(4));
    assert_eq!(entered.failures, 1);
    assert!(entered.retry_in.is_some() && entered.request_id.is_some());
    let minted = &events[2];
    assert_eq!(minted.cache, "installation");
    assert_eq!(minted.app.as_deref(), Some("1"));
    assert_eq!(minted.installation.as_deref(), Some("id:1"));
    assert_eq!(minted.status, Some(201));
    assert!(minted.request_id.is_some() && minted.duration.is_some());
    assert_eq!(
        minted.exchange.as_deref(),
        Some("installation token exchange")
    );
    assert_eq!(events[6].installation.as_deref(), Some("id:1"));

    // A hook that panics: the request still gets its token, and the next one too.
    set_event_hook(|event: &AuthEvent| {
        assert!(event.narrowing.is_none(), "a broken hook");
    });
    for _ in 0..2 {
        let (status, _) = send(&svc, get("/installation/repositories")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    installation.refresh(&common::client()).await.unwrap();
    clear_event_hook();
}

/// Feature `metrics`: every family is emitted, under `github_auth_`, labelled by kind, outcome,
/// host, cache, store operation or status only: no label carries a secret, an installation id
/// or a user.
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_metric_family_is_emitted_and_no_label_names_a_credential() {
    use common::memory_store::MemoryStore;
    use metrics_util::debugging::DebuggingRecorder;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let store = Arc::new(MemoryStore::default());
    let replica = || {
        AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
            .unwrap()
            .endpoints(endpoints.clone())
            .token_cache(TokenCache::new(NonZeroUsize::new(1).unwrap()))
            .token_store(Arc::clone(&store))
    };
    let (first, second) = (replica(), replica());
    let mut secrets = vec![first.fetch_jwt().await.unwrap().expose_secret().to_owned()];

    // A failed mint (four server errors): a backoff.
    github.fail_next_exchanges(4);
    let one = stack(first.as_installation(InstallationId(1)));
    assert!(send(&one, get("/installation/repositories")).await.is_err());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // A fresh token refused once while it replicates: a replay.
    github.set_replication_lag(true);
    let (status, _) = send(&one, get("/installation/repositories")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    github.set_replication_lag(false);
    // Warm hits, reported in batches of 64.
    for _ in 0..64 {
        send(&one, get("/installation/repositories")).await.unwrap();
    }
    // The other replica adopts the stored token; a second installation evicts the first.
    let adopted = second
        .as_installation(InstallationId(1))
        .fetch_token(&common::client())
        .await
        .unwrap();
    secrets.push(adopted.token.expose_secret().to_owned());
    let two = stack(first.as_installation(InstallationId(2)));
    send(&two, get("/installation/repositories")).await.unwrap();
    // Two replicas minting a token nobody stored yet (installation 2, narrowed) at once: one holds the exchange
    // lock, the other finds it held and waits for its token.
    let (third, fourth) = (replica(), replica());
    let both = futures_util::future::join(
        third
            .as_installation(InstallationId(2))
            .repositories(["hello"])
            .fetch_token(&common::client()),
        fourth
            .as_installation(InstallationId(2))
            .repositories(["hello"])
            .fetch_token(&common::client()),
    )
    .await;
    let (a, b) = (both.0.unwrap(), both.1.unwrap());
    assert_eq!(a.token.expose_secret(), b.token.expose_secret());
    secrets.push(a.token.expose_secret().to_owned());
    // The store down: its calls fail.
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let three = first.as_installation(InstallationId(1));
    secrets.push(
        three
            .refresh(&common::client())
            .await
            .unwrap()
            .token
            .expose_secret()
            .to_owned(),
    );
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    // A short-lived token refreshed ahead of expiry.
    github.set_installation_token_ttl(std::time::Duration::from_secs(60));
    // Refreshed from half its life: a new App (no store), its token minted now.
    let short = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints.clone())
        .as_installation(InstallationId(1));
    let short_svc = stack(short.clone());
    send(&short_svc, get("/installation/repositories"))
        .await
        .unwrap();
    secrets.push(
        short
            .cached_token()
            .unwrap()
            .token
            .expose_secret()
            .to_owned(),
    );
    tokio::time::sleep(std::time::Duration::from_secs(35)).await;
    send(&short_svc, get("/installation/repositories"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    secrets.push(
        short
            .cached_token()
            .unwrap()
            .token
            .expose_secret()
            .to_owned(),
    );

    let snapshot = snapshotter.snapshot().into_vec();
    let names: HashSet<String> = snapshot
        .iter()
        .map(|(key, ..)| key.key().name().to_owned())
        .collect();
    for family in [
        "github_auth_exchanges_started_total",
        "github_auth_exchanges_finished_total",
        "github_auth_exchange_duration_seconds",
        "github_auth_requests_waited_total",
        "github_auth_request_wait_seconds",
        "github_auth_cache_hits_total",
        "github_auth_cache_misses_total",
        "github_auth_cache_refreshes_ahead_total",
        "github_auth_cache_evictions_total",
        "github_auth_cache_entries",
        "github_auth_replays_total",
        "github_auth_store_calls_total",
        "github_auth_store_failures_total",
        "github_auth_store_adopted_total",
        "github_auth_store_lock_contention_total",
        "github_auth_backoffs_total",
    ] {
        assert!(names.contains(family), "{family} not in {names:?}");
    }
    let host = endpoints
        .api_base()
        .parse::<http::Uri>()
        .unwrap()
        .host()
        .unwrap()
        .to_owned();
    let vocabulary: HashSet<&str> = [
        "installation",
        "jwt",
        "user",
        "ok",
        "refused",
        "error",
        "401",
        "403",
        "lock",
        "load",
        "save",
        "unlock",
        "changed",
        "signer",
    ]
    .into_iter()
    .collect();
    for (key, ..) in &snapshot {
        assert!(key.key().name().starts_with("github_auth_"), "{key:?}");
        for label in key.key().labels() {
            assert!(
                ["kind", "outcome", "host", "cache", "op", "status"].contains(&label.key()),
                "{key:?}"
            );
            let value = label.value();
            let known = vocabulary.contains(value)
                || value == host
                || (label.key() == "kind"
                    && value.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(known, "label {}={value} of {key:?}", label.key());
            for secret in &secrets {
                assert!(!value.contains(secret.as_str()), "a secret in {key:?}");
            }
        }
    }
}

/// A side request that runs in the caller's own task (here the App's installation listing)
/// writes none of the exchange's fields into the caller's span: `status`, `host` and the
/// others are common names in an application's own request spans.
#[tokio::test(flavor = "current_thread")]
async fn a_side_request_in_the_callers_task_leaves_the_callers_span_alone() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_span_events(FmtSpan::CLOSE),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let github = Emulator::builder().start().await.unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let caller = tracing::info_span!(
        "caller",
        status = tracing::field::Empty,
        host = tracing::field::Empty,
        kind = tracing::field::Empty,
        tries = tracing::field::Empty,
        request_id = tracing::field::Empty,
    );
    let listed = app
        .installations(&common::client())
        .instrument(caller)
        .await
        .unwrap();
    assert!(!listed.is_empty());
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closed = text
        .lines()
        .find(|line| {
            line.contains("caller") && line.contains("close") && !line.contains("github_auth.")
        })
        .expect("the caller span's close line");
    for field in ["status=", "host=", "kind=", "tries=", "request_id="] {
        assert!(!closed.contains(field), "{field} written into: {closed}");
    }
}
