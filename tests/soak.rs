//! Soak: installation tokens under a minute of load, with injected faults. It prints figures
//! and asserts nothing: read the table.
//!
//! An emulator on loopback has 50 installations (`org-1` ... `org-50`, each its own
//! organization with one repository `repo`) and mints 5-second installation tokens. 200 callers
//! (Tokio tasks on a multi-thread runtime) loop for 60 s, each sending
//! `GET /repos/org-{n}/repo` through `app.as_installation(InstallationId(n))` over one
//! hyper-util client, `n` drawn at random for each request. One `AppAuth` is shared by all and
//! a stack is built per request, as a backend does with the installation id of a webhook.
//!
//! Random, not round robin: callers that go round robin fall into step behind the first
//! exchange they all wait on (after a fault window, say) and then move from installation to
//! installation together, one installation at a time, each visited too rarely for its 5-second
//! token to survive until the next visit: every request then waits on an exchange, a convoy
//! made by the load generator, not by the layer.
//!
//! Time line, in seconds from the start of the load:
//! - 0-5, warm-up: the cold start (every caller's first request waits on the first exchange);
//! - 15-20: every exchange is answered 500 (`fail_next_exchanges`);
//! - 30-40: every exchange hangs 5 s, past the layer's 2 s `exchange_timeout`;
//! - the 10 s after each window, recovery: the backoff the layer keeps after failed exchanges
//!   (1 s, doubling) runs out there;
//! - the rest (5-15 s and 50-60 s), steady: the goal is no error and no request waiting on an
//!   exchange.
//!
//! Run: `cargo bench -p integration-tests --bench soak` (about 65 s; stops by itself).
//! `SOAK_TIMELINE=1` adds a line per second; `SOAK_SECS=300` runs longer (memory).

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::HttpClient;
use github_auth_emulator::{Emulator, EmulatorHandle, Installation, TEST_APP_PRIVATE_KEY_PKCS1};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{AppAuth, AppId, Endpoints, Error, Exchange, InstallationId, PrivateKey};

const INSTALLATIONS: u64 = 50;
const CALLERS: u64 = 200;
/// How long the load runs: 60 s, or `SOAK_SECS` seconds (at least 60) for a longer look at
/// memory; the fault windows stay where they are.
fn run() -> Duration {
    static RUN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *RUN.get_or_init(|| {
        let secs = std::env::var("SOAK_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(60);
        Duration::from_secs(secs.max(60))
    })
}
const TOKEN_TTL: Duration = Duration::from_secs(5);
/// How long the emulator holds every exchange before answering, outside the hang window: about
/// what github.com takes to mint a token. `GET /repos/...` itself is answered at once.
const EXCHANGE_LATENCY: Duration = Duration::from_millis(250);
/// The layer's deadline for an exchange (the default is 10 s; shorter keeps the run short).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long exchanges hang in the hang window: past [`EXCHANGE_TIMEOUT`].
const HANG: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_secs(5);
/// How long after a window its consequences (backoff, a hung exchange running out) are expected.
const RECOVERY: Duration = Duration::from_secs(10);
/// A caller that got an error waits this long before its next request, as a backend would
/// rather than spin on instant `Error::Backoff` answers.
const ERROR_PAUSE: Duration = Duration::from_millis(100);
/// "Waited on an exchange": the request spent at least this long in the auth layer, from the
/// call to the moment it reached the client below it (a [`Probe`] there reads the instant the
/// caller stamped on it), or to the moment the layer answered an error. Not the whole latency:
/// on this shared machine a request's round trip alone takes tens of milliseconds (queueing
/// behind the 199 other callers), so no threshold on it tells a wait from a slow answer. In the
/// layer, a request served from the cache (refreshed in the background) is handed down within
/// the poll that called it: microseconds, up to about 20 ms when the machine takes the thread
/// away (the steady line shows it). One that waits on an exchange stays there until the
/// exchange is answered, up to [`EXCHANGE_LATENCY`] (250 ms). The threshold sits between; a
/// request that joined an exchange in its last 50 ms is missed.
const WAITED: Duration = Duration::from_millis(50);

/// An injected fault: from `from` to `to` after the start of the load.
struct Window {
    name: &'static str,
    from: Duration,
    to: Duration,
}

const WINDOWS: [Window; 2] = [
    Window {
        name: "5xx",
        from: Duration::from_secs(15),
        to: Duration::from_secs(20),
    },
    Window {
        name: "hang",
        from: Duration::from_secs(30),
        to: Duration::from_secs(40),
    },
];

/// Where a request falls on the time line (by the time it was sent).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    WarmUp,
    Steady,
    Fault,
    Recovery,
}

const PHASES: [Phase; 4] = [Phase::WarmUp, Phase::Steady, Phase::Fault, Phase::Recovery];

impl Phase {
    fn at(at: Duration) -> Self {
        if at < WARM_UP {
            Self::WarmUp
        } else if WINDOWS.iter().any(|w| w.from <= at && at < w.to) {
            Self::Fault
        } else if recovering_from(at).is_some() {
            Self::Recovery
        } else {
            Self::Steady
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::WarmUp => "warm-up",
            Self::Steady => "steady",
            Self::Fault => "in fault",
            Self::Recovery => "recovery",
        }
    }
}

/// The window whose recovery period `at` falls in.
fn recovering_from(at: Duration) -> Option<usize> {
    WINDOWS
        .iter()
        .position(|w| w.to <= at && at < w.to + RECOVERY)
}

/// What a request came to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ok,
    Timeout,
    Backoff,
    GitHub,
    /// Any other `Error` variant, or the answer's body could not be read.
    Other,
    /// An answer other than 200 (a 401 that the replay did not cure, a 404, ...).
    Status,
}

const ERROR_KINDS: [Kind; 5] = [
    Kind::Timeout,
    Kind::Backoff,
    Kind::GitHub,
    Kind::Other,
    Kind::Status,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "Error::Timeout",
            Self::Backoff => "Error::Backoff",
            Self::GitHub => "Error::GitHub",
            Self::Other => "other error",
            Self::Status => "answer not 200",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whether an error comes from a fault this bench injected: an exchange timed out (only the
/// hang window makes one), the emulator's injected 500, or a backoff after one of those.
fn injected(e: &Error) -> bool {
    match e {
        Error::Timeout {
            exchange: Exchange::InstallationToken,
            ..
        } => true,
        Error::GitHub {
            status, message, ..
        } => *status == StatusCode::INTERNAL_SERVER_ERROR && message == "emulated server error",
        Error::Backoff { last, .. } => injected(last),
        _ => false,
    }
}

fn kind_of(e: &Error) -> Kind {
    match e {
        Error::Timeout { .. } => Kind::Timeout,
        Error::Backoff { .. } => Kind::Backoff,
        Error::GitHub { .. } => Kind::GitHub,
        _ => Kind::Other,
    }
}

/// A latency histogram in microseconds, lock-free, allocated once: values below 256 µs exactly,
/// above in 128 steps per power of two (under 0.8 % error), up to 2^40 µs.
struct Histogram {
    buckets: Vec<AtomicU64>,
}

const LINEAR: u64 = 256;
const STEPS: u64 = 128;
const TOP_BIT: u32 = 40;

impl Histogram {
    fn new() -> Self {
        let len = LINEAR + u64::from(TOP_BIT - 8 + 1) * STEPS;
        Self {
            buckets: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(micros: u64) -> usize {
        let v = micros.min((1 << TOP_BIT) - 1);
        if v < LINEAR {
            return v as usize;
        }
        let exponent = v.ilog2(); // at least 8
        let mantissa = v >> (exponent - 7); // 128 ..= 255
        (LINEAR + u64::from(exponent - 8) * STEPS + (mantissa - STEPS)) as usize
    }

    /// The largest value of bucket `index`.
    fn upper(index: usize) -> u64 {
        let index = index as u64;
        if index < LINEAR {
            return index;
        }
        let exponent = 8 + (index - LINEAR) / STEPS;
        let mantissa = STEPS + (index - LINEAR) % STEPS;
        ((mantissa + 1) << (exponent - 7)) - 1
    }

    fn record(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket; zero when empty.
    fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Duration::from_micros(Self::upper(index));
            }
        }
        Duration::ZERO
    }

    /// How many values are at least `d` (to the bucket's precision).
    fn at_least(&self, d: Duration) -> u64 {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::index(micros)..]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    fn max(&self) -> Duration {
        self.buckets
            .iter()
            .rposition(|b| b.load(Ordering::Relaxed) > 0)
            .map_or(Duration::ZERO, |i| Duration::from_micros(Self::upper(i)))
    }
}

fn counters<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// Samples and per-second counts: one per second of the run, and one for its end.
fn seconds() -> usize {
    run().as_secs() as usize + 1
}

fn per_second() -> Vec<AtomicU64> {
    (0..seconds()).map(|_| AtomicU64::new(0)).collect()
}

/// Everything the callers record, shared. Allocated before the load, so that it does not grow.
struct Stats {
    /// The start of the load.
    start: Instant,
    /// Requests by phase.
    requests: [AtomicU64; 4],
    /// Requests by phase and [`Kind`].
    outcomes: [[AtomicU64; 6]; 4],
    /// Errors by phase that do not come from an injected fault.
    not_injected: [AtomicU64; 4],
    /// Requests that waited on an exchange ([`WAITED`]), by phase.
    waited: [AtomicU64; 4],
    /// Errors and waits by second of the run.
    errors_by_second: Vec<AtomicU64>,
    waits_by_second: Vec<AtomicU64>,
    /// Requests, and the slowest one (µs), by second of the run.
    requests_by_second: Vec<AtomicU64>,
    slowest_by_second: Vec<AtomicU64>,
    /// The latest error in each window's recovery, in ms from the start.
    last_recovery_error_ms: [AtomicU64; 2],
    /// Latency of the requests answered 200: all of them, and in the steady phase.
    latency: Histogram,
    latency_steady: Histogram,
    /// Time in the auth layer of the requests that reached the client: all, and steady.
    in_layer: Histogram,
    in_layer_steady: Histogram,
    /// The first few errors that no injected fault explains, as text.
    unexplained: Mutex<Vec<String>>,
}

impl Stats {
    fn new(start: Instant) -> Self {
        Self {
            start,
            requests: counters(),
            outcomes: std::array::from_fn(|_| counters()),
            not_injected: counters(),
            waited: counters(),
            errors_by_second: per_second(),
            waits_by_second: per_second(),
            requests_by_second: per_second(),
            slowest_by_second: per_second(),
            last_recovery_error_ms: counters(),
            latency: Histogram::new(),
            latency_steady: Histogram::new(),
            in_layer: Histogram::new(),
            in_layer_steady: Histogram::new(),
            unexplained: Mutex::new(Vec::with_capacity(8)),
        }
    }

    /// One request: sent `at` after the start, answered after `took`; `error` when the service
    /// failed, `detail` for what else went wrong (status, body).
    fn record(
        &self,
        at: Duration,
        took: Duration,
        kind: Kind,
        error: Option<&Error>,
        detail: Option<String>,
    ) {
        let phase = Phase::at(at);
        let p = phase as usize;
        let second = (at.as_secs() as usize).min(seconds() - 1);
        self.requests[p].fetch_add(1, Ordering::Relaxed);
        self.requests_by_second[second].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.slowest_by_second[second].fetch_max(micros, Ordering::Relaxed);
        self.outcomes[p][kind.index()].fetch_add(1, Ordering::Relaxed);
        // A request the layer failed never reached the probe: its whole latency is in the layer.
        if error.is_some_and(|e| !e.is_inner()) && took >= WAITED {
            self.waited(p, second);
        }
        if kind == Kind::Ok {
            self.latency.record(took);
            if phase == Phase::Steady {
                self.latency_steady.record(took);
            }
            return;
        }
        self.errors_by_second[second].fetch_add(1, Ordering::Relaxed);
        if let Some(window) = recovering_from(at) {
            let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
            self.last_recovery_error_ms[window].fetch_max(ms, Ordering::Relaxed);
        }
        if !error.is_some_and(injected) {
            self.not_injected[p].fetch_add(1, Ordering::Relaxed);
            let mut unexplained = self
                .unexplained
                .lock()
                .expect("no caller panics while holding the list");
            if unexplained.len() < unexplained.capacity() {
                let text = error
                    .map(ToString::to_string)
                    .or(detail)
                    .unwrap_or_else(|| kind.name().to_owned());
                unexplained.push(format!("at {:.3} s: {text}", at.as_secs_f64()));
            }
        }
    }

    fn waited(&self, phase: usize, second: usize) {
        self.waited[phase].fetch_add(1, Ordering::Relaxed);
        self.waits_by_second[second].fetch_add(1, Ordering::Relaxed);
    }

    /// A request stamped `sent` leaves the auth layer for the client.
    fn reached_client(&self, sent: Instant) {
        let in_layer = sent.elapsed();
        let at = sent - self.start;
        let phase = Phase::at(at);
        self.in_layer.record(in_layer);
        if phase == Phase::Steady {
            self.in_layer_steady.record(in_layer);
        }
        if in_layer >= WAITED {
            let second = (at.as_secs() as usize).min(seconds() - 1);
            self.waited(phase as usize, second);
        }
    }

    fn total(counters: &[AtomicU64]) -> u64 {
        counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// The instant a caller sent a request, carried in the request's extensions through the
/// auth layer (which keeps them, replays included).
#[derive(Clone, Copy)]
struct Sent(Instant);

/// The client under the auth layer: the test client, noting when each caller's request
/// reaches it (exchanges, which carry no [`Sent`], pass unnoted).
#[derive(Clone)]
struct Probe {
    client: HttpClient,
    stats: Arc<Stats>,
}

impl tower::Service<Request<Full<Bytes>>> for Probe {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.client.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        if let Some(Sent(sent)) = request.extensions().get::<Sent>() {
            self.stats.reached_client(*sent);
        }
        self.client.call(request)
    }
}

/// What the callers share.
struct Load {
    app: AppAuth,
    client: Probe,
    stats: Arc<Stats>,
}

/// SplitMix64: a small, good enough generator of installation ids, seeded per caller.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One caller: requests back to back for [`run()`], each for an installation drawn at random.
async fn caller(load: Arc<Load>, seed: u64) {
    let mut random = seed;
    loop {
        let sent = Instant::now();
        let at = sent - load.stats.start;
        if at >= run() {
            return;
        }
        let id = splitmix64(&mut random) % INSTALLATIONS + 1;
        let svc = ServiceBuilder::new()
            .layer(load.app.as_installation(InstallationId(id)))
            .service(load.client.clone());
        let mut request = Request::get(format!("/repos/org-{id}/repo"))
            .body(Full::<Bytes>::default())
            .expect("a GET with a valid path");
        request.extensions_mut().insert(Sent(sent));
        let (kind, error, detail) = match svc.oneshot(request).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(_) if status == StatusCode::OK => (Kind::Ok, None, None),
                    Ok(body) => {
                        let body = body.to_bytes();
                        let start = String::from_utf8_lossy(&body[..body.len().min(120)]);
                        (Kind::Status, None, Some(format!("HTTP {status}: {start}")))
                    }
                    Err(e) => (Kind::Other, None, Some(format!("body: {e}"))),
                }
            }
            Err(e) => (kind_of(&e), Some(e), None),
        };
        load.stats
            .record(at, sent.elapsed(), kind, error.as_ref(), detail);
        if kind != Kind::Ok {
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
}

/// The process's resident set: `/proc/self/statm`'s second field (pages) times the page size.
fn rss_bytes(page: u64) -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

/// An entry of the auxiliary vector the kernel gives the process (`/proc/self/auxv`).
fn auxv(key: u64) -> Option<u64> {
    let word = |bytes: &[u8]| bytes.try_into().map(u64::from_ne_bytes).ok();
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    auxv.chunks_exact(16)
        .find(|pair| word(&pair[..8]) == Some(key))
        .and_then(|pair| word(&pair[8..]))
}

/// The page size (`AT_PAGESZ`); 4 KiB if it cannot be read.
fn page_size() -> u64 {
    auxv(6).unwrap_or(4096)
}

/// The CPU time the process has used (user + system), from `/proc/self/stat`, in clock ticks
/// of `AT_CLKTCK` per second.
fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces): state is field 3, utime 14.
            let rest = stat.rsplit_once(')')?.1;
            let mut fields = rest.split_whitespace().skip(11);
            let user = fields.next()?.parse::<u64>().ok()?;
            let system = fields.next()?.parse::<u64>().ok()?;
            Some(user + system)
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The seconds with a non-zero count, as ranges: `0, 15-22, 30-43`.
fn seconds_with(counts: &[AtomicU64]) -> String {
    let mut out = String::new();
    let mut run: Option<(usize, usize)> = None;
    let flush = |run: (usize, usize), out: &mut String| {
        let sep = if out.is_empty() { "" } else { ", " };
        if run.0 == run.1 {
            let _ = write!(out, "{sep}{}", run.0);
        } else {
            let _ = write!(out, "{sep}{}-{}", run.0, run.1);
        }
    };
    for (second, count) in counts.iter().enumerate() {
        if count.load(Ordering::Relaxed) == 0 {
            continue;
        }
        run = match run {
            Some((from, to)) if to + 1 == second => Some((from, second)),
            Some(done) => {
                flush(done, &mut out);
                Some((second, second))
            }
            None => Some((second, second)),
        };
    }
    if let Some(done) = run {
        flush(done, &mut out);
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// What the time line samples at each second of the run (index 0 is the start).
struct Samples {
    /// The emulator's installation-token exchanges so far.
    exchanges: Vec<u64>,
    /// The process's resident set, bytes.
    rss: Vec<u64>,
    /// The process's CPU time so far, clock ticks.
    cpu: Vec<u64>,
}

/// Applies the faults on time and samples each second.
async fn timeline(github: EmulatorHandle, start: Instant, page: u64) -> Samples {
    let mut samples = Samples {
        exchanges: Vec::with_capacity(seconds()),
        rss: Vec::with_capacity(seconds()),
        cpu: Vec::with_capacity(seconds()),
    };
    for second in 0..seconds() as u64 {
        tokio::time::sleep_until(start + Duration::from_secs(second)).await;
        let now = Duration::from_secs(second);
        if now == WINDOWS[0].from {
            github.fail_next_exchanges(u32::MAX);
        } else if now == WINDOWS[0].to {
            github.fail_next_exchanges(0);
        } else if now == WINDOWS[1].from {
            github.set_latency(HANG);
        } else if now == WINDOWS[1].to {
            github.set_latency(EXCHANGE_LATENCY);
        }
        samples
            .exchanges
            .push(github.counters().installation_token_exchanges);
        samples.rss.push(rss_bytes(page));
        samples.cpu.push(cpu_ticks());
    }
    samples
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(soak());
}

async fn soak() {
    let page = page_size();
    let mut builder = Emulator::builder()
        .installation_token_ttl(TOKEN_TTL)
        .latency(EXCHANGE_LATENCY);
    for id in 1..=INSTALLATIONS {
        builder =
            builder.installation(Installation::new(id, format!("org-{id}")).repository("repo"));
    }
    let github = builder.start().await.expect("the emulator starts");
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).expect("the test key parses");
    let app = AppAuth::new(AppId(1), key)
        .endpoints(Endpoints::single(&github.base_url()).expect("the emulator's URL"))
        .exchange_timeout(EXCHANGE_TIMEOUT);
    let rss_before = rss_bytes(page);

    let stats = Arc::new(Stats::new(Instant::now()));
    let load = Arc::new(Load {
        app,
        client: Probe {
            client: common::client(),
            stats: Arc::clone(&stats),
        },
        stats,
    });
    let sampler = tokio::spawn(timeline(github.clone(), load.stats.start, page));
    let callers: Vec<_> = (0..CALLERS)
        .map(|n| tokio::spawn(caller(Arc::clone(&load), n)))
        .collect();
    for caller in callers {
        caller.await.expect("a caller runs to the end");
    }
    let ran = load.stats.start.elapsed();
    let samples = sampler.await.expect("the sampler runs to the end");
    let rss_end = rss_bytes(page);
    let counters = github.counters();
    github.shutdown();

    report(&load, ran, &counters, &samples, rss_before, rss_end);
    if std::env::var_os("SOAK_TIMELINE").is_some() {
        print_timeline(&load.stats, &samples);
    }
}

fn report(
    load: &Load,
    ran: Duration,
    counters: &github_auth_emulator::Counters,
    samples: &Samples,
    rss_before: u64,
    rss_end: u64,
) {
    let exchanges_by_second = &samples.exchanges;
    let rss_by_second = &samples.rss;
    let stats = &load.stats;
    let run_secs = run().as_secs();
    let theoretical = INSTALLATIONS * run_secs / TOKEN_TTL.as_secs();
    let practical = theoretical * 2;
    let exchanges = counters.installation_token_exchanges;
    let requests = Stats::total(&stats.requests);
    let ratio = |n: u64, d: u64| n as f64 / d as f64;
    let load_of = |phase: Phase, kind: Kind| {
        stats.outcomes[phase as usize][kind.index()].load(Ordering::Relaxed)
    };

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\nsoak: {INSTALLATIONS} installations, {CALLERS} callers, {run_secs} s of load, tokens of {} s, \
         exchanges answered after {} ms, exchange_timeout {} s",
        TOKEN_TTL.as_secs(),
        EXCHANGE_LATENCY.as_millis(),
        EXCHANGE_TIMEOUT.as_secs()
    );
    let _ = writeln!(
        w,
        "faults: {}-{} s every exchange answered 500; {}-{} s every exchange hangs {} s; \
         recovery = {} s after each",
        WINDOWS[0].from.as_secs(),
        WINDOWS[0].to.as_secs(),
        WINDOWS[1].from.as_secs(),
        WINDOWS[1].to.as_secs(),
        HANG.as_secs(),
        RECOVERY.as_secs()
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "exchanges (emulator counter)            {exchanges:>9}");
    let _ = writeln!(
        w,
        "  theoretical minimum {INSTALLATIONS}x{run_secs}/{}           {theoretical:>9}   ratio {:.2}",
        TOKEN_TTL.as_secs(),
        ratio(exchanges, theoretical)
    );
    let _ = writeln!(
        w,
        "  refresh at half-life (x2)             {practical:>9}   ratio {:.2}",
        ratio(exchanges, practical)
    );
    let steady_seconds: Vec<usize> = (0..seconds() - 1)
        .filter(|&s| {
            let from = Duration::from_secs(s as u64);
            Phase::at(from) == Phase::Steady
                && Phase::at(from + Duration::from_millis(999)) == Phase::Steady
        })
        .collect();
    let steady_exchanges: u64 = steady_seconds
        .iter()
        .map(|&s| exchanges_by_second[s + 1] - exchanges_by_second[s])
        .sum();
    let _ = writeln!(
        w,
        "  per second in steady seconds          {:>9.1}   (half-life refresh: {:.1}/s)",
        ratio(steady_exchanges, steady_seconds.len() as u64),
        ratio(practical, run_secs)
    );
    let _ = writeln!(
        w,
        "  tokens minted                         {:>9}",
        counters.installation_tokens_minted
    );
    let _ = writeln!(
        w,
        "requests                                {requests:>9}   {:.0}/s",
        requests as f64 / ran.as_secs_f64()
    );
    let _ = writeln!(w);
    let _ = write!(w, "{:<40}", "by phase (request sent at)");
    for phase in PHASES {
        let _ = write!(w, "{:>11}", phase.name());
    }
    let _ = writeln!(w);
    let row = |w: &mut String, name: &str, values: [u64; 4]| {
        let _ = write!(w, "{name:<40}");
        for v in values {
            let _ = write!(w, "{v:>11}");
        }
        let _ = writeln!(w);
    };
    let per_phase = |f: &dyn Fn(Phase) -> u64| PHASES.map(f);
    row(
        w,
        "requests",
        per_phase(&|p| stats.requests[p as usize].load(Ordering::Relaxed)),
    );
    for kind in ERROR_KINDS {
        row(
            w,
            &format!("  {}", kind.name()),
            per_phase(&|p| load_of(p, kind)),
        );
    }
    row(
        w,
        "  errors no injected fault explains",
        per_phase(&|p| stats.not_injected[p as usize].load(Ordering::Relaxed)),
    );
    row(
        w,
        &format!(
            "waited on an exchange (>= {} ms in layer)",
            WAITED.as_millis()
        ),
        per_phase(&|p| stats.waited[p as usize].load(Ordering::Relaxed)),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "seconds with errors                     {}",
        seconds_with(&stats.errors_by_second)
    );
    let _ = writeln!(
        w,
        "seconds with waits                      {}",
        seconds_with(&stats.waits_by_second)
    );
    for (i, window) in WINDOWS.iter().enumerate() {
        let last = stats.last_recovery_error_ms[i].load(Ordering::Relaxed);
        let tail = if last == 0 {
            "no error after it".to_owned()
        } else {
            format!(
                "last error {:.1} s after it",
                Duration::from_millis(last)
                    .saturating_sub(window.to)
                    .as_secs_f64()
            )
        };
        let _ = writeln!(
            w,
            "  {:<38}{tail}",
            format!("end of the {} window", window.name)
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let _ = writeln!(
        w,
        "latency, answered 200 (all)             p50 {:.2} ms   p99 {:.2} ms   max {:.0} ms",
        ms(stats.latency.quantile(0.5)),
        ms(stats.latency.quantile(0.99)),
        ms(stats.latency.max())
    );
    let _ = writeln!(
        w,
        "latency, answered 200 (steady)          p50 {:.2} ms   p99 {:.2} ms   max {:.0} ms",
        ms(stats.latency_steady.quantile(0.5)),
        ms(stats.latency_steady.quantile(0.99)),
        ms(stats.latency_steady.max())
    );
    let _ = writeln!(
        w,
        "time in the layer, reached the client   p50 {:.3} ms   p99 {:.3} ms   max {:.0} ms",
        ms(stats.in_layer.quantile(0.5)),
        ms(stats.in_layer.quantile(0.99)),
        ms(stats.in_layer.max())
    );
    let steady = &stats.in_layer_steady;
    let _ = writeln!(
        w,
        "  steady, reached the client            p99 {:.3} ms   max {:.0} ms   >= 10 ms: {}   >= 50 ms: {}   >= 200 ms: {}",
        ms(steady.quantile(0.99)),
        ms(steady.max()),
        steady.at_least(Duration::from_millis(10)),
        steady.at_least(Duration::from_millis(50)),
        steady.at_least(Duration::from_millis(200)),
    );
    let at = |s: Duration| rss_by_second[s.as_secs() as usize];
    let max = rss_by_second
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(rss_end);
    let _ = writeln!(
        w,
        "RSS (MiB)                               before {:.1}   start ({} s) {:.1}   middle ({} s) {:.1}   end {:.1}   max {:.1}",
        mib(rss_before),
        WARM_UP.as_secs(),
        mib(at(WARM_UP)),
        run().as_secs() / 2,
        mib(at(run() / 2)),
        mib(rss_end),
        mib(max)
    );
    let _ = writeln!(
        w,
        "token cache entries at the end          {}",
        load.app.token_cache_ref().len()
    );
    let _ = writeln!(
        w,
        "emulator refusals                       {:?}",
        counters.refusals
    );
    let unexplained = stats
        .unexplained
        .lock()
        .expect("no caller panics while holding the list");
    if !unexplained.is_empty() {
        let _ = writeln!(w, "first errors no injected fault explains:");
        for line in unexplained.iter() {
            let _ = writeln!(w, "  {line}");
        }
    }
    print!("{out}");
}

/// With `SOAK_TIMELINE=1`: one line per second of the run.
fn print_timeline(stats: &Stats, samples: &Samples) {
    let ticks = auxv(17).unwrap_or(100); // AT_CLKTCK
    let mut out =
        String::from("\nsecond  requests  errors  waited  slowest ms  exchanges  RSS MiB  CPU %\n");
    for second in 0..seconds() - 1 {
        let load = |c: &[AtomicU64]| c[second].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{second:>6}  {:>8}  {:>6}  {:>6}  {:>10.1}  {:>9}  {:>7.1}  {:>5.0}",
            load(&stats.requests_by_second),
            load(&stats.errors_by_second),
            load(&stats.waits_by_second),
            load(&stats.slowest_by_second) as f64 / 1000.0,
            samples.exchanges[second + 1] - samples.exchanges[second],
            mib(samples.rss[second + 1]),
            (samples.cpu[second + 1] - samples.cpu[second]) as f64 * 100.0 / ticks as f64,
        );
    }
    print!("{out}");
}
