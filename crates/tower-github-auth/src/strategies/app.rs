//! [`AppAuth`]: acting as the GitHub App itself, with a JWT signed by its private key.
//!
//! GitHub's rules: RS256; `iat` 60 seconds in the past (clock drift), `exp` at most ten minutes
//! after `iat`; `iss` the App's numeric id or its client id. A JWT is valid for its whole life, so
//! one is signed and reused until shortly before it expires. When GitHub refuses a JWT (401), its
//! `Date` header tells GitHub's time; the offset is remembered and the next JWT uses it.
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_github_auth::{AppAuth, PrivateKey};
//! # let pem = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;
//! # let client = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::new())))
//! # });
//!
//! let key = PrivateKey::from_pem(pem)?;        // parsed once, errors here
//! let app = AppAuth::new(12345, key);          // or AppAuth::new("Iv1.0123456789abcdef", key)
//! let as_app = ServiceBuilder::new().layer(app.clone()).service(client.clone()); // GET /app
//! let as_installation = ServiceBuilder::new()
//!     .layer(app.as_installation(42))          // cheap: shares the key, JWT and token cache
//!     .service(client);
//! # Ok::<(), tower_github_auth::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::Serialize;
use tower_layer::Layer;

use crate::cache::{Fresh, Policy, Slot, TokenCache};
use crate::clock::Clock;
use crate::credential::{Mint, sensitive_header};
use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange};
use crate::service::{Auth, AuthService};
use crate::side::{Answer, Side, github_error};
use crate::strategies::installation::{AppInstallationAuth, InstallationTarget};

/// How far back `iat` is set, for clock drift (GitHub's advice).
const IAT_BACKDATE: Duration = Duration::from_secs(60);
/// `exp` − `iat`: GitHub refuses more than ten minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60 + 60);
/// A new JWT is signed when less than this is left of the current one.
const JWT_REFRESH_MARGIN: Duration = Duration::from_secs(2 * 60);

/// An App's RSA private key, parsed once.
///
/// GitHub hands out PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`); PKCS#8 PEM
/// (`-----BEGIN PRIVATE KEY-----`) works too. `Debug` shows `***`.
#[derive(Clone)]
pub struct PrivateKey {
    key: Arc<EncodingKey>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// Parses a PEM private key and proves it can sign, so a bad key fails here and not on the
    /// first request.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let pem = pem.as_ref();
        let text = String::from_utf8_lossy(pem);
        let invalid = |reason: &str| Error::InvalidPrivateKey {
            reason: reason.to_owned(),
        };
        if text.trim().is_empty() {
            return Err(invalid("the key is empty"));
        }
        if text.contains("PUBLIC KEY-----") {
            return Err(invalid(
                "this is a public key; the App's private key is needed",
            ));
        }
        if !text.contains("-----BEGIN") {
            return Err(invalid("not PEM (no `-----BEGIN` line)"));
        }
        let key = EncodingKey::from_rsa_pem(pem)
            .map_err(|e| invalid(&format!("not an RSA private key in PEM ({e})")))?;
        // The crypto backend may defer parsing: sign once to be sure.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key)
            .map_err(|e| invalid(&format!("the key cannot sign ({e})")))?;
        Ok(Self { key: Arc::new(key) })
    }
}

/// Who the App is in the JWT's `iss`: its numeric id or its client id (GitHub accepts both).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppIssuer {
    /// The App id, such as `12345`.
    Id(u64),
    /// The App's client id, such as `Iv1.0123456789abcdef`.
    ClientId(String),
}

impl From<u64> for AppIssuer {
    fn from(id: u64) -> Self {
        Self::Id(id)
    }
}

impl From<&str> for AppIssuer {
    fn from(client_id: &str) -> Self {
        client_id
            .parse::<u64>()
            .map_or_else(|_| Self::ClientId(client_id.to_owned()), Self::Id)
    }
}

impl From<String> for AppIssuer {
    fn from(client_id: String) -> Self {
        Self::from(client_id.as_str())
    }
}

impl fmt::Display for AppIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::ClientId(id) => f.write_str(id),
        }
    }
}

impl Serialize for AppIssuer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => s.serialize_u64(*id),
            Self::ClientId(id) => s.serialize_str(id),
        }
    }
}

/// The App's OAuth client credentials (for the user-to-server flows).
#[derive(Clone)]
pub(crate) struct ClientCredentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// What every clone of an App shares: the key, the clock, the JWT, remembered installations.
pub(crate) struct AppShared {
    pub(crate) issuer: AppIssuer,
    key: PrivateKey,
    pub(crate) clock: Arc<Clock>,
    jwt: Arc<Slot<()>>,
    /// `target@api_base` -> installation id, looked up once.
    installation_ids: Mutex<HashMap<String, u64>>,
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
/// and the starting point for [`as_installation`](Self::as_installation).
///
/// Clones are cheap and share the key, the clock offset, the JWT and the token cache.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub(crate) shared: Arc<AppShared>,
    pub(crate) endpoints: Endpoints,
    pub(crate) cache: TokenCache,
    pub(crate) policy: Policy,
    pub(crate) oauth: Option<ClientCredentials>,
    pub(crate) replay: bool,
}

impl AppAuth {
    /// An App on github.com, from its id or client id and its private key.
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
                installation_ids: Mutex::new(HashMap::new()),
            }),
            endpoints: Endpoints::default(),
            cache: TokenCache::default(),
            policy: Policy::default(),
            oauth: None,
            replay: true,
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

    /// The App's OAuth client id and secret, for `as_oauth_app` and user tokens.
    pub fn oauth_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.oauth = Some(ClientCredentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
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
    pub fn cache(&self) -> &TokenCache {
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

    /// Act as installation `id`. Cheap: no key parsing; shares the JWT and the token cache, so a
    /// stack can be built per request (say, from a webhook's `installation.id`).
    pub fn as_installation(&self, id: u64) -> AppInstallationAuth {
        AppInstallationAuth::for_target(self.clone(), InstallationTarget::Id(id))
    }

    /// Act as the installation that covers `owner/repo` (looked up once, then remembered).
    pub fn installation_for_repository(&self, owner: &str, repo: &str) -> AppInstallationAuth {
        let target = InstallationTarget::Repository {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        };
        AppInstallationAuth::for_target(self.clone(), target)
    }

    /// Act as the installation on organisation `org` (looked up once, then remembered).
    pub fn installation_for_organization(&self, org: &str) -> AppInstallationAuth {
        AppInstallationAuth::for_target(
            self.clone(),
            InstallationTarget::Organization(org.to_owned()),
        )
    }

    /// Act as the installation on user account `login` (looked up once, then remembered).
    pub fn installation_for_user(&self, login: &str) -> AppInstallationAuth {
        AppInstallationAuth::for_target(self.clone(), InstallationTarget::User(login.to_owned()))
    }

    /// A JWT for this App, valid for at least 30 seconds (the cached one when it is).
    pub async fn jwt(&self) -> Result<SecretString, Error> {
        let entry = self.jwt_credential().obtain().await?;
        let header = entry.authorization.value().to_str().unwrap_or_default();
        Ok(SecretString::from(
            header.strip_prefix("Bearer ").unwrap_or(header).to_owned(),
        ))
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

    /// The installation id for a target, looked up with the JWT once and then remembered.
    pub(crate) async fn installation_id(
        &self,
        target: &InstallationTarget,
        side: &Side,
    ) -> Result<u64, Error> {
        #[derive(serde::Deserialize)]
        struct Found {
            id: u64,
        }
        let path = match target {
            InstallationTarget::Id(id) => return Ok(*id),
            InstallationTarget::Repository { owner, repo } => {
                format!("/repos/{owner}/{repo}/installation")
            }
            InstallationTarget::Organization(org) => format!("/orgs/{org}/installation"),
            InstallationTarget::User(login) => format!("/users/{login}/installation"),
        };
        let key = format!("{path}@{}", self.endpoints.api_base());
        let ids = &self.shared.installation_ids;
        if let Some(id) = ids.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(*id);
        }
        let exchange = Exchange::InstallationLookup;
        let answer = self
            .jwt_request(side, exchange, Method::GET, &path, None)
            .await?;
        if !answer.status.is_success() {
            return Err(github_error(exchange, &answer));
        }
        let found: Found = crate::side::decode_json(exchange, &answer.body)?;
        ids.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, found.id);
        Ok(found.id)
    }
}

impl<S> Layer<S> for AppAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::clone(&self.shared.clock),
            Arc::new(self.jwt_credential()),
        );
        auth.replay = self.replay;
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
            header: sensitive_header("Bearer", &jwt, "App JWT")?,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(secs(exp))),
            value: (),
        })
    }

    /// A usable JWT, from the cache or freshly signed (single flight).
    async fn obtain(&self) -> Result<Arc<crate::cache::Entry<()>>, Error> {
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
    use github_auth_emulator::{
        TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8, TEST_APP_PUBLIC_KEY,
    };

    #[test]
    fn keys_in_both_formats_load() {
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS8).unwrap();
    }

    #[test]
    fn bad_keys_fail_at_construction_with_a_clear_error() {
        let corrupt = TEST_APP_PRIVATE_KEY_PKCS1.replace("MII", "XXX");
        for (pem, expect) in [
            ("", "empty"),
            (TEST_APP_PUBLIC_KEY, "public key"),
            (corrupt.as_str(), "RSA PRIVATE KEY"),
            ("hello", "not PEM"),
        ] {
            let err = PrivateKey::from_pem(pem).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidPrivateKey { .. }));
            assert!(text.contains(expect), "{text}");
            assert!(text.contains("PKCS#1") && text.contains("PKCS#8"), "{text}");
        }
    }

    #[test]
    fn issuers_from_ids_and_client_ids() {
        assert_eq!(AppIssuer::from(42), AppIssuer::Id(42));
        assert_eq!(AppIssuer::from("42"), AppIssuer::Id(42));
        assert_eq!(
            AppIssuer::from("Iv1.abc"),
            AppIssuer::ClientId("Iv1.abc".into())
        );
        assert_eq!(serde_json::to_string(&AppIssuer::Id(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&AppIssuer::ClientId("Iv1.x".into())).unwrap(),
            "\"Iv1.x\""
        );
    }

    #[tokio::test]
    async fn one_jwt_is_reused() {
        use secrecy::ExposeSecret;
        let app = AppAuth::from_pem(1, TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        let a = app.jwt().await.unwrap();
        let b = app.as_installation(3).app().jwt().await.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{app:?}").contains(a.expose_secret()));
    }
}
