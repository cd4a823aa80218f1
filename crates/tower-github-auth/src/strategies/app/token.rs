//! [`InstallationToken`]: an installation access token and what GitHub said about it.
//!
//! ```
//! # use tower_github_auth::InstallationToken;
//! fn clone_url(token: &InstallationToken, repo: &str) -> String {
//!     use secrecy::ExposeSecret;
//!     format!("https://x-access-token:{}@github.com/{repo}.git", token.token.expose_secret())
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use secrecy::SecretString;

use crate::clock::Rfc3339;
use crate::strategies::app::ids::InstallationId;

/// An installation access token, with what GitHub said about it; from
/// [`AppInstallationAuth::fetch_token`](crate::AppInstallationAuth::fetch_token).
///
/// For other uses than this crate's requests: `git` over HTTPS
/// (`https://x-access-token:<token>@github.com/owner/repo.git`), a subprocess, another client.
/// `Debug` shows the token as `***`. With the `serde` feature it can be stored (the token in
/// clear: store it as a secret).
#[derive(Clone)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InstallationToken {
    /// The token (`ghs_...`).
    #[cfg_attr(feature = "serde", serde(with = "crate::persist::secret"))]
    pub token: SecretString,
    /// When GitHub says it expires (on GitHub's clock).
    #[cfg_attr(feature = "serde", serde(with = "crate::persist::time"))]
    pub expires_at: SystemTime,
    /// The installation it acts as.
    pub installation_id: InstallationId,
    /// Its permissions, such as `contents: read`.
    pub permissions: BTreeMap<String, String>,
    /// `all` or `selected`, as GitHub reported it.
    pub repository_selection: Option<String>,
    /// The repositories (`owner/name`) it is narrowed to; empty when not narrowed.
    pub repositories: Vec<String>,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"***")
            .field("expires_at", &Rfc3339(self.expires_at))
            .field("installation_id", &self.installation_id)
            .field("permissions", &self.permissions)
            .field("repository_selection", &self.repository_selection)
            .field("repositories", &self.repositories)
            .finish()
    }
}
