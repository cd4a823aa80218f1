//! What a request costs through the layers.
//!
//! - `warm/*`: one request through a no-op inner service: bare; tower-http's `SetRequestHeader`
//!   inserting a fixed `Authorization`; four `SetRequestHeader` layers doing the same header work
//!   as ours (`User-Agent`, `Accept`, `X-GitHub-Api-Version` where absent, then `Authorization`);
//!   `TokenAuth`; a warm `AppInstallationAuth` (token cached), with and without the copy kept
//!   for replaying a request after a 401. The `Authorization` values are built at run time, as
//!   a real token is (a `'static` value would skip a reference count on every copy).
//! - `cold_burst/10000`: 10,000 concurrent requests on an empty cache, over an inner service whose
//!   token endpoint answers after 5 ms; prints how many exchanges were made.
//!
//! Run: `cargo bench -p integration-tests --bench warm_path`.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::noop_github::{Body, bearer, four_set_request_headers, github, installation, request};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::header::AUTHORIZATION;
use http::{Request, StatusCode};
use tower::{Layer, Service, ServiceExt};
use tower_github_auth::TokenAuth;
use tower_http::set_header::SetRequestHeaderLayer;

fn call_now<S>(svc: &mut S) -> S::Response
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    svc.call(request())
        .now_or_never()
        .expect("a warm request completes at once")
        .unwrap()
}

fn warm(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let noop = github(Arc::new(AtomicUsize::new(0)), Duration::ZERO);

    let mut group = c.benchmark_group("warm");
    let mut bare = noop.clone();
    group.bench_function("bare", |b| b.iter(|| black_box(call_now(&mut bare))));

    let mut value = bearer();
    value.set_sensitive(true);
    let mut set_header =
        SetRequestHeaderLayer::overriding(AUTHORIZATION, value.clone()).layer(noop.clone());
    group.bench_function("set_request_header", |b| {
        b.iter(|| black_box(call_now(&mut set_header)));
    });

    // The same work as this crate's layers: GitHub's three required headers plus the credential.
    let mut four = four_set_request_headers(value.clone(), noop.clone());
    group.bench_function("set_request_header_x4", |b| {
        b.iter(|| black_box(call_now(&mut four)));
    });

    let mut token = TokenAuth::new("ghp_0123456789abcdefghijklmnopqrstuvwxyz")
        .unwrap()
        .layer(noop.clone());
    group.bench_function("token_auth", |b| b.iter(|| black_box(call_now(&mut token))));

    let mut app_installation = installation().layer(noop.clone());
    // Warm the cache once (the exchange runs in a task on the runtime).
    rt.block_on(app_installation.clone().oneshot(request()))
        .unwrap();
    group.bench_function("app_installation_auth", |b| {
        b.iter(|| black_box(call_now(&mut app_installation)));
    });

    let mut no_replay = installation()
        .replay_unauthorized(false)
        .layer(noop.clone());
    rt.block_on(no_replay.clone().oneshot(request())).unwrap();
    group.bench_function("app_installation_auth_no_replay", |b| {
        b.iter(|| black_box(call_now(&mut no_replay)));
    });
    group.finish();
}

fn cold_burst(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("cold_burst");
    group.sample_size(10);
    let exchanges = Arc::new(AtomicUsize::new(0));
    let mut bursts = 0;
    group.bench_function("10000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                bursts += 1;
                let svc =
                    installation().layer(github(Arc::clone(&exchanges), Duration::from_millis(5)));
                let started = Instant::now();
                rt.block_on(async {
                    let calls = (0..10_000).map(|_| {
                        let svc = svc.clone();
                        tokio::spawn(async move { svc.oneshot(request()).await.unwrap() })
                    });
                    for answer in futures_util::future::join_all(calls).await {
                        assert_eq!(answer.unwrap().status(), StatusCode::OK);
                    }
                });
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();
    println!(
        "cold_burst/10000: {} exchanges for {} bursts of 10,000 concurrent requests",
        exchanges.load(Ordering::Relaxed),
        bursts
    );
}

criterion_group!(benches, warm, cold_burst);
criterion_main!(benches);
