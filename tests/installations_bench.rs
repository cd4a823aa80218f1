//! Many installations, little memory: what one cached installation token costs in the App's
//! shared `TokenCache`, and what a warm request costs when the cache holds 1, 1,000 or 100,000
//! installations.
//!
//! The emulator runs with 100,000 generated installations in a runtime of its own (its threads,
//! its memory). The cache is filled on this thread by minting a token for each installation
//! through the emulator (64 at a time, within a time limit). Memory is the heap the cache gives
//! back when it is dropped (`allocation-counter`: what is freed counts whatever thread
//! allocated it), so the emulator's memory and the HTTP client's are not in it; per cached
//! installation is that minus an empty cache of the same capacity, divided by the count.
//!
//! Warm requests go through our layer over a no-network inner service (an answer at once), so
//! that only the layer's cost is measured: a stack kept for one installation, and a stack built
//! per request for a random cached installation (`app.as_installation(id).layer(..)`, as a
//! backend acting on a webhook does); and the inner service alone, measured at the same point
//! (the allocator's state after a fill moves it by tens of nanoseconds). Medians over batches of
//! 1,000 requests, request construction included.
//!
//! `cargo bench -p integration-tests --bench installations` (`INSTALLATIONS=N` fills at most N).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use github_auth_emulator::{
    Emulator, EmulatorHandle, FIRST_GENERATED_INSTALLATION_ID as FIRST, Installation,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, Service};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey, TokenCache};

type Body = Full<Bytes>;
type HttpClient = Client<HttpConnector, Body>;

/// Cached installations measured.
const SIZES: [u64; 3] = [1, 1_000, 100_000];
/// Exchanges in flight at once while filling.
const CONCURRENCY: u64 = 64;
/// The longest a fill may take.
const FILL_LIMIT: Duration = Duration::from_secs(180);
/// The installation with many repositories, for narrowed tokens.
const WIDE: u64 = 7;
/// Requests per timed batch, and batches per figure.
const BATCH: u32 = 1_000;
const BATCHES: usize = 301;

/// The heap `drop(value)` gives back, in bytes.
fn heap_of<T>(value: T) -> u64 {
    heap_and_blocks_of(value).0
}

/// The heap `drop(value)` gives back: bytes, and allocations (each costs the allocator some
/// bytes more than it asked for).
fn heap_and_blocks_of<T>(value: T) -> (u64, u64) {
    let freed = allocation_counter::measure(|| drop(value));
    (
        freed.bytes_current.unsigned_abs(),
        freed.count_current.unsigned_abs(),
    )
}

fn app(github: &EmulatorHandle, cache: &TokenCache) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).expect("the test key"),
    )
    .endpoints(Endpoints::single(&github.base_url()).expect("the emulator's URL"))
    .token_cache(cache.clone())
}

/// Mints a token for installations `FIRST..FIRST + count`, `CONCURRENCY` at a time, within
/// `FILL_LIMIT`.
async fn fill(app: &AppAuth, client: &HttpClient, count: u64) {
    let next = Rc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers = (0..CONCURRENCY.min(count)).map(|_| {
        let next = Rc::clone(&next);
        async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                app.as_installation(InstallationId(FIRST + n))
                    .fetch_token(client)
                    .await
                    .expect("a token from the emulator");
            }
        }
    });
    let all = futures_util::future::join_all(workers);
    let finished = tokio::time::timeout(FILL_LIMIT, all).await.is_ok();
    assert!(
        finished,
        "filling the cache with {count} installations did not finish within {FILL_LIMIT:?} \
         ({} minted): run with INSTALLATIONS=<fewer>",
        next.load(Ordering::Relaxed).min(count)
    );
    eprintln!(
        "  filled {count} installations in {:.1?}",
        started.elapsed()
    );
}

/// The inner service of the warm measurements: an empty 200 at once, no network.
fn noop() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<Body>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: Request<Body>| std::future::ready(Ok(Response::new(Body::default()))))
}

/// Calls `call` `BATCH` times per batch; the median time per call, in nanoseconds.
fn median_ns(mut call: impl FnMut()) -> f64 {
    for _ in 0..BATCH {
        call(); // warm-up
    }
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..BATCH {
                call();
            }
            started.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

/// Answered at once: a warm request never waits.
fn now<F: Future>(future: F) -> F::Output {
    future
        .now_or_never()
        .expect("a warm request completes at once")
}

struct Row {
    entries: u64,
    heap: u64,
    blocks: u64,
    empty: u64,
    empty_blocks: u64,
    bare_ns: f64,
    kept_ns: f64,
    same_ns: f64,
    random_ns: f64,
    /// Allocations of a request through a stack built for it.
    built: u64,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    github: &EmulatorHandle,
    client: &HttpClient,
    count: u64,
    capacity: NonZeroUsize,
) -> Row {
    let (empty, empty_blocks) = heap_and_blocks_of(TokenCache::new(capacity));
    let cache = TokenCache::new(capacity);
    let app = app(github, &cache);
    rt.block_on(fill(&app, client, count));
    assert_eq!(cache.len() as u64, count, "every installation is cached");

    let _runtime = rt.enter();
    let uri: Uri = format!("{}/repos/octo/one", github.base_url())
        .parse()
        .expect("a URI");
    let request = || {
        Request::get(uri.clone())
            .body(Body::default())
            .expect("a request")
    };
    // The inner service alone, in the same state of the heap.
    let mut bare = noop();
    let bare_ns = median_ns(|| {
        black_box(now(bare.call(request())).expect("answered"));
    });
    // One installation, its stack kept.
    let mut kept = app.as_installation(InstallationId(FIRST)).layer(noop());
    let kept_ns = median_ns(|| {
        black_box(now(kept.call(request())).expect("answered"));
    });
    // One installation, its stack built for each request.
    let same_ns = median_ns(|| {
        let mut svc = app.as_installation(InstallationId(FIRST)).layer(noop());
        black_box(now(svc.call(request())).expect("answered"));
    });
    let built = {
        let count = || {
            allocation_counter::measure(|| {
                let mut svc = app.as_installation(InstallationId(FIRST)).layer(noop());
                black_box(now(svc.call(request())).expect("answered"));
            })
            .count_total
        };
        count();
        count()
    };
    // A random cached installation per request, its stack built for the request.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let random_ns = median_ns(|| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let id = InstallationId(FIRST + seed % count);
        let mut svc = app.as_installation(id).layer(noop());
        black_box(now(svc.call(request())).expect("answered"));
    });
    drop((kept, app));
    let (heap, blocks) = heap_and_blocks_of(cache);
    Row {
        entries: count,
        heap,
        blocks,
        empty,
        empty_blocks,
        bare_ns,
        kept_ns,
        same_ns,
        random_ns,
        built,
    }
}

/// Heap per installation of an App and its cache holding `count` installations found by their
/// organization (`app.installation_for_organization`): the token, and the id remembered.
fn by_organization(
    rt: &tokio::runtime::Runtime,
    github: &EmulatorHandle,
    client: &HttpClient,
    count: u64,
) -> u64 {
    let capacity = NonZeroUsize::new(usize::try_from(count).expect("fits")).expect("not zero");
    let (cache, empty_cache) = (TokenCache::new(capacity), TokenCache::new(capacity));
    let (app, empty_app) = (app(github, &cache), app(github, &empty_cache));
    rt.block_on(async {
        for n in 0..count {
            app.installation_for_organization(&format!("org-{}", FIRST + n))
                .fetch_token(client)
                .await
                .expect("a token");
        }
    });
    let empty = heap_of((empty_app, empty_cache));
    (heap_of((app, cache)) - empty) / count
}

/// The heap of a cache holding one token of installation `WIDE`, narrowed to `repositories`
/// of its repositories (none: not narrowed).
fn narrowed(
    rt: &tokio::runtime::Runtime,
    github: &EmulatorHandle,
    client: &HttpClient,
    repositories: usize,
) -> u64 {
    let capacity = NonZeroUsize::new(16).expect("not zero");
    let empty = heap_of(TokenCache::new(capacity));
    let cache = TokenCache::new(capacity);
    let app = app(github, &cache);
    let installation = app
        .as_installation(InstallationId(WIDE))
        .repositories((1..=repositories).map(|n| format!("repo-{n}")));
    rt.block_on(installation.fetch_token(client))
        .expect("a narrowed token");
    drop((installation, app));
    heap_of(cache) - empty
}

fn main() {
    let most: u64 = std::env::var("INSTALLATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SIZES[2]);
    let sizes: Vec<u64> = SIZES.iter().map(|&n| n.min(most)).collect();
    // The emulator on threads of its own: its memory and work stay off this thread.
    let emulator_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let github = emulator_rt
        .block_on(
            Emulator::builder()
                .installation(Installation::new(WIDE, "wide").generated_repositories(100))
                .generated_installations(most)
                .start(),
        )
        .expect("the emulator");
    // Our client, its tasks and the cache: this thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client: HttpClient = {
        let _runtime = rt.enter();
        Client::builder(TokioExecutor::new()).build_http()
    };
    let capacity = NonZeroUsize::new(usize::try_from(most).expect("fits"))
        .expect("INSTALLATIONS > 0")
        .max(TokenCache::DEFAULT_CAPACITY);

    let rows: Vec<Row> = sizes
        .iter()
        .map(|&count| measure(&rt, &github, &client, count, capacity))
        .collect();
    let wide: Vec<(usize, u64)> = [0, 1, 10, 100]
        .into_iter()
        .map(|n| (n, narrowed(&rt, &github, &client, n)))
        .collect();
    let organizations = by_organization(&rt, &github, &client, 1_000.min(most));
    let app_alone = heap_of(app(&github, &TokenCache::new(NonZeroUsize::MIN)));
    let default_app = heap_of(AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).expect("the test key"),
    ));

    println!(
        "\nTokenCache capacity {capacity}; the emulator's default token answer (permissions, repository_selection)\n"
    );
    println!(
        "{:>10} {:>12} {:>25} | {:>12} {:>14} {:>19} {:>19}",
        "", "", "", "inner", "warm request:", "stack per request,", "stack per request,"
    );
    println!(
        "{:>10} {:>12} {:>25} | {:>12} {:>14} {:>19} {:>19}",
        "cached",
        "cache heap",
        "per cached installation",
        "service alone",
        "kept stack",
        "same installation",
        "random installation"
    );
    for row in &rows {
        let per = (row.heap.saturating_sub(row.empty)) as f64 / row.entries as f64;
        let blocks = (row.blocks.saturating_sub(row.empty_blocks)) as f64 / row.entries as f64;
        println!(
            "{:>10} {:>8} KiB {:>7.0} B in {:>4.1} blocks | {:>9.0} ns {:>11.0} ns {:>16.0} ns {:>16.0} ns",
            row.entries,
            row.heap / 1024,
            per,
            blocks,
            row.bare_ns,
            row.kept_ns,
            row.same_ns,
            row.random_ns,
        );
    }
    println!(
        "\nan empty cache of this capacity: {} KiB; times include building the request",
        rows[0].empty / 1024
    );
    println!(
        "a request through a stack built for it allocates {} times (2: the request's header map)",
        rows[0].built
    );
    println!(
        "an AppAuth with a 1-entry cache: {app_alone} B; AppAuth::new (its default cache): {default_app} B"
    );
    println!(
        "an installation found by its organization (token, and its id remembered): {organizations} B"
    );
    println!("\none token of an installation with 100 repositories, narrowed to N of them:");
    for (n, heap) in wide {
        println!("  {n:>3} repositories: {heap} B");
    }
    drop(rt);
    drop(github);
}
