//! The numbers that name an App and its installations, as types of their own so they cannot be
//! swapped: `AppInstallationAuth::new(AppId(1), key, InstallationId(2))`.

use std::fmt;

use serde::Serialize;

/// A GitHub App's numeric id (the "App ID" on its settings page).
///
/// ```
/// use tower_github_auth::{AppId, AppIssuer, InstallationId};
///
/// let app = AppId(12345);
/// assert_eq!(AppIssuer::from(app).to_string(), "12345");
/// assert_eq!(AppIssuer::client_id("Iv23liABCDEF").to_string(), "Iv23liABCDEF");
/// assert_eq!(InstallationId(42).to_string(), "42");
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AppId(pub u64);

/// An installation of a GitHub App: its id, as in a webhook's `installation.id`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who the App is in the JWT's `iss`: its numeric id or its client id (GitHub accepts both).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppIssuer {
    /// The App id, such as `12345`.
    Id(AppId),
    /// The App's client id, such as `Iv23liABCDEF`.
    ClientId(String),
}

impl AppIssuer {
    /// The App's client id as issuer.
    pub fn client_id(client_id: impl Into<String>) -> Self {
        Self::ClientId(client_id.into())
    }
}

impl From<AppId> for AppIssuer {
    fn from(id: AppId) -> Self {
        Self::Id(id)
    }
}

impl fmt::Display for AppIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::ClientId(id) => f.write_str(id),
        }
    }
}

impl Serialize for AppIssuer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => s.serialize_u64(id.0),
            Self::ClientId(id) => s.serialize_str(id),
        }
    }
}

/// Which installation: by id, or found through what it is installed on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstallationTarget {
    /// A known installation id.
    Id(InstallationId),
    /// The installation that covers a repository.
    Repository {
        /// The repository's owner.
        owner: String,
        /// The repository's name.
        repo: String,
    },
    /// The installation on an organisation.
    Organization(String),
    /// The installation on a user account.
    User(String),
    /// The installation on an enterprise (GitHub Enterprise Cloud), by its slug.
    Enterprise(String),
}

impl fmt::Display for InstallationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id:{id}"),
            Self::Repository { owner, repo } => write!(f, "repo:{owner}/{repo}"),
            Self::Organization(org) => write!(f, "org:{org}"),
            Self::User(login) => write!(f, "user:{login}"),
            Self::Enterprise(slug) => write!(f, "enterprise:{slug}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_serialize_as_github_expects() {
        assert_eq!(
            serde_json::to_string(&AppIssuer::from(AppId(7))).unwrap(),
            "7"
        );
        assert_eq!(
            serde_json::to_string(&AppIssuer::client_id("Iv1.x")).unwrap(),
            "\"Iv1.x\""
        );
    }
}
