//! [`Delivery`]: what a verified webhook request says, read from its headers and payload.

use std::fmt::{self, Write as _};

use aws_lc_rs::digest;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;

use crate::error::Error;

/// The longest `X-GitHub-Delivery` or `X-GitHub-Event` accepted (a delivery id is a 36-character
/// GUID): the id is logged and hashed into the replay key, so its size is bounded.
const MAX_HEADER_LEN: usize = 128;

/// A verified webhook delivery: its headers, the installation and action read from its payload,
/// and the raw body the signature covers. The layer puts it in the request's extensions; with
/// the `axum` feature it is an extractor. `Debug` shows the body's length, not the payload (up to
/// 25 MiB, and what it says about private repositories is not for logs).
///
/// ```
/// use tower_github_webhooks::Delivery;
///
/// fn handle(delivery: &Delivery) -> Option<u64> {
///     if delivery.event == "issues" && delivery.action.as_deref() == Some("opened") {
///         return delivery.installation_id;
///     }
///     None
/// }
/// # let _ = handle;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Delivery {
    /// `X-GitHub-Event`: `issues`, `push`, `installation`, `ping`, ...
    pub event: String,
    /// `X-GitHub-Delivery`: a GUID, the same for every redelivery of this delivery.
    pub id: String,
    /// `X-GitHub-Hook-ID`, when sent.
    pub hook_id: Option<u64>,
    /// `X-GitHub-Hook-Installation-Target-Type` (`integration` for an App's webhook), when sent.
    pub target_type: Option<String>,
    /// `X-GitHub-Hook-Installation-Target-ID` (the App's id for an App's webhook), when sent.
    pub target_id: Option<u64>,
    /// `installation.id` of the payload: the installation to act as
    /// (`app.as_installation(InstallationId(id))`). Absent for an App's own events (`ping`).
    pub installation_id: Option<u64>,
    /// `action` of the payload (`opened`, `created`, ...), for events that have one.
    pub action: Option<String>,
    body: Bytes,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .field("id", &self.id)
            .field("hook_id", &self.hook_id)
            .field("target_type", &self.target_type)
            .field("target_id", &self.target_id)
            .field("installation_id", &self.installation_id)
            .field("action", &self.action)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Delivery {
    /// The raw body, as verified: deserialize it into the event's type.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The payload deserialized as `T`.
    pub fn payload<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// The headers of a delivery, read before its body.
#[derive(Debug)]
pub(crate) struct Headers {
    pub(crate) event: String,
    pub(crate) id: String,
    pub(crate) hook_id: Option<u64>,
    pub(crate) target_type: Option<String>,
    pub(crate) target_id: Option<u64>,
}

/// The delivery id of a request, if it has one in shape (for logs, before anything else is
/// checked).
pub(crate) fn delivery_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-github-delivery")
        .and_then(|value| value.to_str().ok())
        .filter(|id| id.len() <= MAX_HEADER_LEN)
}

fn text(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, Error> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) if !text.is_empty() && text.len() <= MAX_HEADER_LEN => Ok(Some(text.to_owned())),
        _ => Err(Error::InvalidHeader(name)),
    }
}

fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, Error> {
    text(headers, name)?
        .map(|text| text.parse().map_err(|_| Error::InvalidHeader(name)))
        .transpose()
}

impl Headers {
    pub(crate) fn read(headers: &HeaderMap) -> Result<Self, Error> {
        Ok(Self {
            event: text(headers, "x-github-event")?
                .ok_or(Error::MissingHeader("X-GitHub-Event"))?,
            id: text(headers, "x-github-delivery")?
                .ok_or(Error::MissingHeader("X-GitHub-Delivery"))?,
            hook_id: number(headers, "x-github-hook-id")?,
            target_type: text(headers, "x-github-hook-installation-target-type")?,
            target_id: number(headers, "x-github-hook-installation-target-id")?,
        })
    }

    /// The delivery, once its body is verified: reads `installation.id` and `action`.
    pub(crate) fn delivery(self, body: Bytes) -> Result<Delivery, Error> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Payload {
            installation: Option<Installation>,
            action: Option<String>,
        }
        let payload: Payload =
            serde_json::from_slice(&body).map_err(|err| Error::InvalidPayload {
                line: err.line(),
                column: err.column(),
            })?;
        Ok(Delivery {
            event: self.event,
            id: self.id,
            hook_id: self.hook_id,
            target_type: self.target_type,
            target_id: self.target_id,
            installation_id: payload.installation.map(|inst| inst.id),
            action: payload.action,
            body,
        })
    }
}

/// The replay key of a delivery: SHA-256 of its delivery id and its signature header, so that
/// its size is fixed whatever the sender puts in the header. Shown as 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey([u8; 32]);

impl DeliveryKey {
    /// The key of `(delivery id, X-Hub-Signature-256)`.
    pub fn new(delivery_id: &str, signature: &[u8]) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&(delivery_id.len() as u64).to_be_bytes());
        ctx.update(delivery_id.as_bytes());
        ctx.update(signature);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// The key as 64 lowercase hex digits (what a shared store stores).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reads_every_header_and_the_payload() {
        let map = headers(&[
            ("x-github-event", "issues"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("x-github-hook-id", "292430182"),
            ("x-github-hook-installation-target-type", "integration"),
            ("x-github-hook-installation-target-id", "79929171"),
        ]);
        let body = Bytes::from_static(
            br#"{"action":"opened","installation":{"id":7,"node_id":"x"},"issue":{"number":1}}"#,
        );
        let delivery = Headers::read(&map).unwrap().delivery(body.clone()).unwrap();
        assert_eq!(delivery.event, "issues");
        assert_eq!(delivery.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(delivery.hook_id, Some(292_430_182));
        assert_eq!(delivery.target_type.as_deref(), Some("integration"));
        assert_eq!(delivery.target_id, Some(79_929_171));
        assert_eq!(delivery.installation_id, Some(7));
        assert_eq!(delivery.action.as_deref(), Some("opened"));
        assert_eq!(delivery.body(), &body);
        let issue: serde_json::Value = delivery.payload().unwrap();
        assert_eq!(issue["issue"]["number"], 1);
    }

    #[test]
    fn optional_parts_may_be_absent() {
        let map = headers(&[("x-github-event", "ping"), ("x-github-delivery", "d")]);
        let delivery = Headers::read(&map)
            .unwrap()
            .delivery(Bytes::from_static(b"{\"zen\":\"z\"}"))
            .unwrap();
        assert_eq!(delivery.hook_id, None);
        assert_eq!(delivery.installation_id, None);
        assert_eq!(delivery.action, None);
    }

    #[test]
    fn malformed_headers_and_payloads_are_refused() {
        let missing = headers(&[("x-github-delivery", "d")]);
        assert!(matches!(
            Headers::read(&missing),
            Err(Error::MissingHeader("X-GitHub-Event"))
        ));
        let missing = headers(&[("x-github-event", "e")]);
        assert!(matches!(
            Headers::read(&missing),
            Err(Error::MissingHeader("X-GitHub-Delivery"))
        ));
        let bad_hook = headers(&[
            ("x-github-event", "e"),
            ("x-github-delivery", "d"),
            ("x-github-hook-id", "-1"),
        ]);
        assert!(matches!(
            Headers::read(&bad_hook),
            Err(Error::InvalidHeader("x-github-hook-id"))
        ));
        let long = "d".repeat(MAX_HEADER_LEN + 1);
        let too_long = headers(&[("x-github-event", "e"), ("x-github-delivery", &long)]);
        assert!(matches!(
            Headers::read(&too_long),
            Err(Error::InvalidHeader("x-github-delivery"))
        ));
        let ok = headers(&[("x-github-event", "e"), ("x-github-delivery", "d")]);
        for body in [
            &b"not json"[..],
            b"[1]",
            b"{\"installation\":{\"id\":\"7\"}}",
            b"\xff",
        ] {
            assert!(matches!(
                Headers::read(&ok)
                    .unwrap()
                    .delivery(Bytes::copy_from_slice(body)),
                Err(Error::InvalidPayload { .. })
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_payload_is_read_or_refused_never_a_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let ok = headers(&[("x-github-event", "e"), ("x-github-delivery", "d")]);
            match Headers::read(&ok).unwrap().delivery(Bytes::from(body)) {
                Ok(_) | Err(Error::InvalidPayload { .. }) => {}
                Err(other) => proptest::prop_assert!(false, "{other}"),
            }
        }
    }

    #[test]
    fn debug_shows_the_body_length_not_the_payload() {
        let map = headers(&[("x-github-event", "push"), ("x-github-delivery", "d-1")]);
        let body = format!(
            r#"{{"installation":{{"id":7}},"pad":"{}"}}"#,
            "PRIVATE".repeat(1000)
        );
        let delivery = Headers::read(&map)
            .unwrap()
            .delivery(Bytes::from(body.clone()))
            .unwrap();
        let shown = format!("{delivery:?}");
        assert!(shown.contains("d-1") && shown.contains("push"), "{shown}");
        assert!(shown.contains(&body.len().to_string()), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
    }

    #[test]
    fn keys_differ_by_id_and_signature_and_do_not_run_together() {
        let a = DeliveryKey::new("id", b"sha256=00");
        assert_eq!(a, DeliveryKey::new("id", b"sha256=00"));
        assert_ne!(a, DeliveryKey::new("id2", b"sha256=00"));
        assert_ne!(a, DeliveryKey::new("id", b"sha256=01"));
        // The id's length is hashed too: moving bytes from id to signature is another key.
        assert_ne!(DeliveryKey::new("ab", b"c"), DeliveryKey::new("a", b"bc"));
        assert_eq!(a.to_hex().len(), 64);
    }
}
