//! The App-manifest flow: a code stands for a submitted manifest (GitHub's redirect back after the
//! form), and `POST /app-manifests/{code}/conversions` turns it into a new App with a fresh RSA
//! key, installed at once so that tokens can be minted for it.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    config::AccountType,
    defaults::DEFAULT_LOGIN,
    keys, objects,
    state::{
        App, InstallationRecord, MANIFEST_CODE_LIFETIME, ManifestCode, Mutable, Shared,
        random_alnum, random_from, rank, rfc3339,
    },
    wire::{REST_DOCS, Refusal, json_response},
};

/// Registers `manifest` (JSON text) under a fresh code, valid once for an hour.
pub(crate) fn issue_code(shared: &Shared, manifest: String) -> String {
    let code = random_from(b"0123456789abcdef", 20);
    shared.lock().manifest_codes.insert(
        code.clone(),
        ManifestCode {
            manifest,
            expires: Instant::now() + MANIFEST_CODE_LIFETIME,
            used: false,
        },
    );
    code
}

/// What the emulator takes from a manifest.
struct Manifest {
    name: String,
    slug: String,
    url: String,
    description: Option<String>,
    hook: bool,
    permissions: BTreeMap<String, String>,
    events: Vec<String>,
}

/// Why a conversion fails.
enum Failure {
    /// 404: no such code, or used, or expired.
    UnknownCode,
    /// 422 with this error.
    Invalid(&'static str),
}

/// `name` as a slug: lowercase letters and digits, other runs of characters as one `-`.
fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// The next app id: one past the largest.
fn next_app_id(state: &Mutable) -> u64 {
    state.apps.iter().map(|app| app.id).max().unwrap_or(0) + 1
}

/// Checks the code and its manifest, without spending the code.
fn check(state: &Mutable, code: &str) -> Result<Manifest, Failure> {
    let entry = state
        .manifest_codes
        .get(code)
        .filter(|entry| !entry.used && Instant::now() < entry.expires)
        .ok_or(Failure::UnknownCode)?;
    let Ok(Value::Object(manifest)) = serde_json::from_str::<Value>(&entry.manifest) else {
        return Err(Failure::Invalid("Manifest is not a JSON object"));
    };
    let url = manifest
        .get("url")
        .and_then(Value::as_str)
        .ok_or(Failure::Invalid("Url can't be blank"))?;
    let name = match manifest.get("name") {
        None | Some(Value::Null) => format!("emulator-manifest-app-{}", next_app_id(state)),
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        Some(_) => return Err(Failure::Invalid("Name can't be blank")),
    };
    let slug = slugify(&name);
    if slug.is_empty() {
        return Err(Failure::Invalid("Name must contain letters or digits"));
    }
    if state.apps.iter().any(|app| app.slug == slug) {
        return Err(Failure::Invalid("Name is already in use"));
    }
    let mut permissions = BTreeMap::from([("metadata".to_owned(), "read".to_owned())]);
    match manifest.get("default_permissions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(requested)) => {
            for (permission, level) in requested {
                let level = level
                    .as_str()
                    .filter(|level| rank(level).is_some())
                    .ok_or(Failure::Invalid("Default permissions are not valid"))?;
                permissions.insert(permission.clone(), level.to_owned());
            }
        }
        Some(_) => return Err(Failure::Invalid("Default permissions are not valid")),
    }
    let events = match manifest.get("default_events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(events)) => events
            .iter()
            .map(|event| event.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(Failure::Invalid("Default events are not valid"))?,
        Some(_) => return Err(Failure::Invalid("Default events are not valid")),
    };
    let hook = manifest
        .get("hook_attributes")
        .and_then(|hook| hook.get("url"))
        .and_then(Value::as_str)
        .is_some();
    Ok(Manifest {
        name,
        slug,
        url: url.to_owned(),
        description: manifest
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        hook,
        permissions,
        events,
    })
}

/// Counts and answers a failed conversion: 404 `basic-error`, or 422 `validation-error-simple`.
fn refuse(state: &mut Mutable, failure: &Failure) -> Response {
    match failure {
        Failure::UnknownCode => Refusal::not_found("unknown_manifest_code").answer(state),
        Failure::Invalid(error) => {
            state.refuse("bad_manifest");
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({
                    "message": "Validation Failed",
                    "documentation_url": REST_DOCS,
                    "errors": [error],
                }),
            )
        }
    }
}

/// `POST /app-manifests/{code}/conversions`: 201 with the new App, its client secret, webhook
/// secret and private key; the code is spent.
pub(crate) fn conversion(shared: &Shared, code: &str) -> Response {
    {
        let mut state = shared.lock();
        if let Err(failure) = check(&state, code) {
            return refuse(&mut state, &failure);
        }
    }
    // The key is made without the lock held (it takes a moment); the checks run again after.
    let key = match keys::generate() {
        Ok(key) => key,
        Err(err) => {
            tracing::warn!(%err, "github-auth-emulator could not make an RSA key");
            return Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not generate a private key",
                "key_generation_failed",
            )
            .answer(&mut shared.lock());
        }
    };
    let mut state = shared.lock();
    let manifest = match check(&state, code) {
        Ok(manifest) => manifest,
        Err(failure) => return refuse(&mut state, &failure),
    };
    if let Some(entry) = state.manifest_codes.get_mut(code) {
        entry.used = true;
    }

    let app_id = next_app_id(&state);
    let now = rfc3339(shared.wall_at(state.knobs.clock_offset));
    let client_secret = random_from(b"0123456789abcdef", 40);
    let webhook_secret = manifest.hook.then(|| random_from(b"0123456789abcdef", 40));
    state.apps.push(App {
        id: app_id,
        slug: manifest.slug,
        name: manifest.name,
        description: manifest.description,
        external_url: manifest.url,
        owner: DEFAULT_LOGIN.to_owned(),
        client_id: format!("Iv23li{}", random_alnum(14)),
        client_secret: client_secret.clone(),
        key: key.public,
        permissions: manifest.permissions.clone(),
        events: manifest.events,
        created_at: now.clone(),
    });
    install(shared, &mut state, app_id, manifest.permissions, now);
    state.counters.manifest_conversions += 1;

    let mut body = objects::app(shared, &mut state, app_id);
    body["client_secret"] = json!(client_secret);
    body["webhook_secret"] = json!(webhook_secret);
    body["pem"] = json!(key.private_pem);
    json_response(StatusCode::CREATED, &body)
}

/// Installs a new app where the configured app's first installation is (same account and
/// repositories), or else on the user `octocat` with the repositories it owns.
fn install(
    shared: &Shared,
    state: &mut Mutable,
    app_id: u64,
    permissions: BTreeMap<String, String>,
    created_at: String,
) {
    let (account, account_type, repos) = state
        .installations
        .iter()
        .find(|inst| inst.app_id == shared.app_id)
        .map_or_else(
            || {
                let owned = (0..shared.repos.len())
                    .filter(|&index| {
                        shared.repos[index]
                            .owner
                            .eq_ignore_ascii_case(DEFAULT_LOGIN)
                    })
                    .collect();
                (DEFAULT_LOGIN.to_owned(), AccountType::User, owned)
            },
            |inst| (inst.account.clone(), inst.account_type, inst.repos.clone()),
        );
    let id = state.next_installation_id;
    state.next_installation_id += 1;
    state.add_installation(InstallationRecord {
        id,
        app_id,
        account,
        account_type,
        repos,
        permissions,
        created_at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("My  Great App!"), "my-great-app");
        assert_eq!(slugify("--x--"), "x");
        assert_eq!(slugify("!!"), "");
    }
}
