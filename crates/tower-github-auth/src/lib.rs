//! Every way of authenticating to the GitHub API, as [`tower`](https://docs.rs/tower) middleware.
//!
//! Each strategy is a [`tower_layer::Layer`] you put over any HTTP client that is a
//! `tower::Service<http::Request<B>>` (a hyper-util client, a `tower` stack of your own):
//!
//! ```
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_github_auth::{AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
//! let github = github_auth_emulator::Emulator::builder().start().await?;
//!
//! let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
//! let service = ServiceBuilder::new()
//!     .layer(
//!         AppInstallationAuth::new(AppId(1), key, InstallationId(1))
//!             .endpoints(Endpoints::single(&github.base_url())?),
//!     )
//!     .service(client);
//!
//! // A bare path goes to the API base; the installation token is minted, cached and added.
//! let request = http::Request::get("/repos/octo/one").body(Full::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! let body = response.into_body().collect().await?.to_bytes();
//! assert!(String::from_utf8_lossy(&body).contains("\"installation\""));
//! # Ok(())
//! # }
//! ```
//!
//! # Strategies
//! | layer | credential |
//! | --- | --- |
//! | [`Unauthenticated`] | none (only GitHub's required headers) |
//! | [`TokenAuth`] | a token you have: personal access token, OAuth token, ... |
//! | [`ActionAuth`] | the GitHub Actions token from the environment |
//! | [`AppAuth`] | the App's JWT (for `/app` routes), signed by its [`PrivateKey`] or any [`JwtSigner`] (KMS, Vault, HSM) |
//! | [`AppInstallationAuth`] | installation tokens, minted and refreshed ahead of expiry |
//! | [`OAuthAppAuth`] | an OAuth client's id and secret (`Basic`), on `/applications/{client_id}/...` |
//! | [`OAuthWebAuth`] | a user, from a web-flow code exchanged on first use ([`OAuthAppAuth::authorize_url`] builds the URL) |
//! | [`OAuthDeviceAuth`] | a user, from the device flow run on first use |
//! | [`OAuthTokenAuth`] | a user token you have, refreshed ahead of expiry (rotating refresh tokens, `on_refresh` hook) |
//!
//! # What every strategy does
//! - **Host pinning**: a credential is added only to requests for the configured API base, uploads
//!   base (release assets) and GraphQL endpoint (scheme, host, port and path prefix:
//!   [`Endpoints::is_pinned`]); any other request passes through untouched.
//! - A bare path (`/repos/octo/one`) is resolved against the API base.
//! - `User-Agent`, `Accept: application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28` are
//!   added where the request has none.
//! - Every exchange (installation token, refresh, ...) is a request **through your inner service**,
//!   so what you stacked below the layer (TLS, proxy, retries, tracing) applies to it.
//! - Minted credentials live in one token cache: one exchange however many requests arrive at
//!   once, a background refresh before expiry (a warm request never waits; user tokens, whose
//!   refresh ends the old one at GitHub, are the exception: requests wait for that refresh),
//!   backoff after a failure (never sooner than GitHub's `Retry-After` or rate-limit reset,
//!   with jitter), GitHub's clock learned from its `Date` header, a 401 drops the
//!   cached credential and the request is replayed once when its body can be cloned
//!   (`Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`, `&'static str`, `()`); a
//!   fresh installation token refused with 401, or with a 403 that gives no reason, is waited
//!   for while GitHub replicates it; a 403 naming a missing permission, SAML SSO or a rate
//!   limit reaches the caller and the credential stays. [`Refused::of`] reads why GitHub
//!   refused an answer, typed (permissions, SSO, OAuth scopes, rate limits, bad credentials).
//! - Secrets are never shown by `Debug`, `Display` or logs, and headers carrying them are marked
//!   sensitive.
//!
//! The service's error is [`Error`]: [`Error::Inner`] when your inner service failed, any other
//! variant when authentication did.
//!
//! # Runtime
//! The layers that mint credentials ([`AppAuth`], [`AppInstallationAuth`], the OAuth user
//! layers) run each exchange in a [Tokio](https://tokio.rs) task (so that a cancelled request
//! does not cancel the exchange others wait on) and use Tokio's timers (deadlines, backoff,
//! device-flow polling): call them inside a Tokio runtime. Outside one, a request fails with
//! [`Error::NoRuntime`] instead of a panic. A runtime that is dropped while an exchange runs
//! (a command line that builds one per call, a `static` layer shared by `#[tokio::test]`s)
//! leaves nothing behind: the next request starts a new exchange. The fixed-credential layers
//! ([`TokenAuth`], [`ActionAuth`], [`Unauthenticated`], [`OAuthAppAuth`]) need no runtime.
//!
//! # Your inner client
//! Exchanges go through it, so it must **not follow redirects** for them: a `307` to the token
//! endpoint would send the form (client secret, refresh token, code) to the `Location` host.
//! hyper-util's client never follows redirects; if yours does, turn it off (or stack the
//! redirect layer above this one). A redirect answered to an exchange is an [`Error::GitHub`]
//! with its status, and nothing of it is kept. Every exchange is bounded: a deadline
//! (`exchange_timeout`, default 10 s) and a size (`max_answer_size`, default 32 MiB). Text of
//! GitHub's answers kept in errors never carries a secret this crate sent.
//!
//! # Naming
//! Builder methods are named for what they set and take `self` (`endpoints(..)`,
//! `refresh_margin(..)`); a getter for something a builder sets is that name with `_ref`
//! (`endpoints_ref()`). `fetch_token(&client)` gives a valid token now (exchanging if needed),
//! `cached_token()` what is cached, without I/O. Ids are types of their own ([`AppId`],
//! [`InstallationId`]) and an OAuth client is one value ([`ClientCredentials`]), so arguments
//! cannot be swapped.
//!
//! # Sharing: what a value shares, and with whom
//! A minted credential (an installation token, a JWT, a user's token) lives in the value that
//! minted it, not in the process: two [`AppInstallationAuth::new`] for the same installation each
//! mint their own token. Build a strategy once and share it: clones share everything (they are
//! reference counts), and [`AppAuth::as_installation`] and its siblings share the App's JWT and
//! its [`TokenCache`]. Each constructor says what it shares.
//!
//! # Features
//! - `openssh` (on by default): [`PrivateKey::from_pem`] also reads an App key in OpenSSH's
//!   format (`-----BEGIN OPENSSH PRIVATE KEY-----`, RSA, no passphrase). It adds 30 crates
//!   (`ssh-key`, `crypto-bigint`, `pkcs1` and theirs); without it such a key is refused with an
//!   error saying how to convert it.
//! - `serde` (off by default): [`Serialize`](serde::Serialize) and
//!   [`Deserialize`](serde::Deserialize) for [`TokenSet`] and [`InstallationToken`], to store
//!   them (an `on_refresh` hook's token set, a token handed to another process). The tokens are
//!   written in clear: store the text as a secret. Times are RFC 3339.
//! - `metrics` (off by default): `github_auth_*` metrics through the
//!   [`metrics`](https://docs.rs/metrics) facade (exchanges and their durations, requests that
//!   waited, cache hits, misses, refreshes ahead, evictions and entries, replays, store calls,
//!   backoffs), labelled by exchange kind, outcome, host, cache, store operation or status,
//!   never by installation or user. Install the recorder before the first layer is built (an
//!   `AppAuth`'s cache takes its handles when its first stack is built, user tokens at the
//!   first user event): handles taken before are no-ops for good. A warm request pays one relaxed increment, as without the feature.
//!
//! No other feature: every strategy is always compiled.
//!
//! # Observing it
//! Each exchange runs in one `github_auth.exchange` span (`debug`), child of the span of the
//! request that started it; requests that wait on it are linked to it with `follows_from`. Its
//! fields say what it is for (App, installation, narrowing fingerprint, client id, store key,
//! host) and how it went (status, GitHub's request id, tries), never a secret.
//! [`TokenCache::stats`] and [`AppAuth::jwt_stats`] count hits, misses, refreshes ahead and
//! evictions; [`set_event_hook`] tells an application of every credential minted, refreshed,
//! refused or revoked, and of backoffs and store outages ([`AuthEvent`]).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod client;
mod clock;
mod credential;
mod endpoints;
mod error;
mod fleet;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod observe;
#[cfg(feature = "serde")]
mod persist;
mod pool;
mod rate_limit;
mod refusal;
mod service;
mod side;
mod store;
mod strategies;
mod subject;

pub use client::{HttpClient, RequestBody, ResponseBody};
pub use credential::{Fixed, Minted};
pub use endpoints::Endpoints;
pub use error::{BoxError, Error, Exchange, RefreshImpossible, SharedError};
pub use observe::{AuthEvent, AuthEventKind, CacheStats, clear_event_hook, set_event_hook};
pub use pool::{Pool, PoolFuture, PoolLayer};
pub use rate_limit::{RateLimit, RateLimits, Resource};
pub use refusal::{Permission, Refused};
pub use service::AuthService;
pub use service::future::{FixedResponseFuture, ResponseFuture};
pub use store::{Lease, Saved, StoredCredential, TokenStore};
pub use strategies::app::cache::TokenCache;
pub use strategies::app::ids::{AppId, AppIssuer, InstallationId, InstallationTarget};
pub use strategies::app::installation::{
    AppInstallation, AppInstallationAuth, InstallationTokenFormat,
};
pub use strategies::app::jwt::AppAuth;
pub use strategies::app::key::PrivateKey;
pub use strategies::app::manifest::{
    AppManifest, HookAttributes, ManifestApp, convert_manifest_code,
};
pub use strategies::app::signer::JwtSigner;
pub use strategies::app::token::InstallationToken;
pub use strategies::oauth::app::{OAuthAppAuth, TokenInfo};
pub use strategies::oauth::authorize::{AuthorizeState, AuthorizeUrl};
pub use strategies::oauth::client::ClientCredentials;
pub use strategies::oauth::device::{DeviceCode, DeviceGrant, OAuthDeviceAuth};
pub use strategies::oauth::flow::UserFlow;
pub use strategies::oauth::grant::TokenSet;
pub use strategies::oauth::user_token::{OAuthTokenAuth, UserAuthBuilder};
pub use strategies::oauth::web::{CodeGrant, OAuthWebAuth};
pub use strategies::token::{ActionAuth, TokenAuth, Unauthenticated};
pub use subject::{Narrowing, Subject};

/// Re-exported so that users name secrets the same way this crate does.
pub use secrecy;

// The crate README's code blocks (its crates.io page) are compiled as doc tests, so that they stay
// true. The workspace README's are compiled by `integration-tests` (tests/readme.rs).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
