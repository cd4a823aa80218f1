//! The web (OAuth) side: authorize, the token endpoint and its grants, the device flow, and the
//! `/applications/{client_id}/token` management routes.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use axum::{body::Body, response::Response};
use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::{
    config::DeviceOutcome,
    defaults::DEFAULT_LOGIN,
    objects,
    state::{
        CODE_LIFETIME, Client, ClientKind, Code, Device, Mutable, Refresh, Shared, Token,
        TokenKind, random_alnum, random_from, rfc3339,
    },
    wire::{
        self, Incoming, Presented, Refusal, json_response, no_content, requires_authentication,
    },
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const OAUTH_ERRORS_DOCS: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/";
const DEVICE_ERRORS_DOCS: &str = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow";

/// The request's parameters: the query string, then the body (form or JSON) on top.
fn params(req: &Incoming) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    if let Some(query) = &req.query
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
    {
        params.extend(pairs);
    }
    let body = req.body.trim_ascii();
    if body.is_empty() {
        return params;
    }
    if req.json_body() || body.starts_with(b"{") {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            for (key, value) in map {
                match value {
                    Value::String(s) => {
                        params.insert(key, s);
                    }
                    Value::Null => {}
                    other => {
                        params.insert(key, other.to_string());
                    }
                }
            }
        }
    } else if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        params.extend(pairs);
    }
    params
}

/// Scopes as GitHub reports them: split on spaces or commas.
fn split_scopes(scope: Option<&String>) -> Vec<String> {
    scope
        .map(|s| {
            s.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A 200 answer of the OAuth endpoints, JSON or form-encoded after the request's `Accept`.
fn oauth_answer(json: bool, fields: &Map<String, Value>) -> Response {
    if json {
        return json_response(StatusCode::OK, &Value::Object(fields.clone()));
    }
    let pairs: Vec<(&str, String)> = fields
        .iter()
        .filter_map(|(key, value)| match value {
            Value::Null => None,
            Value::String(s) => Some((key.as_str(), s.clone())),
            other => Some((key.as_str(), other.to_string())),
        })
        .collect();
    let mut response = Response::new(Body::from(
        serde_urlencoded::to_string(pairs).unwrap_or_default(),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    response
}

/// An OAuth error: the `error` code, and the new interval for `slow_down`.
struct OAuthError {
    error: &'static str,
    interval: Option<u64>,
}

impl OAuthError {
    const fn new(error: &'static str) -> Self {
        Self {
            error,
            interval: None,
        }
    }

    /// Counts the refusal under the error code and builds the (HTTP 200) answer.
    fn answer(self, state: &mut Mutable, json: bool) -> Response {
        state.refuse(self.error);
        let (description, uri) = match self.error {
            "bad_verification_code" => (
                "The code passed is incorrect or expired.",
                format!("{OAUTH_ERRORS_DOCS}#bad-verification-code"),
            ),
            "incorrect_client_credentials" => (
                "The client_id and/or client_secret passed are incorrect.",
                format!("{OAUTH_ERRORS_DOCS}#incorrect-client-credentials"),
            ),
            "redirect_uri_mismatch" => (
                "The redirect_uri MUST match the registered callback URL for this application.",
                format!("{OAUTH_ERRORS_DOCS}#redirect-uri-mismatch"),
            ),
            "bad_refresh_token" => (
                "The refresh token passed is incorrect or expired.",
                format!("{OAUTH_ERRORS_DOCS}#bad-refresh-token"),
            ),
            "unsupported_grant_type" => (
                "The grant type is not supported.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "authorization_pending" => (
                "The authorization request is still pending.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "slow_down" => (
                "Too many requests have been made in the same timeframe.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "expired_token" => (
                "The device code has expired.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "access_denied" => (
                "The authorization request was denied.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "incorrect_device_code" => (
                "The device_code provided is not valid.",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            "device_flow_disabled" => (
                "Device Flow must be explicitly enabled for this App",
                DEVICE_ERRORS_DOCS.to_owned(),
            ),
            _ => ("The request was refused.", OAUTH_ERRORS_DOCS.to_owned()),
        };
        let mut fields = Map::new();
        fields.insert("error".into(), json!(self.error));
        fields.insert("error_description".into(), json!(description));
        fields.insert("error_uri".into(), json!(uri));
        if let Some(interval) = self.interval {
            fields.insert("interval".into(), json!(interval));
        }
        oauth_answer(json, &fields)
    }
}

const INCORRECT_CLIENT: OAuthError = OAuthError::new("incorrect_client_credentials");
const BAD_CODE: OAuthError = OAuthError::new("bad_verification_code");
const BAD_REFRESH: OAuthError = OAuthError::new("bad_refresh_token");
const BAD_DEVICE_CODE: OAuthError = OAuthError::new("incorrect_device_code");
const EXPIRED: OAuthError = OAuthError::new("expired_token");

/// `GET /login/oauth/authorize`: the user approves at once, and is sent back with a code.
pub(crate) fn authorize(shared: &Shared, req: &Incoming) -> Response {
    let params = params(req);
    let mut state = shared.lock();
    let Some(client) = params.get("client_id").and_then(|id| state.client(id)) else {
        return Refusal::not_found("unknown_client").answer(&mut state);
    };
    let login = params
        .get("login")
        .and_then(|login| state.find_user(login))
        .map_or_else(|| DEFAULT_LOGIN.to_owned(), |i| state.users[i].clone());
    let challenge = params.get("code_challenge").map(|challenge| {
        let method = params
            .get("code_challenge_method")
            .map_or("S256", String::as_str);
        (challenge.clone(), method.to_owned())
    });
    let code = random_alnum(20);
    state.codes.insert(
        code.clone(),
        Code {
            login,
            client_id: Some(client.id.clone()),
            redirect_uri: params.get("redirect_uri").cloned(),
            challenge,
            scopes: split_scopes(params.get("scope")),
            expires: Some(Instant::now() + CODE_LIFETIME),
            used: false,
        },
    );
    drop(state);

    let mut back = vec![("code", code.as_str())];
    if let Some(st) = params.get("state") {
        back.push(("state", st));
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        // No callback registered in the emulator: show the code instead of redirecting.
        let fields: Map<String, Value> =
            back.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
        return json_response(StatusCode::OK, &Value::Object(fields));
    };
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect_uri}{separator}{}",
        serde_urlencoded::to_string(&back).unwrap_or_default()
    );
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => wire::rest_error(StatusCode::BAD_REQUEST, "Invalid redirect_uri"),
    }
}

/// The grant a token-endpoint request asks for.
#[derive(Clone, Copy)]
enum Grant {
    Code,
    Refresh,
    Device,
    Unsupported,
}

/// `POST /login/oauth/access_token`.
pub(crate) async fn access_token(shared: &Shared, req: &Incoming) -> Response {
    let params = params(req);
    let (basic_id, basic_secret) = match req.presented() {
        Presented::Basic { id, secret } => (Some(id), Some(secret)),
        _ => (None, None),
    };
    let client_id = params.get("client_id").cloned().or(basic_id);
    let client_secret = params.get("client_secret").cloned().or(basic_secret);
    let grant = match params.get("grant_type").map(String::as_str) {
        None | Some("authorization_code") => Grant::Code,
        Some("refresh_token") => Grant::Refresh,
        Some(DEVICE_GRANT) => Grant::Device,
        Some(_) => Grant::Unsupported,
    };
    {
        let mut state = shared.lock();
        let counters = &mut state.counters;
        counters.token_endpoint_requests += 1;
        match grant {
            Grant::Code => counters.oauth_code_exchanges += 1,
            Grant::Refresh => counters.refresh_attempts += 1,
            Grant::Device => counters.device_polls += 1,
            Grant::Unsupported => {}
        }
    }
    if let Some(answer) = wire::token_endpoint_gate(shared).await {
        return answer;
    }

    let mut state = shared.lock();
    let client = client_id.as_deref().and_then(|id| state.client(id));
    let result = match (grant, client) {
        (Grant::Unsupported, _) => Err(OAuthError::new("unsupported_grant_type")),
        (_, None) => Err(INCORRECT_CLIENT),
        (Grant::Code, Some(client)) => code_grant(
            shared,
            &mut state,
            &params,
            &client,
            client_secret.as_deref(),
        ),
        (Grant::Refresh, Some(client)) => refresh_grant(
            shared,
            &mut state,
            &params,
            &client,
            client_secret.as_deref(),
        ),
        (Grant::Device, Some(client)) => device_grant(
            shared,
            &mut state,
            &params,
            &client,
            client_secret.as_deref(),
        ),
    };
    match result {
        Ok(fields) => oauth_answer(req.wants_json(), &fields),
        Err(error) => error.answer(&mut state, req.wants_json()),
    }
}

/// The code grant of the web flow.
fn code_grant(
    shared: &Shared,
    state: &mut Mutable,
    params: &BTreeMap<String, String>,
    client: &Client,
    secret: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    if secret != Some(client.secret.as_str()) {
        return Err(INCORRECT_CLIENT);
    }
    let now = Instant::now();
    let code = params
        .get("code")
        .and_then(|code| state.codes.get_mut(code))
        .filter(|code| {
            !code.used
                && code.expires.is_none_or(|at| now < at)
                && code.client_id.as_deref().is_none_or(|id| id == client.id)
        })
        .ok_or(BAD_CODE)?;
    if let (Some(issued), Some(given)) = (&code.redirect_uri, params.get("redirect_uri"))
        && issued != given
    {
        return Err(OAuthError::new("redirect_uri_mismatch"));
    }
    if let Some((challenge, method)) = &code.challenge {
        let verifier = params.get("code_verifier").ok_or(BAD_CODE)?;
        let computed = if method.eq_ignore_ascii_case("plain") {
            verifier.clone()
        } else {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        };
        if computed != *challenge {
            return Err(BAD_CODE);
        }
    }
    code.used = true;
    let (login, scopes) = (code.login.clone(), code.scopes.clone());
    Ok(issue_user_token(
        shared, state, client, &login, scopes, false,
    ))
}

/// The `refresh_token` grant: rotates the pair.
fn refresh_grant(
    shared: &Shared,
    state: &mut Mutable,
    params: &BTreeMap<String, String>,
    client: &Client,
    secret: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    let now = Instant::now();
    let given = params.get("refresh_token").ok_or(BAD_REFRESH)?;
    if state.revoked.contains(given) {
        return Err(BAD_REFRESH);
    }
    let refresh = state
        .refresh_tokens
        .get_mut(given)
        .filter(|r| !r.spent && now < r.expires && r.client_id == client.id)
        .ok_or(BAD_REFRESH)?;
    // Tokens from the device flow refresh without the secret; a secret sent must still be right.
    let secret_ok = match secret {
        Some(secret) => secret == client.secret,
        None => refresh.from_device,
    };
    if !secret_ok {
        return Err(INCORRECT_CLIENT);
    }
    refresh.spent = true;
    let old_access = refresh.access_token.clone();
    let (login, scopes, from_device) = (
        refresh.login.clone(),
        refresh.scopes.clone(),
        refresh.from_device,
    );
    state.revoked.insert(old_access);
    state.counters.refreshes += 1;
    Ok(issue_user_token(
        shared,
        state,
        client,
        &login,
        scopes,
        from_device,
    ))
}

/// The device-code grant: one poll.
fn device_grant(
    shared: &Shared,
    state: &mut Mutable,
    params: &BTreeMap<String, String>,
    client: &Client,
    secret: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    if secret.is_some_and(|s| s != client.secret) {
        return Err(INCORRECT_CLIENT);
    }
    let now = Instant::now();
    let device = params
        .get("device_code")
        .and_then(|code| state.devices.get_mut(code))
        .ok_or(BAD_DEVICE_CODE)?;
    if device.client_id != client.id {
        return Err(INCORRECT_CLIENT);
    }
    if device.redeemed {
        return Err(BAD_DEVICE_CODE);
    }
    if now >= device.expires {
        return Err(EXPIRED);
    }
    let slow_down = |device: &mut Device| {
        device.interval += 5;
        device.last_poll = Some(now);
        OAuthError {
            error: "slow_down",
            interval: Some(device.interval),
        }
    };
    if state.knobs.device_slow_down > 0 {
        state.knobs.device_slow_down -= 1;
        return Err(slow_down(device));
    }
    if let Some(last) = device.last_poll
        && now.saturating_duration_since(last) < Duration::from_secs(device.interval)
    {
        state.counters.device_polls_too_fast += 1;
        return Err(slow_down(device));
    }
    device.last_poll = Some(now);
    match state.knobs.device_outcome {
        DeviceOutcome::Deny => Err(OAuthError::new("access_denied")),
        DeviceOutcome::Expire => Err(EXPIRED),
        DeviceOutcome::Disabled => Err(OAuthError::new("device_flow_disabled")),
        DeviceOutcome::ForeverPending => Err(OAuthError::new("authorization_pending")),
        DeviceOutcome::ApproveAfter(n) => {
            device.polls += 1;
            if device.polls < n {
                return Err(OAuthError::new("authorization_pending"));
            }
            device.redeemed = true;
            let scopes = device.scopes.clone();
            Ok(issue_user_token(
                shared,
                state,
                client,
                DEFAULT_LOGIN,
                scopes,
                true,
            ))
        }
    }
}

/// Mints a user token (and a refresh token for an expiring GitHub App token); the success body.
fn issue_user_token(
    shared: &Shared,
    state: &mut Mutable,
    client: &Client,
    login: &str,
    scopes: Vec<String>,
    from_device: bool,
) -> Map<String, Value> {
    let now = Instant::now();
    let wall = shared.wall_at(state.knobs.clock_offset);
    let mut fields = Map::new();
    let (access, expiry) = match client.kind {
        ClientKind::App => {
            let access = format!("ghu_{}", random_alnum(36));
            if shared.expiring_user_tokens {
                let ttl = state.knobs.user_token_ttl;
                let refresh_ttl = state.knobs.refresh_token_ttl;
                let refresh = format!("ghr_{}", random_alnum(76));
                state.refresh_tokens.insert(
                    refresh.clone(),
                    Refresh {
                        access_token: access.clone(),
                        client_id: client.id.clone(),
                        login: login.to_owned(),
                        scopes: scopes.clone(),
                        from_device,
                        expires: now + refresh_ttl,
                        spent: false,
                    },
                );
                fields.insert("expires_in".into(), json!(ttl.as_secs()));
                fields.insert("refresh_token".into(), json!(refresh));
                fields.insert(
                    "refresh_token_expires_in".into(),
                    json!(refresh_ttl.as_secs()),
                );
                (access, Some(ttl))
            } else {
                (access, None)
            }
        }
        ClientKind::OAuth => (format!("gho_{}", random_alnum(36)), None),
    };
    let scope = match client.kind {
        ClientKind::App => String::new(),
        ClientKind::OAuth => scopes.join(","),
    };
    fields.insert("access_token".into(), json!(access));
    fields.insert("token_type".into(), json!("bearer"));
    fields.insert("scope".into(), json!(scope));
    let record = Token {
        id: state.token_id(),
        kind: TokenKind::User {
            login: login.to_owned(),
            client_id: client.id.clone(),
            scopes,
        },
        expires: expiry.map(|ttl| now + ttl),
        expires_at: expiry.map(|ttl| wall + ttl),
        created_at: wall,
        lagging: false,
        lagging_403: 0,
    };
    state.tokens.insert(access, record);
    fields
}

/// `POST /login/device/code`.
pub(crate) fn device_code(shared: &Shared, req: &Incoming) -> Response {
    let params = params(req);
    let json = req.wants_json();
    let mut state = shared.lock();
    state.counters.device_code_requests += 1;
    let Some(client) = params.get("client_id").and_then(|id| state.client(id)) else {
        return INCORRECT_CLIENT.answer(&mut state, json);
    };
    if state.knobs.device_outcome == DeviceOutcome::Disabled {
        return OAuthError::new("device_flow_disabled").answer(&mut state, json);
    }
    let device_code = random_from(b"0123456789abcdef", 40);
    let letters = b"BCDFGHJKLMNPQRSTVWXZ";
    let user_code = format!("{}-{}", random_from(letters, 4), random_from(letters, 4));
    let interval = state.knobs.device_interval;
    let expires_in = state.knobs.device_expires_in;
    state.devices.insert(
        device_code.clone(),
        Device {
            client_id: client.id.clone(),
            scopes: split_scopes(params.get("scope")),
            expires: Instant::now() + Duration::from_secs(expires_in),
            interval,
            last_poll: None,
            polls: 0,
            redeemed: false,
        },
    );
    let mut fields = Map::new();
    fields.insert("device_code".into(), json!(device_code));
    fields.insert("user_code".into(), json!(user_code));
    fields.insert(
        "verification_uri".into(),
        json!(format!("{}/login/device", shared.base_url)),
    );
    fields.insert("expires_in".into(), json!(expires_in));
    fields.insert("interval".into(), json!(interval));
    oauth_answer(json, &fields)
}

/// `GET /login/device`: where a person would type the user code.
pub(crate) fn device_page(shared: &Shared) -> Response {
    let outcome = shared.lock().knobs.device_outcome;
    let mut page = String::from(
        "<!doctype html><title>Device activation</title><h1>github-auth-emulator</h1>",
    );
    let _ = write!(
        page,
        "<p>Nothing to type here: the emulated user answers every device code by itself ({outcome:?}).</p>"
    );
    let mut response = Response::new(Body::from(page));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The checks of the `/applications/{client_id}/...` routes: `Basic` credentials of that client,
/// and a JSON body naming an `access_token`. Answers the client and the token.
fn application_request(
    state: &Mutable,
    req: &Incoming,
    client_id: &str,
) -> Result<(Client, String), Refusal> {
    let client = state
        .client(client_id)
        .ok_or(Refusal::not_found("unknown_client"))?;
    match req.presented() {
        Presented::Basic { id, secret } => {
            if state.client(&id).is_none_or(|c| c.secret != secret) {
                return Err(Refusal::bad_credentials("incorrect_client_credentials"));
            }
            if id != client.id {
                return Err(Refusal::not_found("client_mismatch"));
            }
        }
        _ => return Err(requires_authentication()),
    }
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|body| body.get("access_token")?.as_str().map(str::to_owned))
        .map(|token| (client, token))
        .ok_or(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"access_token\" wasn't supplied.",
            "validation_failed",
        ))
}

/// Whether `token` is a live user token of `client`.
fn is_live_user_token(state: &Mutable, token: &str, client: &Client) -> bool {
    let now = Instant::now();
    !state.revoked.contains(token)
        && state.tokens.get(token).is_some_and(|t| {
            matches!(&t.kind, TokenKind::User { client_id, .. } if *client_id == client.id)
                && t.expires.is_none_or(|at| now < at)
        })
}

/// `POST`/`PATCH`/`DELETE /applications/{client_id}/token`: check, reset, delete a user token.
pub(crate) fn application_token(shared: &Shared, req: &Incoming, client_id: &str) -> Response {
    let mut state = shared.lock();
    let (client, given) = match application_request(&state, req, client_id) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.answer(&mut state),
    };
    if !is_live_user_token(&state, &given, &client) {
        return Refusal::not_found("token_not_found").answer(&mut state);
    }

    if req.method == http::Method::DELETE {
        state.revoked.insert(given);
        return no_content();
    }
    let token = if req.method == http::Method::PATCH {
        let fresh = format!("{}{}", &given[..given.len().min(4)], random_alnum(36));
        if let Some(record) = state.tokens.get(&given).cloned() {
            state.tokens.insert(fresh.clone(), record);
        }
        for refresh in state.refresh_tokens.values_mut() {
            if refresh.access_token == given {
                refresh.access_token.clone_from(&fresh);
            }
        }
        state.revoked.insert(given);
        fresh
    } else {
        given
    };
    let body = authorization_json(shared, &mut state, &token, &client);
    json_response(StatusCode::OK, &body)
}

/// `DELETE /applications/{client_id}/grant`: the user takes back the grant of the app, given one
/// of its tokens: every token of that user for that client stops working, refresh tokens too (204).
pub(crate) fn delete_grant(shared: &Shared, req: &Incoming, client_id: &str) -> Response {
    let mut state = shared.lock();
    let (client, given) = match application_request(&state, req, client_id) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.answer(&mut state),
    };
    if !is_live_user_token(&state, &given, &client) {
        return Refusal::not_found("token_not_found").answer(&mut state);
    }
    let Some(TokenKind::User { login, .. }) = state.tokens.get(&given).map(|t| t.kind.clone())
    else {
        return Refusal::not_found("token_not_found").answer(&mut state);
    };
    let granted = |kind: &TokenKind| matches!(kind, TokenKind::User { login: l, client_id: c, .. } if *l == login && *c == client.id);
    let access: Vec<String> = state
        .tokens
        .iter()
        .filter(|(_, t)| granted(&t.kind))
        .map(|(token, _)| token.clone())
        .collect();
    let refresh: Vec<String> = state
        .refresh_tokens
        .iter()
        .filter(|(_, r)| r.client_id == client.id && r.login == login)
        .map(|(token, _)| token.clone())
        .collect();
    state.revoked.extend(access);
    state.revoked.extend(refresh);
    state.counters.grants_deleted += 1;
    no_content()
}

/// GitHub's "authorization" object for a user token.
fn authorization_json(shared: &Shared, state: &mut Mutable, token: &str, client: &Client) -> Value {
    let Some(record) = state.tokens.get(token).cloned() else {
        return Value::Null;
    };
    let TokenKind::User { login, scopes, .. } = &record.kind else {
        return Value::Null;
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let hashed = digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
    let user = objects::simple_user(shared, state, login);
    json!({
        "id": record.id,
        "url": format!("{}/authorizations/{}", shared.base_url, record.id),
        "scopes": scopes,
        "token": token,
        "token_last_eight": &token[token.len().saturating_sub(8)..],
        "hashed_token": hashed,
        "app": {
            "client_id": client.id,
            "name": if client.kind == ClientKind::App { "Emulator App" } else { "Emulator OAuth App" },
            "url": shared.base_url,
        },
        "note": null,
        "note_url": null,
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.created_at),
        "fingerprint": null,
        "expires_at": record.expires_at.map(rfc3339),
        "user": user,
        "installation": null,
    })
}
