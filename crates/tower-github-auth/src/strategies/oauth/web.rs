//! [`OAuthWebAuth`]: the OAuth web flow. Send the user to GitHub, get a code back, act as them.

use std::fmt;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Exchange};
use crate::side::Side;
use crate::strategies::oauth::app::OAuthAppAuth;
use crate::strategies::oauth::authorize::AuthorizeState;
use crate::strategies::oauth::flow::UserFlow;
use crate::strategies::oauth::grant::{ACCESS_TOKEN_PATH, FirstGrant, Granted, OAuthClient};
use crate::strategies::oauth::user_token::UserAuthBuilder;

/// Authenticates as the user who came back from GitHub's authorize page with a code: the first
/// request exchanges the code, then the token is used and refreshed like an
/// [`OAuthTokenAuth`](crate::OAuthTokenAuth). Built by [`OAuthAppAuth::as_web_user`] or
/// [`AuthorizeState::finish`], then [`UserAuthBuilder::build`].
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// let app = OAuthAppAuth::new(ClientCredentials::new(
///     github_auth_emulator::DEFAULT_APP_CLIENT_ID,
///     github_auth_emulator::DEFAULT_APP_CLIENT_SECRET,
/// ))
/// .endpoints(Endpoints::single(&github.base_url())?);
///
/// // 1. Send the user to GitHub; keep `pending` (in their session) until they come back.
/// let (url, pending) = app
///     .authorize_url()
///     .redirect_uri("https://example.com/callback")
///     .pkce()
///     .build();
///
/// // (The user's browser opens `url`, the user approves, GitHub redirects the browser to
/// // `https://example.com/callback?code=...&state=...`. Here we play the browser; in a web
/// // server, your callback handler gets `code` and `state` from its query string.)
/// let to_github = http::Request::get(url).header("user-agent", "doc").body(Full::default())?;
/// let back = client.request(to_github).await?.headers()["location"].to_str()?.to_owned();
/// let query: std::collections::HashMap<String, String> =
///     serde_urlencoded::from_str(back.split_once('?').ok_or("no query")?.1)?;
/// let (code, state) = (query["code"].clone(), query["state"].clone());
///
/// // 2. In the callback: check the state (constant time), then act as the user.
/// let user = pending.finish(&app, code, &state)?.build();
/// let github_as_user = ServiceBuilder::new().layer(user.clone()).service(client.clone());
/// // The first request exchanges the code (once, however many requests arrive together).
/// let response = github_as_user
///     .oneshot(http::Request::get("/user").body(Full::default())?)
///     .await?;
/// assert_eq!(response.status(), 200);
///
/// // The token set, to store; and the user as a token layer, which refreshes by itself.
/// let set = user.fetch_token(&client).await?;
/// assert!(set.refresh_token.is_some());
/// let token = user.token_auth();
/// assert!(token.cached_token().is_some());
/// # Ok(())
/// # }
/// ```
///
/// GitHub's rules: the user goes to `{web}/login/oauth/authorize?client_id&redirect_uri&state&scope`
/// and comes back to `redirect_uri` with `code` and `state`; reject a `state` you did not issue.
/// The code works once, for ten minutes: `POST {web}/login/oauth/access_token` with the client id
/// and secret, the code, the `redirect_uri` if one was sent, and the PKCE `code_verifier` if a
/// `code_challenge` (S256) was sent. Errors come back under HTTP 200 with an `error` field
/// ([`Error::OAuth`], such as `bad_verification_code`). The token then behaves like an
/// [`OAuthTokenAuth`](crate::OAuthTokenAuth): it refreshes when it expires.
pub type OAuthWebAuth = UserFlow<CodeGrant>;

/// The web flow's first grant: the code, and the `redirect_uri` and PKCE verifier of the
/// authorize URL (GitHub checks both). Set them on the [`UserAuthBuilder`]. `Debug` shows
/// secrets as `***`.
#[derive(Clone)]
pub struct CodeGrant {
    code: SecretString,
    redirect_uri: Option<String>,
    pkce_verifier: Option<SecretString>,
}

impl fmt::Debug for CodeGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeGrant")
            .field("code", &"***")
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce_verifier", &self.pkce_verifier.as_ref().map(|_| "***"))
            .finish()
    }
}

impl FirstGrant for CodeGrant {
    fn name(&self) -> &'static str {
        "web-flow code (***)"
    }

    fn exchange(&self) -> Exchange {
        Exchange::CodeExchange
    }

    /// `POST {web}/login/oauth/access_token` with the code.
    fn obtain<'a>(
        &'a self,
        side: &'a Side,
        client: &'a OAuthClient,
    ) -> BoxFuture<'a, Result<Granted, Error>> {
        async move {
            let client_id = client.client_id.as_str();
            crate::observe::record_for("client_id", &client_id);
            tracing::debug!(%client_id, "exchanging an OAuth web-flow code");
            let mut form = vec![("client_id", client_id)];
            if let Some(secret) = &client.client_secret {
                form.push(("client_secret", secret.expose_secret()));
            }
            form.push(("code", self.code.expose_secret()));
            if let Some(uri) = &self.redirect_uri {
                form.push(("redirect_uri", uri));
            }
            if let Some(verifier) = &self.pkce_verifier {
                form.push(("code_verifier", verifier.expose_secret()));
            }
            side.oauth(Exchange::CodeExchange, ACCESS_TOKEN_PATH, &form)
                .await
        }
        .boxed()
    }
}

impl OAuthAppAuth {
    /// Act as the user who came back from the authorize page with `code` (exchanged on first
    /// use). Add [`redirect_uri`](UserAuthBuilder::redirect_uri) and
    /// [`pkce_verifier`](UserAuthBuilder::pkce_verifier) if the authorize URL had them, or let
    /// [`AuthorizeState::finish`] do it; then [`build`](UserAuthBuilder::build).
    pub fn as_web_user(&self, code: impl Into<SecretString>) -> UserAuthBuilder<CodeGrant> {
        let grant = CodeGrant {
            code: code.into(),
            redirect_uri: None,
            pkce_verifier: None,
        };
        UserAuthBuilder::new(
            OAuthClient::from(self.credentials().clone()),
            grant,
            self.endpoints_ref().clone(),
            self.clock(),
        )
        .user_agent_from(self.user_agent_ref())
    }
}

impl UserAuthBuilder<CodeGrant> {
    /// The `redirect_uri` sent to the authorize page, if one was (GitHub checks they match).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.grant.redirect_uri = Some(uri.into());
        self
    }

    /// The PKCE verifier whose challenge was on the authorize URL.
    pub fn pkce_verifier(mut self, verifier: impl Into<SecretString>) -> Self {
        self.grant.pkce_verifier = Some(verifier.into());
        self
    }

    /// The layer.
    pub fn build(self) -> OAuthWebAuth {
        let grant = self.grant.clone();
        self.build_flow(grant)
    }
}

impl AuthorizeState {
    /// Checks the callback's `state` ([`Error::StateMismatch`] if it is not the one issued), then
    /// acts as the user with the callback's `code`, with this redirect URI and PKCE verifier.
    pub fn finish(
        &self,
        app: &OAuthAppAuth,
        code: impl Into<SecretString>,
        returned_state: &str,
    ) -> Result<UserAuthBuilder<CodeGrant>, Error> {
        self.verify(returned_state)?;
        let mut user = app.as_web_user(code);
        if let Some(uri) = self.redirect_uri_ref() {
            user = user.redirect_uri(uri);
        }
        if let Some(verifier) = self.pkce_verifier_ref() {
            user = user.pkce_verifier(verifier.clone());
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::oauth::client::ClientCredentials;

    #[test]
    fn finish_carries_the_redirect_uri_and_verifier_and_refuses_a_forged_state() {
        let app = OAuthAppAuth::new(ClientCredentials::new("Iv1.abc", "secret"));
        let pending = AuthorizeState::from_parts(
            "the-state",
            Some(SecretString::from("the-verifier")),
            Some("https://example.com/cb".to_owned()),
        );
        assert!(matches!(
            pending.finish(&app, "code", "forged"),
            Err(Error::StateMismatch)
        ));
        let user = pending.finish(&app, "c0de", "the-state").unwrap();
        assert_eq!(
            user.grant.redirect_uri.as_deref(),
            Some("https://example.com/cb")
        );
        assert_eq!(
            user.grant.pkce_verifier.as_ref().unwrap().expose_secret(),
            "the-verifier"
        );
        let text = format!("{user:?}");
        assert!(
            !text.contains("c0de") && !text.contains("the-verifier"),
            "{text}"
        );
    }
}
