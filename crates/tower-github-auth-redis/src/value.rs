//! The bytes a [`StoredCredential`] is kept as in Redis, sealed with AES-256-GCM when the store
//! has encryption keys.
//!
//! ```text
//! in clear:  0x03 | generation (u64, big-endian) | payload
//! sealed:    0x04 | generation (u64, big-endian) | key id (4) | nonce (12) | AES-256-GCM(payload) | tag (16)
//! payload:   issued_at (u64, big-endian unix milliseconds) | expires_at (same) | value
//! ```
//!
//! The generation is in clear, at a fixed place, so that the save script can compare it without
//! decrypting (a save never replaces an equal or higher generation). The associated data of a
//! sealed value is its Redis key and its generation: a value copied to another key, or whose
//! generation was edited, does not open.
//!
//! Values written before generations (`0x01 | payload` in clear, `0x02 | key id | nonce |
//! sealed payload | tag`, the Redis key alone as associated data, times in whole seconds) still
//! load, as generation 0, and any save replaces them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::NONCE_LEN;
use secrecy::zeroize::Zeroize;
use tower_github_auth::StoredCredential;

use crate::crypto::{KEY_ID_LEN, KeyRing, TAG_LEN};
use crate::error::Error;

/// The first byte of a value stored in clear, before generations.
const LEGACY_CLEAR: u8 = 0x01;
/// The first byte of a value sealed with AES-256-GCM, before generations.
const LEGACY_SEALED: u8 = 0x02;
/// The first byte of a value stored in clear.
pub(crate) const CLEAR: u8 = 0x03;
/// The first byte of a value sealed with AES-256-GCM.
pub(crate) const SEALED: u8 = 0x04;
/// The generation after the first byte.
const GENERATION_LEN: usize = 8;
/// Two timestamps.
const TIMES_LEN: usize = 16;
/// What comes before the ciphertext of a sealed value.
const SEALED_HEADER_LEN: usize = 1 + GENERATION_LEN + KEY_ID_LEN + NONCE_LEN;
/// What came before the ciphertext of a sealed value before generations.
const LEGACY_SEALED_HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// The associated data of the value of `generation` stored under `redis_key` (`None`: a value
/// written before generations).
fn aad(redis_key: &str, generation: Option<u64>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(36 + redis_key.len());
    match generation {
        None => aad.extend_from_slice(b"tower-github-auth-redis/1\0"),
        Some(_) => aad.extend_from_slice(b"tower-github-auth-redis/2\0"),
    }
    aad.extend_from_slice(redis_key.as_bytes());
    if let Some(generation) = generation {
        aad.push(0);
        aad.extend_from_slice(&generation.to_be_bytes());
    }
    aad
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// A time written as unix milliseconds (`millis`), or whole seconds (a value written before
/// generations).
fn from_unix(bytes: &[u8], millis: bool) -> Result<SystemTime, Error> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("truncated timestamps"))?;
    let count = u64::from_be_bytes(bytes);
    let since = if millis {
        Duration::from_millis(count)
    } else {
        Duration::from_secs(count)
    };
    UNIX_EPOCH
        .checked_add(since)
        .ok_or(Error::Corrupt("timestamp out of range"))
}

/// The bytes to store `credential` under `redis_key` as.
pub(crate) fn encode(
    credential: &StoredCredential,
    keys: Option<&KeyRing>,
    redis_key: &str,
) -> Vec<u8> {
    let generation = credential.generation;
    let mut payload = Vec::with_capacity(TIMES_LEN + credential.value.len() + TAG_LEN);
    payload.extend_from_slice(&unix_millis(credential.issued_at).to_be_bytes());
    payload.extend_from_slice(&unix_millis(credential.expires_at).to_be_bytes());
    payload.extend_from_slice(&credential.value);
    let Some(keys) = keys else {
        let mut out = Vec::with_capacity(1 + GENERATION_LEN + payload.len());
        out.push(CLEAR);
        out.extend_from_slice(&generation.to_be_bytes());
        out.append(&mut payload);
        return out;
    };
    let sealed = keys.seal(&aad(redis_key, Some(generation)), &mut payload);
    let mut out = Vec::with_capacity(SEALED_HEADER_LEN + payload.len());
    out.push(SEALED);
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&sealed.key_id);
    out.extend_from_slice(&sealed.nonce);
    out.append(&mut payload);
    out
}

/// The generation written after the first byte of `bytes`.
fn generation_of(bytes: &[u8]) -> Result<u64, Error> {
    bytes
        .get(1..=GENERATION_LEN)
        .and_then(|b| <[u8; GENERATION_LEN]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or(Error::Corrupt("truncated generation"))
}

/// The credential `bytes` (read from `redis_key`) hold.
pub(crate) fn decode(
    mut bytes: Vec<u8>,
    keys: Option<&KeyRing>,
    redis_key: &str,
) -> Result<StoredCredential, Error> {
    let first = bytes.first().copied();
    let generation = match first {
        Some(CLEAR | SEALED) => Some(generation_of(&bytes)?),
        _ => None,
    };
    let (payload, plain_len) = match (first, keys) {
        (None, _) => return Err(Error::Corrupt("empty value")),
        (Some(LEGACY_CLEAR), None) => (1, bytes.len() - 1),
        (Some(CLEAR), None) => (1 + GENERATION_LEN, bytes.len() - 1 - GENERATION_LEN),
        (Some(LEGACY_CLEAR | CLEAR), Some(_)) => return Err(Error::Cleartext),
        (Some(LEGACY_SEALED | SEALED), None) => return Err(Error::Encrypted),
        (Some(LEGACY_SEALED | SEALED), Some(keys)) => {
            let header = if generation.is_some() {
                SEALED_HEADER_LEN
            } else {
                LEGACY_SEALED_HEADER_LEN
            };
            if bytes.len() < header + TAG_LEN {
                return Err(Error::Corrupt("truncated sealed value"));
            }
            let ids = header - KEY_ID_LEN - NONCE_LEN;
            let mut key_id = [0_u8; KEY_ID_LEN];
            key_id.copy_from_slice(&bytes[ids..ids + KEY_ID_LEN]);
            let mut nonce = [0_u8; NONCE_LEN];
            nonce.copy_from_slice(&bytes[ids + KEY_ID_LEN..header]);
            let len = keys.open(
                key_id,
                nonce,
                &aad(redis_key, generation),
                &mut bytes[header..],
            )?;
            (header, len)
        }
        (Some(_), _) => return Err(Error::Corrupt("unknown format")),
    };
    let plain = &bytes[payload..payload + plain_len];
    let credential = if plain.len() < TIMES_LEN {
        Err(Error::Corrupt("truncated timestamps"))
    } else {
        let millis = generation.is_some();
        from_unix(&plain[..8], millis).and_then(|issued_at| {
            let expires_at = from_unix(&plain[8..TIMES_LEN], millis)?;
            Ok(
                StoredCredential::new(plain[TIMES_LEN..].to_vec(), issued_at, expires_at)
                    .with_generation(generation.unwrap_or(0)),
            )
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
    fn the_generation_is_in_clear_and_sealed_with_the_value() {
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        let ordered = credential().with_generation(0x0102_0304_0506_0708);
        for keys in [None, Some(&ring)] {
            let bytes = encode(&ordered, keys, "p:{k}");
            assert_eq!(
                bytes[1..9],
                [1, 2, 3, 4, 5, 6, 7, 8],
                "where the script reads it"
            );
            assert_eq!(decode(bytes, keys, "p:{k}").unwrap(), ordered);
        }
        // Someone with write access to Redis raises the generation of a sealed value: it no
        // longer opens.
        let mut edited = encode(&ordered, Some(&ring), "p:{k}");
        edited[8] = 0x09;
        assert!(matches!(
            decode(edited, Some(&ring), "p:{k}"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn values_written_before_generations_load_as_generation_0() {
        let mut clear = vec![LEGACY_CLEAR];
        clear.extend_from_slice(&1_700_000_000_u64.to_be_bytes());
        clear.extend_from_slice(&1_700_003_600_u64.to_be_bytes());
        clear.extend_from_slice(b"ghs_0123456789");
        let ring = KeyRing::new(&[EncryptionKey::generate()]).unwrap();
        let mut payload = clear[1..].to_vec();
        let sealed = ring.seal(&aad("p:{k}", None), &mut payload);
        let mut bytes = vec![LEGACY_SEALED];
        bytes.extend_from_slice(&sealed.key_id);
        bytes.extend_from_slice(&sealed.nonce);
        bytes.extend_from_slice(&payload);
        assert_eq!(decode(clear, None, "p:{k}").unwrap(), credential());
        assert_eq!(decode(bytes, Some(&ring), "p:{k}").unwrap(), credential());
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
