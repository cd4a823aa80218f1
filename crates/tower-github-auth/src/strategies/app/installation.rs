//! [`AppInstallationAuth`]: acting as one installation of a GitHub App.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_layer::Layer;

use crate::cache::{Entry, Fresh, Slot};
use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::credential::{Mint, Minted};
use crate::endpoints::{Endpoints, segment};
use crate::error::{Error, Exchange};
use crate::fleet::{Adopted, Fleet, Through, lock_life, store_key};
use crate::headers::{STATELESS_TOKEN_HEADER, sensitive_header};
use crate::observe;
use crate::rate_limit::{RateLimit, RateLimits, Resource};
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::side::{Answer, Side, decode_json, github_error};
use crate::strategies::app::cache::{InstallationKey, KeyTarget};
use crate::strategies::app::ids::{AppIssuer, InstallationId, InstallationTarget};
use crate::strategies::app::jwt::AppAuth;
use crate::strategies::app::key::PrivateKey;
use crate::strategies::app::token::{InstallationToken, TokenFacts, revoke_token};
use crate::subject::{Narrowing as SubjectNarrowing, Subject};

/// Which format of installation token to ask GitHub for, with
/// [`AppInstallationAuth::token_format`], during GitHub's rollout of stateless tokens.
///
/// Since April 2026 GitHub mints stateless installation tokens, `ghs_<APPID>_<JWT>`: about 520
/// characters of `[A-Za-z0-9._-]`, of varying length (the classic ones were `ghs_` and 36
/// letters and digits). The layer carries either unchanged, whatever its length, and never reads
/// the JWT inside (it is GitHub's own). By default it asks for neither and GitHub chooses; this
/// option sends `X-GitHub-Stateless-S2S-Token: enabled` or `disabled` on each mint, for those who
/// must test their own code (length limits, redaction patterns) against one format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstallationTokenFormat {
    /// `ghs_<APPID>_<JWT>`, about 520 characters (`X-GitHub-Stateless-S2S-Token: enabled`).
    Stateless,
    /// `ghs_` and 36 characters (`X-GitHub-Stateless-S2S-Token: disabled`).
    Classic,
}

impl InstallationTokenFormat {
    /// The value of `X-GitHub-Stateless-S2S-Token` that asks for this format.
    fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Stateless => "enabled",
            Self::Classic => "disabled",
        })
    }

    /// How the format tells apart the cache key of a token (after the narrowing's JSON, which
    /// ends with `}`: no narrowing can end like it).
    fn key_suffix(self) -> &'static str {
        match self {
            Self::Stateless => " format=stateless",
            Self::Classic => " format=classic",
        }
    }
}

/// What a token is narrowed to. Sorted, so equal narrowings share one cache entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Narrowing {
    repositories: BTreeSet<String>,
    repository_ids: BTreeSet<u64>,
    permissions: BTreeMap<String, String>,
}

impl Narrowing {
    fn body(&self) -> Option<serde_json::Value> {
        let mut body = serde_json::Map::new();
        if !self.repositories.is_empty() {
            body.insert("repositories".into(), serde_json::json!(self.repositories));
        }
        if !self.repository_ids.is_empty() {
            body.insert(
                "repository_ids".into(),
                serde_json::json!(self.repository_ids),
            );
        }
        if !self.permissions.is_empty() {
            body.insert("permissions".into(), serde_json::json!(self.permissions));
        }
        (!body.is_empty()).then_some(serde_json::Value::Object(body))
    }
}

/// Authenticates as an installation of a GitHub App, with installation tokens minted, cached and
/// refreshed ahead of expiry. Build it with [`AppInstallationAuth::new`] or
/// [`AppAuth::as_installation`] and its siblings.
///
/// GitHub's rules: `POST /app/installations/{id}/access_tokens` with the App's JWT mints a token
/// valid for one hour, optionally narrowed to some repositories (by name or id) and permissions.
/// A token just minted may be refused for a moment while it replicates.
///
/// Tokens live in the App's [`TokenCache`](crate::TokenCache), keyed by API base, App,
/// installation and narrowing: one exchange however many requests arrive at once, a background
/// refresh five minutes before expiry, and a 401 drops the token.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_github_auth::{AppAuth, AppId, AppInstallationAuth, InstallationId, PrivateKey};
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
///
/// // Your App's private key (`std::fs::read("my-app.private-key.pem")?`); here, a test key.
/// let pem = github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1;
/// // Any HTTP client that is a `tower::Service` (for github.com, one with TLS: hyper-rustls).
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
///
/// let key = PrivateKey::from_pem(pem)?;
/// let github = ServiceBuilder::new()
///     .layer(AppInstallationAuth::new(AppId(12345), key.clone(), InstallationId(42)))
///     .service(client.clone());
///
/// // Narrowed to one repository, read-only contents: a separate token.
/// let app = AppAuth::new(AppId(12345), key);
/// let narrow = app
///     .installation_for_repository("octo", "one")
///     .repositories(["one"])
///     .permission("contents", "read");
/// let github_narrow = ServiceBuilder::new().layer(narrow).service(client);
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppInstallationAuth {
    app: AppAuth,
    target: InstallationTarget,
    narrowing: Narrowing,
    /// The format asked for on each mint; `None`: GitHub's choice, no header.
    format: Option<InstallationTokenFormat>,
}

impl AppAuth {
    /// Act as installation `id`. Cheap: no key parsing; shares the JWT and the token cache, so a
    /// stack can be built per request (say, from a webhook's `installation.id`).
    pub fn as_installation(&self, id: InstallationId) -> AppInstallationAuth {
        AppInstallationAuth::for_target(self.clone(), InstallationTarget::Id(id))
    }

    /// Act as the installation that covers `owner/repo` (looked up once, then remembered).
    pub fn installation_for_repository(&self, owner: &str, repo: &str) -> AppInstallationAuth {
        let target = InstallationTarget::Repository {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        };
        AppInstallationAuth::for_target(self.clone(), target)
    }

    /// Act as the installation on organisation `org` (looked up once, then remembered).
    pub fn installation_for_organization(&self, org: &str) -> AppInstallationAuth {
        AppInstallationAuth::for_target(
            self.clone(),
            InstallationTarget::Organization(org.to_owned()),
        )
    }

    /// Act as the installation on user account `login` (looked up once, then remembered).
    pub fn installation_for_user(&self, login: &str) -> AppInstallationAuth {
        AppInstallationAuth::for_target(self.clone(), InstallationTarget::User(login.to_owned()))
    }

    /// Act as the installation on the enterprise `slug` (GitHub Enterprise Cloud,
    /// `GET /enterprises/{slug}/installation`; looked up once, then remembered).
    pub fn installation_for_enterprise(&self, slug: &str) -> AppInstallationAuth {
        AppInstallationAuth::for_target(
            self.clone(),
            InstallationTarget::Enterprise(slug.to_owned()),
        )
    }

    /// Every installation of this App (`GET /app/installations`, all pages, 100 a page), so that
    /// a backend can warm its cache or fan out over them. Sent through `inner`, your HTTP client.
    ///
    /// The list is complete or an error: every page is read until GitHub answers a page that is
    /// not full. Each page is one exchange, bounded by the
    /// [`exchange_timeout`](AppAuth::exchange_timeout) and the answer size bound; a failed page
    /// fails the whole call (tried again like any lookup on a 5xx or no answer). A listing that
    /// does not end within 10,000 pages (1,000,000 installations) is
    /// [`Error::InvalidResponse`], never a partial list.
    ///
    /// ```
    /// # use http_body_util::Full;
    /// # use tower_github_auth::{AppAuth, AppId, Endpoints};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let github = github_auth_emulator::Emulator::builder().start().await?;
    /// # let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
    /// #     .build_http::<Full<bytes::Bytes>>();
    /// let app = AppAuth::from_pem(AppId(1), github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?
    ///     .endpoints(Endpoints::single(&github.base_url())?);
    /// for installation in app.installations(&client).await? {
    ///     let token = app.as_installation(installation.id).fetch_token(&client).await?;
    ///     println!("{} ({}): {:?}", installation.account, installation.id, token);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn installations<S, B, RB>(&self, inner: &S) -> Result<Vec<AppInstallation>, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        /// Pages read at most (1,000,000 installations): a GitHub that never stops is not
        /// followed forever, and not cut off silently either.
        const MOST_PAGES: usize = 10_000;
        self.list_installations(inner, MOST_PAGES).await
    }

    /// [`installations`](Self::installations), reading at most `most_pages` pages.
    async fn list_installations<S, B, RB>(
        &self,
        inner: &S,
        most_pages: usize,
    ) -> Result<Vec<AppInstallation>, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        /// The page size GitHub allows at most.
        const PER_PAGE: usize = 100;
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            account: Option<Account>,
            #[serde(default)]
            target_type: Option<String>,
            #[serde(default)]
            repository_selection: Option<String>,
            #[serde(default)]
            permissions: BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        struct Account {
            #[serde(default)]
            login: Option<String>,
            #[serde(default)]
            slug: Option<String>,
        }
        let side = Side::new(
            inner,
            &self.endpoints,
            &self.shared.clock,
            self.limits.clone(),
        );
        let exchange = Exchange::InstallationList;
        let mut all = Vec::new();
        for page in 1..=most_pages {
            let path = format!("/app/installations?per_page={PER_PAGE}&page={page}");
            let answer = self
                .jwt_request(&side, exchange, Method::GET, &path, None)
                .await?;
            if !answer.status.is_success() {
                return Err(github_error(exchange, &answer));
            }
            let listed: Vec<Listed> = decode_json(exchange, &answer)?;
            let last = listed.len() < PER_PAGE;
            all.extend(listed.into_iter().map(|i| {
                AppInstallation {
                    id: InstallationId(i.id),
                    account: i
                        .account
                        .and_then(|a| a.login.or(a.slug))
                        .unwrap_or_default(),
                    target_type: i.target_type.unwrap_or_default(),
                    repository_selection: i.repository_selection,
                    permissions: i.permissions,
                }
            }));
            if last {
                return Ok(all);
            }
        }
        Err(Error::InvalidResponse {
            exchange,
            reason: format!(
                "GitHub still listed installations after {most_pages} full pages ({} \
                 installations); the list would be incomplete",
                all.len()
            ),
            subject: None,
        })
    }
}

/// One installation of an App, as [`AppAuth::installations`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppInstallation {
    /// Its id: [`AppAuth::as_installation`] acts as it.
    pub id: InstallationId,
    /// The account it is installed on: a user's or organisation's login, or an enterprise's slug.
    pub account: String,
    /// `Organization`, `User` or `Enterprise`, as GitHub says.
    pub target_type: String,
    /// `all` or `selected`.
    pub repository_selection: Option<String>,
    /// The permissions the App has there.
    pub permissions: BTreeMap<String, String>,
}

impl AppInstallationAuth {
    /// Installation `installation` of the App `app` (its [`AppId`](crate::AppId), or
    /// [`AppIssuer::client_id`]) on github.com.
    ///
    /// **What it shares**: this is `AppAuth::new(app, key).as_installation(installation)`, a new
    /// App each call, so two `AppInstallationAuth::new(..)` for the same installation do not
    /// share a token: each mints its own (the token cache belongs to the [`AppAuth`] value, not
    /// to the process). To share one token, clone the layer (clones share the App, its JWT and
    /// its token cache), or build the [`AppAuth`] once and call
    /// [`as_installation`](AppAuth::as_installation) for each installation or request:
    ///
    /// ```
    /// use http_body_util::Full;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use tower_github_auth::{AppAuth, AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let github = github_auth_emulator::Emulator::builder().start().await?;
    /// let endpoints = Endpoints::single(&github.base_url())?;
    /// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    /// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    ///
    /// // Two `new`: two Apps, two tokens for the same installation.
    /// let first = AppInstallationAuth::new(AppId(1), key.clone(), InstallationId(1)).endpoints(endpoints.clone());
    /// let second = AppInstallationAuth::new(AppId(1), key.clone(), InstallationId(1)).endpoints(endpoints.clone());
    /// first.fetch_token(&client).await?;
    /// second.fetch_token(&client).await?;
    /// assert_eq!(github.counters().installation_token_exchanges, 2);
    ///
    /// // A clone shares the token: no exchange.
    /// first.clone().fetch_token(&client).await?;
    /// assert_eq!(github.counters().installation_token_exchanges, 2);
    ///
    /// // One App, an installation made from it per request: one token between them.
    /// let app = AppAuth::new(AppId(1), key).endpoints(endpoints);
    /// app.as_installation(InstallationId(2)).fetch_token(&client).await?;
    /// app.as_installation(InstallationId(2)).fetch_token(&client).await?;
    /// assert_eq!(github.counters().installation_token_exchanges, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(app: impl Into<AppIssuer>, key: PrivateKey, installation: InstallationId) -> Self {
        AppAuth::new(app, key).as_installation(installation)
    }

    fn for_target(app: AppAuth, target: InstallationTarget) -> Self {
        Self {
            app,
            target,
            narrowing: Narrowing::default(),
            format: None,
        }
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.app = self.app.endpoints(endpoints);
        self
    }

    /// See [`AppAuth::replay_unauthorized`].
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.app = self.app.replay_unauthorized(replay);
        self
    }

    /// See [`AppAuth::replay_body_with`].
    pub fn replay_body_with<B, F>(mut self, copy: F) -> Self
    where
        B: 'static,
        F: Fn(&B) -> Option<B> + Send + Sync + 'static,
    {
        self.app = self.app.replay_body_with(copy);
        self
    }

    /// See [`AppAuth::user_agent`]: here for this installation only.
    pub fn user_agent(mut self, user_agent: http::HeaderValue) -> Self {
        self.app = self.app.user_agent(user_agent);
        self
    }

    /// See [`AppAuth::exchange_timeout`].
    pub fn exchange_timeout(mut self, timeout: Duration) -> Self {
        self.app = self.app.exchange_timeout(timeout);
        self
    }

    /// See [`AppAuth::max_answer_size`].
    pub fn max_answer_size(mut self, bytes: usize) -> Self {
        self.app = self.app.max_answer_size(bytes);
        self
    }

    /// Narrow the token to these repositories (names without the owner).
    pub fn repositories<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.narrowing
            .repositories
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Narrow the token to these repository ids.
    pub fn repository_ids(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.narrowing.repository_ids.extend(ids);
        self
    }

    /// Narrow the token to a permission level, such as `("contents", "read")`.
    pub fn permission(mut self, name: impl Into<String>, level: impl Into<String>) -> Self {
        self.narrowing.permissions.insert(name.into(), level.into());
        self
    }

    /// Ask GitHub for installation tokens of this `format` (sending
    /// `X-GitHub-Stateless-S2S-Token: enabled` or `disabled` on each mint), during GitHub's
    /// rollout of stateless tokens. By default no header is sent and GitHub chooses; either
    /// format is carried unchanged. Tokens of a forced format are cached apart from the others
    /// (in a fleet's store too), so that two stacks of one installation asking for different
    /// formats each get theirs.
    ///
    /// ```
    /// use http_body_util::Full;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use secrecy::ExposeSecret;
    /// use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, InstallationTokenFormat};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let github = github_auth_emulator::Emulator::builder().start().await?;
    /// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    /// let app = AppAuth::from_pem(AppId(1), github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?
    ///     .endpoints(Endpoints::single(&github.base_url())?);
    ///
    /// let classic = app
    ///     .as_installation(InstallationId(1))
    ///     .token_format(InstallationTokenFormat::Classic)
    ///     .fetch_token(&client)
    ///     .await?;
    /// assert_eq!(classic.token.expose_secret().len(), 40);
    /// let sent = github.last_access_token_request_header("x-github-stateless-s2s-token");
    /// assert_eq!(sent.as_deref(), Some("disabled"));
    ///
    /// // GitHub's choice (the emulator, like GitHub since April 2026, mints stateless ones).
    /// let chosen = app.as_installation(InstallationId(1)).fetch_token(&client).await?;
    /// assert!(chosen.token.expose_secret().len() > 400);
    /// assert_eq!(github.last_access_token_request_header("x-github-stateless-s2s-token"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn token_format(mut self, format: InstallationTokenFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The App this installation belongs to.
    pub fn app(&self) -> &AppAuth {
        &self.app
    }

    /// Which installation.
    pub fn target(&self) -> &InstallationTarget {
        &self.target
    }

    /// A valid installation token now: the cached one, or one minted through `inner` (your HTTP
    /// client, the service this layer would wrap). A token with less than the refresh margin left
    /// starts a background refresh, like a request would.
    pub async fn fetch_token<S, B, RB>(&self, inner: &S) -> Result<InstallationToken, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let credential = self.credential();
        let side = || {
            Side::new(
                inner,
                &self.app.endpoints,
                &self.app.shared.clock,
                self.app.limits.clone(),
            )
        };
        if let Some(entry) = credential.slot.lookup(|| credential.mint(side())) {
            return Ok(token_of(&entry));
        }
        let entry = credential.slot.obtain(|| credential.mint(side())).await?;
        Ok(token_of(&entry))
    }

    /// The cached token, if any, without minting one.
    pub fn cached_token(&self) -> Option<InstallationToken> {
        self.credential().slot.peek().map(|entry| token_of(&entry))
    }

    /// Mints a new token now, through `inner`, even if the cached one is still valid (joining a
    /// mint already running): for a token just granted new permissions or repositories. Every
    /// stack of this installation uses the new token from then on.
    pub async fn refresh<S, B, RB>(&self, inner: &S) -> Result<InstallationToken, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let credential = self.credential();
        let side = Side::new(
            inner,
            &self.app.endpoints,
            &self.app.shared.clock,
            self.app.limits.clone(),
        );
        let entry = credential
            .slot
            .renew(|| credential.mint_shared(side, true))
            .await?;
        Ok(token_of(&entry))
    }

    /// Ends the cached token at GitHub (`DELETE /installation/token`, as GitHub's
    /// `create-github-app-token` action does at the end of a job) and drops it from the cache:
    /// it is never sent again, and the next request mints a new one. Nothing cached: nothing to
    /// do.
    pub async fn revoke<S, B, RB>(&self, inner: &S) -> Result<(), Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let credential = self.credential();
        let Some(entry) = credential.slot.peek() else {
            return Ok(());
        };
        // Out of use first: no request picks it up while it is being revoked.
        credential.slot.withdraw(entry.stamp());
        revoke_token(
            &Side::new(
                inner,
                &self.app.endpoints,
                &self.app.shared.clock,
                self.app.limits.clone(),
            ),
            entry.authorization.value(),
        )
        .await?;
        credential.slot.revoked(credential.identity());
        Ok(())
    }

    /// The key of this installation's slot in the cache.
    fn cache_key(&self) -> InstallationKey {
        // No allocation for an installation named by id and not narrowed: a stack built per
        // request finds its slot without building strings.
        InstallationKey {
            scope: Arc::clone(&self.app.scope),
            target: match &self.target {
                InstallationTarget::Id(id) => KeyTarget::Id(id.0),
                other => KeyTarget::Found(other.to_string().into_boxed_str()),
            },
            narrowing: self.key_text(),
        }
    }

    /// Where GitHub's rate-limit figures for this installation are recorded: one record per
    /// installation in the App's [`TokenCache`](crate::TokenCache), shared by every layer of
    /// it (narrowed or not, [`AppAuth::as_installation`] called per request) and kept across
    /// token refreshes, as GitHub counts per installation. An installation found by repository,
    /// organisation, user or enterprise has the record of that target.
    pub fn rate_limits_ref(&self) -> RateLimits {
        self.app.cache.rate_limits(&self.cache_key())
    }

    /// What GitHub last reported of `resource`'s rate limit for this installation (from the
    /// `x-ratelimit-*` headers of answers to requests that carried its tokens); `None` before
    /// any did.
    ///
    /// ```
    /// use http_body_util::Full;
    /// use tower::{Layer, ServiceExt};
    /// use tower_github_auth::{AppId, AppInstallationAuth, Endpoints, InstallationId, Resource};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let github = github_auth_emulator::Emulator::builder().rate_limit("core", 100).start().await?;
    /// # let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
    /// #     .build_http::<Full<bytes::Bytes>>();
    /// let key = tower_github_auth::PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    /// let installation = AppInstallationAuth::new(AppId(1), key, InstallationId(1))
    ///     .endpoints(Endpoints::single(&github.base_url())?);
    /// assert_eq!(installation.rate_limit(Resource::Core), None);
    ///
    /// let request = http::Request::get("/repos/octo/one").body(Full::default())?;
    /// installation.layer(client).oneshot(request).await?;
    /// let core = installation.rate_limit(Resource::Core).expect("GitHub said");
    /// assert_eq!((core.limit, core.remaining, core.used), (100, 99, 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.rate_limits_ref().get(resource)
    }

    fn credential(&self) -> InstallationCredential {
        let key = self.cache_key();
        let fleet = self.app.store.as_ref().map(|store| {
            Fleet::sharing(
                Arc::clone(store),
                store_key(
                    "installation",
                    &[
                        &key.scope.api_base,
                        &key.scope.issuer,
                        &key.scope.key,
                        &self.target.to_string(),
                        key.narrowing.as_deref().unwrap_or_default(),
                    ],
                ),
                &self.app.store_health,
            )
        });
        let slot = self
            .app
            .cache
            .slot(key, self.app.policy, &self.app.shared.clock);
        InstallationCredential {
            app: self.app.clone(),
            target: self.target.clone(),
            narrowing: self.narrowing.clone(),
            format: self.format,
            slot,
            fleet,
        }
    }

    /// What, beside the App and the installation, tells this token apart in the cache and the
    /// fleet's store: the narrowing (canonical JSON) and the format asked for; `None` for
    /// neither (no allocation).
    fn key_text(&self) -> Option<Box<str>> {
        let body = self.narrowing.body();
        if body.is_none() && self.format.is_none() {
            return None;
        }
        let mut text = body.map(|b| b.to_string()).unwrap_or_default();
        if let Some(format) = self.format {
            text.push_str(format.key_suffix());
        }
        Some(text.into_boxed_str())
    }
}

impl<S> Layer<S> for AppInstallationAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.app.endpoints.clone(),
            Arc::clone(&self.app.shared.clock),
            Minted::new(self.credential()),
        );
        auth.replay = self.app.replay.clone();
        auth.limits = self.app.limits.clone();
        auth.rate_limits = self.rate_limits_ref();
        AuthService::new(inner, auth)
    }
}

/// An installation token as a cached credential.
#[derive(Debug)]
struct InstallationCredential {
    app: AppAuth,
    target: InstallationTarget,
    narrowing: Narrowing,
    format: Option<InstallationTokenFormat>,
    slot: Arc<Slot<TokenFacts>>,
    /// The store the fleet shares the token through, and its key there.
    fleet: Option<Fleet>,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
    repository_selection: Option<String>,
    #[serde(default)]
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// Reads GitHub's answer to `POST /app/installations/{id}/access_tokens`, at `now` (GitHub's
/// clock): the token, or a typed error for anything that is not a usable one. Never panics,
/// whatever the bytes.
pub(crate) fn read_minted(
    answer: &Answer,
    id: InstallationId,
    now: std::time::SystemTime,
) -> Result<Fresh<InstallationToken>, Error> {
    let exchange = Exchange::InstallationToken;
    let minted: AccessToken = decode_json(exchange, answer)?;
    let expires_at =
        humantime::parse_rfc3339_weak(&minted.expires_at).map_err(|e| Error::InvalidResponse {
            exchange,
            reason: format!("`expires_at` is not a timestamp ({e})"),
            subject: None,
        })?;
    if expires_at <= now {
        // Used as is, it would be minted again on every request.
        return Err(Error::InvalidResponse {
            exchange,
            reason: format!(
                "the new token's `expires_at` ({}) has already passed",
                minted.expires_at
            ),
            subject: None,
        });
    }
    let token = SecretString::from(minted.token);
    Ok(Fresh {
        issued_at: None,
        retry_after: None,
        header: sensitive_header("Bearer", token.expose_secret(), "installation token")?,
        expires_at: Some(expires_at),
        value: InstallationToken {
            token,
            expires_at,
            installation_id: id,
            permissions: minted.permissions,
            repository_selection: minted.repository_selection,
            repositories: minted
                .repositories
                .into_iter()
                .map(|r| r.full_name)
                .collect(),
        },
    })
}

/// The token a cached entry holds, whole again.
fn token_of(entry: &Entry<TokenFacts>) -> InstallationToken {
    // An installation token always expires (`read_minted`, `Shareable::fresh` set it).
    let expires_at = entry.expires_at.unwrap_or(std::time::UNIX_EPOCH);
    entry.value.token(entry.authorization.value(), expires_at)
}

impl Mint for InstallationCredential {
    type Value = TokenFacts;
    const REPLICATES: bool = true;

    fn slot(&self) -> &Arc<Slot<TokenFacts>> {
        &self.slot
    }

    fn subject(&self) -> Subject {
        let n = &self.narrowing;
        let narrowed =
            !(n.repositories.is_empty() && n.repository_ids.is_empty() && n.permissions.is_empty());
        Subject::Installation {
            app: self.app.shared.issuer.clone(),
            installation: self.target.clone(),
            narrowing: narrowed.then(|| SubjectNarrowing {
                repositories: n.repositories.iter().cloned().collect(),
                repository_ids: n.repository_ids.iter().copied().collect(),
                permissions: n.permissions.clone(),
            }),
        }
    }

    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<TokenFacts>, Error>> {
        self.mint_shared(side, false)
    }

    fn identity(&self) -> observe::Identity {
        let mut identity = observe::Identity::default()
            .with("app", &self.app.shared.issuer)
            .with("installation", &self.target);
        if let Some(narrowing) = self.narrowing.body() {
            identity = identity.with("narrowing", &observe::fingerprint(&narrowing.to_string()));
        }
        identity
    }
}

impl InstallationCredential {
    /// A token through the fleet's store when there is one (`force`: a new one even if the
    /// stored one is usable), as the cache keeps it.
    fn mint_shared(
        &self,
        side: Side,
        force: bool,
    ) -> BoxFuture<'static, Result<Fresh<TokenFacts>, Error>> {
        let cache = self.app.cache.clone();
        let minted = self.mint_token(side, force);
        async move {
            let fresh = minted.await?;
            Ok(Fresh {
                header: fresh.header,
                expires_at: fresh.expires_at,
                issued_at: fresh.issued_at,
                retry_after: fresh.retry_after,
                value: TokenFacts::of(fresh.value, |p| cache.share_permissions(p)),
            })
        }
        .boxed()
    }

    /// A token through the fleet's store when there is one (`force`: a new one even if the
    /// stored one is usable).
    fn mint_token(
        &self,
        side: Side,
        force: bool,
    ) -> BoxFuture<'static, Result<Fresh<InstallationToken>, Error>> {
        let Some(fleet) = self.fleet.clone() else {
            return self.exchange(side);
        };
        // One exchange across the fleet: through the store.
        let this = InstallationCredential {
            app: self.app.clone(),
            target: self.target.clone(),
            narrowing: self.narrowing.clone(),
            format: self.format,
            slot: Arc::clone(&self.slot),
            fleet: None,
        };
        let refused = self.slot.refused();
        async move {
            let through = Through {
                fleet: &fleet,
                clock: &this.app.shared.clock,
                policy: this.app.policy,
                // A lookup and a mint, each possibly retried once: room for four exchanges.
                lock_for: lock_life(this.app.limits.timeout, 5),
                adopt: &|_: &InstallationToken, _, _| Adopted::Newer,
                refused,
                // An installation token is not single-use: a replica that cannot take the lock
                // mints its own (one more token, nothing spent).
                held: None,
                save_minted: true,
                hand_over: None,
                spends: false,
            };
            through.obtain(force, || this.exchange(side)).await
        }
        .boxed()
    }

    /// `POST /app/installations/{id}/access_tokens` (after a lookup of the id if needed).
    fn exchange(&self, side: Side) -> BoxFuture<'static, Result<Fresh<InstallationToken>, Error>> {
        let app = self.app.clone();
        let target = self.target.clone();
        let body = self.narrowing.body();
        let narrowing = body.as_ref().map(|b| observe::fingerprint(&b.to_string()));
        let extra: Vec<_> = self
            .format
            .map(|format| (STATELESS_TOKEN_HEADER, format.header_value()))
            .into_iter()
            .collect();
        async move {
            let exchange = Exchange::InstallationToken;
            observe::record_for("app", &app.shared.issuer);
            observe::record_for("installation", &target);
            if let Some(narrowing) = &narrowing {
                observe::record_for("narrowing", narrowing);
            }
            // A looked-up id can go stale (the App was uninstalled and installed again, the
            // repository moved): GitHub answers 404 for it. Then it is looked up once more.
            let mut looked_up_again = matches!(target, InstallationTarget::Id(_));
            loop {
                let id = installation_id(&app, &target, &side).await?;
                let path = format!("/app/installations/{id}/access_tokens");
                tracing::debug!(installation = id, "minting an installation token");
                let answer = app
                    .jwt_request_with(&side, exchange, Method::POST, &path, body.as_ref(), &extra)
                    .await?;
                if answer.status == StatusCode::NOT_FOUND && !looked_up_again {
                    tracing::info!(
                        installation = id,
                        %target,
                        "GitHub no longer knows the installation looked up: looking it up again"
                    );
                    forget_installation(&app, &target);
                    looked_up_again = true;
                    continue;
                }
                if answer.status != StatusCode::CREATED && !answer.status.is_success() {
                    return Err(github_error(exchange, &answer));
                }
                return read_minted(&answer, InstallationId(id), side.clock.github_now());
            }
        }
        .boxed()
    }
}

/// Where a looked-up installation id is remembered: its lookup route on this API base.
fn remembered_as(app: &AppAuth, path: &str) -> String {
    format!("{path}@{}", app.endpoints.api_base())
}

/// The lookup route of a target; `None` for a known id.
fn lookup_path(target: &InstallationTarget) -> Option<String> {
    Some(match target {
        InstallationTarget::Id(_) => return None,
        InstallationTarget::Repository { owner, repo } => {
            format!("/repos/{}/{}/installation", segment(owner), segment(repo))
        }
        InstallationTarget::Organization(org) => format!("/orgs/{}/installation", segment(org)),
        InstallationTarget::User(login) => format!("/users/{}/installation", segment(login)),
        InstallationTarget::Enterprise(slug) => {
            format!("/enterprises/{}/installation", segment(slug))
        }
    })
}

/// Forgets a target's remembered installation id.
fn forget_installation(app: &AppAuth, target: &InstallationTarget) {
    if let Some(path) = lookup_path(target) {
        let key = remembered_as(app, &path);
        app.shared
            .installation_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&key);
    }
}

/// The installation id for a target, looked up with the App's JWT once and then remembered.
async fn installation_id(
    app: &AppAuth,
    target: &InstallationTarget,
    side: &Side,
) -> Result<u64, Error> {
    #[derive(serde::Deserialize)]
    struct Found {
        id: u64,
    }
    if let InstallationTarget::Id(id) = target {
        return Ok(id.0);
    }
    let Some(path) = lookup_path(target) else {
        return Err(Error::InvalidPath {
            path: target.to_string(),
        });
    };
    let key = remembered_as(app, &path);
    let ids = &app.shared.installation_ids;
    if let Some(id) = ids.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Ok(*id);
    }
    let exchange = Exchange::InstallationLookup;
    let answer = app
        .jwt_request(side, exchange, Method::GET, &path, None)
        .await?;
    if !answer.status.is_success() {
        return Err(github_error(exchange, &answer));
    }
    let found: Found = decode_json(exchange, &answer)?;
    ids.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .put(key, found.id);
    Ok(found.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::app::ids::AppId;
    use proptest::prelude::*;
    use std::time::{Duration, SystemTime};

    fn created(body: impl Into<bytes::Bytes>) -> Answer {
        Answer::new(StatusCode::CREATED, body)
    }

    fn answer(expires_at: &str) -> String {
        format!(
            r#"{{"token":"ghs_abc","expires_at":"{expires_at}","permissions":{{"contents":"read"}},
               "repository_selection":"selected","repositories":[{{"full_name":"octo/one","id":1}}]}}"#
        )
    }

    /// A listing longer than the pages it may read is an error, not the pages read so far.
    #[tokio::test]
    async fn a_listing_that_does_not_end_is_an_error_not_a_partial_list() {
        let github = github_auth_emulator::Emulator::builder()
            .generated_installations(250)
            .start()
            .await
            .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let app = AppAuth::from_pem(AppId(1), github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)
            .unwrap()
            .endpoints(Endpoints::single(&github.base_url()).unwrap());
        // 253 installations (with the default world's three): three pages.
        let err = app.list_installations(&client, 2).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::InvalidResponse { exchange: Exchange::InstallationList, reason, .. }
                    if reason.contains("after 2 full pages (200 installations)")
            ),
            "{err}"
        );
        assert_eq!(app.list_installations(&client, 3).await.unwrap().len(), 253);
    }

    #[test]
    fn a_good_answer_is_read_and_a_past_one_refused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let fresh = read_minted(
            &created(answer("2027-01-15T09:00:00Z")),
            InstallationId(7),
            now,
        )
        .unwrap();
        assert_eq!(fresh.value.repositories, ["octo/one"]);
        assert_eq!(fresh.value.installation_id, InstallationId(7));
        let past = read_minted(
            &created(answer("2027-01-15T07:00:00Z")),
            InstallationId(7),
            now,
        );
        assert!(matches!(past, Err(Error::InvalidResponse { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_are_a_token_or_a_typed_error(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_minted(&created(body), InstallationId(1), SystemTime::now());
        }

        #[test]
        fn truncated_and_odd_answers_never_panic(
            expires_at in "[0-9A-Za-z:+.-]{0,40}",
            cut in 0usize..600,
        ) {
            let full = answer(&expires_at);
            let body = &full.as_bytes()[..cut.min(full.len())];
            let _ = read_minted(&created(body.to_vec()), InstallationId(1), SystemTime::now());
        }

        #[test]
        fn any_timestamp_is_read_or_refused(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let at = if secs >= 0 {
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
            } else {
                SystemTime::UNIX_EPOCH.checked_sub(Duration::new(secs.unsigned_abs(), nanos))
            };
            if let Some(at) = at {
                let text = humantime::format_rfc3339_nanos(at).to_string();
                let _ = read_minted(&created(answer(&text)), InstallationId(1), SystemTime::now());
            }
        }
    }
}
