//! The commands, and what they share: endpoints, the App's key, GitHub requests, stdin.

pub(crate) mod device;
pub(crate) mod installation;
pub(crate) mod jwt;
pub(crate) mod oauth;
pub(crate) mod revoke;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use bytes::Bytes;
use clap::Args;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};
use tower_github_auth::{AppAuth, AppId, AppIssuer, Endpoints};
use tower_service::Service;

use crate::Global;
use crate::errors::{CliError, from_service};
use crate::http::{Body, Client};

/// The endpoints the global flags name, else `GITHUB_API_URL` and `GITHUB_SERVER_URL` (the
/// latter only when `--api-url` is not given, so that `--api-url` alone is never mixed with the
/// web base of the machine's environment).
pub(crate) fn endpoints(global: &Global) -> Result<Endpoints, CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let api = global.api_url.clone().or_else(|| env("GITHUB_API_URL"));
    let web = global.web_url.clone().or_else(|| {
        global
            .api_url
            .is_none()
            .then(|| env("GITHUB_SERVER_URL"))
            .flatten()
    });
    choose_endpoints(api.as_deref(), web.as_deref())
}

/// The endpoints of an API base and a web base, read as `Endpoints::from_vars` reads Actions'
/// `GITHUB_API_URL` and `GITHUB_SERVER_URL` (one reader for the library, `ActionAuth` and this
/// tool): github.com, GHE.com (`api.SUBDOMAIN.ghe.com`), GitHub Enterprise Server (`/api/v3`), or
/// one base for both (the emulator).
fn choose_endpoints(api: Option<&str>, web: Option<&str>) -> Result<Endpoints, CliError> {
    let trimmed = |value: Option<&str>| value.map(|v| v.trim().trim_end_matches('/').to_owned());
    let (api, web) = (trimmed(api), trimmed(web));
    Endpoints::from_vars(|name| match name {
        "GITHUB_API_URL" => api.clone(),
        "GITHUB_SERVER_URL" => web.clone(),
        _ => None,
    })
    .map_err(|error| CliError::usage(error.to_string()))
}

/// Which GitHub App, and its private key.
#[derive(Debug, Args)]
pub(crate) struct AppArgs {
    /// The App's numeric id (its settings page, "App ID").
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "client_id",
        conflicts_with = "client_id"
    )]
    pub(crate) app_id: Option<u64>,
    /// The App's client id (`Iv1.` or `Iv23...`), instead of --app-id.
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The App's private key, a PEM file; without it, the PEM itself from the environment
    /// variable GHTOKEN_PRIVATE_KEY.
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,
}

impl AppArgs {
    /// The App's JWT layer at `endpoints`.
    pub(crate) fn app(&self, endpoints: Endpoints) -> Result<AppAuth, CliError> {
        let pem = match &self.private_key {
            Some(path) => std::fs::read_to_string(path).map_err(|error| {
                CliError::other(format!(
                    "could not read the private key file `{}`: {error}; give the PEM file \
                     GitHub generated for the App",
                    path.display()
                ))
            })?,
            None => match std::env::var("GHTOKEN_PRIVATE_KEY") {
                // A PEM pasted into a single-line secret has its newlines as `\n`.
                Ok(pem) if !pem.trim().is_empty() => pem.replace("\\n", "\n"),
                _ => {
                    return Err(CliError::usage(
                        "no private key: give --private-key FILE, or the PEM itself in the \
                         environment variable GHTOKEN_PRIVATE_KEY",
                    ));
                }
            },
        };
        let issuer = match (&self.app_id, &self.client_id) {
            (Some(id), _) => AppIssuer::from(AppId(*id)),
            (None, Some(client_id)) => AppIssuer::client_id(client_id.clone()),
            (None, None) => return Err(CliError::usage("give --app-id or --client-id")),
        };
        Ok(AppAuth::from_pem(issuer, pem)?.endpoints(endpoints))
    }
}

/// `GET path` through `layer` over `client`, as JSON; `what` names the request in errors.
pub(crate) async fn get_json<L>(
    layer: &L,
    client: &Client,
    path: &str,
    what: &str,
) -> Result<serde_json::Value, CliError>
where
    L: Layer<Client>,
    L::Service:
        Service<Request<Full<Bytes>>, Response = Response<Body>, Error = tower_github_auth::Error>,
{
    let request = Request::get(path)
        .body(Full::default())
        .map_err(|error| CliError::other(format!("{what}: bad request: {error}")))?;
    let response = layer
        .layer(client.clone())
        .oneshot(request)
        .await
        .map_err(|error| from_service(what, &error))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| {
            CliError::network(format!("{what}: the answer could not be read: {error}"))
        })?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let message = json["message"].as_str().unwrap_or("no message");
        return Err(CliError::refused(format!(
            "GitHub refused {what} with HTTP {status}: {message}"
        )));
    }
    Ok(json)
}

/// Refuses a secret given on the command line: there `ps` shows it to every user of the
/// machine, the shell keeps it in its history, and the Actions log shows it in the expanded
/// `run:` line. `given` is the flag's or argument's value (never shown); `instead` says where
/// the secret goes.
pub(crate) fn refuse_on_command_line(
    given: Option<&String>,
    what: &str,
    instead: &str,
) -> Result<(), CliError> {
    match given {
        None => Ok(()),
        Some(_) => Err(CliError::usage(format!(
            "{what} on the command line is visible to other users (`ps`), in shell history and \
             in the Actions log; nothing was sent: {instead}"
        ))),
    }
}

/// The most stdin may hold when a secret is read from it.
const STDIN_LIMIT: u64 = 64 * 1024;

/// A secret from the environment variable `env` when it is set and not empty, else read from
/// stdin (trimmed), as `gh auth login --with-token` reads it; `what` names it in errors.
pub(crate) fn secret_from_env_or_stdin(env: &str, what: &str) -> Result<String, CliError> {
    if let Ok(value) = std::env::var(env)
        && !value.trim().is_empty()
    {
        return Ok(value.trim().to_owned());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::usage(format!(
            "no {what}: pipe it on stdin or set the environment variable {env}"
        )));
    }
    let mut text = String::new();
    // Bounded: a token is about 520 bytes at most; a file piped by mistake is not read whole.
    stdin
        .lock()
        .take(STDIN_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|error| {
            CliError::other(format!("could not read the {what} from stdin: {error}"))
        })?;
    if text.len() as u64 > STDIN_LIMIT {
        return Err(CliError::usage(format!(
            "stdin holds more than {STDIN_LIMIT} bytes: not a {what}; pipe the {what} alone"
        )));
    }
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(CliError::usage(format!(
            "no {what}: stdin was empty; pipe it on stdin or set the environment variable {env}"
        )));
    }
    Ok(text)
}

/// The client secret from `GHTOKEN_CLIENT_SECRET`, when it is set and not empty.
pub(crate) fn client_secret_from_env() -> Option<String> {
    std::env::var("GHTOKEN_CLIENT_SECRET")
        .ok()
        .map(|secret| secret.trim().to_owned())
        .filter(|secret| !secret.is_empty())
}

/// Writes `text` and a newline to stdout; a closed or full stdout is an error, not a panic.
pub(crate) fn print_line(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|error| CliError::other(format!("could not write to stdout: {error}")))
}

/// An RFC 3339 timestamp (`2026-11-24T15:04:05Z`).
pub(crate) fn rfc3339(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::choose_endpoints;

    fn bases(api: Option<&str>, web: Option<&str>) -> (String, String) {
        let endpoints = choose_endpoints(api, web).expect("endpoints");
        (
            endpoints.api_base().to_owned(),
            endpoints.web_base().to_owned(),
        )
    }

    #[test]
    fn endpoints_from_the_flags() {
        let dotcom = (
            "https://api.github.com".to_owned(),
            "https://github.com".to_owned(),
        );
        assert_eq!(bases(None, None), dotcom);
        assert_eq!(bases(Some("https://api.github.com/"), None), dotcom);
        assert_eq!(bases(None, Some("https://github.com")), dotcom);
        let ghes = (
            "https://ghe.example.com/api/v3".to_owned(),
            "https://ghe.example.com".to_owned(),
        );
        assert_eq!(bases(Some("https://ghe.example.com/api/v3"), None), ghes);
        assert_eq!(bases(None, Some("https://ghe.example.com")), ghes);
        let emulator = (
            "http://127.0.0.1:3000".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        );
        assert_eq!(bases(Some("http://127.0.0.1:3000"), None), emulator);
        assert_eq!(
            bases(Some("http://127.0.0.1:3000"), Some("http://127.0.0.1:4000")),
            (
                "http://127.0.0.1:3000".to_owned(),
                "http://127.0.0.1:4000".to_owned()
            )
        );
        let ghe_com = (
            "https://api.octo.ghe.com".to_owned(),
            "https://octo.ghe.com".to_owned(),
        );
        assert_eq!(bases(Some("https://api.octo.ghe.com"), None), ghe_com);
        assert_eq!(bases(None, Some("https://octo.ghe.com")), ghe_com);
        assert!(choose_endpoints(Some("not a url"), None).is_err());
    }
}
