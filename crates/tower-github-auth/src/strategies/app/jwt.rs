//! [`AppAuth`]: acting as the GitHub App itself, with a JWT signed by its private key (or by a
//! [`JwtSigner`] that keeps the key elsewhere).

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode};
use lru::LruCache;
use secrecy::SecretString;
use serde::Serialize;
use tower_layer::Layer;

use crate::cache::{Entry, Fresh, Policy, Slot};
use crate::clock::Clock;
use crate::credential::{Mint, Minted};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error, Exchange, SharedError};
use crate::fleet::StoreHealth;
use crate::headers::sensitive_header;
use crate::observe::{self, CacheStats, Counters};
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::service::replay::Replaying;
use crate::side::{Answer, Limits, Side};
use crate::store::TokenStore;
use crate::strategies::app::cache::{KeyScope, TokenCache};
use crate::strategies::app::ids::AppIssuer;
use crate::strategies::app::key::PrivateKey;
use crate::strategies::app::signer::JwtSigner;
use crate::subject::Subject;

/// How many looked-up installations (by repository, organisation, user) an App remembers.
const REMEMBERED_INSTALLATIONS: NonZeroUsize = NonZeroUsize::new(10_000).expect("not zero");
/// How far back `iat` is set, for clock drift (GitHub's advice).
const IAT_BACKDATE: Duration = Duration::from_secs(60);
/// `exp` − `iat`: GitHub refuses more than ten minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60 + 60);
/// A new JWT is signed when less than this is left of the current one.
const JWT_REFRESH_MARGIN: Duration = Duration::from_secs(2 * 60);
/// The JOSE header of every JWT, serialized as `jsonwebtoken` does (`typ` first), so that the
/// JWTs are byte for byte those this crate signed before signers were pluggable.
const JWT_HEADER: &str = r#"{"typ":"JWT","alg":"RS256"}"#;

/// What every clone of an App shares: the signer, the clock, the JWT, remembered installations.
pub(crate) struct AppShared {
    pub(crate) issuer: AppIssuer,
    signer: Arc<dyn JwtSigner>,
    /// The signer's [`JwtSigner::key_id`], read once: part of every installation token's key.
    pub(crate) key_id: String,
    pub(crate) clock: Arc<Clock>,
    jwt: Arc<Slot<()>>,
    /// `target@api_base` -> installation id, looked up once (and again after a 404: the App was
    /// reinstalled, the repository moved). Bounded, least recently used out.
    pub(crate) installation_ids: Mutex<LruCache<String, u64>>,
}

impl fmt::Debug for AppShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppShared")
            .field("issuer", &self.issuer)
            .field("signer", &self.signer)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Authenticates as the GitHub App itself (`Authorization: Bearer <JWT>`), for the `/app` routes;
/// and the starting point for [`as_installation`](Self::as_installation) and
/// [`as_oauth_app`](Self::as_oauth_app).
///
/// Clones are cheap and share the key (or signer), the clock offset, the JWT and the token cache.
/// The builder methods change only the value they are called on.
///
/// GitHub's rules: RS256; `iat` 60 seconds in the past (clock drift), `exp` at most ten minutes
/// after `iat`; `iss` the App's numeric id or its client id. A JWT is valid for its whole life, so
/// one is signed and reused until shortly before it expires. When GitHub refuses a JWT (401), its
/// `Date` header tells GitHub's time; the offset is remembered and the next JWT uses it. Signing
/// is part of minting the JWT: one signature however many requests wait, bounded by the exchange
/// deadline, backed off after a failure.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_github_auth::{AppAuth, AppId, InstallationId, PrivateKey};
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
///
/// // Your App's private key (`std::fs::read("my-app.private-key.pem")?`); here, a test key.
/// let pem = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;
/// // Any HTTP client that is a `tower::Service` (for github.com, one with TLS: hyper-rustls).
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
///
/// let key = PrivateKey::from_pem(pem)?;        // parsed once, errors here
/// let app = AppAuth::new(AppId(12345), key);   // or AppIssuer::client_id("Iv23li...")
/// let as_app = ServiceBuilder::new().layer(app.clone()).service(client.clone()); // GET /app
/// let as_installation = ServiceBuilder::new()
///     .layer(app.as_installation(InstallationId(42))) // cheap: shares the key, JWT and cache
///     .service(client);
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub(crate) shared: Arc<AppShared>,
    pub(crate) endpoints: Endpoints,
    pub(crate) cache: TokenCache,
    /// API base, issuer and key: the part every installation token's cache key shares.
    pub(crate) scope: Arc<KeyScope>,
    pub(crate) policy: Policy,
    pub(crate) replay: Replaying,
    pub(crate) limits: Limits,
    /// Where a fleet shares installation tokens; `None`: this process only.
    pub(crate) store: Option<Arc<dyn TokenStore>>,
    /// The store's recent failures, shared by every installation token of this App (its events
    /// report an outage, and its end, once).
    pub(crate) store_health: StoreHealth,
}

impl AppAuth {
    /// An App on github.com, from its id ([`AppId`](crate::AppId)) or client id
    /// ([`AppIssuer::client_id`]) and its private key.
    ///
    /// **What it shares**: each call makes a new App with its own JWT, clock and
    /// [`TokenCache`]; two `AppAuth::new(..)` for the same App share nothing, and each mints its
    /// own installation tokens. Build it once and share it: its clones (cheap: reference counts)
    /// and every installation made from it ([`as_installation`](Self::as_installation),
    /// [`installation_for_repository`](Self::installation_for_repository), ...) share the JWT, the
    /// clock and the token cache. Separate Apps can share one cache with
    /// [`token_cache`](Self::token_cache); replicas in several processes, with
    /// [`token_store`](Self::token_store).
    pub fn new(issuer: impl Into<AppIssuer>, key: PrivateKey) -> Self {
        Self::with_signer(issuer, key)
    }

    /// An App on github.com whose JWTs are signed by `signer`: a key in a KMS, Vault or an HSM
    /// (see [`JwtSigner`] for how they plug in), or any wrapper of a [`PrivateKey`].
    ///
    /// The crate still builds the JWT and reuses it for minutes; `signer` is asked for one
    /// signature per JWT, however many requests wait for it, within the exchange deadline
    /// ([`exchange_timeout`](Self::exchange_timeout)). Its [`key_id`](JwtSigner::key_id) is read
    /// here, once.
    ///
    /// Like [`new`](Self::new), each call makes a new App with its own JWT and token cache:
    /// build it once, then clone it or call [`as_installation`](Self::as_installation) on it.
    pub fn with_signer(issuer: impl Into<AppIssuer>, signer: impl JwtSigner) -> Self {
        let signer: Arc<dyn JwtSigner> = Arc::new(signer);
        let clock = Arc::new(Clock::default());
        let issuer = issuer.into();
        let key_id = signer.key_id();
        let endpoints = Endpoints::default();
        let scope = key_scope(&endpoints, &issuer, &key_id);
        // Grows as installations are looked up (`LruCache::new` would size it for all at once).
        let mut installation_ids = LruCache::unbounded();
        installation_ids.resize(REMEMBERED_INSTALLATIONS);
        let jwt_policy = Policy {
            refresh_margin: JWT_REFRESH_MARGIN,
            ..Policy::default()
        };
        Self {
            shared: Arc::new(AppShared {
                issuer,
                key_id,
                signer,
                jwt: Arc::new(Slot::new(
                    jwt_policy,
                    Arc::clone(&clock),
                    Arc::new(Counters::new("jwt")),
                )),
                clock,
                installation_ids: Mutex::new(installation_ids),
            }),
            endpoints,
            cache: TokenCache::default(),
            scope,
            policy: Policy::default(),
            replay: Replaying::default(),
            limits: Limits::default(),
            store: None,
            store_health: StoreHealth::default(),
        }
    }

    /// Like [`new`](Self::new), parsing the PEM key.
    pub fn from_pem(issuer: impl Into<AppIssuer>, pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self::new(issuer, PrivateKey::from_pem(pem)?))
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.scope = key_scope(&endpoints, &self.shared.issuer, &self.shared.key_id);
        self.endpoints = endpoints;
        self
    }

    /// Keep installation tokens in `cache` (to share one cache between several Apps).
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.cache = cache;
        self
    }

    /// Refresh installation tokens in the background once less than `margin` is left
    /// (default five minutes; at most half a token's life is used).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.policy.refresh_margin = margin;
        self
    }

    /// Whether a refused request is replayed (default: yes, when its body is `Full<Bytes>`,
    /// `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`, `&'static str` or `()`): once with a fresh
    /// token after a 401, and, for a token minted moments ago, after a pause while GitHub
    /// replicates it (a 401, or a 403 that names no reason). Keeping the copy (taken before this
    /// crate's headers go in) costs about 55 ns per request; without it, the refusal reaches the
    /// caller (a 401 past the replication window still drops the token).
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.replay.on = replay;
        self
    }

    /// How to copy a request body of type `B` for a replay after a 401, for a body type that is
    /// not in [`replay_unauthorized`](Self::replay_unauthorized)'s list; `copy` answers `None`
    /// for a body that cannot be copied (a stream), and that request is not replayed. A layer
    /// keeps one copier: a second call replaces the first. A copier for another type than the
    /// inner service's body is never used (the built-in list still is): the layer logs a
    /// warning (`tracing`, target `tower_github_auth`) naming both types at the first such
    /// request. `copy` may be a function or a closure, capturing what it needs.
    ///
    /// octocrab's `OctoBody` is one: its `Clone` shares the body rather than copying it, and its
    /// `try_clone` copies a buffered body but answers `None` for the empty body of a `GET`
    /// (octocrab is not a dependency here; `crates/bench-peers` compiles this):
    ///
    /// ```ignore
    /// .replay_body_with(|body: &OctoBody| {
    ///     body.try_clone().or_else(|| body.is_end_stream().then(OctoBody::empty))
    /// })
    /// ```
    pub fn replay_body_with<B, F>(mut self, copy: F) -> Self
    where
        B: 'static,
        F: Fn(&B) -> Option<B> + Send + Sync + 'static,
    {
        self.replay.body_with(copy);
        self
    }

    /// The `User-Agent` of this layer's requests (those without one of their own) and of its
    /// exchanges with GitHub, instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    ///
    /// Set on the App, it is the `User-Agent` of every installation and OAuth client made from
    /// it ([`as_installation`](Self::as_installation), [`as_oauth_app`](Self::as_oauth_app), ...).
    pub fn user_agent(mut self, user_agent: http::HeaderValue) -> Self {
        self.limits.user_agent = Some(user_agent);
        self
    }

    /// The deadline of every exchange this layer makes (token mint, lookup, grant, refresh, and
    /// the JWT's signature): request sent and answer read, default 10 s. Past it the exchange
    /// fails with [`Error::Timeout`] for every request waiting on it, and the next attempt
    /// (after the backoff) is a new exchange.
    pub fn exchange_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The largest answer an exchange reads, default 32 MiB (a token narrowed to 500
    /// repositories is answered with about 2.5 MiB of repository objects).
    pub fn max_answer_size(mut self, bytes: usize) -> Self {
        self.limits.max_answer = bytes;
        self
    }

    /// Share installation tokens with the other replicas of a fleet through `store` (such as
    /// `tower-github-auth-redis`): one exchange per installation across the fleet. The
    /// in-process cache stays in front (a warm request never reaches the store), and a failing
    /// store is passed by. The App's JWT is not shared: each replica signs its own. `store` is
    /// a store (`RedisTokenStore`), an `Arc` of one, or an `Arc<dyn TokenStore>`.
    pub fn token_store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self.store_health = StoreHealth::default();
        self
    }

    /// The issuer in the App's JWTs.
    pub fn issuer(&self) -> &AppIssuer {
        &self.shared.issuer
    }

    /// Where this App's requests go.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The installation tokens cache.
    pub fn token_cache_ref(&self) -> &TokenCache {
        &self.cache
    }

    /// GitHub's clock minus ours, in seconds, as learned from GitHub's answers.
    pub fn clock_offset_secs(&self) -> i64 {
        let secs = self.shared.clock.offset().as_secs() as i64;
        if self.shared.clock.offset_is_negative() {
            -secs
        } else {
            secs
        }
    }

    /// A JWT for this App, valid for at least 30 seconds: the cached one when it is, else a
    /// new one (one signature however many callers ask at once, within the exchange deadline).
    pub async fn fetch_jwt(&self) -> Result<SecretString, Error> {
        let entry = self.jwt_credential().obtain().await?;
        Ok(jwt_of(&entry))
    }

    /// The cached JWT, if any, without signing one (it may be close to expiry).
    pub fn cached_jwt(&self) -> Option<SecretString> {
        self.shared.jwt.peek().map(|entry| jwt_of(&entry))
    }

    /// What the App's JWT slot has done: `entries` is 1 while a JWT is cached, `hits` counts
    /// the requests (and installation-token mints) served the cached JWT, `misses` those that
    /// waited for a signature, `refreshes_ahead` the JWTs signed ahead of expiry. Shared by
    /// every clone of this App and its installations.
    ///
    /// ```
    /// use tower_github_auth::{AppAuth, AppId};
    ///
    /// let app = AppAuth::from_pem(AppId(1), github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    /// assert_eq!(app.jwt_stats().entries, 0);
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
    pub fn jwt_stats(&self) -> CacheStats {
        self.shared.jwt.stats()
    }

    pub(crate) fn jwt_credential(&self) -> AppJwt {
        AppJwt {
            shared: Arc::clone(&self.shared),
            timeout: self.limits.timeout,
        }
    }

    /// A request that needs the App's JWT. A 401 (wrong clock: the side helper has already
    /// learned GitHub's time from the answer) drops the JWT and retries once with a new one.
    pub(crate) async fn jwt_request(
        &self,
        side: &Side,
        exchange: Exchange,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, Error> {
        self.jwt_request_with(side, exchange, method, path, body, &[])
            .await
    }

    /// [`jwt_request`](Self::jwt_request) with `extra` headers.
    pub(crate) async fn jwt_request_with(
        &self,
        side: &Side,
        exchange: Exchange,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        extra: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Answer, Error> {
        let jwt = self.jwt_credential();
        let mut retried = false;
        loop {
            let entry = jwt.obtain().await?;
            let answer = side
                .rest_raw_with(
                    exchange,
                    method.clone(),
                    path,
                    Some(entry.authorization.value()),
                    body,
                    extra,
                )
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !retried {
                tracing::info!(%exchange, "GitHub refused the App JWT; signing a new one");
                jwt.shared.jwt.invalidate(entry.stamp(), || jwt.identity());
                retried = true;
                continue;
            }
            return Ok(answer);
        }
    }
}

/// The part of installation-token keys an App shares on `endpoints`.
fn key_scope(endpoints: &Endpoints, issuer: &AppIssuer, key_id: &str) -> Arc<KeyScope> {
    Arc::new(KeyScope::new(
        endpoints.api_base().to_owned(),
        issuer.to_string(),
        key_id.to_owned(),
    ))
}

/// The JWT of a cached entry, without its `Bearer ` scheme.
fn jwt_of(entry: &Entry<()>) -> SecretString {
    let header = entry.authorization.value().to_str().unwrap_or_default();
    SecretString::from(header.strip_prefix("Bearer ").unwrap_or(header).to_owned())
}

impl<S> Layer<S> for AppAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::clone(&self.shared.clock),
            Minted::new(self.jwt_credential()),
        );
        auth.replay = self.replay.clone();
        auth.limits = self.limits.clone();
        AuthService::new(inner, auth)
    }
}

/// The App's JWT as a cached credential.
#[derive(Debug, Clone)]
pub(crate) struct AppJwt {
    shared: Arc<AppShared>,
    /// The signature's deadline: the exchange deadline of the layer that asks for it.
    timeout: Duration,
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a AppIssuer,
}

impl AppJwt {
    /// Builds the claims on GitHub's clock and has the signer sign them, within the deadline.
    async fn sign(self) -> Result<Fresh<()>, Error> {
        let now = self.shared.clock.github_now();
        let iat = now - IAT_BACKDATE;
        let exp = iat + JWT_LIFETIME;
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = Claims {
            iat: secs(iat),
            exp: secs(exp),
            iss: &self.shared.issuer,
        };
        let signer_error = |source: SharedError| Error::Signer {
            key_id: self.shared.key_id.clone(),
            source,
        };
        let claims = serde_json::to_vec(&claims).map_err(|e| signer_error(Arc::new(e)))?;
        let mut jwt = URL_SAFE_NO_PAD.encode(JWT_HEADER);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jwt);
        let after = self.timeout;
        observe::record_for("kind", &Exchange::JwtSigning);
        observe::record_for("app", &self.shared.issuer);
        let started = tokio::time::Instant::now();
        #[cfg(feature = "metrics")]
        observe::exchange_started(observe::kind_label(Exchange::JwtSigning), "signer");
        let signed = tokio::time::timeout(after, self.shared.signer.sign(jwt.as_bytes())).await;
        let duration_ms = observe::millis(started.elapsed());
        let outcome = match &signed {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "refused",
            Err(_) => "error",
        };
        #[cfg(feature = "metrics")]
        observe::exchange_finished(
            observe::kind_label(Exchange::JwtSigning),
            "signer",
            outcome,
            started.elapsed(),
        );
        tracing::debug!(key_id = %self.shared.key_id, duration_ms, outcome, "JWT signer answered");
        let signature = signed
            .map_err(|_| Error::Timeout {
                exchange: Exchange::JwtSigning,
                after,
                subject: None,
            })?
            .map_err(|e| signer_error(Arc::from(e)))?;
        if signature.is_empty() {
            return Err(signer_error(Arc::from(BoxError::from(
                "the signer returned an empty signature",
            ))));
        }
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        tracing::debug!(issuer = %self.shared.issuer, "signed a new App JWT");
        Ok(Fresh {
            retry_after: None,
            issued_at: None,
            header: sensitive_header("Bearer", &jwt, "App JWT")?,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(secs(exp))),
            value: (),
        })
    }

    /// A usable JWT, from the cache or freshly signed (single flight).
    async fn obtain(&self) -> Result<Arc<Entry<()>>, Error> {
        let this = self.clone();
        self.shared.jwt.obtain(move || this.sign().boxed()).await
    }
}

impl Mint for AppJwt {
    type Value = ();
    const REPLICATES: bool = false;

    fn slot(&self) -> &Arc<Slot<()>> {
        &self.shared.jwt
    }

    fn mint(&self, _side: Side) -> BoxFuture<'static, Result<Fresh<()>, Error>> {
        self.clone().sign().boxed()
    }

    fn subject(&self) -> Subject {
        Subject::App {
            app: self.shared.issuer.clone(),
        }
    }

    fn learn_from_rejection(&self, date: Option<&HeaderValue>) {
        if let Some(date) = date {
            self.shared.clock.observe_date(date);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::app::ids::AppId;
    use github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;

    #[tokio::test]
    async fn one_jwt_is_reused() {
        use secrecy::ExposeSecret;
        let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        assert!(app.cached_jwt().is_none());
        let a = app.fetch_jwt().await.unwrap();
        let b = app.clone().fetch_jwt().await.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_eq!(app.cached_jwt().unwrap().expose_secret(), a.expose_secret());
        assert!(!format!("{app:?}").contains(a.expose_secret()));
    }

    /// The JWT `jsonwebtoken` would have signed with the same key and claims.
    fn jsonwebtoken_jwt(jwt: &str) -> String {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let claims = jwt.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        let issuer = AppIssuer::from(AppId(claims["iss"].as_u64().unwrap()));
        let claims = Claims {
            iat: claims["iat"].as_u64().unwrap(),
            exp: claims["exp"].as_u64().unwrap(),
            iss: &issuer,
        };
        let key = EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY_PKCS1.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
    }

    #[tokio::test]
    async fn the_jwt_is_byte_for_byte_the_one_jsonwebtoken_signs() {
        use secrecy::ExposeSecret;
        let app = AppAuth::from_pem(AppId(42), TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        let jwt = app.fetch_jwt().await.unwrap();
        let jwt = jwt.expose_secret();
        assert_eq!(jwt, jsonwebtoken_jwt(jwt));
        let claims = URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            600
        );
        assert_eq!(claims["iss"], 42);
    }

    /// A signer that answers with a fixed result.
    #[derive(Debug)]
    struct Answers(Result<Vec<u8>, &'static str>);

    impl JwtSigner for Answers {
        fn key_id(&self) -> String {
            "arn:aws:kms:eu-west-1:111122223333:key/test".into()
        }

        fn sign<'a>(&'a self, _message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
            Box::pin(std::future::ready(self.0.clone().map_err(BoxError::from)))
        }
    }

    #[tokio::test]
    async fn signer_errors_say_which_key_what_happened_and_what_to_do() {
        for (answer, expect) in [
            (
                Err("AccessDeniedException: not allowed to kms:Sign"),
                "kms:Sign",
            ),
            (Ok(Vec::new()), "empty signature"),
        ] {
            let app = AppAuth::with_signer(AppId(1), Answers(answer));
            let err = app.fetch_jwt().await.unwrap_err();
            let Error::Signer { key_id, .. } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(key_id, "arn:aws:kms:eu-west-1:111122223333:key/test");
            let text = err.to_string();
            assert!(text.contains(expect), "{text}");
            assert!(
                text.contains("key/test") && text.contains("RS256"),
                "{text}"
            );
            assert!(text.contains("permissions"), "{text}");
        }
    }

    #[test]
    fn the_key_id_keys_the_installation_tokens() {
        let key = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        let fingerprint = key.fingerprint().to_owned();
        assert_eq!(AppAuth::new(AppId(1), key).shared.key_id, fingerprint);
        let kms = AppAuth::with_signer(AppId(1), Answers(Ok(vec![1])));
        assert_eq!(
            kms.shared.key_id,
            "arn:aws:kms:eu-west-1:111122223333:key/test"
        );
        assert!(format!("{kms:?}").contains("key/test"));
    }
}
