//! tower-github-auth's layers inside [octocrab](https://docs.rs/octocrab): octocrab's typed API
//! on any of the layers' credentials (an App, an installation, a user), with installation tokens
//! minted once and refreshed ahead of expiry, user tokens refreshed, and a request refused with
//! 401 replayed.
//!
//! - [`octocrab_with`] builds the `Octocrab` client: its requests go through the layer, then
//!   your HTTP service, and octocrab adds no credential of its own.
//! - [`copy_octo_body`] copies octocrab's request body for the replay after a 401: give it to
//!   the App (`AppAuth::replay_body_with`, its installations inherit it) or to a user's builder
//!   (`OAuthTokenAuth::builder(..).replay_body_with(..)`, `as_web_user(..)`, `as_user(..)`).
//!
//! ```
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey};
//! use tower_github_auth_octocrab::{copy_octo_body, octocrab_with};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com
//! // (with a TLS client: hyper-rustls's `HttpsConnector`).
//! let github = github_auth_emulator::Emulator::start().await?;
//! let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
//!
//! let app = AppAuth::new(AppId(1), key)
//!     .endpoints(Endpoints::single(&github.base_url())?)
//!     .replay_body_with(copy_octo_body);
//! let client = Client::builder(TokioExecutor::new()).build_http();
//! let octocrab = octocrab_with(&app.as_installation(InstallationId(1)), client);
//!
//! let repo = octocrab.repos("octo", "one").get().await?;
//! assert_eq!(repo.full_name.as_deref(), Some("octo/one"));
//! # Ok(())
//! # }
//! ```
//!
//! octocrab sends bare paths (`/repos/octo/one`), which the layer resolves against its own
//! endpoints (github.com, or `Endpoints::enterprise(url)`), so no octocrab base URI is needed.
//! Redirects are followed by none of this stack (a renamed repository's 301 fails the typed
//! call); to follow them, stack tower-http's `FollowRedirectLayer` outside the layer, where
//! every hop meets its host pin: build that stack yourself with
//! `OctocrabBuilder::new_empty().with_service(..)` as [`octocrab_with`] does.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use tower_layer::Layer;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An octocrab client whose requests go through `auth`, one of tower-github-auth's layers (an
/// App, an installation, a user), then `service`, the HTTP client (hyper-util's
/// `Client<_, OctoBody>`, or a tower stack over it). octocrab's own authentication is off
/// (`AuthState::None`): the layer's credential, `User-Agent` and GitHub's other required headers
/// are the ones sent. An authentication failure comes back as `octocrab::Error::Service`, whose
/// source downcasts to `tower_github_auth::Error`.
///
/// To replay a request refused with 401 (GitHub's replication lag on a fresh token, a revoked
/// token), build the layer with `.replay_body_with(copy_octo_body)`.
pub fn octocrab_with<L, S, B>(auth: &L, service: S) -> Octocrab
where
    L: Layer<S>,
    L::Service: Service<Request<OctoBody>, Response = Response<B>> + Send + 'static,
    <L::Service as Service<Request<OctoBody>>>::Future: Send + 'static,
    <L::Service as Service<Request<OctoBody>>>::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    // The layer applied here rather than with octocrab's `with_layer`, which asks the same of
    // the service under it: any HTTP service the layer takes will do.
    let Ok(octocrab) = OctocrabBuilder::new_empty()
        .with_service(auth.layer(service))
        .with_auth(AuthState::None)
        .build();
    octocrab
}

/// A copy of an octocrab request body, for tower-github-auth's layers to replay a request
/// refused with 401 (`.replay_body_with(copy_octo_body)`).
///
/// `OctoBody::clone` shares the body with the original, which the first send consumes (a replay
/// would go out empty: a token request narrowed to one repository would ask for all of them);
/// `OctoBody::try_clone` copies it, but has no copy of the empty body of every GET (`None`), so
/// alone it replays no typed GET. The empty body is made anew here.
///
/// ```
/// use octocrab::OctoBody;
/// use tower_github_auth_octocrab::copy_octo_body;
///
/// assert!(copy_octo_body(&OctoBody::empty()).is_some()); // every GET's body
/// assert!(copy_octo_body(&OctoBody::from(r#"{"a":1}"#.to_owned())).is_some());
/// ```
pub fn copy_octo_body(body: &OctoBody) -> Option<OctoBody> {
    body.try_clone()
        .or_else(|| body.is_end_stream().then(OctoBody::empty))
}

// The README's code blocks are compiled as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;
    use http_body_util::BodyExt as _;

    use super::*;

    fn bytes_of(body: OctoBody) -> Bytes {
        body.collect()
            .now_or_never()
            .expect("a buffered body is ready")
            .expect("read")
            .to_bytes()
    }

    #[test]
    fn octocrab_bodies_are_copied_for_a_replay() {
        // Every GET octocrab sends has this body: nothing buffered, already at its end.
        let empty = copy_octo_body(&OctoBody::empty()).expect("the empty body");
        assert_eq!(bytes_of(empty), "");
        let posted = OctoBody::from(r#"{"a":1}"#.to_owned());
        let copy = copy_octo_body(&posted).expect("a body made of bytes");
        assert_eq!(bytes_of(copy), r#"{"a":1}"#);
        // The original is untouched by the copy: it is still sent whole.
        assert_eq!(bytes_of(posted), r#"{"a":1}"#);
    }

    #[test]
    fn try_clone_alone_has_no_copy_of_a_gets_body() {
        // Why `copy_octo_body` exists at all.
        assert!(OctoBody::empty().try_clone().is_none());
    }
}
