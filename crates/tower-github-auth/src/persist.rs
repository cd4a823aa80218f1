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
