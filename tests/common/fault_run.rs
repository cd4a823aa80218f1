//! The fleet under store faults (issue 18 §2): 8 replicas serve one user, whose access tokens
//! live 5 s and whose refreshes end the access token they replace (as GitHub's may), for 60 s,
//! while the store fails 20% of its calls at random and goes away entirely three times, for 1, 2
//! and 3 s. Run on the in-process store (`fleet.rs`) and on a real Redis (`redis_fleet.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use github_auth_emulator::{DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, EmulatorHandle};
use http::StatusCode;
use secrecy::ExposeSecret;
use tokio::time::Instant;
use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth, OAuthTokenAuth, TokenStore};
use tracing::Instrument;

use super::faulty::{Faults, Faulty};
use super::{SignIn, client, get, send, stack};

/// When the store goes away (from the start of the run), and for how long.
const OUTAGES: [(Duration, Duration); 3] = [
    (Duration::from_secs(9), Duration::from_secs(1)),
    (Duration::from_millis(23_700), Duration::from_secs(2)),
    (Duration::from_millis(41_300), Duration::from_secs(3)),
];
/// The whole run.
const RUN: Duration = Duration::from_secs(60);
/// Callers per replica.
const CALLERS: usize = 2;

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: u64,
    /// Requests that did not get a 200 (or failed), while the store was away or within 5 s
    /// after, and at any other time.
    pub failed_near_outages: u64,
    pub failed_elsewhere: u64,
    pub refreshes: u64,
    pub bad_refresh_token_while_away: u64,
    pub bad_refresh_token_otherwise: u64,
    pub store_calls_failed: u64,
    /// After each outage: how long until every replica served the same pair.
    pub converged_after: Vec<Option<Duration>>,
}

/// The refresh token each replica serves now (`None`: nothing cached).
fn serving(users: &[OAuthTokenAuth]) -> Vec<Option<String>> {
    users
        .iter()
        .map(|user| {
            user.cached_token()
                .and_then(|set| set.refresh_token)
                .map(|t| t.expose_secret().to_owned())
        })
        .collect()
}

fn agree(users: &[OAuthTokenAuth]) -> bool {
    let serving = serving(users);
    serving[0].is_some() && serving.iter().all(|s| *s == serving[0])
}

/// Runs the fleet: `stores` is each replica's store (its own connection), `faults` what they
/// share. The emulator must issue 5 s user tokens.
pub async fn run(github: &EmulatorHandle, stores: Vec<Arc<dyn TokenStore>>) -> Report {
    if std::env::var_os("FLEET_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let faults = Faults::new(0x5eed_f1ee7);
    let app = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let signed_in = app
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap()
        .cached_token()
        .unwrap();
    let users: Vec<OAuthTokenAuth> = stores
        .into_iter()
        .map(|inner| {
            app.as_user(signed_in.clone())
                .token_store(
                    Faulty {
                        inner,
                        faults: Arc::clone(&faults),
                    },
                    "user-42",
                )
                // The lock lives 3 × this: 3 s.
                .exchange_timeout(Duration::from_secs(1))
                .build()
        })
        .collect();
    let services: Vec<_> = users.iter().map(|user| stack(user.clone())).collect();

    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let requests = AtomicU64::new(0);
    let failed_near = AtomicU64::new(0);
    let failed_elsewhere = AtomicU64::new(0);
    let near_outage = |at: Duration| {
        OUTAGES
            .iter()
            .any(|&(from, long)| at >= from && at <= from + long + Duration::from_secs(5))
    };
    let callers = services
        .iter()
        .enumerate()
        .flat_map(|(n, svc)| std::iter::repeat_n((n, svc), CALLERS))
        .map(|(n, svc)| {
            async {
                while !stop.load(Ordering::SeqCst) {
                    let sent = started.elapsed();
                    let ok = matches!(send(svc, get("/user")).await, Ok((StatusCode::OK, _)));
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        if near_outage(sent) {
                            failed_near.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed_elsewhere.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            // With FLEET_TRACE set, every line says which replica wrote it.
            .instrument(tracing::info_span!("replica", n))
        });
    let bad = || github.counters().refusals_for("bad_refresh_token");
    let control = async {
        faults.fail_per_mille.store(200, Ordering::SeqCst);
        let mut while_away = 0;
        let mut converged_after = Vec::new();
        for (from, long) in OUTAGES {
            tokio::time::sleep_until(started + from).await;
            let before = bad();
            tracing::info!("the store goes away");
            faults.away.store(true, Ordering::SeqCst);
            tokio::time::sleep(long).await;
            faults.away.store(false, Ordering::SeqCst);
            tracing::info!("the store is back");
            while_away += bad() - before;
            let back = Instant::now();
            let mut converged = None;
            while back.elapsed() < Duration::from_secs(10) {
                if agree(&users) {
                    converged = Some(back.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            converged_after.push(converged);
        }
        tokio::time::sleep_until(started + RUN).await;
        stop.store(true, Ordering::SeqCst);
        (while_away, converged_after)
    };
    let ((while_away, converged_after), _) = tokio::join!(control, join_all(callers));

    let counters = github.counters();
    let report = Report {
        requests: requests.load(Ordering::Relaxed),
        failed_near_outages: failed_near.load(Ordering::Relaxed),
        failed_elsewhere: failed_elsewhere.load(Ordering::Relaxed),
        refreshes: counters.refreshes,
        bad_refresh_token_while_away: while_away,
        bad_refresh_token_otherwise: counters.refusals_for("bad_refresh_token") - while_away,
        store_calls_failed: faults.injected.load(Ordering::Relaxed),
        converged_after,
    };
    println!("{report:#?}");

    // The store is healthy again: the user never has to sign in again (the token family lives),
    // and every replica serves the newest pair.
    faults.fail_per_mille.store(0, Ordering::SeqCst);
    for svc in &services {
        assert_eq!(send(svc, get("/user")).await.unwrap().0, StatusCode::OK);
    }
    let refreshed = users[0]
        .refresh(&client())
        .await
        .expect("the token family is alive");
    for svc in &services {
        assert_eq!(send(svc, get("/user")).await.unwrap().0, StatusCode::OK);
    }
    let newest = refreshed.refresh_token.unwrap().expose_secret().to_owned();
    assert!(
        serving(&users)
            .iter()
            .all(|s| s.as_deref() == Some(&newest)),
        "every replica serves the newest pair"
    );
    report
}

/// The promises the issue requires of a run.
pub fn check(report: &Report) {
    assert_eq!(
        report.bad_refresh_token_otherwise, 0,
        "a bad_refresh_token while the store was there: {report:#?}"
    );
    assert!(
        report.converged_after.iter().all(Option::is_some),
        "the replicas did not converge after an outage: {report:#?}"
    );
    assert!(
        report.store_calls_failed > 0 && report.refreshes >= 20,
        "{report:#?}"
    );
}
