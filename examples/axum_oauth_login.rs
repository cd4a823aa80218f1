//! "Sign in with GitHub" in an axum backend: the OAuth web flow, with `state` and PKCE, then
//! calls to GitHub as the signed-in user.
//!
//! - `GET /login` builds GitHub's authorize URL with a fresh random `state` and a PKCE challenge,
//!   keeps the [`AuthorizeState`] server-side under a random id sent to the browser as the
//!   `oauth_pending` cookie, and redirects to GitHub.
//! - `GET /callback?code&state` takes the pending state out (it is single-use, whatever the
//!   outcome), checks the returned `state` against it in constant time
//!   ([`AuthorizeState::finish`]; a forged, unknown or replayed one is a 400), exchanges the code
//!   through the shared HTTP client, keeps the user's [`OAuthTokenAuth`] in a session (the
//!   `session` cookie, `HttpOnly; SameSite=Lax`) and redirects to `/me`.
//! - `GET /me` calls GitHub's `GET /user` as the session's user through the [`OAuthTokenAuth`]
//!   layer and answers `{"login": ...}` (401 without a session).
//!
//! Run: `cargo run --example axum_oauth_login` (against the emulator, which approves at once as
//! `octocat`): it walks the flow once and prints each step; add `-- --serve` to keep serving,
//! then open `http://127.0.0.1:PORT/login` in a browser. Behind HTTPS, add `Secure` to the cookies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{
    AuthorizeState, ClientCredentials, Endpoints, OAuthAppAuth, OAuthTokenAuth,
};

/// The cookie naming the pending sign-in (between `/login` and `/callback`).
const PENDING_COOKIE: &str = "oauth_pending";
/// The cookie naming the signed-in session.
const SESSION_COOKIE: &str = "session";

/// What every handler shares: the OAuth client, the HTTP client, pending sign-ins and sessions.
#[derive(Debug)]
pub struct AppState {
    oauth_app: OAuthAppAuth,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Where GitHub sends users back: `{public_url}/callback`.
    redirect_uri: String,
    /// Sign-ins sent to GitHub and not back yet, by the `oauth_pending` cookie's id.
    pending: Mutex<HashMap<String, AuthorizeState>>,
    /// Signed-in users, by the `session` cookie's id.
    sessions: Mutex<HashMap<String, OAuthTokenAuth>>,
}

/// The backend's routes; `public_url` is where browsers reach it (`http://127.0.0.1:PORT`).
pub fn router(oauth_app: OAuthAppAuth, public_url: &str) -> axum::Router {
    let state = Arc::new(AppState {
        oauth_app,
        client: Client::builder(TokioExecutor::new()).build_http(),
        redirect_uri: format!("{}/callback", public_url.trim_end_matches('/')),
        pending: Mutex::default(),
        sessions: Mutex::default(),
    });
    axum::Router::new()
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/me", get(me))
        .with_state(state)
}

/// 32 random bytes, base64url: an unguessable id for a cookie.
fn random_id() -> String {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A cookie for this site only, out of scripts' reach, sent on top-level navigations (GitHub's
/// redirect back included).
fn cookie(name: &str, value: &str, max_age_secs: u32) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}")
}

/// The value of the request's cookie `name`.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Sends the browser to GitHub's authorize page, with a fresh `state` and PKCE challenge.
async fn login(State(state): State<Arc<AppState>>) -> Response {
    let (url, pending) = state
        .oauth_app
        .authorize_url()
        .redirect_uri(state.redirect_uri.clone())
        .scopes(["read:user"])
        .pkce()
        .build();
    let id = random_id();
    state
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone(), pending);
    (
        AppendHeaders([(SET_COOKIE, cookie(PENDING_COOKIE, &id, 600))]),
        Redirect::to(&url),
    )
        .into_response()
}

/// The query GitHub sends the browser back with.
#[derive(Debug, Deserialize)]
struct Callback {
    /// The code to exchange.
    code: Option<String>,
    /// The `state` put on the authorize URL, echoed back.
    state: Option<String>,
    /// Set instead of `code` when the user declined (`access_denied`).
    error: Option<String>,
}

/// Checks the returned `state`, exchanges the code and opens a session.
async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Result<Response, (StatusCode, String)> {
    // Taken out whatever happens next: a state is good for one callback only.
    let pending = cookie_value(&headers, PENDING_COOKIE).and_then(|id| {
        state
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    });
    let Some(pending) = pending else {
        return Err((
            StatusCode::BAD_REQUEST,
            "no sign-in pending for this browser (unknown, expired or already used): start at /login"
                .into(),
        ));
    };
    if let Some(error) = back.error {
        return Err((StatusCode::BAD_REQUEST, format!("GitHub answered {error}")));
    }
    let (Some(code), Some(returned_state)) = (back.code, back.state) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "the callback needs `code` and `state`".into(),
        ));
    };
    let user = pending
        .finish(&state.oauth_app, code, &returned_state)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("sign-in refused: {e}")))?
        .build();
    user.fetch_token(&state.client).await.map_err(|e| {
        (
            StatusCode::BAD_GATEWAY,
            format!("code exchange failed: {e}"),
        )
    })?;
    let user = user.token_auth();
    let session = random_id();
    state
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(session.clone(), user);
    Ok((
        AppendHeaders([
            (SET_COOKIE, cookie(SESSION_COOKIE, &session, 8 * 3600)),
            (SET_COOKIE, cookie(PENDING_COOKIE, "", 0)),
        ]),
        Redirect::to("/me"),
    )
        .into_response())
}

/// Who the session's user is, according to GitHub (`GET /user` as them).
async fn me(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let user = cookie_value(&headers, SESSION_COOKIE).and_then(|id| {
        state
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    });
    let Some(user) = user else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "not signed in: start at /login".into(),
        ));
    };
    let github = ServiceBuilder::new()
        .layer(user)
        .service(state.client.clone());
    let request = http::Request::get("/user")
        .body(Full::default())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = github
        .oneshot(request)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        return Err((code, String::from_utf8_lossy(&body).into_owned()));
    }
    let user: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(serde_json::json!({ "login": user["login"] })))
}

/// `name=value` of a response's `Set-Cookie` `name`.
#[allow(dead_code)] // The end-to-end test includes this file for `router` only.
fn set_cookie(response: &http::Response<hyper::body::Incoming>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, v)| k == name && !v.is_empty())
        })
        .map(str::to_owned)
}

#[allow(dead_code)] // The end-to-end test includes this file for `router` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use github_auth_emulator::{DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET};

    let github = github_auth_emulator::Emulator::builder().start().await?;
    let oauth_app = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url())?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let public_url = format!("http://{addr}");
    let app = router(oauth_app, &public_url);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "backend on {public_url} (GitHub emulator on {})",
        github.base_url()
    );

    // A browser, by hand: follow each redirect, carry the cookies. Codes, states and cookie
    // values are secrets: only their names are printed.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let get = |url: String, cookie: Option<String>| {
        let client = client.clone();
        async move {
            // Like a browser: GitHub refuses requests without a User-Agent.
            let mut request = http::Request::get(url).header(USER_AGENT, "example-browser");
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            client
                .request(request.body(Full::default())?)
                .await
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        }
    };
    let location = |response: &http::Response<hyper::body::Incoming>| {
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or("a redirect without Location")
    };

    let response = get(format!("{public_url}/login"), None).await?;
    let authorize = location(&response)?;
    let pending = set_cookie(&response, PENDING_COOKIE).ok_or("no oauth_pending cookie")?;
    println!(
        "1. GET /login -> {}: to GitHub's {} (state and PKCE challenge on it)",
        response.status(),
        authorize.split('?').next().unwrap_or_default()
    );

    let response = get(authorize, None).await?;
    let back = location(&response)?;
    println!(
        "2. GitHub approves as octocat -> {}: back to {} (code and state on it)",
        response.status(),
        back.split('?').next().unwrap_or_default()
    );

    let response = get(back, Some(pending)).await?;
    let next = location(&response)?;
    let session = set_cookie(&response, SESSION_COOKIE).ok_or("no session cookie")?;
    println!(
        "3. GET /callback -> {}: state checked, code exchanged, session cookie set, to {next}",
        response.status()
    );

    let response = get(format!("{public_url}{next}"), Some(session)).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("4. GET /me -> {status}: {}", String::from_utf8_lossy(&body));
    println!("code exchanges: {}", github.counters().oauth_code_exchanges);

    if std::env::args().any(|a| a == "--serve") {
        println!("serving until Ctrl-C: open {public_url}/login");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
