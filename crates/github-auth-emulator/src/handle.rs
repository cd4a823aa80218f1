//! The handle on a running emulator: its address, counters and knobs.

use std::{collections::BTreeMap, fmt, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

use crate::{
    config::{DeviceOutcome, TokenFormat},
    counters::Counters,
    forbidden::Forbidden,
    manifest,
    ratelimit::{Identity, Secondary},
    state::{CODE_LIFETIME, Code, IssueComment, Shared, random_alnum, rfc3339},
    webhooks::{self, WebhookDelivery, WebhookEvent, Webhooks},
};

/// A running emulator. Cheap to clone; the server stops on [`shutdown`](Self::shutdown) or
/// when the last clone is dropped.
#[derive(Clone)]
pub struct EmulatorHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    uploads_url: String,
    stop: watch::Sender<bool>,
    webhooks: std::sync::Mutex<Webhooks>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.inner.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    pub(crate) fn new(
        shared: Arc<Shared>,
        addr: SocketAddr,
        uploads_url: String,
        stop: watch::Sender<bool>,
    ) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                shared,
                addr,
                uploads_url,
                stop,
                webhooks: std::sync::Mutex::default(),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// `http://127.0.0.1:PORT`: both the REST API base and the web (OAuth) base.
    pub fn base_url(&self) -> String {
        self.shared().base_url.clone()
    }

    /// `http://127.0.0.1:PORT` of the uploads host, where release assets are uploaded
    /// (`POST /repos/{owner}/{repo}/releases/{id}/assets?name=...`): its own port with
    /// [`EmulatorBuilder::separate_uploads_host`](crate::EmulatorBuilder::separate_uploads_host),
    /// else the [`base_url`](Self::base_url).
    pub fn uploads_url(&self) -> String {
        self.inner.uploads_url.clone()
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared().lock().counters.clone()
    }

    fn webhooks(&self) -> std::sync::MutexGuard<'_, Webhooks> {
        self.inner
            .webhooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs webhook deliveries with `secret` from now on (default
    /// [`DEFAULT_WEBHOOK_SECRET`](crate::DEFAULT_WEBHOOK_SECRET)), as after changing the App's
    /// webhook secret in its settings.
    pub fn set_webhook_secret(&self, secret: impl Into<String>) {
        self.webhooks().secret = secret.into();
    }

    /// The `issues` event with `action: opened` for issue `number` of `owner/repo`, titled
    /// `title`, as GitHub sends it to the App installed there (its `installation.id`, the
    /// repository as `GET /repos/{owner}/{repo}` answers it, the sender `octocat`); `None` when
    /// the emulator has no such repository, or the configured App no installation holding it.
    /// The payload's shape: `webhooks/README.md` in the crate.
    pub fn issues_opened_event(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        title: &str,
    ) -> Option<WebhookEvent> {
        let shared = self.shared();
        let mut state = shared.lock();
        webhooks::issues_opened(shared, &mut state, owner, repo, number, title)
    }

    /// Delivers `event` to `url` (`http://...`) as GitHub does: a `POST` with `X-GitHub-Event`,
    /// a new `X-GitHub-Delivery`, `X-GitHub-Hook-ID`, `X-GitHub-Hook-Installation-Target-Type`
    /// (`integration`) and `-ID` (the App's id), and `X-Hub-Signature-256` with the webhook
    /// secret. Returns the delivery id and the receiver's status; fails when the receiver cannot
    /// be reached or does not answer within 10 s (GitHub's limit).
    ///
    /// ```
    /// use github_auth_emulator::Emulator;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let github = Emulator::start().await?;
    /// let event = github.issues_opened_event("octo", "one", 7, "Crash on start").expect("known repo");
    /// // Nothing listens there: the delivery fails, as it would from GitHub.
    /// assert!(github.deliver("http://127.0.0.1:9/webhook", &event).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn deliver(
        &self,
        url: &str,
        event: &WebhookEvent,
    ) -> std::io::Result<WebhookDelivery> {
        let secret = self.webhooks().secret.clone();
        self.send(url, webhooks::delivery_id(), event, &secret)
            .await
    }

    /// Delivers `event` as [`deliver`](Self::deliver) does, but signed with `secret` (a wrong
    /// secret, to see the receiver refuse it).
    pub async fn deliver_signed_with(
        &self,
        url: &str,
        event: &WebhookEvent,
        secret: &str,
    ) -> std::io::Result<WebhookDelivery> {
        self.send(url, webhooks::delivery_id(), event, secret).await
    }

    /// Delivers again the delivery `id` (one of the last thousand), as GitHub's "Redeliver":
    /// the same delivery id and body, signed with the current webhook secret. Fails with
    /// [`NotFound`](std::io::ErrorKind::NotFound) for an unknown id.
    pub async fn redeliver(&self, url: &str, id: &str) -> std::io::Result<WebhookDelivery> {
        let (event, secret) = {
            let webhooks = self.webhooks();
            let event = webhooks.find(id).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such delivery")
            })?;
            (event, webhooks.secret.clone())
        };
        self.send(url, id.to_owned(), &event, &secret).await
    }

    async fn send(
        &self,
        url: &str,
        id: String,
        event: &WebhookEvent,
        secret: &str,
    ) -> std::io::Result<WebhookDelivery> {
        self.webhooks().record(&id, event);
        self.shared().lock().counters.webhooks_delivered += 1;
        let status = webhooks::send(url, &id, event, secret, self.shared().app_id).await?;
        Ok(WebhookDelivery { id, status })
    }

    /// The issue comments created so far (`POST /repos/{owner}/{repo}/issues/{number}/comments`),
    /// oldest first (the latest ten thousand).
    pub fn issue_comments(&self) -> Vec<IssueComment> {
        self.shared()
            .lock()
            .issue_comments
            .iter()
            .cloned()
            .collect()
    }

    /// Shifts the emulator's clock by `secs` from the machine's (replaces the previous offset).
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared().lock().knobs.clock_offset = secs;
    }

    /// Waits `d` before answering each request to the token endpoints.
    pub fn set_latency(&self, d: Duration) {
        self.shared().lock().knobs.latency = d;
    }

    /// The next `n` requests to the token endpoints answer 500
    /// `{"message":"emulated server error"}` (refusal `injected_error`).
    pub fn fail_next_exchanges(&self, n: u32) {
        self.shared().lock().knobs.fail_next = n;
    }

    /// The next `n` requests to the token endpoints (an installation token's mint, an OAuth
    /// exchange or refresh) are refused as `why` says, with the headers GitHub sends for it
    /// (`Retry-After`, `x-ratelimit-reset`, ...), counted under its refusal reason. Replaces what
    /// an earlier call left; `n` = 0 turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use github_auth_emulator::{Emulator, Forbidden};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let github = Emulator::start().await?;
    /// github.refuse_next_exchanges(
    ///     1,
    ///     Forbidden::TooManyRequests { retry_after: Duration::from_secs(30) },
    /// );
    /// // The next mint answers 429 with `Retry-After: 30`, the one after it as usual.
    /// # Ok(())
    /// # }
    /// ```
    pub fn refuse_next_exchanges(&self, n: u32, why: Forbidden) {
        self.shared().lock().knobs.refuse_next_exchanges = (n > 0).then_some((n, why));
    }

    /// While on, every installation token minted is refused once (401 Bad credentials,
    /// refusal `replication_lag`) at its first use, as GitHub does while a new token replicates.
    pub fn set_replication_lag(&self, on: bool) {
        self.shared().lock().knobs.replication_lag = on;
    }

    /// Every installation token minted from now on answers its first `uses` requests to the token
    /// routes with 403 `Resource not accessible by integration` (refusal `replication_lag_403`),
    /// without any header saying why, as GitHub may while a new token replicates; 0 turns it
    /// off. With [`set_replication_lag`](Self::set_replication_lag) on too, the 401 comes first.
    pub fn set_replication_lag_403(&self, uses: u32) {
        self.shared().lock().knobs.replication_lag_403 = uses;
    }

    /// The next `n` requests to the routes that take tokens (`/user`, `/repos/...`,
    /// `/installation/...`) whose credential is good are refused as `why` says: a 403 (or 429)
    /// with the headers GitHub sends for that reason, counted under its refusal reason. Replaces
    /// what an earlier call left; `n` = 0 turns it off.
    ///
    /// ```
    /// use github_auth_emulator::{Emulator, Forbidden};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let github = Emulator::start().await?;
    /// github.forbid_next(1, Forbidden::MissingPermission("contents=read".into()));
    /// // The next request with a good token answers 403 with
    /// // `X-Accepted-GitHub-Permissions: contents=read`, the one after it as usual.
    /// # Ok(())
    /// # }
    /// ```
    pub fn forbid_next(&self, n: u32, why: Forbidden) {
        self.shared().lock().knobs.forbid_next = (n > 0).then_some((n, why));
    }

    /// Sets the requests per hour of every identity's budget for `resource` (see
    /// [`EmulatorBuilder::rate_limit`](crate::EmulatorBuilder::rate_limit)); budgets in use keep
    /// what they spent.
    pub fn set_rate_limit(&self, resource: &str, per_hour: u64) {
        self.shared().lock().rates.set_limit(resource, per_hour);
    }

    /// `who`'s next `n` requests to the token routes hit a secondary rate limit: `status` (GitHub
    /// answers 403 or 429) `You have exceeded a secondary rate limit...`, with `Retry-After` in
    /// whole seconds when `retry_after` is given (GitHub does not always send one), refusal
    /// `secondary_rate_limit`. Other identities are served as usual. Replaces what an earlier
    /// call left for `who`; `n` = 0 turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use github_auth_emulator::{Emulator, Identity};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let github = Emulator::start().await?;
    /// github.secondary_rate_limit(
    ///     Identity::Installation(2),
    ///     1,
    ///     http::StatusCode::FORBIDDEN,
    ///     Some(Duration::from_secs(30)),
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn secondary_rate_limit(
        &self,
        who: Identity,
        n: u32,
        status: http::StatusCode,
        retry_after: Option<Duration>,
    ) {
        let mut state = self.shared().lock();
        if n == 0 {
            state.rates.secondary.remove(&who);
        } else {
            state.rates.secondary.insert(
                who,
                Secondary {
                    left: n,
                    status,
                    retry_after,
                },
            );
        }
    }

    /// Lifetime of installation tokens minted from now on.
    pub fn set_installation_token_ttl(&self, d: Duration) {
        self.shared().lock().knobs.installation_token_ttl = d;
    }

    /// Lifetime of expiring user tokens issued from now on.
    pub fn set_user_token_ttl(&self, d: Duration) {
        self.shared().lock().knobs.user_token_ttl = d;
    }

    /// Lifetime of refresh tokens issued from now on.
    pub fn set_refresh_token_ttl(&self, d: Duration) {
        self.shared().lock().knobs.refresh_token_ttl = d;
    }

    /// How the device flow's user behaves from now on (applies to existing device codes too).
    pub fn set_device_outcome(&self, o: DeviceOutcome) {
        self.shared().lock().knobs.device_outcome = o;
    }

    /// The next `n` device polls answer `slow_down` (interval + 5 s each), whatever their timing.
    /// They do not count in [`Counters::device_polls_too_fast`].
    pub fn set_device_slow_down(&self, n: u32) {
        self.shared().lock().knobs.device_slow_down = n;
    }

    /// A fresh web-flow code for `login`: valid once, for 10 minutes, for any known client id,
    /// without a redirect URI or PKCE challenge.
    pub fn issue_web_flow_code(&self, login: &str) -> String {
        let code = random_alnum(20);
        let mut state = self.shared().lock();
        state.user_id(login);
        state.codes.insert(
            code.clone(),
            Code {
                login: login.to_owned(),
                client_id: None,
                redirect_uri: None,
                challenge: None,
                scopes: Vec::new(),
                expires: Some(Instant::now() + CODE_LIFETIME),
                used: false,
            },
        );
        code
    }

    /// The body last POSTed to `/app/installations/{id}/access_tokens`: `None` before the first,
    /// `Some(Value::Null)` for an empty body, a JSON string for a body that is not JSON.
    pub fn last_access_token_request(&self) -> Option<serde_json::Value> {
        self.shared().lock().last_access_token_request.clone()
    }

    /// The header `name` of the last POST to `/app/installations/{id}/access_tokens`: `None` if
    /// that request did not carry it (or before the first). What a test checks the
    /// `X-GitHub-Stateless-S2S-Token` its client sends with; a value that is not visible ASCII
    /// reads as an empty string.
    pub fn last_access_token_request_header(&self, name: &str) -> Option<String> {
        let state = self.shared().lock();
        let value = state.last_access_token_headers.as_ref()?.get(name)?;
        Some(value.to_str().unwrap_or_default().to_owned())
    }

    /// The format of installation tokens minted from now on without an
    /// `X-GitHub-Stateless-S2S-Token` header.
    pub fn set_installation_token_format(&self, format: TokenFormat) {
        self.shared().lock().knobs.installation_token_format = format;
    }

    /// The `User-Agent` of every request received so far, each with the number of requests
    /// that carried it (the first 1,000 different ones; later ones are counted under
    /// `"(others)"`): what a test checks the User-Agent its clients send with.
    pub fn user_agents(&self) -> BTreeMap<String, u64> {
        self.shared().lock().user_agents.clone()
    }

    /// Makes `token` invalid from now on: access tokens and PATs answer 401 Bad credentials
    /// (refusal `token_revoked`), refresh tokens `bad_refresh_token`, JWTs 401.
    pub fn revoke(&self, token: &str) {
        self.shared().lock().revoked.insert(token.to_owned());
    }

    /// What GitHub does when a person submits the App-manifest form (`{web}/settings/apps/new`)
    /// and is sent back to the manifest's `redirect_url`: a fresh `code` for `manifest_json` (the
    /// manifest's JSON text, or a `serde_json::Value`), valid once, for one hour.
    ///
    /// `POST /app-manifests/{code}/conversions` then creates the App: it answers 201 with its
    /// `id`, `slug`, `client_id`, `client_secret`, `webhook_secret` (when the manifest has
    /// `hook_attributes.url`), `pem` (a fresh RSA-2048 private key, PKCS#1), `owner` (`octocat`),
    /// and `permissions`/`events` from the manifest's `default_permissions`/`default_events`
    /// (plus `metadata: read`). The emulator then takes JWTs signed with that key with the new
    /// app id or client id as `iss`, accepts its client id and secret on the OAuth endpoints, and
    /// has installed it on the account of the configured app's first installation (same
    /// repositories) under a new installation id. A code used, expired or unknown answers 404; a
    /// manifest that is not a JSON object, lacks `url` or has a name already taken answers 422.
    pub fn issue_manifest_code(&self, manifest_json: &(impl fmt::Display + ?Sized)) -> String {
        manifest::issue_code(self.shared(), manifest_json.to_string())
    }

    /// Uninstalls installation `installation_id` and installs the same app again on the same
    /// account (same repositories and permissions), as a person does on GitHub; answers the new
    /// installation id. The old id answers 404 from then on (`access_tokens`,
    /// `GET /app/installations/{id}`), its tokens 401 (refusal `token_revoked`), and the look-ups
    /// by repository, organization, user or enterprise answer the new installation.
    ///
    /// # Panics
    /// If there is no installation `installation_id`.
    pub fn reinstall(&self, installation_id: u64) -> u64 {
        let shared = self.shared();
        let created_at = rfc3339(shared.now_wall());
        shared
            .lock()
            .reinstall(installation_id, created_at)
            .unwrap_or_else(|| {
                panic!("reinstall: the emulator has no installation {installation_id}")
            })
    }

    /// Stops the server: no new connections; open ones close once their request is answered.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }
}
