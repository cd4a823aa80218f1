//! `ghtoken refresh` and `ghtoken check`: user tokens of an OAuth app or GitHub App.

use std::path::PathBuf;

use clap::Args;
use tower_github_auth::secrecy::{ExposeSecret, SecretString};
use tower_github_auth::{ClientCredentials, OAuthAppAuth, OAuthTokenAuth, TokenSet};

use super::{
    client_secret_from_env, endpoints, print_line, refuse_on_command_line, rfc3339,
    secret_from_env_or_stdin,
};
use crate::Global;
use crate::actions::checked_token;
use crate::errors::CliError;
use crate::save::Destination;
use crate::show::{inert, inert_json};

/// Exchange a refresh token for a new user token and refresh token, printed as JSON.
///
/// The refresh token is read from stdin, or from the environment variable
/// GHTOKEN_REFRESH_TOKEN; the client secret (omitted for tokens from the device flow) from
/// GHTOKEN_CLIENT_SECRET. Never from the command line, where `ps`, shell history and the
/// Actions log would show them.
///
/// The old refresh token is spent as soon as GitHub answers, so the new pair is never dropped:
/// with --out FILE it replaces FILE whole (mode 0600; FILE is checked writable before GitHub is
/// asked); else it goes to stdout, and if stdout cannot take it (closed, full, /dev/null) it is
/// saved in a new file (mode 0600) under $XDG_STATE_HOME/ghtoken (else ~/.local/state/ghtoken),
/// named on stderr, and the command exits 1.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  GHTOKEN_CLIENT_SECRET=... ghtoken refresh --client-id Iv23abc --out tokens.json \
     < refresh-token\n  \
     jq -r .refresh_token tokens.json | ghtoken refresh --client-id Iv23abc --out tokens.json\n\n",
    crate::exit_codes!()
))]
pub(crate) struct RefreshArgs {
    /// The client id of the GitHub App (or OAuth app) the token belongs to.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Write the new pair to FILE (replaced whole, mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Refused: give the secret in GHTOKEN_CLIENT_SECRET.
    #[arg(long, value_name = "SECRET", hide = true)]
    client_secret: Option<String>,
    /// Refused: pipe the refresh token on stdin or give it in GHTOKEN_REFRESH_TOKEN.
    #[arg(long, value_name = "TOKEN", hide = true)]
    refresh_token: Option<String>,
}

/// Check a user token with its OAuth client: whether it is valid, and for whom.
///
/// The token is read from stdin, or from the environment variable GHTOKEN_TOKEN; the client
/// secret from GHTOKEN_CLIENT_SECRET. Prints `valid: <login> ...` (or JSON with --json); exits
/// 3 when the token is not valid.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Example:\n  GHTOKEN_CLIENT_SECRET=... ghtoken check --client-id Iv23abc < token-file\n\n",
    crate::exit_codes!()
))]
pub(crate) struct CheckArgs {
    /// The client id of the OAuth app or GitHub App the token was issued to.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Refused: give the secret in GHTOKEN_CLIENT_SECRET.
    #[arg(long, value_name = "SECRET", hide = true)]
    client_secret: Option<String>,
    /// Print `{"valid", "login", "scopes", "expires_at"}` instead of a line of text.
    #[arg(long)]
    json: bool,
    /// Refused: a token on the command line is visible to others.
    #[arg(value_name = "TOKEN", hide = true)]
    token: Option<String>,
}

const CLIENT_SECRET_INSTEAD: &str =
    "set the environment variable GHTOKEN_CLIENT_SECRET (stdin is for the token)";

/// A token set as JSON: the tokens in clear (it is the command's output), times in RFC 3339.
pub(crate) fn token_set_json(set: &TokenSet) -> serde_json::Value {
    serde_json::json!({
        "access_token": set.access_token.as_ref().map(|t| t.expose_secret().to_owned()),
        "expires_at": set.expires_at.map(rfc3339),
        "refresh_token": set.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
        "refresh_token_expires_at": set.refresh_token_expires_at.map(rfc3339),
        "scopes": set.scopes,
    })
}

pub(crate) async fn refresh(global: &Global, args: RefreshArgs) -> Result<(), CliError> {
    refuse_on_command_line(
        args.client_secret.as_ref(),
        "a client secret",
        CLIENT_SECRET_INSTEAD,
    )?;
    refuse_on_command_line(
        args.refresh_token.as_ref(),
        "a refresh token",
        "pipe it on stdin or set the environment variable GHTOKEN_REFRESH_TOKEN",
    )?;
    let endpoints = endpoints(global)?;
    let refresh_token = secret_from_env_or_stdin("GHTOKEN_REFRESH_TOKEN", "refresh token")?;
    // Before the old refresh token is spent: the place the new pair goes can be written.
    let destination = Destination::prepare(args.out)?;
    let client = crate::http::client(global.verbose);
    let builder = match client_secret_from_env() {
        Some(secret) => OAuthTokenAuth::builder(ClientCredentials::new(args.client_id, secret)),
        None => OAuthTokenAuth::builder_without_secret(args.client_id),
    };
    let set = builder
        .endpoints(endpoints)
        .refresh_token(refresh_token)
        .build()
        .refresh(&client)
        .await
        .map_err(|error| {
            let code = error.oauth_error().map(str::to_owned);
            let converted = CliError::from(error);
            match code.as_deref() {
                Some("bad_refresh_token") => converted.hint_if_refused(
                    "the refresh token is spent, expired or of another client: sign in again \
                     (ghtoken device)",
                ),
                Some("incorrect_client_credentials") => {
                    converted.hint_if_refused("check --client-id and GHTOKEN_CLIENT_SECRET")
                }
                _ => converted,
            }
        })?;
    deliver_token_set(&set, destination)
}

/// Hands over `set` (masked first in GitHub Actions when it goes to stdout): see [`Destination`].
/// A token that cannot be printed safely, or a mask that cannot be written, does not drop the
/// set (the refresh token it came for may be spent): it is saved aside, and the command fails.
pub(crate) fn deliver_token_set(set: &TokenSet, destination: Destination) -> Result<(), CliError> {
    const WHAT: &str = "the new token pair";
    let text = inert_json(&token_set_json(set));
    let tokens = [&set.access_token, &set.refresh_token];
    let ready = tokens
        .into_iter()
        .flatten()
        .try_for_each(|token| checked_token(token.expose_secret(), "a token").map(drop))
        .and_then(|()| {
            if destination.is_file() {
                return Ok(());
            }
            tokens
                .into_iter()
                .flatten()
                .try_for_each(|token| crate::actions::mask(token.expose_secret()))
        });
    match ready {
        Ok(()) => destination.deliver(&text, WHAT),
        Err(error) => Err(destination.keep_aside(&text, WHAT, error)),
    }
}

pub(crate) async fn check(global: &Global, args: CheckArgs) -> Result<(), CliError> {
    refuse_on_command_line(
        args.token.as_ref(),
        "a token",
        "pipe it on stdin or set the environment variable GHTOKEN_TOKEN",
    )?;
    refuse_on_command_line(
        args.client_secret.as_ref(),
        "a client secret",
        CLIENT_SECRET_INSTEAD,
    )?;
    let client_secret = client_secret_from_env()
        .ok_or_else(|| CliError::usage(format!("no client secret: {CLIENT_SECRET_INSTEAD}")))?;
    let endpoints = endpoints(global)?;
    let token = SecretString::from(secret_from_env_or_stdin("GHTOKEN_TOKEN", "token")?);
    let client = crate::http::client(global.verbose);
    let info = OAuthAppAuth::new(ClientCredentials::new(args.client_id, client_secret))
        .endpoints(endpoints)
        .check_token(&client, &token)
        .await
        .map_err(|error| {
            if error.status() == Some(http::StatusCode::UNAUTHORIZED) {
                CliError::from(error).hint_if_refused("check --client-id and GHTOKEN_CLIENT_SECRET")
            } else {
                CliError::from(error)
            }
        })?;
    let Some(info) = info else {
        if args.json {
            print_line(&inert_json(&serde_json::json!({ "valid": false })))?;
        }
        return Err(CliError::refused(
            "the token is not valid: GitHub does not know it for this client (revoked, expired, \
             or issued to another client); sign in again",
        ));
    };
    let login = info.login.as_deref().unwrap_or("an unknown user");
    if args.json {
        print_line(&inert_json(&serde_json::json!({
            "valid": true,
            "login": info.login,
            "scopes": info.scopes,
            "expires_at": info.expires_at.map(rfc3339),
        })))?;
    } else {
        let scopes = if info.scopes.is_empty() {
            "none".to_owned()
        } else {
            info.scopes.join(",")
        };
        let expires = info.expires_at.map_or_else(|| "never".to_owned(), rfc3339);
        // The login and scopes are from GitHub's answer.
        print_line(&inert(&format!(
            "valid: token of {login} (scopes: {scopes}; expires: {expires})"
        )))?;
    }
    Ok(())
}
