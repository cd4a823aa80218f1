//! The top of the HTTP side: serving, the checks every request goes through, and the routes.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    response::Response,
};
use http::{HeaderValue, Method, StatusCode, header};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    api, apps, manifest, oauth,
    state::Shared,
    wire::{Incoming, forbidden_without_user_agent, not_found, rest_error},
};

/// Largest request body read.
const BODY_LIMIT: usize = 1 << 20;

/// Which host a listener plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    /// The API and web host; `uploads_elsewhere` when a separate listener plays the uploads
    /// host (then asset uploads are refused here, except under GHES's `/api/uploads`).
    Main { uploads_elsewhere: bool },
    /// The uploads host (`uploads.github.com`): the asset upload route only.
    Uploads,
}

/// Serves until the stop signal turns true or its sender is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    host: Host,
    mut stop: watch::Receiver<bool>,
) {
    let router = Router::new().fallback(entry).with_state((shared, host));
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

/// GitHub's id of each answer.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-github-request-id");

/// Every request: dispatch, then stamp the emulator's `Date` and a request id.
async fn entry(State((shared, host)): State<(Arc<Shared>, Host)>, req: Request) -> Response {
    let mut response = dispatch(&shared, host, req).await;
    let date = httpdate::fmt_http_date(shared.now_wall());
    if let Ok(value) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, value);
    }
    // GitHub names every answer with a request id (its support asks for it); so does the
    // emulator, unique per answer: the count of requests, in GitHub's colon-separated hex shape.
    let served = shared.lock().counters.requests;
    let id = format!(
        "E0E0:{:X}:{:06X}:{:06X}",
        std::process::id(),
        served >> 24,
        served & 0xFF_FFFF
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

async fn dispatch(shared: &Shared, host: Host, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    {
        let mut state = shared.lock();
        state.counters.requests += 1;
        let Some(user_agent) = parts.headers.get(header::USER_AGENT) else {
            state.counters.requests_without_user_agent += 1;
            state.refuse("no_user_agent");
            return forbidden_without_user_agent();
        };
        state.saw_user_agent(&String::from_utf8_lossy(user_agent.as_bytes()));
    }
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        shared.lock().refuse("body_too_large");
        return rest_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let path = parts.uri.path().to_owned();
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // GitHub Enterprise Server's API lives under /api/v3 and its uploads under /api/uploads:
    // accept those spellings too. The uploads host (or prefix) has the upload route only.
    let (mut uploads_only, uploads_here) = match host {
        Host::Main { uploads_elsewhere } => (false, !uploads_elsewhere),
        Host::Uploads => (true, true),
    };
    if segments.starts_with(&["api", "v3"]) {
        segments.drain(..2);
    } else if !uploads_only && segments.starts_with(&["api", "uploads"]) {
        segments.drain(..2);
        uploads_only = true;
    }
    let req = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        query: parts.uri.query().map(str::to_owned),
        body,
        rate: std::sync::Mutex::new(None),
    };
    let mut response = route(shared, &req, &segments, uploads_only, uploads_here).await;
    // The token routes spend their caller's rate limit: the answer says what is left.
    let charge = req
        .rate
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(charge) = charge {
        charge.stamp(response.headers_mut());
    }
    response
}

/// The route `segments` names (its `/api/v3` or `/api/uploads` prefix taken off).
async fn route(
    shared: &Shared,
    req: &Incoming,
    segments: &[&str],
    uploads_only: bool,
    uploads_here: bool,
) -> Response {
    if (uploads_only || uploads_here)
        && let (&Method::POST, ["repos", owner, repo, "releases", id, "assets"]) =
            (&req.method, segments)
    {
        return api::upload_release_asset(shared, req, owner, repo, id);
    }
    if uploads_only {
        shared.lock().refuse("unknown_route");
        return not_found();
    }
    match (&req.method, segments) {
        (&Method::POST, ["graphql"]) if req.path.trim_end_matches('/') != "/api/v3/graphql" => {
            api::graphql(shared, req)
        }
        (&Method::POST, ["api", "graphql"]) => api::graphql(shared, req),
        (&Method::GET, ["app"]) => apps::get_app(shared, req),
        (&Method::GET, ["app", "installations"]) => apps::list_installations(shared, req),
        (&Method::GET, ["app", "installations", id]) => apps::get_installation(shared, req, id),
        (&Method::POST, ["app", "installations", id, "access_tokens"]) => {
            apps::access_tokens(shared, req, id).await
        }
        (&Method::GET, ["repos", owner, repo, "installation"]) => {
            apps::repo_installation(shared, req, owner, repo)
        }
        (&Method::GET, ["orgs", org, "installation"]) => apps::org_installation(shared, req, org),
        (&Method::GET, ["users", user, "installation"]) => {
            apps::user_installation(shared, req, user)
        }
        (&Method::GET, ["enterprises", enterprise, "installation"]) => {
            apps::enterprise_installation(shared, req, enterprise)
        }
        (&Method::POST, ["app-manifests", code, "conversions"]) => {
            manifest::conversion(shared, code)
        }
        (&Method::DELETE, ["installation", "token"]) => api::revoke_installation_token(shared, req),
        (&Method::GET, ["user"]) => api::get_user(shared, req),
        (&Method::GET, ["installation", "repositories"]) => {
            api::installation_repositories(shared, req)
        }
        (&Method::GET, ["repos", owner, repo]) => api::get_repo(shared, req, owner, repo),
        (&Method::GET, ["repos", owner, repo, "issues"]) => {
            api::list_issues(shared, req, owner, repo)
        }
        (&Method::POST, ["repos", owner, repo, "issues", number, "comments"]) => {
            api::create_issue_comment(shared, req, owner, repo, number)
        }
        (&Method::GET, ["login", "oauth", "authorize"]) => oauth::authorize(shared, req),
        (&Method::POST, ["login", "oauth", "access_token"]) => {
            oauth::access_token(shared, req).await
        }
        (&Method::POST, ["login", "device", "code"]) => oauth::device_code(shared, req),
        (&Method::GET, ["login", "device"]) => oauth::device_page(shared),
        (
            &Method::POST | &Method::PATCH | &Method::DELETE,
            ["applications", client_id, "token"],
        ) => oauth::application_token(shared, req, client_id),
        (&Method::DELETE, ["applications", client_id, "grant"]) => {
            oauth::delete_grant(shared, req, client_id)
        }
        _ => {
            shared.lock().refuse("unknown_route");
            not_found()
        }
    }
}
