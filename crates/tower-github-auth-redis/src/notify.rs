//! Change notifications over Redis pub/sub: one subscriber connection per store, listening on
//! one channel (`{prefix}changed`) whose messages are the keys that changed; bounded polling
//! whenever that connection is down.
//!
//! `save` and `unlock` publish the key on the channel. A waiter in
//! [`changed`](tower_github_auth::TokenStore::changed) returns as soon as its key is published, or
//! after `within`. While the subscriber is not connected (Redis down, or before it could
//! subscribe again), `changed` returns after a short poll interval instead, so that the core
//! reads the store again without waiting for a message that cannot come; the listener reconnects
//! by itself (with backoff) and pings Redis regularly to notice a silent connection.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval_at, sleep, timeout};

use crate::error::Error;

/// How long `changed` waits while there is no subscription: the polling fallback.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often the listener pings Redis on the subscriber connection.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// The first and the longest wait between two attempts to subscribe again.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Messages a slow waiter may fall behind by before it is woken regardless.
const CAPACITY: usize = 256;

/// What the listener tells waiters.
#[derive(Clone, Debug)]
enum Event {
    /// This key was saved or unlocked.
    Changed(Arc<str>),
    /// The subscription was lost: every waiter may have missed its message.
    Lost,
}

/// The store's notifications: the listener task and what waiters subscribe to.
pub(crate) struct Notifications {
    events: broadcast::Sender<Event>,
    subscribed: Arc<AtomicBool>,
    listener: JoinHandle<()>,
}

impl fmt::Debug for Notifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_subscribed() {
            "pub/sub"
        } else {
            "polling (pub/sub reconnecting)"
        })
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Notifications {
    /// Starts the listener, which subscribes to `channel` through `clients` (one at a time: the
    /// next one when subscribing fails), and waits at most `first_wait` for its first attempt.
    /// Until an attempt succeeds, the store polls. Fails when Redis answers the first attempt
    /// refusing the client (credentials, permissions, protocol): a configuration error.
    pub(crate) async fn start(
        clients: Vec<redis::Client>,
        channel: String,
        connect_timeout: Duration,
        first_wait: Duration,
    ) -> Result<Self, Error> {
        let (events, _) = broadcast::channel(CAPACITY);
        let subscribed = Arc::new(AtomicBool::new(false));
        let (first_attempt, attempted) = oneshot::channel();
        let notifications = Self {
            events: events.clone(),
            subscribed: Arc::clone(&subscribed),
            listener: tokio::spawn(listen(
                clients,
                channel,
                connect_timeout,
                events,
                subscribed,
                first_attempt,
            )),
        };
        // Done, failed, or still under way (Redis not answering): the listener carries on.
        if let Ok(Ok(Some(source))) = timeout(first_wait, attempted).await {
            // Dropping `notifications` stops the listener.
            return Err(Error::Connect { source });
        }
        if !notifications.is_subscribed() {
            tracing::warn!(
                "tower-github-auth-redis: Redis does not answer (yet): the store is passed by \
                 (each replica exchanges on its own) and change notifications are polled until \
                 it does; it connects by itself"
            );
        }
        Ok(notifications)
    }

    /// Whether the subscriber connection is up (else `changed` polls).
    pub(crate) fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    /// Returns when `key` is published, when the subscription is lost, or after `within`; after
    /// at most [`POLL_INTERVAL`] while there is no subscription.
    pub(crate) async fn changed(&self, key: &str, within: Duration) {
        // Listen first, then look at the state: a loss in between wakes this waiter.
        let mut events = self.events.subscribe();
        if !self.is_subscribed() {
            sleep(within.min(POLL_INTERVAL)).await;
            return;
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(Event::Changed(changed)) if *changed == *key => return,
                    Ok(Event::Changed(_)) => {}
                    Ok(Event::Lost) | Err(RecvError::Lagged(_) | RecvError::Closed) => return,
                }
            }
        };
        // Nothing came within `within`: not an error, the core reads the store again.
        let _ = timeout(within, wait).await;
    }
}

/// A subscriber connection listening on `channel`.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
    connect_timeout: Duration,
) -> Result<(PubSubSink, PubSubStream), Error> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub.split())
    };
    match timeout(connect_timeout, attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(source)) => Err(Error::Command {
            command: "SUBSCRIBE",
            source,
        }),
        Err(_) => Err(Error::ConnectTimeout(connect_timeout)),
    }
}

/// The listener: subscribes (through each of `clients` in turn, with backoff, until one
/// works), forwards the published keys to the waiters, pings Redis every [`HEARTBEAT`], and
/// subscribes again whenever the connection ends. Reports its first attempt on `first_attempt`.
async fn listen(
    clients: Vec<redis::Client>,
    channel: String,
    connect_timeout: Duration,
    events: broadcast::Sender<Event>,
    subscribed: Arc<AtomicBool>,
    first_attempt: oneshot::Sender<Option<redis::RedisError>>,
) {
    let mut first_attempt = Some(first_attempt);
    let mut backoff = MIN_BACKOFF;
    let mut next = 0;
    loop {
        let Some(client) = clients.get(next % clients.len().max(1)) else {
            return;
        };
        let attempt = subscribe(client, &channel, connect_timeout).await;
        if let Some(first) = first_attempt.take() {
            subscribed.store(attempt.is_ok(), Ordering::Release);
            let refused = match &attempt {
                Err(Error::Command { source, .. }) if refuses_us(source) => Some(source.clone()),
                _ => None,
            };
            let _ = first.send(refused);
        }
        let (mut sink, mut stream) = match attempt {
            Ok(connection) => {
                tracing::info!("tower-github-auth-redis: change notifications are on (pub/sub)");
                connection
            }
            Err(err) => {
                tracing::debug!(error = %err, "tower-github-auth-redis: subscribing failed");
                next = next.wrapping_add(1);
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        subscribed.store(true, Ordering::Release);
        let mut heartbeat = interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        // The payload is a key (no secret); anything else is ignored.
                        if let Ok(key) = std::str::from_utf8(message.get_payload_bytes()) {
                            let _ = events.send(Event::Changed(key.into()));
                        }
                    }
                    None => break,
                },
                _ = heartbeat.tick() => {
                    let pong = timeout(connect_timeout, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        subscribed.store(false, Ordering::Release);
        let _ = events.send(Event::Lost);
        tracing::warn!(
            "tower-github-auth-redis: lost the change-notification connection; waiters poll until \
             it is back"
        );
    }
}

/// Whether Redis answered, refusing this client: wrong credentials or permissions, or a
/// protocol it does not speak. Configuration errors, not Redis being away.
fn refuses_us(err: &redis::RedisError) -> bool {
    matches!(
        err.kind(),
        redis::ErrorKind::AuthenticationFailed
            | redis::ErrorKind::InvalidClientConfig
            | redis::ErrorKind::RESP3NotSupported
    ) || matches!(err.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}
