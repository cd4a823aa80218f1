//! Webhook deliveries, sent as GitHub sends them: `POST` to the App's URL with the
//! `X-GitHub-*` headers and `X-Hub-Signature-256` (HMAC-SHA256 of the body with the webhook
//! secret); redelivered with the same delivery id and body; or signed with a wrong secret.

use std::{collections::VecDeque, io, time::Duration};

use aws_lc_rs::hmac;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::{
    objects,
    state::{Mutable, Shared},
};

/// The webhook secret the emulator signs deliveries with until
/// [`EmulatorHandle::set_webhook_secret`](crate::EmulatorHandle::set_webhook_secret) changes it.
pub const DEFAULT_WEBHOOK_SECRET: &str = "emulator-webhook-secret";
/// The `X-GitHub-Hook-ID` of every delivery: the App's webhook.
pub const WEBHOOK_HOOK_ID: u64 = 1;

/// The `issues`/`opened` payload, filled in per delivery (see `webhooks/README.md`).
const ISSUES_OPENED: &str = include_str!("../webhooks/issues-opened.json");
/// GitHub waits 10 s for an answer; so does the emulator, then the delivery fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many deliveries are kept for [`redeliver`](crate::EmulatorHandle::redeliver).
const MOST_DELIVERIES: usize = 1_000;

/// A webhook event to deliver: its name (`X-GitHub-Event`) and its JSON payload.
///
/// ```
/// use github_auth_emulator::WebhookEvent;
///
/// let ping = WebhookEvent::new("ping", &serde_json::json!({ "zen": "Keep it logically awesome." }));
/// assert_eq!(ping.event(), "ping");
/// assert_eq!(ping.body(), br#"{"zen":"Keep it logically awesome."}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    event: String,
    body: Bytes,
}

impl WebhookEvent {
    /// The event `event` with `payload` as its body.
    pub fn new(event: impl Into<String>, payload: &Value) -> Self {
        Self {
            event: event.into(),
            body: Bytes::from(payload.to_string()),
        }
    }

    /// The event's name, sent as `X-GitHub-Event`.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The body, as sent and signed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// What a delivery's receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// `X-GitHub-Delivery`: a GUID, the same for a redelivery.
    pub id: String,
    /// The receiver's answer.
    pub status: StatusCode,
}

/// The handle's record of deliveries, for redelivery, and the webhook secret.
#[derive(Debug)]
pub(crate) struct Webhooks {
    pub(crate) secret: String,
    sent: VecDeque<(String, WebhookEvent)>,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self {
            secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
            sent: VecDeque::new(),
        }
    }
}

impl Webhooks {
    /// Keeps delivery `id` for redelivery; a redelivery (an id kept already) adds nothing, so
    /// that redelivering one delivery does not push the others out.
    pub(crate) fn record(&mut self, id: &str, event: &WebhookEvent) {
        if self.sent.iter().any(|(sent, _)| sent == id) {
            return;
        }
        if self.sent.len() >= MOST_DELIVERIES {
            self.sent.pop_front();
        }
        self.sent.push_back((id.to_owned(), event.clone()));
    }

    pub(crate) fn find(&self, id: &str) -> Option<WebhookEvent> {
        self.sent
            .iter()
            .find(|(sent, _)| sent == id)
            .map(|(_, event)| event.clone())
    }
}

/// The `issues` `opened` event for issue `number` of `owner/repo`, sent by `octocat`, with the
/// installation of the configured App that holds the repository; `None` when the emulator has no
/// such repository or no installation holds it.
pub(crate) fn issues_opened(
    shared: &Shared,
    state: &mut Mutable,
    owner: &str,
    repo: &str,
    number: u64,
    title: &str,
) -> Option<WebhookEvent> {
    let index = shared.repo_index(owner, repo)?;
    let installation = state
        .installations
        .iter()
        .find(|inst| inst.app_id == shared.app_id && inst.repos.contains(&index))?
        .id;
    let mut payload: Value = serde_json::from_str(ISSUES_OPENED).ok()?;
    let sender = objects::simple_user(shared, state, "octocat");
    let repository = objects::repository(shared, state, index);
    let base = &shared.base_url;
    let full = &shared.repos[index].full_name;
    let api = format!("{base}/repos/{full}/issues/{number}");
    let issue = &mut payload["issue"];
    issue["number"] = json!(number);
    issue["id"] = json!(2_000_000_000_u64.saturating_add(number));
    issue["node_id"] = json!(format!("I_emulator{}_{number}", shared.repos[index].id));
    issue["title"] = json!(title);
    issue["user"] = sender.clone();
    issue["url"] = json!(api);
    issue["repository_url"] = json!(format!("{base}/repos/{full}"));
    issue["labels_url"] = json!(format!("{api}/labels{{/name}}"));
    issue["comments_url"] = json!(format!("{api}/comments"));
    issue["events_url"] = json!(format!("{api}/events"));
    issue["timeline_url"] = json!(format!("{api}/timeline"));
    issue["reactions"]["url"] = json!(format!("{api}/reactions"));
    issue["html_url"] = json!(format!("{base}/{full}/issues/{number}"));
    payload["repository"] = repository;
    payload["sender"] = sender;
    payload["installation"]["id"] = json!(installation);
    payload["installation"]["node_id"] = json!(format!(
        "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{installation}"
    ));
    Some(WebhookEvent::new("issues", &payload))
}

/// `bytes` as lowercase hex digits.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// A new delivery id: a random GUID, as GitHub's.
pub(crate) fn delivery_id() -> String {
    let mut bytes = [0u8; 16];
    // aws-lc-rs's system randomness does not fail on the platforms it builds for; a zero id would
    // still be a well-formed GUID.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let hex = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` with `secret`.
pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    format!("sha256={}", hex(tag.as_ref()))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_owned())
}

fn other(err: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(err)
}

/// `POST`s `event` to `url` (`http://host:port/path`) as delivery `id`, signed with `secret`;
/// the answer's status, within 10 s.
pub(crate) async fn send(
    url: &str,
    id: &str,
    event: &WebhookEvent,
    secret: &str,
    app_id: u64,
) -> io::Result<StatusCode> {
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("the emulator delivers to http:// URLs only"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("no host in the URL"))?
        .clone();
    let path = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let request = Request::post(path)
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, "GitHub-Hookshot/emulator")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, event.body.len())
        .header("x-github-event", event.event.as_str())
        .header("x-github-delivery", id)
        .header("x-github-hook-id", WEBHOOK_HOOK_ID)
        .header("x-github-hook-installation-target-type", "integration")
        .header("x-github-hook-installation-target-id", app_id)
        .header(
            "x-hub-signature-256",
            HeaderValue::from_str(&sign(secret, &event.body)).map_err(other)?,
        )
        .body(Full::new(event.body.clone()))
        .map_err(other)?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(other)?;
        let driving = tokio::spawn(connection);
        let answer = sender.send_request(request).await.map_err(other);
        driving.abort();
        Ok::<_, io::Error>(answer?.status())
    };
    tokio::time::timeout(DELIVERY_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 10 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeliveries_do_not_push_other_deliveries_out() {
        let mut webhooks = Webhooks::default();
        let a = WebhookEvent::new("ping", &json!({ "zen": "a" }));
        let b = WebhookEvent::new("ping", &json!({ "zen": "b" }));
        webhooks.record("a", &a);
        // "b", then redelivered many times: still two deliveries.
        for _ in 0..=MOST_DELIVERIES {
            webhooks.record("b", &b);
        }
        assert_eq!(webhooks.find("a"), Some(a));
        assert_eq!(webhooks.find("b"), Some(b));
    }
}
