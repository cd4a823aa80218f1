//! The JSON shapes of GitHub's objects: users, installations, repositories.

use serde_json::{Value, json};

use crate::state::{InstallationRecord, Mutable, Shared};

/// The slug of the emulated app.
pub(crate) const APP_SLUG: &str = "emulator-app";
/// A fixed creation date for the emulated app and installations.
pub(crate) const CREATED_AT: &str = "2024-01-01T00:00:00Z";

/// GitHub's user object for `login`.
pub(crate) fn user_json(shared: &Shared, state: &mut Mutable, login: &str) -> Value {
    let id = state.user_id(login);
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_emulator{id}"),
        "type": "User",
        "site_admin": false,
        "url": format!("{}/users/{login}", shared.base_url),
        "html_url": format!("{}/{login}", shared.base_url),
    })
}

/// GitHub's installation object.
pub(crate) fn installation_json(
    shared: &Shared,
    state: &mut Mutable,
    inst: &InstallationRecord,
) -> Value {
    let account_id = state.user_id(&inst.account);
    let base = &shared.base_url;
    json!({
        "id": inst.id,
        "account": {
            "login": inst.account,
            "id": account_id,
            "type": inst.account_type.as_str(),
            "html_url": format!("{base}/{}", inst.account),
        },
        "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", inst.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/settings/installations/{}", inst.id),
        "app_id": shared.app_id,
        "app_slug": APP_SLUG,
        "client_id": shared.app_client_id,
        "target_id": account_id,
        "target_type": inst.account_type.as_str(),
        "permissions": inst.permissions,
        "events": [],
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    })
}

/// GitHub's repository object for the repository at `index`.
pub(crate) fn repo_json(shared: &Shared, state: &mut Mutable, index: usize) -> Value {
    let repo = &shared.repos[index];
    let owner_id = state.user_id(&repo.owner);
    json!({
        "id": repo.id,
        "node_id": format!("R_emulator{}", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": false,
        "owner": { "login": repo.owner, "id": owner_id },
        "html_url": format!("{}/{}", shared.base_url, repo.full_name),
        "url": format!("{}/repos/{}", shared.base_url, repo.full_name),
    })
}
