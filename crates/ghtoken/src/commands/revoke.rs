//! `ghtoken revoke`: ends an installation token at GitHub.

use bytes::Bytes;
use clap::Args;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_github_auth::TokenAuth;

use super::{endpoints, refuse_on_command_line, secret_from_env_or_stdin};
use crate::Global;
use crate::actions::is_token_text;
use crate::errors::{CliError, from_service};

/// End an installation token at GitHub (`DELETE /installation/token`).
///
/// As the `create-github-app-token` action does at the end of a job. The token is read from
/// stdin, or from the environment variable GHTOKEN_TOKEN; never from the command line, where
/// `ps`, shell history and the Actions log would show it.
///
/// Exits 0 only when GitHub revoked the token now. A text that is not an installation token
/// (`ghs_` and at least 36 of A-Z, a-z, 0-9, `.`, `_`, `-`) exits 5 without being sent. A token
/// GitHub does not accept exits 6: GitHub answers alike (401 Bad credentials) for a token
/// already revoked, expired, or never issued (a typo), so ghtoken cannot tell them apart.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  ghtoken revoke < token-file\n  \
     GHTOKEN_TOKEN=\"$GH_TOKEN\" ghtoken revoke\n  \
     ghtoken installation --app-id 123 --private-key app.pem --owner octo | ghtoken revoke\n\n",
    crate::exit_codes!()
))]
pub(crate) struct RevokeArgs {
    /// Refused: a token on the command line is visible to others.
    #[arg(value_name = "TOKEN", hide = true)]
    token: Option<String>,
}

/// Whether `text` has the shape of an installation token: GitHub's pattern
/// `ghs_[A-Za-z0-9._-]{36,}`.
fn is_installation_token(text: &str) -> bool {
    text.strip_prefix("ghs_")
        .is_some_and(|rest| rest.len() >= 36 && is_token_text(rest))
}

pub(crate) async fn run(global: &Global, args: RevokeArgs) -> Result<(), CliError> {
    refuse_on_command_line(
        args.token.as_ref(),
        "a token",
        "pipe it on stdin or set the environment variable GHTOKEN_TOKEN",
    )?;
    let endpoints = endpoints(global)?;
    let token = secret_from_env_or_stdin("GHTOKEN_TOKEN", "installation token")?;
    if !is_installation_token(&token) {
        return Err(CliError::not_a_token(
            "not an installation token: it should be `ghs_` and at least 36 of A-Z, a-z, 0-9, \
             `.`, `_` and `-` (a user token or PAT cannot be revoked this way); nothing was sent",
        ));
    }
    let client = crate::http::client(global.verbose);
    let auth = TokenAuth::new(token)?.endpoints(endpoints);
    let request = Request::delete("/installation/token")
        .body(Full::<Bytes>::default())
        .map_err(|error| CliError::other(format!("bad request: {error}")))?;
    let what = "the token revocation (DELETE /installation/token)";
    let response = auth
        .layer(client)
        .oneshot(request)
        .await
        .map_err(|error| from_service(what, &error))?;
    match response.status() {
        status if status.is_success() => {
            crate::show::say("Token revoked.");
            Ok(())
        }
        StatusCode::UNAUTHORIZED => Err(CliError::not_accepted(
            "GitHub does not accept this token (401 Bad credentials): it was already revoked or \
             has expired, or it was never issued (a typo). GitHub answers all three alike; if \
             the token was copied by hand, check it, as the real one may still be valid",
        )),
        status => Err(CliError::refused(format!(
            "GitHub refused {what} with HTTP {status}; give an installation token (ghs_...), not a \
             user token or PAT"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::is_installation_token;

    #[test]
    fn installation_token_shape() {
        assert!(is_installation_token(&format!("ghs_{}", "a".repeat(36))));
        assert!(is_installation_token(
            "ghs_1_eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJlLV8"
        ));
        assert!(!is_installation_token(&format!("ghs_{}", "a".repeat(35))));
        assert!(!is_installation_token(&format!("ghp_{}", "a".repeat(36))));
        assert!(!is_installation_token(&format!("ghs_{} x", "a".repeat(36))));
        assert!(!is_installation_token("not-a-token"));
    }
}
