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
//! | [`AppAuth`] | the App's JWT (for `/app` routes) |
//! | [`AppInstallationAuth`] | installation tokens, minted and refreshed ahead of expiry |
//! | [`OAuthAppAuth`] | an OAuth client's id and secret (`Basic`), on `/applications/{client_id}/...` |
//! | [`OAuthWebAuth`] | a user, from a web-flow code exchanged on first use ([`OAuthAppAuth::authorize_url`] builds the URL) |
//! | [`OAuthDeviceAuth`] | a user, from the device flow run on first use |
//! | [`OAuthTokenAuth`] | a user token you have, refreshed ahead of expiry (rotating refresh tokens, `on_refresh` hook) |
//!
//! # What every strategy does
//! - **Host pinning**: a credential is added only to requests for the configured API base
//!   (scheme, host and port); any other request passes through untouched.
//! - A bare path (`/repos/octo/one`) is resolved against the API base.
//! - `User-Agent`, `Accept: application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28` are
//!   added where the request has none.
//! - Every exchange (installation token, refresh, ...) is a request **through your inner service**,
//!   so what you stacked below the layer (TLS, proxy, retries, tracing) applies to it.
//! - Minted credentials live in one token cache: one exchange however many requests arrive at
//!   once, a background refresh before expiry (a warm request never waits; user tokens, whose
//!   refresh ends the old one at GitHub, are the exception: requests wait for that refresh),
//!   backoff after a failure, GitHub's clock learned from its `Date` header, a 401 drops the
//!   cached credential and the request is replayed once when its body can be cloned
//!   (`Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`, `&'static str`, `()`).
//! - Secrets are never shown by `Debug`, `Display` or logs, and headers carrying them are marked
//!   sensitive.
//!
//! The service's error is [`Error`]: [`Error::Inner`] when your inner service failed, any other
//! variant when authentication did.

mod cache;
mod client;
mod clock;
mod credential;
mod endpoints;
mod error;
mod headers;
#[cfg(feature = "serde")]
mod persist;
mod service;
mod side;
mod strategies;

pub use client::{HttpClient, RequestBody, ResponseBody};
pub use credential::{Fixed, Minted};
pub use endpoints::Endpoints;
pub use error::{BoxError, Error, Exchange, RefreshImpossible, SharedError};
pub use service::AuthService;
pub use service::future::{FixedResponseFuture, ResponseFuture};
pub use strategies::app::cache::TokenCache;
pub use strategies::app::ids::{AppId, AppIssuer, InstallationId};
pub use strategies::app::installation::{AppInstallationAuth, InstallationTarget};
pub use strategies::app::jwt::AppAuth;
pub use strategies::app::key::PrivateKey;
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

/// Re-exported so that users name secrets the same way this crate does.
pub use secrecy;

// The README's code blocks are compiled and run as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
