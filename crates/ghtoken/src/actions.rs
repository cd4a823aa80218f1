//! GitHub Actions: masking a secret before it is printed, and the step outputs in `$GITHUB_OUTPUT`.
//!
//! The runner reads workflow commands (`::add-mask::`) from a step's stdout **and** stderr: its
//! `ScriptHandler` gives each stream its own `OutputManager`, and both pass every line to the
//! command manager (actions/runner, `src/Runner.Worker/Handlers/ScriptHandler.cs`, lines
//! 332-336; `src/Runner.Worker/Handlers/OutputManager.cs`, line 87). The mask goes to stderr, so
//! it reaches the runner whatever the step does with stdout (`> /dev/null`, `$(...)`, a pipe),
//! and stdout carries the token in the format asked for, nothing else.
//!
//! `$GITHUB_OUTPUT` is read by the runner's `EnvFileKeyValuePairs`
//! (`src/Runner.Worker/FileCommandManager.cs`): `NAME=VALUE` lines, or `NAME<<DELIMITER`, the
//! value's lines, then a line that is exactly the delimiter. Every value is written in the
//! second form with a fresh random delimiter, so no value (an App slug from an answer, say) can
//! end its block early and add lines of its own.

use std::io::Write;
use std::path::Path;

use crate::errors::CliError;

/// Whether this runs in a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub(crate) fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// Whether `text` has the characters of a GitHub token or JWT (`[A-Za-z0-9._-]`, not empty):
/// such a text can be masked, sits on one line of any output format and needs no quoting in a
/// shell. GitHub's own pattern for installation tokens is `ghs_[A-Za-z0-9._-]{36,}`.
pub(crate) fn is_token_text(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Refuses a secret from an answer that is not token text: printing it could start a second
/// line of a workflow command, an env file or an `eval`.
pub(crate) fn checked_token<'a>(token: &'a str, what: &str) -> Result<&'a str, CliError> {
    if is_token_text(token) {
        Ok(token)
    } else {
        Err(CliError::refused(format!(
            "GitHub's answer has {what} with characters a token never has (only A-Z, a-z, 0-9, \
             `.`, `_` and `-` are); nothing was printed. Check --api-url"
        )))
    }
}

/// In GitHub Actions, asks the runner to mask `secret` in the log, on stderr (see the module
/// documentation), before the secret is printed or written anywhere. `secret` must be token
/// text ([`is_token_text`]), so that it needs no escaping.
pub(crate) fn mask(secret: &str) -> Result<(), CliError> {
    if !in_actions() {
        return Ok(());
    }
    debug_assert!(is_token_text(secret));
    if crate::show::is_dev_null(&std::io::stderr()) {
        // `2>/dev/null` (or a closed stderr): the mask would never reach the runner.
        return Err(CliError::other(
            "the runner cannot be asked to mask the token: stderr is /dev/null or closed, and \
             the runner reads `::add-mask::` there; nothing was printed. Let stderr reach the \
             step's log",
        ));
    }
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "::add-mask::{secret}")
        .and_then(|()| stderr.flush())
        .map_err(|error| {
            CliError::other(format!(
                "could not ask the runner to mask the token (writing to stderr failed: {error}); \
                 nothing was printed"
            ))
        })
}

/// A delimiter for `NAME<<DELIMITER` blocks: `ghadelimiter_` and 128 random bits in hex, as
/// `@actions/core` makes them.
fn random_delimiter() -> Result<String, CliError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| CliError::other("the system's random generator failed"))?;
    Ok(format!("ghadelimiter_{:032x}", u128::from_be_bytes(bytes)))
}

/// The `$GITHUB_OUTPUT` text for `outputs`: each value in a `NAME<<DELIMITER` block.
fn output_blocks(outputs: &[(&str, &str)], delimiter: &str) -> Result<String, CliError> {
    outputs
        .iter()
        .map(|(name, value)| {
            if value.lines().any(|line| line == delimiter) {
                return Err(CliError::other(format!(
                    "the value of the output `{name}` holds the random delimiter; run again"
                )));
            }
            Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
        })
        .collect()
}

/// Appends `outputs` to the `$GITHUB_OUTPUT` file at `path`, in one write.
pub(crate) fn append_outputs(path: &Path, outputs: &[(&str, &str)]) -> Result<(), CliError> {
    let text = output_blocks(outputs, &random_delimiter()?)?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|error| {
            CliError::other(format!(
                "could not open $GITHUB_OUTPUT to append to it: {error}"
            ))
        })?;
    file.write_all(text.as_bytes())
        .map_err(|error| CliError::other(format!("could not write to $GITHUB_OUTPUT: {error}")))
}

#[cfg(test)]
mod tests {
    use super::{is_token_text, output_blocks, random_delimiter};

    #[test]
    fn token_text() {
        assert!(is_token_text("ghs_16C7e42F292c6912E7710c838347Ae178B4a"));
        assert!(is_token_text(
            "ghs_1_eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln-_"
        ));
        assert!(!is_token_text(""));
        assert!(!is_token_text("ghs_abc\n::stop-commands::x"));
        assert!(!is_token_text("ghs_abc def"));
        assert!(!is_token_text("ghs_abc%0A"));
    }

    #[test]
    fn outputs_are_delimited_blocks() {
        let text = output_blocks(&[("token", "ghs_x"), ("app-slug", "a\nb=c")], "D").expect("text");
        assert_eq!(text, "token<<D\nghs_x\nD\napp-slug<<D\na\nb=c\nD\n");
        assert!(output_blocks(&[("app-slug", "a\nD\nx=1")], "D").is_err());
    }

    #[test]
    fn delimiters_are_fresh() {
        let one = random_delimiter().expect("random");
        assert!(one.starts_with("ghadelimiter_") && one.len() == "ghadelimiter_".len() + 32);
        assert_ne!(one, random_delimiter().expect("random"));
    }
}
