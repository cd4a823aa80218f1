//! The one error type of the crate: what stops a bench from starting or writing its chart.

/// Why a client, the emulator or the chart could not be set up. A request that fails while a
/// workload runs is not an error here: the workloads count it (see
/// [`Failure`](crate::Failure)).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The emulator's listener (or the bench's runtime) could not be set up.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// tower-github-auth refused a setting, or the floor's token could not be minted.
    #[error("tower-github-auth: {0}")]
    Ours(#[from] tower_github_auth::Error),
    /// octocrab refused a setting.
    #[error("octocrab: {0}")]
    Octocrab(String),
    /// A URL or header value could not be built.
    #[error("bad value: {0}")]
    Value(String),
    /// The chart could not be drawn or written.
    #[error("chart: {0}")]
    Chart(String),
}

impl From<octocrab::Error> for BenchError {
    fn from(e: octocrab::Error) -> Self {
        Self::Octocrab(describe_octocrab(&e))
    }
}

/// An octocrab error in one line: GitHub's status and message for an answer GitHub refused (its
/// `Display` says only "GitHub"); tower-github-auth's error when it comes from our layer inside
/// octocrab; else the error's first line (some variants append a backtrace).
pub(crate) fn describe_octocrab(e: &octocrab::Error) -> String {
    if let octocrab::Error::GitHub { source, .. } = e {
        return format!(
            "octocrab: GitHub {}: {}",
            source.status_code.as_u16(),
            source.message
        );
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(ours) = err.downcast_ref::<tower_github_auth::Error>() {
            return format!("our layer: {}", describe_ours(ours));
        }
        cause = err.source();
    }
    format!("octocrab: {}", first_line(&e.to_string()))
}

/// A tower-github-auth error in one line, without the figures that change from request to
/// request (the time left of a backoff), so that failures of one kind count together.
pub(crate) fn describe_ours(e: &tower_github_auth::Error) -> String {
    match e {
        tower_github_auth::Error::Backoff { failures, last, .. } => format!(
            "backoff after {failures} failed exchange(s), the last: {}",
            describe_ours(last)
        ),
        tower_github_auth::Error::GitHub {
            status, message, ..
        } => format!("exchange refused, HTTP {}: {message}", status.as_u16()),
        other => first_line(&other.to_string()),
    }
}

/// The first line of `text`, at most 100 characters.
pub(crate) fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(100)
        .collect()
}
