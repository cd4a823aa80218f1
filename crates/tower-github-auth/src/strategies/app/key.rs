//! [`PrivateKey`]: the App's RSA key, parsed (and proven able to sign) once; the
//! [`JwtSigner`] of an App whose key is in this process.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;

use crate::error::{BoxError, Error};
use crate::strategies::app::signer::JwtSigner;

/// An App's RSA private key, parsed once.
///
/// GitHub hands out PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`); PKCS#8 PEM
/// (`-----BEGIN PRIVATE KEY-----`) works too. `Debug` shows `***`.
///
/// It is a [`JwtSigner`]: RS256 in this process (about 1 ms per signature), with
/// [`fingerprint`](Self::fingerprint) as its key id.
///
/// ```
/// use tower_github_auth::PrivateKey;
///
/// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
/// assert_eq!(format!("{key:?}"), "PrivateKey(***)");
/// assert!(PrivateKey::from_pem("not a key").is_err());
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct PrivateKey {
    key: Arc<RsaKeyPair>,
    /// SHA-256 of the public key's DER (`RSAPublicKey`), in hex.
    fingerprint: Arc<str>,
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
        let (pair, fingerprint) = key_pair(&text).map_err(invalid)?;
        // Parsing may leave checks to the first signature: sign once to be sure. With aws-lc-rs
        // directly, never through jsonwebtoken, whose choice of a crypto backend depends on the
        // features other crates of the build turn on (with both on, it panics).
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            b"{}",
            &mut signature,
        )
        .map_err(|_| invalid("the key cannot sign RS256"))?;
        Ok(Self {
            key: Arc::new(pair),
            fingerprint: fingerprint.into(),
        })
    }

    /// The SHA-256 of the public key's DER (`RSAPublicKey`, RFC 8017), in hex: the same for the
    /// PKCS#1 and the PKCS#8 form of a key, different for every other key, and no secret. It
    /// keeps the tokens of two Apps that share an id but not a key apart in a shared cache.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl JwtSigner for PrivateKey {
    /// The [`fingerprint`](Self::fingerprint).
    fn key_id(&self) -> String {
        self.fingerprint.to_string()
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256, here and now (the future is ready at once).
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        let signed = self
            .key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map(|()| signature)
            .map_err(|_| BoxError::from("the RSA key could not sign (RS256)"));
        Box::pin(std::future::ready(signed))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The key pair and its public key's fingerprint, from the PEM's DER.
fn key_pair(pem: &str) -> Result<(RsaKeyPair, String), &'static str> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "the PEM body is not base64")?;
    let pair = if pem.contains("BEGIN RSA PRIVATE KEY") {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    }
    .map_err(|_| "not an RSA private key in PEM")?;
    let digest = digest::digest(&digest::SHA256, pair.public_key().as_ref());
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Ok((pair, hex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use github_auth_emulator::{
        TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8, TEST_APP_PUBLIC_KEY,
    };

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_pem_is_a_key_or_a_typed_error(
            cut in 0usize..1700,
            flip in 0usize..1700,
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut pem = TEST_APP_PRIVATE_KEY_PKCS1.as_bytes().to_vec();
            pem.truncate(cut.max(1).min(pem.len()));
            if let Some(byte) = pem.get_mut(flip) {
                *byte ^= 0x55;
            }
            for input in [&pem[..], &junk[..]] {
                match PrivateKey::from_pem(input) {
                    Ok(key) => proptest::prop_assert_eq!(key.fingerprint().len(), 64),
                    Err(err) => {
                        let typed = matches!(err, Error::InvalidPrivateKey { .. });
                        proptest::prop_assert!(typed, "{}", err);
                    }
                }
            }
        }
    }

    #[test]
    fn keys_in_both_formats_load_with_one_fingerprint() {
        let pkcs1 = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        let pkcs8 = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS8).unwrap();
        assert_eq!(pkcs1.fingerprint(), pkcs8.fingerprint());
        assert_eq!(pkcs1.fingerprint().len(), 64);
    }

    #[test]
    fn another_key_has_another_fingerprint() {
        use aws_lc_rs::encoding::AsDer;
        let other = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = other.as_der().unwrap();
        let body = STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let other = PrivateKey::from_pem(pem).unwrap();
        let ours = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap();
        assert_ne!(other.fingerprint(), ours.fingerprint());
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
