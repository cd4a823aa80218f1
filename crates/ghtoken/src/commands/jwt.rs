//! `ghtoken jwt`: a fresh App JWT.

use clap::Args;
use tower_github_auth::secrecy::ExposeSecret;

use super::{AppArgs, endpoints, print_line};
use crate::Global;
use crate::errors::CliError;

/// Print a fresh GitHub App JWT (valid up to 10 minutes), for the `/app` routes.
///
/// In GitHub Actions (GITHUB_ACTIONS=true) it is masked first (`::add-mask::` on stderr).
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Example:\n  curl -H \"Authorization: Bearer $(ghtoken jwt --app-id 123 --private-key app.pem)\" \
     https://api.github.com/app\n\n",
    crate::exit_codes!()
))]
pub(crate) struct JwtArgs {
    #[command(flatten)]
    app: AppArgs,
}

pub(crate) async fn run(global: &Global, args: JwtArgs) -> Result<(), CliError> {
    let app = args.app.app(endpoints(global)?)?;
    let jwt = app.fetch_jwt().await?;
    let jwt = crate::actions::checked_token(jwt.expose_secret(), "a JWT")?;
    // In GitHub Actions, masked first (on stderr): stdout carries the JWT alone.
    crate::actions::mask(jwt)?;
    print_line(jwt)
}
