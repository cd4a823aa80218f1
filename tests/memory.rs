//! What an App's installation tokens cost in memory: heap bytes, counted by `allocation-counter`
//! as the cache gives them back when dropped (whatever thread allocated them). The figures at
//! 100,000 installations are `cargo bench -p integration-tests --bench installations`.

mod common;

use std::num::NonZeroUsize;

use github_auth_emulator::{
    Emulator, FIRST_GENERATED_INSTALLATION_ID as FIRST, TEST_APP_PRIVATE_KEY_PKCS1, TokenFormat,
};
use secrecy::ExposeSecret;
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey, TokenCache};

/// The heap `drop(value)` gives back, in bytes.
fn heap_of<T>(value: T) -> u64 {
    allocation_counter::measure(|| drop(value))
        .bytes_current
        .unsigned_abs()
}

fn key() -> PrivateKey {
    PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap()
}

/// The heap per cached installation, its tokens minted in `format`; and their mean length.
async fn per_cached_installation(format: TokenFormat) -> (u64, u64) {
    const INSTALLATIONS: u64 = 300;
    let github = Emulator::builder()
        .generated_installations(INSTALLATIONS)
        .installation_token_format(format)
        .start()
        .await
        .unwrap();
    let mut token_bytes = 0;
    let capacity = NonZeroUsize::new(1_000).unwrap();
    let empty = heap_of(TokenCache::new(capacity));
    let cache = TokenCache::new(capacity);
    let app = AppAuth::new(AppId(1), key())
        .endpoints(Endpoints::single(&github.base_url()).unwrap())
        .token_cache(cache.clone());
    let client = common::client();
    for n in 0..INSTALLATIONS {
        let installation = app.as_installation(InstallationId(FIRST + n));
        let minted = installation.fetch_token(&client).await.unwrap();
        // What the cache keeps gives the whole token back.
        let cached = installation.cached_token().unwrap();
        assert_eq!(cached.token.expose_secret(), minted.token.expose_secret());
        assert_eq!(format!("{cached:?}"), format!("{minted:?}"));
        token_bytes += minted.token.expose_secret().len() as u64;
    }
    let token = app
        .as_installation(InstallationId(FIRST))
        .cached_token()
        .unwrap();
    assert_eq!(
        token.permissions.len(),
        3,
        "the default answer's permissions"
    );
    assert_eq!(token.repository_selection.as_deref(), Some("all"));
    drop(app);
    assert_eq!(cache.len() as u64, INSTALLATIONS);

    let per_installation = (heap_of(cache) - empty) / INSTALLATIONS;
    let token = token_bytes / INSTALLATIONS;
    eprintln!(
        "{per_installation} bytes of heap per cached installation ({format:?}, {token}-byte tokens)"
    );
    (per_installation, token)
}

#[tokio::test]
async fn a_cached_installation_costs_at_most_a_kibibyte() {
    let (per_installation, token) = per_cached_installation(TokenFormat::Classic).await;
    assert_eq!(token, 40);
    assert!(per_installation <= 1024, "{per_installation} B");
}

/// GitHub's stateless tokens (about 520 bytes) are kept once: the installation costs what it
/// costs with a classic token, plus the longer token.
#[tokio::test]
async fn a_stateless_token_is_kept_once() {
    let (classic, _) = per_cached_installation(TokenFormat::Classic).await;
    let (stateless, token) = per_cached_installation(TokenFormat::Stateless).await;
    assert!(token > 480, "{token}-byte tokens");
    // The token once (and rounding), not twice.
    assert!(
        stateless <= classic + (token - 40) + 64,
        "{stateless} B with {token}-byte tokens, {classic} B with 40-byte ones"
    );
}

#[test]
fn nothing_is_allocated_up_front_for_a_capacity() {
    // Neither the token cache's table nor the remembered installation ids are sized for their
    // bound (100,000 and 10,000): an App that uses few installations pays for few.
    let cache = heap_of(TokenCache::new(NonZeroUsize::new(100_000).unwrap()));
    let smallest = heap_of(TokenCache::new(NonZeroUsize::new(1).unwrap()));
    assert_eq!(
        cache, smallest,
        "a bound of 100,000 costs what a bound of 1 does"
    );
    // What an empty cache holds whatever its bound: its two tables' headers (tokens, and the
    // installations' rate-limit records) and the hit counter's 8 stripes of a cache line each.
    assert!(cache < 2048, "an empty cache: {cache} B");
    let key = key();
    let app = heap_of(AppAuth::new(AppId(1), key));
    assert!(app < 8 * 1024, "an App with its default cache: {app} B");
}
