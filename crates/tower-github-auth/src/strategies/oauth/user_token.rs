//! [`OAuthTokenAuth`]: acting as a user, with a user access token that may expire and refresh.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tower_layer::Layer;

use crate::cache::{Fresh, Policy, Slot};
use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::Clock;
use crate::credential::{Mint, Minted};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error, Exchange, RefreshImpossible};
use crate::fleet::{Fleet, Shareable, Through, store_key};
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::service::replay::Replaying;
use crate::side::{Limits, Side};
use crate::store::TokenStore;
use crate::strategies::oauth::client::ClientCredentials;
use crate::strategies::oauth::grant::{
    ACCESS_TOKEN_PATH, FirstGrant, Granted, OAuthClient, TokenSet,
};

/// The caller's hook, boxed.
type Hook = Arc<dyn Fn(TokenSet) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// How the next credential is obtained.
#[derive(Clone)]
enum Next {
    /// The token the caller gave: used as is while valid, refreshed otherwise.
    Given,
    /// The first grant (a web-flow code, the device flow), kept until it succeeds.
    First(Arc<dyn FirstGrant>),
    /// A token was obtained: the next one comes from a refresh.
    Refresh,
}

/// What every clone of a user-token layer shares.
pub(crate) struct UserToken {
    client: OAuthClient,
    clock: Arc<Clock>,
    slot: Arc<Slot<TokenSet>>,
    policy: Policy,
    hook: Option<Hook>,
    /// Where a fleet shares this user's token (and spends each refresh token once).
    fleet: Option<Fleet>,
    /// How long the store's exchange lock is held at most.
    lock_for: Duration,
    state: Mutex<TokenState>,
}

struct TokenState {
    next: Next,
    /// The set in use: what [`OAuthTokenAuth::cached_token`] returns.
    current: TokenSet,
    /// The newest refresh token GitHub issued: the only one that works, even when the hook
    /// refused the set it came with.
    refresh_token: Option<SecretString>,
    refresh_token_expires_at: Option<SystemTime>,
    /// Refresh tokens this replica spent (the last few): a stored set that still carries one is
    /// older than what this replica holds, and is never taken back.
    spent: VecDeque<SecretString>,
}

/// How many spent refresh tokens a replica remembers.
const SPENT_REMEMBERED: usize = 8;

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let next = match &st.next {
            Next::Given => "given token",
            Next::First(grant) => grant.name(),
            Next::Refresh => "refresh",
        };
        f.debug_struct("UserToken")
            .field("client", &self.client)
            .field("next", &next)
            .field("token_set", &st.current)
            .field("on_refresh", &self.hook.as_ref().map(|_| "<hook>"))
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

impl UserToken {
    fn lock(&self) -> MutexGuard<'_, TokenState> {
        // No code panics while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next credential: the first grant until it succeeds, the given token while usable,
    /// else a refresh (`force` skips the given token).
    async fn next(self: Arc<Self>, side: Side, force: bool) -> Result<Fresh<TokenSet>, Error> {
        let next = self.lock().next.clone();
        let exchange = match &next {
            Next::First(grant) => grant.exchange(),
            Next::Given | Next::Refresh => Exchange::Refresh,
        };
        let granted = match next {
            Next::Given => {
                let given = {
                    let mut st = self.lock();
                    st.next = Next::Refresh;
                    st.current.clone()
                };
                if !force && self.usable(&given) {
                    // Not new: the caller has it already, so no hook.
                    return given.fresh();
                }
                self.refresh(&side).await?
            }
            // Kept in place until it succeeds: a failed (or panicked) first grant runs again.
            Next::First(grant) => grant.obtain(&side, &self.client).await?,
            Next::Refresh => self.refresh(&side).await?,
        };
        self.lock().next = Next::Refresh;
        self.accept(granted, exchange).await
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
                reason: RefreshImpossible::NoRefreshToken,
            });
        };
        if expires_at.is_some_and(|at| at <= self.clock.github_now()) {
            return Err(Error::RefreshImpossible {
                reason: RefreshImpossible::RefreshTokenExpired,
            });
        }
        let client_id = &self.client.client_id;
        tracing::debug!(%client_id, "refreshing a user token");
        let mut form = vec![("client_id", client_id.as_str())];
        if let Some(secret) = &self.client.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        form.push(("grant_type", "refresh_token"));
        form.push(("refresh_token", token.expose_secret()));
        side.oauth(Exchange::Refresh, ACCESS_TOKEN_PATH, &form)
            .await
    }

    /// The fleet's path for this token, if it has a store.
    fn through<'a>(
        &'a self,
        fleet: &'a Fleet,
        adopt: &'a (dyn Fn(&TokenSet) -> bool + Send + Sync),
    ) -> Through<'a, TokenSet> {
        Through {
            fleet,
            clock: &self.clock,
            policy: self.policy,
            lock_for: self.lock_for,
            adopt,
            refused: self.slot.refused(),
        }
    }

    /// A set another replica stored: the fleet's newest, whose refresh token is the only one
    /// that works. Taken over unless it is the one in use; refused (`false`) when it carries a
    /// refresh token this replica spent (the store missed this replica's newer set).
    fn adopt(&self, set: &TokenSet) -> bool {
        let mut st = self.lock();
        let same = |a: &Option<SecretString>, b: &Option<SecretString>| {
            a.as_ref().map(ExposeSecret::expose_secret)
                == b.as_ref().map(ExposeSecret::expose_secret)
        };
        if let Some(stored) = &set.refresh_token
            && st
                .spent
                .iter()
                .any(|spent| spent.expose_secret() == stored.expose_secret())
        {
            tracing::debug!("the store holds an older user token set: keeping this replica's");
            return false;
        }
        if same(&st.refresh_token, &set.refresh_token)
            && same(&st.current.access_token, &set.access_token)
        {
            return true;
        }
        tracing::debug!("taking over the user token set another replica stored");
        st.refresh_token.clone_from(&set.refresh_token);
        st.refresh_token_expires_at = set.refresh_token_expires_at;
        st.current = set.clone();
        st.next = Next::Refresh;
        true
    }

    /// The next credential through the fleet's store when there is one (`force`: a refresh
    /// even if the stored set is usable).
    async fn next_shared(
        self: Arc<Self>,
        side: Side,
        force: bool,
    ) -> Result<Fresh<TokenSet>, Error> {
        let Some(fleet) = self.fleet.clone() else {
            return self.next(side, force).await;
        };
        let adopter = Arc::clone(&self);
        let adopt = move |set: &TokenSet| adopter.adopt(set);
        let user = Arc::clone(&self);
        self.through(&fleet, &adopt)
            .obtain(force, move || user.next(side, force).boxed())
            .await
    }

    /// A new set from GitHub: keep its refresh token, hand it to the hook, then use it.
    async fn accept(&self, granted: Granted, exchange: Exchange) -> Result<Fresh<TokenSet>, Error> {
        let set = granted.into_set(self.clock.github_now());
        {
            let mut st = self.lock();
            // The old refresh token is spent whatever happens next: only this one works now.
            if let Some(spent) = st.refresh_token.take() {
                if st.spent.len() == SPENT_REMEMBERED {
                    st.spent.pop_front();
                }
                st.spent.push_back(spent);
            }
            st.refresh_token.clone_from(&set.refresh_token);
            st.refresh_token_expires_at = set.refresh_token_expires_at;
        }
        if let Some(fleet) = &self.fleet {
            // The fleet learns the new pair before anyone uses it (the hook included): the old
            // refresh token is spent for every replica.
            self.through(fleet, &|_: &TokenSet| true)
                .save(&set, set.expires_at)
                .await;
        }
        let fresh = set.clone().fresh()?;
        if let Some(hook) = &self.hook {
            hook(set.clone())
                .await
                .map_err(|e| Error::Hook(Arc::from(e)))?;
        }
        // Checked after the hook: the set's refresh token is the only one that works now, so it
        // is handed on even when the access token is unusable.
        if set
            .expires_at
            .is_some_and(|at| at <= self.clock.github_now())
        {
            return Err(Error::InvalidResponse {
                exchange,
                reason: "the new access token's `expires_in` is zero".to_owned(),
            });
        }
        self.lock().current = set;
        Ok(fresh)
    }
}

/// A user token as a cached credential.
#[derive(Clone, Debug)]
struct UserCredential(Arc<UserToken>);

impl Mint for UserCredential {
    type Value = TokenSet;
    const REPLICATES: bool = false;

    fn slot(&self) -> &Arc<Slot<TokenSet>> {
        &self.0.slot
    }

    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<TokenSet>, Error>> {
        Arc::clone(&self.0).next_shared(side, false).boxed()
    }
}

/// Configures a user layer before its shared state exists: [`OAuthTokenAuth::builder`] (a
/// token you stored), [`OAuthAppAuth::as_web_user`](crate::OAuthAppAuth::as_web_user) (a
/// web-flow code), [`OAuthDeviceAuth::builder`](crate::OAuthDeviceAuth::builder) (the device
/// flow). `G` is what the first token comes from; `build()` makes the layer.
///
/// The methods here are the same for every user layer; each `G` adds its own.
pub struct UserAuthBuilder<G> {
    client: OAuthClient,
    pub(crate) grant: G,
    endpoints: Endpoints,
    clock: Arc<Clock>,
    refresh_margin: Duration,
    replay: Replaying,
    limits: Limits,
    hook: Option<Hook>,
    /// The fleet's store, and the identity of this user in it.
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl<G: fmt::Debug> fmt::Debug for UserAuthBuilder<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAuthBuilder")
            .field("client", &self.client)
            .field("grant", &self.grant)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .field("replay_unauthorized", &self.replay)
            .field("limits", &self.limits)
            .field("on_refresh", &self.hook.as_ref().map(|_| "<hook>"))
            .field("token_store", &self.store.as_ref().map(|(store, _)| store))
            .finish_non_exhaustive()
    }
}

impl<G> UserAuthBuilder<G> {
    pub(crate) fn new(
        client: OAuthClient,
        grant: G,
        endpoints: Endpoints,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            client,
            grant,
            endpoints,
            clock,
            refresh_margin: Policy::default().refresh_margin,
            replay: Replaying::default(),
            limits: Limits::default(),
            hook: None,
            store: None,
        }
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Refresh once less than `margin` is left before the token expires (default 5 minutes;
    /// never before half of the token's life has passed). The refresh ends the old token at
    /// GitHub, so the requests that arrive while it runs wait for it.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Whether a request refused with 401 is replayed once with a refreshed token (default: yes,
    /// when its body can be copied: `Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`,
    /// `&'static str`, `()`). Without it, the 401 still drops the token, and reaches the caller.
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.replay.on = replay;
        self
    }

    /// How to copy a request body of type `B` for a replay after a 401, for a body type that is
    /// not in [`replay_unauthorized`](Self::replay_unauthorized)'s list; `copy` answers `None`
    /// for a body that cannot be copied (a stream), and that request is not replayed. A layer
    /// keeps one copier: a second call replaces the first, and a copier for another type than the
    /// inner service's body is not used (the built-in list still is).
    ///
    /// octocrab's `OctoBody` is one: its `Clone` shares the body rather than copying it, and its
    /// `try_clone` copies a buffered body but answers `None` for the empty body of a `GET`
    /// (octocrab is not a dependency here; `crates/bench-peers` compiles this):
    ///
    /// ```ignore
    /// .replay_body_with(|body: &OctoBody| {
    ///     body.try_clone().or_else(|| body.is_end_stream().then(OctoBody::empty))
    /// })
    /// ```
    pub fn replay_body_with<B: 'static>(mut self, copy: fn(&B) -> Option<B>) -> Self {
        self.replay.body_with(copy);
        self
    }

    /// The deadline of every exchange this layer makes (token mint, lookup, grant, refresh):
    /// request sent and answer read, default 10 s. Past it the exchange fails with
    /// [`Error::Timeout`] for every request waiting on it, and the next attempt (after the
    /// backoff) is a new exchange.
    pub fn exchange_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The largest answer an exchange reads, default 32 MiB (a token narrowed to 500
    /// repositories is answered with about 2.5 MiB of repository objects).
    pub fn max_answer_size(mut self, bytes: usize) -> Self {
        self.limits.max_answer = bytes;
        self
    }

    /// Share this user's token with the other replicas of a fleet through `store` (such as
    /// `tower-github-auth-redis`), under `user`: a stable identity of the user that you choose
    /// (their GitHub user id, your account id), the same on every replica. Refreshes then go
    /// through the store's lock, and the rotated pair is written to the store (before the hook
    /// and before any request uses it), so each refresh token is spent once across the fleet and
    /// a replica that starts later takes the newest pair from the store. A set another replica
    /// stored is not handed to this replica's hook (that replica's hook had it). Because the pair
    /// reaches the store before the hook, a hook that refuses it does not keep the other
    /// replicas from using it: its refresh token is the only one left.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>, user: impl Into<String>) -> Self {
        self.store = Some((store, user.into()));
        self
    }

    /// Calls `hook` with every new token set, before any request uses it: after the code
    /// exchange or device flow that obtained the first one, and after each refresh (ahead of
    /// expiry, after a 401, or [`OAuthTokenAuth::refresh`]).
    ///
    /// Store the set there: the old refresh token no longer works. If the hook fails, the new
    /// set is not used, the request that waited on it gets [`Error::Hook`], and the next attempt
    /// refreshes with the newest refresh token (the hook then gets that newer set). Hook calls
    /// never overlap and come in the order GitHub issued the sets.
    ///
    /// ```
    /// # use tower_github_auth::{ClientCredentials, OAuthTokenAuth, TokenSet};
    /// let mut stored = TokenSet::default();
    /// stored.refresh_token = Some("ghr_stored".into());
    /// let user = OAuthTokenAuth::builder(ClientCredentials::new("Iv1.client", "secret"))
    ///     .token_set(stored)
    ///     .on_refresh(|set: TokenSet| async move {
    ///         // Write `set` to your database here.
    ///         # let _ = set;
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// ```
    pub fn on_refresh<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(TokenSet) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.hook = Some(Arc::new(move |set| {
            hook(set).map(|r| r.map_err(Into::into)).boxed()
        }));
        self
    }

    /// The user layer, its shared state created here: `first` runs on first use when given,
    /// else `set` is used (and refreshed).
    pub(crate) fn build_token(
        self,
        first: Option<Arc<dyn FirstGrant>>,
        set: TokenSet,
    ) -> OAuthTokenAuth {
        let policy = Policy {
            refresh_margin: self.refresh_margin,
            // A refresh ends the old access token: requests wait for the new one.
            refresh_revokes: true,
            ..Policy::default()
        };
        let fleet = self.store.map(|(store, user)| Fleet {
            store,
            key: store_key(
                "user",
                &[self.endpoints.web_base(), &self.client.client_id, &user],
            ),
        });
        let user = UserToken {
            slot: Arc::new(Slot::new(policy, Arc::clone(&self.clock))),
            policy,
            client: self.client,
            clock: self.clock,
            hook: self.hook,
            fleet,
            lock_for: self.limits.timeout.saturating_mul(3),
            state: Mutex::new(TokenState {
                next: first.map_or(Next::Given, Next::First),
                refresh_token: set.refresh_token.clone(),
                refresh_token_expires_at: set.refresh_token_expires_at,
                spent: VecDeque::new(),
                current: set,
            }),
        };
        OAuthTokenAuth {
            user: Arc::new(user),
            endpoints: self.endpoints,
            replay: self.replay,
            limits: self.limits,
        }
    }
}

impl UserAuthBuilder<TokenSet> {
    /// The whole token set you stored (replaces what was set so far).
    pub fn token_set(mut self, set: TokenSet) -> Self {
        self.grant = set;
        self
    }

    /// The access token.
    pub fn access_token(mut self, token: impl Into<SecretString>) -> Self {
        self.grant.access_token = Some(token.into());
        self
    }

    /// When the access token expires (GitHub's clock); it is refreshed before then.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.grant.expires_at = Some(at);
        self
    }

    /// The refresh token that goes with the access token (alone, it is refreshed on first use).
    pub fn refresh_token(mut self, token: impl Into<SecretString>) -> Self {
        self.grant.refresh_token = Some(token.into());
        self
    }

    /// When the refresh token expires (GitHub's clock); past it, a refresh is not attempted and
    /// requests fail with [`Error::RefreshImpossible`].
    pub fn refresh_token_expires_at(mut self, at: SystemTime) -> Self {
        self.grant.refresh_token_expires_at = Some(at);
        self
    }

    /// The layer.
    pub fn build(self) -> OAuthTokenAuth {
        let set = self.grant.clone();
        self.build_token(None, set)
    }
}

/// Authenticates as a user with a user access token (`Authorization: Bearer`), refreshing it
/// ahead of expiry when it has a refresh token. Made by [`OAuthTokenAuth::builder`],
/// [`OAuthAppAuth::as_user`](crate::OAuthAppAuth::as_user), or from a user flow
/// ([`UserFlow::token_auth`](crate::UserFlow::token_auth)).
///
/// Clones are cheap and share the token, its refresh token and the hook: a refresh by one is seen
/// by all. `Debug` shows secrets as `***`.
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use secrecy::ExposeSecret;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth, OAuthTokenAuth, TokenSet};
/// use github_auth_emulator::{DEFAULT_APP_CLIENT_ID as CLIENT_ID, DEFAULT_APP_CLIENT_SECRET as SECRET};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let endpoints = Endpoints::single(&github.base_url())?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// let credentials = ClientCredentials::new(CLIENT_ID, SECRET);
///
/// // The user's token set: access token, refresh token, expiries. In a program, the one you saved
/// // earlier (from a sign-in, or from the `on_refresh` hook below); here, a web-flow sign-in with
/// // a code the emulator issues (see `OAuthWebAuth` for the whole flow).
/// let code = github.issue_web_flow_code("octocat");
/// let stored: TokenSet = OAuthAppAuth::new(credentials.clone())
///     .endpoints(endpoints.clone())
///     .as_web_user(code)
///     .build()
///     .fetch_token(&client)
///     .await?;
///
/// let user = OAuthTokenAuth::builder(credentials)
///     .token_set(stored)
///     .endpoints(endpoints)
///     .on_refresh(|set: TokenSet| async move {
///         // Store `set` here (your database, encrypted): its refresh token is the only one that
///         // works from now on. An error keeps the new set out of use.
///         drop(set);
///         Ok::<_, std::io::Error>(())
///     })
///     .build();
/// let github_as_user = ServiceBuilder::new().layer(user.clone()).service(client.clone());
/// let response = github_as_user
///     .oneshot(http::Request::get("/user").body(Full::default())?)
///     .await?;
/// assert_eq!(response.status(), 200);
///
/// // Refreshes happen by themselves ahead of expiry; one can also be asked for.
/// let fresh = user.refresh(&client).await?;
/// let current = user.cached_token().expect("refreshed");
/// assert_eq!(
///     current.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
///     fresh.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
/// );
/// # Ok(())
/// # }
/// ```
///
/// GitHub's rules: a user token is sent as `Authorization: Bearer`. Tokens of OAuth apps (`gho_`)
/// do not expire. Tokens of GitHub Apps (`ghu_`) usually expire after eight hours and come with a
/// refresh token (`ghr_`, about six months); `POST {web}/login/oauth/access_token` with
/// `grant_type=refresh_token` trades it for a new pair, and **the old refresh token is spent**:
/// whoever keeps the token must save the new pair before using it. Tokens from the device flow
/// refresh without the client secret.
///
/// So here:
/// - the token lives in the crate's token cache: one exchange at a time (two refreshes of the same
///   token never run at once, whichever clone of the layer or manual call asks), refreshed ahead
///   of expiry ([`refresh_margin`](UserAuthBuilder::refresh_margin)), a 401 drops it and the
///   request is replayed once with a refreshed one;
/// - a refresh ends the old access token at GitHub, so unlike installation tokens (which stay
///   valid until they expire) the requests that arrive while it runs wait for it, one round trip
///   every few hours, rather than go out with a token about to be refused; if the refresh fails
///   without GitHub ending the old token, that one is used until it expires (a refused
///   [`on_refresh`](UserAuthBuilder::on_refresh) hook means GitHub did end it: it is dropped);
/// - the latest refresh token is kept in state shared by every clone (and by the
///   [`OAuthWebAuth`](crate::OAuthWebAuth) or [`OAuthDeviceAuth`](crate::OAuthDeviceAuth) it came
///   from); the builder configures everything before that state exists, so a clone cannot
///   change its siblings;
/// - the [`on_refresh`](UserAuthBuilder::on_refresh) hook receives every new [`TokenSet`] before any
///   request uses it; if the hook fails, the new set is not used and the request gets
///   [`Error::Hook`].
#[derive(Clone)]
pub struct OAuthTokenAuth {
    user: Arc<UserToken>,
    endpoints: Endpoints,
    replay: Replaying,
    limits: Limits,
}

impl fmt::Debug for OAuthTokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenAuth")
            .field("user", &self.user)
            .field("endpoints", &self.endpoints)
            .field("replay_unauthorized", &self.replay)
            .field("limits", &self.limits)
            .finish()
    }
}

impl OAuthTokenAuth {
    /// A user token of the OAuth client `credentials` (an OAuth app, or a GitHub App's client
    /// credentials), on github.com: give the token with [`token_set`](UserAuthBuilder::token_set)
    /// or [`access_token`](UserAuthBuilder::access_token) (and its refresh token, expiries).
    ///
    /// **What it shares**: each [`build`](UserAuthBuilder::build) makes a new user state (the
    /// token, the latest refresh token, the hook); two layers built from the same stored token
    /// set do not share it, and each would refresh on its own, spending the refresh token the
    /// other needs. Build one per user and clone it (clones share everything, so one refresh is
    /// seen by all); replicas in several processes share a user through
    /// [`token_store`](UserAuthBuilder::token_store).
    pub fn builder(credentials: ClientCredentials) -> UserAuthBuilder<TokenSet> {
        Self::builder_for(OAuthClient::from(credentials))
    }

    /// Like [`builder`](Self::builder), for a token from the device flow of `client_id`: it
    /// refreshes without the client secret.
    pub fn builder_without_secret(client_id: impl Into<String>) -> UserAuthBuilder<TokenSet> {
        Self::builder_for(OAuthClient {
            client_id: client_id.into(),
            client_secret: None,
        })
    }

    pub(crate) fn builder_for(client: OAuthClient) -> UserAuthBuilder<TokenSet> {
        UserAuthBuilder::new(
            client,
            TokenSet::default(),
            Endpoints::default(),
            Arc::new(Clock::default()),
        )
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.user.client.client_id
    }

    /// Where the token is sent.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The token set in use, without I/O: after a request (or a refresh), the one GitHub issued
    /// last and the hook accepted; `None` before there is an access token.
    pub fn cached_token(&self) -> Option<TokenSet> {
        let set = self.user.lock().current.clone();
        set.access_token.is_some().then_some(set)
    }

    /// A usable token set now: the cached one, or obtained (the first grant, a refresh) through
    /// `inner`, your HTTP client (the service this layer would wrap).
    pub async fn fetch_token<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = Side::new(inner, &self.endpoints, &self.user.clock, self.limits);
        let credential = UserCredential(Arc::clone(&self.user));
        let entry = self.user.slot.obtain(|| credential.mint(side)).await?;
        Ok(entry.value.clone())
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
        let side = Side::new(inner, &self.endpoints, &self.user.clock, self.limits);
        let user = Arc::clone(&self.user);
        let entry = self
            .user
            .slot
            .renew(move || user.next_shared(side, true).boxed())
            .await?;
        Ok(entry.value.clone())
    }
}

impl<S> Layer<S> for OAuthTokenAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::clone(&self.user.clock),
            Minted::new(UserCredential(Arc::clone(&self.user))),
        );
        auth.replay = self.replay.clone();
        auth.limits = self.limits;
        AuthService::new(inner, auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_tokens() {
        let auth = OAuthTokenAuth::builder(ClientCredentials::new("Iv1.client", "s3cret-client"))
            .access_token("ghu_s3cret-token")
            .refresh_token("ghr_s3cret-refresh")
            .on_refresh(|_set| async { Ok::<_, std::io::Error>(()) })
            .build();
        let text = format!("{auth:?} {:?}", auth.cached_token());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("Iv1.client") && text.contains("***"),
            "{text}"
        );
    }
}
