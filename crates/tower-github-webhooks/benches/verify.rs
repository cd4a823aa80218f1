//! Verification throughput: a delivery through `VerifyWebhook` (headers, body read, HMAC-SHA256,
//! payload's `installation`/`action`, replay mark in memory) against a bare
//! `aws_lc_rs::hmac::sign` over the same bytes, the limit the layer cannot beat.
//!
//! `cargo bench -p tower-github-webhooks --bench verify`

use std::{
    convert::Infallible,
    hint::black_box,
    sync::atomic::{AtomicU64, Ordering},
};

use aws_lc_rs::hmac;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};
use tower_github_webhooks::{Secrets, WebhookLayer};

const SECRET: &str = "bench webhook secret";

/// A JSON payload of exactly `len` bytes, shaped as GitHub's (an object with `action` and
/// `installation`, then the rest).
fn payload(len: usize) -> Bytes {
    let mut body = br#"{"action":"opened","installation":{"id":42},"issue":{"body":""#.to_vec();
    body.resize(len - 3, b'x');
    body.extend_from_slice(b"\"}}");
    Bytes::from(body)
}

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let layer = WebhookLayer::new(SECRET);
    let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let ids = AtomicU64::new(0);

    let mut group = c.benchmark_group("verify");
    for (name, len) in [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let body = payload(len);
        let signature = Secrets::new(SECRET).sign(&body);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("hmac_sha256", name), &body, |b, body| {
            b.iter(|| black_box(hmac::sign(&key, black_box(body))));
        });
        group.bench_with_input(BenchmarkId::new("layer", name), &body, |b, body| {
            b.to_async(&runtime).iter(|| {
                // A new delivery each time: the replay mark is set, never a duplicate.
                let id = ids.fetch_add(1, Ordering::Relaxed).to_string();
                let request = Request::post("/webhook")
                    .header("x-github-event", "issues")
                    .header("x-github-delivery", id)
                    .header("x-hub-signature-256", &signature)
                    .header(http::header::CONTENT_LENGTH, body.len())
                    .body(Full::new(body.clone()))
                    .expect("request");
                let service = service.clone();
                async move {
                    let response = service.oneshot(request).await.expect("infallible");
                    assert_eq!(response.status(), StatusCode::OK);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
