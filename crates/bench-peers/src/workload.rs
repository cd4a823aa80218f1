//! The four workloads, each run the same way for every client.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::{Instant, MissedTickBehavior};

use crate::error::BenchError;
use crate::github::Github;
use crate::peer::{Caller, Client, Failure, Peer};

/// A client error's pause before its next request in the expiry workload: a caller that got an
/// error waits this long, as a backend would, rather than spin on instant refusals.
pub const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Sorted durations' value at `q` (0.0 to 1.0); zero for none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// What a cold burst came to.
#[derive(Clone, Debug, PartialEq)]
pub struct ColdBurst {
    /// Requests sent, all at once.
    pub requests: usize,
    /// Requests that failed.
    pub failed: u64,
    /// Installation-token exchanges the emulator received during the burst.
    pub exchanges: u64,
    /// JWTs the emulator received (and verified) during the burst: one per exchange. Not
    /// signatures: a client may send one JWT many times (the emulator cannot tell a JWT signed
    /// again in the same second from the same one sent again, since RS256 signatures are
    /// deterministic and JWT claims count whole seconds).
    pub jwts: u64,
    /// From the first request sent to the last answer read.
    pub all_answered: Duration,
}

/// `requests` concurrent `GET`s (one tokio task each) on a client just built: nothing cached.
/// Every task's [`Caller`] is taken before the first is spawned, as if they all arrived at once.
pub async fn cold_burst(
    github: &Github,
    peer: Peer,
    requests: usize,
) -> Result<ColdBurst, BenchError> {
    github.calm();
    let client = Client::build(peer, github)?;
    let callers: Vec<Caller> = (0..requests).map(|_| client.caller()).collect();
    let before = github.counters();
    let started = Instant::now();
    let tasks = callers
        .into_iter()
        .map(|caller| tokio::spawn(async move { caller.get().await }));
    let results = join_all(tasks).await;
    let all_answered = started.elapsed();
    let after = github.counters();
    let failed = results.iter().filter(|r| !matches!(r, Ok(Ok(())))).count() as u64;
    Ok(ColdBurst {
        requests,
        failed,
        exchanges: after.installation_token_exchanges - before.installation_token_exchanges,
        jwts: after.jwts_verified - before.jwts_verified,
        all_answered,
    })
}

/// What the warm workload came to for one client.
#[derive(Clone, Debug, PartialEq)]
pub struct Warm {
    /// Requests measured (sent one after the other).
    pub requests: usize,
    /// Requests that failed.
    pub failed: u64,
    /// Requests per second over the whole sequence.
    pub per_second: f64,
    /// Median time of one request, sent to answer read.
    pub median: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
}

/// Requests each client sends before the measured ones: the token minted, the connection open,
/// caches warm.
const WARM_UP: usize = 100;

/// Rounds the warm requests are split into: the clients take turns, a round each, so that a
/// spell of load from elsewhere on the machine falls on all of them rather than on one.
const WARM_ROUNDS: usize = 10;

/// `requests` sequential `GET`s through each of `peers` (one client each, its token already
/// cached), the clients taking turns in rounds. One [`Warm`] per peer, in `peers`' order.
pub async fn warm(
    github: &Github,
    peers: &[Peer],
    requests: usize,
) -> Result<Vec<Warm>, BenchError> {
    github.calm();
    let mut callers = Vec::with_capacity(peers.len());
    for &peer in peers {
        let caller = Client::build(peer, github)?.caller();
        for _ in 0..WARM_UP {
            // A failure shows in the measured requests too; the warm-up only has to have run.
            let _ = caller.get().await;
        }
        callers.push(caller);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(requests); peers.len()];
    let mut totals = vec![Duration::ZERO; peers.len()];
    let mut failed = vec![0u64; peers.len()];
    for round in 0..WARM_ROUNDS {
        // Spread `requests` over the rounds, the remainder in the first ones.
        let in_round = requests / WARM_ROUNDS + usize::from(round < requests % WARM_ROUNDS);
        for (i, caller) in callers.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..in_round {
                let sent = Instant::now();
                if caller.get().await.is_err() {
                    failed[i] += 1;
                }
                times[i].push(sent.elapsed());
            }
            totals[i] += started.elapsed();
        }
    }
    Ok(times
        .into_iter()
        .zip(totals)
        .zip(failed)
        .map(|((mut times, total), failed)| {
            times.sort_unstable();
            Warm {
                requests: times.len(),
                failed,
                per_second: times.len() as f64 / total.as_secs_f64().max(f64::MIN_POSITIVE),
                median: quantile(&times, 0.5),
                p99: quantile(&times, 0.99),
            }
        })
        .collect())
}

/// How the expiry workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// Concurrent callers, each sending its next request as soon as the last is answered.
    pub callers: usize,
    /// How long they send.
    pub run: Duration,
    /// Installation tokens' lifetime while they do (whole seconds).
    pub token_ttl: Duration,
    /// A request that took at least this long waited on an exchange (see
    /// [`Expiry::waited`]).
    pub waited_at_least: Duration,
}

/// What the expiry workload came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Expiry {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Installation-token exchanges the emulator received.
    pub exchanges: u64,
    /// Requests that took at least [`ExpiryPlan::waited_at_least`], sent to answer read: they
    /// waited on an exchange. A request that does not wait takes a few milliseconds at most
    /// here (the floor, which never exchanges, is the control); one that waits on an exchange
    /// takes up to [`EXCHANGE_LATENCY`](crate::EXCHANGE_LATENCY) more. A request that joined
    /// an exchange in its last moments is not counted.
    pub waited: u64,
    /// Median time of one request.
    pub median: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
}

/// [`ExpiryPlan::callers`] callers loop on one client for [`ExpiryPlan::run`] while the
/// emulator mints tokens of [`ExpiryPlan::token_ttl`]: every client sees tokens expire.
pub async fn expiry(github: &Github, peer: Peer, plan: ExpiryPlan) -> Result<Expiry, BenchError> {
    github.calm();
    github.emulator().set_installation_token_ttl(plan.token_ttl);
    let client = Client::build(peer, github)?;
    let before = github.counters();
    let deadline = Instant::now() + plan.run;
    let tasks = (0..plan.callers).map(|_| {
        let caller = client.caller();
        tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failed = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = caller.get().await;
                times.push(sent.elapsed());
                if outcome.is_err() {
                    failed += 1;
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
            (times, failed)
        })
    });
    let mut times = Vec::new();
    let mut failed = 0;
    // A task that panicked would count nothing; none does (`get` returns its failures).
    for (t, f) in join_all(tasks).await.into_iter().flatten() {
        times.extend(t);
        failed += f;
    }
    let after = github.counters();
    github.calm();
    times.sort_unstable();
    Ok(Expiry {
        requests: times.len() as u64,
        failed,
        exchanges: after.installation_token_exchanges - before.installation_token_exchanges,
        waited: times.iter().filter(|t| **t >= plan.waited_at_least).count() as u64,
        median: quantile(&times, 0.5),
        p99: quantile(&times, 0.99),
    })
}

/// A fault GitHub can have, set on the emulator before a fresh client's first request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// GitHub's clock an hour ahead of ours.
    ClockAhead,
    /// GitHub's clock an hour behind ours.
    ClockBehind,
    /// Every new installation token refused (401) at its first use, as while it replicates.
    ReplicationLag,
    /// The next three token exchanges answered 500.
    ExchangeErrors,
}

impl Fault {
    /// Every fault, in the table's order.
    pub const ALL: [Self; 4] = [
        Self::ClockAhead,
        Self::ClockBehind,
        Self::ReplicationLag,
        Self::ExchangeErrors,
    ];

    /// The row heading.
    pub const fn label(self) -> &'static str {
        match self {
            Self::ClockAhead => "GitHub's clock +1 h",
            Self::ClockBehind => "GitHub's clock -1 h",
            Self::ReplicationLag => "replication lag (new token 401 once)",
            Self::ExchangeErrors => "3 exchanges answered 500",
        }
    }

    fn apply(self, github: &Github) {
        let emulator = github.emulator();
        match self {
            Self::ClockAhead => emulator.set_clock_offset(3600),
            Self::ClockBehind => emulator.set_clock_offset(-3600),
            Self::ReplicationLag => emulator.set_replication_lag(true),
            Self::ExchangeErrors => emulator.fail_next_exchanges(3),
        }
    }
}

/// How a fault run sends: requests arrive at a fixed rate whatever the answers (each on its own
/// task, as webhooks reach a backend), so every client gets the same requests at the same
/// moments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// Time between two requests.
    pub every: Duration,
    /// How long requests arrive.
    pub run: Duration,
}

impl FaultPlan {
    /// Requests a run sends.
    pub fn requests(&self) -> u64 {
        (self.run.as_nanos() / self.every.as_nanos().max(1)) as u64
    }
}

/// What a client came to under a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRun {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failed: u64,
    /// When the last failed request was sent, from the start of the run.
    pub last_failure: Option<Duration>,
    /// Installation-token exchanges the emulator received.
    pub exchanges: u64,
    /// Failures by kind (the error's first line, or `HTTP <status>`).
    pub failures: BTreeMap<String, u64>,
}

/// `fault` set, then a fresh client (nothing cached) gets requests at [`FaultPlan::every`] for
/// [`FaultPlan::run`]; the fault is cleared once all are answered.
pub async fn fault(
    github: &Github,
    peer: Peer,
    fault: Fault,
    plan: FaultPlan,
) -> Result<FaultRun, BenchError> {
    github.calm();
    fault.apply(github);
    let client = Client::build(peer, github)?;
    let before = github.counters();
    let started = Instant::now();
    let mut ticks = tokio::time::interval(plan.every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for _ in 0..plan.requests() {
        ticks.tick().await;
        let caller = client.caller();
        let sent = started.elapsed();
        tasks.push(tokio::spawn(async move { (sent, caller.get().await) }));
    }
    let mut run = FaultRun {
        requests: plan.requests(),
        failed: 0,
        last_failure: None,
        exchanges: 0,
        failures: BTreeMap::new(),
    };
    for joined in join_all(tasks).await {
        let (sent, outcome) = match joined {
            Ok(done) => done,
            Err(e) => (
                started.elapsed(),
                Err(Failure {
                    kind: format!("task: {e}"),
                }),
            ),
        };
        if let Err(failure) = outcome {
            run.failed += 1;
            run.last_failure = run.last_failure.max(Some(sent));
            *run.failures.entry(failure.kind).or_default() += 1;
        }
    }
    run.exchanges =
        github.counters().installation_token_exchanges - before.installation_token_exchanges;
    github.calm();
    Ok(run)
}
