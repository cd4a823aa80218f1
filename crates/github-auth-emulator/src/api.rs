//! The routes that take tokens: `GET /user`, `GET /repos/{owner}/{repo}` (and its `/issues`,
//! `POST .../issues/{number}/comments`),
//! the installation token's own `GET /installation/repositories` and `DELETE /installation/token`,
//! a release asset upload (on the uploads host) and a minimal `POST /graphql`.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    forbidden::Forbidden,
    jwt::{self, NOT_DECODABLE},
    objects,
    paging::{Page, with_link},
    ratelimit::{Identity, resource_of},
    state::{
        APP_SLUG, IssueComment, MOST_ISSUE_COMMENTS, Mutable, Shared, TokenKind, rank, rfc3339,
    },
    wire::{
        Incoming, Presented, Refusal, SECONDARY, forbidden, json_response, no_content,
        requires_authentication,
    },
};

/// Who is calling a non-`/app` route.
enum Caller {
    Anonymous,
    Installation {
        token: String,
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

/// The caller of a route that needs a token (an installation's or a user's): the App's JWT and
/// no credential are refused as GitHub refuses them.
fn token_caller(shared: &Shared, req: &Incoming, state: &mut Mutable) -> Result<Caller, Refusal> {
    match resolve(shared, req, state)? {
        Caller::Jwt => Err(jwt_not_allowed()),
        Caller::Anonymous => Err(requires_authentication()),
        caller => Ok(caller),
    }
}

/// Resolves the credential of a request to a non-`/app` route; consumes the replication-lag
/// refusals of a fresh installation token, then one of the refusals
/// [`EmulatorHandle::forbid_next`](crate::EmulatorHandle::forbid_next) asked for.
fn resolve(shared: &Shared, req: &Incoming, state: &mut Mutable) -> Result<Caller, Refusal> {
    let caller = resolve_credential(shared, req, state)?;
    let now = shared.wall_at(state.knobs.clock_offset);
    if let Some((left, why)) = &mut state.knobs.forbid_next {
        let refusal = forbidden(shared, now, why);
        *left = left.saturating_sub(1);
        if *left == 0 {
            state.knobs.forbid_next = None;
        }
        return Err(refusal);
    }
    spend(state, req, &caller, now)?;
    Ok(caller)
}

/// Spends one request of the caller's rate limit (the answer's headers say what is left): a
/// secondary limit asked for, or a spent budget, refuses it.
fn spend(
    state: &mut Mutable,
    req: &Incoming,
    caller: &Caller,
    now: std::time::SystemTime,
) -> Result<(), Refusal> {
    let who = match caller {
        Caller::Installation { id, .. } => Identity::Installation(*id),
        Caller::User { login, .. } => Identity::User(login.to_ascii_lowercase()),
        // An App's JWT spends nothing on these routes (they refuse it).
        Caller::Jwt => return Ok(()),
        Caller::Anonymous => Identity::Anonymous,
    };
    if let Some(hit) = state.rates.secondary_hit(&who) {
        let refusal = Refusal::new(hit.status, SECONDARY, "secondary_rate_limit");
        return Err(match hit.retry_after {
            Some(after) => refusal.with_header("retry-after", &after.as_secs().to_string()),
            None => refusal,
        });
    }
    let charge = state.rates.charge(&who, resource_of(&req.path), now);
    let exhausted = charge.exhausted;
    *req.rate.lock().unwrap_or_else(PoisonError::into_inner) = Some(charge);
    if !exhausted {
        return Ok(());
    }
    let whom = match &who {
        Identity::Installation(id) => format!("installation ID {id}"),
        Identity::User(login) => format!("user ID {}", state.user_id(login)),
        Identity::Anonymous => "127.0.0.1".to_owned(),
    };
    let mut refusal = Refusal::new(StatusCode::FORBIDDEN, "", "rate_limited");
    refusal.message = format!(
        "API rate limit exceeded for {whom}. (But here's the good news: Authenticated requests \
         get a higher rate limit. Check out the documentation for more details.)"
    )
    .into();
    Err(refusal)
}

/// Who presented the request's credential, if it is good.
fn resolve_credential(
    shared: &Shared,
    req: &Incoming,
    state: &mut Mutable,
) -> Result<Caller, Refusal> {
    let token = match req.presented() {
        Presented::Nothing => return Ok(Caller::Anonymous),
        Presented::Basic { id, secret } => {
            return match state.client(&id) {
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
        if record.lagging_403 > 0 {
            record.lagging_403 -= 1;
            // What a refusal for a missing permission says, without the header that says which.
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
                "replication_lag_403",
            ));
        }
        return Ok(match &record.kind {
            TokenKind::Installation {
                installation,
                repos,
                permissions,
            } => Caller::Installation {
                token: token.clone(),
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

const LIST_NEEDS_INSTALLATION: &str = "You must authenticate with an installation access token in order to list repositories for an installation.";
const REVOKE_NEEDS_INSTALLATION: &str =
    "You must authenticate with an installation access token in order to revoke it.";

/// The refusal of a caller that is not an installation token, on a route that needs one; a user
/// token or PAT gets 403 with `message`.
fn not_an_installation(caller: Result<Caller, Refusal>, message: &'static str) -> Refusal {
    match caller {
        Ok(Caller::User { .. }) => Refusal::new(
            StatusCode::FORBIDDEN,
            message,
            "installation_token_required",
        ),
        Ok(Caller::Jwt) => jwt_not_allowed(),
        Ok(Caller::Anonymous) => requires_authentication(),
        Ok(Caller::Installation { .. }) => Refusal::bad_credentials("bad_credentials"),
        Err(refusal) => refusal,
    }
}

/// `GET /user`.
pub(crate) fn get_user(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let refusal = match resolve(shared, req, &mut state) {
        Ok(Caller::User { login, .. }) => {
            let body = objects::private_user(shared, &mut state, &login);
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

/// The repositories an installation token reaches: those it was narrowed to, else all of its
/// installation's.
fn reach(state: &Mutable, id: u64, repos: Option<Vec<usize>>) -> Vec<usize> {
    repos.unwrap_or_else(|| {
        state
            .installation(id)
            .map(|inst| inst.repos.clone())
            .unwrap_or_default()
    })
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
    let emulator = match reaching(&state, caller, index) {
        Ok(emulator) => emulator,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let mut body = objects::repository(shared, &mut state, index);
    body["emulator"] = emulator;
    json_response(StatusCode::OK, &body)
}

/// The `"emulator"` object of an answer (which credential the request carried), or 404 when
/// an installation token does not reach the repository `index`.
fn reaching(state: &Mutable, caller: Caller, index: usize) -> Result<Value, Refusal> {
    Ok(match caller {
        Caller::Installation {
            id,
            repos,
            permissions,
            ..
        } => {
            if !reach(state, id, repos).contains(&index) {
                return Err(Refusal::not_found("repository_not_accessible"));
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
    })
}

/// `POST /repos/{owner}/{repo}/releases/{release_id}/assets?name=...` on the uploads host: 201
/// with the `release-asset` (its `size` the body's length) plus the `"emulator"` object; any
/// release id of a repository the token reaches is taken. A token is required.
pub(crate) fn upload_release_asset(
    shared: &Shared,
    req: &Incoming,
    owner: &str,
    repo: &str,
    release_id: &str,
) -> Response {
    let mut state = shared.lock();
    let caller = match token_caller(shared, req, &mut state) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let (Some(index), Ok(release_id)) = (shared.repo_index(owner, repo), release_id.parse::<u64>())
    else {
        return Refusal::not_found("repository_not_found").answer(&mut state);
    };
    let emulator = match reaching(&state, caller, index) {
        Ok(emulator) => emulator,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let name = req
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "name"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let Some(name) = name else {
        return Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            "validation_failed",
        )
        .answer(&mut state);
    };
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    state.counters.release_assets_uploaded += 1;
    let id = state.token_id();
    let now = rfc3339(shared.wall_at(state.knobs.clock_offset));
    let base = &shared.base_url;
    let full_name = &shared.repos[index].full_name;
    let body = json!({
        "url": format!("{base}/repos/{full_name}/releases/assets/{id}"),
        "browser_download_url": format!("{base}/{full_name}/releases/download/{release_id}/{name}"),
        "id": id,
        "node_id": format!("RA_emulator{id}"),
        "name": name,
        "label": null,
        "state": "uploaded",
        "content_type": content_type,
        "size": req.body.len(),
        "digest": null,
        "download_count": 0,
        "created_at": now,
        "updated_at": now,
        "uploader": null,
        "emulator": emulator,
    });
    json_response(StatusCode::CREATED, &body)
}

/// `POST /graphql` (GitHub Enterprise Server: `/api/graphql`): answers the query
/// `{ viewer { login } }` with the caller's login (`SLUG[bot]` for an installation token);
/// any other query gets a GraphQL error under 200. A token is required.
pub(crate) fn graphql(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let login = match resolve(shared, req, &mut state) {
        Ok(Caller::User { login, .. }) => login,
        Ok(Caller::Installation { id, .. }) => {
            let slug = state
                .installation(id)
                .and_then(|inst| state.app(inst.app_id))
                .map_or(APP_SLUG, |app| app.slug.as_str());
            format!("{slug}[bot]")
        }
        Ok(Caller::Jwt) => return jwt_not_allowed().answer(&mut state),
        Ok(Caller::Anonymous) => {
            return Refusal::new(
                StatusCode::UNAUTHORIZED,
                "This endpoint requires you to be authenticated.",
                "no_credentials",
            )
            .answer(&mut state);
        }
        Err(refusal) => return refusal.answer(&mut state),
    };
    let query = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|body| body.get("query")?.as_str().map(str::to_owned));
    let Some(query) = query else {
        return Refusal::new(StatusCode::BAD_REQUEST, "Problems parsing JSON", "bad_json")
            .answer(&mut state);
    };
    state.counters.graphql_queries += 1;
    let words: Vec<&str> = query
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let body = if words == ["query", "viewer", "login"] || words == ["viewer", "login"] {
        json!({ "data": { "viewer": { "login": login } } })
    } else {
        json!({ "errors": [{
            "type": "UNSUPPORTED",
            "message": "the emulator answers only `{ viewer { login } }`",
        }] })
    };
    json_response(StatusCode::OK, &body)
}

/// `GET /repos/{owner}/{repo}/issues`: an empty list, for a caller that may read the issues; an
/// installation token without `issues` (at least `read`) gets GitHub's 403 naming the permission
/// in `X-Accepted-GitHub-Permissions`.
pub(crate) fn list_issues(shared: &Shared, req: &Incoming, owner: &str, repo: &str) -> Response {
    let mut state = shared.lock();
    let caller = match resolve(shared, req, &mut state) {
        Ok(Caller::Jwt) => return jwt_not_allowed().answer(&mut state),
        Ok(caller) => caller,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let Some(index) = shared.repo_index(owner, repo) else {
        return Refusal::not_found("repository_not_found").answer(&mut state);
    };
    if let Err(refusal) = may_use_issues(shared, &state, &caller, index, "read") {
        return refusal.answer(&mut state);
    }
    json_response(StatusCode::OK, &json!([]))
}

/// Whether `caller` may use the issues of the repository at `index` at `level` (`read`,
/// `write`): an installation token must reach the repository (404 otherwise) and hold `issues`
/// at that level (GitHub's 403 naming `issues=<level>` otherwise); any other caller may.
fn may_use_issues(
    shared: &Shared,
    state: &Mutable,
    caller: &Caller,
    index: usize,
    level: &str,
) -> Result<(), Refusal> {
    let Caller::Installation {
        id,
        repos,
        permissions,
        ..
    } = caller
    else {
        return Ok(());
    };
    if !reach(state, *id, repos.clone()).contains(&index) {
        return Err(Refusal::not_found("repository_not_accessible"));
    }
    let held = permissions
        .get("issues")
        .and_then(|held| rank(held))
        .is_some_and(|held| Some(held) >= rank(level));
    if held {
        Ok(())
    } else {
        Err(forbidden(
            shared,
            shared.wall_at(state.knobs.clock_offset),
            &Forbidden::MissingPermission(format!("issues={level}")),
        ))
    }
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments`: 201 with GitHub's `issue-comment`
/// object, recorded for [`EmulatorHandle::issue_comments`](crate::EmulatorHandle::issue_comments).
/// A token is required; an installation token needs `issues: write` (403 naming it otherwise)
/// and must reach the repository (404); the body must be JSON with a string `body` (422).
pub(crate) fn create_issue_comment(
    shared: &Shared,
    req: &Incoming,
    owner: &str,
    repo: &str,
    number: &str,
) -> Response {
    let mut state = shared.lock();
    let caller = match token_caller(shared, req, &mut state) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.answer(&mut state),
    };
    let Some(index) = shared.repo_index(owner, repo) else {
        return Refusal::not_found("repository_not_found").answer(&mut state);
    };
    let Ok(number) = number.parse::<u64>() else {
        return Refusal::not_found("unknown_route").answer(&mut state);
    };
    if let Err(refusal) = may_use_issues(shared, &state, &caller, index, "write") {
        return refusal.answer(&mut state);
    }
    let (author, installation_id) = match caller {
        Caller::Installation { id, .. } => {
            let slug = state
                .installation(id)
                .and_then(|inst| state.app(inst.app_id))
                .map_or(APP_SLUG, |app| app.slug.as_str());
            (format!("{slug}[bot]"), Some(id))
        }
        Caller::User { login, .. } => (login, None),
        Caller::Anonymous | Caller::Jwt => unreachable!("answered above"),
    };
    let text = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|body| body.get("body")?.as_str().map(str::to_owned));
    let Some(text) = text else {
        return Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"body\" wasn't supplied.",
            "validation_failed",
        )
        .answer(&mut state);
    };
    let id = state.token_id();
    let now = rfc3339(shared.wall_at(state.knobs.clock_offset));
    let mut user = objects::simple_user(shared, &mut state, &author);
    if installation_id.is_some() {
        user["type"] = json!("Bot");
    }
    let base = &shared.base_url;
    let full = &shared.repos[index].full_name;
    let body = json!({
        "id": id,
        "node_id": format!("IC_emulator{id}"),
        "url": format!("{base}/repos/{full}/issues/comments/{id}"),
        "html_url": format!("{base}/{full}/issues/{number}#issuecomment-{id}"),
        "issue_url": format!("{base}/repos/{full}/issues/{number}"),
        "body": text,
        "user": user,
        "created_at": now,
        "updated_at": now,
        "author_association": "NONE",
    });
    if state.issue_comments.len() >= MOST_ISSUE_COMMENTS {
        state.issue_comments.pop_front();
    }
    state.issue_comments.push_back(IssueComment {
        id,
        owner: shared.repos[index].owner.clone(),
        repo: shared.repos[index].name.clone(),
        issue_number: number,
        body: text,
        author,
        installation_id,
    });
    state.counters.issue_comments_created += 1;
    json_response(StatusCode::CREATED, &body)
}

/// `GET /installation/repositories`: what an installation token reaches, a page at a time.
pub(crate) fn installation_repositories(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let (id, repos) = match resolve(shared, req, &mut state) {
        Ok(Caller::Installation { id, repos, .. }) => (id, repos),
        other => return not_an_installation(other, LIST_NEEDS_INSTALLATION).answer(&mut state),
    };
    let selection = if repos.is_some() { "selected" } else { "all" };
    let indices = reach(&state, id, repos);
    let page = Page::of(req);
    let list: Vec<Value> = page
        .slice(&indices)
        .iter()
        .map(|&index| objects::repository(shared, &mut state, index))
        .collect();
    let body = json!({
        "total_count": indices.len(),
        "repository_selection": selection,
        "repositories": list,
    });
    let link = page.link(shared, req, indices.len());
    with_link(json_response(StatusCode::OK, &body), link)
}

/// `DELETE /installation/token`: the installation token revokes itself (204); it answers 401
/// from then on.
pub(crate) fn revoke_installation_token(shared: &Shared, req: &Incoming) -> Response {
    let mut state = shared.lock();
    match resolve(shared, req, &mut state) {
        Ok(Caller::Installation { token, .. }) => {
            state.revoked.insert(token);
            state.counters.installation_tokens_revoked += 1;
            no_content()
        }
        other => not_an_installation(other, REVOKE_NEEDS_INSTALLATION).answer(&mut state),
    }
}
