//! The REST side: `/app...`, the installation look-ups, `/user`, `/repos/{owner}/{repo}`.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::{
    config::AccountType,
    jwt::{self, NOT_DECODABLE},
    objects::{APP_SLUG, CREATED_AT, installation_json, repo_json, user_json},
    state::{InstallationRecord, Mutable, Shared, Token, TokenKind, random_alnum, rfc3339},
    wire::{self, Incoming, Presented, Refusal, json_response, requires_authentication},
};

const REPO_NOT_IN_INSTALLATION: &str = "There is at least one repository that does not exist or is not accessible to the parent installation.";
const PERMISSION_NOT_GRANTED: &str =
    "The permissions requested are not granted to this installation.";

/// Who is calling a non-`/app` route.
enum Caller {
    Anonymous,
    Installation {
        id: u64,
        repos: Option<Vec<usize>>,
        permissions: BTreeMap<String, String>,
    },
    User {
        login: String,
        kind: &'static str,
    },
    Jwt,
}

/// Resolves the credential of a request to a non-`/app` route; consumes the replication-lag
/// refusal of a fresh installation token.
fn resolve(shared: &Shared, req: &Incoming, state: &mut Mutable) -> Result<Caller, Refusal> {
    let token = match req.presented() {
        Presented::Nothing => return Ok(Caller::Anonymous),
        Presented::Basic { id, secret } => {
            return match shared.client(&id) {
                Some(client) if client.secret == secret => Ok(Caller::Anonymous),
                _ => Err(Refusal::bad_credentials("incorrect_client_credentials")),
            };
        }
        Presented::Unreadable => return Err(Refusal::bad_credentials("bad_credentials")),
        Presented::Token(token) => token,
    };
    if state.revoked.contains(&token) {
        return Err(Refusal::bad_credentials("token_revoked"));
    }
    if let Some(record) = state.tokens.get_mut(&token) {
        if record.expires.is_some_and(|at| Instant::now() >= at) {
            return Err(Refusal::bad_credentials("token_expired"));
        }
        if record.lagging {
            record.lagging = false;
            return Err(Refusal::bad_credentials("replication_lag"));
        }
        return Ok(match &record.kind {
            TokenKind::Installation {
                installation,
                repos,
                permissions,
            } => Caller::Installation {
                id: *installation,
                repos: repos.clone(),
                permissions: permissions.clone(),
            },
            TokenKind::User { login, .. } => Caller::User {
                login: login.clone(),
                kind: "user",
            },
        });
    }
    if let Some(login) = shared.pats.get(&token) {
        return Ok(Caller::User {
            login: login.clone(),
            kind: "pat",
        });
    }
    if jwt::looks_like_jwt(&token) {
        return Ok(Caller::Jwt);
    }
    Err(Refusal::bad_credentials("bad_credentials"))
}

/// A JWT where only tokens are accepted.
const fn jwt_not_allowed() -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, NOT_DECODABLE, "jwt_not_allowed")
}

/// `GET /app`.
pub(crate) fn get_app(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    if let Err(refusal) = jwt::require_jwt(shared, req, &mut state) {
        return refusal.answer(&mut state);
    }
    let mut permissions = BTreeMap::new();
    for inst in &shared.installations {
        for (name, level) in &inst.permissions {
            let entry = permissions
                .entry(name.clone())
                .or_insert_with(|| level.clone());
            if rank(level) > rank(entry) {
                entry.clone_from(level);
            }
        }
    }
    let owner = user_json(shared, &mut state, "octocat");
    json_response(
        StatusCode::OK,
        &json!({
            "id": shared.app_id,
            "slug": APP_SLUG,
            "node_id": format!("A_emulator{}", shared.app_id),
            "client_id": shared.app_client_id,
            "owner": owner,
            "name": "Emulator App",
            "description": "A GitHub App emulated by github-auth-emulator",
            "external_url": shared.base_url,
            "html_url": format!("{}/apps/{APP_SLUG}", shared.base_url),
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "permissions": permissions,
            "events": [],
            "installations_count": shared.installations.len(),
        }),
    )
}

/// `GET /app/installations`.
pub(crate) fn list_installations(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    if let Err(refusal) = jwt::require_jwt(shared, req, &mut state) {
        return refusal.answer(&mut state);
    }
    let list: Vec<Value> = shared
        .installations
        .iter()
        .map(|inst| installation_json(shared, &mut state, inst))
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

/// `GET /app/installations/{id}`.
pub(crate) fn get_installation(shared: &Shared, req: &Incoming, id: &str) -> Response {
    lookup(shared, req, |shared| {
        id.parse().ok().and_then(|id| shared.installation(id))
    })
}

/// `GET /repos/{owner}/{repo}/installation`.
pub(crate) fn repo_installation(
    shared: &Shared,
    req: &Incoming,
    owner: &str,
    repo: &str,
) -> Response {
    lookup(shared, req, |shared| {
        let index = shared.repo_index(owner, repo)?;
        shared
            .installations
            .iter()
            .find(|inst| inst.repos.contains(&index))
    })
}

/// `GET /orgs/{org}/installation`.
pub(crate) fn org_installation(shared: &Shared, req: &Incoming, org: &str) -> Response {
    lookup(shared, req, |shared| {
        shared.installations.iter().find(|inst| {
            inst.account_type == AccountType::Organization && inst.account.eq_ignore_ascii_case(org)
        })
    })
}

/// `GET /users/{username}/installation` (like GitHub, organizations are found here too).
pub(crate) fn user_installation(shared: &Shared, req: &Incoming, user: &str) -> Response {
    lookup(shared, req, |shared| {
        shared
            .installations
            .iter()
            .find(|inst| inst.account.eq_ignore_ascii_case(user))
    })
}

/// A JWT-only route answering one installation, or 404.
fn lookup(
    shared: &Shared,
    req: &Incoming,
    find: impl FnOnce(&Shared) -> Option<&InstallationRecord>,
) -> Response {
    let mut state = shared.lock();
    if let Err(refusal) = jwt::require_jwt(shared, req, &mut state) {
        return refusal.answer(&mut state);
    }
    match find(shared) {
        Some(inst) => {
            let body = installation_json(shared, &mut state, inst);
            json_response(StatusCode::OK, &body)
        }
        None => Refusal::not_found("unknown_installation").answer(&mut state),
    }
}

/// `read` < `write` < `admin`; anything else is not a level.
fn rank(level: &str) -> Option<u8> {
    match level {
        "read" => Some(1),
        "write" => Some(2),
        "admin" => Some(3),
        _ => None,
    }
}

const fn bad_narrowing(message: &'static str) -> Refusal {
    Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message, "bad_narrowing")
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
    }
    if let Some(answer) = wire::token_endpoint_gate(shared).await {
        return answer;
    }

    let mut state = shared.lock();
    if let Err(refusal) = jwt::require_jwt(shared, req, &mut state) {
        return refusal.answer(&mut state);
    }
    let Some(inst) = id.parse().ok().and_then(|id| shared.installation(id)) else {
        return Refusal::not_found("unknown_installation").answer(&mut state);
    };
    let Some(body) = body else {
        return Refusal::new(StatusCode::BAD_REQUEST, "Problems parsing JSON", "bad_json")
            .answer(&mut state);
    };
    let (permissions, repos) = match narrow(shared, inst, &body) {
        Ok(narrowing) => narrowing,
        Err(refusal) => return refusal.answer(&mut state),
    };

    let token = format!("ghs_{}", random_alnum(36));
    let ttl = state.knobs.installation_token_ttl;
    let now = shared.wall_at(state.knobs.clock_offset);
    let expires_at = now + ttl;
    let mut answer = json!({
        "token": token,
        "expires_at": rfc3339(expires_at),
        "permissions": permissions,
        "repository_selection": if repos.is_some() { "selected" } else { "all" },
    });
    if let Some(repos) = &repos {
        let list: Vec<Value> = repos
            .iter()
            .map(|&index| repo_json(shared, &mut state, index))
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
    };
    state.tokens.insert(token, record);
    state.counters.installation_tokens_minted += 1;
    json_response(StatusCode::CREATED, &answer)
}

/// `GET /user`.
pub(crate) fn get_user(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let refusal = match resolve(shared, req, &mut state) {
        Ok(Caller::User { login, .. }) => {
            let body = user_json(shared, &mut state, &login);
            return json_response(StatusCode::OK, &body);
        }
        Ok(Caller::Installation { .. }) => Refusal::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            "resource_not_accessible",
        ),
        Ok(Caller::Jwt) => jwt_not_allowed(),
        Ok(Caller::Anonymous) => requires_authentication(),
        Err(refusal) => refusal,
    };
    refusal.answer(&mut state)
}

/// `GET /repos/{owner}/{repo}`.
pub(crate) fn get_repo(shared: &Shared, req: &Incoming, owner: &str, repo: &str) -> Response {
    let mut state = shared.lock();
    let caller = match resolve(shared, req, &mut state) {
        Ok(Caller::Jwt) => return jwt_not_allowed().answer(&mut state),
        Ok(caller) => caller,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let Some(index) = shared.repo_index(owner, repo) else {
        return Refusal::not_found("repository_not_found").answer(&mut state);
    };
    let emulator = match caller {
        Caller::Installation {
            id,
            repos,
            permissions,
        } => {
            let covered = match &repos {
                Some(repos) => repos.contains(&index),
                None => shared
                    .installation(id)
                    .is_some_and(|inst| inst.repos.contains(&index)),
            };
            if !covered {
                return Refusal::not_found("repository_not_accessible").answer(&mut state);
            }
            json!({
                "credential": "installation",
                "login": null,
                "installation_id": id,
                "permissions": permissions,
            })
        }
        Caller::User { login, kind } => {
            json!({ "credential": kind, "login": login, "installation_id": null })
        }
        Caller::Anonymous | Caller::Jwt => {
            json!({ "credential": "none", "login": null, "installation_id": null })
        }
    };
    let mut body = repo_json(shared, &mut state, index);
    body["emulator"] = emulator;
    json_response(StatusCode::OK, &body)
}

/// `GET /installation/repositories`: what an installation token reaches.
pub(crate) fn installation_repositories(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let refusal = match resolve(shared, req, &mut state) {
        Ok(Caller::Installation { id, repos, .. }) => {
            let selection = if repos.is_some() { "selected" } else { "all" };
            let indices = repos.unwrap_or_else(|| {
                shared
                    .installation(id)
                    .map(|inst| inst.repos.clone())
                    .unwrap_or_default()
            });
            let list: Vec<Value> = indices
                .iter()
                .map(|&index| repo_json(shared, &mut state, index))
                .collect();
            let body = json!({
                "total_count": list.len(),
                "repository_selection": selection,
                "repositories": list,
            });
            return json_response(StatusCode::OK, &body);
        }
        Ok(Caller::User { .. }) => Refusal::new(
            StatusCode::FORBIDDEN,
            "You must authenticate with an installation access token in order to list repositories for an installation.",
            "installation_token_required",
        ),
        Ok(Caller::Jwt) => jwt_not_allowed(),
        Ok(Caller::Anonymous) => requires_authentication(),
        Err(refusal) => refusal,
    };
    refusal.answer(&mut state)
}
