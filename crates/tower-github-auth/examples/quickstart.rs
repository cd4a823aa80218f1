//! Every strategy working, against a loopback GitHub (the emulator): no network, no secrets.
//!
//! Run: `cargo run --example quickstart`
//!
//! For each strategy it prints what was sent (the `Authorization` scheme and the kind of
//! credential, never the secret itself) and who GitHub said the caller was.

use std::error::Error as StdError;

use bytes::Bytes;
use github_auth_emulator::{DEFAULT_PAT, Emulator, TEST_APP_PRIVATE_KEY_PKCS1};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_github_auth::{ActionAuth, AppAuth, Endpoints, PrivateKey, TokenAuth, Unauthenticated};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The user's HTTP client: a hyper-util client with a tiny layer that prints what goes out.
fn http_client() -> impl Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = BoxError,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    tower::util::MapRequestLayer::new(|req: Request<Full<Bytes>>| {
        println!(
            "    sent {} {}  [{}]",
            req.method(),
            req.uri(),
            describe(req.headers())
        );
        req
    })
    .layer(client)
    .map_err(BoxError::from)
}

/// The credential on a request, described without revealing it.
fn describe(headers: &http::HeaderMap) -> String {
    let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
        return "no credential".into();
    };
    let text = auth.to_str().unwrap_or_default();
    let (scheme, secret) = text.split_once(' ').unwrap_or((text, ""));
    let kind = match secret {
        s if s.starts_with("ghs_") => "installation token",
        s if s.starts_with("ghp_") => "personal access token",
        s if s.starts_with("eyJ") => "App JWT",
        _ => "credential",
    };
    format!("Authorization: {scheme} <{kind}, {} chars>", secret.len())
}

async fn call<S>(svc: &S, path: &str) -> Result<serde_json::Value, BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>> + Clone,
    S::Error: Into<BoxError>,
{
    let request = Request::get(path).body(Full::default())?;
    let response = svc.clone().oneshot(request).await.map_err(Into::into)?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    println!("    GitHub answered {status}");
    Ok(json)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let github = Emulator::builder().start().await?;
    let endpoints = Endpoints::single(&github.base_url())?;
    println!("GitHub emulator listening on {}\n", github.base_url());

    println!("Unauthenticated: public data, GitHub's required headers added");
    let svc = ServiceBuilder::new()
        .layer(Unauthenticated::new().endpoints(endpoints.clone()))
        .service(http_client());
    let repo = call(&svc, "/repos/octo/one").await?;
    println!("    GitHub saw: {}\n", repo["emulator"]);

    println!("TokenAuth: a personal access token");
    let svc = ServiceBuilder::new()
        .layer(TokenAuth::new(DEFAULT_PAT)?.endpoints(endpoints.clone()))
        .service(http_client());
    let user = call(&svc, "/user").await?;
    println!("    GitHub says you are: {}\n", user["login"]);

    println!("ActionAuth: the Actions token from GITHUB_TOKEN / INPUT_GITHUB_TOKEN");
    let base = github.base_url();
    let action = ActionAuth::from_vars(|name| match name {
        "GITHUB_TOKEN" => Some(DEFAULT_PAT.to_owned()),
        "GITHUB_API_URL" | "GITHUB_SERVER_URL" => Some(base.clone()),
        _ => None,
    })?;
    let svc = ServiceBuilder::new().layer(action).service(http_client());
    let user = call(&svc, "/user").await?;
    println!("    GitHub says you are: {}\n", user["login"]);

    println!("AppAuth: the GitHub App itself, with a JWT signed once and reused");
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?;
    let app = AppAuth::new(1, key).endpoints(endpoints.clone());
    let svc = ServiceBuilder::new()
        .layer(app.clone())
        .service(http_client());
    let me = call(&svc, "/app").await?;
    println!(
        "    GitHub says you are the App: {} (id {})\n",
        me["slug"], me["id"]
    );

    println!("AppInstallationAuth: app.as_installation(1); the token is minted once, then cached");
    let installation = app.as_installation(1);
    let svc = ServiceBuilder::new()
        .layer(installation.clone())
        .service(http_client());
    for _ in 0..2 {
        let repo = call(&svc, "/repos/octo/one").await?;
        println!("    GitHub saw: {}", repo["emulator"]);
    }
    let token = installation.token(&http_client()).await?;
    println!(
        "    the token for other uses (git, subprocesses): {} chars, expires {}, permissions {:?}",
        token.token().expose_secret().len(),
        humantime::format_rfc3339_seconds(token.expires_at()),
        token.permissions()
    );

    let counters = github.counters();
    println!(
        "\nThe emulator counted {} requests, {} installation token exchange(s), {} JWT(s) verified.",
        counters.requests, counters.installation_token_exchanges, counters.jwts_verified
    );
    Ok(())
}
