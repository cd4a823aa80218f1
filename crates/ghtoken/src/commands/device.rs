//! `ghtoken device`: a user token from the OAuth device flow, the way `gh auth login` asks.

use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tower_github_auth::secrecy::ExposeSecret;
use tower_github_auth::{DeviceCode, OAuthDeviceAuth, TokenAuth};

use super::oauth::token_set_json;
use super::{endpoints, get_json};
use crate::Global;
use crate::errors::CliError;

/// Sign a user in with the device flow and print the token set as JSON.
///
/// Shows a one-time code on stderr; on a terminal, Enter opens the verification page in the
/// browser ($BROWSER, else xdg-open or open). A spinner runs while GitHub is polled (only on a
/// terminal). The token set (`access_token`, `expires_at`, `refresh_token`, ...) goes to stdout.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  ghtoken device --client-id Iv23abc > tokens.json\n  \
     ghtoken device --client-id 0123456789abcdef --scopes repo,read:org\n\n",
    crate::exit_codes!()
))]
pub(crate) struct DeviceArgs {
    /// The client id of the GitHub App or OAuth app (with the device flow enabled).
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// OAuth scopes to ask for, comma separated (none for a GitHub App).
    #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
    scopes: Vec<String>,
}

pub(crate) async fn run(global: &Global, args: DeviceArgs) -> Result<(), CliError> {
    let endpoints = endpoints(global)?;
    let client = crate::http::client(global.verbose);
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let spinner: Arc<Mutex<Option<ProgressBar>>> = Arc::default();
    let shown = Arc::clone(&spinner);
    let flow = OAuthDeviceAuth::builder(args.client_id)
        .scopes(
            args.scopes
                .iter()
                .map(|scope| scope.trim().to_owned())
                .filter(|scope| !scope.is_empty()),
        )
        .endpoints(endpoints.clone())
        .on_user_code_async(move |code: DeviceCode| {
            let shown = Arc::clone(&shown);
            async move {
                prompt(&code, interactive).await;
                let bar = spinner_bar();
                if let Ok(mut slot) = shown.lock() {
                    *slot = Some(bar);
                }
            }
        })
        .build();
    let result = flow.fetch_token(&client).await;
    if let Some(bar) = spinner.lock().ok().and_then(|mut slot| slot.take()) {
        bar.finish_and_clear();
    }
    let set = result.map_err(|error| {
        let code = error.oauth_error().map(str::to_owned);
        let converted = CliError::from(error);
        match code.as_deref() {
            Some("access_denied") => {
                converted.hint_if_refused("the sign-in was refused; run again to retry")
            }
            Some("expired_token") => {
                converted.hint_if_refused("the code expired before it was entered; run again")
            }
            Some("device_flow_disabled") => {
                converted.hint_if_refused("enable the device flow in the app's settings")
            }
            _ => converted,
        }
    })?;
    eprintln!("✓ Authentication complete.");
    if let Some(token) = &set.access_token {
        let auth = TokenAuth::new(token.expose_secret().to_owned())?.endpoints(endpoints);
        match get_json(&auth, &client, "/user", "the user lookup (GET /user)").await {
            Ok(user) => {
                let login = user["login"].as_str().unwrap_or("an unknown user");
                eprintln!("✓ Logged in as {login}");
            }
            // The token is there: print it anyway, say what could not be learnt.
            Err(error) => eprintln!("! Could not tell who signed in: {error}"),
        }
    }
    println!("{}", token_set_json(&set));
    Ok(())
}

/// Shows the code; on a terminal, waits for Enter and opens the browser.
async fn prompt(code: &DeviceCode, interactive: bool) {
    let uri = code.verification_uri.clone();
    eprintln!("! First copy your one-time code: {}", code.user_code);
    if !interactive {
        eprintln!("Open {uri} in your browser and enter the code.");
        return;
    }
    eprint!("Press Enter to open {uri} in your browser... ");
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    if let Err(reason) = open_browser(&uri) {
        eprintln!("! Failed opening a web browser at {uri}: {reason}");
        eprintln!("  Please try entering the URL in your browser manually");
    }
}

/// A spinner on stderr while polling; hidden when stderr is not a terminal.
fn spinner_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::default_spinner());
    bar.set_message("Waiting for authorization...");
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Opens `url` with $BROWSER, else the platform's opener; best effort.
fn open_browser(url: &str) -> Result<(), String> {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|browser| !browser.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".to_owned()
            } else if cfg!(windows) {
                "explorer".to_owned()
            } else {
                "xdg-open".to_owned()
            }
        });
    match Command::new(&program)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{program}` {status}")),
        Err(error) => Err(format!("`{program}`: {error}")),
    }
}
