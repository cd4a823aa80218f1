//! [`OAuthAppAuth`]: acting as an OAuth client (an OAuth app, or a GitHub App's client
//! credentials), and the starting point of the user flows.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_layer::Layer;

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::{Clock, Rfc3339};
use crate::credential::Fixed;
use crate::endpoints::{Endpoints, segment};
use crate::error::{Error, Exchange};
use crate::headers::sensitive_header;
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::side::{Answer, Limits, Side, decode_json, github_error};
use crate::strategies::app::jwt::AppAuth;
use crate::strategies::oauth::authorize::AuthorizeUrl;
use crate::strategies::oauth::client::ClientCredentials;
use crate::strategies::oauth::grant::{OAuthClient, TokenSet};
use crate::strategies::oauth::user_token::{OAuthTokenAuth, UserAuthBuilder};

/// Authenticates as an OAuth client with its id and secret (`Authorization: Basic`), on the
/// `/applications/{client_id}/...` routes only; other requests pass without a credential.
///
/// Also the starting point for acting as a user: [`as_web_user`](Self::as_web_user),
/// [`authorize_url`](Self::authorize_url), [`as_user`](Self::as_user). Made by
/// [`OAuthAppAuth::new`] or [`AppAuth::as_oauth_app`]. `Debug` shows the secret as `***`.
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_github_auth::{AppAuth, AppId, ClientCredentials, Endpoints, OAuthAppAuth};
/// use github_auth_emulator::{DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
///
/// // A GitHub App's OAuth client (or an OAuth app's: `OAuthAppAuth::new(credentials)`).
/// let app = AppAuth::from_pem(AppId(1), github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?
///     .endpoints(Endpoints::single(&github.base_url())?);
/// let credentials = ClientCredentials::new(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
/// let oauth_app: OAuthAppAuth = app.as_oauth_app(credentials);
///
/// // A user signs in (web flow); their token is what the app manages below.
/// let code = github.issue_web_flow_code("octocat");
/// let user = oauth_app.as_web_user(code).build().fetch_token(&client).await?;
/// let token = user.access_token.expect("exchanged");
///
/// // Check, reset and delete user tokens with the client's Basic credentials.
/// let info = oauth_app.check_token(&client, &token).await?.expect("a valid token");
/// assert_eq!(info.login.as_deref(), Some("octocat"));
/// let reset = oauth_app.reset_token(&client, &token).await?;   // a new token; the old one ends
/// assert!(oauth_app.check_token(&client, &token).await?.is_none());
/// oauth_app.delete_token(&client, &reset.token).await?;
///
/// // As a layer, the Basic header goes only on `/applications/{client_id}/...`.
/// let as_client = ServiceBuilder::new().layer(oauth_app.clone()).service(client);
/// let request = http::Request::post(format!("/applications/{DEFAULT_APP_CLIENT_ID}/token"))
///     .body(Full::from(r#"{"access_token":"ghu_unknown"}"#))?;
/// assert_eq!(as_client.oneshot(request).await?.status(), 404); // authenticated; unknown token
/// # Ok(())
/// # }
/// ```
///
/// GitHub's rules: the client credentials go as `Authorization: Basic base64(client_id:secret)`;
/// `POST`, `PATCH` and `DELETE /applications/{client_id}/token` (with `{"access_token": ...}`)
/// check, reset and delete a user token of this client. A token that is not valid answers 404.
/// The user flows start here: [`as_web_user`](OAuthAppAuth::as_web_user) (a code from the web
/// flow) and [`authorize_url`](OAuthAppAuth::authorize_url) (where to send the user).
#[derive(Clone)]
pub struct OAuthAppAuth {
    credentials: ClientCredentials,
    endpoints: Endpoints,
    clock: Arc<Clock>,
    limits: Limits,
}

impl fmt::Debug for OAuthAppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAppAuth")
            .field("credentials", &self.credentials)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl AppAuth {
    /// The App's OAuth client (for the user flows and the `/applications` routes) with its client
    /// id and secret (from the App's settings page), this App's endpoints and clock.
    pub fn as_oauth_app(&self, credentials: ClientCredentials) -> OAuthAppAuth {
        OAuthAppAuth {
            credentials,
            endpoints: self.endpoints.clone(),
            clock: Arc::clone(&self.shared.clock),
            limits: self.limits.clone(),
        }
    }
}

impl OAuthAppAuth {
    /// An OAuth client on github.com: an OAuth app's client id and secret, or a GitHub App's.
    ///
    /// It mints nothing, so there is no token to share; each user made from it
    /// ([`as_web_user`](Self::as_web_user), [`as_user`](Self::as_user)) is a state of its own,
    /// shared by that user's clones.
    pub fn new(credentials: ClientCredentials) -> Self {
        Self {
            credentials,
            endpoints: Endpoints::default(),
            clock: Arc::new(Clock::default()),
            limits: Limits::default(),
        }
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// The deadline of the token routes' requests ([`check_token`](Self::check_token), ...),
    /// default 10 s; past it they fail with [`Error::Timeout`].
    pub fn exchange_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The `User-Agent` of this layer's requests (those without one of their own) and of its
    /// exchanges with GitHub, instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    ///
    /// The user layers made from this client ([`as_user`](Self::as_user),
    /// [`as_web_user`](Self::as_web_user)) start with it too.
    pub fn user_agent(mut self, user_agent: http::HeaderValue) -> Self {
        self.limits.user_agent = Some(user_agent);
        self
    }

    pub(crate) fn user_agent_ref(&self) -> Option<&http::HeaderValue> {
        self.limits.user_agent.as_ref()
    }

    /// Where the client's requests go.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        self.credentials.client_id()
    }

    pub(crate) fn credentials(&self) -> &ClientCredentials {
        &self.credentials
    }

    pub(crate) fn clock(&self) -> Arc<Clock> {
        Arc::clone(&self.clock)
    }

    /// Builds the URL of GitHub's authorize page for this client, with a random `state`.
    pub fn authorize_url(&self) -> AuthorizeUrl {
        AuthorizeUrl::new(self.client_id().to_owned(), self.endpoints.clone())
    }

    /// Act as a user whose token set you stored; refreshes with this client's credentials.
    /// Add the hook with [`on_refresh`](UserAuthBuilder::on_refresh), then
    /// [`build`](UserAuthBuilder::build).
    pub fn as_user(&self, set: TokenSet) -> UserAuthBuilder<TokenSet> {
        OAuthTokenAuth::builder_for(OAuthClient::from(self.credentials.clone()))
            .endpoints(self.endpoints.clone())
            .user_agent_from(self.user_agent_ref())
            .token_set(set)
    }

    /// Checks a user token of this client: its details, or `None` if GitHub does not know it (any
    /// more). Sent through `inner`, your HTTP client.
    pub async fn check_token<S, B, RB>(
        &self,
        inner: &S,
        token: &SecretString,
    ) -> Result<Option<TokenInfo>, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let exchange = Exchange::TokenCheck;
        let side = Side::new(inner, &self.endpoints, &self.clock, self.limits.clone());
        let answer = self
            .token_route(&side, exchange, Method::POST, token)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(github_error(exchange, &answer));
        }
        let found: Authorization = decode_json(exchange, &answer)?;
        found.into_info(exchange).map(Some)
    }

    /// Resets a user token of this client: GitHub issues a new token (in the result) and the old
    /// one stops working at once.
    pub async fn reset_token<S, B, RB>(
        &self,
        inner: &S,
        token: &SecretString,
    ) -> Result<TokenInfo, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let exchange = Exchange::TokenReset;
        let side = Side::new(inner, &self.endpoints, &self.clock, self.limits.clone());
        let answer = self
            .token_route(&side, exchange, Method::PATCH, token)
            .await?;
        if !answer.status.is_success() {
            return Err(github_error(exchange, &answer));
        }
        let reset: Authorization = decode_json(exchange, &answer)?;
        reset.into_info(exchange)
    }

    /// Deletes (revokes) a user token of this client.
    pub async fn delete_token<S, B, RB>(&self, inner: &S, token: &SecretString) -> Result<(), Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let exchange = Exchange::TokenDelete;
        let side = Side::new(inner, &self.endpoints, &self.clock, self.limits.clone());
        let answer = self
            .token_route(&side, exchange, Method::DELETE, token)
            .await?;
        if !answer.status.is_success() {
            return Err(github_error(exchange, &answer));
        }
        Ok(())
    }

    /// `Basic base64(client_id:client_secret)`, marked sensitive.
    fn basic(&self) -> HeaderValue {
        let pair = format!(
            "{}:{}",
            self.client_id(),
            self.credentials.client_secret().expose_secret()
        );
        sensitive_header("Basic", &STANDARD.encode(pair), "OAuth client credentials")
            .expect("base64 is always a valid header value")
    }

    async fn token_route(
        &self,
        side: &Side,
        exchange: Exchange,
        method: Method,
        token: &SecretString,
    ) -> Result<Answer, Error> {
        let path = format!("/applications/{}/token", segment(self.client_id()));
        let body = serde_json::json!({ "access_token": token.expose_secret() });
        side.rest_raw(exchange, method, &path, Some(&self.basic()), Some(&body))
            .await
    }
}

impl<S> Layer<S> for OAuthAppAuth {
    type Service = AuthService<S, Fixed>;

    fn layer(&self, inner: S) -> Self::Service {
        let credential = Fixed::header(
            self.basic(),
            Some(format!("/applications/{}/", segment(self.client_id()))),
        );
        let mut auth = Auth::new(self.endpoints.clone(), Arc::clone(&self.clock), credential);
        auth.limits = self.limits.clone();
        AuthService::new(inner, auth)
    }
}

/// A user token as GitHub describes it to its OAuth client (check and reset). `Debug` shows the
/// token as `***`.
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The authorization's id.
    pub id: u64,
    /// The token: the one checked, or the new one after a reset.
    pub token: SecretString,
    /// Its last eight characters, for display.
    pub token_last_eight: Option<String>,
    /// Its OAuth scopes.
    pub scopes: Vec<String>,
    /// The login of the user it acts for.
    pub login: Option<String>,
    /// When it expires; `None` if it does not.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("token", &"***")
            .field("token_last_eight", &self.token_last_eight)
            .field("scopes", &self.scopes)
            .field("login", &self.login)
            .field("expires_at", &self.expires_at.map(Rfc3339))
            .finish()
    }
}

/// GitHub's `authorization` object, the parts we keep.
#[derive(Deserialize)]
struct Authorization {
    id: u64,
    token: String,
    token_last_eight: Option<String>,
    scopes: Option<Vec<String>>,
    user: Option<User>,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

impl Authorization {
    fn into_info(self, exchange: Exchange) -> Result<TokenInfo, Error> {
        let expires_at = self
            .expires_at
            .map(|at| {
                humantime::parse_rfc3339_weak(&at).map_err(|e| Error::InvalidResponse {
                    exchange,
                    reason: format!("`expires_at` is not a timestamp ({e})"),
                    subject: None,
                })
            })
            .transpose()?;
        Ok(TokenInfo {
            id: self.id,
            token: SecretString::from(self.token),
            token_last_eight: self.token_last_eight,
            scopes: self.scopes.unwrap_or_default(),
            login: self.user.map(|u| u.login),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let app = OAuthAppAuth::new(ClientCredentials::new("Iv1.abc", "very-s3cret"));
        let text = format!("{app:?}");
        assert!(
            !text.contains("very-s3cret") && text.contains("Iv1.abc"),
            "{text}"
        );
        let basic = app.basic();
        assert!(basic.is_sensitive());
        assert_eq!(basic, "Basic SXYxLmFiYzp2ZXJ5LXMzY3JldA==");
    }
}
