//! `ghtoken refresh` and `ghtoken check`: user tokens of an OAuth app or GitHub App.

use clap::Args;
use tower_github_auth::secrecy::{ExposeSecret, SecretString};
use tower_github_auth::{ClientCredentials, OAuthAppAuth, OAuthTokenAuth, TokenSet};

use super::{arg_or_stdin, endpoints, rfc3339};
use crate::Global;
use crate::errors::CliError;

/// Exchange a refresh token for a new user token and refresh token, printed as JSON.
///
/// The old refresh token is spent: store the new pair at once.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  ghtoken refresh --client-id Iv23abc --client-secret \"$SECRET\" --refresh-token \"$REFRESH\"\n  \
     GHTOKEN_CLIENT_SECRET=... ghtoken refresh --client-id Iv23abc < refresh-token > tokens.json\n\n",
    crate::exit_codes!()
))]
pub(crate) struct RefreshArgs {
    /// The client id of the GitHub App (or OAuth app) the token belongs to.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Its client secret (omit for tokens from the device flow).
    #[arg(
        long,
        value_name = "SECRET",
        env = "GHTOKEN_CLIENT_SECRET",
        hide_env_values = true
    )]
    client_secret: Option<String>,
    /// The refresh token (`ghr_...`); read from stdin when omitted.
    #[arg(long, value_name = "TOKEN")]
    refresh_token: Option<String>,
}

/// Check a user token with its OAuth client: whether it is valid, and for whom.
///
/// Prints `valid: <login> ...` (or JSON with --json); exits 3 when the token is not valid.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Example:\n  ghtoken check --client-id Iv23abc --client-secret \"$SECRET\" \"$TOKEN\"\n\n",
    crate::exit_codes!()
))]
pub(crate) struct CheckArgs {
    /// The client id of the OAuth app or GitHub App the token was issued to.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Its client secret.
    #[arg(
        long,
        value_name = "SECRET",
        env = "GHTOKEN_CLIENT_SECRET",
        hide_env_values = true
    )]
    client_secret: String,
    /// Print `{"valid", "login", "scopes", "expires_at"}` instead of a line of text.
    #[arg(long)]
    json: bool,
    /// The user token; read from stdin when omitted.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

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
    let endpoints = endpoints(global)?;
    let refresh_token = arg_or_stdin(args.refresh_token, "refresh token", "--refresh-token")?;
    let client = crate::http::client(global.verbose);
    let builder = match args.client_secret {
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
                    converted.hint_if_refused("check --client-id and --client-secret")
                }
                _ => converted,
            }
        })?;
    println!("{}", token_set_json(&set));
    Ok(())
}

pub(crate) async fn check(global: &Global, args: CheckArgs) -> Result<(), CliError> {
    let endpoints = endpoints(global)?;
    let token = SecretString::from(arg_or_stdin(args.token, "token", "an argument")?);
    let client = crate::http::client(global.verbose);
    let info = OAuthAppAuth::new(ClientCredentials::new(args.client_id, args.client_secret))
        .endpoints(endpoints)
        .check_token(&client, &token)
        .await
        .map_err(|error| {
            if error.status() == Some(http::StatusCode::UNAUTHORIZED) {
                CliError::from(error).hint_if_refused("check --client-id and --client-secret")
            } else {
                CliError::from(error)
            }
        })?;
    let Some(info) = info else {
        if args.json {
            println!("{}", serde_json::json!({ "valid": false }));
        }
        return Err(CliError::refused(
            "the token is not valid: GitHub does not know it for this client (revoked, expired, \
             or issued to another client); sign in again",
        ));
    };
    let login = info.login.as_deref().unwrap_or("an unknown user");
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "valid": true,
                "login": info.login,
                "scopes": info.scopes,
                "expires_at": info.expires_at.map(rfc3339),
            })
        );
    } else {
        let scopes = if info.scopes.is_empty() {
            "none".to_owned()
        } else {
            info.scopes.join(",")
        };
        let expires = info.expires_at.map_or_else(|| "never".to_owned(), rfc3339);
        println!("valid: token of {login} (scopes: {scopes}; expires: {expires})");
    }
    Ok(())
}
