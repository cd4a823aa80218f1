//! Setting up and starting an emulator.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    config::{
        Config, DeviceOutcome, Installation, OAuthApp, PersonalAccessToken, TokenFormat,
        WebFlowCode,
    },
    handle::EmulatorHandle,
    server,
    state::Shared,
};

/// Entry point: [`Emulator::builder()`] to set the emulator up, or [`Emulator::start()`] for the
/// defaults.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder holding the default setup ([`Config::default()`]).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Starts an emulator with the default setup.
    pub async fn start() -> std::io::Result<EmulatorHandle> {
        Self::builder().start().await
    }
}

/// Sets an emulator up; every method returns the builder. [`start`](Self::start) runs it.
#[derive(Clone, Debug, Default)]
pub struct EmulatorBuilder {
    config: Config,
    /// Whether [`installation`](Self::installation) adds (true) or first clears the list.
    installations_replaced: bool,
    /// Whether a second listener plays the uploads host.
    uploads_host: bool,
}

impl EmulatorBuilder {
    /// A builder holding `config` as is; [`installation`](Self::installation) then adds to the
    /// configuration's installations.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            installations_replaced: true,
            uploads_host: false,
        }
    }

    /// The configuration built so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Port to listen on at `127.0.0.1` (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// The GitHub App's id (the JWT `iss`).
    pub fn app_id(mut self, id: u64) -> Self {
        self.config.app_id = id;
        self
    }

    /// The GitHub App's client id (also accepted as the JWT `iss`).
    pub fn app_client_id(mut self, id: impl Into<String>) -> Self {
        self.config.app_client_id = id.into();
        self
    }

    /// The GitHub App's client secret.
    pub fn app_client_secret(mut self, s: impl Into<String>) -> Self {
        self.config.app_client_secret = s.into();
        self
    }

    /// The PEM public key JWTs are checked against (default: the bundled test key).
    pub fn app_public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.config.app_public_key_pem = pem.into();
        self
    }

    /// Adds an installation; the first call on a fresh builder drops the two default ones.
    pub fn installation(mut self, inst: Installation) -> Self {
        if !self.installations_replaced {
            self.config.installations.clear();
            self.installations_replaced = true;
        }
        self.config.installations.push(inst);
        self
    }

    /// Adds `count` generated installations (ids
    /// [`FIRST_GENERATED_INSTALLATION_ID`](crate::FIRST_GENERATED_INSTALLATION_ID) on, each on
    /// the organization `org-<id>`, answered like the default world's installation 1), besides
    /// the others: for tests and benchmarks of many installations (100,000 start in well under a
    /// second, and each token is minted in constant time).
    pub fn generated_installations(mut self, count: u64) -> Self {
        self.config.generated_installations = count;
        self
    }

    /// Adds an OAuth app (the default one stays).
    pub fn oauth_app(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.config.oauth_apps.push(OAuthApp {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// Adds a personal access token owned by `login`.
    pub fn personal_access_token(
        mut self,
        token: impl Into<String>,
        login: impl Into<String>,
    ) -> Self {
        self.config
            .personal_access_tokens
            .push(PersonalAccessToken {
                token: token.into(),
                login: login.into(),
            });
        self
    }

    /// Adds a ready-made web-flow code for `login`: valid once, for any known client id.
    pub fn web_flow_code(mut self, code: impl Into<String>, login: impl Into<String>) -> Self {
        self.config.web_flow_codes.push(WebFlowCode {
            code: code.into(),
            login: login.into(),
        });
        self
    }

    /// Whether the GitHub App's user tokens expire and come with a refresh token (default true).
    pub fn expiring_user_tokens(mut self, on: bool) -> Self {
        self.config.expiring_user_tokens = on;
        self
    }

    /// Shifts the emulator's clock by `secs` from the machine's.
    pub fn clock_offset(mut self, secs: i64) -> Self {
        self.config.clock_offset_secs = secs;
        self
    }

    /// Waits `d` before answering each request to the token endpoints (millisecond precision).
    pub fn latency(mut self, d: Duration) -> Self {
        self.config.latency_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Lifetime of installation tokens (whole seconds; default one hour).
    pub fn installation_token_ttl(mut self, d: Duration) -> Self {
        self.config.installation_token_ttl_secs = d.as_secs();
        self
    }

    /// The format of installation tokens minted without an `X-GitHub-Stateless-S2S-Token`
    /// header (default [`TokenFormat::Stateless`], `ghs_<app id>_<JWT>` of about 520
    /// characters; [`TokenFormat::Classic`] for the 40-character `ghs_` tokens of before).
    pub fn installation_token_format(mut self, format: TokenFormat) -> Self {
        self.config.installation_token_format = format;
        self
    }

    /// Lifetime of expiring user tokens (whole seconds; default 8 hours).
    pub fn user_token_ttl(mut self, d: Duration) -> Self {
        self.config.user_token_ttl_secs = d.as_secs();
        self
    }

    /// Lifetime of refresh tokens (whole seconds; default 15811200 s).
    pub fn refresh_token_ttl(mut self, d: Duration) -> Self {
        self.config.refresh_token_ttl_secs = d.as_secs();
        self
    }

    /// How the device flow's user behaves (default `ApproveAfter(2)`).
    pub fn device_outcome(mut self, o: DeviceOutcome) -> Self {
        self.config.device_outcome = o;
        self
    }

    /// The `interval` of new device codes, in seconds (default 5).
    pub fn device_interval(mut self, secs: u64) -> Self {
        self.config.device_interval_secs = secs;
        self
    }

    /// The `expires_in` of new device codes, in seconds (default 900).
    pub fn device_expires_in(mut self, secs: u64) -> Self {
        self.config.device_expires_in_secs = secs;
        self
    }

    /// Requests per hour in each identity's budget for `resource` (`core`, `graphql`,
    /// `search`, `code_search`; default 1,000,000 each, far above GitHub's 5,000, so that tests which are not about rate limits never meet one). Every answer of the token routes carries
    /// `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` and `-resource`; a request over the
    /// budget is refused with 403 `API rate limit exceeded for ...` and `x-ratelimit-remaining:
    /// 0` until the reset, an hour after the budget's first use. Budgets are per installation,
    /// per user (all of a user's tokens share one) and one for anonymous callers.
    pub fn rate_limit(mut self, resource: &str, per_hour: u64) -> Self {
        self.config
            .rate_limits
            .insert(resource.to_owned(), per_hour);
        self
    }

    /// Whether a second listener (`127.0.0.1`, another free port) plays the uploads host, as
    /// `uploads.github.com` does beside `api.github.com` (default false).
    ///
    /// On: release assets are uploaded only there
    /// ([`EmulatorHandle::uploads_url`](crate::EmulatorHandle::uploads_url)), and the main
    /// listener refuses them (404), except under GitHub Enterprise Server's `/api/uploads`.
    /// Off: the main listener takes them at both spellings.
    pub fn separate_uploads_host(mut self, on: bool) -> Self {
        self.uploads_host = on;
        self
    }

    /// Binds `127.0.0.1` (port 0 unless configured; another free port for the uploads host when
    /// [`separate_uploads_host`](Self::separate_uploads_host) is on) and serves in a task of the
    /// current tokio runtime. Fails if the port is taken or the public key is not an RSA PEM.
    pub async fn start(self) -> std::io::Result<EmulatorHandle> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            self.config.port,
        )))
        .await?;
        let addr = listener.local_addr()?;
        let uploads = if self.uploads_host {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
            Some(listener)
        } else {
            None
        };
        let uploads_url = match &uploads {
            Some(listener) => format!("http://{}", listener.local_addr()?),
            None => format!("http://{addr}"),
        };
        let shared = Arc::new(Shared::new(&self.config, format!("http://{addr}"))?);
        let (stop, stopped) = watch::channel(false);
        let main = server::Host::Main {
            uploads_elsewhere: uploads.is_some(),
        };
        if let Some(listener) = uploads {
            let serving = server::serve(
                listener,
                Arc::clone(&shared),
                server::Host::Uploads,
                stopped.clone(),
            );
            tokio::spawn(serving);
        }
        tokio::spawn(server::serve(listener, Arc::clone(&shared), main, stopped));
        tracing::debug!(%addr, %uploads_url, "github-auth-emulator started");
        Ok(EmulatorHandle::new(shared, addr, uploads_url, stop))
    }
}
