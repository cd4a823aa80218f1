//! `ghtoken installation`: an installation access token, chosen as GitHub's
//! `create-github-app-token` action chooses it.

use clap::Args;
use tower_github_auth::secrecy::ExposeSecret;
use tower_github_auth::{AppAuth, AppInstallationAuth, InstallationId, InstallationToken};

use super::{AppArgs, endpoints, get_json, print_line, rfc3339};
use crate::errors::CliError;
use crate::{Format, Global};

/// Print an installation access token of a GitHub App (valid one hour).
///
/// The installation is chosen as the `create-github-app-token` action does: --owner and
/// --repositories both given: the installation on OWNER/FIRST-REPOSITORY, the token narrowed to
/// those repositories; only --owner: the owner's installation (organization, else user); only
/// --repositories: those repositories of the current repository's owner; neither: the current
/// repository (GITHUB_REPOSITORY=owner/repo) only. Or name it: --installation or --enterprise.
///
/// In GitHub Actions (GITHUB_ACTIONS=true) the token is masked first (`::add-mask::` on stderr,
/// which the runner reads too: stdout carries the format alone), and `token`, `installation-id`
/// and `app-slug` are appended to $GITHUB_OUTPUT (each as `name<<DELIMITER`, with a random
/// delimiter).
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  ghtoken installation --app-id 123 --private-key app.pem --owner octo\n  \
     ghtoken installation --app-id 123 --private-key app.pem --owner octo --repositories one,two \
     --permission contents=read --format json\n  \
     GHTOKEN_PRIVATE_KEY=\"$(cat app.pem)\" ghtoken installation --client-id Iv23abc --installation 42\n\n",
    crate::exit_codes!()
))]
pub(crate) struct InstallationArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The account (organization or user) the App is installed on.
    #[arg(long, value_name = "LOGIN", conflicts_with_all = ["installation", "enterprise"])]
    owner: Option<String>,
    /// Repositories of the owner to narrow the token to, comma or newline separated
    /// (`one,two`).
    #[arg(long, value_name = "NAMES", conflicts_with_all = ["installation", "enterprise"])]
    repositories: Option<String>,
    /// The installation's id, instead of looking it up.
    #[arg(long, value_name = "ID", conflicts_with = "enterprise")]
    installation: Option<u64>,
    /// The enterprise's slug (GitHub Enterprise Cloud): its installation of the App.
    #[arg(long, value_name = "SLUG")]
    enterprise: Option<String>,
    /// Narrow the token's permissions, `NAME=LEVEL` (`contents=read`); repeatable.
    #[arg(long = "permission", value_name = "NAME=LEVEL", value_parser = parse_permission)]
    permissions: Vec<(String, String)>,
    /// How to print the token.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_permission(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, level)) if !name.trim().is_empty() && !level.trim().is_empty() => {
            Ok((name.trim().to_owned(), level.trim().to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not NAME=LEVEL; give for example contents=read or issues=write"
        )),
    }
}

/// Names from `a,b` or one a line; `owner/name` keeps `name`.
fn repository_names(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.rsplit('/').next().unwrap_or(name).to_owned())
        .collect()
}

/// The owner and name of `GITHUB_REPOSITORY`.
fn current_repository() -> Option<(String, String)> {
    let full = std::env::var("GITHUB_REPOSITORY").ok()?;
    let (owner, name) = full.trim().split_once('/')?;
    (!owner.is_empty() && !name.is_empty()).then(|| (owner.to_owned(), name.to_owned()))
}

/// The owner of the current repository: `GITHUB_REPOSITORY_OWNER`, else `GITHUB_REPOSITORY`'s.
fn current_owner() -> Option<String> {
    std::env::var("GITHUB_REPOSITORY_OWNER")
        .ok()
        .map(|owner| owner.trim().to_owned())
        .filter(|owner| !owner.is_empty())
        .or_else(|| current_repository().map(|(owner, _)| owner))
}

const NO_CURRENT_REPOSITORY: &str = "no installation chosen: give --owner and/or --repositories, \
     --installation or --enterprise, or run in a repository's workflow (GITHUB_REPOSITORY=owner/repo)";

pub(crate) async fn run(global: &Global, args: InstallationArgs) -> Result<(), CliError> {
    let endpoints = endpoints(global)?;
    let app = args.app.app(endpoints.clone())?;
    let client = crate::http::client(global.verbose);
    let narrow = |auth: AppInstallationAuth| {
        args.permissions
            .iter()
            .fold(auth, |auth, (name, level)| auth.permission(name, level))
    };
    let repositories = args
        .repositories
        .as_deref()
        .map(repository_names)
        .unwrap_or_default();
    let not_installed =
        "is the App installed there, and are --app-id/--client-id and the key the App's?";

    let token = if let Some(id) = args.installation {
        narrow(app.as_installation(InstallationId(id)))
            .fetch_token(&client)
            .await
            .map_err(|e| CliError::from(e).hint_if_refused(not_installed))?
    } else if let Some(slug) = &args.enterprise {
        narrow(app.installation_for_enterprise(slug))
            .fetch_token(&client)
            .await
            .map_err(|e| CliError::from(e).hint_if_refused(not_installed))?
    } else if let Some(owner) = args.owner.as_deref().filter(|_| repositories.is_empty()) {
        // The owner's installation: an organization's, else a user's.
        match narrow(app.installation_for_organization(owner))
            .fetch_token(&client)
            .await
        {
            Err(error) if error.status() == Some(http::StatusCode::NOT_FOUND) => {
                narrow(app.installation_for_user(owner))
                    .fetch_token(&client)
                    .await
                    .map_err(|e| CliError::from(e).hint_if_refused(not_installed))?
            }
            other => other.map_err(|e| CliError::from(e).hint_if_refused(not_installed))?,
        }
    } else {
        let (owner, repositories) = if repositories.is_empty() {
            let (owner, name) =
                current_repository().ok_or_else(|| CliError::usage(NO_CURRENT_REPOSITORY))?;
            (owner, vec![name])
        } else {
            let owner = args
                .owner
                .clone()
                .or_else(current_owner)
                .ok_or_else(|| CliError::usage(NO_CURRENT_REPOSITORY))?;
            (owner, repositories)
        };
        narrow(app.installation_for_repository(&owner, &repositories[0]))
            .repositories(repositories.iter().map(String::as_str))
            .fetch_token(&client)
            .await
            .map_err(|e| CliError::from(e).hint_if_refused(not_installed))?
    };

    let secret = crate::actions::checked_token(token.token.expose_secret(), "a token")?;
    let actions = crate::actions::in_actions();
    // First of all, before the token is written anywhere: the mask, on stderr.
    crate::actions::mask(secret)?;
    let output_file = std::env::var_os("GITHUB_OUTPUT").filter(|path| !path.is_empty());
    let needs_slug = args.format == Format::Json || (actions && output_file.is_some());
    let slug = if needs_slug {
        Some(app_slug(&app, &client).await?)
    } else {
        None
    };
    if actions && let (Some(path), Some(slug)) = (&output_file, &slug) {
        let id = token.installation_id.0.to_string();
        crate::actions::append_outputs(
            std::path::Path::new(path),
            &[
                ("token", secret),
                ("installation-id", &id),
                ("app-slug", slug),
            ],
        )?;
    }
    let text = match args.format {
        Format::Text => secret.to_owned(),
        Format::Env => format!("GH_TOKEN={secret}"),
        Format::Shell => format!("export GH_TOKEN={secret}"),
        Format::Json => crate::show::inert_json(&json(&token, slug.as_deref().unwrap_or_default())),
    };
    print_line(&text)
}

/// The App's slug, from `GET /app` with its JWT.
async fn app_slug(app: &AppAuth, client: &crate::http::Client) -> Result<String, CliError> {
    let answer = get_json(app, client, "/app", "the App lookup (GET /app)").await?;
    answer["slug"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::refused("GitHub's answer to GET /app has no `slug`"))
}

fn json(token: &InstallationToken, slug: &str) -> serde_json::Value {
    serde_json::json!({
        "token": token.token.expose_secret(),
        "expires_at": rfc3339(token.expires_at),
        "installation_id": token.installation_id.0,
        "app_slug": slug,
        "permissions": token.permissions,
        "repository_selection": token.repository_selection,
        "repositories": token.repositories,
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_permission, repository_names};

    #[test]
    fn repositories_split_on_commas_and_newlines() {
        assert_eq!(
            repository_names("one, two\nthree\n\n,octo/four"),
            ["one", "two", "three", "four"]
        );
    }

    #[test]
    fn permissions_are_name_equals_level() {
        assert_eq!(
            parse_permission("contents=read"),
            Ok(("contents".to_owned(), "read".to_owned()))
        );
        assert!(parse_permission("contents").is_err());
        assert!(parse_permission("=read").is_err());
    }
}
