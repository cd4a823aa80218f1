//! The routes that take the app's JWT: `GET /app`, its installations and their look-ups by
//! repository, organization, user or enterprise, and minting installation tokens.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::{
    config::{AccountType, TokenFormat},
    jwt, objects,
    paging::{Page, with_link},
    state::{
        InstallationRecord, Shared, Token, TokenKind, random_alnum, rank, rfc3339, stateless_token,
    },
    wire::{self, Incoming, Refusal, json_response},
};

const REPO_NOT_IN_INSTALLATION: &str = "There is at least one repository that does not exist or is not accessible to the parent installation.";
const PERMISSION_NOT_GRANTED: &str =
    "The permissions requested are not granted to this installation.";

/// `GET /app`: the app the JWT is of.
pub(crate) fn get_app(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let app_id = match jwt::require_jwt(shared, req, &mut state) {
        Ok(app_id) => app_id,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let body = objects::app(shared, &mut state, app_id);
    json_response(StatusCode::OK, &body)
}

/// `GET /app/installations`: the app's installations, a page at a time.
pub(crate) fn list_installations(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let app_id = match jwt::require_jwt(shared, req, &mut state) {
        Ok(app_id) => app_id,
        Err(refusal) => return refusal.answer(&mut state),
    };
    // Positions, not copies: only the page's installations are copied (an App with 10,000
    // installations is listed in 100 pages without copying all of them for each).
    let positions: Vec<usize> = state
        .installations
        .iter()
        .enumerate()
        .filter(|(_, inst)| inst.app_id == app_id)
        .map(|(position, _)| position)
        .collect();
    let page = Page::of(req);
    let on_page: Vec<InstallationRecord> = page
        .slice(&positions)
        .iter()
        .map(|&position| state.installations[position].clone())
        .collect();
    let list: Vec<Value> = on_page
        .iter()
        .map(|inst| objects::installation(shared, &mut state, inst))
        .collect();
    let link = page.link(shared, req, positions.len());
    with_link(json_response(StatusCode::OK, &Value::Array(list)), link)
}

/// `GET /app/installations/{id}`.
pub(crate) fn get_installation(shared: &Shared, req: &Incoming, id: &str) -> Response {
    let id = id.parse::<u64>().ok();
    lookup(shared, req, |inst| Some(inst.id) == id)
}

/// `GET /repos/{owner}/{repo}/installation`.
pub(crate) fn repo_installation(
    shared: &Shared,
    req: &Incoming,
    owner: &str,
    repo: &str,
) -> Response {
    let index = shared.repo_index(owner, repo);
    lookup(shared, req, |inst| {
        index.is_some_and(|index| inst.repos.contains(&index))
    })
}

/// `GET /orgs/{org}/installation`.
pub(crate) fn org_installation(shared: &Shared, req: &Incoming, org: &str) -> Response {
    lookup(shared, req, |inst| {
        inst.account_type == AccountType::Organization && inst.account.eq_ignore_ascii_case(org)
    })
}

/// `GET /users/{username}/installation` (like GitHub, organizations are found here too).
pub(crate) fn user_installation(shared: &Shared, req: &Incoming, user: &str) -> Response {
    lookup(shared, req, |inst| {
        inst.account_type != AccountType::Enterprise && inst.account.eq_ignore_ascii_case(user)
    })
}

/// `GET /enterprises/{enterprise}/installation`.
pub(crate) fn enterprise_installation(
    shared: &Shared,
    req: &Incoming,
    enterprise: &str,
) -> Response {
    lookup(shared, req, |inst| {
        inst.account_type == AccountType::Enterprise
            && inst.account.eq_ignore_ascii_case(enterprise)
    })
}

/// A JWT-only route answering the first installation of the JWT's app that `matches`, or 404.
fn lookup(
    shared: &Shared,
    req: &Incoming,
    matches: impl Fn(&InstallationRecord) -> bool,
) -> Response {
    let mut state = shared.lock();
    let app_id = match jwt::require_jwt(shared, req, &mut state) {
        Ok(app_id) => app_id,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let found = state
        .installations
        .iter()
        .find(|inst| inst.app_id == app_id && matches(inst))
        .cloned();
    match found {
        Some(inst) => {
            let body = objects::installation(shared, &mut state, &inst);
            json_response(StatusCode::OK, &body)
        }
        None => Refusal::not_found("unknown_installation").answer(&mut state),
    }
}

const fn bad_narrowing(message: &'static str) -> Refusal {
    Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message, "bad_narrowing")
}

/// The request header that forces the format of a new installation token during GitHub's
/// rollout of stateless tokens.
const FORMAT_HEADER: &str = "x-github-stateless-s2s-token";
const BAD_FORMAT_HEADER: &str =
    "Invalid request.\n\nX-GitHub-Stateless-S2S-Token must be `enabled` or `disabled`.";

/// The format a token request asks for: its `X-GitHub-Stateless-S2S-Token` (`enabled`,
/// `disabled`, any case), else the configured one; 422 for any other value.
fn requested_format(req: &Incoming, configured: TokenFormat) -> Result<TokenFormat, Refusal> {
    let Some(value) = req.headers.get(FORMAT_HEADER) else {
        return Ok(configured);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value.eq_ignore_ascii_case("enabled") {
        Ok(TokenFormat::Stateless)
    } else if value.eq_ignore_ascii_case("disabled") {
        Ok(TokenFormat::Classic)
    } else {
        Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            BAD_FORMAT_HEADER,
            "bad_token_format_header",
        ))
    }
}

/// What a token request narrows to: permissions, and repositories if any were named.
type Narrowing = (BTreeMap<String, String>, Option<Vec<usize>>);

/// Checks the optional `repositories`, `repository_ids`, `permissions` of a token request.
fn narrow(shared: &Shared, inst: &InstallationRecord, body: &Value) -> Result<Narrowing, Refusal> {
    let empty = Map::new();
    let body = match body {
        Value::Null => &empty,
        Value::Object(map) => map,
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Problems parsing JSON",
                "bad_json",
            ));
        }
    };
    let invalid = || bad_narrowing("Invalid request.");

    let mut repos: Vec<usize> = Vec::new();
    match body.get("repositories") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for name in names {
                let name = name.as_str().ok_or_else(invalid)?;
                let found = inst.repos.iter().copied().find(|&index| {
                    let repo = &shared.repos[index];
                    if name.contains('/') {
                        repo.full_name.eq_ignore_ascii_case(name)
                    } else {
                        repo.name.eq_ignore_ascii_case(name)
                    }
                });
                let index = found.ok_or(bad_narrowing(REPO_NOT_IN_INSTALLATION))?;
                if !repos.contains(&index) {
                    repos.push(index);
                }
            }
        }
        Some(_) => return Err(invalid()),
    }
    match body.get("repository_ids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) => {
            for id in ids {
                let id = id.as_u64().ok_or_else(invalid)?;
                let index = inst
                    .repos
                    .iter()
                    .copied()
                    .find(|&index| shared.repos[index].id == id)
                    .ok_or(bad_narrowing(REPO_NOT_IN_INSTALLATION))?;
                if !repos.contains(&index) {
                    repos.push(index);
                }
            }
        }
        Some(_) => return Err(invalid()),
    }

    let permissions = match body.get("permissions") {
        Some(Value::Object(requested)) if !requested.is_empty() => {
            let mut granted = BTreeMap::new();
            for (name, level) in requested {
                let level = level.as_str().ok_or_else(invalid)?;
                let wanted = rank(level).ok_or_else(invalid)?;
                let has = inst.permissions.get(name).and_then(|l| rank(l));
                if has.is_none_or(|has| wanted > has) {
                    return Err(bad_narrowing(PERMISSION_NOT_GRANTED));
                }
                granted.insert(name.clone(), level.to_owned());
            }
            granted
        }
        None | Some(Value::Null | Value::Object(_)) => inst.permissions.clone(),
        Some(_) => return Err(invalid()),
    };
    Ok((permissions, (!repos.is_empty()).then_some(repos)))
}

/// `POST /app/installations/{id}/access_tokens`.
pub(crate) async fn access_tokens(shared: &Shared, req: &Incoming, id: &str) -> Response {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        Some(Value::Null)
    } else {
        serde_json::from_slice::<Value>(&req.body).ok()
    };
    {
        let mut state = shared.lock();
        state.counters.token_endpoint_requests += 1;
        state.counters.installation_token_exchanges += 1;
        state.last_access_token_request = Some(
            body.clone()
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&req.body).into_owned())),
        );
        state.last_access_token_headers = Some(req.headers.clone());
    }
    if let Some(answer) = wire::token_endpoint_gate(shared).await {
        return answer;
    }

    let mut state = shared.lock();
    let app_id = match jwt::require_jwt(shared, req, &mut state) {
        Ok(app_id) => app_id,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let inst = id
        .parse()
        .ok()
        .and_then(|id| state.installation(id))
        .filter(|inst| inst.app_id == app_id)
        .cloned();
    let Some(inst) = inst else {
        return Refusal::not_found("unknown_installation").answer(&mut state);
    };
    let Some(body) = body else {
        return Refusal::new(StatusCode::BAD_REQUEST, "Problems parsing JSON", "bad_json")
            .answer(&mut state);
    };
    let (permissions, repos) = match narrow(shared, &inst, &body) {
        Ok(narrowing) => narrowing,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let format = match requested_format(req, state.knobs.installation_token_format) {
        Ok(format) => format,
        Err(refusal) => return refusal.answer(&mut state),
    };

    let ttl = state.knobs.installation_token_ttl;
    let now = shared.wall_at(state.knobs.clock_offset);
    let expires_at = now + ttl;
    let token = loop {
        let token = match format {
            TokenFormat::Stateless => stateless_token(app_id, inst.id, now, expires_at),
            TokenFormat::Classic => format!("ghs_{}", random_alnum(36)),
        };
        if !state.tokens.contains_key(&token) && !state.revoked.contains(&token) {
            break token;
        }
    };
    let mut answer = json!({
        "token": token,
        "expires_at": rfc3339(expires_at),
        "permissions": permissions,
        "repository_selection": if repos.is_some() { "selected" } else { "all" },
    });
    if let Some(repos) = &repos {
        let list: Vec<Value> = repos
            .iter()
            .map(|&index| objects::repository(shared, &mut state, index))
            .collect();
        answer["repositories"] = Value::Array(list);
    }
    let record = Token {
        id: state.token_id(),
        kind: TokenKind::Installation {
            installation: inst.id,
            permissions,
            repos,
        },
        expires: Some(Instant::now() + ttl),
        expires_at: Some(expires_at),
        created_at: now,
        lagging: state.knobs.replication_lag,
        lagging_403: state.knobs.replication_lag_403,
    };
    state.tokens.insert(token, record);
    state.counters.installation_tokens_minted += 1;
    json_response(StatusCode::CREATED, &answer)
}
