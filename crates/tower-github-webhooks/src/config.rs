//! The layer's settings and their defaults, shared by the layer and its services.

use std::{sync::Arc, time::Duration};

use crate::{
    signature::Secrets,
    store::{DeliveryStore, StoreUnavailable},
};

/// GitHub's own cap on a delivery's payload: 25 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 25 * 1024 * 1024;
/// How long the body may take to arrive: GitHub gives up on a delivery after 10 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a delivery is remembered: 24 hours. Automatic retries and most manual redeliveries
/// come within hours; GitHub lets a delivery be redelivered for 3 days, beyond which a replayed
/// request would be taken as new (a longer window costs only store memory).
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The bound on every store call: 1 s (GitHub waits 10 s for the whole answer).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) secrets: Secrets,
    pub(crate) body_limit: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) store: Option<Arc<dyn DeliveryStore>>,
    pub(crate) window: Duration,
    pub(crate) store_timeout: Duration,
    pub(crate) on_store_unavailable: StoreUnavailable,
}
