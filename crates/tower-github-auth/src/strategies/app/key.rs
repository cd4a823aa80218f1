//! [`PrivateKey`]: the App's RSA key, parsed (and proven able to sign) once; the
//! [`JwtSigner`] of an App whose key is in this process.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use zeroize::Zeroizing;

use crate::error::{BoxError, Error};
#[cfg(feature = "openssh")]
use crate::strategies::app::openssh;
use crate::strategies::app::signer::JwtSigner;

/// An App's RSA private key, parsed once.
///
/// GitHub hands out PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`); PKCS#8 PEM
/// (`-----BEGIN PRIVATE KEY-----`) and OpenSSH's format (`-----BEGIN OPENSSH PRIVATE KEY-----`)
/// work too (see [`from_pem`](Self::from_pem)). `Debug` shows `***`.
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
    ///
    /// Three forms of the App's RSA key are accepted:
    /// - PKCS#1, `-----BEGIN RSA PRIVATE KEY-----`: the file GitHub generates for the App;
    /// - PKCS#8, `-----BEGIN PRIVATE KEY-----` (`openssl pkcs8 -topk8 -nocrypt` writes it);
    /// - OpenSSH's own format, `-----BEGIN OPENSSH PRIVATE KEY-----`, without a passphrase (what
    ///   `ssh-keygen -p` writes by default when it rewrites a key), with the `openssh` feature
    ///   (on by default).
    ///
    /// The three forms of one key are the same key: same [`fingerprint`](Self::fingerprint), same
    /// signatures. Anything else is an [`Error::InvalidPrivateKey`] saying what to do: a public
    /// key, a key protected by a passphrase (remove it from a private copy with
    /// `ssh-keygen -p -N "" -f COPY`), an ed25519 or ecdsa OpenSSH key (a GitHub App signs with
    /// RSA), a damaged file. No part of the key is in the error.
    ///
    /// ```
    /// use github_auth_emulator::{
    ///     TEST_APP_PRIVATE_KEY_OPENSSH, TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8,
    /// };
    /// use tower_github_auth::{Error, PrivateKey};
    ///
    /// let pkcs1 = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?;
    /// let pkcs8 = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS8)?;
    /// assert_eq!(pkcs1.fingerprint(), pkcs8.fingerprint());
    /// # #[cfg(feature = "openssh")] {
    /// let openssh = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_OPENSSH)?;
    /// assert_eq!(pkcs1.fingerprint(), openssh.fingerprint());
    /// # }
    ///
    /// let cut_short = &TEST_APP_PRIVATE_KEY_OPENSSH[..400];
    /// let err = PrivateKey::from_pem(cut_short).unwrap_err();
    /// assert!(matches!(err, Error::InvalidPrivateKey { .. }));
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
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
        let (pair, fingerprint) = key_pair(&text).map_err(|reason| invalid(&reason))?;
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

/// The key pair and its public key's fingerprint, from the PEM's DER (or, for an OpenSSH key,
/// the DER of its numbers).
fn key_pair(pem: &str) -> Result<(RsaKeyPair, String), Cow<'static, str>> {
    // Sized once: a growing string would leave parts of the key in the buffers it freed.
    let mut body = Zeroizing::new(String::with_capacity(pem.len()));
    for line in pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
    {
        body.push_str(line);
    }
    let pair = if pem.contains("BEGIN OPENSSH PRIVATE KEY") {
        openssh_key_pair(&body)?
    } else {
        let der = Zeroizing::new(
            STANDARD
                .decode(body.as_bytes())
                .map_err(|_| "the PEM body is not base64")?,
        );
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            RsaKeyPair::from_der(&der)
        } else {
            RsaKeyPair::from_pkcs8(&der)
        }
        .map_err(|_| "not an RSA private key in PEM")?
    };
    let digest = digest::digest(&digest::SHA256, pair.public_key().as_ref());
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Ok((pair, hex))
}

/// The key pair of an OpenSSH key's base64 body.
#[cfg(feature = "openssh")]
fn openssh_key_pair(body: &str) -> Result<RsaKeyPair, Cow<'static, str>> {
    let binary = Zeroizing::new(STANDARD.decode(body).map_err(|_| openssh::DAMAGED)?);
    let pkcs1 = openssh::pkcs1_der(&binary)?;
    RsaKeyPair::from_der(pkcs1.as_bytes()).map_err(|_| Cow::Borrowed(openssh::NOT_A_KEY))
}

/// Without the `openssh` feature, what to do with an OpenSSH key.
#[cfg(not(feature = "openssh"))]
fn openssh_key_pair(_body: &str) -> Result<RsaKeyPair, Cow<'static, str>> {
    Err(Cow::Borrowed(
        "this is an OpenSSH key, read only with tower-github-auth's `openssh` feature (on by \
         default); turn it on, or rewrite a private copy of the key as PKCS#1 with \
         `ssh-keygen -p -m PEM -N \"\" -f COPY`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "openssh")]
    use futures_util::FutureExt as _;
    use github_auth_emulator::{
        TEST_APP_PRIVATE_KEY_OPENSSH, TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8,
        TEST_APP_PUBLIC_KEY,
    };

    #[cfg(feature = "openssh")]
    /// The test App's key with a passphrase (`not-a-secret`, aes256-ctr, bcrypt KDF).
    const ENCRYPTED_OPENSSH: &str = include_str!("testdata/test-app-key.encrypted.openssh.pem");
    #[cfg(feature = "openssh")]
    /// Keys GitHub never hands to an App, as `ssh-keygen -t ed25519` and `-t ecdsa` write them.
    const ED25519_OPENSSH: &str = include_str!("testdata/ed25519.openssh.pem");
    #[cfg(feature = "openssh")]
    const ECDSA_OPENSSH: &str = include_str!("testdata/ecdsa-p256.openssh.pem");

    const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
    const OPENSSH_END: &str = "-----END OPENSSH PRIVATE KEY-----";

    fn armoured(body: &[u8]) -> String {
        let body = STANDARD.encode(body);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(70)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!("{OPENSSH_BEGIN}\n{}\n{OPENSSH_END}\n", lines.join("\n"))
    }

    fn openssh_body() -> Vec<u8> {
        let body: String = TEST_APP_PRIVATE_KEY_OPENSSH
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).unwrap()
    }

    #[cfg(feature = "openssh")]
    /// Fails the test if the error shows any run of 16 characters of the key's body.
    fn assert_no_key_material(err: &Error, pem: &str) {
        let shown = format!("{err} {err:?}");
        for line in pem.lines().filter(|line| !line.starts_with("-----")) {
            for window in line.as_bytes().windows(16) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(!shown.contains(window), "{shown}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_pem_is_a_key_or_a_typed_error(
            cut in 0usize..1700,
            flip in 0usize..1700,
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            for key in [TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_OPENSSH] {
                let mut pem = key.as_bytes().to_vec();
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

        /// Anything inside the OpenSSH armour: raw bytes, base64 of bytes, base64 of the real
        /// key's body cut short or with one byte changed, and base64 of bytes after OpenSSH's
        /// magic (so the parser gets past its first check).
        #[test]
        fn anything_in_the_openssh_armour_is_a_key_or_a_typed_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            cut in 0usize..1300,
            flip in 0usize..1300,
            xor in 1u8..=255,
        ) {
            let raw = format!(
                "{OPENSSH_BEGIN}\n{}\n{OPENSSH_END}\n",
                String::from_utf8_lossy(&bytes)
            );
            let mut body = openssh_body();
            body.truncate(cut);
            let cut_short = armoured(&body);
            let mut body = openssh_body();
            if let Some(byte) = body.get_mut(flip) {
                *byte ^= xor;
            }
            let changed = armoured(&body);
            let mut magic = b"openssh-key-v1\0".to_vec();
            magic.extend_from_slice(&bytes);
            for pem in [raw, armoured(&bytes), cut_short, changed, armoured(&magic)] {
                match PrivateKey::from_pem(&pem) {
                    Ok(key) => proptest::prop_assert_eq!(key.fingerprint().len(), 64),
                    Err(err) => {
                        let typed = matches!(err, Error::InvalidPrivateKey { .. });
                        proptest::prop_assert!(typed, "{}", err);
                    }
                }
            }
        }
    }

    #[cfg(feature = "openssh")]
    #[test]
    fn one_key_in_three_formats_signs_the_same_jwt() {
        let keys = [
            TEST_APP_PRIVATE_KEY_PKCS1,
            TEST_APP_PRIVATE_KEY_PKCS8,
            TEST_APP_PRIVATE_KEY_OPENSSH,
        ]
        .map(|pem| PrivateKey::from_pem(pem).unwrap());
        // A JWT's signing input: RSASSA-PKCS1-v1_5 is deterministic, so one key signs it alike.
        let input = b"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjEsImV4cCI6NjAxLCJpc3MiOjF9";
        let jwts = keys.each_ref().map(|key| {
            let signature = key.sign(input).now_or_never().unwrap().unwrap();
            format!(
                "{}.{}",
                std::str::from_utf8(input).unwrap(),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
            )
        });
        assert_eq!(jwts[0], jwts[1]);
        assert_eq!(jwts[0], jwts[2]);
        assert_eq!(keys[0].fingerprint(), keys[2].fingerprint());
        assert_eq!(keys[0].key_id(), keys[2].key_id());
        // As a Windows editor or a YAML block may leave it: CRLF line ends, indented lines.
        let crlf = TEST_APP_PRIVATE_KEY_OPENSSH.replace('\n', "\r\n    ");
        let key = PrivateKey::from_pem(crlf).unwrap();
        assert_eq!(key.fingerprint(), keys[0].fingerprint());
    }

    #[cfg(feature = "openssh")]
    #[test]
    fn openssh_keys_that_cannot_sign_for_an_app_fail_with_what_to_do() {
        let mut body = openssh_body();
        body.truncate(body.len() / 2);
        let truncated = armoured(&body);
        let mut body = openssh_body();
        let last = body.len() - 40;
        body[last] ^= 0xff;
        let garbled = armoured(&body);
        let not_base64 = TEST_APP_PRIVATE_KEY_OPENSSH
            .lines()
            .map(|line| {
                if line.starts_with("-----") {
                    line.to_owned()
                } else {
                    line.replace('A', "*")
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        for (pem, expect) in [
            (ENCRYPTED_OPENSSH, "passphrase"),
            (ENCRYPTED_OPENSSH, "ssh-keygen -p"),
            (ED25519_OPENSSH, "ed25519"),
            (ED25519_OPENSSH, "RSA"),
            (ECDSA_OPENSSH, "ecdsa"),
            (ECDSA_OPENSSH, "RSA"),
            (truncated.as_str(), "OpenSSH key does not decode"),
            // One byte of q changed: the numbers parse but make no key.
            (garbled.as_str(), "numbers do not make an RSA private key"),
            (not_base64.as_str(), "OpenSSH key does not decode"),
        ] {
            let err = PrivateKey::from_pem(pem).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidPrivateKey { .. }), "{text}");
            assert!(text.contains(expect), "{expect}: {text}");
            assert!(text.contains("OpenSSH"), "{text}");
            assert_no_key_material(&err, pem);
        }
    }

    #[cfg(not(feature = "openssh"))]
    #[test]
    fn without_the_feature_an_openssh_key_is_refused_with_what_to_do() {
        let err = PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_OPENSSH).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidPrivateKey { .. }), "{text}");
        assert!(text.contains("`openssh` feature"), "{text}");
        assert!(text.contains("ssh-keygen -p -m PEM"), "{text}");
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
            assert!(text.contains("OpenSSH"), "{text}");
        }
    }
}
