//! [`EncryptionKey`]: the AES-256-GCM keys stored values are encrypted with, and the key ring a
//! store seals and opens values with (the first key encrypts, every key decrypts: rotation).
//!
//! ```
//! use tower_github_auth_redis::EncryptionKey;
//!
//! // From configuration: 32 random bytes in base64, e.g. `openssl rand -base64 32`.
//! let key = EncryptionKey::from_base64("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=")?;
//! // Never shown.
//! assert_eq!(format!("{key:?}"), "EncryptionKey(***)");
//!
//! // Or fresh ones (for tests).
//! let _ = EncryptionKey::generate();
//! # Ok::<(), tower_github_auth_redis::Error>(())
//! ```

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretBox};

use crate::error::Error;

/// The length of an [`EncryptionKey`]: AES-256.
pub(crate) const KEY_LEN: usize = 32;

/// The length of a key id: the first bytes of SHA-256 over the key (domain-separated), so that a
/// value names the key it was sealed with without revealing anything about it.
pub(crate) const KEY_ID_LEN: usize = 4;

/// The length of the authentication tag AES-256-GCM appends.
pub(crate) const TAG_LEN: usize = 16;

/// A 32-byte AES-256-GCM key for the values a store writes.
///
/// Give every replica the same keys. `Debug` shows `EncryptionKey(***)`; the bytes are wiped when
/// the key is dropped.
pub struct EncryptionKey(SecretBox<[u8; KEY_LEN]>);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

impl Clone for EncryptionKey {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl EncryptionKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A key from base64 text (standard or URL-safe alphabet, padded or not; surrounding
    /// whitespace is ignored), as `openssl rand -base64 32` prints one.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim().as_bytes();
        // Room for a little more than a key, so that a longer input is told apart.
        let mut buffer = [0_u8; KEY_LEN + 16];
        let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode_slice(text, &mut buffer).ok());
        let result = match decoded {
            None => Err(Error::InvalidEncryptionKey {
                detail: "not base64, or longer than 32 bytes",
            }),
            Some(len) if len != KEY_LEN => Err(Error::InvalidEncryptionKey {
                detail: "the base64 text does not decode to 32 bytes",
            }),
            Some(_) => {
                let mut key = [0_u8; KEY_LEN];
                key.copy_from_slice(&buffer[..KEY_LEN]);
                let key = Self::from_bytes(key);
                Ok(key)
            }
        };
        buffer.zeroize();
        result
    }

    /// A new random key from the system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// The key's id as a stored value carries it.
    fn id(&self) -> [u8; KEY_ID_LEN] {
        let mut input = Vec::with_capacity(64);
        input.extend_from_slice(b"tower-github-auth-redis key id\0");
        input.extend_from_slice(self.0.expose_secret());
        let hash = digest(&SHA256, &input);
        input.zeroize();
        let mut id = [0_u8; KEY_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..KEY_ID_LEN]);
        id
    }
}

/// The keys of a store, ready to use: the first seals, any opens a value carrying its id.
pub(crate) struct KeyRing {
    keys: Vec<([u8; KEY_ID_LEN], RandomizedNonceKey)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key(s), ***", self.keys.len())
    }
}

/// What sealing produced besides the ciphertext: the id of the key and the nonce, to store with it.
pub(crate) struct Sealed {
    pub(crate) key_id: [u8; KEY_ID_LEN],
    pub(crate) nonce: [u8; NONCE_LEN],
}

impl KeyRing {
    /// The ring of `keys`, `None` when there are none.
    pub(crate) fn new(keys: &[EncryptionKey]) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        let keys = keys
            .iter()
            .map(|key| {
                let sealing = RandomizedNonceKey::new(&AES_256_GCM, key.0.expose_secret())
                    .expect("AES-256-GCM takes any 32-byte key");
                (key.id(), sealing)
            })
            .collect();
        Some(Self { keys })
    }

    /// Encrypts `in_out` in place with the first key (a fresh random nonce), appending the tag.
    pub(crate) fn seal(&self, aad: &[u8], in_out: &mut Vec<u8>) -> Sealed {
        let (key_id, key) = &self.keys[0];
        let nonce = key
            .seal_in_place_append_tag(Aad::from(aad), in_out)
            .expect("AES-256-GCM seals any input under 64 GiB");
        Sealed {
            key_id: *key_id,
            nonce: *nonce.as_ref(),
        }
    }

    /// Decrypts `in_out` (ciphertext and tag) in place with the key named `key_id`, leaving the
    /// plaintext at its start; returns the plaintext's length.
    pub(crate) fn open(
        &self,
        key_id: [u8; KEY_ID_LEN],
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, Error> {
        let mut candidates = self.keys.iter().filter(|(id, _)| *id == key_id).peekable();
        if candidates.peek().is_none() {
            return Err(Error::UnknownEncryptionKey);
        }
        // Two keys may share an id (one chance in four billion): each of them is tried. A failed
        // attempt may have overwritten the buffer, so each works on the original bytes.
        let original = in_out.to_vec();
        for (_, key) in candidates {
            in_out.copy_from_slice(&original);
            if let Ok(plain) =
                key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            {
                return Ok(plain.len());
            }
        }
        Err(Error::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms_are_accepted_and_wrong_lengths_refused() {
        let bytes = [7_u8; KEY_LEN];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let text = format!("  {}\n", engine.encode(bytes));
            let key = EncryptionKey::from_base64(&text).unwrap();
            assert_eq!(key.0.expose_secret(), &bytes);
        }
        for bad in [
            "",
            "not base64!",
            &STANDARD.encode([1_u8; 16]),
            &STANDARD.encode([1_u8; 33]),
        ] {
            assert!(matches!(
                EncryptionKey::from_base64(bad),
                Err(Error::InvalidEncryptionKey { .. })
            ));
        }
        assert!(matches!(
            EncryptionKey::from_base64(&STANDARD.encode([1_u8; 64])),
            Err(Error::InvalidEncryptionKey { .. })
        ));
    }

    #[test]
    fn seal_then_open_with_the_same_aad_only() {
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        let mut data = b"ghs_secret".to_vec();
        let sealed = ring.seal(b"a", &mut data);
        assert_eq!(data.len(), 10 + TAG_LEN);
        assert!(!data.windows(10).any(|w| w == b"ghs_secret"));

        let mut moved = data.clone();
        assert!(matches!(
            ring.open(sealed.key_id, sealed.nonce, b"b", &mut moved),
            Err(Error::Decrypt)
        ));
        let len = ring
            .open(sealed.key_id, sealed.nonce, b"a", &mut data)
            .unwrap();
        assert_eq!(&data[..len], b"ghs_secret");
        assert!(matches!(
            ring.open([0; KEY_ID_LEN], sealed.nonce, b"a", &mut data),
            Err(Error::UnknownEncryptionKey)
        ));
    }

    #[test]
    fn ids_differ_per_key_and_are_stable() {
        let key = EncryptionKey::from_bytes([1; KEY_LEN]);
        assert_eq!(key.id(), key.clone().id());
        assert_ne!(key.id(), EncryptionKey::from_bytes([2; KEY_LEN]).id());
    }
}
