//! `ghtoken jwt`: a fresh App JWT.

use clap::Args;
use tower_github_auth::secrecy::ExposeSecret;

use super::{AppArgs, endpoints};
use crate::Global;
use crate::errors::CliError;

/// Print a fresh GitHub App JWT (valid up to 10 minutes), for the `/app` routes.
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
    println!("{}", jwt.expose_secret());
    Ok(())
}
