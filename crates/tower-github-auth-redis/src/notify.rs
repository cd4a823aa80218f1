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
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
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
    /// Subscribes to `channel` (waiting at most `connect_timeout` for the first attempt; on
    /// failure the store polls until a later attempt succeeds) and starts the listener.
    pub(crate) async fn start(
        client: redis::Client,
        channel: String,
        connect_timeout: Duration,
    ) -> Self {
        let (events, _) = broadcast::channel(CAPACITY);
        let first = match subscribe(&client, &channel, connect_timeout).await {
            Ok(connection) => Some(connection),
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "tower-github-auth-redis: could not subscribe to change notifications; \
                     polling until it can"
                );
                None
            }
        };
        let subscribed = Arc::new(AtomicBool::new(first.is_some()));
        let listener = tokio::spawn(listen(
            client,
            channel,
            connect_timeout,
            events.clone(),
            Arc::clone(&subscribed),
            first,
        ));
        Self {
            events,
            subscribed,
            listener,
        }
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

/// The listener: forwards the published keys to the waiters, pings Redis every
/// [`HEARTBEAT`], and subscribes again (with backoff) whenever the connection ends.
async fn listen(
    client: redis::Client,
    channel: String,
    connect_timeout: Duration,
    events: broadcast::Sender<Event>,
    subscribed: Arc<AtomicBool>,
    mut connection: Option<(PubSubSink, PubSubStream)>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let (mut sink, mut stream) = match connection.take() {
            Some(connection) => connection,
            None => match subscribe(&client, &channel, connect_timeout).await {
                Ok(connection) => {
                    tracing::info!(
                        "tower-github-auth-redis: change notifications are back (pub/sub)"
                    );
                    connection
                }
                Err(err) => {
                    tracing::debug!(error = %err, "tower-github-auth-redis: subscribing again failed");
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
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
