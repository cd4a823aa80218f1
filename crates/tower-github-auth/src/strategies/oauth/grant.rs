//! What GitHub answers a code, device-code or refresh grant with, and [`TokenSet`], the user's
//! tokens as this crate keeps and hands them out.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::cache::Fresh;
use crate::clock::Rfc3339;
use crate::error::{Error, Exchange, RefreshImpossible};
use crate::fleet::{Shareable, millis, secs, time};
use crate::headers::sensitive_header;
use crate::side::Side;
use crate::strategies::oauth::client::ClientCredentials;

/// Where GitHub trades codes, device codes and refresh tokens for user tokens (web base).
pub(crate) const ACCESS_TOKEN_PATH: &str = "/login/oauth/access_token";

/// Lifetimes from GitHub longer than this are taken as this (a peer's number never overflows a
/// time here).
const LONGEST_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A user's tokens, as GitHub issued them: what an `on_refresh` hook receives and what
/// [`OAuthTokenAuth::fetch_token`](crate::OAuthTokenAuth::fetch_token) returns.
///
/// Store all of it: after a refresh only the new refresh token works. With the `serde` feature
/// it serializes (tokens in clear: store it as a secret; times as RFC 3339). Rebuild one from
/// what you stored with [`TokenSet::new`] and its fields. `Debug` shows the tokens as `***`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_github_auth::TokenSet;
///
/// // Rebuild what you stored: an expiring token with its refresh token.
/// let mut set = TokenSet::new("ghu_stored");
/// set.expires_at = Some(SystemTime::now() + Duration::from_secs(3600));
/// set.refresh_token = Some("ghr_stored".into());
/// assert!(!format!("{set:?}").contains("ghu_stored"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token (`ghu_...`, `gho_...`); `None` only before the first refresh of a user
    /// known by a refresh token alone.
    pub access_token: Option<SecretString>,
    /// When the access token expires (GitHub's clock); `None` if it does not.
    pub expires_at: Option<SystemTime>,
    /// The refresh token (`ghr_...`), for expiring tokens.
    pub refresh_token: Option<SecretString>,
    /// When the refresh token expires (GitHub's clock).
    pub refresh_token_expires_at: Option<SystemTime>,
    /// The OAuth scopes GitHub granted (empty for GitHub Apps, whose permissions are the App's).
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// A set holding only an access token (one that does not expire, until you set more).
    pub fn new(access_token: impl Into<SecretString>) -> Self {
        Self {
            access_token: Some(access_token.into()),
            ..Self::default()
        }
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |t: &Option<SecretString>| t.as_ref().map(|_| "***");
        let time = |t: &Option<SystemTime>| t.map(Rfc3339);
        f.debug_struct("TokenSet")
            .field("access_token", &masked(&self.access_token))
            .field("expires_at", &time(&self.expires_at))
            .field("refresh_token", &masked(&self.refresh_token))
            .field(
                "refresh_token_expires_at",
                &time(&self.refresh_token_expires_at),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl Shareable for TokenSet {
    fn encode(&self) -> Vec<u8> {
        let exposed = |t: &Option<SecretString>| t.as_ref().map(|t| t.expose_secret().to_owned());
        serde_json::json!({
            "access_token": exposed(&self.access_token),
            "expires_at": self.expires_at.map(secs),
            // To the millisecond: short-lived tokens are compared with the clock finely.
            "expires_at_ms": self.expires_at.map(millis),
            "refresh_token": exposed(&self.refresh_token),
            "refresh_token_expires_at": self.refresh_token_expires_at.map(secs),
            "scopes": self.scopes,
        })
        .to_string()
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Stored {
            access_token: Option<String>,
            expires_at: Option<u64>,
            #[serde(default)]
            expires_at_ms: Option<u64>,
            refresh_token: Option<String>,
            refresh_token_expires_at: Option<u64>,
            scopes: Vec<String>,
        }
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            access_token: stored.access_token.map(SecretString::from),
            expires_at: match stored.expires_at_ms {
                Some(ms) => UNIX_EPOCH.checked_add(Duration::from_millis(ms)),
                None => stored.expires_at.and_then(time),
            },
            refresh_token: stored.refresh_token.map(SecretString::from),
            refresh_token_expires_at: stored.refresh_token_expires_at.and_then(time),
            scopes: stored.scopes,
        })
    }

    fn keep_until(&self) -> Option<SystemTime> {
        // The set is worth keeping while its refresh token works.
        self.refresh_token.as_ref().map(|_| {
            self.refresh_token_expires_at
                .unwrap_or(SystemTime::UNIX_EPOCH + crate::clock::FURTHEST * 2)
        })
    }

    fn fresh(self) -> Result<Fresh<Self>, Error> {
        let token = self.access_token.as_ref().ok_or(Error::RefreshImpossible {
            reason: RefreshImpossible::NoToken,
        })?;
        Ok(Fresh {
            retry_after: None,
            issued_at: None,
            header: sensitive_header("Bearer", token.expose_secret(), "user access token")?,
            expires_at: self.expires_at,
            value: self,
        })
    }
}

/// GitHub's answer to a code, device-code or refresh grant.
#[derive(Deserialize)]
pub(crate) struct Granted {
    access_token: String,
    #[serde(default)]
    scope: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<u64>,
}

impl Granted {
    /// The token set, with expiries counted from `now` (GitHub's clock).
    pub(crate) fn into_set(self, now: SystemTime) -> TokenSet {
        let at = |secs: Option<u64>| {
            secs.map(|s| {
                let lifetime = Duration::from_secs(s).min(LONGEST_LIFETIME);
                now.checked_add(lifetime).unwrap_or(now)
            })
        };
        TokenSet {
            access_token: Some(SecretString::from(self.access_token)),
            expires_at: at(self.expires_in),
            refresh_token: self.refresh_token.map(SecretString::from),
            refresh_token_expires_at: at(self.refresh_token_expires_in),
            scopes: self
                .scope
                .unwrap_or_default()
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The OAuth client a user token belongs to: its id, and its secret unless the token came from
/// the device flow (those refresh without it).
#[derive(Clone)]
pub(crate) struct OAuthClient {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<SecretString>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl From<ClientCredentials> for OAuthClient {
    fn from(credentials: ClientCredentials) -> Self {
        Self {
            client_id: credentials.client_id().to_owned(),
            client_secret: Some(credentials.client_secret().clone()),
        }
    }
}

/// How a user's first token is obtained (a web-flow code, the device flow): implemented by the
/// first grants, run once by the user token (again only if it failed).
pub(crate) trait FirstGrant: Send + Sync + 'static {
    /// What `Debug` shows of it (never a secret).
    fn name(&self) -> &'static str;

    /// The exchange that obtains the token, for errors.
    fn exchange(&self) -> Exchange;

    /// Obtains the first token set.
    fn obtain<'a>(
        &'a self,
        side: &'a Side,
        client: &'a OAuthClient,
    ) -> BoxFuture<'a, Result<Granted, Error>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn grants_become_token_sets() {
        let granted: Granted = serde_json::from_str(
            r#"{"access_token":"gho_x","scope":"repo,gist","token_type":"bearer"}"#,
        )
        .unwrap();
        let set = granted.into_set(SystemTime::UNIX_EPOCH);
        assert_eq!(set.scopes, ["repo", "gist"]);
        assert!(set.expires_at.is_none() && set.refresh_token.is_none());
        let granted: Granted = serde_json::from_str(
            r#"{"access_token":"ghu_x","expires_in":28800,"refresh_token":"ghr_y",
                "refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}"#,
        )
        .unwrap();
        let set = granted.into_set(SystemTime::UNIX_EPOCH);
        assert_eq!(
            set.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(28_800))
        );
        assert!(set.scopes.is_empty());
        assert_eq!(set.refresh_token.unwrap().expose_secret(), "ghr_y");
    }

    #[test]
    fn huge_lifetimes_do_not_overflow() {
        let granted: Granted = serde_json::from_str(&format!(
            r#"{{"access_token":"ghu_x","expires_in":{},"refresh_token":"ghr_y","refresh_token_expires_in":{}}}"#,
            u64::MAX,
            u64::MAX
        ))
        .unwrap();
        let now = SystemTime::now();
        let set = granted.into_set(now);
        assert_eq!(set.expires_at, Some(now + LONGEST_LIFETIME));
        assert_eq!(set.refresh_token.unwrap().expose_secret(), "ghr_y");
    }

    proptest::proptest! {
        #[test]
        fn any_grant_numbers_make_a_set_without_panicking(
            expires_in in proptest::option::of(proptest::prelude::any::<u64>()),
            refresh_in in proptest::option::of(proptest::prelude::any::<u64>()),
            scope in ".{0,30}",
        ) {
            let mut answer = serde_json::json!({ "access_token": "ghu_x", "scope": scope });
            if let Some(secs) = expires_in { answer["expires_in"] = secs.into(); }
            if let Some(secs) = refresh_in { answer["refresh_token_expires_in"] = secs.into(); }
            let granted: Granted = serde_json::from_value(answer).unwrap();
            let now = SystemTime::now();
            let set = granted.into_set(now);
            proptest::prop_assert!(set.expires_at.is_none_or(|at| at >= now));
        }

        #[test]
        fn any_bytes_are_a_grant_or_a_typed_error(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let answer = crate::side::Answer::new(http::StatusCode::OK, body);
            let _ = crate::side::decode_json::<Granted>(crate::error::Exchange::Refresh, &answer);
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn token_sets_round_trip_through_serde() {
        let mut set = TokenSet::new("ghu_a");
        set.refresh_token = Some("ghr_b".into());
        set.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        set.scopes = vec!["repo".into()];
        let text = serde_json::to_string(&set).unwrap();
        let back: TokenSet = serde_json::from_str(&text).unwrap();
        assert_eq!(back.access_token.unwrap().expose_secret(), "ghu_a");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "ghr_b");
        assert_eq!(back.expires_at, set.expires_at);
        assert_eq!(back.scopes, ["repo"]);
        assert!(back.refresh_token_expires_at.is_none());
    }
}
