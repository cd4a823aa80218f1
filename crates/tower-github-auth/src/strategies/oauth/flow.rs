//! [`UserFlow`]: a user not signed in yet, whose first token comes from a grant `G` (a web-flow
//! code, the device flow); then a user token like any other.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::error::Error;
use crate::rate_limit::{RateLimit, Resource};
use crate::service::AuthService;
use crate::strategies::oauth::grant::{FirstGrant, TokenSet};
use crate::strategies::oauth::user_token::{OAuthTokenAuth, UserAuthBuilder};

/// Authenticates as a user whose first token comes from the grant `G`: the first request (or
/// [`fetch_token`](Self::fetch_token)) runs it, once however many requests arrive together (a
/// failure is reported to each, and the next attempt runs it again); then the token is used and
/// refreshed like an [`OAuthTokenAuth`].
///
/// Named by its aliases: [`OAuthWebAuth`](crate::OAuthWebAuth) (a web-flow code) and
/// [`OAuthDeviceAuth`](crate::OAuthDeviceAuth) (the device flow); built by
/// [`UserAuthBuilder::build`]. Clones share the grant and the token. `Debug` shows secrets as
/// `***`.
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth, OAuthWebAuth};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// let app = OAuthAppAuth::new(ClientCredentials::new(
///     github_auth_emulator::DEFAULT_APP_CLIENT_ID,
///     github_auth_emulator::DEFAULT_APP_CLIENT_SECRET,
/// ))
/// .endpoints(Endpoints::single(&github.base_url())?);
///
/// let user: OAuthWebAuth = app.as_web_user(github.issue_web_flow_code("octocat")).build();
/// assert!(user.cached_token().is_none());
/// let set = user.fetch_token(&client).await?;      // the code is exchanged here, once
/// assert!(set.refresh_token.is_some());
/// let token = user.token_auth();                    // the same user, as a token layer
/// assert!(token.cached_token().is_some());
/// # Ok(())
/// # }
/// ```
pub struct UserFlow<G> {
    token: OAuthTokenAuth,
    grant: PhantomData<fn() -> G>,
}

impl<G> Clone for UserFlow<G> {
    fn clone(&self) -> Self {
        Self {
            token: self.token.clone(),
            grant: PhantomData,
        }
    }
}

impl<G> fmt::Debug for UserFlow<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserFlow")
            .field("token", &self.token)
            .finish()
    }
}

impl<G> UserAuthBuilder<G> {
    /// The flow layer, its first grant `first`.
    pub(crate) fn build_flow(self, first: impl FirstGrant) -> UserFlow<G> {
        UserFlow {
            token: self.build_token(Some(Arc::new(first)), TokenSet::default()),
            grant: PhantomData,
        }
    }
}

impl<G> UserFlow<G> {
    /// The user's token set now: runs the first grant through `inner` (your HTTP client, the
    /// service this layer would wrap), or waits for the one a request started, or returns the
    /// cached set (refreshed when due).
    pub async fn fetch_token<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        self.token.fetch_token(inner).await
    }

    /// The user's token set without I/O; `None` until the first grant succeeded.
    pub fn cached_token(&self) -> Option<TokenSet> {
        self.token.cached_token()
    }

    /// The same user as an [`OAuthTokenAuth`], sharing this flow's state (the first grant if it
    /// has not run yet, the token, its refresh token, the hook): to keep after sign-in.
    pub fn token_auth(&self) -> OAuthTokenAuth {
        self.token.clone()
    }

    /// What GitHub last reported of `resource`'s rate limit for this user; see
    /// [`OAuthTokenAuth::rate_limit`].
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.token.rate_limit(resource)
    }
}

impl<S, G> Layer<S> for UserFlow<G> {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.token.layer(inner)
    }
}
