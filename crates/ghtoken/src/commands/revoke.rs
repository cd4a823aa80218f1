//! `ghtoken revoke`: ends an installation token at GitHub.

use bytes::Bytes;
use clap::Args;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_github_auth::TokenAuth;

use super::{arg_or_stdin, endpoints};
use crate::Global;
use crate::errors::{CliError, from_service};

/// End an installation token at GitHub (`DELETE /installation/token`).
///
/// As the `create-github-app-token` action does at the end of a job. The token is read from
/// stdin when not given; an already ended (revoked or expired) token is not an error.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  ghtoken revoke \"$GH_TOKEN\"\n  \
     ghtoken installation --app-id 123 --private-key app.pem --owner octo > token && ghtoken revoke < token\n\n",
    crate::exit_codes!()
))]
pub(crate) struct RevokeArgs {
    /// The installation token (`ghs_...`); read from stdin when omitted.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

pub(crate) async fn run(global: &Global, args: RevokeArgs) -> Result<(), CliError> {
    let endpoints = endpoints(global)?;
    let token = arg_or_stdin(args.token, "installation token", "an argument")?;
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
            eprintln!("Token revoked.");
            Ok(())
        }
        // Ended already (revoked or expired): what was asked is true.
        StatusCode::UNAUTHORIZED => {
            eprintln!("The token was already revoked or expired.");
            Ok(())
        }
        status => Err(CliError::refused(format!(
            "GitHub refused {what} with HTTP {status}; give an installation token (ghs_...), not a \
             user token or PAT"
        ))),
    }
}
