//! `ghtoken`: GitHub App installation tokens, App JWTs and OAuth user tokens from the command
//! line, built on the `tower-github-auth` layers.
//!
//! ```text
//! ghtoken installation --app-id 123 --private-key app.pem --owner octo --repositories one,two
//! ghtoken revoke < token-file
//! ghtoken jwt --app-id 123 --private-key app.pem
//! GHTOKEN_CLIENT_SECRET=... ghtoken refresh --client-id Iv1.abc --out tokens.json < refresh-token
//! GHTOKEN_CLIENT_SECRET=... ghtoken check --client-id Iv1.abc < token-file
//! ghtoken device --client-id Iv1.abc
//! ```
//!
//! Exit codes: 0 success, 1 other failure, 2 usage, 3 refused by GitHub, 4 network, 5 not an
//! installation token (revoke), 6 a token GitHub does not accept (revoke).
//! See `crates/ghtoken/README.md`.

// The argument docs are the `--help` text, where URLs are shown as they are typed.
#![allow(rustdoc::bare_urls)]

mod actions;
mod commands;
mod errors;
mod http;
mod save;
mod show;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::errors::CliError;

/// The exit codes, as every `--help` shows them.
macro_rules! exit_codes {
    () => {
        "Exit codes:\n  0  success\n  1  other failure (unreadable key file, bad input, output \
         not written, ...)\n  2  usage error (bad or missing flags, a secret on the command \
         line)\n  3  refused by GitHub (bad credentials, unknown installation, invalid token, \
         ...)\n  4  network: GitHub unreachable or too slow\n  5  revoke: not an installation \
         token (malformed, or another kind); nothing was sent\n  6  revoke: GitHub does not \
         accept the token: already revoked or expired, or never issued (a typo)"
    };
}
pub(crate) use exit_codes;

/// GitHub App installation tokens, App JWTs and OAuth user tokens.
#[derive(Debug, Parser)]
#[command(
    name = "ghtoken",
    version,
    about,
    after_help = concat!(
        "Examples:\n  ghtoken installation --app-id 123 --private-key app.pem --owner octo\n  \
         ghtoken --api-url http://127.0.0.1:3000 jwt --app-id 1 --private-key test.pem\n\n",
        exit_codes!()
    )
)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The REST API base: https://api.github.com (default), https://HOST/api/v3 (GitHub
    /// Enterprise Server), or a URL serving both the API and OAuth, such as the emulator's
    /// http://127.0.0.1:PORT (used for both when it has no /api/v3 path and no --web-url).
    /// Default: $GITHUB_API_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) api_url: Option<String>,
    /// The web base for OAuth and the device flow: https://github.com (default) or https://HOST.
    /// Default: $GITHUB_SERVER_URL, unless --api-url is given.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) web_url: Option<String>,
    /// Log each request (method, URL, status, time) on stderr; secrets are never shown.
    #[arg(long, short, global = true)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Installation(commands::installation::InstallationArgs),
    Revoke(commands::revoke::RevokeArgs),
    Jwt(commands::jwt::JwtArgs),
    Refresh(commands::oauth::RefreshArgs),
    Check(commands::oauth::CheckArgs),
    Device(commands::device::DeviceArgs),
}

/// How a token is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The token alone.
    #[default]
    Text,
    /// A JSON object with the token and its details.
    Json,
    /// `GH_TOKEN=<token>`: a line for `$GITHUB_ENV` or a `.env` file (`eval` would not export
    /// it: use `shell`).
    Env,
    /// `export GH_TOKEN=<token>`, for `eval "$(ghtoken ...)"` in a POSIX shell.
    Shell,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            show::say(&format!(
                "error: could not start the async runtime: {error}"
            ));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            show::say(&format!("error: {error}"));
            ExitCode::from(error.code())
        }
    }
}

/// A command line clap refused: `--help` and `--version` as clap prints them; any other error
/// without what was typed (a token pasted in the wrong place would land in a CI log), only the
/// flag it concerns.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | ErrorKind::MissingRequiredArgument
            | ErrorKind::MissingSubcommand
    ) {
        // Texts of ours only (help, version, flag names): nothing the user typed.
        let _ = error.print();
        return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
    }
    let what = error
        .kind()
        .as_str()
        .unwrap_or("the command line is not valid");
    // A flag's name (`--token`, `--format <FORMAT>`) is shown; anything else is not.
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) if arg.starts_with('-') => {
            arg.split('=').next().map(|name| format!(": {name}"))
        }
        _ => None,
    };
    show::say(&format!(
        "error: {what}{}; what was typed is not shown (it may be a secret): see `ghtoken --help`",
        flag.unwrap_or_default()
    ));
    ExitCode::from(2)
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let global = cli.global;
    match cli.command {
        Command::Installation(args) => commands::installation::run(&global, args).await,
        Command::Revoke(args) => commands::revoke::run(&global, args).await,
        Command::Jwt(args) => commands::jwt::run(&global, args).await,
        Command::Refresh(args) => commands::oauth::refresh(&global, args).await,
        Command::Check(args) => commands::oauth::check(&global, args).await,
        Command::Device(args) => commands::device::run(&global, args).await,
    }
}
