//! The HTTP side: serving, routing, the checks every request goes through, and answer helpers.

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    response::Response,
};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::watch};

use crate::{api, oauth, state::Shared};

/// Largest request body read.
const BODY_LIMIT: usize = 1 << 20;

/// Where GitHub's REST error answers point.
pub(crate) const REST_DOCS: &str = "https://docs.github.com/rest";

/// Serves until the stop signal turns true or its sender is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let router = Router::new().fallback(entry).with_state(shared);
    let signal = async move {
        // An error means the handle is gone: stop as well.
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .await
    {
        tracing::warn!(%err, "github-auth-emulator stopped with an error");
    }
}

/// Every request: dispatch, then stamp the emulator's `Date`.
async fn entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let mut response = dispatch(&shared, req).await;
    let date = httpdate::fmt_http_date(shared.now_wall());
    if let Ok(value) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

async fn dispatch(shared: &Shared, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    {
        let mut state = shared.lock();
        state.counters.requests += 1;
        if !parts.headers.contains_key(header::USER_AGENT) {
            state.counters.requests_without_user_agent += 1;
            state.refuse("no_user_agent");
            return message(
                StatusCode::FORBIDDEN,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
                None,
            );
        }
    }
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        shared.lock().refuse("body_too_large");
        return rest_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let path = parts.uri.path().to_owned();
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // GitHub Enterprise Server's API lives under /api/v3: accept that spelling too.
    if segments.starts_with(&["api", "v3"]) {
        segments.drain(..2);
    }
    let req = Incoming {
        method: parts.method,
        headers: parts.headers,
        query: parts.uri.query().map(str::to_owned),
        body,
    };

    match (&req.method, segments.as_slice()) {
        (&Method::GET, ["app"]) => api::get_app(shared, &req),
        (&Method::GET, ["app", "installations"]) => api::list_installations(shared, &req),
        (&Method::GET, ["app", "installations", id]) => api::get_installation(shared, &req, id),
        (&Method::POST, ["app", "installations", id, "access_tokens"]) => {
            api::access_tokens(shared, &req, id).await
        }
        (&Method::GET, ["repos", owner, repo, "installation"]) => {
            api::repo_installation(shared, &req, owner, repo)
        }
        (&Method::GET, ["orgs", org, "installation"]) => api::org_installation(shared, &req, org),
        (&Method::GET, ["users", user, "installation"]) => {
            api::user_installation(shared, &req, user)
        }
        (&Method::GET, ["user"]) => api::get_user(shared, &req),
        (&Method::GET, ["installation", "repositories"]) => {
            api::installation_repositories(shared, &req)
        }
        (&Method::GET, ["repos", owner, repo]) => api::get_repo(shared, &req, owner, repo),
        (&Method::GET, ["login", "oauth", "authorize"]) => oauth::authorize(shared, &req),
        (&Method::POST, ["login", "oauth", "access_token"]) => {
            oauth::access_token(shared, &req).await
        }
        (&Method::POST, ["login", "device", "code"]) => oauth::device_code(shared, &req),
        (&Method::GET, ["login", "device"]) => oauth::device_page(shared),
        (
            &Method::POST | &Method::PATCH | &Method::DELETE,
            ["applications", client_id, "token"],
        ) => oauth::application_token(shared, &req, client_id),
        _ => {
            shared.lock().refuse("unknown_route");
            not_found()
        }
    }
}

/// A request, read whole.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Option<String>,
    pub(crate) body: Bytes,
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

/// A REST refusal: status, GitHub's message, and the reason it is counted under.
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: &'static str,
    pub(crate) reason: &'static str,
}

impl Refusal {
    pub(crate) const fn new(
        status: StatusCode,
        message: &'static str,
        reason: &'static str,
    ) -> Self {
        Self {
            status,
            message,
            reason,
        }
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
    pub(crate) fn answer(self, state: &mut crate::state::Mutable) -> Response {
        state.refuse(self.reason);
        rest_error(self.status, self.message)
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

/// `404 {"message":"Not Found",...}`.
pub(crate) fn not_found() -> Response {
    rest_error(StatusCode::NOT_FOUND, "Not Found")
}

/// The answer to an injected failure.
pub(crate) fn injected_error() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "emulated server error",
        None,
    )
}

/// What every token endpoint does once the request is counted: wait out the latency, then maybe
/// fail on purpose. `Some` is the answer to give instead of the real one.
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
    None
}
