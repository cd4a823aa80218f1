//! GitHub App and installation tokens against the emulator: single flight, refresh ahead,
//! backoff, clock skew, replication lag, narrowing, 401 recovery.

mod common;

use std::time::Duration;

use common::{client, get, send, stack};
use futures_util::future::join_all;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, Emulator, EmulatorHandle, Forbidden, TEST_APP_PRIVATE_KEY_OPENSSH,
    TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8,
};
use http::StatusCode;
use secrecy::ExposeSecret;
use tower::ServiceBuilder;
use tower_github_auth::{
    AppAuth, AppId, AppIssuer, Endpoints, Error, Exchange, InstallationId, InstallationTarget,
    PrivateKey, Subject,
};

fn app(github: &EmulatorHandle) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

#[tokio::test]
async fn a_thousand_concurrent_cold_requests_make_one_exchange() {
    let github = Emulator::builder().start().await.unwrap();
    let svc = stack(app(&github).as_installation(InstallationId(1)));
    let answers = join_all((0..1000).map(|_| send(&svc, get("/repos/octo/one")))).await;
    for answer in answers {
        let (status, repo) = answer.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(repo["emulator"]["credential"], "installation");
    }
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1);
    assert_eq!(counters.installation_tokens_minted, 1);
    assert_eq!(counters.distinct_jwts, 1);
}

#[tokio::test]
async fn stacks_built_per_request_share_the_token() {
    let github = Emulator::builder().start().await.unwrap();
    let app = app(&github);
    for _ in 0..50 {
        // As an axum handler would: a new stack per request, from the installation id.
        let svc = stack(app.as_installation(InstallationId(1)));
        let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    let other = stack(app.as_installation(InstallationId(2)));
    assert_eq!(
        send(&other, get("/repos/monalisa/hello")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().installation_token_exchanges, 2);
    assert_eq!(app.token_cache_ref().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_happens_in_the_background() {
    let github = Emulator::builder().start().await.unwrap();
    // The exchange below is held for 30 s: longer than the default 10 s deadline.
    let installation = app(&github)
        .as_installation(InstallationId(1))
        .exchange_timeout(Duration::from_secs(60));
    let svc = stack(installation.clone());
    send(&svc, get("/repos/octo/one")).await.unwrap();
    let first = installation.cached_token().unwrap();

    // 56 minutes on: less than the 5-minute margin is left. The exchange is held for 30 s.
    tokio::time::advance(Duration::from_secs(56 * 60)).await;
    github.set_latency(Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let answers = join_all((0..50).map(|_| send(&svc, get("/repos/octo/one")))).await;
    let waited = started.elapsed();
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().0 == StatusCode::OK)
    );
    assert!(
        waited < Duration::from_secs(30),
        "warm requests waited {waited:?}"
    );
    assert_eq!(
        github.counters().installation_token_exchanges,
        2,
        "one refresh"
    );
    assert_eq!(
        github.counters().installation_tokens_minted,
        1,
        "still held"
    );

    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(github.counters().installation_tokens_minted, 2);
    let second = installation.cached_token().unwrap();
    assert_ne!(first.token.expose_secret(), second.token.expose_secret());
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

#[tokio::test(start_paused = true)]
async fn a_few_server_errors_are_tried_through_and_no_request_sees_them() {
    let github = Emulator::builder().start().await.unwrap();
    // Three 500s in a row (what a GitHub incident looks like for a moment): the exchange is
    // tried again at once, within its deadline, and the fourth try mints.
    github.fail_next_exchanges(3);
    let svc = stack(app(&github).as_installation(InstallationId(1)));
    let calls = (0..50).map(|_| send(&svc, get("/repos/octo/one")));
    for answer in join_all(calls).await {
        assert_eq!(answer.unwrap().0, StatusCode::OK);
    }
    let counters = github.counters();
    assert_eq!(counters.refusals_for("injected_error"), 3, "{counters:?}");
    assert_eq!(counters.installation_token_exchanges, 4, "{counters:?}");
    assert_eq!(counters.installation_tokens_minted, 1, "{counters:?}");
}

/// Each exchange is tried four times (three 500s tried through) before it fails.
const TRIES: u64 = 4;

#[tokio::test(start_paused = true)]
async fn failed_exchanges_are_typed_and_backed_off() {
    let github = Emulator::builder().start().await.unwrap();
    // Three exchanges fail, every try of each.
    github.fail_next_exchanges(3 * TRIES as u32);
    let svc = stack(app(&github).as_installation(InstallationId(1)));

    let err = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(err.to_string().contains("emulated server error"), "{err}");
    assert!(matches!(err, Error::GitHub { .. }));

    // During the backoff no request reaches GitHub's token endpoint.
    let err = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert!(matches!(err, Error::Backoff { failures: 1, .. }), "{err}");
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(github.counters().installation_token_exchanges, TRIES);

    let mut attempts = 1;
    let mut backoff = Duration::from_secs(1);
    loop {
        // The backoff plus at most 20% jitter.
        tokio::time::advance(backoff * 6 / 5).await;
        attempts += 1;
        match send(&svc, get("/repos/octo/one")).await {
            Ok((status, _)) => {
                assert_eq!(status, StatusCode::OK);
                break;
            }
            Err(e) => assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR)),
        }
        backoff *= 2;
    }
    assert_eq!(attempts, 4);
    assert_eq!(
        github.counters().installation_token_exchanges,
        3 * TRIES + 1
    );
}

/// Issue 20 §5: a mint GitHub refuses with 429 + `Retry-After: 30` carries GitHub's request id
/// and the wait, and is not asked again before the wait (plus jitter) is over.
#[tokio::test(start_paused = true)]
async fn a_mint_refused_with_retry_after_waits_and_names_the_request() {
    let github = Emulator::builder().start().await.unwrap();
    github.refuse_next_exchanges(
        1,
        Forbidden::TooManyRequests {
            retry_after: Duration::from_secs(30),
        },
    );
    let svc = stack(app(&github).as_installation(InstallationId(1)));

    let err = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    let id = err.request_id().expect("GitHub's request id").to_owned();
    assert!(err.to_string().contains(&id), "{err}");
    let Error::GitHub {
        documentation_url, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(documentation_url.is_some(), "{err:?}");
    assert_eq!(github.counters().refusals_for("too_many_requests"), 1);
    // Who the exchange was for, and what kind of failure it is.
    let installation_1 = Subject::Installation {
        app: AppIssuer::Id(AppId(1)),
        installation: InstallationTarget::Id(InstallationId(1)),
        narrowing: None,
    };
    assert_eq!(err.subject(), Some(&installation_1));
    assert!(
        err.to_string()
            .contains("installation token exchange for installation id:1 of App 1"),
        "{err}"
    );
    assert!(err.is_rate_limited() && !err.is_timeout());
    assert_eq!(err.exchange(), Some(Exchange::InstallationToken));

    tokio::time::advance(Duration::from_secs(10)).await;
    let during = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert!(
        matches!(during, Error::Backoff { failures: 1, .. }),
        "{during}"
    );
    assert_eq!(during.request_id(), Some(id.as_str()));
    // The backoff reads through to the last attempt's error.
    assert_eq!(during.subject(), Some(&installation_1));
    assert!(during.is_rate_limited());
    assert!(matches!(during.root(), Error::GitHub { .. }), "{during:?}");
    assert_eq!(github.counters().installation_token_exchanges, 1);

    // 30 s plus at most 20% jitter.
    tokio::time::advance(Duration::from_secs(27)).await;
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

/// A mint refused because the rate limit is spent (reset an hour ahead) is not asked again
/// before the reset.
#[tokio::test(start_paused = true)]
async fn a_mint_refused_for_a_spent_rate_limit_waits_for_the_reset() {
    let github = Emulator::builder().start().await.unwrap();
    github.refuse_next_exchanges(1, Forbidden::RateLimited);
    let svc = stack(app(&github).as_installation(InstallationId(1)));

    let err = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert!(err.rate_limit_reset().is_some(), "{err:?}");
    assert!(err.is_rate_limited(), "{err:?}");
    tokio::time::advance(Duration::from_secs(30 * 60)).await;
    let during = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert!(matches!(during, Error::Backoff { .. }), "{during}");
    assert_eq!(github.counters().installation_token_exchanges, 1);
    // The reset (an hour) is the cap; plus at most 20% jitter.
    tokio::time::advance(Duration::from_secs(43 * 60)).await;
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

async fn survives_clock_offset(offset: i64, refusal: &str) {
    let github = Emulator::builder()
        .clock_offset(offset)
        .start()
        .await
        .unwrap();
    let app = app(&github);
    let svc = stack(app.as_installation(InstallationId(1)));
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(github.counters().refusals_for(refusal), 1, "one correction");
    assert!(
        (app.clock_offset_secs() - offset).abs() <= 2,
        "{}",
        app.clock_offset_secs()
    );

    // The offset is kept: new JWTs, for other installations and after the first expired, are good.
    common::jwts_stay_good(&app).await;
    let other = stack(app.as_installation(InstallationId(2)));
    assert_eq!(
        send(&other, get("/repos/monalisa/hello")).await.unwrap().0,
        StatusCode::OK
    );
    let counters = github.counters();
    assert_eq!(counters.refusals_for(refusal), 1, "{counters:?}");
    assert!(counters.distinct_jwts >= 3, "{counters:?}");
}

#[tokio::test(start_paused = true)]
async fn github_clock_an_hour_ahead() {
    survives_clock_offset(3600, "jwt_expired").await;
}

#[tokio::test(start_paused = true)]
async fn github_clock_an_hour_behind() {
    survives_clock_offset(-3600, "jwt_iat_in_future").await;
}

#[tokio::test(start_paused = true)]
async fn a_fresh_token_refused_during_replication_is_retried() {
    let github = Emulator::builder().start().await.unwrap();
    github.set_replication_lag(true);
    let svc = stack(app(&github).as_installation(InstallationId(1)));
    let (status, repo) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["emulator"]["credential"], "installation");
    let counters = github.counters();
    assert_eq!(counters.refusals_for("replication_lag"), 1);
    assert_eq!(
        counters.installation_token_exchanges, 1,
        "the token was not dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_refused_with_401_is_never_reused() {
    let github = Emulator::builder().start().await.unwrap();
    let installation = app(&github).as_installation(InstallationId(1));
    let svc = stack(installation.clone());
    send(&svc, get("/repos/octo/one")).await.unwrap();
    let revoked = installation.cached_token().unwrap();
    // Past the window in which a refusal may be replication lag.
    tokio::time::advance(Duration::from_secs(60)).await;
    github.revoke(revoked.token.expose_secret());

    // The 401 drops the token and the request is replayed once with a new one.
    let (status, _) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let renewed = installation.cached_token().unwrap();
    assert_ne!(revoked.token.expose_secret(), renewed.token.expose_secret());
    for _ in 0..5 {
        assert_eq!(
            send(&svc, get("/repos/octo/one")).await.unwrap().0,
            StatusCode::OK
        );
    }
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 2);
    assert_eq!(counters.refusals_for("token_revoked"), 1, "{counters:?}");
}

#[tokio::test]
async fn narrowing_is_sent_and_keyed() {
    let github = Emulator::builder().start().await.unwrap();
    let app = app(&github);
    let narrow = app
        .installation_for_repository("octo", "one")
        .repositories(["one"])
        .permission("contents", "read");
    let svc = stack(narrow.clone());
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        github.last_access_token_request().unwrap(),
        serde_json::json!({ "repositories": ["one"], "permissions": { "contents": "read" } })
    );
    // The narrowed token does not reach the other repository.
    assert_eq!(
        send(&svc, get("/repos/octo/two")).await.unwrap().0,
        StatusCode::NOT_FOUND
    );

    let token = narrow.fetch_token(&client()).await.unwrap();
    assert_eq!(token.installation_id, InstallationId(1));
    assert_eq!(token.permissions["contents"], "read");
    assert_eq!(token.repositories, ["octo/one".to_owned()]);
    assert!(!format!("{token:?}").contains(token.token.expose_secret()));

    // Another narrowing is another token; the installation lookup is remembered.
    let requests_before = github.counters().requests;
    let by_id = app
        .installation_for_repository("octo", "one")
        .repository_ids([1000]);
    let wide = stack(by_id);
    assert_eq!(
        send(&wide, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        github.counters().requests - requests_before,
        2,
        "exchange + request, no lookup"
    );
    assert_eq!(github.counters().installation_token_exchanges, 2);
}

#[tokio::test]
async fn a_bad_narrowing_is_a_typed_error() {
    let github = Emulator::builder().start().await.unwrap();
    let svc = stack(
        app(&github)
            .as_installation(InstallationId(1))
            .repositories(["not-there"]),
    );
    let err = send(&svc, get("/repos/octo/one")).await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(StatusCode::UNPROCESSABLE_ENTITY),
        "{err}"
    );
    let missing = stack(app(&github).as_installation(InstallationId(999)));
    let err = send(&missing, get("/repos/octo/one")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");
}

#[tokio::test]
async fn installations_are_found_by_repository_organization_and_user() {
    let github = Emulator::builder().start().await.unwrap();
    let app = app(&github);
    for (installation, id) in [
        (
            app.installation_for_repository("octo", "two"),
            InstallationId(1),
        ),
        (app.installation_for_organization("octo"), InstallationId(1)),
        (app.installation_for_user("monalisa"), InstallationId(2)),
    ] {
        assert_eq!(
            installation
                .fetch_token(&client())
                .await
                .unwrap()
                .installation_id,
            id
        );
    }
}

#[tokio::test]
async fn client_id_as_issuer_and_pkcs8_keys() {
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    for app in [
        AppAuth::from_pem(
            AppIssuer::client_id(DEFAULT_APP_CLIENT_ID),
            TEST_APP_PRIVATE_KEY_PKCS1,
        )
        .unwrap(),
        AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS8).unwrap(),
    ] {
        let svc = stack(app.endpoints(endpoints.clone()));
        let (status, me) = send(&svc, get("/app")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], 1);
    }
    assert_eq!(github.counters().jwts_verified, 2);
}

#[tokio::test]
async fn an_openssh_key_mints_an_installation_token() {
    let github = Emulator::builder().start().await.unwrap();
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_OPENSSH).unwrap();
    let app = AppAuth::new(AppId(1), key).endpoints(Endpoints::single(&github.base_url()).unwrap());
    let installation = app.as_installation(InstallationId(1));
    let token = installation.fetch_token(&client()).await.unwrap();
    assert!(token.token.expose_secret().starts_with("ghs_"));
    let svc = stack(installation);
    let (status, repo) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["emulator"]["credential"], "installation");
    let counters = github.counters();
    assert_eq!(counters.jwts_verified, 1);
    assert_eq!(counters.installation_tokens_minted, 1);
}

#[tokio::test(start_paused = true)]
async fn a_replay_is_the_callers_request_again_with_a_fresh_token() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::{HeaderMap, Method, Request, Response};
    use http_body_util::{BodyExt, Full};
    use tower::{ServiceExt, service_fn};

    // A GitHub that refuses the first token it minted (`ghs_1`) and records every API request.
    let seen: Arc<Mutex<Vec<(Method, HeaderMap, Bytes)>>> = Arc::default();
    let minted = Arc::new(AtomicUsize::new(0));
    let github = {
        let seen = Arc::clone(&seen);
        service_fn(move |req: Request<Full<Bytes>>| {
            let seen = Arc::clone(&seen);
            let minted = Arc::clone(&minted);
            async move {
                let (parts, body) = req.into_parts();
                if parts.uri.path().ends_with("/access_tokens") {
                    let n = minted.fetch_add(1, Ordering::SeqCst) + 1;
                    let expires = std::time::SystemTime::now() + Duration::from_secs(3600);
                    let body = format!(
                        r#"{{"token":"ghs_{n}","expires_at":"{}"}}"#,
                        humantime::format_rfc3339_seconds(expires)
                    );
                    let mut res = Response::new(Full::new(Bytes::from(body)));
                    *res.status_mut() = StatusCode::CREATED;
                    return Ok::<_, std::convert::Infallible>(res);
                }
                let body = body.collect().await.unwrap().to_bytes();
                let refused = parts.headers[http::header::AUTHORIZATION] == "Bearer ghs_1";
                seen.lock()
                    .unwrap()
                    .push((parts.method, parts.headers, body));
                let mut res = Response::new(Full::new(Bytes::new()));
                if refused {
                    *res.status_mut() = StatusCode::UNAUTHORIZED;
                }
                Ok(res)
            }
        })
    };
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
    let svc = ServiceBuilder::new()
        .layer(tower_github_auth::AppInstallationAuth::new(
            AppId(1),
            key,
            InstallationId(1),
        ))
        .service(github);

    let request = Request::post("/repos/octo/one/issues")
        .header("x-custom", "kept")
        .body(Full::new(Bytes::from_static(b"{\"title\":\"hi\"}")))
        .unwrap();
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let seen = seen.lock().unwrap();
    // Refused as maybe not yet replicated: three pauses with the same token, then a new token.
    assert_eq!(seen.len(), 5);
    for (i, (method, headers, body)) in seen.iter().enumerate() {
        assert_eq!(method, Method::POST);
        assert_eq!(headers["x-custom"], "kept");
        assert_eq!(
            headers[http::header::USER_AGENT],
            concat!("tower-github-auth/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            headers.get_all(http::header::AUTHORIZATION).iter().count(),
            1
        );
        assert_eq!(&body[..], b"{\"title\":\"hi\"}");
        let expected = if i < 4 {
            "Bearer ghs_1"
        } else {
            "Bearer ghs_2"
        };
        assert_eq!(headers[http::header::AUTHORIZATION], expected);
    }
}

#[tokio::test]
async fn revoking_ends_the_token_at_github_and_it_is_never_sent_again() {
    let github = Emulator::builder().start().await.unwrap();
    let installation = app(&github).as_installation(InstallationId(1));
    let svc = stack(installation.clone());
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let revoked = installation.cached_token().unwrap();

    installation.revoke(&client()).await.unwrap();
    assert!(installation.cached_token().is_none());
    assert_eq!(github.counters().installation_tokens_revoked, 1);
    // The next request mints a new token; the revoked one never reaches GitHub again.
    assert_eq!(
        send(&svc, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let renewed = installation.cached_token().unwrap();
    assert_ne!(renewed.token.expose_secret(), revoked.token.expose_secret());
    let counters = github.counters();
    assert_eq!(counters.installation_tokens_minted, 2);
    assert_eq!(counters.refusals_for("token_revoked"), 0);
    // Nothing cached: nothing to revoke.
    app(&github)
        .as_installation(InstallationId(2))
        .revoke(&client())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_handed_out_can_be_revoked_on_its_own() {
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let token = app(&github)
        .as_installation(InstallationId(1))
        .fetch_token(&client())
        .await
        .unwrap();
    token.revoke(&client(), &endpoints).await.unwrap();
    let as_token = stack(
        tower_github_auth::TokenAuth::new(token.token.clone())
            .unwrap()
            .endpoints(endpoints.clone()),
    );
    let (status, _) = send(&as_token, get("/installation/repositories"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Revoking it again is not an error: it has ended.
    token.revoke(&client(), &endpoints).await.unwrap();
}

#[tokio::test]
async fn a_forced_refresh_mints_a_new_token_for_every_stack() {
    let github = Emulator::builder().start().await.unwrap();
    let app = app(&github);
    let first = app
        .as_installation(InstallationId(1))
        .fetch_token(&client())
        .await
        .unwrap();
    let refreshed = app
        .as_installation(InstallationId(1))
        .refresh(&client())
        .await
        .unwrap();
    assert_ne!(first.token.expose_secret(), refreshed.token.expose_secret());
    let cached = app
        .as_installation(InstallationId(1))
        .cached_token()
        .unwrap();
    assert_eq!(
        cached.token.expose_secret(),
        refreshed.token.expose_secret()
    );
    assert_eq!(github.counters().installation_tokens_minted, 2);
}

#[tokio::test]
async fn installations_are_found_by_enterprise_and_listed_page_by_page() {
    let github = Emulator::builder().start().await.unwrap();
    let token = app(&github)
        .installation_for_enterprise("octo-enterprise")
        .fetch_token(&client())
        .await
        .unwrap();
    assert_eq!(token.installation_id, InstallationId(100));
    let listed = app(&github).installations(&client()).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        [InstallationId(1), InstallationId(2), InstallationId(100)]
    );
    assert_eq!(listed[0].account, "octo");

    // 150 installations: two pages of 100.
    let mut many = Emulator::builder();
    for id in 1..=150 {
        many = many.installation(github_auth_emulator::Installation::new(
            id,
            format!("account-{id}"),
        ));
    }
    let many = many.start().await.unwrap();
    let listed = app(&many).installations(&client()).await.unwrap();
    assert_eq!(listed.len(), 150);
    assert_eq!(listed[149].account, "account-150");
}

/// Every installation, past the 100 pages (10,000 installations) a listing used to stop at
/// with `Ok` and a partial list: the 10,050 generated ones and the three of the default world,
/// each once.
#[tokio::test]
async fn every_installation_is_listed_past_ten_thousand() {
    let github = Emulator::builder()
        .generated_installations(10_050)
        .start()
        .await
        .unwrap();
    let listed: Vec<tower_github_auth::AppInstallation> =
        app(&github).installations(&client()).await.unwrap();
    let ids: std::collections::BTreeSet<_> = listed.iter().map(|i| i.id.0).collect();
    assert_eq!(listed.len(), 10_053);
    assert_eq!(ids.len(), 10_053, "each installation once");
    let last = github_auth_emulator::FIRST_GENERATED_INSTALLATION_ID + 10_049;
    assert!(ids.contains(&last), "the last page is read");
}

#[tokio::test]
async fn an_app_created_from_a_manifest_acts_as_itself_and_its_code_works_once() {
    use tower_github_auth::{AppManifest, convert_manifest_code};
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let manifest = AppManifest::new("from-manifest", "https://example.com")
        .webhook("https://example.com/hook")
        .default_permission("contents", "read");
    let code = github.issue_manifest_code(&manifest.to_json());

    let created = convert_manifest_code(&client(), &endpoints, &code)
        .await
        .unwrap();
    assert_eq!(created.name, "from-manifest");
    assert!(created.webhook_secret.is_some());
    let shown = format!("{created:?}");
    assert!(!shown.contains(created.pem.expose_secret()) && shown.contains("***"));
    assert!(!shown.contains(created.client_secret.expose_secret()));

    // The new App acts as itself, and as its installation.
    let app = created.app_auth().unwrap().endpoints(endpoints.clone());
    let (status, me) = send(&stack(app.clone()), get("/app")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], created.id.0);
    let installation = app.installations(&client()).await.unwrap()[0].id;
    let token = app
        .as_installation(installation)
        .fetch_token(&client())
        .await
        .unwrap();
    assert_eq!(token.installation_id, installation);
    assert_eq!(
        created.client_credentials().client_id(),
        created.client_id.as_str()
    );

    // The code works once; the error does not carry it.
    let again = convert_manifest_code(&client(), &endpoints, &code)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(StatusCode::NOT_FOUND), "{again}");
    assert!(!format!("{again:?}").contains(&code));
    assert_eq!(github.counters().manifest_conversions, 1);
}
