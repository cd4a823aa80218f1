//! The bytes a [`StoredCredential`] is kept as in Redis, sealed with AES-256-GCM when the store
//! has encryption keys.
//!
//! ```text
//! in clear:  0x01 | payload
//! sealed:    0x02 | key id (4) | nonce (12) | AES-256-GCM(payload) | tag (16)
//! payload:   issued_at (u64, big-endian unix seconds) | expires_at (same) | value
//! ```
//!
//! The associated data of a sealed value is its Redis key, so that a value copied to another key
//! does not open.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::NONCE_LEN;
use secrecy::zeroize::Zeroize;
use tower_github_auth::StoredCredential;

use crate::crypto::{KEY_ID_LEN, KeyRing, TAG_LEN};
use crate::error::Error;

/// The first byte of a value stored in clear.
const CLEAR: u8 = 0x01;
/// The first byte of a value sealed with AES-256-GCM.
const SEALED: u8 = 0x02;
/// Two timestamps.
const TIMES_LEN: usize = 16;
/// What comes before the ciphertext of a sealed value.
const SEALED_HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// The associated data of the value stored under `redis_key`.
fn aad(redis_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + redis_key.len());
    aad.extend_from_slice(b"tower-github-auth-redis/1\0");
    aad.extend_from_slice(redis_key.as_bytes());
    aad
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn from_unix_seconds(bytes: &[u8]) -> Result<SystemTime, Error> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("truncated timestamps"))?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::from_be_bytes(bytes)))
        .ok_or(Error::Corrupt("timestamp out of range"))
}

/// The bytes to store `credential` under `redis_key` as.
pub(crate) fn encode(
    credential: &StoredCredential,
    keys: Option<&KeyRing>,
    redis_key: &str,
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(TIMES_LEN + credential.value.len() + TAG_LEN);
    payload.extend_from_slice(&unix_seconds(credential.issued_at).to_be_bytes());
    payload.extend_from_slice(&unix_seconds(credential.expires_at).to_be_bytes());
    payload.extend_from_slice(&credential.value);
    let Some(keys) = keys else {
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(CLEAR);
        out.append(&mut payload);
        return out;
    };
    let sealed = keys.seal(&aad(redis_key), &mut payload);
    let mut out = Vec::with_capacity(SEALED_HEADER_LEN + payload.len());
    out.push(SEALED);
    out.extend_from_slice(&sealed.key_id);
    out.extend_from_slice(&sealed.nonce);
    out.append(&mut payload);
    out
}

/// The credential `bytes` (read from `redis_key`) hold.
pub(crate) fn decode(
    mut bytes: Vec<u8>,
    keys: Option<&KeyRing>,
    redis_key: &str,
) -> Result<StoredCredential, Error> {
    let (payload, plain_len) = match (bytes.first().copied(), keys) {
        (None, _) => return Err(Error::Corrupt("empty value")),
        (Some(CLEAR), None) => (1, bytes.len() - 1),
        (Some(CLEAR), Some(_)) => return Err(Error::Cleartext),
        (Some(SEALED), None) => return Err(Error::Encrypted),
        (Some(SEALED), Some(keys)) => {
            if bytes.len() < SEALED_HEADER_LEN + TAG_LEN {
                return Err(Error::Corrupt("truncated sealed value"));
            }
            let mut key_id = [0_u8; KEY_ID_LEN];
            key_id.copy_from_slice(&bytes[1..=KEY_ID_LEN]);
            let mut nonce = [0_u8; NONCE_LEN];
            nonce.copy_from_slice(&bytes[1 + KEY_ID_LEN..SEALED_HEADER_LEN]);
            let len = keys.open(
                key_id,
                nonce,
                &aad(redis_key),
                &mut bytes[SEALED_HEADER_LEN..],
            )?;
            (SEALED_HEADER_LEN, len)
        }
        (Some(_), _) => return Err(Error::Corrupt("unknown format")),
    };
    let plain = &bytes[payload..payload + plain_len];
    let credential = if plain.len() < TIMES_LEN {
        Err(Error::Corrupt("truncated timestamps"))
    } else {
        from_unix_seconds(&plain[..8]).and_then(|issued_at| {
            let expires_at = from_unix_seconds(&plain[8..TIMES_LEN])?;
            Ok(StoredCredential::new(
                plain[TIMES_LEN..].to_vec(),
                issued_at,
                expires_at,
            ))
        })
    };
    // The decrypted secret leaves only in the credential.
    bytes.zeroize();
    credential
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::EncryptionKey;

    fn credential() -> StoredCredential {
        StoredCredential::new(
            b"ghs_0123456789".to_vec(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            UNIX_EPOCH + Duration::from_secs(1_700_003_600),
        )
    }

    #[test]
    fn round_trips_in_clear_and_sealed() {
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        for keys in [None, Some(&ring)] {
            let bytes = encode(&credential(), keys, "p:{k}");
            assert_eq!(decode(bytes, keys, "p:{k}").unwrap(), credential());
        }
    }

    #[test]
    fn sealed_values_hide_the_value_and_stay_under_their_key() {
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        let bytes = encode(&credential(), Some(&ring), "p:{k}");
        assert!(!bytes.windows(4).any(|w| w == b"ghs_"));
        assert!(matches!(
            decode(bytes.clone(), Some(&ring), "p:{other}"),
            Err(Error::Decrypt)
        ));
        assert!(matches!(
            decode(bytes, None, "p:{k}"),
            Err(Error::Encrypted)
        ));
        let clear = encode(&credential(), None, "p:{k}");
        assert!(matches!(
            decode(clear, Some(&ring), "p:{k}"),
            Err(Error::Cleartext)
        ));
    }

    #[test]
    fn anything_else_is_corrupt_not_a_panic() {
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        let sealed = encode(&credential(), Some(&ring), "k");
        let clear = encode(&credential(), None, "k");
        for len in 0..sealed.len() {
            let result = decode(sealed[..len].to_vec(), Some(&ring), "k");
            assert!(result.is_err(), "{len}");
        }
        for len in 0..=TIMES_LEN {
            assert!(matches!(
                decode(clear[..len].to_vec(), None, "k"),
                Err(Error::Corrupt(_))
            ));
        }
        assert!(matches!(
            decode(vec![0x7f, 1, 2], None, "k"),
            Err(Error::Corrupt("unknown format"))
        ));
        let mut far = vec![CLEAR];
        far.extend_from_slice(&u64::MAX.to_be_bytes());
        far.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode(far, None, "k").is_err());
    }
}
