//! [`OAuthTokenAuth`]: acting as a user, with a user access token that may expire and refresh.
//!
//! ```
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use secrecy::ExposeSecret;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_github_auth::{Endpoints, OAuthAppAuth, OAuthTokenAuth, TokenSet};
//! use github_auth_emulator::{DEFAULT_APP_CLIENT_ID as CLIENT_ID, DEFAULT_APP_CLIENT_SECRET as SECRET};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
//! let github = github_auth_emulator::Emulator::builder().start().await?;
//! let endpoints = Endpoints::single(&github.base_url())?;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
//! # let stored = OAuthAppAuth::new(CLIENT_ID, SECRET)
//! #     .endpoints(endpoints.clone())
//! #     .as_web_user(github.issue_web_flow_code("octocat"))
//! #     .exchange_token(&client)
//! #     .await?
//! #     .token_set();
//!
//! // A token set saved earlier (by an `on_refresh` hook, say): access token, refresh token, expiries.
//! let user = OAuthTokenAuth::from_token_set(CLIENT_ID, Some(SECRET.into()), stored)
//!     .endpoints(endpoints)
//!     .on_refresh(|set: TokenSet| async move {
//!         // Store `set` here: its refresh token is the only one that works from now on.
//!         # let _ = set;
//!         Ok::<_, std::io::Error>(())
//!     });
//! let github_as_user = ServiceBuilder::new().layer(user.clone()).service(client.clone());
//! let response = github_as_user
//!     .oneshot(http::Request::get("/user").body(Full::default())?)
//!     .await?;
//! assert_eq!(response.status(), 200);
//!
//! // Refreshes happen by themselves ahead of expiry; one can also be asked for.
//! let fresh = user.refresh(&client).await?;
//! let current = user.token_set();
//! assert_eq!(
//!     current.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
//!     fresh.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
//! );
//! # Ok(())
//! # }
//! ```
//!
//! GitHub's rules: a user token is sent as `Authorization: Bearer`. Tokens of OAuth apps (`gho_`)
//! do not expire. Tokens of GitHub Apps (`ghu_`) usually expire after eight hours and come with a
//! refresh token (`ghr_`, about six months); `POST {web}/login/oauth/access_token` with
//! `grant_type=refresh_token` trades it for a new pair, and **the old refresh token is spent**:
//! whoever keeps the token must save the new pair before using it. Tokens from the device flow
//! refresh without the client secret.
//!
//! So here:
//! - the token lives in the crate's token cache: one exchange at a time (two refreshes of the same
//!   token never run at once, whichever clone of the layer or manual call asks), refreshed ahead
//!   of expiry ([`refresh_margin`](OAuthTokenAuth::refresh_margin)), a 401 drops it and the
//!   request is replayed once with a refreshed one;
//! - a refresh ends the old access token at GitHub, so unlike installation tokens (which stay
//!   valid until they expire) the requests that arrive while it runs wait for it, one round trip
//!   every few hours, rather than go out with a token about to be refused; if the refresh fails
//!   without GitHub ending the old token, that one is used until it expires (a refused
//!   [`on_refresh`](OAuthTokenAuth::on_refresh) hook means GitHub did end it: it is dropped);
//! - the latest refresh token is kept in state shared by every clone (and by the
//!   [`OAuthWebAuth`](crate::OAuthWebAuth) or [`OAuthDeviceAuth`](crate::OAuthDeviceAuth) it came
//!   from);
//! - the [`on_refresh`](OAuthTokenAuth::on_refresh) hook receives every new [`TokenSet`] before any
//!   request uses it; if the hook fails, the new set is not used and the request gets
//!   [`Error::Hook`].

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_layer::Layer;

use crate::cache::{Fresh, Policy, Slot};
use crate::clock::Clock;
use crate::credential::{Mint, sensitive_header};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error, Exchange};
use crate::service::{Auth, AuthService, HttpClient, RequestBody, ResponseBody};
use crate::side::Side;
use crate::strategies::oauth_device::DeviceGrant;
use crate::strategies::oauth_web::CodeGrant;

/// Where GitHub trades codes, device codes and refresh tokens for user tokens (web base).
pub(crate) const ACCESS_TOKEN_PATH: &str = "/login/oauth/access_token";

/// A user's tokens, as GitHub issued them: what an [`on_refresh`](OAuthTokenAuth::on_refresh)
/// hook receives and what [`OAuthTokenAuth::token_set`] returns.
///
/// Store all of it: after a refresh only the new refresh token works. Build one from what you
/// stored with struct syntax (`TokenSet { access_token: Some(..), ..TokenSet::default() }`) and
/// hand it to [`OAuthTokenAuth::from_token_set`]. `Debug` shows the tokens as `***`.
#[derive(Clone, Default)]
pub struct TokenSet {
    /// The access token (`ghu_...`, `gho_...`); `None` only before the first refresh of an
    /// [`OAuthTokenAuth::from_refresh_token`].
    pub access_token: Option<SecretString>,
    /// When the access token expires (GitHub's clock); `None` if it does not.
    pub expires_at: Option<SystemTime>,
    /// The refresh token (`ghr_...`), for expiring tokens.
    pub refresh_token: Option<SecretString>,
    /// When the refresh token expires (GitHub's clock).
    pub refresh_token_expires_at: Option<SystemTime>,
    /// The OAuth scopes GitHub granted (empty for GitHub Apps, whose permissions are the App's).
    pub scopes: Vec<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |t: &Option<SecretString>| t.as_ref().map(|_| "***");
        let time = |t: &Option<SystemTime>| t.map(humantime::format_rfc3339_seconds);
        f.debug_struct("TokenSet")
            .field("access_token", &masked(&self.access_token))
            .field("expires_at", &time(&self.expires_at))
            .field("refresh_token", &masked(&self.refresh_token))
            .field(
                "refresh_token_expires_at",
                &time(&self.refresh_token_expires_at),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// GitHub's answer to a code, device-code or refresh grant.
#[derive(Deserialize)]
pub(crate) struct Granted {
    access_token: String,
    #[serde(default)]
    scope: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<u64>,
}

impl Granted {
    fn into_set(self, now: SystemTime) -> TokenSet {
        let at = |secs: Option<u64>| secs.map(|s| now + Duration::from_secs(s));
        TokenSet {
            access_token: Some(SecretString::from(self.access_token)),
            expires_at: at(self.expires_in),
            refresh_token: self.refresh_token.map(SecretString::from),
            refresh_token_expires_at: at(self.refresh_token_expires_in),
            scopes: self
                .scope
                .unwrap_or_default()
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The caller's hook, boxed.
pub(crate) type Hook =
    Arc<dyn Fn(TokenSet) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Boxes an `on_refresh` hook.
pub(crate) fn hook<F, Fut, E>(hook: F) -> Hook
where
    F: Fn(TokenSet) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |set| hook(set).map(|r| r.map_err(Into::into)).boxed())
}

/// How the next credential is obtained.
pub(crate) enum Grant {
    /// The token the caller gave: used as is while valid, refreshed otherwise.
    Given,
    /// A web-flow code, exchanged once.
    Code(CodeGrant),
    /// The device flow, run on first use.
    Device(DeviceGrant),
    /// A token was obtained: the next one comes from a refresh.
    Refresh,
}

/// What every clone of a user-token layer shares.
pub(crate) struct UserToken {
    client_id: String,
    /// `None` for tokens from the device flow, which refresh without it.
    client_secret: Option<SecretString>,
    pub(crate) clock: Arc<Clock>,
    slot: Arc<Slot<TokenSet>>,
    state: Mutex<TokenState>,
}

struct TokenState {
    grant: Grant,
    /// The set in use: what [`OAuthTokenAuth::token_set`] returns.
    current: TokenSet,
    /// The newest refresh token GitHub issued: the only one that works, even when the hook
    /// refused the set it came with.
    refresh_token: Option<SecretString>,
    refresh_token_expires_at: Option<SystemTime>,
    hook: Option<Hook>,
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let grant = match &st.grant {
            Grant::Given => "given token",
            Grant::Code(_) => "web-flow code (***)",
            Grant::Device(_) => "device flow",
            Grant::Refresh => "refresh",
        };
        f.debug_struct("UserToken")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("next", &grant)
            .field("token_set", &st.current)
            .field("on_refresh", &st.hook.as_ref().map(|_| "<hook>"))
            .finish_non_exhaustive()
    }
}

impl UserToken {
    pub(crate) fn new(
        client_id: String,
        client_secret: Option<SecretString>,
        grant: Grant,
        set: TokenSet,
        clock: Arc<Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client_id,
            client_secret,
            slot: Arc::new(Slot::new(
                Policy {
                    // A refresh ends the old access token: requests wait for the new one.
                    refresh_revokes: true,
                    ..Policy::default()
                },
                Arc::clone(&clock),
            )),
            clock,
            state: Mutex::new(TokenState {
                grant,
                refresh_token: set.refresh_token.clone(),
                refresh_token_expires_at: set.refresh_token_expires_at,
                current: set,
                hook: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TokenState> {
        // No code panics while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the grant not yet used (a web-flow option set after `as_web_user`).
    pub(crate) fn with_grant(&self, change: impl FnOnce(&mut Grant)) {
        change(&mut self.lock().grant);
    }

    /// The next credential: the grant not yet used, else a refresh (`refresh` forces one).
    async fn next(self: Arc<Self>, side: Side, refresh: bool) -> Result<Fresh<TokenSet>, Error> {
        let grant = std::mem::replace(&mut self.lock().grant, Grant::Refresh);
        let granted = match &grant {
            Grant::Given => {
                let given = self.lock().current.clone();
                if !refresh && self.usable(&given) {
                    // Not new: the caller has it already, so no hook.
                    return fresh(given);
                }
                self.refresh(&side).await
            }
            Grant::Code(code) => {
                let secret = self.client_secret.as_ref();
                code.exchange(&side, &self.client_id, secret).await
            }
            Grant::Device(device) => device.run(&side, &self.client_id).await,
            Grant::Refresh => self.refresh(&side).await,
        };
        let granted = match granted {
            Ok(granted) => granted,
            Err(err) => {
                if matches!(grant, Grant::Code(_) | Grant::Device(_)) {
                    // Nothing obtained: the next attempt starts from the same grant.
                    self.lock().grant = grant;
                }
                return Err(err);
            }
        };
        self.accept(granted).await
    }

    /// Whether a given token can be sent as it is.
    fn usable(&self, set: &TokenSet) -> bool {
        let margin = Policy::default().min_validity;
        set.access_token.is_some()
            && set
                .expires_at
                .is_none_or(|at| at > self.clock.github_now() + margin)
    }

    /// `grant_type=refresh_token` with the newest refresh token.
    async fn refresh(&self, side: &Side) -> Result<Granted, Error> {
        let (token, expires_at) = {
            let st = self.lock();
            (st.refresh_token.clone(), st.refresh_token_expires_at)
        };
        let Some(token) = token else {
            return Err(Error::RefreshImpossible {
                reason: "there is no refresh token (only the expiring user tokens of GitHub Apps \
                         have one)",
            });
        };
        if expires_at.is_some_and(|at| at <= self.clock.github_now()) {
            return Err(Error::RefreshImpossible {
                reason: "the refresh token has expired",
            });
        }
        tracing::debug!(client_id = %self.client_id, "refreshing a user token");
        let mut form = vec![("client_id", self.client_id.as_str())];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        form.push(("grant_type", "refresh_token"));
        form.push(("refresh_token", token.expose_secret()));
        side.oauth(Exchange::Refresh, ACCESS_TOKEN_PATH, &form)
            .await
    }

    /// A new set from GitHub: keep its refresh token, hand it to the hook, then use it.
    async fn accept(&self, granted: Granted) -> Result<Fresh<TokenSet>, Error> {
        let set = granted.into_set(self.clock.github_now());
        let hook = {
            let mut st = self.lock();
            // The old refresh token is spent whatever happens next: only this one works now.
            st.refresh_token.clone_from(&set.refresh_token);
            st.refresh_token_expires_at = set.refresh_token_expires_at;
            st.hook.clone()
        };
        let fresh = fresh(set.clone())?;
        if let Some(hook) = hook {
            hook(set.clone())
                .await
                .map_err(|e| Error::Hook(Arc::from(e)))?;
        }
        self.lock().current = set;
        Ok(fresh)
    }
}

/// The slot entry for a set.
fn fresh(set: TokenSet) -> Result<Fresh<TokenSet>, Error> {
    let token = set.access_token.as_ref().ok_or(Error::RefreshImpossible {
        reason: "there is neither an access token nor a refresh token",
    })?;
    Ok(Fresh {
        header: sensitive_header("Bearer", token.expose_secret(), "user access token")?,
        expires_at: set.expires_at,
        value: set,
    })
}

/// A user token as a cached credential.
#[derive(Clone, Debug)]
pub(crate) struct UserCredential(pub(crate) Arc<UserToken>);

impl Mint for UserCredential {
    type Value = TokenSet;
    const REPLICATES: bool = false;

    fn slot(&self) -> &Arc<Slot<TokenSet>> {
        &self.0.slot
    }

    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<TokenSet>, Error>> {
        Arc::clone(&self.0).next(side, false).boxed()
    }
}

/// Authenticates as a user with a user access token (`Authorization: Bearer`), refreshing it
/// ahead of expiry when it has a refresh token.
///
/// Clones are cheap and share the token, its refresh token and the hook: a refresh by one is seen
/// by all. Builder methods that set the token ([`expires_at`](Self::expires_at),
/// [`refresh_token`](Self::refresh_token), ...) and [`on_refresh`](Self::on_refresh) change that
/// shared state, so call them before the first request. `Debug` shows secrets as `***`.
#[derive(Clone)]
pub struct OAuthTokenAuth {
    pub(crate) user: Arc<UserToken>,
    pub(crate) endpoints: Endpoints,
    replay: bool,
}

impl fmt::Debug for OAuthTokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenAuth")
            .field("user", &self.user)
            .field("endpoints", &self.endpoints)
            .field("replay_unauthorized", &self.replay)
            .finish()
    }
}

/// What the user flows ([`OAuthWebAuth`](crate::OAuthWebAuth), [`OAuthDeviceAuth`](crate::OAuthDeviceAuth))
/// share: each wraps the user's [`OAuthTokenAuth`] in a field `token` and hands it on.
macro_rules! user_flow {
    ($flow:ty, $first:literal) => {
        impl $flow {
            /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
            pub fn endpoints(mut self, endpoints: $crate::Endpoints) -> Self {
                self.token = self.token.endpoints(endpoints);
                self
            }

            /// Refresh the user's token once less than `margin` is left (see
            /// [`OAuthTokenAuth::refresh_margin`](crate::OAuthTokenAuth::refresh_margin)).
            pub fn refresh_margin(mut self, margin: ::std::time::Duration) -> Self {
                self.token = self.token.refresh_margin(margin);
                self
            }

            /// Whether a request refused with 401 is replayed once with a refreshed token (see
            /// [`OAuthTokenAuth::replay_unauthorized`](crate::OAuthTokenAuth::replay_unauthorized)).
            pub fn replay_unauthorized(mut self, replay: bool) -> Self {
                self.token = self.token.replay_unauthorized(replay);
                self
            }

            #[doc = concat!("Calls `hook` with the token set of ", $first, " and of every refresh, ")]
            /// before any request uses it (see
            /// [`OAuthTokenAuth::on_refresh`](crate::OAuthTokenAuth::on_refresh)).
            pub fn on_refresh<F, Fut, E>(mut self, hook: F) -> Self
            where
                F: Fn($crate::TokenSet) -> Fut + Send + Sync + 'static,
                Fut: ::std::future::Future<Output = Result<(), E>> + Send + 'static,
                E: Into<$crate::BoxError>,
            {
                self.token = self.token.on_refresh(hook);
                self
            }

            #[doc = concat!("Runs ", $first, " through `inner` (your HTTP client, the service this")]
            /// layer would wrap), or waits for the one a request started, and returns the user's
            /// token, which shares its state with this layer (refresh token included).
            pub async fn exchange_token<S, B, RB>(
                &self,
                inner: &S,
            ) -> Result<$crate::OAuthTokenAuth, $crate::Error>
            where
                S: $crate::HttpClient<B, RB>,
                B: $crate::RequestBody,
                RB: $crate::ResponseBody,
            {
                self.token.obtain(inner).await?;
                Ok(self.token.clone())
            }

            #[doc = concat!("The user's token set: empty until ", $first, " succeeded.")]
            pub fn token_set(&self) -> $crate::TokenSet {
                self.token.token_set()
            }
        }

        impl<S> ::tower_layer::Layer<S> for $flow {
            type Service = $crate::AuthService<S>;

            fn layer(&self, inner: S) -> Self::Service {
                self.token.layer(inner)
            }
        }
    };
}
pub(crate) use user_flow;

impl OAuthTokenAuth {
    /// A user token of the OAuth client `client_id` (an OAuth app, or a GitHub App's client
    /// credentials), on github.com. Add [`expires_at`](Self::expires_at) and
    /// [`refresh_token`](Self::refresh_token) for an expiring token.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        token: impl Into<SecretString>,
    ) -> Self {
        let set = TokenSet {
            access_token: Some(token.into()),
            ..TokenSet::default()
        };
        Self::from_token_set(client_id, Some(client_secret.into()), set)
    }

    /// A user known only by a refresh token: the first request refreshes it.
    pub fn from_refresh_token(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        refresh_token: impl Into<SecretString>,
    ) -> Self {
        let set = TokenSet {
            refresh_token: Some(refresh_token.into()),
            ..TokenSet::default()
        };
        Self::from_token_set(client_id, Some(client_secret.into()), set)
    }

    /// A token set stored earlier (by an [`on_refresh`](Self::on_refresh) hook, say).
    /// `client_secret` is `None` for tokens from the device flow, which refresh without it.
    pub fn from_token_set(
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        set: TokenSet,
    ) -> Self {
        Self::with_grant(
            client_id.into(),
            client_secret,
            Grant::Given,
            set,
            Endpoints::default(),
            Arc::new(Clock::default()),
        )
    }

    pub(crate) fn with_grant(
        client_id: String,
        client_secret: Option<SecretString>,
        grant: Grant,
        set: TokenSet,
        endpoints: Endpoints,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            user: UserToken::new(client_id, client_secret, grant, set, clock),
            endpoints,
            replay: true,
        }
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Refresh once less than `margin` is left before the token expires (default 5 minutes;
    /// never before half of the token's life has passed). The refresh ends the old token at
    /// GitHub, so the requests that arrive while it runs wait for it. Shared by every clone; it
    /// applies from the next token on.
    pub fn refresh_margin(self, margin: Duration) -> Self {
        self.user.slot.set_refresh_margin(margin);
        self
    }

    /// Whether a request refused with 401 is replayed once with a refreshed token (default: yes,
    /// when its body can be copied: `Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`,
    /// `&'static str`, `()`).
    /// Without it, the 401 still drops the token, and reaches the caller.
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// When the access token expires (GitHub's clock); it is refreshed before then.
    pub fn expires_at(self, at: SystemTime) -> Self {
        self.user.lock().current.expires_at = Some(at);
        self
    }

    /// The refresh token that goes with the access token.
    pub fn refresh_token(self, token: impl Into<SecretString>) -> Self {
        let token = token.into();
        let mut st = self.user.lock();
        st.current.refresh_token = Some(token.clone());
        st.refresh_token = Some(token);
        drop(st);
        self
    }

    /// When the refresh token expires (GitHub's clock); past it, a refresh is not attempted and
    /// requests fail with [`Error::RefreshImpossible`].
    pub fn refresh_token_expires_at(self, at: SystemTime) -> Self {
        let mut st = self.user.lock();
        st.current.refresh_token_expires_at = Some(at);
        st.refresh_token_expires_at = Some(at);
        drop(st);
        self
    }

    /// Calls `hook` with every new token set, before any request uses it: after each refresh
    /// (ahead of expiry, after a 401, or [`refresh`](Self::refresh)) and after the code
    /// exchange or device flow that obtained the first one.
    ///
    /// Store the set there: the old refresh token no longer works. If the hook fails, the new
    /// set is not used, the request that waited on it gets [`Error::Hook`], and the next attempt
    /// refreshes with the newest refresh token (the hook then gets that newer set). Hook calls
    /// never overlap and come in the order GitHub issued the sets. The hook belongs to the token,
    /// so it replaces the hook of every clone.
    ///
    /// ```
    /// # use tower_github_auth::{OAuthTokenAuth, TokenSet};
    /// let user = OAuthTokenAuth::from_refresh_token("Iv1.client", "secret", "ghr_stored")
    ///     .on_refresh(|set: TokenSet| async move {
    ///         // Write `set` to your database here.
    ///         # let _ = set;
    ///         Ok::<_, std::io::Error>(())
    ///     });
    /// ```
    pub fn on_refresh<F, Fut, E>(self, hook: F) -> Self
    where
        F: Fn(TokenSet) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.user.lock().hook = Some(self::hook(hook));
        self
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.user.client_id
    }

    /// The token set in use: after a request (or [`refresh`](Self::refresh)), the one GitHub
    /// issued last and the hook accepted.
    pub fn token_set(&self) -> TokenSet {
        self.user.lock().current.clone()
    }

    /// Refreshes now, through `inner` (your HTTP client, the service this layer would wrap), even
    /// if the token is still valid; joins a refresh already running instead of starting another.
    /// The hook gets the new set before this returns it.
    pub async fn refresh<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = self.side(inner);
        let user = Arc::clone(&self.user);
        let entry = self
            .user
            .slot
            .renew(move || user.next(side, true).boxed())
            .await?;
        Ok(entry.value.clone())
    }

    /// A usable token set: the cached one, or obtained (first exchange, refresh) through `inner`.
    pub(crate) async fn obtain<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = self.side(inner);
        let credential = UserCredential(Arc::clone(&self.user));
        let entry = self.user.slot.obtain(|| credential.mint(side)).await?;
        Ok(entry.value.clone())
    }

    fn side<S, B, RB>(&self, inner: &S) -> Side
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        Side::new(
            inner.clone(),
            self.endpoints.clone(),
            Arc::clone(&self.user.clock),
        )
    }
}

impl<S> Layer<S> for OAuthTokenAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::clone(&self.user.clock),
            Arc::new(UserCredential(Arc::clone(&self.user))),
        );
        auth.replay = self.replay;
        AuthService::new(inner, auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_tokens() {
        let auth = OAuthTokenAuth::new("Iv1.client", "s3cret-client", "ghu_s3cret-token")
            .refresh_token("ghr_s3cret-refresh")
            .on_refresh(|_set| async { Ok::<_, std::io::Error>(()) });
        let text = format!("{auth:?} {:?}", auth.token_set());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("Iv1.client") && text.contains("***"),
            "{text}"
        );
    }

    #[test]
    fn grants_become_token_sets() {
        let granted: Granted = serde_json::from_str(
            r#"{"access_token":"gho_x","scope":"repo,gist","token_type":"bearer"}"#,
        )
        .unwrap();
        let set = granted.into_set(SystemTime::UNIX_EPOCH);
        assert_eq!(set.scopes, ["repo", "gist"]);
        assert!(set.expires_at.is_none() && set.refresh_token.is_none());
        let granted: Granted = serde_json::from_str(
            r#"{"access_token":"ghu_x","expires_in":28800,"refresh_token":"ghr_y",
                "refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}"#,
        )
        .unwrap();
        let set = granted.into_set(SystemTime::UNIX_EPOCH);
        assert_eq!(
            set.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(28_800))
        );
        assert!(set.scopes.is_empty());
        assert_eq!(set.refresh_token.unwrap().expose_secret(), "ghr_y");
    }
}
