//! The one helper for side requests: token exchanges, refreshes, lookups.
//!
//! Every side request goes through a clone of the user's own inner service, so whatever they
//! stacked below the layer (TLS, proxy, retries, tracing) applies to it. Answers are read with a
//! size bound, GitHub's `Date` header feeds the clock, and an OAuth `error` field is turned into
//! [`Error::OAuth`] whatever the HTTP status. A side request that spends nothing single-use (an
//! installation token's mint, a lookup, a revocation; not a refresh or a code exchange) is tried
//! again at once after a server error (5xx) or no answer, three times at most, within the same
//! deadline: GitHub's transient failures end there instead of failing every request waiting on
//! the exchange and starting the backoff. An answer that came but could not be read (too large,
//! cut off) is not asked for again.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{ACCEPT, CONTENT_TYPE, DATE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::{Clock, jitter};
use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange, SharedError};
use crate::headers::{API_VERSION, API_VERSION_HEADER, GITHUB_JSON, USER_AGENT_VALUE};
use crate::observe;
use crate::refusal;

/// How long a side request may take, answer read, unless configured otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer a side request reads unless configured otherwise: a token narrowed to
/// hundreds of repositories is answered with each one's full object (several KiB each).
pub(crate) const DEFAULT_MAX_ANSWER: usize = 32 * 1024 * 1024;
/// The pauses before each new try of a side request GitHub answered with a server error (or that
/// could not be sent), each plus up to 20% jitter: four tries in all, within the request's one
/// deadline.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
];

/// The bounds of every side request: a deadline (request sent, answer read) and a size.
/// And the `User-Agent` the layer's requests and exchanges carry (`None`: this crate's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) timeout: Duration,
    pub(crate) max_answer: usize,
    pub(crate) user_agent: Option<HeaderValue>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_answer: DEFAULT_MAX_ANSWER,
            user_agent: None,
        }
    }
}

type SendFn =
    dyn Fn(Request<Bytes>) -> BoxFuture<'static, Result<Response<Bytes>, Failure>> + Send + Sync;

/// Why a side request has no answer to read.
enum Failure {
    /// None came: the service was not ready, or the call failed (perhaps before sending).
    NoAnswer(SharedError),
    /// One came, but its body could not be read (larger than the bound, cut off): GitHub served
    /// the request.
    Unread(SharedError),
}

impl Failure {
    fn into_source(self) -> SharedError {
        match self {
            Self::NoAnswer(source) | Self::Unread(source) => source,
        }
    }
}

/// A way to send side requests through (a clone of) the inner service.
#[derive(Clone)]
pub(crate) struct Side {
    send: Arc<SendFn>,
    pub(crate) endpoints: Endpoints,
    pub(crate) clock: Arc<Clock>,
    limits: Limits,
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Side")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// The answer to a side request, body read.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// GitHub's answer headers (only read for what an error carries: request id, Retry-After,
    /// rate-limit reset).
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The secrets the request carried: scrubbed from any text of the answer kept in an error.
    pub(crate) secrets: Vec<String>,
}

impl Answer {
    /// An answer to a request that carried no secret.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
            secrets: Vec::new(),
        }
    }

    /// The body with every secret the request sent replaced by `***`, for text kept in errors.
    fn scrubbed(&self) -> Bytes {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        scrub(self.body.clone(), &secrets)
    }
}

impl Side {
    /// Wraps a clone of the inner service, for side requests to `endpoints` bounded by `limits`.
    pub(crate) fn new<S, B, RB>(
        inner: &S,
        endpoints: &Endpoints,
        clock: &Arc<Clock>,
        limits: Limits,
    ) -> Self
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        // A Mutex makes the closure Sync without asking the service to be Sync.
        let inner = Mutex::new(inner.clone());
        let send = move |req: Request<Bytes>| -> BoxFuture<'static, _> {
            let mut svc = inner.lock().expect("side service lock").clone();
            Box::pin(async move {
                poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(|e| Failure::NoAnswer(SharedError::from(e.into())))?;
                let response = svc
                    .call(req.map(B::from))
                    .await
                    .map_err(|e| Failure::NoAnswer(SharedError::from(e.into())))?;
                let (parts, body) = response.into_parts();
                let bytes = Limited::new(body, limits.max_answer)
                    .collect()
                    .await
                    .map_err(|e| Failure::Unread(SharedError::from(e)))?
                    .to_bytes();
                Ok(Response::from_parts(parts, bytes))
            })
        };
        Self {
            send: Arc::new(send),
            endpoints: endpoints.clone(),
            clock: Arc::clone(clock),
            limits,
        }
    }

    /// Sends a request, adding GitHub's required headers; learns the clock offset from `Date`.
    pub(crate) async fn send(
        &self,
        exchange: Exchange,
        mut req: Request<Bytes>,
        secrets: &[&str],
    ) -> Result<Answer, Error> {
        let headers = req.headers_mut();
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.limits.user_agent.clone().unwrap_or(USER_AGENT_VALUE));
        headers
            .entry(API_VERSION_HEADER)
            .or_insert(HeaderValue::from_static(API_VERSION));
        let host = req.uri().host().unwrap_or_default().to_owned();
        // The exchange span this request runs in (if any) learns what it is and where it goes.
        observe::record_for("kind", &exchange);
        observe::record_for("host", &host);
        let span = tracing::debug_span!(
            "github_auth.side_request",
            %exchange,
            method = %req.method(),
            path = logged_path(exchange, req.uri().path()),
            host,
        );
        let mut tries = 0;
        let started = Instant::now();
        #[cfg(feature = "metrics")]
        observe::exchange_started(observe::kind_label(exchange), &host);
        let sent = self
            .send_tries(exchange, req, &mut tries)
            .instrument(span.clone())
            .await;
        observe::record_for("tries", &tries);
        if let Ok(response) = &sent {
            observe::record_for("status", &response.status().as_u16());
            if let Some(request_id) = request_id_of(response.headers()) {
                observe::record_for("request_id", &request_id);
            }
        }
        let _entered = span.enter();
        let duration_ms = observe::millis(started.elapsed());
        #[cfg(feature = "metrics")]
        observe::exchange_finished(
            observe::kind_label(exchange),
            &host,
            observe::outcome_of(sent.as_ref().map(Response::status)),
            started.elapsed(),
        );
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(
                    %exchange,
                    tries,
                    duration_ms,
                    outcome = "error",
                    %error,
                    "side request failed"
                );
                return Err(error);
            }
        };
        let status = response.status();
        let request_id = request_id_of(response.headers());
        tracing::debug!(
            %exchange,
            status = status.as_u16(),
            request_id,
            tries,
            duration_ms,
            outcome = observe::outcome_of(Ok(status)),
            "side request answered"
        );
        if status.is_redirection() {
            // The layer never follows a redirect: the form or credential would go to the
            // `Location` host. Its body is not kept either.
            tracing::warn!(%exchange, %status, "GitHub answered an exchange with a redirect");
            return Ok(Answer {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
                secrets: Vec::new(),
            });
        }
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status,
            headers: parts.headers,
            body,
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Sends `req`, and, when the exchange is [resendable](Exchange::resendable), again after a
    /// pause while GitHub answers with a server error or no answer comes ([`RETRY_PAUSES`]), all
    /// within the one deadline; every answer's `Date` feeds the clock. A new try starts only
    /// when the time left after its pause is more than the last try took, and a try the deadline
    /// cuts off gives way to the server error an earlier try got: the caller learns what GitHub
    /// answered, not that a try it need not have made ran out of time.
    async fn send_tries(
        &self,
        exchange: Exchange,
        req: Request<Bytes>,
        tries: &mut u32,
    ) -> Result<Response<Bytes>, Error> {
        let after = self.limits.timeout;
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let mut pauses = RETRY_PAUSES[..if exchange.resendable() {
            RETRY_PAUSES.len()
        } else {
            0
        }]
            .iter();
        let mut server_error = None;
        loop {
            let tried = Instant::now();
            *tries = tries.saturating_add(1);
            let left = after.saturating_sub(started.elapsed());
            let send = (self.send)(Request::from_parts(parts.clone(), body.clone()));
            let Ok(result) = tokio::time::timeout(left, send).await else {
                return server_error.ok_or(Error::Timeout {
                    exchange,
                    after,
                    subject: None,
                });
            };
            if let Ok(response) = &result
                && let Some(date) = response.headers().get(DATE)
            {
                self.clock.observe_date(date);
            }
            let transient = match &result {
                Ok(response) => response.status().is_server_error(),
                Err(Failure::NoAnswer(_)) => true,
                Err(Failure::Unread(_)) => false,
            };
            let took = tried.elapsed();
            let room = |pause: Duration| {
                after.saturating_sub(started.elapsed()) > pause.saturating_add(took)
            };
            // Jittered, so that a fleet whose exchanges failed together does not retry together.
            match pauses
                .next()
                .map(|&pause| pause.saturating_add(jitter(pause)))
            {
                Some(pause) if transient && room(pause) => {
                    match result {
                        Ok(response) => {
                            tracing::debug!(%exchange, status = %response.status(), ?pause, "side request failed: trying again");
                            server_error = Some(response);
                        }
                        Err(Failure::NoAnswer(error) | Failure::Unread(error)) => {
                            tracing::debug!(%exchange, %error, ?pause, "side request unanswered: trying again");
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
                _ => {
                    return result.map_err(|failure| Error::Transport {
                        exchange,
                        source: failure.into_source(),
                        subject: None,
                    });
                }
            }
        }
    }

    /// A REST call whose status the caller wants to inspect.
    pub(crate) async fn rest_raw(
        &self,
        exchange: Exchange,
        method: Method,
        path: &str,
        authorization: Option<&HeaderValue>,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, Error> {
        self.rest_raw_with(exchange, method, path, authorization, body, &[])
            .await
    }

    /// [`rest_raw`](Self::rest_raw) with `extra` headers (not secrets: never scrubbed), such
    /// as `X-GitHub-Stateless-S2S-Token` on a mint.
    pub(crate) async fn rest_raw_with(
        &self,
        exchange: Exchange,
        method: Method,
        path: &str,
        authorization: Option<&HeaderValue>,
        body: Option<&serde_json::Value>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(self.endpoints.api_url(path)?)
            .header(ACCEPT, GITHUB_JSON);
        for (name, value) in extra {
            builder = builder.header(name, value.clone());
        }
        let mut secrets = Vec::with_capacity(2);
        if let Some(auth) = authorization {
            builder = builder.header(http::header::AUTHORIZATION, auth.clone());
            let credential = auth.to_str().unwrap_or_default();
            secrets.push(credential.split_once(' ').map_or(credential, |(_, c)| c));
        }
        // The token routes carry a user token in the body.
        if let Some(token) = body.and_then(|b| b.get("access_token")?.as_str()) {
            secrets.push(token);
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(json).expect("JSON values serialize"))
            }
            None => Bytes::new(),
        };
        let req = builder.body(body).map_err(|e| Error::InvalidResponse {
            exchange,
            reason: format!("could not build the request: {e}"),
            subject: None,
        })?;
        self.send(exchange, req, &secrets).await
    }

    /// An OAuth form POST to the web base, answered in JSON. An `error` field in the answer
    /// becomes [`Error::OAuth`] whatever the status.
    pub(crate) async fn oauth<T: DeserializeOwned>(
        &self,
        exchange: Exchange,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, Error> {
        let answer = self.oauth_answer(exchange, path, form).await?;
        if let Some(err) = oauth_error(exchange, &answer) {
            return Err(err);
        }
        if !answer.status.is_success() {
            return Err(github_error(exchange, &answer));
        }
        decode_json(exchange, &answer)
    }

    /// The OAuth form POST of [`oauth`](Self::oauth), answer unread: for callers that need more
    /// of an error body than [`Error::OAuth`] keeps (the device flow's `slow_down` carries a new
    /// `interval`).
    pub(crate) async fn oauth_answer(
        &self,
        exchange: Exchange,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, Error> {
        let body = serde_urlencoded::to_string(form).map_err(|e| Error::InvalidResponse {
            exchange,
            reason: format!("could not encode the form: {e}"),
            subject: None,
        })?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoints.web_url(path)?)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(body))
            .expect("static parts");
        let secrets: Vec<&str> = form
            .iter()
            .filter(|(key, _)| SECRET_FIELDS.contains(key))
            .map(|(_, value)| *value)
            .collect();
        self.send(exchange, req, &secrets).await
    }
}

/// The form fields of OAuth requests that carry a secret.
const SECRET_FIELDS: [&str; 5] = [
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "device_code",
];

/// GitHub's request id in `headers`, for logs and events: visible ASCII (what `to_str`
/// accepts: no line breaks to forge a log line) and at most 100 bytes.
fn request_id_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= 100)
}

/// A side request's path as it is logged: a manifest conversion's path carries its code, which
/// GitHub exchanges once for the new App's key and secrets.
fn logged_path(exchange: Exchange, path: &str) -> &str {
    if exchange == Exchange::ManifestConversion {
        "/app-manifests/***/conversions"
    } else {
        path
    }
}

/// Secrets shorter than this are not looked for (they would match ordinary text).
const SHORTEST_SECRET: usize = 6;

/// `body` with every secret this side request sent (as is, or form-encoded as a proxy that
/// echoes the request would show it) replaced by `***`: an answer's text may end up in an error
/// and a log, and must never carry them.
fn scrub(body: Bytes, secrets: &[&str]) -> Bytes {
    let mut needles: Vec<Vec<u8>> = Vec::with_capacity(secrets.len() * 2);
    for secret in secrets.iter().filter(|s| s.len() >= SHORTEST_SECRET) {
        needles.push(secret.as_bytes().to_vec());
        let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != *secret {
            needles.push(encoded.into_bytes());
        }
    }
    if !needles
        .iter()
        .any(|needle| find(&body, needle, 0).is_some())
    {
        return body;
    }
    let mut text = body.to_vec();
    for needle in &needles {
        let mut from = 0;
        while let Some(at) = find(&text, needle, from) {
            text.splice(at..at + needle.len(), *b"***");
            from = at + 3;
        }
    }
    Bytes::from(text)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

/// Reads GitHub's JSON answer. (The reason of a failure comes from the scrubbed body: serde's
/// messages quote values.)
pub(crate) fn decode_json<T: DeserializeOwned>(
    exchange: Exchange,
    answer: &Answer,
) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        let reason = serde_json::from_slice::<T>(&answer.scrubbed())
            .err()
            .map_or_else(
                || format!("{:?} error at line {}", e.classify(), e.line()),
                |e| e.to_string(),
            );
        Error::InvalidResponse {
            exchange,
            reason,
            subject: None,
        }
    })
}

/// An error status answer as [`Error::GitHub`] (or [`Error::OAuth`] when it carries `error`).
pub(crate) fn github_error(exchange: Exchange, answer: &Answer) -> Error {
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
        #[serde(default)]
        documentation_url: Option<String>,
    }
    if let Some(err) = oauth_error(exchange, answer) {
        return err;
    }
    let body = answer.scrubbed();
    let (message, documentation_url) = serde_json::from_slice::<Message>(&body).map_or_else(
        |_| {
            let text = String::from_utf8_lossy(&body);
            (text.chars().take(200).collect(), None)
        },
        |m| (m.message, m.documentation_url.map(|url| bounded(&url))),
    );
    Error::GitHub {
        exchange,
        status: answer.status,
        message,
        request_id: request_id(&answer.headers),
        documentation_url,
        retry_after: refusal::retry_after(&answer.headers),
        rate_limit_reset: refusal::spent_rate_limit_reset(&answer.headers),
        subject: None,
    }
}

/// GitHub's id of a request, which its support asks for.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-github-request-id");

/// GitHub's `x-github-request-id`, when it sent one.
fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(bounded)
}

/// At most 200 characters of a text from GitHub kept in an error.
fn bounded(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The OAuth `error` field of a JSON or form-encoded answer, if any.
pub(crate) fn oauth_error(exchange: Exchange, answer: &Answer) -> Option<Error> {
    if !has_oauth_error(&answer.body) {
        return None;
    }
    let mut err = oauth_error_in(exchange, &answer.scrubbed())?;
    if let Error::OAuth { request_id: id, .. } = &mut err {
        *id = request_id(&answer.headers);
    }
    Some(err)
}

/// Whether a body carries an OAuth `error` field (read without keeping any of its text).
fn has_oauth_error(body: &[u8]) -> bool {
    oauth_error_in(Exchange::Refresh, body).is_some()
}

fn oauth_error_in(exchange: Exchange, body: &[u8]) -> Option<Error> {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
        error_uri: Option<String>,
    }
    let parsed = serde_json::from_slice::<OAuthError>(body)
        .ok()
        .or_else(|| serde_urlencoded::from_bytes::<OAuthError>(body).ok())?;
    Some(Error::OAuth {
        exchange,
        error: parsed.error,
        description: parsed.error_description,
        uri: parsed.error_uri,
        request_id: None,
        subject: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BoxError;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn any_oauth_answer_is_understood_or_refused(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            status in 100u16..600,
        ) {
            let mut answer = Answer::new(StatusCode::from_u16(status).unwrap(), body);
            answer.secrets.push("ghr_secret".into());
            let _ = oauth_error(Exchange::Refresh, &answer);
            let _ = github_error(Exchange::Refresh, &answer);
            let _ = decode_json::<serde_json::Value>(Exchange::Refresh, &answer);
        }

        #[test]
        fn json_and_form_errors_with_odd_fields_never_panic(
            error in "[a-z_]{0,20}",
            description in ".{0,40}",
            json in proptest::prelude::any::<bool>(),
            cut in 0usize..200,
        ) {
            let text = if json {
                serde_json::json!({ "error": error, "error_description": description }).to_string()
            } else {
                serde_urlencoded::to_string([("error", &error), ("error_description", &description)]).unwrap()
            };
            let body = &text.as_bytes()[..cut.min(text.len())];
            if let Some(err) = oauth_error(Exchange::DevicePoll, &Answer::new(StatusCode::OK, body.to_vec())) {
                proptest::prop_assert!(err.oauth_error().is_some());
            }
        }

        #[test]
        fn secrets_are_scrubbed_wherever_they_stand(
            before in "[ -~]{0,30}",
            after in "[ -~]{0,30}",
            secret in "[!-~]{6,24}",
        ) {
            let body = Bytes::from(format!("{before}{secret}{after}"));
            let scrubbed = scrub(body, &[secret.as_str()]);
            let text = String::from_utf8(scrubbed.to_vec()).unwrap();
            proptest::prop_assert!(!text.contains(&secret), "{}", text);
        }
    }

    #[test]
    fn oauth_errors_in_either_encoding() {
        let json = br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#;
        let form = b"error=bad_refresh_token&error_description=gone&error_uri=https%3A%2F%2Fdocs";
        let ok = |body: &'static [u8]| Answer::new(StatusCode::OK, body);
        let e = oauth_error(Exchange::CodeExchange, &ok(json)).unwrap();
        assert_eq!(e.oauth_error(), Some("bad_verification_code"));
        let e = oauth_error(Exchange::Refresh, &ok(form)).unwrap();
        assert_eq!(e.oauth_error(), Some("bad_refresh_token"));
        assert!(oauth_error(Exchange::Refresh, &ok(br#"{"access_token":"x"}"#)).is_none());
    }

    #[test]
    fn secrets_sent_never_come_back_in_kept_text() {
        let echo = Bytes::from_static(
            b"<html>you sent client_id=Iv1.a&client_secret=s3cr%2Bt%2Fxyz&refresh_token=ghr_abcdef \
              and Bearer ghr_abcdef</html>",
        );
        let scrubbed = scrub(echo, &["s3cr+t/xyz", "ghr_abcdef"]);
        let text = String::from_utf8(scrubbed.to_vec()).unwrap();
        assert!(
            !text.contains("s3cr") && !text.contains("ghr_abcdef"),
            "{text}"
        );
        assert!(
            text.contains("client_secret=***&refresh_token=*** and Bearer ***"),
            "{text}"
        );
        // Nothing to scrub: the same bytes, not a copy.
        let clean = Bytes::from_static(b"{\"message\":\"Bad credentials\"}");
        assert_eq!(
            scrub(clean.clone(), &["ghr_abcdef"]).as_ptr(),
            clean.as_ptr()
        );
    }

    #[tokio::test]
    async fn a_proxy_echoing_the_request_puts_no_secret_in_the_error() {
        let side = side_over(
            |req: Request<Bytes>| async move {
                let sent = req.into_body();
                let mut echo = Response::new(http_body_util::Full::new(sent));
                *echo.status_mut() = StatusCode::BAD_GATEWAY;
                Ok(echo)
            },
            Limits::default(),
        );
        let form = [
            ("client_id", "Iv1.abc"),
            ("client_secret", "s3cret+value/1"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "ghr_spent-refresh"),
        ];
        let err = side
            .oauth::<serde_json::Value>(Exchange::Refresh, "/login/oauth/access_token", &form)
            .await
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("client_id=Iv1.abc"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("ghr_spent"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_a_typed_error_and_its_body_is_not_kept() {
        let side = side_over(
            |_req| async {
                let mut redirect = Response::new(http_body_util::Full::new(Bytes::from_static(
                    b"code=c0de-secret",
                )));
                *redirect.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                redirect.headers_mut().insert(
                    "location",
                    HeaderValue::from_static("https://evil.example/"),
                );
                Ok(redirect)
            },
            Limits::default(),
        );
        let err = side
            .oauth::<serde_json::Value>(
                Exchange::CodeExchange,
                "/login/oauth/access_token",
                &[("code", "c0de-secret")],
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT));
        assert!(!err.to_string().contains("c0de"), "{err}");
    }

    #[test]
    fn github_errors_carry_the_message() {
        let answer = Answer::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Bytes::from_static(
                br#"{"message":"There is at least one repository that does not exist"}"#,
            ),
        );
        let e = github_error(Exchange::InstallationToken, &answer);
        assert_eq!(e.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(e.to_string().contains("does not exist"));
        assert_eq!(e.request_id(), None);
    }

    /// Issue 20 §5: the request id, documentation URL, `Retry-After` and rate-limit reset GitHub
    /// sent are kept; values that are not numbers are left out, never a panic.
    #[test]
    fn github_errors_carry_what_github_sent() {
        let mut answer = Answer::new(
            StatusCode::TOO_MANY_REQUESTS,
            Bytes::from_static(
                br#"{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/rate-limit"}"#,
            ),
        );
        for (name, value) in [
            ("x-github-request-id", "C0DE:1234:5678AB:9ABCDE:6750A1B2"),
            ("retry-after", "30"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000000"),
        ] {
            answer.headers.insert(name, HeaderValue::from_static(value));
        }
        let e = github_error(Exchange::InstallationToken, &answer);
        assert_eq!(e.request_id(), Some("C0DE:1234:5678AB:9ABCDE:6750A1B2"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            e.rate_limit_reset(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let Error::GitHub {
            documentation_url, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            documentation_url.as_deref(),
            Some("https://docs.github.com/rest/rate-limit")
        );
        assert!(e.to_string().contains("C0DE:1234:5678AB:9ABCDE:6750A1B2"));

        answer.headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        answer.headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("99999999999999999999999"),
        );
        let e = github_error(Exchange::InstallationToken, &answer);
        assert_eq!(e.retry_after(), None);
        assert_eq!(e.rate_limit_reset(), None);
    }

    /// GitHub sends `x-ratelimit-reset` on every answer: on an error while the budget is not
    /// spent it says nothing about when to ask again (a 500 must not wait for the hour's reset).
    #[test]
    fn the_rate_limit_reset_counts_only_when_the_budget_is_spent() {
        let mut answer = Answer::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(br#"{"message":"Server Error"}"#),
        );
        for (name, value) in [
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", "1700000000"),
        ] {
            answer.headers.insert(name, HeaderValue::from_static(value));
        }
        let e = github_error(Exchange::InstallationToken, &answer);
        assert_eq!(e.rate_limit_reset(), None);
        assert!(!e.is_rate_limited());
        answer.status = StatusCode::FORBIDDEN;
        answer
            .headers
            .insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let e = github_error(Exchange::InstallationToken, &answer);
        assert_eq!(
            e.rate_limit_reset(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert!(e.is_rate_limited());
    }

    fn side_over<F, Fut>(answer: F, limits: Limits) -> Side
    where
        F: Fn(Request<Bytes>) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<Response<http_body_util::Full<Bytes>>, BoxError>>
            + Send
            + 'static,
    {
        Side::new(
            &tower::service_fn(answer),
            &Endpoints::github_com(),
            &Arc::new(Clock::default()),
            limits,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_github_times_out() {
        let side = side_over(
            |_req| futures_util::future::pending(),
            Limits {
                timeout: Duration::from_secs(3),
                ..Limits::default()
            },
        );
        let started = tokio::time::Instant::now();
        let err = side
            .rest_raw(Exchange::InstallationToken, Method::POST, "/x", None, None)
            .await
            .err()
            .expect("no answer");
        assert!(
            matches!(err, Error::Timeout { exchange: Exchange::InstallationToken, after, .. } if after == Duration::from_secs(3)),
            "{err}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    /// A side over a GitHub that answers every request `status` after `delay`, counting them.
    fn always_answering(
        status: StatusCode,
        delay: Duration,
        limits: Limits,
    ) -> (Side, Arc<std::sync::atomic::AtomicUsize>) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let side = side_over(
            move |_req| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    tokio::time::sleep(delay).await;
                    let mut answer = Response::new(http_body_util::Full::new(Bytes::from_static(
                        br#"{"message":"We couldn't respond to your request in time."}"#,
                    )));
                    *answer.status_mut() = status;
                    Ok(answer)
                }
            },
            limits,
        );
        (side, calls)
    }

    /// Review: GitHub's edge answers 504 after 4 s, each try. The caller gets GitHub's 504, not a
    /// timeout blaming a hung GitHub because a later try was cut off by the deadline; and no try
    /// is started that the time left cannot hold (the last took 4 s, 1.85 s were left).
    #[tokio::test(start_paused = true)]
    async fn the_deadline_keeps_the_server_error_github_answered() {
        let (side, calls) = always_answering(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(4),
            Limits::default(),
        );
        let started = tokio::time::Instant::now();
        let answer = side
            .rest_raw(Exchange::InstallationToken, Method::POST, "/x", None, None)
            .await
            .expect("GitHub answered");
        assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Two tries of 4 s and one pause of 50 ms plus at most 20% jitter.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(8_050) && took <= Duration::from_millis(8_060),
            "{took:?}"
        );
    }

    /// A deadline shorter than the pauses: 500s answered at once are still what the caller gets,
    /// and no pause outlasts the deadline.
    #[tokio::test(start_paused = true)]
    async fn a_short_deadline_keeps_the_server_error_too() {
        let (side, calls) = always_answering(
            StatusCode::INTERNAL_SERVER_ERROR,
            Duration::ZERO,
            Limits {
                timeout: Duration::from_millis(100),
                ..Limits::default()
            },
        );
        let started = tokio::time::Instant::now();
        let answer = side
            .rest_raw(Exchange::InstallationToken, Method::POST, "/x", None, None)
            .await
            .expect("GitHub answered");
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(started.elapsed() <= Duration::from_millis(100));
    }

    /// An answer GitHub sent whole but that is larger than the bound: the request was served
    /// (an installation token minted), so sending it again mints again and reads as much again.
    #[tokio::test(start_paused = true)]
    async fn an_answer_too_large_is_not_asked_for_again() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let side = side_over(
            move |_req| {
                counted.fetch_add(1, Ordering::SeqCst);
                async {
                    let mut created =
                        Response::new(http_body_util::Full::new(Bytes::from(vec![b'x'; 4096])));
                    *created.status_mut() = StatusCode::CREATED;
                    Ok(created)
                }
            },
            Limits {
                max_answer: 1024,
                ..Limits::default()
            },
        );
        let err = side
            .rest_raw(Exchange::InstallationToken, Method::POST, "/x", None, None)
            .await
            .err()
            .expect("too large");
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "mints at GitHub");
    }

    /// A refresh answered 502 late in the deadline: a second try that GitHub serves (spending the
    /// refresh token, rotating the pair) but whose answer the deadline cuts off loses the new
    /// pair. Before the tries, the 502 ended the exchange and nothing was spent.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_is_not_sent_again_where_its_answer_could_be_lost() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let served = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (s, c) = (Arc::clone(&served), Arc::clone(&calls));
        let side = side_over(
            move |_req| {
                let first = c.fetch_add(1, Ordering::SeqCst) == 0;
                let s = Arc::clone(&s);
                async move {
                    if first {
                        tokio::time::sleep(Duration::from_secs(6)).await;
                        // The edge failed before GitHub saw it: nothing spent.
                        let mut bad = Response::new(http_body_util::Full::new(Bytes::new()));
                        *bad.status_mut() = StatusCode::BAD_GATEWAY;
                        return Ok(bad);
                    }
                    // GitHub rotates the pair now; the answer would come later.
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(6)).await;
                    Ok(Response::new(http_body_util::Full::new(
                        Bytes::from_static(
                            br#"{"access_token":"ghu_new","refresh_token":"ghr_new"}"#,
                        ),
                    )))
                }
            },
            Limits::default(),
        );
        let form = [
            ("client_id", "Iv1.abc"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "ghr_old-refresh"),
        ];
        let result = side
            .oauth::<serde_json::Value>(Exchange::Refresh, "/login/oauth/access_token", &form)
            .await;
        let rotated_and_lost = served.load(Ordering::SeqCst) == 1 && result.is_err();
        assert!(
            !rotated_and_lost,
            "GitHub rotated the refresh token on try {} and the new pair was dropped: {:?}",
            calls.load(Ordering::SeqCst),
            result.err().map(|e| e.to_string())
        );
    }

    #[tokio::test]
    async fn answers_are_read_up_to_the_configured_size() {
        let big = |_req| async {
            Ok(Response::new(http_body_util::Full::new(Bytes::from(
                vec![b'x'; 4096],
            ))))
        };
        let small = side_over(
            big,
            Limits {
                max_answer: 1024,
                ..Limits::default()
            },
        );
        let err = small
            .rest_raw(Exchange::InstallationToken, Method::GET, "/x", None, None)
            .await
            .err()
            .expect("too large");
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        let roomy = side_over(big, Limits::default());
        let answer = roomy
            .rest_raw(Exchange::InstallationToken, Method::GET, "/x", None, None)
            .await
            .unwrap();
        assert_eq!(answer.body.len(), 4096);
    }
}
