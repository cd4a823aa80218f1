//! The knobs: User-Agent, Date and clock offset, expiry, replication lag, injected failures,
//! latency, revocation, shutdown.

use std::time::{Duration, SystemTime};

use github_auth_emulator::{DEFAULT_PAT, Emulator};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Http, app_jwt};

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
