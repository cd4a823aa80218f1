//! [`PrivateKey`]: the App's RSA key, parsed (and proven able to sign) once.
//!
//! ```
//! use tower_github_auth::PrivateKey;
//!
//! let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
//! assert_eq!(format!("{key:?}"), "PrivateKey(***)");
//! assert!(PrivateKey::from_pem("not a key").is_err());
//! # Ok::<(), tower_github_auth::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::error::Error;

/// An App's RSA private key, parsed once.
///
/// GitHub hands out PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`); PKCS#8 PEM
/// (`-----BEGIN PRIVATE KEY-----`) works too. `Debug` shows `***`.
#[derive(Clone)]
pub struct PrivateKey {
    pub(crate) key: Arc<EncodingKey>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// Parses a PEM private key and proves it can sign, so a bad key fails here and not on the
    /// first request.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let pem = pem.as_ref();
        let text = String::from_utf8_lossy(pem);
        let invalid = |reason: &str| Error::InvalidPrivateKey {
            reason: reason.to_owned(),
        };
        if text.trim().is_empty() {
            return Err(invalid("the key is empty"));
        }
        if text.contains("PUBLIC KEY-----") {
            return Err(invalid(
                "this is a public key; the App's private key is needed",
            ));
        }
        if !text.contains("-----BEGIN") {
            return Err(invalid("not PEM (no `-----BEGIN` line)"));
        }
        let key = EncodingKey::from_rsa_pem(pem)
            .map_err(|e| invalid(&format!("not an RSA private key in PEM ({e})")))?;
        // The crypto backend may defer parsing: sign once to be sure.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key)
            .map_err(|e| invalid(&format!("the key cannot sign ({e})")))?;
        Ok(Self { key: Arc::new(key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use github_auth_emulator::{
        TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8, TEST_APP_PUBLIC_KEY,
    };

    #[test]
    fn keys_in_both_formats_load() {
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS8).unwrap();
    }

    #[test]
    fn bad_keys_fail_at_construction_with_a_clear_error() {
        let corrupt = TEST_APP_PRIVATE_KEY_PKCS1.replace("MII", "XXX");
        for (pem, expect) in [
            ("", "empty"),
            (TEST_APP_PUBLIC_KEY, "public key"),
            (corrupt.as_str(), "RSA PRIVATE KEY"),
            ("hello", "not PEM"),
        ] {
            let err = PrivateKey::from_pem(pem).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidPrivateKey { .. }));
            assert!(text.contains(expect), "{text}");
            assert!(text.contains("PKCS#1") && text.contains("PKCS#8"), "{text}");
        }
    }
}
