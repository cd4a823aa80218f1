//! [`InstallationToken`]: an installation access token and what GitHub said about it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::cache::Fresh;
use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::{Clock, Rfc3339};
use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange};
use crate::fleet::{Shareable, secs, time};
use crate::headers::sensitive_header;
use crate::side::{Limits, Side, github_error};
use crate::strategies::app::ids::InstallationId;

/// An installation access token, with what GitHub said about it; from
/// [`AppInstallationAuth::fetch_token`](crate::AppInstallationAuth::fetch_token).
///
/// For other uses than this crate's requests: `git` over HTTPS
/// (`https://x-access-token:<token>@github.com/owner/repo.git`), a subprocess, another client.
/// `Debug` shows the token as `***`. With the `serde` feature it can be stored (the token in
/// clear: store it as a secret).
///
/// ```
/// # use tower_github_auth::InstallationToken;
/// fn clone_url(token: &InstallationToken, repo: &str) -> String {
///     use secrecy::ExposeSecret;
///     format!("https://x-access-token:{}@github.com/{repo}.git", token.token.expose_secret())
/// }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct InstallationToken {
    /// The token (`ghs_...`).
    pub token: SecretString,
    /// When GitHub says it expires (on GitHub's clock).
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

impl InstallationToken {
    /// Ends this token at GitHub (`DELETE /installation/token`), through `inner`, your HTTP
    /// client, at `endpoints` (where the token was minted): for a token handed to `git` or a
    /// subprocess. A token an [`AppInstallationAuth`](crate::AppInstallationAuth) still caches
    /// is better ended with its [`revoke`](crate::AppInstallationAuth::revoke), which also drops
    /// it from the cache (otherwise the layer's next request meets a 401, drops it and replays
    /// with a new one). An already ended token is not an error.
    pub async fn revoke<S, B, RB>(&self, inner: &S, endpoints: &Endpoints) -> Result<(), Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = Side::new(
            inner,
            endpoints,
            &Arc::new(Clock::default()),
            Limits::default(),
        );
        let authorization =
            sensitive_header("Bearer", self.token.expose_secret(), "installation token")?;
        revoke_token(&side, &authorization).await
    }
}

impl Shareable for InstallationToken {
    fn encode(&self) -> Vec<u8> {
        serde_json::json!({
            "token": self.token.expose_secret(),
            "expires_at": secs(self.expires_at),
            "installation_id": self.installation_id.0,
            "permissions": self.permissions,
            "repository_selection": self.repository_selection,
            "repositories": self.repositories,
        })
        .to_string()
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Stored {
            token: String,
            expires_at: u64,
            installation_id: u64,
            permissions: BTreeMap<String, String>,
            repository_selection: Option<String>,
            repositories: Vec<String>,
        }
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            token: SecretString::from(stored.token),
            expires_at: time(stored.expires_at)?,
            installation_id: InstallationId(stored.installation_id),
            permissions: stored.permissions,
            repository_selection: stored.repository_selection,
            repositories: stored.repositories,
        })
    }

    fn fresh(self) -> Result<Fresh<Self>, Error> {
        Ok(Fresh {
            retry_after: None,
            issued_at: None,
            header: sensitive_header("Bearer", self.token.expose_secret(), "installation token")?,
            expires_at: Some(self.expires_at),
            value: self,
        })
    }
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

/// A token's permissions (`contents: read`, ...).
pub(crate) type Permissions = BTreeMap<String, String>;

/// What the token cache keeps of an installation token beside its `Authorization` header (which
/// holds the token) and its expiry: the rest of the [`InstallationToken`], compactly (about 50
/// bytes for a token as GitHub answers it unnarrowed; its permission set is shared with every
/// other token of the cache that has the same).
#[derive(Clone)]
pub(crate) struct TokenFacts {
    installation_id: InstallationId,
    permissions: Arc<Permissions>,
    repository_selection: Selection,
    /// `owner/name` of each repository it is narrowed to.
    repositories: Box<[Box<str>]>,
}

/// `repository_selection`, as GitHub reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selection {
    /// Not reported.
    Unknown,
    All,
    Selected,
    /// Another word (GitHub has none today).
    Other(Box<str>),
}

impl TokenFacts {
    /// The facts of `token`; `share` keeps its permissions (once for all tokens that have the
    /// same: [`TokenCache`](crate::TokenCache) does).
    pub(crate) fn of(
        token: InstallationToken,
        share: impl FnOnce(Permissions) -> Arc<Permissions>,
    ) -> Self {
        let repository_selection = match token.repository_selection.as_deref() {
            None => Selection::Unknown,
            Some("all") => Selection::All,
            Some("selected") => Selection::Selected,
            Some(other) => Selection::Other(other.into()),
        };
        Self {
            installation_id: token.installation_id,
            permissions: share(token.permissions),
            repository_selection,
            repositories: token
                .repositories
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        }
    }

    /// The token again, from its `Authorization` header (`Bearer <token>`) and its expiry.
    pub(crate) fn token(
        &self,
        authorization: &HeaderValue,
        expires_at: SystemTime,
    ) -> InstallationToken {
        // The header was written from the token's text (`sensitive_header`): valid UTF-8.
        let header = String::from_utf8_lossy(authorization.as_bytes());
        let token = header.strip_prefix("Bearer ").unwrap_or(&header);
        InstallationToken {
            token: SecretString::from(token.to_owned()),
            expires_at,
            installation_id: self.installation_id,
            permissions: Permissions::clone(&self.permissions),
            repository_selection: match &self.repository_selection {
                Selection::Unknown => None,
                Selection::All => Some("all".to_owned()),
                Selection::Selected => Some("selected".to_owned()),
                Selection::Other(other) => Some(other.to_string()),
            },
            repositories: self.repositories.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `DELETE /installation/token` with the token itself (`authorization`, `Bearer ...`): 204,
/// and GitHub refuses the token from then on.
pub(crate) async fn revoke_token(side: &Side, authorization: &HeaderValue) -> Result<(), Error> {
    let exchange = Exchange::TokenRevocation;
    let answer = side
        .rest_raw(
            exchange,
            Method::DELETE,
            "/installation/token",
            Some(authorization),
            None,
        )
        .await?;
    // 401: already ended (revoked, expired): what was asked is done.
    if answer.status.is_success() || answer.status == StatusCode::UNAUTHORIZED {
        return Ok(());
    }
    Err(github_error(exchange, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn token(selection: Option<&str>, repositories: &[&str]) -> InstallationToken {
        InstallationToken {
            token: SecretString::from("ghs_abc".to_owned()),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            installation_id: InstallationId(42),
            permissions: Permissions::from([
                ("contents".to_owned(), "write".to_owned()),
                ("metadata".to_owned(), "read".to_owned()),
            ]),
            repository_selection: selection.map(str::to_owned),
            repositories: repositories.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn the_facts_give_the_token_back_whole() {
        for original in [
            token(Some("all"), &[]),
            token(Some("selected"), &["octo/one", "octo/two"]),
            token(None, &[]),
            token(Some("some-day"), &[]),
        ] {
            let header = sensitive_header("Bearer", "ghs_abc", "test").unwrap();
            let expires_at = original.expires_at;
            let back = TokenFacts::of(original.clone(), Arc::new).token(&header, expires_at);
            assert_eq!(format!("{back:?}"), format!("{original:?}"));
            assert_eq!(back.token.expose_secret(), "ghs_abc");
        }
    }
}
