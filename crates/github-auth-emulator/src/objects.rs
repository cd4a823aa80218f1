//! The JSON shapes of GitHub's objects, as its OpenAPI description has them: users, enterprises,
//! apps (`integration`), installations, repositories. URLs are built on the emulator's base URL.

use serde_json::{Value, json};

use crate::{
    config::AccountType,
    state::{App, CREATED_AT, InstallationRecord, Mutable, Shared},
};

/// GitHub's `simple-user` object for `login` (type `Organization` for an organization).
pub(crate) fn simple_user(shared: &Shared, state: &mut Mutable, login: &str) -> Value {
    let id = state.user_id(login);
    let base = &shared.base_url;
    let (kind, path) = if shared.is_organization(login) {
        ("Organization", "orgs")
    } else {
        ("User", "users")
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_emulator{id}"),
        "avatar_url": format!("{base}/avatars/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{base}/{path}/{login}"),
        "html_url": format!("{base}/{login}"),
        "followers_url": format!("{base}/users/{login}/followers"),
        "following_url": format!("{base}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{base}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/users/{login}/subscriptions"),
        "organizations_url": format!("{base}/users/{login}/orgs"),
        "repos_url": format!("{base}/{path}/{login}/repos"),
        "events_url": format!("{base}/{path}/{login}/events{{/privacy}}"),
        "received_events_url": format!("{base}/users/{login}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// GitHub's `private-user` object: what `GET /user` answers about the caller.
pub(crate) fn private_user(shared: &Shared, state: &mut Mutable, login: &str) -> Value {
    let mut user = simple_user(shared, state, login);
    let owned = shared
        .repos
        .iter()
        .filter(|repo| repo.owner.eq_ignore_ascii_case(login))
        .count();
    let profile = json!({
        "user_view_type": "private",
        "name": null,
        "company": null,
        "blog": "",
        "location": null,
        "email": null,
        "notification_email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": owned,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": true,
        "plan": { "name": "free", "space": 976_562_499, "collaborators": 0, "private_repos": 10_000 },
    });
    if let (Value::Object(user), Value::Object(profile)) = (&mut user, profile) {
        user.extend(profile);
    }
    user
}

/// GitHub's `enterprise` object for the enterprise `slug`.
pub(crate) fn enterprise(shared: &Shared, state: &mut Mutable, slug: &str) -> Value {
    let id = state.user_id(slug);
    let base = &shared.base_url;
    json!({
        "id": id,
        "node_id": format!("E_emulator{id}"),
        "name": slug,
        "slug": slug,
        "description": null,
        "website_url": null,
        "html_url": format!("{base}/enterprises/{slug}"),
        "avatar_url": format!("{base}/avatars/b/{id}?v=4"),
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    })
}

/// The `account` of an installation. The `installation` schema takes a `simple-user` (user or
/// organization) or an `enterprise`, but the inline schema of `GET /app/installations` wants both
/// at once (`allOf`): every account carries the fields of both, those of its own kind first.
fn account(shared: &Shared, state: &mut Mutable, inst: &InstallationRecord) -> Value {
    let mut account = simple_user(shared, state, &inst.account);
    let Value::Object(enterprise) = enterprise(shared, state, &inst.account) else {
        return account;
    };
    if let Value::Object(fields) = &mut account {
        if inst.account_type == AccountType::Enterprise {
            let url = enterprise.get("html_url").cloned().unwrap_or_default();
            fields.extend(enterprise);
            fields.insert("url".to_owned(), url);
        } else {
            for (key, value) in enterprise {
                fields.entry(key).or_insert(value);
            }
            fields.insert("name".to_owned(), json!(inst.account));
        }
        fields.insert("type".to_owned(), json!(inst.account_type.as_str()));
    }
    account
}

/// GitHub's `integration` object: an app, as `GET /app` answers it.
pub(crate) fn app(shared: &Shared, state: &mut Mutable, app_id: u64) -> Value {
    let Some(app) = state.app(app_id) else {
        return Value::Null;
    };
    let base = &shared.base_url;
    let mut body = json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_emulator{}", app.id),
        "client_id": app.client_id,
        "name": app.name,
        "description": app.description,
        "external_url": app.external_url,
        "html_url": format!("{base}/apps/{}", app.slug),
        "created_at": app.created_at,
        "updated_at": app.created_at,
        "permissions": app.permissions,
        "events": app.events,
    });
    let owner = app.owner.clone();
    let count = state
        .installations
        .iter()
        .filter(|inst| inst.app_id == app_id)
        .count();
    body["owner"] = simple_user(shared, state, &owner);
    body["installations_count"] = json!(count);
    body
}

/// GitHub's `installation` object.
pub(crate) fn installation(
    shared: &Shared,
    state: &mut Mutable,
    inst: &InstallationRecord,
) -> Value {
    let (slug, client_id, events) = state.app(inst.app_id).map_or_else(
        || (String::new(), String::new(), Vec::new()),
        |app: &App| (app.slug.clone(), app.client_id.clone(), app.events.clone()),
    );
    let account = account(shared, state, inst);
    let base = &shared.base_url;
    json!({
        "id": inst.id,
        "account": account,
        "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", inst.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/settings/installations/{}", inst.id),
        "app_id": inst.app_id,
        "app_slug": slug,
        "client_id": client_id,
        "target_id": account["id"],
        "target_type": inst.account_type.as_str(),
        "permissions": inst.permissions,
        "events": events,
        "created_at": inst.created_at,
        "updated_at": inst.created_at,
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null,
        "contact_email": null,
    })
}

/// The `{api}/repos/{owner}/{name}...` URLs of a repository object, by field: the suffix after
/// the repository's API URL (URI templates as GitHub writes them).
const REPO_API_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];

/// GitHub's full `repository` object for the repository at `index` (about 5 KiB, as on GitHub).
pub(crate) fn repository(shared: &Shared, state: &mut Mutable, index: usize) -> Value {
    let repo = &shared.repos[index];
    let owner = simple_user(shared, state, &repo.owner);
    let base = &shared.base_url;
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, host)| host);
    let full = &repo.full_name;
    let api = format!("{base}/repos/{full}");
    let mut body = json!({
        "id": repo.id,
        "node_id": format!("R_emulator{}", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": false,
        "owner": owner,
        "html_url": format!("{base}/{full}"),
        "description": format!("{full}, a repository of github-auth-emulator"),
        "fork": false,
        "url": api,
        "git_url": format!("git://{host}/{full}.git"),
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": format!("{base}/{full}.git"),
        "svn_url": format!("{base}/{full}"),
        "mirror_url": null,
        "homepage": null,
        "language": "Rust",
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 108,
        "default_branch": "main",
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": false,
        "topics": [],
        "visibility": "public",
        "pushed_at": CREATED_AT,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "permissions": { "admin": false, "maintain": false, "push": true, "triage": true, "pull": true },
        "license": {
            "key": "mit",
            "name": "MIT License",
            "url": format!("{base}/licenses/mit"),
            "spdx_id": "MIT",
            "node_id": "MDc6TGljZW5zZTEz",
        },
    });
    if let Value::Object(fields) = &mut body {
        for (field, suffix) in REPO_API_URLS {
            fields.insert((*field).to_owned(), json!(format!("{api}{suffix}")));
        }
        for (flag, on) in [
            ("has_issues", true),
            ("has_projects", true),
            ("has_wiki", true),
            ("has_pages", false),
            ("has_downloads", true),
            ("has_discussions", false),
            ("archived", false),
            ("disabled", false),
            ("allow_rebase_merge", true),
            ("allow_squash_merge", true),
            ("allow_merge_commit", true),
            ("allow_auto_merge", false),
            ("delete_branch_on_merge", false),
            ("allow_forking", true),
            ("web_commit_signoff_required", false),
            ("allow_update_branch", false),
            ("use_squash_pr_title_as_default", false),
            ("has_pull_requests", true),
            ("anonymous_access_enabled", false),
        ] {
            fields.insert(flag.to_owned(), json!(on));
        }
        for (setting, value) in [
            ("temp_clone_token", ""),
            ("squash_merge_commit_title", "COMMIT_OR_PR_TITLE"),
            ("squash_merge_commit_message", "COMMIT_MESSAGES"),
            ("merge_commit_title", "MERGE_MESSAGE"),
            ("merge_commit_message", "PR_TITLE"),
            ("pull_request_creation_policy", "all"),
        ] {
            fields.insert(setting.to_owned(), json!(value));
        }
    }
    body
}
