//! Verified GitHub webhooks as a [`tower`](https://docs.rs/tower) layer: the handler behind
//! [`WebhookLayer`] sees only deliveries signed with the App's webhook secret, once each.
//!
//! ```
//! use axum::{Router, body::Body, http::{Request, StatusCode}, routing::post};
//! use tower::ServiceExt;
//! use tower_github_webhooks::{Delivery, Secrets, WebhookLayer};
//!
//! async fn webhook(delivery: Delivery) -> StatusCode {
//!     if delivery.event == "issues" && delivery.action.as_deref() == Some("opened") {
//!         // Act as the installation that sent it:
//!         // app.as_installation(InstallationId(delivery.installation_id?))
//!     }
//!     StatusCode::NO_CONTENT
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/webhook", post(webhook))
//!     .layer(WebhookLayer::new("the App's webhook secret"));
//!
//! // What GitHub sends (tests sign with `Secrets::sign`).
//! let body = r#"{"action":"opened","installation":{"id":1},"issue":{"number":1}}"#;
//! let signature = Secrets::new("the App's webhook secret").sign(body.as_bytes());
//! let delivery = || {
//!     Request::post("/webhook")
//!         .header("x-github-event", "issues")
//!         .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
//!         .header("x-hub-signature-256", &signature)
//!         .body(Body::from(body))
//! };
//! assert_eq!(app.clone().oneshot(delivery()?).await?.status(), StatusCode::NO_CONTENT);
//! // The same delivery again (a redelivery, or a replay): 200, the handler does not run.
//! assert_eq!(app.clone().oneshot(delivery()?).await?.status(), StatusCode::OK);
//! // A wrong signature: 401, with an empty body.
//! let forged = Request::post("/webhook")
//!     .header("x-github-event", "issues")
//!     .header("x-github-delivery", "another")
//!     .header("x-hub-signature-256", Secrets::new("guess").sign(body.as_bytes()))
//!     .body(Body::from(body))?;
//! assert_eq!(app.oneshot(forged).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! # What is checked, and how a refusal is answered
//! In this order, cheapest first:
//! 1. `Content-Length` (or the body's own size hint) over the [body
//!    limit](WebhookLayer::body_limit) (default 25 MiB, GitHub's cap): **413**, nothing read.
//! 2. `X-GitHub-Event` and `X-GitHub-Delivery` present, visible ASCII, at most 128 bytes;
//!    `X-GitHub-Hook-ID` and `X-GitHub-Hook-Installation-Target-ID`, when sent, numbers: else
//!    **400**.
//! 3. `X-Hub-Signature-256` present: else **401**.
//! 4. The body read up to the limit (a streamed body stops at the first chunk past it:
//!    **413**), within the [body timeout](WebhookLayer::body_timeout) (**408**); a broken body
//!    is **400**.
//! 5. The signature: exactly `sha256=` and 64 lowercase hex digits, the HMAC-SHA256 of the raw
//!    body with one of the [secrets](WebhookLayer::secret), compared in constant time: else
//!    **401**. Uppercase digits are refused: GitHub sends lowercase, and with one spelling
//!    only, any change to the header is refused.
//! 6. The payload a JSON object whose `installation.id` (if any) is a number and `action` (if
//!    any) a string; nothing else of it is read: else **400**.
//!
//! A refusal's body is empty: the status says which kind of check failed, never which one. It
//! is logged at `warn` (target `tower_github_webhooks`) with the delivery id and the reason,
//! never the body, the signature or a secret.
//!
//! The inner service then receives the request with the verified raw body (`Full<Bytes>`) and
//! a [`Delivery`] in its extensions (with the `axum` feature, an extractor).
//!
//! # Replays and duplicates
//! The delivery id is not covered by the signature, and GitHub may deliver one delivery more
//! than once (a redelivery, automatic or manual, keeps its id and its body). Each verified
//! delivery is marked in a [`DeliveryStore`] under its [`DeliveryKey`], the hash of **(delivery
//! id, signature)**, by an atomic set-if-absent with a TTL of the [replay
//! window](WebhookLayer::replay_window) (default 24 h):
//! - a redelivery has the same id and body, so the same signature while the secret is
//!   unchanged: a duplicate;
//! - a captured request sent again as it was: a duplicate;
//! - a body signed anew after a secret rotation is a new key (at least once across a rotation);
//!   a captured request sent again with an edited delivery id is a new key too: no receiver can
//!   tell it from a new delivery of the same body, since GitHub signs the body only.
//!
//! **A duplicate is answered `200` with an empty body, without reaching the handler**: the
//! delivery was received, so GitHub should record it as delivered and not redeliver it; a 4xx
//! would show as a failure in the App's delivery log and invite another redelivery.
//!
//! The mark is set **before** the handler runs: this is what makes one replica among many run
//! it (set-if-absent decides). If the handler fails (an error or a **5xx** answer), or its
//! future is dropped (the client went away), the mark is removed, so that GitHub's redelivery
//! of that delivery runs the handler again. A 2xx, 3xx or 4xx answer keeps the mark: a
//! redelivery would meet the same 4xx. While one replica runs the handler, a concurrent copy
//! elsewhere is answered 200 at once.
//!
//! The default store, [`MemoryDeliveryStore`], is in process (100 000 deliveries, least
//! recently marked first out): lost on restart, not shared. A fleet shares one through
//! [`WebhookLayer::store`], e.g. `tower_github_auth_redis::RedisDeliveryStore` (feature
//! `webhooks`, `SET key <random> NX PX window`).
//!
//! Every store call is bounded by the [store timeout](WebhookLayer::store_timeout) (1 s). When
//! the store fails or times out, [`StoreUnavailable`] decides: `ProcessAnyway` (the default; a
//! delivery may run twice meanwhile, none is lost) or `Refuse` (**503**, so that the delivery
//! shows as failed and is delivered again once the store is back: GitHub.com does not redeliver
//! a failed delivery by itself, so this takes a manual or scripted redelivery). Never a hang.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod delivery;
mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod extract;
mod future;
mod layer;
mod service;
mod signature;
mod store;

pub use config::{
    DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_REPLAY_WINDOW, DEFAULT_STORE_TIMEOUT,
};
pub use delivery::{Delivery, DeliveryKey};
pub use error::Error;
#[cfg(feature = "axum")]
pub use extract::MissingDelivery;
pub use future::ResponseFuture;
pub use layer::WebhookLayer;
pub use service::VerifyWebhook;
pub use signature::{SIGNATURE_HEADER, Secrets};
pub use store::{BoxError, DEFAULT_CAPACITY, DeliveryStore, MemoryDeliveryStore, StoreUnavailable};

// The README's code blocks are compiled as doc tests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
