//! Rate limits recorded per credential identity, and the pool that spreads requests over
//! several identities, against the emulator's budgets.

mod common;

use std::time::Duration;

use common::{get, send, stack};
use github_auth_emulator::{DEFAULT_PAT, Emulator, EmulatorHandle, Identity};
use http::StatusCode;
use tower_github_auth::{
    AppAuth, AppId, AuthService, Endpoints, Error, InstallationId, Pool, PoolLayer, PrivateKey,
    RateLimits, Resource, TokenAuth,
};

fn app(github: &EmulatorHandle) -> AppAuth {
    AppAuth::new(
        AppId(1),
        PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1).unwrap(),
    )
    .endpoints(Endpoints::single(&github.base_url()).unwrap())
}

const REPOS: &str = "/installation/repositories";

/// What each member of `pool` has spent of its core budget, as GitHub last said.
fn used<S, C>(pool: &Pool<S, C>) -> Vec<u64> {
    pool.members()
        .iter()
        .map(|m| m.rate_limit(Resource::Core).map_or(0, |limit| limit.used))
        .collect()
}

#[tokio::test]
async fn an_installations_record_is_shared_by_its_layers_and_kept_across_refreshes() {
    let github = Emulator::builder()
        .rate_limit("core", 50)
        .installation_token_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let app = app(&github);
    for _ in 0..3 {
        // A stack per request, as a webhook handler builds it.
        let svc = stack(app.as_installation(InstallationId(1)));
        assert_eq!(send(&svc, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    let installation = app.as_installation(InstallationId(1));
    let core = installation.rate_limit(Resource::Core).expect("recorded");
    assert_eq!((core.limit, core.remaining, core.used), (50, 47, 3));
    assert_eq!(core.resource, Resource::Core);
    // A narrowed token of the installation counts against the same budget, and its own record
    // is the installation's.
    let narrowed = app.as_installation(InstallationId(1)).repositories(["one"]);
    assert!(
        narrowed
            .rate_limits_ref()
            .shares_with(&installation.rate_limits_ref())
    );
    let svc = stack(narrowed);
    assert_eq!(send(&svc, get(REPOS)).await.unwrap().0, StatusCode::OK);
    assert_eq!(installation.rate_limit(Resource::Core).unwrap().used, 4);
    // A new token (the old one revoked: the layer drops it and mints anew) keeps the record.
    let svc = stack(app.as_installation(InstallationId(1)));
    let token = app
        .as_installation(InstallationId(1))
        .cached_token()
        .expect("cached");
    github.revoke(secrecy::ExposeSecret::expose_secret(&token.token));
    assert_eq!(send(&svc, get(REPOS)).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().installation_token_exchanges, 3);
    assert_eq!(installation.rate_limit(Resource::Core).unwrap().used, 5);
    // Another installation, another budget; GraphQL, another resource.
    assert_eq!(
        app.as_installation(InstallationId(2))
            .rate_limit(Resource::Core),
        None
    );
    assert_eq!(installation.rate_limit(Resource::Graphql), None);
}

#[tokio::test]
async fn two_tokens_of_one_user_report_one_budget() {
    let github = Emulator::builder()
        .personal_access_token("ghp_second_of_octocat", "octocat")
        .rate_limit("core", 20)
        .start()
        .await
        .unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let octocat = RateLimits::new();
    let first = TokenAuth::new(DEFAULT_PAT)
        .unwrap()
        .endpoints(endpoints.clone())
        .rate_limits(octocat.clone());
    let second = TokenAuth::new("ghp_second_of_octocat")
        .unwrap()
        .endpoints(endpoints.clone())
        .rate_limits(octocat.clone());
    let alone = TokenAuth::new(DEFAULT_PAT).unwrap().endpoints(endpoints);
    assert_eq!(
        send(&stack(first.clone()), get("/user")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        send(&stack(second.clone()), get("/user")).await.unwrap().0,
        StatusCode::OK
    );
    let core = octocat.get(Resource::Core).expect("recorded");
    assert_eq!((core.used, core.remaining), (2, 18));
    assert_eq!(
        first.rate_limit(Resource::Core),
        second.rate_limit(Resource::Core)
    );
    // A layer with a record of its own saw nothing yet.
    assert_eq!(alone.rate_limit(Resource::Core), None);
    assert_eq!(
        send(&stack(alone.clone()), get("/user")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(alone.rate_limit(Resource::Core).unwrap().used, 3);
}

#[tokio::test]
async fn a_pool_of_three_installations_serves_what_one_budget_cannot() {
    let github = Emulator::builder()
        .rate_limit("core", 10)
        .start()
        .await
        .unwrap();
    let app = app(&github);

    // One installation alone: the eleventh request is refused.
    let alone = stack(app.as_installation(InstallationId(2)));
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(send(&alone, get(REPOS)).await.unwrap().0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        10
    );
    assert_eq!(statuses[10], StatusCode::FORBIDDEN);

    // Installations 1, 100 and a fresh one: 25 requests, all served, spread over the three.
    let reinstalled = github.reinstall(2);
    let pool = stack(PoolLayer::new(
        [1, 100, reinstalled].map(|id| app.as_installation(InstallationId(id))),
    ));
    for _ in 0..25 {
        assert_eq!(send(&pool, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    let spent = used(&pool);
    assert_eq!(spent.iter().sum::<u64>(), 25, "{spent:?}");
    assert!(
        spent.iter().all(|used| (1..=10).contains(used)),
        "{spent:?}"
    );

    // Five more fit; then none is left: the typed error, with the earliest reset, and nothing sent.
    for _ in 0..5 {
        assert_eq!(send(&pool, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    let requests = github.counters().requests;
    let Err(Error::PoolExhausted { resource, until }) = send(&pool, get(REPOS)).await else {
        panic!("every budget is spent");
    };
    assert_eq!(resource, Resource::Core);
    let earliest = pool
        .members()
        .iter()
        .map(|m| m.rate_limit(Resource::Core).unwrap().reset)
        .min();
    assert_eq!(until, earliest);
    assert!(
        Error::PoolExhausted { resource, until }
            .to_string()
            .contains("`core`")
    );
    assert_eq!(github.counters().requests, requests);
    // GraphQL is another budget: still served.
    let graphql = http::Request::post("/graphql")
        .body(http_body_util::Full::from(
            r#"{"query":"{ viewer { login } }"}"#,
        ))
        .unwrap();
    assert_eq!(send(&pool, graphql).await.unwrap().0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_member_hit_by_a_secondary_limit_is_skipped_for_its_retry_after() {
    // A budget small enough that every answer is read (exact counts below).
    let github = Emulator::builder()
        .rate_limit("core", 200)
        .start()
        .await
        .unwrap();
    let app = app(&github);
    let pool: Pool<_> = stack(PoolLayer::new(
        [1, 2].map(|id| app.as_installation(InstallationId(id))),
    ));
    // Both members serve once (tokens minted).
    for _ in 0..2 {
        assert_eq!(send(&pool, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(used(&pool), [1, 1]);

    // Installation 2 hits a secondary limit without Retry-After: skipped for 60 s.
    github.secondary_rate_limit(
        Identity::Installation(2),
        1,
        StatusCode::TOO_MANY_REQUESTS,
        None,
    );
    let mut limited = 0;
    for _ in 0..2 {
        if send(&pool, get(REPOS)).await.unwrap().0 == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert_eq!(limited, 1, "the limited answer reaches the caller");
    let second = &pool.members()[1];
    assert_eq!(
        second.rate_limits_ref().held_for(),
        Some(Duration::from_secs(60))
    );
    for _ in 0..6 {
        assert_eq!(send(&pool, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(used(&pool), [8, 1], "all went to installation 1");

    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(second.rate_limits_ref().held_for(), None);
    for _ in 0..2 {
        assert_eq!(send(&pool, get(REPOS)).await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(used(&pool), [9, 2], "installation 2 is back");

    // With Retry-After, that long.
    github.secondary_rate_limit(
        Identity::Installation(1),
        1,
        StatusCode::FORBIDDEN,
        Some(Duration::from_secs(90)),
    );
    for _ in 0..2 {
        send(&pool, get(REPOS)).await.unwrap();
    }
    assert_eq!(
        pool.members()[0].rate_limits_ref().held_for(),
        Some(Duration::from_secs(90))
    );

    // Both held: the typed error says when the first comes back.
    github.secondary_rate_limit(
        Identity::Installation(2),
        1,
        StatusCode::TOO_MANY_REQUESTS,
        None,
    );
    send(&pool, get(REPOS)).await.unwrap();
    let Err(Error::PoolExhausted { until: Some(_), .. }) = send(&pool, get(REPOS)).await else {
        panic!("both members are held back");
    };
}

/// The pool's members are services like any other: a pool of fixed tokens works the same way.
#[tokio::test]
async fn a_pool_of_tokens_shares_a_users_budget() {
    let github = Emulator::builder()
        .personal_access_token("ghp_second_of_octocat", "octocat")
        .personal_access_token("ghp_of_monalisa", "monalisa")
        .rate_limit("core", 3)
        .start()
        .await
        .unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let octocat = RateLimits::new();
    let token = |token: &str, record: RateLimits| {
        TokenAuth::new(token.to_owned())
            .unwrap()
            .endpoints(endpoints.clone())
            .rate_limits(record)
    };
    let pool = stack(PoolLayer::new([
        token(DEFAULT_PAT, octocat.clone()),
        token("ghp_second_of_octocat", octocat.clone()),
        token("ghp_of_monalisa", RateLimits::new()),
    ]));
    // Two users, three requests each: six served, though there are three tokens.
    for _ in 0..6 {
        assert_eq!(send(&pool, get("/user")).await.unwrap().0, StatusCode::OK);
    }
    assert!(matches!(
        send(&pool, get("/user")).await,
        Err(Error::PoolExhausted { .. })
    ));
    let _: &AuthService<_, tower_github_auth::Fixed> = &pool.members()[0];
}
