//! The knobs: User-Agent, Date and clock offset, expiry, replication lag (401 and 403), the
//! refusals of a valid token (permission, SSO, rate limits), injected failures,
//! latency, revocation, shutdown.

use std::time::{Duration, SystemTime};

use github_auth_emulator::{DEFAULT_PAT, Emulator, Forbidden};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Answer, Http, app_jwt};

#[tokio::test]
async fn missing_user_agent_is_403() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .send(
            Method::GET,
            "/user",
            &[("authorization", &format!("Bearer {DEFAULT_PAT}"))],
            None,
            false,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.message().contains("User-Agent"));
    let counters = emulator.counters();
    assert_eq!(counters.requests, 1);
    assert_eq!(counters.requests_without_user_agent, 1);
    assert_eq!(counters.refusals_for("no_user_agent"), 1);
}

fn date_of(answer: &crate::common::Answer) -> SystemTime {
    httpdate::parse_http_date(answer.header("date").expect("no Date header")).unwrap()
}

fn assert_near(actual: SystemTime, expected: SystemTime) {
    let drift = actual
        .duration_since(expected)
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift <= Duration::from_secs(3),
        "{actual:?} vs {expected:?}"
    );
}

#[tokio::test]
async fn date_header_follows_the_clock_offset() {
    let emulator = Emulator::builder()
        .clock_offset(3600)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    // Every answer carries it, refusals and 404s included.
    let answer = http.get("/nowhere", None).await;
    assert_near(
        date_of(&answer),
        SystemTime::now() + Duration::from_secs(3600),
    );
    emulator.set_clock_offset(-600);
    let answer = http.get("/user", Some(DEFAULT_PAT)).await;
    assert_near(
        date_of(&answer),
        SystemTime::now() - Duration::from_secs(600),
    );
}

#[tokio::test]
async fn date_header_without_offset() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator).get("/user", Some(DEFAULT_PAT)).await;
    assert_near(date_of(&answer), SystemTime::now());
}

#[tokio::test(start_paused = true)]
async fn date_header_moves_with_paused_time() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let before = date_of(&http.get("/user", Some(DEFAULT_PAT)).await);
    tokio::time::advance(Duration::from_secs(7200)).await;
    let after = date_of(&http.get("/user", Some(DEFAULT_PAT)).await);
    assert_near(after, before + Duration::from_secs(7200));
}

#[tokio::test(start_paused = true)]
async fn expired_installation_token_is_401() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    tokio::time::advance(Duration::from_secs(3599)).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::OK
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    let answer = http.get("/repos/octo/one", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Bad credentials");
    assert_eq!(emulator.counters().refusals_for("token_expired"), 1);
}

#[tokio::test(start_paused = true)]
async fn installation_token_ttl_is_configurable() {
    let emulator = Emulator::builder()
        .installation_token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(2, &Value::Null).await;
    tokio::time::advance(Duration::from_secs(121)).await;
    assert_eq!(
        http.get("/repos/monalisa/hello", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    emulator.set_installation_token_ttl(Duration::from_secs(30));
    let token = http.installation_token(2, &Value::Null).await;
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        http.get("/repos/monalisa/hello", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(emulator.counters().refusals_for("token_expired"), 2);
}

#[tokio::test(start_paused = true)]
async fn user_token_ttl_is_adjustable() {
    let emulator = Emulator::start().await.unwrap();
    emulator.set_user_token_ttl(Duration::from_secs(60));
    let http = Http::new(&emulator);
    let token = http
        .app_code_exchange(github_auth_emulator::DEFAULT_WEB_FLOW_CODE)
        .await;
    assert_eq!(token["expires_in"], 60);
    tokio::time::advance(Duration::from_secs(61)).await;
    let answer = http.get("/user", token["access_token"].as_str()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn replication_lag_refuses_a_fresh_token_once() {
    let emulator = Emulator::start().await.unwrap();
    emulator.set_replication_lag(true);
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    let first = http.get("/repos/octo/one", Some(&token)).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first.message(), "Bad credentials");
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(emulator.counters().refusals_for("replication_lag"), 1);
    emulator.set_replication_lag(false);
    let calm = http.installation_token(1, &Value::Null).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(&calm)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn replication_lag_403_refuses_a_fresh_token_without_saying_why() {
    let emulator = Emulator::start().await.unwrap();
    emulator.set_replication_lag_403(2);
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    for _ in 0..2 {
        let refused = http.get("/repos/octo/one", Some(&token)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.message(), "Resource not accessible by integration");
        for why in REFUSAL_HEADERS {
            assert_eq!(refused.header(why), None, "{why}");
        }
    }
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(emulator.counters().refusals_for("replication_lag_403"), 2);

    // With the 401 knob on too, the 401 comes first; off, new tokens work at once.
    emulator.set_replication_lag(true);
    emulator.set_replication_lag_403(1);
    let both = http.installation_token(1, &Value::Null).await;
    let statuses = [
        http.get("/repos/octo/one", Some(&both)).await.status,
        http.get("/repos/octo/one", Some(&both)).await.status,
        http.get("/repos/octo/one", Some(&both)).await.status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::OK
        ]
    );
    emulator.set_replication_lag(false);
    emulator.set_replication_lag_403(0);
    let calm = http.installation_token(1, &Value::Null).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(&calm)).await.status,
        StatusCode::OK
    );
    let counters = emulator.counters();
    assert_eq!(counters.refusals_for("replication_lag"), 1);
    assert_eq!(counters.refusals_for("replication_lag_403"), 3);
}

/// The headers by which a 403 says why GitHub refused a valid token.
const REFUSAL_HEADERS: [&str; 3] = [
    "x-accepted-github-permissions",
    "x-github-sso",
    "retry-after",
];

/// One request refused as `why` says, with a PAT; the request after it is answered as usual.
async fn forbidden_once(why: Forbidden) -> (Answer, github_auth_emulator::Counters) {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    emulator.forbid_next(1, why);
    let refused = http.get("/repos/octo/one", Some(DEFAULT_PAT)).await;
    assert_eq!(
        http.get("/repos/octo/one", Some(DEFAULT_PAT)).await.status,
        StatusCode::OK
    );
    (refused, emulator.counters())
}

#[tokio::test]
async fn a_missing_permission_names_it() {
    let (refused, counters) =
        forbidden_once(Forbidden::MissingPermission("contents=read".into())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.message(), "Resource not accessible by integration");
    assert_eq!(
        refused.header("x-accepted-github-permissions"),
        Some("contents=read")
    );
    assert_eq!(counters.refusals_for("missing_permission"), 1);
}

#[tokio::test]
async fn saml_sso_says_where_to_authorize() {
    let (refused, counters) = forbidden_once(Forbidden::SsoRequired { org: "octo".into() }).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let sso = refused.header("x-github-sso").unwrap();
    let url = sso.strip_prefix("required; url=http://127.0.0.1:").unwrap();
    assert!(
        url.contains("/orgs/octo/sso?authorization_request="),
        "{sso}"
    );
    assert_eq!(counters.refusals_for("sso_required"), 1);
}

#[tokio::test]
async fn a_spent_rate_limit_says_when_it_resets() {
    let (refused, counters) = forbidden_once(Forbidden::RateLimited).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-limit"), Some("5000"));
    assert_eq!(refused.header("x-ratelimit-resource"), Some("core"));
    let reset: u64 = refused
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 3000..now + 4000).contains(&reset), "{reset}");
    assert_eq!(counters.refusals_for("rate_limited"), 1);
}

#[tokio::test]
async fn secondary_rate_limits_answer_403_or_429_with_retry_after() {
    let retry_after = Duration::from_secs(60);
    let (refused, counters) = forbidden_once(Forbidden::SecondaryRateLimit { retry_after }).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert!(refused.message().contains("secondary rate limit"));
    assert_eq!(counters.refusals_for("secondary_rate_limit"), 1);

    let (refused, counters) = forbidden_once(Forbidden::TooManyRequests { retry_after }).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(counters.refusals_for("too_many_requests"), 1);
}

#[tokio::test]
async fn forbid_next_counts_down_and_spares_bad_credentials() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    emulator.forbid_next(2, Forbidden::RateLimited);
    // A bad token is refused for itself (401), and does not use up the knob.
    assert_eq!(
        http.get("/user", Some("ghp_unknown")).await.status,
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..2 {
        assert_eq!(
            http.get("/user", Some(DEFAULT_PAT)).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT)).await.status,
        StatusCode::OK
    );
    emulator.forbid_next(3, Forbidden::RateLimited);
    emulator.forbid_next(0, Forbidden::RateLimited);
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT)).await.status,
        StatusCode::OK
    );
    assert_eq!(emulator.counters().refusals_for("rate_limited"), 2);
}

#[tokio::test]
async fn injected_failures_answer_500() {
    let emulator = Emulator::start().await.unwrap();
    emulator.fail_next_exchanges(2);
    let http = Http::new(&emulator);
    let path = "/app/installations/1/access_tokens";
    for _ in 0..2 {
        let answer = http.post_json(path, Some(&app_jwt()), &Value::Null).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.json(), json!({ "message": "emulated server error" }));
    }
    let answer = http.post_json(path, Some(&app_jwt()), &Value::Null).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    // The OAuth token endpoint is a token endpoint too.
    emulator.fail_next_exchanges(1);
    let oauth = http.oauth_code_exchange_raw().await;
    assert_eq!(oauth.status, StatusCode::INTERNAL_SERVER_ERROR);
    let counters = emulator.counters();
    assert_eq!(counters.installation_token_exchanges, 3);
    assert_eq!(counters.installation_tokens_minted, 1);
    assert_eq!(counters.oauth_code_exchanges, 1);
    assert_eq!(counters.exchanges(), 4);
    assert_eq!(counters.refusals_for("injected_error"), 3);
    // Other routes are untouched.
    emulator.fail_next_exchanges(1);
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT)).await.status,
        StatusCode::OK
    );
}

impl Http {
    async fn oauth_code_exchange_raw(&self) -> crate::common::Answer {
        self.oauth(
            "/login/oauth/access_token",
            &[
                ("client_id", github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID),
                (
                    "client_secret",
                    github_auth_emulator::DEFAULT_OAUTH_CLIENT_SECRET,
                ),
                ("code", github_auth_emulator::DEFAULT_WEB_FLOW_CODE),
            ],
        )
        .await
    }
}

#[tokio::test(start_paused = true)]
async fn latency_delays_token_endpoints_only() {
    let emulator = Emulator::builder()
        .latency(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let jwt = app_jwt();
    let started = tokio::time::Instant::now();
    let answer = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&jwt),
            &Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_secs(2));
    emulator.set_latency(Duration::from_secs(5));
    let started = tokio::time::Instant::now();
    http.oauth_code_exchange_raw().await;
    assert!(started.elapsed() >= Duration::from_secs(5));
    let started = tokio::time::Instant::now();
    http.get("/user", Some(DEFAULT_PAT)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn revoked_tokens_are_401() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let token = http.installation_token(1, &Value::Null).await;
    emulator.revoke(&token);
    emulator.revoke(DEFAULT_PAT);
    assert_eq!(
        http.get("/repos/octo/one", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        http.get("/user", Some(DEFAULT_PAT)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(emulator.counters().refusals_for("token_revoked"), 2);
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let emulator = Emulator::start().await.unwrap();
    let addr = emulator.addr();
    assert_eq!(
        Http::new(&emulator)
            .get("/user", Some(DEFAULT_PAT))
            .await
            .status,
        StatusCode::OK
    );
    let clone = emulator.clone();
    clone.shutdown();
    assert!(refuses_connections(addr).await);
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let emulator = Emulator::start().await.unwrap();
    let addr = emulator.addr();
    let clone = emulator.clone();
    drop(emulator);
    // A clone keeps it alive.
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(clone);
    assert!(refuses_connections(addr).await);
}

#[tokio::test]
async fn counters_count_requests() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    for _ in 0..3 {
        http.get("/user", Some(DEFAULT_PAT)).await;
    }
    let counters = emulator.counters();
    assert_eq!(counters.requests, 3);
    assert!(counters.refusals.is_empty());
    assert!(format!("{emulator:?}").contains("127.0.0.1"));
}
