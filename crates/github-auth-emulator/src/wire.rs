//! What every route shares: the request read whole, its credential, REST refusals and JSON
//! answers, and the gate of the token endpoints.

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    body::{Body, Bytes},
    response::Response,
};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::forbidden::Forbidden;
use crate::ratelimit::Charge;
use crate::state::{Mutable, Shared, random_alnum};

/// Where GitHub's REST error answers point.
pub(crate) const REST_DOCS: &str = "https://docs.github.com/rest";

/// A request, read whole.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    /// The path as requested (with a `/api/v3` prefix if it had one).
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Option<String>,
    pub(crate) body: Bytes,
    /// What the request spent of its caller's rate limit, for its answer's headers.
    pub(crate) rate: Mutex<Option<Charge>>,
}

/// What the `Authorization` header carries.
pub(crate) enum Presented {
    /// No `Authorization` header.
    Nothing,
    /// `Bearer X` or `token X`.
    Token(String),
    /// `Basic base64(id:secret)`.
    Basic { id: String, secret: String },
    /// Anything else.
    Unreadable,
}

impl Incoming {
    /// The credential in the `Authorization` header.
    pub(crate) fn presented(&self) -> Presented {
        let Some(value) = self.headers.get(header::AUTHORIZATION) else {
            return Presented::Nothing;
        };
        let Ok(value) = value.to_str() else {
            return Presented::Unreadable;
        };
        let Some((scheme, rest)) = value.trim().split_once(' ') else {
            return Presented::Unreadable;
        };
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            if rest.is_empty() {
                return Presented::Unreadable;
            }
            return Presented::Token(rest.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            if let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return Presented::Basic {
                    id: id.to_owned(),
                    secret: secret.to_owned(),
                };
            }
        }
        Presented::Unreadable
    }

    /// Whether the client asked for JSON (`Accept: application/json`).
    pub(crate) fn wants_json(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("application/json"))
    }

    /// Whether the body is declared as JSON.
    pub(crate) fn json_body(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
    }
}

/// A REST refusal: status, GitHub's message, the reason it is counted under, and the headers
/// that say why (a 403's `X-Accepted-GitHub-Permissions`, ...).
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: Cow<'static, str>,
    pub(crate) reason: &'static str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refusal {
    pub(crate) const fn new(
        status: StatusCode,
        message: &'static str,
        reason: &'static str,
    ) -> Self {
        Self {
            status,
            message: Cow::Borrowed(message),
            reason,
            headers: Vec::new(),
        }
    }

    /// The refusal, answered with `name: value` too (left out if `value` is no header value).
    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    /// 401 `Bad credentials`.
    pub(crate) const fn bad_credentials(reason: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials", reason)
    }

    /// 404 `Not Found`.
    pub(crate) const fn not_found(reason: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", reason)
    }

    /// Counts the refusal (the caller holds the lock) and builds the answer.
    pub(crate) fn answer(self, state: &mut Mutable) -> Response {
        state.refuse(self.reason);
        let mut response = rest_error(self.status, &self.message);
        response.headers_mut().extend(self.headers);
        response
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A `{"message": ...}` answer, with `documentation_url` when given.
fn message(status: StatusCode, text: &str, docs: Option<&str>) -> Response {
    let mut body = json!({ "message": text });
    if let Some(docs) = docs {
        body["documentation_url"] = json!(docs);
        body["status"] = json!(status.as_u16().to_string());
    }
    json_response(status, &body)
}

/// GitHub's REST error shape: `{"message","documentation_url","status"}`.
pub(crate) fn rest_error(status: StatusCode, text: &str) -> Response {
    message(status, text, Some(REST_DOCS))
}

/// `204 No Content`.
pub(crate) fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `404 {"message":"Not Found",...}`.
pub(crate) fn not_found() -> Response {
    rest_error(StatusCode::NOT_FOUND, "Not Found")
}

/// The 403 of a request without a `User-Agent`.
pub(crate) fn forbidden_without_user_agent() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        None,
    )
}

/// A route that needs a credential, called without one.
pub(crate) const fn requires_authentication() -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "Requires authentication",
        "no_credentials",
    )
}

/// The answer to an injected failure.
pub(crate) fn injected_error() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "emulated server error",
        None,
    )
}

/// GitHub's message of a secondary rate limit.
pub(crate) const SECONDARY: &str =
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

/// The answer GitHub gives a valid credential for `why`.
/// `now` is the emulator's clock (the caller holds the lock).
pub(crate) fn forbidden(shared: &Shared, now: SystemTime, why: &Forbidden) -> Refusal {
    let reason = why.reason();
    match why {
        Forbidden::MissingPermission(permission) => Refusal::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            reason,
        )
        .with_header("x-accepted-github-permissions", permission),
        Forbidden::SsoRequired { org } => Refusal::new(
            StatusCode::FORBIDDEN,
            "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.",
            reason,
        )
        .with_header(
            "x-github-sso",
            &format!(
                "required; url={}/orgs/{org}/sso?authorization_request={}",
                shared.base_url,
                random_alnum(20)
            ),
        ),
        Forbidden::RateLimited => {
            let reset = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                .saturating_add(3600);
            Refusal::new(StatusCode::FORBIDDEN, "API rate limit exceeded.", reason)
                .with_header("x-ratelimit-limit", "5000")
                .with_header("x-ratelimit-remaining", "0")
                .with_header("x-ratelimit-used", "5000")
                .with_header("x-ratelimit-reset", &reset.to_string())
                .with_header("x-ratelimit-resource", "core")
        }
        Forbidden::SecondaryRateLimit { retry_after } => {
            Refusal::new(StatusCode::FORBIDDEN, SECONDARY, reason)
                .with_header("retry-after", &retry_after.as_secs().to_string())
        }
        Forbidden::TooManyRequests { retry_after } => {
            Refusal::new(StatusCode::TOO_MANY_REQUESTS, SECONDARY, reason)
                .with_header("retry-after", &retry_after.as_secs().to_string())
        }
    }
}

/// What every token endpoint does once the request is counted: wait out the latency, then maybe
/// fail on purpose (a 500, or a refusal such as a 429 with `Retry-After`). `Some` is the answer
/// to give instead of the real one.
pub(crate) async fn token_endpoint_gate(shared: &Shared) -> Option<Response> {
    let latency = shared.lock().knobs.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut state = shared.lock();
    if state.knobs.fail_next > 0 {
        state.knobs.fail_next -= 1;
        state.refuse("injected_error");
        return Some(injected_error());
    }
    let now = shared.wall_at(state.knobs.clock_offset);
    if let Some((left, why)) = &mut state.knobs.refuse_next_exchanges {
        let refusal = forbidden(shared, now, why);
        *left = left.saturating_sub(1);
        if *left == 0 {
            state.knobs.refuse_next_exchanges = None;
        }
        return Some(refusal.answer(&mut state));
    }
    None
}
