//! An App whose JWT is signed by a custom [`JwtSigner`] (a KMS, Vault, an HSM), against the
//! emulator: one signature per JWT life, clock correction, a failing signer's error reaching every
//! waiting request once and backed off, a hung signer cut at the exchange deadline, the signer's
//! key id keying installation tokens.

mod common;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{get, send, stack};
use futures_util::future::{BoxFuture, join_all};
use github_auth_emulator::{Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1};
use http::StatusCode;
use tower_github_auth::{
    AppAuth, AppId, BoxError, Endpoints, Error, Exchange, InstallationId, JwtSigner, PrivateKey,
    TokenCache,
};

/// What the test signer does when asked for a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Signs with the emulator's test key.
    Sign,
    /// Signs after yielding to the runtime a few times: a signature in flight for a while, as
    /// over a KMS round trip. (Not with `tokio::time::advance`: a jump of the paused clock
    /// while it is in flight is a signer that hung that long.)
    SignSlowly,
    /// Fails, as a KMS that refuses would.
    Fail,
    /// Never answers.
    Hang,
}

/// A signer wrapping the emulator's test key: counts its calls, can fail or hang.
#[derive(Debug)]
struct TestSigner {
    key: PrivateKey,
    key_id: String,
    behaviour: Mutex<Behaviour>,
    calls: AtomicUsize,
}

impl TestSigner {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Self::with_key_id(behaviour, "test-key")
    }

    fn with_key_id(behaviour: Behaviour, key_id: &str) -> Arc<Self> {
        Arc::new(Self {
            key: PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
            key_id: key_id.to_owned(),
            behaviour: Mutex::new(behaviour),
            calls: AtomicUsize::new(0),
        })
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl JwtSigner for TestSigner {
    fn key_id(&self) -> String {
        self.key_id.clone()
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let behaviour = *self.behaviour.lock().unwrap();
        Box::pin(async move {
            match behaviour {
                Behaviour::Sign => self.key.sign(message).await,
                Behaviour::SignSlowly => {
                    for _ in 0..10 {
                        tokio::task::yield_now().await;
                    }
                    self.key.sign(message).await
                }
                Behaviour::Fail => {
                    tokio::task::yield_now().await;
                    Err("KMS said: AccessDeniedException (kms:Sign not allowed)".into())
                }
                Behaviour::Hang => std::future::pending().await,
            }
        })
    }
}

fn app(github: &EmulatorHandle, signer: &Arc<TestSigner>) -> AppAuth {
    AppAuth::with_signer(AppId(1), Arc::clone(signer))
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

#[tokio::test]
async fn a_thousand_cold_requests_as_the_app_make_one_signature() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::SignSlowly);
    let svc = stack(app(&github, &signer));
    let answers = join_all((0..1000).map(|_| send(&svc, get("/app")))).await;
    for answer in answers {
        let (status, me) = answer.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], 1);
    }
    assert_eq!(signer.calls(), 1, "one signature for 1,000 requests");
    let counters = github.counters();
    assert_eq!(counters.jwts_verified, 1000);
    assert_eq!(counters.distinct_jwts, 1);
}

#[tokio::test]
async fn a_thousand_cold_installation_requests_make_one_signature_and_one_exchange() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::SignSlowly);
    let app = app(&github, &signer);
    let svc = stack(app.as_installation(InstallationId(1)));
    let answers = join_all((0..1000).map(|_| send(&svc, get("/repos/octo/one")))).await;
    for answer in answers {
        let (status, repo) = answer.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(repo["emulator"]["credential"], "installation");
    }
    // A second installation reuses the JWT: a new exchange, no new signature.
    let other = stack(app.as_installation(InstallationId(2)));
    let (status, _) = send(&other, get("/repos/monalisa/hello")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(signer.calls(), 1);
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 2);
    assert_eq!(counters.distinct_jwts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_jwt_is_signed_once_per_life() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::Sign);
    let svc = stack(app(&github, &signer));
    // `iat` a minute back, `exp` ten minutes after it: nine minutes left, renewed (in the
    // background) two minutes before the end, so a new JWT every 7 minutes.
    for minute in 0..20 {
        let answers = join_all((0..20).map(|_| send(&svc, get("/app")))).await;
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().unwrap().0 == StatusCode::OK)
        );
        let expected = 1 + minute / 7;
        assert_eq!(signer.calls(), expected, "minute {minute}");
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    assert_eq!(github.counters().distinct_jwts, 3);
}

async fn the_clock_is_corrected_with_a_custom_signer(offset: i64, refusal: &str) {
    let github = Emulator::builder().start().await.unwrap();
    github.set_clock_offset(offset);
    let signer = TestSigner::new(Behaviour::Sign);
    let app = app(&github, &signer);
    let svc = stack(app.as_installation(InstallationId(1)));
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let counters = github.counters();
    assert_eq!(counters.refusals_for(refusal), 1, "one correction");
    assert_eq!(
        signer.calls(),
        2,
        "the refused JWT, then one on GitHub's clock"
    );
    assert!(
        (app.clock_offset_secs() - offset).abs() <= 2,
        "{}",
        app.clock_offset_secs()
    );

    // The offset is kept: the JWTs signed after the first expired are good at once.
    common::jwts_stay_good(&app).await;
    assert_eq!(signer.calls(), 5);
    assert_eq!(github.counters().refusals_for(refusal), 1);
}

#[tokio::test(start_paused = true)]
async fn github_an_hour_ahead_with_a_custom_signer() {
    the_clock_is_corrected_with_a_custom_signer(3600, "jwt_expired").await;
}

#[tokio::test(start_paused = true)]
async fn github_an_hour_behind_with_a_custom_signer() {
    the_clock_is_corrected_with_a_custom_signer(-3600, "jwt_iat_in_future").await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_signer_fails_every_waiting_request_once_then_backs_off() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::Fail);
    let app = app(&github, &signer);
    let svc = stack(app.clone());

    let answers = join_all((0..100).map(|_| send(&svc, get("/app")))).await;
    for answer in answers {
        let err = answer.unwrap_err();
        let Error::Signer { key_id, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key_id, "test-key");
        let text = err.to_string();
        assert!(text.contains("AccessDeniedException"), "{text}");
        assert!(text.contains("permissions"), "{text}");
        assert!(std::error::Error::source(&err).is_some());
    }
    assert_eq!(signer.calls(), 1, "one signature attempt for 100 requests");
    assert_eq!(github.counters().requests, 0, "nothing reached GitHub");

    // During the backoff nobody asks the signer again.
    let err = send(&svc, get("/app")).await.unwrap_err();
    let Error::Backoff {
        failures: 1, last, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(matches!(**last, Error::Signer { .. }), "{last:?}");
    assert!(matches!(app.fetch_jwt().await, Err(Error::Backoff { .. })));
    assert_eq!(signer.calls(), 1);

    // After the backoff (1 s, then doubling, plus at most 20% jitter), the next request signs
    // anew.
    tokio::time::advance(Duration::from_millis(1200)).await;
    assert!(matches!(
        send(&svc, get("/app")).await,
        Err(Error::Signer { .. })
    ));
    assert_eq!(signer.calls(), 2);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(
        send(&svc, get("/app")).await,
        Err(Error::Backoff { failures: 2, .. })
    ));
    signer.set(Behaviour::Sign);
    tokio::time::advance(Duration::from_millis(1400)).await;
    let (status, me) = send(&svc, get("/app")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], 1);
    assert_eq!(signer.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failing_signer_fails_installation_requests_with_its_error() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::Fail);
    let svc = stack(app(&github, &signer).as_installation(InstallationId(1)));
    let answers = join_all((0..50).map(|_| send(&svc, get("/repos/octo/one")))).await;
    for answer in answers {
        let err = answer.unwrap_err();
        assert!(matches!(err, Error::Signer { .. }), "{err:?}");
    }
    assert_eq!(signer.calls(), 1);
    assert_eq!(github.counters().installation_token_exchanges, 0);
}

#[tokio::test(start_paused = true)]
async fn a_signer_that_never_answers_fails_at_the_exchange_deadline() {
    let github = Emulator::builder().start().await.unwrap();
    let signer = TestSigner::new(Behaviour::Hang);
    let app = app(&github, &signer).exchange_timeout(Duration::from_secs(5));
    let svc = stack(app.clone());

    let started = tokio::time::Instant::now();
    let answers = join_all((0..50).map(|_| send(&svc, get("/app")))).await;
    let waited = started.elapsed();
    for answer in answers {
        let err = answer.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout { exchange: Exchange::JwtSigning, after, .. }
                    if after == Duration::from_secs(5)
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("JWT signer"), "{text}");
        assert!(text.contains("exchange_timeout"), "{text}");
    }
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(signer.calls(), 1);

    // The timed-out signature is backed off like any failed exchange, then tried anew.
    assert!(matches!(
        app.fetch_jwt().await,
        Err(Error::Backoff { failures: 1, .. })
    ));
    signer.set(Behaviour::Sign);
    tokio::time::advance(Duration::from_millis(1200)).await;
    assert_eq!(send(&svc, get("/app")).await.unwrap().0, StatusCode::OK);
    assert_eq!(signer.calls(), 2);
}

#[tokio::test]
async fn installation_tokens_are_keyed_by_the_signers_key_id() {
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let cache = TokenCache::new(NonZeroUsize::new(100).unwrap());
    let with = |key_id: &str| {
        AppAuth::with_signer(AppId(1), TestSigner::with_key_id(Behaviour::Sign, key_id))
            .endpoints(endpoints.clone())
            .token_cache(cache.clone())
    };
    // Same App id, same cache: one key id shares the token, another key id does not.
    for app in [with("key-a"), with("key-a"), with("key-b")] {
        let svc = stack(app.as_installation(InstallationId(1)));
        assert_eq!(
            send(&svc, get("/repos/octo/one")).await.unwrap().0,
            StatusCode::OK
        );
    }
    assert_eq!(github.counters().installation_token_exchanges, 2);
    assert_eq!(cache.len(), 2);

    // A PrivateKey's key id is its fingerprint.
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
    assert_eq!(key.key_id(), key.fingerprint());
}
