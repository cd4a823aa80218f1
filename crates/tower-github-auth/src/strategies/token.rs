//! Strategies that need no exchange: [`Unauthenticated`], [`TokenAuth`], [`ActionAuth`].

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tower_layer::Layer;

use crate::clock::Clock;
use crate::credential::Fixed;
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::headers::sensitive_header;
use crate::rate_limit::{RateLimit, RateLimits, Resource};
use crate::service::AuthService;
use crate::service::auth::Auth;

/// No credential: only GitHub's required headers and bare-path resolution.
///
/// Good for public data, and for GitHub's unauthenticated rate limit.
#[derive(Clone, Debug, Default)]
pub struct Unauthenticated {
    endpoints: Endpoints,
    user_agent: Option<HeaderValue>,
}

impl Unauthenticated {
    /// Anonymous access to github.com.
    pub fn new() -> Self {
        Self::default()
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Where requests go.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The `User-Agent` of this layer's requests (those without one of their own), instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    pub fn user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.user_agent = Some(user_agent);
        self
    }
}

impl<S> Layer<S> for Unauthenticated {
    type Service = AuthService<S, Fixed>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::new(Clock::default()),
            Fixed::none(),
        );
        auth.limits.user_agent.clone_from(&self.user_agent);
        AuthService::new(inner, auth)
    }
}

/// Any token GitHub accepts as `Authorization: Bearer`: a personal access token (classic or
/// fine-grained), an OAuth or installation token obtained elsewhere, the Actions token.
///
/// The token is kept as a [`SecretString`], sent in a header marked sensitive, and shown as `***`
/// by `Debug`. Its length is not checked: GitHub's formats change.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_github_auth::TokenAuth;
/// # let client = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::new())))
/// # });
///
/// let github = ServiceBuilder::new()
///     .layer(TokenAuth::new("ghp_example")?)
///     .service(client);
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenAuth {
    token: SecretString,
    endpoints: Endpoints,
    user_agent: Option<HeaderValue>,
    rate_limits: RateLimits,
}

impl fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("token", &"***")
            .field("endpoints", &self.endpoints)
            .field("user_agent", &self.user_agent)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

impl TokenAuth {
    /// A token for github.com. Fails if the token cannot be sent in a header.
    pub fn new(token: impl Into<SecretString>) -> Result<Self, Error> {
        let token = token.into();
        // Checked once here, so that `layer` cannot fail.
        sensitive_header("Bearer", token.expose_secret(), "token")?;
        Ok(Self {
            token,
            endpoints: Endpoints::default(),
            user_agent: None,
            rate_limits: RateLimits::new(),
        })
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Where the token is sent.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// Where GitHub's rate-limit figures for this token are recorded (by default a record of
    /// this layer's own, shared by its clones and services). GitHub counts a user's requests
    /// across all of that user's tokens: give the layers of two tokens of one user the same
    /// record, so that they report (and a [`Pool`](crate::Pool) counts) one budget.
    ///
    /// ```
    /// use tower_github_auth::{RateLimits, Resource, TokenAuth};
    ///
    /// let octocat = RateLimits::new();
    /// let first = TokenAuth::new("ghp_first")?.rate_limits(octocat.clone());
    /// let second = TokenAuth::new("github_pat_second")?.rate_limits(octocat.clone());
    /// assert!(first.rate_limits_ref().shares_with(second.rate_limits_ref()));
    /// assert_eq!(first.rate_limit(Resource::Core), None); // nothing answered yet
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
    pub fn rate_limits(mut self, record: RateLimits) -> Self {
        self.rate_limits = record;
        self
    }

    /// The record of this token's rate limits.
    pub fn rate_limits_ref(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// What GitHub last reported of `resource`'s rate limit for this token (from the
    /// `x-ratelimit-*` headers of answers through this layer's services); `None` before any.
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.rate_limits.get(resource)
    }

    /// The `User-Agent` of this layer's requests (those without one of their own), instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    pub fn user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.user_agent = Some(user_agent);
        self
    }
}

impl<S> Layer<S> for TokenAuth {
    type Service = AuthService<S, Fixed>;

    fn layer(&self, inner: S) -> Self::Service {
        let header = sensitive_header("Bearer", self.token.expose_secret(), "token")
            .expect("validated in TokenAuth::new");
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::new(Clock::default()),
            Fixed::header(header, None),
        );
        auth.limits.user_agent.clone_from(&self.user_agent);
        auth.rate_limits = self.rate_limits.clone();
        AuthService::new(inner, auth)
    }
}

/// The token GitHub Actions gives a workflow step.
///
/// Read from `GITHUB_TOKEN`, else `INPUT_GITHUB_TOKEN` (a `github_token` input); the API base from
/// `GITHUB_API_URL`, the web base from `GITHUB_SERVER_URL` and GraphQL from `GITHUB_GRAPHQL_URL`, as
/// [`Endpoints::from_env`] reads them (github.com when neither is set).
///
/// ```
/// use tower_github_auth::ActionAuth;
///
/// let env = |name: &str| match name {
///     "GITHUB_TOKEN" => Some("ghs_example".to_owned()),
///     "GITHUB_API_URL" => Some("https://ghe.example.com/api/v3".to_owned()),
///     "GITHUB_SERVER_URL" => Some("https://ghe.example.com".to_owned()),
///     _ => None,
/// };
/// let auth = ActionAuth::from_vars(env)?;
/// assert_eq!(auth.endpoints_ref().api_base(), "https://ghe.example.com/api/v3");
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct ActionAuth {
    token: TokenAuth,
}

impl fmt::Debug for ActionAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionAuth")
            .field("token", &"***")
            .field("endpoints", &self.token.endpoints)
            .finish()
    }
}

impl ActionAuth {
    /// The variables this strategy reads, in order of preference for the token.
    pub const TOKEN_VARIABLES: [&'static str; 2] = ["GITHUB_TOKEN", "INPUT_GITHUB_TOKEN"];

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var` (for tests, or an environment captured elsewhere).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let token = Self::TOKEN_VARIABLES
            .iter()
            .find_map(|name| set(name))
            .ok_or(Error::MissingActionsToken)?;
        let endpoints = Endpoints::from_vars(&var)?;
        Ok(Self {
            token: TokenAuth::new(token.trim().to_owned())?.endpoints(endpoints),
        })
    }

    /// Where the token will be sent.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.token.endpoints
    }

    /// The token.
    pub fn token(&self) -> &SecretString {
        self.token.token()
    }

    /// What GitHub last reported of `resource`'s rate limit for the Actions token; see
    /// [`TokenAuth::rate_limit`].
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.token.rate_limit(resource)
    }

    /// The `User-Agent` of this layer's requests (those without one of their own), instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    pub fn user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.token = self.token.user_agent(user_agent);
        self
    }
}

impl<S> Layer<S> for ActionAuth {
    type Service = AuthService<S, Fixed>;

    fn layer(&self, inner: S) -> Self::Service {
        self.token.layer(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn action_auth_reads_each_variable() {
        let a = ActionAuth::from_vars(vars(&[("GITHUB_TOKEN", "ghs_one")])).unwrap();
        assert_eq!(a.token().expose_secret(), "ghs_one");
        assert_eq!(a.endpoints_ref(), &Endpoints::github_com());

        let b = ActionAuth::from_vars(vars(&[("INPUT_GITHUB_TOKEN", "ghs_two")])).unwrap();
        assert_eq!(b.token().expose_secret(), "ghs_two");

        let both = ActionAuth::from_vars(vars(&[
            ("GITHUB_TOKEN", "ghs_first"),
            ("INPUT_GITHUB_TOKEN", "ghs_second"),
        ]))
        .unwrap();
        assert_eq!(both.token().expose_secret(), "ghs_first");

        let ghes = ActionAuth::from_vars(vars(&[
            ("GITHUB_TOKEN", "ghs_x"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
        ]))
        .unwrap();
        assert_eq!(
            ghes.endpoints_ref().api_base(),
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(ghes.endpoints_ref().web_base(), "https://ghe.example.com");
    }

    /// The bases come from `Endpoints::from_vars`: the same answer as every other reader of
    /// the environment, GHE.com and a loopback server included.
    #[test]
    fn action_auth_takes_its_bases_as_endpoints_from_vars_does() {
        for pairs in [
            &[
                ("GITHUB_TOKEN", "ghs_x"),
                ("GITHUB_API_URL", "https://api.octo.ghe.com"),
            ][..],
            &[
                ("GITHUB_TOKEN", "ghs_x"),
                ("GITHUB_SERVER_URL", "https://octo.ghe.com"),
            ],
            &[
                ("GITHUB_TOKEN", "ghs_x"),
                ("GITHUB_API_URL", "http://127.0.0.1:8787"),
            ],
            &[
                ("GITHUB_TOKEN", "ghs_x"),
                ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
            ],
        ] {
            let env = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            let auth = ActionAuth::from_vars(env).unwrap();
            assert_eq!(
                auth.endpoints_ref(),
                &Endpoints::from_vars(env).unwrap(),
                "{pairs:?}"
            );
        }
        let ghe_com = ActionAuth::from_vars(vars(&[
            ("GITHUB_TOKEN", "ghs_x"),
            ("GITHUB_API_URL", "https://api.octo.ghe.com"),
        ]))
        .unwrap();
        assert_eq!(
            ghe_com.endpoints_ref().api_base(),
            "https://api.octo.ghe.com"
        );
        assert_eq!(ghe_com.endpoints_ref().web_base(), "https://octo.ghe.com");
    }

    #[test]
    fn action_auth_fails_clearly_without_a_token() {
        let err = ActionAuth::from_vars(vars(&[("GITHUB_TOKEN", "  ")])).unwrap_err();
        assert!(matches!(err, Error::MissingActionsToken));
        let text = err.to_string();
        assert!(
            text.contains("GITHUB_TOKEN") && text.contains("INPUT_GITHUB_TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = TokenAuth::new("ghp_supersecret").unwrap();
        let a = ActionAuth::from_vars(vars(&[("GITHUB_TOKEN", "ghs_supersecret")])).unwrap();
        for shown in [format!("{t:?}"), format!("{a:?}"), format!("{t:#?}")] {
            assert!(!shown.contains("supersecret"), "{shown}");
            assert!(shown.contains("***"));
        }
    }

    #[test]
    fn tokens_that_cannot_be_headers_are_refused() {
        assert!(matches!(
            TokenAuth::new("ghp_abc\n"),
            Err(Error::InvalidCredential { .. })
        ));
    }
}
