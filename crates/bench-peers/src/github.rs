//! The one emulator every client of a run talks to, and what the workloads read from it.

use std::time::Duration;

use bytes::Bytes;
use github_auth_emulator::{Counters, Emulator, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_github_auth::secrecy::{ExposeSecret, SecretString};
use tower_github_auth::{AppAuth, AppId, Endpoints, InstallationId, PrivateKey};

use crate::error::BenchError;

/// How long the emulator holds every token exchange before answering: about what github.com
/// takes to mint an installation token. Other requests are answered at once.
pub const EXCHANGE_LATENCY: Duration = Duration::from_millis(250);

/// The installation every client acts as (the emulator's installation 1, on `octo`).
pub const INSTALLATION: u64 = 1;

/// The App every client authenticates as (the emulator's default App, with its bundled key).
pub const APP: u64 = 1;

/// A hyper-util client over plain HTTP: what tower-github-auth and the floor send through.
pub(crate) type HyperClient<B> = Client<HttpConnector, B>;

/// A new hyper-util client (its own connection pool).
pub(crate) fn hyper_client<B>() -> HyperClient<B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http::<B>()
}

/// Installation tokens' lifetime outside the expiry workload: GitHub's hour.
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// One emulator in this process, with exchanges answered after [`EXCHANGE_LATENCY`], and the
/// token the floor client sends.
pub struct Github {
    emulator: EmulatorHandle,
    base: String,
    floor_token: SecretString,
}

impl std::fmt::Debug for Github {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Github")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Github {
    /// Starts the emulator on a free loopback port (in the current tokio runtime), and mints the
    /// floor's token: one installation token of an hour, minted once, up front.
    pub async fn start() -> Result<Self, BenchError> {
        let emulator = Emulator::builder()
            .latency(EXCHANGE_LATENCY)
            .start()
            .await?;
        let base = emulator.base_url();
        let token = app(&base)?
            .as_installation(InstallationId(INSTALLATION))
            .fetch_token(&hyper_client::<Full<Bytes>>())
            .await?;
        Ok(Self {
            emulator,
            base,
            floor_token: token.token,
        })
    }

    /// The emulator, for its counters and knobs.
    pub fn emulator(&self) -> &EmulatorHandle {
        &self.emulator
    }

    /// The emulator's base URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        self.emulator.counters()
    }

    /// Every knob back to GitHub's normal: no clock offset, no replication lag, no injected
    /// errors, hour-long tokens; exchanges still answered after [`EXCHANGE_LATENCY`].
    pub fn calm(&self) {
        self.emulator.set_clock_offset(0);
        self.emulator.set_replication_lag(false);
        self.emulator.fail_next_exchanges(0);
        self.emulator.set_installation_token_ttl(DEFAULT_TOKEN_TTL);
        self.emulator.set_latency(EXCHANGE_LATENCY);
    }

    /// The floor's `Authorization` value.
    pub(crate) fn floor_authorization(&self) -> String {
        format!("Bearer {}", self.floor_token.expose_secret())
    }
}

/// A fresh tower-github-auth App for the emulator at `base`: its own JWT and token cache.
pub(crate) fn app(base: &str) -> Result<AppAuth, BenchError> {
    Ok(AppAuth::new(
        AppId(APP),
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?,
    )
    .endpoints(Endpoints::single(base)?))
}
