//! Shared by the end-to-end tests: a real hyper-util client against the emulator's port.
#![allow(dead_code, unreachable_pub)]

pub mod captured;
pub mod fault_run;
pub mod faulty;
pub mod memory_store;
pub mod noop_github;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};
use tower_github_auth::{CodeGrant, DeviceGrant, Error, OAuthTokenAuth, UserAuthBuilder, UserFlow};

/// The HTTP client every test stacks the layers on.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// `layer` over the test client: the stack every test sends through.
pub fn stack<L: tower::Layer<HttpClient>>(layer: L) -> L::Service {
    layer.layer(client())
}

pub fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

/// Sends one request through a clone of `svc`; the status and the JSON body.
pub async fn send<S, RB>(
    svc: &S,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, serde_json::Value), Error>
where
    S: Service<Request<Full<Bytes>>, Response = http::Response<RB>, Error = Error> + Clone,
    RB: http_body::Body<Error: std::fmt::Debug>,
{
    let response = svc.clone().oneshot(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

/// A server on another port that answers with the `Authorization` header it received.
pub async fn echo_server() -> String {
    use axum::routing::any;
    let app = axum::Router::new().fallback(any(|headers: http::HeaderMap| async move {
        let auth = headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let ua = headers
            .get(http::header::USER_AGENT)
            .map(|v| v.to_str().unwrap().to_owned());
        axum::Json(serde_json::json!({ "authorization": auth, "user_agent": ua }))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Signing a user in, as the tests do it again and again: build the user flow if it is still a
/// builder, run its first grant (the code exchange, the device flow) through `http`, and keep
/// the signed-in user as a token layer.
pub trait SignIn {
    /// Signs in through `http`; the user as an [`OAuthTokenAuth`] sharing the flow's state.
    fn sign_in<S>(
        self,
        http: &S,
    ) -> impl std::future::Future<Output = Result<OAuthTokenAuth, Error>> + Send
    where
        S: tower_github_auth::HttpClient<Full<Bytes>, hyper::body::Incoming> + Sync;
}

impl<G: Send + Sync> SignIn for &UserFlow<G> {
    async fn sign_in<S>(self, http: &S) -> Result<OAuthTokenAuth, Error>
    where
        S: tower_github_auth::HttpClient<Full<Bytes>, hyper::body::Incoming> + Sync,
    {
        self.fetch_token(http).await?;
        Ok(self.token_auth())
    }
}

impl SignIn for UserAuthBuilder<CodeGrant> {
    async fn sign_in<S>(self, http: &S) -> Result<OAuthTokenAuth, Error>
    where
        S: tower_github_auth::HttpClient<Full<Bytes>, hyper::body::Incoming> + Sync,
    {
        (&self.build()).sign_in(http).await
    }
}

impl SignIn for UserAuthBuilder<DeviceGrant> {
    async fn sign_in<S>(self, http: &S) -> Result<OAuthTokenAuth, Error>
    where
        S: tower_github_auth::HttpClient<Full<Bytes>, hyper::body::Incoming> + Sync,
    {
        (&self.build()).sign_in(http).await
    }
}

/// A response body of any kind: what [`intercepting`] answers with.
pub type AnyBody = http_body_util::combinators::BoxBody<Bytes, tower_github_auth::BoxError>;

/// What an interception answers.
pub type Intercepted = futures_util::future::BoxFuture<
    'static,
    Result<http::Response<AnyBody>, tower_github_auth::BoxError>,
>;

/// The test client with a hand on every request: `intercept` gets each request and the real
/// client, and answers in GitHub's place, or [`forward`]s it (and may change the answer).
pub fn intercepting<F>(
    intercept: F,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = http::Response<AnyBody>,
    Error = tower_github_auth::BoxError,
    Future = Intercepted,
> + Clone
+ Send
+ Sync
+ 'static
where
    F: Fn(Request<Full<Bytes>>, HttpClient) -> Intercepted + Clone + Send + Sync + 'static,
{
    let http = client();
    tower::service_fn(move |req| intercept(req, http.clone()))
}

/// Sends `req` to the emulator as the plain client would.
pub fn forward(req: Request<Full<Bytes>>, http: HttpClient) -> Intercepted {
    use futures_util::FutureExt;
    async move {
        let response = http.request(req).await?;
        Ok(response.map(|body| body.map_err(Into::into).boxed()))
    }
    .boxed()
}

/// A request's full body, read at once.
pub fn body_bytes(req: &Request<Full<Bytes>>) -> Bytes {
    use futures_util::FutureExt;
    req.body()
        .clone()
        .collect()
        .now_or_never()
        .expect("a full body is ready")
        .expect("infallible")
        .to_bytes()
}

/// Three JWT lives on (paused clock, 8 minutes apart), `GET /app` as `app` is answered at once:
/// the clock offset it learned is kept for every new JWT.
pub async fn jwts_stay_good(app: &tower_github_auth::AppAuth) {
    let as_app = stack(app.clone());
    for _ in 0..3 {
        tokio::time::advance(std::time::Duration::from_secs(8 * 60)).await;
        let (status, me) = send(&as_app, get("/app")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], 1);
    }
}
