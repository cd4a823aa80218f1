//! [`AppAuth`]: acting as the GitHub App itself, with a JWT signed by its private key.
//!
//! GitHub's rules: RS256; `iat` 60 seconds in the past (clock drift), `exp` at most ten minutes
//! after `iat`; `iss` the App's numeric id or its client id. A JWT is valid for its whole life, so
//! one is signed and reused until shortly before it expires. When GitHub refuses a JWT (401), its
//! `Date` header tells GitHub's time; the offset is remembered and the next JWT uses it.
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_github_auth::{AppAuth, AppId, InstallationId, PrivateKey};
//! # let pem = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;
//! # let client = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::new())))
//! # });
//!
//! let key = PrivateKey::from_pem(pem)?;        // parsed once, errors here
//! let app = AppAuth::new(AppId(12345), key);   // or AppIssuer::client_id("Iv23li...")
//! let as_app = ServiceBuilder::new().layer(app.clone()).service(client.clone()); // GET /app
//! let as_installation = ServiceBuilder::new()
//!     .layer(app.as_installation(InstallationId(42))) // cheap: shares the key, JWT and cache
//!     .service(client);
//! # Ok::<(), tower_github_auth::Error>(())
//! ```

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode};
use jsonwebtoken::{Algorithm, Header};
use lru::LruCache;
use secrecy::SecretString;
use serde::Serialize;
use tower_layer::Layer;

use crate::cache::{Entry, Fresh, Policy, Slot};
use crate::clock::Clock;
use crate::credential::{Mint, Minted};
use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange};
use crate::headers::sensitive_header;
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::side::{Answer, Limits, Side};
use crate::store::TokenStore;
use crate::strategies::app::cache::TokenCache;
use crate::strategies::app::ids::AppIssuer;
use crate::strategies::app::key::PrivateKey;

/// How many looked-up installations (by repository, organisation, user) an App remembers.
const REMEMBERED_INSTALLATIONS: NonZeroUsize = NonZeroUsize::new(10_000).expect("not zero");
/// How far back `iat` is set, for clock drift (GitHub's advice).
const IAT_BACKDATE: Duration = Duration::from_secs(60);
/// `exp` − `iat`: GitHub refuses more than ten minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60 + 60);
/// A new JWT is signed when less than this is left of the current one.
const JWT_REFRESH_MARGIN: Duration = Duration::from_secs(2 * 60);

/// What every clone of an App shares: the key, the clock, the JWT, remembered installations.
pub(crate) struct AppShared {
    pub(crate) issuer: AppIssuer,
    pub(crate) key: PrivateKey,
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
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Authenticates as the GitHub App itself (`Authorization: Bearer <JWT>`), for the `/app` routes;
/// and the starting point for [`as_installation`](Self::as_installation) and
/// [`as_oauth_app`](Self::as_oauth_app).
///
/// Clones are cheap and share the key, the clock offset, the JWT and the token cache. The
/// builder methods change only the value they are called on.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub(crate) shared: Arc<AppShared>,
    pub(crate) endpoints: Endpoints,
    pub(crate) cache: TokenCache,
    pub(crate) policy: Policy,
    pub(crate) replay: bool,
    pub(crate) limits: Limits,
    /// Where a fleet shares installation tokens; `None`: this process only.
    pub(crate) store: Option<Arc<dyn TokenStore>>,
}

impl AppAuth {
    /// An App on github.com, from its id ([`AppId`](crate::AppId)) or client id
    /// ([`AppIssuer::client_id`]) and its private key.
    pub fn new(issuer: impl Into<AppIssuer>, key: PrivateKey) -> Self {
        let clock = Arc::new(Clock::default());
        let jwt_policy = Policy {
            refresh_margin: JWT_REFRESH_MARGIN,
            ..Policy::default()
        };
        Self {
            shared: Arc::new(AppShared {
                issuer: issuer.into(),
                key,
                jwt: Arc::new(Slot::new(jwt_policy, Arc::clone(&clock))),
                clock,
                installation_ids: Mutex::new(LruCache::new(REMEMBERED_INSTALLATIONS)),
            }),
            endpoints: Endpoints::default(),
            cache: TokenCache::default(),
            policy: Policy::default(),
            replay: true,
            limits: Limits::default(),
            store: None,
        }
    }

    /// Like [`new`](Self::new), parsing the PEM key.
    pub fn from_pem(issuer: impl Into<AppIssuer>, pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self::new(issuer, PrivateKey::from_pem(pem)?))
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
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

    /// Whether a request refused with 401 is replayed once with a fresh token (default: yes, when
    /// its body is `Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`, `&'static str`
    /// or `()`). Keeping the copy (taken before this crate's headers go in) costs about 55 ns per
    /// request; without it, the 401 still drops the token, and reaches the caller.
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// The deadline of every exchange this layer makes (token mint, lookup, grant, refresh):
    /// request sent and answer read, default 10 s. Past it the exchange fails with
    /// [`Error::Timeout`] for every request waiting on it, and the next attempt (after the
    /// backoff) is a new exchange.
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
    /// store is passed by. The App's JWT is not shared: each replica signs its own.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
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
    /// new one (one signature however many callers ask at once).
    pub async fn fetch_jwt(&self) -> Result<SecretString, Error> {
        let entry = self.jwt_credential().obtain().await?;
        Ok(jwt_of(&entry))
    }

    /// The cached JWT, if any, without signing one (it may be close to expiry).
    pub fn cached_jwt(&self) -> Option<SecretString> {
        self.shared.jwt.peek().map(|entry| jwt_of(&entry))
    }

    pub(crate) fn jwt_credential(&self) -> AppJwt {
        AppJwt {
            shared: Arc::clone(&self.shared),
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
        let jwt = self.jwt_credential();
        let mut retried = false;
        loop {
            let entry = jwt.obtain().await?;
            let answer = side
                .rest_raw(
                    exchange,
                    method.clone(),
                    path,
                    Some(entry.authorization.value()),
                    body,
                )
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !retried {
                tracing::info!(%exchange, "GitHub refused the App JWT; signing a new one");
                jwt.shared.jwt.invalidate(entry.stamp());
                retried = true;
                continue;
            }
            return Ok(answer);
        }
    }
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
        auth.replay = self.replay;
        auth.limits = self.limits;
        AuthService::new(inner, auth)
    }
}

/// The App's JWT as a cached credential.
#[derive(Debug, Clone)]
pub(crate) struct AppJwt {
    shared: Arc<AppShared>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a AppIssuer,
}

impl AppJwt {
    fn sign(&self) -> Result<Fresh<()>, Error> {
        let now = self.shared.clock.github_now();
        let iat = now - IAT_BACKDATE;
        let exp = iat + JWT_LIFETIME;
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = Claims {
            iat: secs(iat),
            exp: secs(exp),
            iss: &self.shared.issuer,
        };
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &self.shared.key.key,
        )
        .map_err(|e| Error::InvalidPrivateKey {
            reason: format!("signing failed ({e})"),
        })?;
        tracing::debug!(issuer = %self.shared.issuer, "signed a new App JWT");
        Ok(Fresh {
            issued_at: None,
            header: sensitive_header("Bearer", &jwt, "App JWT")?,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(secs(exp))),
            value: (),
        })
    }

    /// A usable JWT, from the cache or freshly signed (single flight).
    async fn obtain(&self) -> Result<Arc<Entry<()>>, Error> {
        let this = self.clone();
        self.shared
            .jwt
            .obtain(move || async move { this.sign() }.boxed())
            .await
    }
}

impl Mint for AppJwt {
    type Value = ();
    const REPLICATES: bool = false;

    fn slot(&self) -> &Arc<Slot<()>> {
        &self.shared.jwt
    }

    fn mint(&self, _side: Side) -> BoxFuture<'static, Result<Fresh<()>, Error>> {
        let this = self.clone();
        async move { this.sign() }.boxed()
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
}
