//! tower-github-auth and its emulator in a build where jsonwebtoken has both crypto backends on
//! (`aws_lc_rs` from the workspace, `rust_crypto` from this package, as another crate of a user's
//! build may turn it on). jsonwebtoken 11 then has no provider of its own and panics at its first
//! signature; nothing of ours may.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey};

const PEM: &str = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;

/// The premise: in this build jsonwebtoken's own `encode` panics (both backends, no provider
/// installed). If it ever stops panicking, this package no longer tests anything.
#[test]
fn jsonwebtoken_alone_panics_in_this_build() {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(PEM.as_bytes()).unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    let signed = std::panic::catch_unwind(|| {
        jsonwebtoken::encode(&header, &serde_json::json!({ "iss": 1 }), &key)
    });
    assert!(
        signed.is_err(),
        "jsonwebtoken chose a provider: this build no longer has the two backends it tests"
    );
}

#[test]
fn a_private_key_loads() {
    let key = PrivateKey::from_pem(PEM).unwrap();
    assert_eq!(key.fingerprint().len(), 64);
    assert!(PrivateKey::from_pem("not a key").is_err());
}

/// Signs the App's JWT, then mints an installation token with it: the emulator checks the
/// signature.
#[tokio::test(flavor = "current_thread")]
async fn a_jwt_is_signed_and_an_installation_token_minted() {
    let github = github_auth_emulator::Emulator::builder()
        .start()
        .await
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let app = AppAuth::new(AppId(1), PrivateKey::from_pem(PEM).unwrap())
        .endpoints(Endpoints::single(&github.base_url()).unwrap());

    let jwt = app.fetch_jwt().await.unwrap();
    assert_eq!(jwt.expose_secret().split('.').count(), 3);

    let token = app
        .as_installation(InstallationId(1))
        .fetch_token(&client)
        .await
        .unwrap();
    assert!(token.token.expose_secret().starts_with("ghs_"));
    let counters = github.counters();
    assert_eq!(counters.installation_token_exchanges, 1);
    assert_eq!(counters.jwts_verified, 1);
}
