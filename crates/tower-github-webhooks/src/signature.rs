//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the webhook secret, as
//! `sha256=<64 lowercase hex digits>`.
//!
//! Only GitHub's exact shape is accepted: the prefix `sha256=`, then exactly 64 **lowercase**
//! hexadecimal digits (GitHub sends lowercase). Uppercase digits would encode the same MAC, but
//! accepting them would let a header with a bit changed (`a` → `A` is one bit) pass: with
//! lowercase only, any change to the header is refused, which the property tests check. The MAC
//! is compared on its decoded 32 bytes, in constant time (`aws_lc_rs::hmac::verify`).

use std::fmt;

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// The header GitHub signs a delivery in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";
const MAC_LEN: usize = 32;

/// The webhook secrets a delivery may be signed with: during a rotation, the new one and the old
/// one, the first used by [`sign`](Secrets::sign). `Debug` shows how many, never them.
///
/// An empty secret verifies nothing: GitHub does not sign without a secret, and anyone can
/// compute the HMAC with an empty key (a secret read from an unset variable must not let every
/// forged delivery through).
///
/// ```
/// use tower_github_webhooks::Secrets;
///
/// let secrets = Secrets::new("new secret").and("old secret");
/// let signature = Secrets::new("old secret").sign(b"{}");
/// assert!(secrets.verify(b"{}", signature.as_bytes()).is_ok());
/// assert_eq!(format!("{secrets:?}"), "Secrets(2 × ***)");
/// ```
#[derive(Clone)]
pub struct Secrets {
    /// Each secret's key, and whether it may verify (false for an empty secret).
    keys: Vec<(hmac::Key, bool)>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} × ***)", self.keys.len())
    }
}

fn key(secret: &SecretString) -> (hmac::Key, bool) {
    let secret = secret.expose_secret().as_bytes();
    (
        hmac::Key::new(hmac::HMAC_SHA256, secret),
        !secret.is_empty(),
    )
}

impl Secrets {
    /// One secret (the webhook secret in the App's settings).
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self {
            keys: vec![key(&secret.into())],
        }
    }

    /// Accepts `secret` as well (secret rotation: configure the new secret first, then the old
    /// one until GitHub signs with the new one).
    pub fn and(mut self, secret: impl Into<SecretString>) -> Self {
        self.keys.push(key(&secret.into()));
        self
    }

    /// The number of secrets.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: there is at least one secret.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `sha256=<hex>` of `body` with the first secret, as GitHub signs (for tests, and for
    /// emulators that send webhooks).
    pub fn sign(&self, body: &[u8]) -> String {
        let tag = hmac::sign(&self.keys[0].0, body);
        let mut out = String::with_capacity(PREFIX.len() + 2 * MAC_LEN);
        out.push_str(PREFIX);
        for byte in tag.as_ref() {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// Checks `header` (the `X-Hub-Signature-256` value) against `body` with every non-empty
    /// secret.
    pub fn verify(&self, body: &[u8], header: &[u8]) -> Result<(), Error> {
        let mac = parse(header)?;
        if self
            .keys
            .iter()
            .any(|(key, verifies)| *verifies && hmac::verify(key, body, &mac).is_ok())
        {
            Ok(())
        } else {
            Err(Error::SignatureMismatch)
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 32 bytes of `sha256=<64 hex digits>`.
fn parse(header: &[u8]) -> Result<[u8; MAC_LEN], Error> {
    let digits = header
        .strip_prefix(PREFIX.as_bytes())
        .ok_or(Error::MalformedSignature)?;
    if digits.len() != 2 * MAC_LEN {
        return Err(Error::MalformedSignature);
    }
    let mut mac = [0u8; MAC_LEN];
    for (byte, pair) in mac.iter_mut().zip(digits.chunks_exact(2)) {
        let high = nibble(pair[0]).ok_or(Error::MalformedSignature)?;
        let low = nibble(pair[1]).ok_or(Error::MalformedSignature)?;
        *byte = (high << 4) | low;
    }
    Ok(mac)
}

const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe").
    const RFC4231_2: &str =
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn signs_as_rfc_4231_says() {
        let secrets = Secrets::new("Jefe");
        assert_eq!(secrets.sign(b"what do ya want for nothing?"), RFC4231_2);
        assert!(
            secrets
                .verify(b"what do ya want for nothing?", RFC4231_2.as_bytes())
                .is_ok()
        );
    }

    #[test]
    fn uppercase_digits_are_refused() {
        let secrets = Secrets::new("Jefe");
        let upper = format!("sha256={}", RFC4231_2[7..].to_ascii_uppercase());
        assert!(matches!(
            secrets.verify(b"what do ya want for nothing?", upper.as_bytes()),
            Err(Error::MalformedSignature)
        ));
    }

    #[test]
    fn wrong_prefix_or_length_is_malformed() {
        let secrets = Secrets::new("Jefe");
        let body = b"what do ya want for nothing?";
        let digits = &RFC4231_2[7..];
        for header in [
            format!("sha1={digits}"),
            format!("SHA256={digits}"),
            format!("sha256:{digits}"),
            format!(" sha256={digits}"),
            digits.to_owned(),
            format!("sha256={}", &digits[..63]),
            format!("sha256={digits}0"),
            format!("sha256={digits}00"),
            format!("sha256={}g", &digits[..63]),
            "sha256=".to_owned(),
            String::new(),
        ] {
            assert!(
                matches!(
                    secrets.verify(body, header.as_bytes()),
                    Err(Error::MalformedSignature)
                ),
                "{header:?}"
            );
        }
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        // Anyone can compute the HMAC with an empty key (GitHub does not sign without a secret):
        // a secret read from an unset variable must not open the door.
        let body = b"{\"action\":\"opened\"}";
        let forged = Secrets::new("").sign(body);
        assert!(matches!(
            Secrets::new("").verify(body, forged.as_bytes()),
            Err(Error::SignatureMismatch)
        ));
        assert!(matches!(
            Secrets::new("real").and("").verify(body, forged.as_bytes()),
            Err(Error::SignatureMismatch)
        ));
        let both = Secrets::new("").and("real");
        assert!(
            both.verify(body, Secrets::new("real").sign(body).as_bytes())
                .is_ok()
        );
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let body = b"{\"action\":\"opened\"}";
        let both = Secrets::new("new").and("old");
        assert_eq!(both.len(), 2);
        assert!(
            both.verify(body, Secrets::new("new").sign(body).as_bytes())
                .is_ok()
        );
        assert!(
            both.verify(body, Secrets::new("old").sign(body).as_bytes())
                .is_ok()
        );
        // The first secret signs.
        assert_eq!(both.sign(body), Secrets::new("new").sign(body));
        assert!(matches!(
            both.verify(body, Secrets::new("other").sign(body).as_bytes()),
            Err(Error::SignatureMismatch)
        ));
        assert!(matches!(
            Secrets::new("new").verify(body, Secrets::new("old").sign(body).as_bytes()),
            Err(Error::SignatureMismatch)
        ));
    }

    proptest! {
        #[test]
        fn sign_then_verify_accepts(body in proptest::collection::vec(any::<u8>(), 0..2048), secret in ".{1,64}") {
            let secrets = Secrets::new(secret);
            let signature = secrets.sign(&body);
            prop_assert!(secrets.verify(&body, signature.as_bytes()).is_ok());
        }

        #[test]
        fn a_flipped_body_bit_refuses(body in proptest::collection::vec(any::<u8>(), 1..2048), secret in ".{0,64}", bit in any::<proptest::sample::Index>()) {
            let secrets = Secrets::new(secret);
            let signature = secrets.sign(&body);
            let mut flipped = body.clone();
            let at = bit.index(body.len() * 8);
            flipped[at / 8] ^= 1 << (at % 8);
            prop_assert!(matches!(secrets.verify(&flipped, signature.as_bytes()), Err(Error::SignatureMismatch)));
        }

        #[test]
        fn any_header_is_refused_or_accepted_never_a_panic(header in proptest::collection::vec(any::<u8>(), 0..80)) {
            // Random bytes are never the MAC of this body with this secret.
            let refused = Secrets::new("s").verify(b"{}", &header).is_err();
            prop_assert!(refused);
        }

        #[test]
        fn a_flipped_signature_bit_refuses(body in proptest::collection::vec(any::<u8>(), 0..2048), secret in ".{0,64}", bit in any::<proptest::sample::Index>()) {
            let secrets = Secrets::new(secret);
            let mut signature = secrets.sign(&body).into_bytes();
            let at = bit.index(signature.len() * 8);
            signature[at / 8] ^= 1 << (at % 8);
            // Either the header is no longer in shape, or its MAC is wrong: refused both ways.
            prop_assert!(matches!(
                secrets.verify(&body, &signature),
                Err(Error::MalformedSignature | Error::SignatureMismatch)
            ));
        }
    }
}
