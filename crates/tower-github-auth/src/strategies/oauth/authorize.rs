//! Sending a user to GitHub's authorize page: [`AuthorizeUrl`] builds the URL with a random
//! `state` (and PKCE), [`AuthorizeState`] is what to keep until the user comes back.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::endpoints::Endpoints;
use crate::error::Error;

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
/// [`OAuthAppAuth::authorize_url`](crate::OAuthAppAuth::authorize_url). A random `state` is generated unless you set one.
///
/// ```
/// use tower_github_auth::{AuthorizeState, ClientCredentials, OAuthAppAuth};
///
/// let app = OAuthAppAuth::new(ClientCredentials::new("Iv23liABCDEF", "secret"));
/// let (url, pending) = app
///     .authorize_url()
///     .redirect_uri("https://example.com/callback")
///     .pkce()
///     .build();
/// assert!(url.starts_with("https://github.com/login/oauth/authorize?client_id=Iv23liABCDEF"));
///
/// // Store the three parts in the user's session; rebuild them on the way back.
/// let kept = AuthorizeState::from_parts(
///     pending.state_ref().clone(),
///     pending.pkce_verifier_ref().cloned(),
///     pending.redirect_uri_ref().map(str::to_owned),
/// );
/// assert!(kept.verify("forged").is_err());
/// ```
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
    pub fn state_ref(&self) -> &SecretString {
        &self.state
    }

    /// The PKCE verifier, if PKCE was asked for.
    pub fn pkce_verifier_ref(&self) -> Option<&SecretString> {
        self.pkce_verifier.as_ref()
    }

    /// The `redirect_uri` that was put on the URL.
    pub fn redirect_uri_ref(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// Checks, in constant time, that `returned` (the callback's `state`) is the one issued.
    pub fn verify(&self, returned: &str) -> Result<(), Error> {
        verify_slices_are_equal(self.state.expose_secret().as_bytes(), returned.as_bytes())
            .map_err(|_| Error::StateMismatch)
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
        assert!(url.contains(&format!("state={}", pending.state_ref().expose_secret())));
        let challenge = pkce_challenge(pending.pkce_verifier_ref().unwrap().expose_secret());
        assert!(url.contains(&format!(
            "code_challenge={challenge}&code_challenge_method=S256"
        )));
        assert_eq!(pending.state_ref().expose_secret().len(), 43);
        let (_, other) = AuthorizeUrl::new("Iv1.abc".into(), Endpoints::github_com()).build();
        assert_ne!(
            other.state_ref().expose_secret(),
            pending.state_ref().expose_secret()
        );
        assert!(other.pkce_verifier_ref().is_none());
        let text = format!("{pending:?}");
        assert!(
            !text.contains(pending.state_ref().expose_secret()),
            "{text}"
        );
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
