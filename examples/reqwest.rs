//! tower-github-auth's layers over a `reqwest::Client`, against a loopback GitHub (the emulator):
//! no network, no secrets.
//!
//! Run: `cargo run --example reqwest`
//!
//! `ReqwestService` (crate `tower-github-auth-reqwest`) is the reqwest client as the tower
//! service the layers wrap: every call, and every token exchange, goes through that client. It
//! prints what GitHub answered and who it took the caller for, never a secret.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_WEB_FLOW_CODE, Emulator,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use secrecy::ExposeSecret;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{
    AppId, AppInstallationAuth, ClientCredentials, Endpoints, InstallationId, OAuthAppAuth,
    OAuthTokenAuth, PrivateKey, TokenSet,
};
use tower_github_auth_reqwest::ReqwestService;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `GET path` through `github`, answered as JSON.
async fn get<S>(github: &S, path: &str) -> Result<serde_json::Value, BoxError>
where
    S: tower::Service<
            http::Request<Bytes>,
            Response = http::Response<reqwest::Body>,
            Error = tower_github_auth::Error,
        > + Clone,
{
    let request = http::Request::get(path).body(Bytes::new())?;
    // reqwest's own `Response` back, to read the answer as reqwest users do.
    let answer = reqwest::Response::from(github.clone().oneshot(request).await?);
    Ok(serde_json::from_str(
        &answer.error_for_status()?.text().await?,
    )?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let emulator = Emulator::start().await?;
    let endpoints = Endpoints::single(&emulator.base_url())?;
    println!("GitHub emulator listening on {}\n", emulator.base_url());

    // The reqwest client, configured as you like; `from_builder` turns its redirects off (a
    // token exchange must never follow one). For github.com nothing changes but the endpoints:
    // reqwest's `rustls` feature (on here) brings TLS.
    let reqwest = ReqwestService::from_builder(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(60)),
    )?;

    println!("an App installation (AppInstallationAuth)");
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?;
    let installation =
        AppInstallationAuth::new(AppId(1), key, InstallationId(1)).endpoints(endpoints.clone());
    let github = ServiceBuilder::new()
        .layer(installation)
        .service(reqwest.clone());
    // Ten calls at once on a cold cache: one token exchange, through the reqwest client.
    let calls = (0..10).map(|_| get(&github, "/repos/octo/one"));
    let answers = futures_util::future::try_join_all(calls).await?;
    println!(
        "    GET /repos/octo/one x10: {}, GitHub saw {}",
        answers[0]["full_name"], answers[0]["emulator"]
    );
    println!(
        "    installation-token exchanges for ten calls: {}\n",
        emulator.counters().installation_token_exchanges
    );

    println!("a user (OAuthTokenAuth)");
    // What a login callback stores: the token set from the web flow (the emulator's ready code).
    let credentials = ClientCredentials::new(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let stored: TokenSet = OAuthAppAuth::new(credentials.clone())
        .endpoints(endpoints.clone())
        .as_web_user(DEFAULT_WEB_FLOW_CODE)
        .build()
        .fetch_token(&reqwest)
        .await?;
    let user = OAuthTokenAuth::builder(credentials)
        .token_set(stored)
        .endpoints(endpoints)
        .on_refresh(|_set: TokenSet| async move {
            // Store the new set here: its refresh token is the only one that works from now on.
            println!("    on_refresh: a new token set to store");
            Ok::<_, Infallible>(())
        })
        .build();
    let github = ServiceBuilder::new().layer(user.clone()).service(reqwest);
    println!("    GET /user: {}", get(&github, "/user").await?["login"]);

    // GitHub ends the access token (the user revoked it, say): the layer drops it, refreshes,
    // and replays the call with a copy of its (`Bytes`) body.
    if let Some(access) = user.cached_token().and_then(|set| set.access_token) {
        emulator.revoke(access.expose_secret());
    }
    println!(
        "    GET /user after GitHub revoked the token: {} ({} refresh)",
        get(&github, "/user").await?["login"],
        emulator.counters().refreshes
    );
    Ok(())
}
