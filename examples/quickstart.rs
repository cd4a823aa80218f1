//! Every strategy working, against a loopback GitHub (the emulator): no network, no secrets.
//!
//! Run: `cargo run --example quickstart`
//!
//! For each strategy it prints what was sent (the `Authorization` scheme and the kind of
//! credential, never the secret itself) and who GitHub said the caller was.

use std::error::Error as StdError;

use bytes::Bytes;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_PAT, DEFAULT_WEB_FLOW_CODE, Emulator,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_github_auth::{
    ActionAuth, AppAuth, AppId, ClientCredentials, Endpoints, InstallationId, OAuthAppAuth,
    OAuthDeviceAuth, PrivateKey, TokenAuth, TokenSet, Unauthenticated,
};

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
        if headers.contains_key(http::header::CONTENT_TYPE) {
            return "OAuth form, client credentials in the body".into();
        }
        return "no credential".into();
    };
    let text = auth.to_str().unwrap_or_default();
    let (scheme, secret) = text.split_once(' ').unwrap_or((text, ""));
    let kind = match secret {
        s if s.starts_with("ghs_") => "installation token",
        s if s.starts_with("ghp_") => "personal access token",
        s if s.starts_with("ghu_") => "GitHub App user token",
        s if s.starts_with("gho_") => "OAuth app user token",
        s if s.starts_with("eyJ") => "App JWT",
        _ => "credential",
    };
    format!("Authorization: {scheme} <{kind}, {} chars>", secret.len())
}

/// A token set, described without revealing it.
fn describe_set(what: &str, set: &TokenSet) {
    let expires = set.expires_at.map_or_else(
        || "never".to_owned(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    );
    println!(
        "    {what}: access token {}, expires {expires}, refresh token {}",
        if set.access_token.is_some() {
            "present"
        } else {
            "absent"
        },
        if set.refresh_token.is_some() {
            "present (rotated on every refresh)"
        } else {
            "none"
        },
    );
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
    let github = Emulator::builder().device_interval(1).start().await?;
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
    let app = AppAuth::new(AppId(1), key).endpoints(endpoints.clone());
    let svc = ServiceBuilder::new()
        .layer(app.clone())
        .service(http_client());
    let me = call(&svc, "/app").await?;
    println!(
        "    GitHub says you are the App: {} (id {})\n",
        me["slug"], me["id"]
    );

    println!("AppInstallationAuth: app.as_installation(1); the token is minted once, then cached");
    let installation = app.as_installation(InstallationId(1));
    let svc = ServiceBuilder::new()
        .layer(installation.clone())
        .service(http_client());
    for _ in 0..2 {
        let repo = call(&svc, "/repos/octo/one").await?;
        println!("    GitHub saw: {}", repo["emulator"]);
    }
    let token = installation.fetch_token(&http_client()).await?;
    println!(
        "    the token for other uses (git, subprocesses): {} chars, expires {}, permissions {:?}",
        token.token.expose_secret().len(),
        humantime::format_rfc3339_seconds(token.expires_at),
        token.permissions
    );
    let renewed = installation.refresh(&http_client()).await?;
    println!(
        "    refresh(): a new token now (for new permissions), {} chars",
        renewed.token.expose_secret().len()
    );
    installation.revoke(&http_client()).await?;
    println!(
        "    revoke(): ended at GitHub and dropped, as a CI job does at its end; the next request mints anew"
    );
    let listed = app.installations(&http_client()).await?;
    println!(
        "    app.installations(): {} installations ({})",
        listed.len(),
        listed
            .iter()
            .map(|i| format!("{} on {}", i.id, i.account))
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!("\nOAuthAppAuth -> as_web_user(code): the code is exchanged on the first request");
    let oauth_app = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
    ))
    .endpoints(endpoints.clone());
    let (authorize, _state) = oauth_app
        .authorize_url()
        .redirect_uri("http://127.0.0.1/callback")
        .scopes(["repo"])
        .pkce()
        .build();
    println!("    (a web app would first send the user to {authorize})");
    let web_user = oauth_app.as_web_user(DEFAULT_WEB_FLOW_CODE).build();
    let svc = ServiceBuilder::new()
        .layer(web_user.clone())
        .service(http_client());
    let user = call(&svc, "/user").await?;
    println!("    GitHub says you are: {}", user["login"]);
    let set = web_user
        .cached_token()
        .expect("the request exchanged the code");
    describe_set("the user's token set after the request", &set);
    let check = oauth_app
        .check_token(&http_client(), set.access_token.as_ref().unwrap())
        .await?;
    println!(
        "    OAuthAppAuth::check_token (Basic auth): valid = {}\n",
        check.is_some()
    );

    println!(
        "AppAuth -> as_oauth_app(credentials) -> as_web_user(code) -> fetch_token(): an expiring user token"
    );
    let app_client = app.as_oauth_app(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ));
    let code = github.issue_web_flow_code("octocat");
    let web_user = app_client
        .as_web_user(code)
        .on_refresh(|set: TokenSet| async move {
            // Store the rotated refresh token here (database, keychain) before it is used.
            describe_set("on_refresh hook received", &set);
            Ok::<(), std::io::Error>(())
        })
        .build();
    web_user.fetch_token(&http_client()).await?;
    // Signed in: keep the user as a token layer (it shares the token, its refresh and the hook).
    let user_token = web_user.token_auth();
    let svc = ServiceBuilder::new()
        .layer(user_token.clone())
        .service(http_client());
    let user = call(&svc, "/user").await?;
    println!("    GitHub says you are: {}", user["login"]);
    println!("    a manual refresh (automatic ones happen 5 minutes before expiry):");
    user_token.refresh(&http_client()).await?;
    call(&svc, "/user").await?;

    println!("\nOAuthDeviceAuth: the device flow, polling no faster than GitHub's interval");
    let device = OAuthDeviceAuth::builder(DEFAULT_APP_CLIENT_ID)
        .scopes(["repo"])
        .on_user_code(|code| {
            println!(
                "    show the person: open {} and enter {}",
                code.verification_uri, code.user_code
            );
        })
        .endpoints(endpoints.clone())
        .build();
    let svc = ServiceBuilder::new()
        .layer(device.clone())
        .service(http_client());
    let user = call(&svc, "/user").await?;
    println!("    GitHub says you are: {}", user["login"]);

    let counters = github.counters();
    println!(
        "\nThe emulator counted {} requests: {} installation token exchange(s), {} JWT(s) \
         verified, {} code exchange(s), {} refresh(es), {} device poll(s) ({} too fast).",
        counters.requests,
        counters.installation_token_exchanges,
        counters.jwts_verified,
        counters.oauth_code_exchanges,
        counters.refreshes,
        counters.device_polls,
        counters.device_polls_too_fast,
    );
    Ok(())
}
