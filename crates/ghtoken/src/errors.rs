//! What a command can fail with, and its exit code.

use std::fmt;

/// A failed command: its message (one line, what went wrong and what to do) and exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Exit code 1: anything that is neither usage, GitHub's refusal nor the network.
    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }

    /// Exit code 2: the command line cannot be acted on.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Exit code 3: GitHub refused.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: message.into(),
        }
    }

    /// Exit code 4: GitHub could not be reached.
    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self {
            code: 4,
            message: message.into(),
        }
    }

    /// Exit code 5: the input is not a token of the kind the command takes (malformed, or
    /// another kind of token); nothing was sent.
    pub(crate) fn not_a_token(message: impl Into<String>) -> Self {
        Self {
            code: 5,
            message: message.into(),
        }
    }

    /// Exit code 6: GitHub does not accept the token (already revoked or expired, or never
    /// issued: GitHub answers all three alike).
    pub(crate) fn not_accepted(message: impl Into<String>) -> Self {
        Self {
            code: 6,
            message: message.into(),
        }
    }

    /// Adds `more` to the message, on the same line.
    pub(crate) fn add(mut self, more: &str) -> Self {
        self.message = format!("{}; {more}", self.message.trim_end_matches('.'));
        self
    }

    /// The process's exit code.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }

    /// Adds what to do, on the same line, when GitHub refused (exit code 3): a hint about
    /// credentials or installations does not help when GitHub could not be reached.
    pub(crate) fn hint_if_refused(mut self, hint: &str) -> Self {
        if self.code == 3 {
            self.message = format!("{}; {hint}", self.message.trim_end_matches('.'));
        }
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The messages hold text from GitHub's answers.
        f.write_str(&crate::show::inert(&self.message))
    }
}

/// The exit code for an error of the layers.
fn code_of(error: &tower_github_auth::Error) -> u8 {
    use tower_github_auth::Error as E;
    match error {
        E::GitHub { .. }
        | E::OAuth { .. }
        | E::InvalidResponse { .. }
        | E::RefreshImpossible { .. }
        | E::StateMismatch => 3,
        E::Transport { .. } | E::Timeout { .. } | E::Inner(_) => 4,
        E::Backoff { last, .. } => code_of(last),
        _ => 1,
    }
}

/// The innermost cause of an error, such as `Connection refused`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl From<tower_github_auth::Error> for CliError {
    fn from(error: tower_github_auth::Error) -> Self {
        let code = code_of(&error);
        let mut message = error.to_string();
        if code == 4 {
            let cause = root_cause(&error);
            if !message.contains(&cause) {
                message = format!("{message} ({cause})");
            }
            message.push_str("; check --api-url (or GITHUB_API_URL) and the network");
        }
        // The layers' messages are single lines; keep ours so.
        Self {
            code,
            message: message.replace('\n', " "),
        }
    }
}

/// A transport failure of one of our own requests (`GET /app`, `GET /user`).
pub(crate) fn from_service(what: &str, error: &tower_github_auth::Error) -> CliError {
    let mut converted = CliError::from(error.clone());
    converted.message = format!("{what}: {}", converted.message);
    converted
}
