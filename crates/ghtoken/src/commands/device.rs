//! `ghtoken device`: a user token from the OAuth device flow, the way `gh auth login` asks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tower_github_auth::secrecy::ExposeSecret;
use tower_github_auth::{DeviceCode, OAuthDeviceAuth, TokenAuth};

use super::oauth::deliver_token_set;
use super::{endpoints, get_json};
use crate::Global;
use crate::errors::CliError;
use crate::save::Destination;
use crate::show::{inert, say};

/// Sign a user in with the device flow and print the token set as JSON.
///
/// Shows a one-time code on stderr; on a terminal, Enter opens the verification page in the
/// browser (the system's default browser, or $BROWSER; no shell is run). Only an https page on
/// the web host (--web-url, or the host of --api-url) is shown or opened: another page named in
/// GitHub's answer is not, and the host's /login/device page is shown instead. A spinner runs
/// while GitHub is polled (only on a terminal). The token set (`access_token`, `expires_at`,
/// `refresh_token`, ...) goes to stdout, or to --out FILE (replaced whole, mode 0600); if
/// stdout cannot be written it is saved in a file named on stderr (see `ghtoken refresh --help`).
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
    /// Write the token set to FILE (replaced whole, mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(global: &Global, args: DeviceArgs) -> Result<(), CliError> {
    let endpoints = endpoints(global)?;
    let destination = Destination::prepare(args.out)?;
    let web_base = endpoints.web_base().to_owned();
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
            let web_base = web_base.clone();
            async move {
                prompt(&code, &web_base, interactive).await;
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
    say("✓ Authentication complete.");
    if let Some(token) = &set.access_token {
        let auth = TokenAuth::new(token.expose_secret().to_owned())?.endpoints(endpoints);
        match get_json(&auth, &client, "/user", "the user lookup (GET /user)").await {
            Ok(user) => {
                let login = user["login"].as_str().unwrap_or("an unknown user");
                say(&format!("✓ Logged in as {}", inert(login)));
            }
            // The token is there: print it anyway, say what could not be learnt.
            Err(error) => say(&format!("! Could not tell who signed in: {error}")),
        }
    }
    deliver_token_set(&set, destination)
}

/// Shows the code and the page to enter it on; on a terminal, waits for Enter and opens the
/// page in the browser. Only a page [`page_to_open`] accepts is shown or opened.
async fn prompt(code: &DeviceCode, web_base: &str, interactive: bool) {
    say(&format!(
        "! First copy your one-time code: {}",
        inert(&code.user_code)
    ));
    let page = match page_to_open(&code.verification_uri, web_base) {
        Ok(page) => page,
        Err(reason) => {
            say(&format!(
                "! GitHub's answer names the page \"{}\", {reason}: it is not used",
                inert(&code.verification_uri)
            ));
            say(&format!(
                "Open {web_base}/login/device in your browser and enter the code."
            ));
            return;
        }
    };
    // The page is from GitHub's answer (an https URL of the web host, but its path is theirs).
    let shown = inert(&page);
    if !interactive {
        say(&format!("Open {shown} in your browser and enter the code."));
        return;
    }
    {
        use std::io::Write;
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "Press Enter to open {shown} in your browser... ")
            .and_then(|()| stderr.flush());
    }
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    // The default browser (or $BROWSER), started by the `webbrowser` crate without a shell.
    let opened = tokio::task::spawn_blocking({
        let page = page.clone();
        move || webbrowser::open(&page)
    })
    .await;
    let failure = match opened {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error.to_string(),
        Err(error) => error.to_string(),
    };
    say(&format!(
        "! Failed opening a web browser at {shown}: {}",
        inert(&failure)
    ));
    say("  Please try entering the URL in your browser manually");
}

/// The host and port of an `http` or `https` URI (the port its scheme's default when not
/// given), lowercased; `None` for another scheme or a URI with user information.
fn host_and_port(uri: &http::Uri) -> Option<(String, u16)> {
    let default = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return None,
    };
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    Some((
        authority.host().to_ascii_lowercase(),
        authority.port_u16().unwrap_or(default),
    ))
}

/// `verification_uri` when it is an `https` URL on the web host (the host and port of
/// `web_base`), the only page the device flow shows or opens; else why not. An answer from a
/// hostile or broken server cannot make ghtoken open any other page or program.
fn page_to_open(verification_uri: &str, web_base: &str) -> Result<String, String> {
    let web = web_base
        .parse::<http::Uri>()
        .ok()
        .as_ref()
        .and_then(host_and_port);
    let Some((host, port)) = web else {
        return Err("and the web base is not an http(s) URL".to_owned());
    };
    let shown = if port == 443 || port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let not_ours = || format!("not an https page of {shown} (the web host)");
    let uri = verification_uri
        .parse::<http::Uri>()
        .map_err(|_| not_ours())?;
    if uri.scheme_str() != Some("https") || host_and_port(&uri) != Some((host, port)) {
        return Err(not_ours());
    }
    Ok(uri.to_string())
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

#[cfg(test)]
mod tests {
    use super::page_to_open;

    #[test]
    fn only_an_https_page_of_the_web_host_is_opened() {
        let github = "https://github.com";
        assert_eq!(
            page_to_open("https://github.com/login/device", github).as_deref(),
            Ok("https://github.com/login/device")
        );
        assert!(page_to_open("https://GitHub.com:443/login/device", github).is_ok());
        for hostile in [
            "http://github.com/login/device",
            "https://github.com.evil.example/login/device",
            "https://github.com@evil.example/login/device",
            "https://evil.example/?https://github.com/",
            "https://github.com:8443/login/device",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "/login/device",
            "https://github.com/login/device\n$(reboot)",
            "",
        ] {
            let refused = page_to_open(hostile, github).expect_err(hostile);
            assert!(refused.contains("github.com"), "{hostile}: {refused}");
        }
        let ghes = "https://ghe.example.com";
        assert!(page_to_open("https://ghe.example.com/login/device", ghes).is_ok());
        assert!(page_to_open("https://github.com/login/device", ghes).is_err());
        // A plain-http web base (the emulator): its port counts, its scheme never allows http.
        let local = "http://127.0.0.1:8787";
        assert!(page_to_open("https://127.0.0.1:8787/login/device", local).is_ok());
        assert!(page_to_open("http://127.0.0.1:8787/login/device", local).is_err());
        assert!(page_to_open("https://127.0.0.1/login/device", local).is_err());
    }
}
