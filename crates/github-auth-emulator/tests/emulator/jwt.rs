//! GitHub App JWT checks, on `GET /app`.

use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_ID, DEFAULT_PAT, Emulator, TEST_APP_PRIVATE_KEY_PKCS8,
};
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::common::{Http, app_jwt, now, sign};

async fn refused(jwt: &str, reason: &str, message_part: &str) {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/app", Some(jwt)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let body = answer.json();
    assert!(
        body["message"].as_str().unwrap().contains(message_part),
        "{body}"
    );
    assert!(body["documentation_url"].is_string());
    let counters = emulator.counters();
    assert_eq!(counters.refusals_for(reason), 1, "{counters:?}");
    assert_eq!(counters.jwts_verified, 0);
}

#[tokio::test]
async fn jwt_with_app_id_is_accepted_and_counted() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let jwt = app_jwt();
    let answer = http.get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let app = answer.json();
    assert_eq!(app["id"], json!(DEFAULT_APP_ID));
    assert_eq!(app["slug"], "emulator-app");
    assert_eq!(app["client_id"], DEFAULT_APP_CLIENT_ID);
    assert_eq!(app["owner"]["login"], "octocat");
    // The same JWT is good for its whole life.
    assert_eq!(http.get("/app", Some(&jwt)).await.status, StatusCode::OK);
    let counters = emulator.counters();
    assert_eq!(counters.jwts_verified, 2);
    assert_eq!(counters.distinct_jwts, 1);
}

#[tokio::test]
async fn jwt_with_app_id_as_string_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let now = now();
    let jwt =
        sign(&json!({ "iat": now - 60, "exp": now + 540, "iss": DEFAULT_APP_ID.to_string() }));
    let answer = Http::new(&emulator).get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn jwt_with_client_id_as_issuer_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let now = now();
    let jwt = sign(&json!({ "iat": now - 60, "exp": now + 540, "iss": DEFAULT_APP_CLIENT_ID }));
    let answer = Http::new(&emulator).get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(emulator.counters().jwts_verified, 1);
}

#[tokio::test]
async fn jwt_signed_with_the_pkcs8_key_is_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let now = now();
    let key = EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY_PKCS8.as_bytes()).unwrap();
    let claims = json!({ "iat": now - 60, "exp": now + 540, "iss": DEFAULT_APP_ID });
    let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    let answer = Http::new(&emulator).get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn jwt_backdated_like_githubs_sample_is_accepted() {
    // GitHub's sample code: iat = now - 60, exp = now + 10 minutes.
    let emulator = Emulator::start().await.unwrap();
    let now = now();
    let jwt = sign(&json!({ "iat": now - 60, "exp": now + 600, "iss": DEFAULT_APP_ID }));
    let answer = Http::new(&emulator).get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn jwt_with_bad_signature_is_refused() {
    let jwt = app_jwt();
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    // Flip the first character of the signature.
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    refused(&tampered, "jwt_bad_signature", "could not be decoded").await;
}

#[tokio::test]
async fn jwt_with_iat_in_the_future_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "iat": now + 30, "exp": now + 540, "iss": DEFAULT_APP_ID }));
    refused(&jwt, "jwt_iat_in_future", "('iat')").await;
}

#[tokio::test]
async fn expired_jwt_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "iat": now - 700, "exp": now - 100, "iss": DEFAULT_APP_ID }));
    refused(&jwt, "jwt_expired", "('exp') must be a numeric value").await;
}

#[tokio::test]
async fn jwt_with_exp_too_far_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "iat": now, "exp": now + 660, "iss": DEFAULT_APP_ID }));
    refused(&jwt, "jwt_exp_too_far", "('exp') is too far in the future").await;
}

#[tokio::test]
async fn jwt_living_longer_than_ten_minutes_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "iat": now - 300, "exp": now + 500, "iss": DEFAULT_APP_ID }));
    refused(&jwt, "jwt_exp_too_far", "too far in the future").await;
}

#[tokio::test]
async fn jwt_with_wrong_issuer_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "iat": now - 60, "exp": now + 540, "iss": 999 }));
    refused(&jwt, "jwt_bad_issuer", "Integration not found").await;
}

#[tokio::test]
async fn jwt_without_iat_is_refused() {
    let now = now();
    let jwt = sign(&json!({ "exp": now + 540, "iss": DEFAULT_APP_ID }));
    refused(&jwt, "jwt_bad_iat", "('iat') must be an Integer").await;
}

#[tokio::test]
async fn garbage_on_an_app_route_is_refused() {
    refused("not-a-jwt", "jwt_malformed", "could not be decoded").await;
}

#[tokio::test]
async fn a_token_on_an_app_route_is_refused() {
    refused(DEFAULT_PAT, "jwt_required", "could not be decoded").await;
}

#[tokio::test]
async fn no_credential_on_an_app_route_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator).get("/app", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.counters().refusals_for("no_credentials"), 1);
}

#[tokio::test]
async fn jwt_checks_use_the_emulators_clock() {
    // GitHub's clock is an hour ahead: a JWT from the machine's clock has expired...
    let emulator = Emulator::builder()
        .clock_offset(3600)
        .start()
        .await
        .unwrap();
    let http = Http::new(&emulator);
    let answer = http.get("/app", Some(&app_jwt())).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.counters().refusals_for("jwt_expired"), 1);
    // ...and one built from the answer's Date header passes.
    let date = httpdate::parse_http_date(answer.header("date").unwrap()).unwrap();
    let github_now = date
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let jwt =
        sign(&json!({ "iat": github_now - 30, "exp": github_now + 570, "iss": DEFAULT_APP_ID }));
    assert_eq!(http.get("/app", Some(&jwt)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_jwt_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let jwt = app_jwt();
    emulator.revoke(&jwt);
    let answer = Http::new(&emulator).get("/app", Some(&jwt)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Bad credentials");
    assert_eq!(emulator.counters().refusals_for("token_revoked"), 1);
}
