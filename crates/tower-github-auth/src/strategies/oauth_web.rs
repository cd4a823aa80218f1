//! [`OAuthWebAuth`]: the OAuth web flow. Send the user to GitHub, get a code back, act as them.
//!
//! ```
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_github_auth::{Endpoints, OAuthAppAuth};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
//! let github = github_auth_emulator::Emulator::builder().start().await?;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
//! let app = OAuthAppAuth::new(
//!     github_auth_emulator::DEFAULT_APP_CLIENT_ID,
//!     github_auth_emulator::DEFAULT_APP_CLIENT_SECRET,
//! )
//! .endpoints(Endpoints::single(&github.base_url())?);
//!
//! // 1. Send the user to GitHub; keep `pending` (in their session) until they come back.
//! let (url, pending) = app
//!     .authorize_url()
//!     .redirect_uri("https://example.com/callback")
//!     .pkce()
//!     .build();
//! # let to_github = http::Request::get(url).header("user-agent", "doc").body(Full::default())?;
//! # let back = client.request(to_github).await?.headers()["location"].to_str()?.to_owned();
//! # let query: std::collections::HashMap<String, String> =
//! #     serde_urlencoded::from_str(back.split_once('?').unwrap().1)?;
//! # let (code, state) = (query["code"].clone(), query["state"].clone());
//!
//! // 2. GitHub redirects to `https://example.com/callback?code=...&state=...`:
//! //    check the state (constant time), then act as the user.
//! let user = pending.finish(&app, code, &state)?;
//! let github_as_user = ServiceBuilder::new().layer(user.clone()).service(client.clone());
//! // The first request exchanges the code (once, however many requests arrive together).
//! let response = github_as_user
//!     .oneshot(http::Request::get("/user").body(Full::default())?)
//!     .await?;
//! assert_eq!(response.status(), 200);
//!
//! // Switch to the token itself, to store it or use it elsewhere; it refreshes by itself.
//! let token = user.exchange_token(&client).await?;
//! assert!(token.token_set().refresh_token.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! GitHub's rules: the user goes to `{web}/login/oauth/authorize?client_id&redirect_uri&state&scope`
//! and comes back to `redirect_uri` with `code` and `state`; reject a `state` you did not issue.
//! The code works once, for ten minutes: `POST {web}/login/oauth/access_token` with the client id
//! and secret, the code, the `redirect_uri` if one was sent, and the PKCE `code_verifier` if a
//! `code_challenge` (S256) was sent. Errors come back under HTTP 200 with an `error` field
//! ([`Error::OAuth`], such as `bad_verification_code`). The token then behaves like an
//! [`OAuthTokenAuth`]: it refreshes when it expires.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange};
use crate::side::Side;
use crate::strategies::oauth_app::OAuthAppAuth;
use crate::strategies::oauth_token::{ACCESS_TOKEN_PATH, Grant, Granted, OAuthTokenAuth, TokenSet};

/// The web flow's code, waiting for its exchange.
#[derive(Clone)]
pub(crate) struct CodeGrant {
    code: SecretString,
    redirect_uri: Option<String>,
    pkce_verifier: Option<SecretString>,
}

impl CodeGrant {
    /// `POST {web}/login/oauth/access_token` with the code.
    pub(crate) async fn exchange(
        &self,
        side: &Side,
        client_id: &str,
        client_secret: Option<&SecretString>,
    ) -> Result<Granted, Error> {
        tracing::debug!(%client_id, "exchanging an OAuth web-flow code");
        let mut form = vec![("client_id", client_id)];
        if let Some(secret) = client_secret {
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
}

/// Authenticates as the user who came back from GitHub's authorize page with a code.
///
/// Made by [`OAuthAppAuth::as_web_user`] or [`AuthorizeState::finish`]. The first request
/// exchanges the code (one exchange however many requests arrive together; a failed exchange is
/// reported to each of them), then the token is used and refreshed like an [`OAuthTokenAuth`].
/// [`exchange_token`](Self::exchange_token) exchanges without an API request. Clones share the
/// code and the token. `Debug` shows secrets as `***`.
#[derive(Clone)]
pub struct OAuthWebAuth {
    token: OAuthTokenAuth,
}

impl fmt::Debug for OAuthWebAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthWebAuth")
            .field("token", &self.token)
            .finish()
    }
}

impl OAuthWebAuth {
    pub(crate) fn new(app: &OAuthAppAuth, code: SecretString) -> Self {
        let grant = Grant::Code(CodeGrant {
            code,
            redirect_uri: None,
            pkce_verifier: None,
        });
        Self {
            token: OAuthTokenAuth::with_grant(
                app.client_id().to_owned(),
                Some(app.client_secret.clone()),
                grant,
                TokenSet::default(),
                app.endpoints.clone(),
                app.clock.clone(),
            ),
        }
    }

    /// The `redirect_uri` sent to the authorize page, if one was (GitHub checks they match).
    pub fn redirect_uri(self, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        self.token.user.with_grant(|grant| {
            if let Grant::Code(code) = grant {
                code.redirect_uri = Some(uri);
            }
        });
        self
    }

    /// The PKCE verifier whose challenge was on the authorize URL.
    pub fn pkce_verifier(self, verifier: impl Into<SecretString>) -> Self {
        let verifier = verifier.into();
        self.token.user.with_grant(|grant| {
            if let Grant::Code(code) = grant {
                code.pkce_verifier = Some(verifier);
            }
        });
        self
    }
}

crate::strategies::oauth_token::user_flow!(OAuthWebAuth, "the code exchange");

/// 32 random bytes, base64url: an OAuth `state`, or a PKCE verifier (43 characters).
fn random_token() -> SecretString {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of a verifier.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Builds the URL that sends a user to GitHub's authorize page; made by
/// [`OAuthAppAuth::authorize_url`]. A random `state` is generated unless you set one.
#[derive(Clone)]
pub struct AuthorizeUrl {
    client_id: String,
    endpoints: Endpoints,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    state: Option<SecretString>,
    login: Option<String>,
    allow_signup: Option<bool>,
    pkce: bool,
}

impl fmt::Debug for AuthorizeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeUrl")
            .field("client_id", &self.client_id)
            .field("web_base", &self.endpoints.web_base())
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("state", &self.state.as_ref().map(|_| "***"))
            .field("login", &self.login)
            .field("allow_signup", &self.allow_signup)
            .field("pkce", &self.pkce)
            .finish()
    }
}

impl AuthorizeUrl {
    pub(crate) fn new(client_id: String, endpoints: Endpoints) -> Self {
        Self {
            client_id,
            endpoints,
            redirect_uri: None,
            scopes: Vec::new(),
            state: None,
            login: None,
            allow_signup: None,
            pkce: false,
        }
    }

    /// Where GitHub sends the user back (one of the app's registered callback URLs).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// OAuth scopes to ask for, such as `repo` (GitHub Apps ignore them: their permissions apply).
    pub fn scopes<I, N>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Your own `state` instead of a random one (it must be unguessable).
    pub fn state(mut self, state: impl Into<SecretString>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Suggest this account on the sign-in page.
    pub fn login(mut self, login: impl Into<String>) -> Self {
        self.login = Some(login.into());
        self
    }

    /// Whether the page offers to sign up (GitHub's default: yes).
    pub fn allow_signup(mut self, allow: bool) -> Self {
        self.allow_signup = Some(allow);
        self
    }

    /// Use PKCE: a random verifier is kept in the [`AuthorizeState`] and its S256 challenge goes
    /// on the URL.
    pub fn pkce(mut self) -> Self {
        self.pkce = true;
        self
    }

    /// The URL to send the user to, and what to keep until they come back.
    pub fn build(self) -> (String, AuthorizeState) {
        let state = self.state.unwrap_or_else(random_token);
        let verifier = self.pkce.then(random_token);
        let challenge = verifier.as_ref().map(|v| pkce_challenge(v.expose_secret()));
        let scope = self.scopes.join(" ");
        let allow_signup = self.allow_signup.map(|a| if a { "true" } else { "false" });
        let mut query: Vec<(&str, &str)> = vec![("client_id", &self.client_id)];
        if let Some(uri) = &self.redirect_uri {
            query.push(("redirect_uri", uri));
        }
        if !scope.is_empty() {
            query.push(("scope", &scope));
        }
        query.push(("state", state.expose_secret()));
        if let Some(login) = &self.login {
            query.push(("login", login));
        }
        if let Some(allow) = allow_signup {
            query.push(("allow_signup", allow));
        }
        if let Some(challenge) = &challenge {
            query.push(("code_challenge", challenge));
            query.push(("code_challenge_method", "S256"));
        }
        let query = serde_urlencoded::to_string(&query).expect("strings always encode");
        let url = format!(
            "{}/login/oauth/authorize?{query}",
            self.endpoints.web_base()
        );
        let pending = AuthorizeState {
            state,
            pkce_verifier: verifier,
            redirect_uri: self.redirect_uri,
        };
        (url, pending)
    }
}

/// What to keep between sending the user to GitHub and their return: the `state` issued, the PKCE
/// verifier, the `redirect_uri`. `Debug` shows the secrets as `***`.
///
/// Keep it server-side (or in an encrypted session); rebuild it with
/// [`from_parts`](Self::from_parts).
#[derive(Clone)]
pub struct AuthorizeState {
    state: SecretString,
    pkce_verifier: Option<SecretString>,
    redirect_uri: Option<String>,
}

impl fmt::Debug for AuthorizeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeState")
            .field("state", &"***")
            .field("pkce_verifier", &self.pkce_verifier.as_ref().map(|_| "***"))
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl AuthorizeState {
    /// Rebuilds the pending state from what you stored.
    pub fn from_parts(
        state: impl Into<SecretString>,
        pkce_verifier: Option<SecretString>,
        redirect_uri: Option<String>,
    ) -> Self {
        Self {
            state: state.into(),
            pkce_verifier,
            redirect_uri,
        }
    }

    /// The `state` that was put on the URL.
    pub fn state(&self) -> &SecretString {
        &self.state
    }

    /// The PKCE verifier, if PKCE was asked for.
    pub fn pkce_verifier(&self) -> Option<&SecretString> {
        self.pkce_verifier.as_ref()
    }

    /// The `redirect_uri` that was put on the URL.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// Checks, in constant time, that `returned` (the callback's `state`) is the one issued.
    pub fn verify(&self, returned: &str) -> Result<(), Error> {
        verify_slices_are_equal(self.state.expose_secret().as_bytes(), returned.as_bytes())
            .map_err(|_| Error::StateMismatch)
    }

    /// Checks the callback's `state` ([`Error::StateMismatch`] if it is not the one issued), then
    /// acts as the user with the callback's `code`, with this redirect URI and PKCE verifier.
    pub fn finish(
        &self,
        app: &OAuthAppAuth,
        code: impl Into<SecretString>,
        returned_state: &str,
    ) -> Result<OAuthWebAuth, Error> {
        self.verify(returned_state)?;
        let mut user = app.as_web_user(code);
        if let Some(uri) = &self.redirect_uri {
            user = user.redirect_uri(uri.clone());
        }
        if let Some(verifier) = &self.pkce_verifier {
            user = user.pkce_verifier(verifier.clone());
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorize_urls_carry_state_and_challenge() {
        let endpoints = Endpoints::github_com();
        let (url, pending) = AuthorizeUrl::new("Iv1.abc".into(), endpoints)
            .redirect_uri("https://example.com/cb")
            .scopes(["repo", "gist"])
            .login("octocat")
            .allow_signup(false)
            .pkce()
            .build();
        assert!(url.starts_with("https://github.com/login/oauth/authorize?client_id=Iv1.abc&"));
        assert!(url.contains("redirect_uri=https%3A%2F%2Fexample.com%2Fcb"));
        assert!(url.contains("scope=repo+gist") && url.contains("allow_signup=false"));
        assert!(url.contains(&format!("state={}", pending.state().expose_secret())));
        let challenge = pkce_challenge(pending.pkce_verifier().unwrap().expose_secret());
        assert!(url.contains(&format!(
            "code_challenge={challenge}&code_challenge_method=S256"
        )));
        assert_eq!(pending.state().expose_secret().len(), 43);
        let (_, other) = AuthorizeUrl::new("Iv1.abc".into(), Endpoints::github_com()).build();
        assert_ne!(
            other.state().expose_secret(),
            pending.state().expose_secret()
        );
        assert!(other.pkce_verifier().is_none());
        let text = format!("{pending:?}");
        assert!(!text.contains(pending.state().expose_secret()), "{text}");
    }

    #[test]
    fn state_is_checked() {
        let pending = AuthorizeState::from_parts("abc", None, None);
        assert!(pending.verify("abc").is_ok());
        assert!(matches!(pending.verify("abd"), Err(Error::StateMismatch)));
        assert!(matches!(pending.verify("ab"), Err(Error::StateMismatch)));
        assert!(matches!(pending.verify(""), Err(Error::StateMismatch)));
    }
}
