//! The strategies that need no exchange, host pinning and default headers, end to end.

mod common;

use common::{client, echo_server, get, send, stack};
use github_auth_emulator::{DEFAULT_PAT, Emulator};
use http::StatusCode;
use tower::{Service, ServiceBuilder};
use tower_github_auth::{ActionAuth, Endpoints, TokenAuth, Unauthenticated};

#[tokio::test]
async fn the_token_is_on_api_requests_and_bare_paths_resolve() {
    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let svc = stack(TokenAuth::new(DEFAULT_PAT).unwrap().endpoints(endpoints));

    let (status, user) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["login"], "octocat");

    let absolute = format!("{}/repos/octo/one", github.base_url());
    let (status, repo) = send(&svc, get(&absolute)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["emulator"]["credential"], "pat");
    assert_eq!(github.counters().requests_without_user_agent, 0);
}

#[tokio::test]
async fn a_request_to_another_host_carries_no_credential() {
    let github = Emulator::builder().start().await.unwrap();
    let elsewhere = echo_server().await;
    let svc = ServiceBuilder::new()
        .layer(
            TokenAuth::new("ghp_must_not_leak")
                .unwrap()
                .endpoints(Endpoints::single(&github.base_url()).unwrap()),
        )
        .service(client());

    let (status, seen) = send(&svc, get(&format!("{elsewhere}/steal")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["authorization"], serde_json::Value::Null);
    // Untouched: not even our User-Agent.
    assert_eq!(seen["user_agent"], serde_json::Value::Null);

    // The same host name with another scheme-host-port is another host.
    let port = github.addr().port();
    let localhost = format!("http://localhost:{port}/repos/octo/one");
    let (status, _) = send(&svc, get(&localhost)).await.unwrap();
    // Untouched, so no User-Agent either: GitHub (here the emulator) refuses it.
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(github.counters().requests_without_user_agent, 1);
}

#[tokio::test]
async fn unauthenticated_adds_only_the_required_headers() {
    let github = Emulator::builder().start().await.unwrap();
    let svc = ServiceBuilder::new()
        .layer(Unauthenticated::new().endpoints(Endpoints::single(&github.base_url()).unwrap()))
        .service(client());
    let (status, repo) = send(&svc, get("/repos/octo/one")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["emulator"]["credential"], "none");
    assert_eq!(github.counters().requests_without_user_agent, 0);

    // Without the layer, the emulator refuses like GitHub does.
    let (status, _) = {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let r = client()
            .oneshot(get(&format!("{}/repos/octo/one", github.base_url())))
            .await
            .unwrap();
        (r.status(), r.into_body().collect().await.unwrap())
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(github.counters().requests_without_user_agent, 1);
}

#[tokio::test]
async fn action_auth_uses_the_variables() {
    let github = Emulator::builder().start().await.unwrap();
    let base = github.base_url();
    let action = ActionAuth::from_vars(|name| match name {
        "INPUT_GITHUB_TOKEN" => Some(DEFAULT_PAT.to_owned()),
        "GITHUB_API_URL" | "GITHUB_SERVER_URL" => Some(base.clone()),
        _ => None,
    })
    .unwrap();
    let svc = stack(action.clone());
    let (status, user) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["login"], "octocat");
    assert!(!format!("{action:?}").contains(DEFAULT_PAT));
}

#[tokio::test]
async fn the_inner_services_failure_is_told_apart() {
    // Nothing listens on port 9 of loopback: the inner client fails, not authentication.
    let svc = stack(
        TokenAuth::new("ghp_x")
            .unwrap()
            .endpoints(Endpoints::single("http://127.0.0.1:9").unwrap()),
    );
    let err = send(&svc, get("/user")).await.unwrap_err();
    assert!(err.is_inner(), "{err}");
    assert!(
        err.inner_error()
            .unwrap()
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some()
    );
}

#[tokio::test]
async fn a_bad_token_is_answered_by_github_not_retried() {
    let github = Emulator::builder().start().await.unwrap();
    let svc = ServiceBuilder::new()
        .layer(
            TokenAuth::new("ghp_wrong")
                .unwrap()
                .endpoints(Endpoints::single(&github.base_url()).unwrap()),
        )
        .service(client());
    let (status, body) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(github.counters().requests, 1);
}

/// A body that cannot be built from bytes, as a proxy's `Request<Incoming>` cannot.
struct Forwarded(&'static str);

/// An inner service that is not `Clone` (a proxy's connection to its upstream, say) and answers
/// with the `Authorization` header it received.
struct Upstream {
    calls: usize,
}

impl tower::Service<http::Request<Forwarded>> for Upstream {
    type Response = http::Response<Option<String>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Forwarded>) -> Self::Future {
        self.calls += 1;
        assert_eq!(req.body().0, "payload");
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        std::future::ready(Ok(http::Response::new(auth)))
    }
}

#[tokio::test]
async fn fixed_credentials_ask_nothing_of_the_inner_service() {
    use tower::{Layer, ServiceExt};
    // Neither cloneable nor built from bytes: fine for a layer that makes no exchange.
    let mut github = TokenAuth::new("ghp_proxy")
        .unwrap()
        .layer(Upstream { calls: 0 });
    let request = http::Request::get("/user")
        .body(Forwarded("payload"))
        .unwrap();
    let response = github.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.into_body().as_deref(), Some("Bearer ghp_proxy"));
    let anonymous = Unauthenticated::new().layer(Upstream { calls: 0 });
    let response = anonymous
        .oneshot(
            http::Request::get("/zen")
                .body(Forwarded("payload"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.into_body(), None);
    assert_eq!(github.get_ref().calls, 1);
}
