//! [`WebhookLayer`]: the configuration, and the layer that wraps a service in
//! [`VerifyWebhook`].

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;
use tower_layer::Layer;

use crate::{
    config::{
        Config, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_REPLAY_WINDOW,
        DEFAULT_STORE_TIMEOUT,
    },
    service::VerifyWebhook,
    signature::Secrets,
    store::{DeliveryStore, MemoryDeliveryStore, StoreUnavailable},
};

/// Verifies GitHub webhook deliveries before the inner service sees them (see the crate's
/// documentation for what is checked and how each refusal is answered).
///
/// ```
/// use std::time::Duration;
/// use tower_github_webhooks::{StoreUnavailable, WebhookLayer};
///
/// let layer = WebhookLayer::new("new webhook secret")
///     .secret("old webhook secret") // during a rotation
///     .body_limit(1024 * 1024)
///     .replay_window(Duration::from_secs(3600))
///     .on_store_unavailable(StoreUnavailable::Refuse);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct WebhookLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for WebhookLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookLayer")
            .field("secrets", &self.config.secrets)
            .field("body_limit", &self.config.body_limit)
            .field("body_timeout", &self.config.body_timeout)
            .field("replay_protection", &self.config.store.is_some())
            .field("window", &self.config.window)
            .field("store_timeout", &self.config.store_timeout)
            .field("on_store_unavailable", &self.config.on_store_unavailable)
            .finish()
    }
}

impl WebhookLayer {
    /// Deliveries signed with `secret` (the App's webhook secret), replay protection in process.
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self::with_secrets(Secrets::new(secret))
    }

    /// Deliveries signed with any of `secrets`.
    pub fn with_secrets(secrets: Secrets) -> Self {
        Self {
            config: Arc::new(Config {
                secrets,
                body_limit: DEFAULT_BODY_LIMIT,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                store: Some(Arc::new(MemoryDeliveryStore::default())),
                window: DEFAULT_REPLAY_WINDOW,
                store_timeout: DEFAULT_STORE_TIMEOUT,
                on_store_unavailable: StoreUnavailable::default(),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Accepts `secret` as well, after those given so far (rotation: new first, then old).
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        let config = self.config();
        config.secrets = config.secrets.clone().and(secret);
        self
    }

    /// The largest body read (default [`DEFAULT_BODY_LIMIT`], 25 MiB): a larger one is answered
    /// 413, without reading past the body's frame that crosses `limit` (none at all when
    /// `Content-Length` announces more).
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.config().body_limit = limit;
        self
    }

    /// How long the body may take to arrive (default [`DEFAULT_BODY_TIMEOUT`]); later, 408.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config().body_timeout = timeout;
        self
    }

    /// Remembers deliveries in `store` (shared by a fleet's replicas) instead of in process.
    pub fn store(mut self, store: impl DeliveryStore) -> Self {
        self.config().store = Some(Arc::new(store));
        self
    }

    /// No replay protection: every verified delivery reaches the service.
    pub fn no_replay_protection(mut self) -> Self {
        self.config().store = None;
        self
    }

    /// How long a delivery is remembered (default [`DEFAULT_REPLAY_WINDOW`], 24 h).
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.config().window = window;
        self
    }

    /// The bound on each store call (default [`DEFAULT_STORE_TIMEOUT`], 1 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.config().store_timeout = timeout;
        self
    }

    /// What to do when the store fails or times out (default
    /// [`StoreUnavailable::ProcessAnyway`]).
    pub fn on_store_unavailable(mut self, policy: StoreUnavailable) -> Self {
        self.config().on_store_unavailable = policy;
        self
    }
}

impl<S> Layer<S> for WebhookLayer {
    type Service = VerifyWebhook<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyWebhook::new(inner, self.config.clone())
    }
}
