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

/// Every layer sends the `User-Agent` it is given, on the requests it authenticates and on its
/// exchanges with GitHub (a request's own `User-Agent` wins); none sends this crate's default.
#[tokio::test]
async fn every_layer_and_its_exchanges_send_the_user_agent_set_on_it() {
    use github_auth_emulator::{
        DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, TEST_APP_PRIVATE_KEY_PKCS1,
    };
    use http::HeaderValue;
    use tower_github_auth::{AppAuth, AppId, ClientCredentials, InstallationId, OAuthAppAuth};

    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let ua = HeaderValue::from_static;

    let anonymous = Unauthenticated::new()
        .endpoints(endpoints.clone())
        .user_agent(ua("ua-anonymous/1"));
    send(&stack(anonymous), get("/repos/octo/one"))
        .await
        .unwrap();

    let token = TokenAuth::new(DEFAULT_PAT)
        .unwrap()
        .endpoints(endpoints.clone())
        .user_agent(ua("ua-token/1"));
    let token = stack(token);
    assert_eq!(send(&token, get("/user")).await.unwrap().0, StatusCode::OK);
    // A request's own User-Agent is kept.
    let mut own = get("/user");
    own.headers_mut()
        .insert(http::header::USER_AGENT, ua("mine/1"));
    assert_eq!(send(&token, own).await.unwrap().0, StatusCode::OK);

    let base = github.base_url();
    let action = ActionAuth::from_vars(|name| match name {
        "GITHUB_TOKEN" => Some(DEFAULT_PAT.to_owned()),
        "GITHUB_API_URL" => Some(base.clone()),
        _ => None,
    })
    .unwrap()
    .user_agent(ua("ua-action/1"));
    assert_eq!(
        send(&stack(action), get("/user")).await.unwrap().0,
        StatusCode::OK
    );

    // The App's JWT on `/app`; its installations inherit its User-Agent or take their own.
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints.clone())
        .user_agent(ua("ua-app/1"));
    assert_eq!(
        send(&stack(app.clone()), get("/app")).await.unwrap().0,
        StatusCode::OK
    );
    let inherited = stack(app.as_installation(InstallationId(1)));
    assert_eq!(
        send(&inherited, get("/repos/octo/one")).await.unwrap().0,
        StatusCode::OK
    );
    let own_installation = app
        .as_installation(InstallationId(2))
        .user_agent(ua("ua-installation/1"));
    let own_installation = stack(own_installation);
    send(&own_installation, get("/installation/repositories"))
        .await
        .unwrap();

    // The OAuth client: its token routes, and the user layers made from it.
    let oauth = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(endpoints)
    .user_agent(ua("ua-oauth/1"));
    let unknown = secrecy::SecretString::from("ghu_unknown".to_owned());
    assert!(
        oauth
            .check_token(&client(), &unknown)
            .await
            .unwrap()
            .is_none()
    );
    let user = stack(
        oauth
            .as_web_user(github.issue_web_flow_code("octocat"))
            .build(),
    );
    assert_eq!(send(&user, get("/user")).await.unwrap().0, StatusCode::OK);
    let own_user = oauth
        .as_web_user(github.issue_web_flow_code("octocat"))
        .user_agent(ua("ua-user/1"))
        .build();
    assert_eq!(
        send(&stack(own_user), get("/user")).await.unwrap().0,
        StatusCode::OK
    );

    let seen = github.user_agents();
    let expected = [
        ("mine/1", 1),
        ("ua-action/1", 1),
        ("ua-anonymous/1", 1),
        // `/app`; installation 1's mint and request.
        ("ua-app/1", 3),
        // Installation 2's mint and request.
        ("ua-installation/1", 2),
        // The token check; the first user's code exchange and request.
        ("ua-oauth/1", 3),
        ("ua-token/1", 1),
        // The second user's code exchange and request.
        ("ua-user/1", 2),
    ];
    let seen: Vec<(&str, u64)> = seen.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(seen, expected);
}
