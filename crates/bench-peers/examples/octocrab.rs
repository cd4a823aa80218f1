//! octocrab's typed API through tower-github-auth's layers, against a loopback GitHub (the
//! emulator): no network, no secrets.
//!
//! Run: `cargo run -p bench-peers --example octocrab`
//!
//! octocrab accepts a tower stack of your own: here one of our layers adds the credential (an
//! installation token, then a user token), and octocrab's own authentication is off
//! (`AuthState::None`). It prints what GitHub answered to each typed call and who GitHub took
//! the caller for, never a secret. `octocrab_with` and `copy_octo_body` come from
//! `tower-github-auth-octocrab` (the README's "Inside octocrab"); `tests/octocrab.rs` runs them
//! against the emulator.

use std::convert::Infallible;
use std::time::SystemTime;

use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_WEB_FLOW_CODE, Emulator,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octocrab::OctoBody;
use tower_github_auth::{
    AppAuth, AppId, ClientCredentials, Endpoints, InstallationId, OAuthAppAuth, OAuthTokenAuth,
    PrivateKey, TokenSet,
};
use tower_github_auth_octocrab::{copy_octo_body, octocrab_with};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let github = Emulator::builder().start().await?;
    let base = github.base_url();
    let endpoints = Endpoints::single(&base)?;
    println!("GitHub emulator listening on {base}\n");
    // For github.com, a TLS client: `.build(https)` with hyper-rustls's `HttpsConnector`.
    let client = Client::builder(TokioExecutor::new()).build_http::<OctoBody>();

    println!("octocrab as an App installation (AppInstallationAuth)");
    let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?;
    let app = AppAuth::new(AppId(1), key)
        .endpoints(endpoints.clone())
        .replay_body_with(copy_octo_body);
    let installation = app.as_installation(InstallationId(1));
    let octocrab = octocrab_with(&installation, client.clone());
    let repo = octocrab.repos("octo", "one").get().await?;
    println!(
        "    repos(\"octo\", \"one\").get(): {} (id {}, private: {})",
        repo.full_name.as_deref().unwrap_or("?"),
        repo.id,
        repo.private.unwrap_or_default(),
    );
    let seen: serde_json::Value = octocrab.get("/repos/octo/one", None::<&()>).await?;
    println!("    GitHub saw: {}", seen["emulator"]);
    if let Some(token) = installation.cached_token() {
        println!(
            "    the layer's installation token reaches {} repositories, expires in {} s",
            token.repository_selection.as_deref().unwrap_or("?"),
            seconds_left(token.expires_at),
        );
    }
    // One more call: the cached token, no exchange.
    octocrab.repos("octo", "two").get().await?;
    println!(
        "    installation-token exchanges for three calls: {}\n",
        github.counters().installation_token_exchanges
    );

    println!("octocrab as a user (OAuthTokenAuth)");
    // What a login callback stores: the token set from the web flow (the emulator's ready code).
    let credentials = ClientCredentials::new(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let stored: TokenSet = OAuthAppAuth::new(credentials.clone())
        .endpoints(endpoints.clone())
        .as_web_user(DEFAULT_WEB_FLOW_CODE)
        .build()
        .fetch_token(&client)
        .await?;
    let user = OAuthTokenAuth::builder(credentials)
        .token_set(stored)
        .endpoints(endpoints)
        .replay_body_with(copy_octo_body)
        .on_refresh(|set: TokenSet| async move {
            // Store `set` here: its refresh token is the only one that works from now on.
            println!(
                "    on_refresh: a new token set, expires in {} s",
                set.expires_at.map_or(0, seconds_left)
            );
            Ok::<_, Infallible>(())
        })
        .build();
    let octocrab = octocrab_with(&user, client);
    let me = octocrab.current().user().await?;
    println!("    current().user(): {} (id {})", me.login, me.id);

    // GitHub ends the access token (a user revoked it, say): the layer drops it, refreshes, and
    // replays the call.
    if let Some(access) = user.cached_token().and_then(|set| set.access_token) {
        github.revoke(secrecy::ExposeSecret::expose_secret(&access));
    }
    let me = octocrab.current().user().await?;
    println!(
        "    after GitHub revoked the access token: {} again, {} refresh",
        me.login,
        github.counters().refreshes
    );
    Ok(())
}

/// Whole seconds from now to `at` (0 if past).
fn seconds_left(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::now())
        .map_or(0, |left| left.as_secs())
}
