//! Who a credential speaks for: the App, one of its installations, or a user. Errors of an
//! exchange name it ([`Error::subject`](crate::Error::subject)), and so does GitHub's refusal
//! of a request that carried it (a [`Subject`] in the response's extensions).

use std::collections::BTreeMap;
use std::fmt;

use crate::strategies::app::ids::{AppIssuer, InstallationTarget};

/// Who the credential of a request or of an exchange speaks for. Never a secret: ids, names and
/// the narrowing asked for.
///
/// It reaches the caller two ways:
/// - [`Error::subject`](crate::Error::subject): the App, installation or user an exchange was
///   for, when it failed;
/// - in the extensions of a response GitHub refused (401, 403, 429, or a 200 with SSO partial
///   results) that went through a layer with a minted credential: which credential the request
///   carried. Read it with [`Subject::of`].
///
/// ```
/// use tower_github_auth::{AppId, AppIssuer, InstallationId, InstallationTarget, Subject};
///
/// let mut refused = http::Response::new(());
/// *refused.status_mut() = http::StatusCode::FORBIDDEN;
/// // The layer puts it there; here, by hand.
/// refused.extensions_mut().insert(Subject::Installation {
///     app: AppIssuer::Id(AppId(12345)),
///     installation: InstallationTarget::Id(InstallationId(42)),
///     narrowing: None,
/// });
/// let subject = Subject::of(&refused).expect("a refusal names its credential");
/// assert_eq!(subject.to_string(), "installation id:42 of App 12345");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subject {
    /// The App itself, with its JWT ([`AppAuth`](crate::AppAuth)).
    App {
        /// The App, as its JWT names it.
        app: AppIssuer,
    },
    /// An installation of the App, with an installation token
    /// ([`AppInstallationAuth`](crate::AppInstallationAuth)).
    Installation {
        /// The App.
        app: AppIssuer,
        /// The installation, as the layer names it.
        installation: InstallationTarget,
        /// What the token was narrowed to; `None`: everything the installation may do.
        narrowing: Option<Narrowing>,
    },
    /// A user, with a user access token of an OAuth App or a GitHub App (the user layers).
    User {
        /// The client id of the OAuth App or GitHub App the token was issued to.
        client_id: String,
        /// The user's key in the [`TokenStore`](crate::TokenStore) the fleet shares the token
        /// through (as given to the builder's `store`); `None` without a store.
        user: Option<String>,
    },
}

/// What an installation token was narrowed to ([`Subject::Installation`]): the repositories
/// and permissions asked for when it was minted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Narrowing {
    /// Repositories by name.
    pub repositories: Vec<String>,
    /// Repositories by id.
    pub repository_ids: Vec<u64>,
    /// Permissions by name, with their level (`read`, `write`, `admin`).
    pub permissions: BTreeMap<String, String>,
}

impl Subject {
    /// The credential a refused response's request carried, as the layer recorded it.
    #[must_use]
    pub fn of<B>(response: &http::Response<B>) -> Option<&Self> {
        response.extensions().get()
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::App { app } => write!(f, "App {app}"),
            Self::Installation {
                app,
                installation,
                narrowing,
            } => {
                write!(f, "installation {installation} of App {app}")?;
                if narrowing.is_some() {
                    f.write_str(" (narrowed)")?;
                }
                Ok(())
            }
            Self::User { client_id, user } => {
                f.write_str("user")?;
                if let Some(user) = user {
                    write!(f, " {user}")?;
                }
                write!(f, " of client {client_id}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::app::ids::{AppId, InstallationId};

    #[test]
    fn shown_without_secrets_and_read_back_from_a_response() {
        let narrowed = Subject::Installation {
            app: AppIssuer::client_id("Iv23liABCDEF"),
            installation: InstallationTarget::Repository {
                owner: "octo".into(),
                repo: "one".into(),
            },
            narrowing: Some(Narrowing {
                repositories: vec!["one".into()],
                ..Narrowing::default()
            }),
        };
        assert_eq!(
            narrowed.to_string(),
            "installation repo:octo/one of App Iv23liABCDEF (narrowed)"
        );
        let user = Subject::User {
            client_id: "Iv1.abc".into(),
            user: Some("alice".into()),
        };
        assert_eq!(user.to_string(), "user alice of client Iv1.abc");
        let app = Subject::App {
            app: AppIssuer::Id(AppId(7)),
        };
        assert_eq!(app.to_string(), "App 7");
        let mut response = http::Response::new(());
        assert_eq!(Subject::of(&response), None);
        response.extensions_mut().insert(Subject::Installation {
            app: AppIssuer::Id(AppId(7)),
            installation: InstallationTarget::Id(InstallationId(42)),
            narrowing: None,
        });
        assert_eq!(
            Subject::of(&response).map(ToString::to_string).as_deref(),
            Some("installation id:42 of App 7")
        );
    }
}
