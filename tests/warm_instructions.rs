//! Instructions per warm request, counted by valgrind's callgrind: a figure that does not move
//! with what else the machine is doing (criterion's times on a shared 2-core VM move by tens of
//! nanoseconds between runs).
//!
//! Run: `cargo bench -p integration-tests --bench warm_instructions` (needs `valgrind` on PATH).
//! It runs itself under callgrind once per stack with 0 and with 20,000 requests; the difference
//! divided by 20,000 is one request's instructions, its setup (key parsing, the first exchange)
//! subtracted. Same stacks and request as the criterion bench `warm_path`.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::process::Command;

use common::noop_github::{
    Body, bearer, four_set_request_headers, installation, noop, noop_rate_limited, request,
};
use futures_util::FutureExt;
use http::Request;
use tower::{Layer, Service, ServiceExt};

const REQUESTS: u64 = 20_000;

/// Each group starts with its bare stack (what the others are counted over), then the `x4`
/// stack (the header work the layers are compared with). The second group's no-op answers carry
/// GitHub's five `x-ratelimit-*` headers, which the layers record: the same answers for the
/// bare, the `x4` and the layers' stacks (4,999 left; and 99 left, where every answer is read).
const STACKS: [(&str, &str); 10] = [
    ("bare", "bare no-op service"),
    ("x4", "four `SetRequestHeader` (the same header work)"),
    ("token", "`TokenAuth`"),
    ("installation", "`AppInstallationAuth`, warm"),
    (
        "no_replay",
        "`AppInstallationAuth`, warm, `replay_unauthorized(false)`",
    ),
    (
        "bare_rl",
        "bare no-op service, answers with `x-ratelimit-*`",
    ),
    (
        "x4_rl",
        "four `SetRequestHeader`, answers with `x-ratelimit-*`",
    ),
    ("token_rl", "`TokenAuth`, answers with `x-ratelimit-*`"),
    (
        "installation_rl",
        "`AppInstallationAuth`, warm, answers with `x-ratelimit-*`",
    ),
    (
        "installation_low",
        "`AppInstallationAuth`, warm, answers with `x-ratelimit-*`, 99 left (each one read)",
    ),
];

fn run<S>(mut svc: S, n: u64)
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..n {
        let answer = svc
            .call(request())
            .now_or_never()
            .expect("completes at once");
        black_box(answer.expect("answered"));
    }
}

/// Sends `n` requests through `stack` (the child process under callgrind).
fn child(stack: &str, n: u64) {
    // `--features metrics`: a recorder installed, as a service exporting its metrics has one.
    #[cfg(feature = "metrics")]
    metrics_util::debugging::DebuggingRecorder::new()
        .install()
        .expect("the only recorder");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _guard = rt.enter();
    let mut value = bearer();
    value.set_sensitive(true);
    match stack {
        "bare" => run(noop(), n),
        "x4" => run(four_set_request_headers(value, noop()), n),
        "token" => run(
            tower_github_auth::TokenAuth::new("ghp_0123456789abcdefghijklmnopqrstuvwxyz")
                .expect("a token")
                .layer(noop()),
            n,
        ),
        "installation" | "no_replay" => {
            let layer = installation().replay_unauthorized(stack == "installation");
            let svc = layer.layer(noop());
            rt.block_on(svc.clone().oneshot(request()))
                .expect("the first request mints the token");
            run(svc, n);
        }
        "bare_rl" => run(noop_rate_limited("4999"), n),
        "x4_rl" => run(
            four_set_request_headers(value, noop_rate_limited("4999")),
            n,
        ),
        "token_rl" => run(
            tower_github_auth::TokenAuth::new("ghp_0123456789abcdefghijklmnopqrstuvwxyz")
                .expect("a token")
                .layer(noop_rate_limited("4999")),
            n,
        ),
        "installation_rl" | "installation_low" => {
            let left = if stack == "installation_low" {
                "99"
            } else {
                "4999"
            };
            let svc = installation().layer(noop_rate_limited(left));
            rt.block_on(svc.clone().oneshot(request()))
                .expect("the first request mints the token");
            run(svc, n);
        }
        other => panic!("no stack {other}"),
    }
}

/// Instructions callgrind counted for `stack` with `n` requests.
fn count(stack: &str, n: u64) -> Option<u64> {
    let me = std::env::current_exe().ok()?;
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(me)
        .args(["--child", stack, &n.to_string()])
        .output()
        .ok()?;
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, stack, n] = args.as_slice()
        && flag == "--child"
    {
        child(stack, n.parse().expect("a count"));
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!(
            "warm_instructions: valgrind is not on PATH; install it (apt-get install valgrind)"
        );
        return;
    }
    println!("| stack | instructions per request | over bare |");
    println!("| --- | ---: | ---: |");
    let mut bare = None;
    let mut header_work = None;
    for (stack, name) in STACKS {
        let (Some(zero), Some(many)) = (count(stack, 0), count(stack, REQUESTS)) else {
            println!("| {name} | callgrind failed | |");
            continue;
        };
        let per = many.saturating_sub(zero) / REQUESTS;
        if stack.starts_with("bare") {
            bare = Some(per);
            header_work = None;
        }
        let base = *bare.get_or_insert(per);
        let over = per.saturating_sub(base);
        let is_x4 = stack.starts_with("x4");
        if is_x4 {
            header_work = Some(over);
        }
        let ratio = match header_work {
            Some(work) if !is_x4 && work > 0 => {
                format!(" ({:.2}× the header work)", over as f64 / work as f64)
            }
            _ => String::new(),
        };
        println!("| {name} | {per} | {over}{ratio} |");
    }
}
