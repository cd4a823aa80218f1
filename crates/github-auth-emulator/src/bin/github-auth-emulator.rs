//! `github-auth-emulator`: serves the loopback GitHub authentication emulator until Ctrl-C.
//!
//! ```text
//! github-auth-emulator --config emulator.toml --port 8787
//! ```
//!
//! Settings come from the TOML file (a `Config`), then the flags override them.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use github_auth_emulator::{Config, EmulatorBuilder, TokenFormat};

/// A loopback GitHub authentication server: App JWTs, installation tokens, OAuth web and
/// device flows.
#[derive(Debug, Parser)]
#[command(name = "github-auth-emulator", version, about)]
struct Args {
    /// TOML configuration file (see emulator.example.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// The GitHub App's id.
    #[arg(long)]
    app_id: Option<u64>,
    /// The GitHub App's client id.
    #[arg(long)]
    app_client_id: Option<String>,
    /// The GitHub App's client secret.
    #[arg(long)]
    app_client_secret: Option<String>,
    /// PEM file of the app's public key (default: the bundled test key).
    #[arg(long, value_name = "FILE")]
    app_public_key_file: Option<PathBuf>,
    /// Whether GitHub App user tokens expire and come with refresh tokens.
    #[arg(long)]
    expiring_user_tokens: Option<bool>,
    /// Seconds added to the emulator's clock.
    #[arg(long, allow_hyphen_values = true)]
    clock_offset_secs: Option<i64>,
    /// Milliseconds to wait before answering the token endpoints.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Lifetime of installation tokens, in seconds.
    #[arg(long)]
    installation_token_ttl_secs: Option<u64>,
    /// The format of installation tokens minted without an X-GitHub-Stateless-S2S-Token header:
    /// `stateless` (`ghs_<app id>_<JWT>`, about 520 characters) or `classic` (40 characters).
    #[arg(long, value_parser = ["stateless", "classic"])]
    installation_token_format: Option<String>,
    /// Lifetime of expiring user tokens, in seconds.
    #[arg(long)]
    user_token_ttl_secs: Option<u64>,
    /// Lifetime of refresh tokens, in seconds.
    #[arg(long)]
    refresh_token_ttl_secs: Option<u64>,
    /// The device flow's polling interval, in seconds.
    #[arg(long)]
    device_interval_secs: Option<u64>,
    /// The lifetime of device codes, in seconds.
    #[arg(long)]
    device_expires_in_secs: Option<u64>,
}

impl Args {
    /// The file's configuration (or the defaults) with the flags applied.
    fn config(self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|err| format!("cannot parse {}: {err}", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(path) = &self.app_public_key_file {
            config.app_public_key_pem = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        }
        let set = |target: &mut u64, value: Option<u64>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        set(&mut config.app_id, self.app_id);
        set(&mut config.latency_ms, self.latency_ms);
        set(
            &mut config.installation_token_ttl_secs,
            self.installation_token_ttl_secs,
        );
        set(&mut config.user_token_ttl_secs, self.user_token_ttl_secs);
        set(
            &mut config.refresh_token_ttl_secs,
            self.refresh_token_ttl_secs,
        );
        set(&mut config.device_interval_secs, self.device_interval_secs);
        set(
            &mut config.device_expires_in_secs,
            self.device_expires_in_secs,
        );
        if let Some(port) = self.port {
            config.port = port;
        }
        if let Some(id) = self.app_client_id {
            config.app_client_id = id;
        }
        if let Some(secret) = self.app_client_secret {
            config.app_client_secret = secret;
        }
        if let Some(on) = self.expiring_user_tokens {
            config.expiring_user_tokens = on;
        }
        if let Some(offset) = self.clock_offset_secs {
            config.clock_offset_secs = offset;
        }
        match self.installation_token_format.as_deref() {
            Some("stateless") => config.installation_token_format = TokenFormat::Stateless,
            Some("classic") => config.installation_token_format = TokenFormat::Classic,
            _ => {}
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Args::parse().config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("github-auth-emulator: {message}");
            return ExitCode::FAILURE;
        }
    };
    let emulator = match EmulatorBuilder::from_config(config).start().await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("github-auth-emulator: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("github-auth-emulator listening on {}", emulator.base_url());
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("github-auth-emulator: cannot wait for Ctrl-C: {err}");
    }
    emulator.shutdown();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Args::try_parse_from(std::iter::once("github-auth-emulator").chain(args.iter().copied()))
            .map_err(|err| err.to_string())?
            .config()
    }

    #[test]
    fn flags_override_the_file() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/emulator.example.toml");
        let config = parse(&[
            "--config",
            example,
            "--app-id",
            "9",
            "--clock-offset-secs",
            "-5",
            "--installation-token-ttl-secs",
            "60",
            "--expiring-user-tokens",
            "false",
            "--installation-token-format",
            "classic",
        ])
        .unwrap();
        assert_eq!(config.installation_token_format, TokenFormat::Classic);
        assert!(parse(&["--installation-token-format", "long"]).is_err());
        assert_eq!(config.app_id, 9);
        assert_eq!(config.clock_offset_secs, -5);
        assert_eq!(config.installation_token_ttl_secs, 60);
        assert!(!config.expiring_user_tokens);
        assert_eq!(config.installations.len(), 2);
    }

    #[test]
    fn no_file_means_defaults() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
        assert!(parse(&["--config", "/nonexistent/emulator.toml"]).is_err());
    }
}
