//! tower-github-auth's layers over a [`reqwest::Client`]: [`ReqwestService`] is the client as
//! the `tower::Service<http::Request<B>>` the layers wrap, so a reqwest user gets every
//! GitHub credential (installation tokens minted once and refreshed ahead of expiry, user tokens
//! refreshed, a 401 replayed) with the client they already configured. Token exchanges go
//! through the same client; a credential goes only to the configured GitHub API host.
//!
//! ```
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_github_auth::{AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey};
//! use tower_github_auth_reqwest::ReqwestService;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
//! let github = github_auth_emulator::Emulator::start().await?;
//! let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
//!
//! let reqwest = ReqwestService::from_builder(reqwest::Client::builder())?; // redirects off
//! let service = ServiceBuilder::new()
//!     .layer(
//!         AppInstallationAuth::new(AppId(1), key, InstallationId(1))
//!             .endpoints(Endpoints::single(&github.base_url())?),
//!     )
//!     .service(reqwest);
//!
//! let request = http::Request::get("/repos/octo/one").body(Bytes::new())?;
//! let answer = reqwest::Response::from(service.oneshot(request).await?);
//! assert_eq!(answer.status(), 200);
//! assert!(answer.text().await?.contains("\"installation\""));
//! # Ok(())
//! # }
//! ```
//!
//! # Bodies
//! Requests are `http::Request<Bytes>`, or another body type reqwest takes
//! (`ReqwestService::new(client).request_body::<reqwest::Body>()`). The minting layers build
//! their exchanges from `Bytes`, so under them use `Bytes`, `Vec<u8>` or `reqwest::Body`. A
//! request refused with 401 is replayed with a copy of its body: `Bytes` and `Vec<u8>` are
//! copied by the layers themselves, a `reqwest::Body` by [`copy_reqwest_body`]
//! (`.replay_body_with(copy_reqwest_body)`).
//!
//! # Redirects
//! The client must not follow them: a token exchange answered with a `307` would send its form
//! (a client secret, a refresh token) to the `Location`. [`ReqwestService::from_builder`] turns
//! them off; a client given to [`ReqwestService::new`] that follows one fails the request with
//! [`Error::Redirected`]. To follow redirects, stack tower-http's `FollowRedirectLayer` above
//! the authentication layer, where every hop meets its host pin.
//!
//! # TLS
//! This crate enables no feature of reqwest: your `reqwest` dependency chooses. reqwest's
//! default TLS is rustls on aws-lc-rs, the crypto library tower-github-auth signs JWTs with, so
//! `reqwest = "0.13"` (or `default-features = false, features = ["rustls"]`) keeps one.

mod body;
mod error;
mod service;

pub use body::copy_reqwest_body;
pub use error::Error;
pub use service::{ReqwestService, ResponseFuture};

// The README's code blocks are compiled as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
