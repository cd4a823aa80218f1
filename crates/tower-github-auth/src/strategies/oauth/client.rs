//! [`ClientCredentials`]: an OAuth client's id and secret, as one value.

use std::fmt;

use secrecy::SecretString;

/// An OAuth client's id and secret (an OAuth app's, or a GitHub App's client credentials).
/// `Debug` shows the secret as `***`.
///
/// ```
/// use tower_github_auth::ClientCredentials;
///
/// let client = ClientCredentials::new("Iv23liABCDEF", "s3cret");
/// assert_eq!(client.client_id(), "Iv23liABCDEF");
/// assert!(!format!("{client:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

impl ClientCredentials {
    /// The client id (`Iv1.…`, `Iv23…`, `Ov23…`) and its secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<SecretString>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret.
    pub(crate) fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }
}
