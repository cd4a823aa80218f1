//! How credentials are written when the caller stores them (the `serde` feature): secrets
//! exposed on purpose (store them as secrets), times as RFC 3339 text.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use tower_github_auth::TokenSet;
//!
//! let mut set = TokenSet::new("ghu_example");
//! set.expires_at = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
//! let stored = serde_json::to_string(&set).unwrap();
//! assert!(stored.contains(r#""expires_at":"2027-01-15T08:00:00Z""#));
//! let loaded: TokenSet = serde_json::from_str(&stored).unwrap();
//! assert_eq!(loaded.expires_at, set.expires_at);
//! # }
//! ```
//!
//! The impls are written here, over serde's remote derives, rather than derived on the types
//! under `cfg_attr`: a derived impl carries no `cfg`, so docs.rs could not mark it as needing the
//! `serde` feature.

use std::collections::BTreeMap;
use std::time::SystemTime;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::strategies::app::ids::InstallationId;
use crate::strategies::app::token::InstallationToken;
use crate::strategies::oauth::grant::TokenSet;

/// [`TokenSet`]'s stored form: its fields, secrets in clear, times as RFC 3339.
#[derive(Serialize, Deserialize)]
#[serde(remote = "TokenSet", rename = "TokenSet")]
struct TokenSetDef {
    #[serde(with = "optional_secret")]
    access_token: Option<SecretString>,
    #[serde(with = "optional_time")]
    expires_at: Option<SystemTime>,
    #[serde(with = "optional_secret")]
    refresh_token: Option<SecretString>,
    #[serde(with = "optional_time")]
    refresh_token_expires_at: Option<SystemTime>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// [`InstallationToken`]'s stored form: the token in clear, the expiry as RFC 3339.
#[derive(Serialize, Deserialize)]
#[serde(remote = "InstallationToken", rename = "InstallationToken")]
struct InstallationTokenDef {
    #[serde(with = "secret")]
    token: SecretString,
    #[serde(with = "time")]
    expires_at: SystemTime,
    installation_id: InstallationId,
    permissions: BTreeMap<String, String>,
    repository_selection: Option<String>,
    repositories: Vec<String>,
}

/// The access token, its refresh token (in clear: store the text as a secret), their expiries
/// (RFC 3339) and the scopes.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for TokenSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TokenSetDef::serialize(self, s)
    }
}

/// What [`Serialize`] wrote; `scopes` may be missing (none).
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for TokenSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TokenSetDef::deserialize(d)
    }
}

/// The token (in clear: store the text as a secret), its expiry (RFC 3339) and what GitHub said
/// about it.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for InstallationToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        InstallationTokenDef::serialize(self, s)
    }
}

/// What [`Serialize`] wrote.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for InstallationToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        InstallationTokenDef::deserialize(d)
    }
}

/// `SecretString` as its text.
pub(crate) mod secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose_secret())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

/// `Option<SecretString>` as text or null.
// serde's `with` hands the field by reference: `&Option<T>` is its signature, not a choice.
#[allow(clippy::ref_option)]
pub(crate) mod optional_secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        secret: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => s.serialize_some(secret.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|s| s.map(SecretString::from))
    }
}

/// `SystemTime` as RFC 3339 text.
pub(crate) mod time {
    use std::time::SystemTime;

    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::clock::Rfc3339;

    pub(crate) fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let shown = Rfc3339(*time);
        if !shown.representable() {
            return Err(S::Error::custom(format!(
                "{shown} cannot be written as RFC 3339"
            )));
        }
        s.collect_str(&shown)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(D::Error::custom)
    }
}

/// `Option<SystemTime>` as RFC 3339 text or null.
#[allow(clippy::ref_option)]
pub(crate) mod optional_time {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::time::serialize(time, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_rfc3339_weak(&text).map_err(D::Error::custom))
            .transpose()
    }
}
