//! RSA keys: fresh ones for the Apps created from a manifest (the private key in the PKCS#1 PEM
//! form GitHub hands out), and the public keys JWTs are checked against, with aws-lc-rs itself:
//! never through jsonwebtoken, whose choice of a crypto backend depends on the features other
//! crates of a user's build turn on (with both of its backends on, it panics).

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256},
};
use base64::Engine as _;

/// An App's public key, parsed for RS256 (RSASSA-PKCS1-v1_5 with SHA-256) checks.
pub(crate) type PublicKey = ParsedPublicKey;

/// A PEM public key: `-----BEGIN PUBLIC KEY-----` (`SubjectPublicKeyInfo`) or
/// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1 `RSAPublicKey`).
pub(crate) fn public_key_from_pem(pem: &str) -> Result<PublicKey, String> {
    if !pem.contains("-----BEGIN") || !pem.contains("PUBLIC KEY-----") {
        return Err("not a PEM public key (no `-----BEGIN PUBLIC KEY-----` line)".to_owned());
    }
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the PEM body is not base64".to_owned())?;
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
        .map_err(|_| "not an RSA public key of 2048 to 8192 bits".to_owned())
}

/// Whether `signature` (base64url, no padding) is `key`'s RS256 signature of `signed`.
pub(crate) fn verifies(key: &PublicKey, signed: &[u8], signature: &str) -> bool {
    let Ok(signature) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature.trim_end_matches('='))
    else {
        return false;
    };
    key.verify_sig(signed, &signature).is_ok()
}

/// A generated key pair.
pub(crate) struct GeneratedKey {
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1), 64-column base64 lines, as GitHub's `pem`.
    pub(crate) private_pem: String,
    /// The public half, for checking JWTs.
    pub(crate) public: PublicKey,
}

/// Generates an RSA-2048 key pair.
pub(crate) fn generate() -> Result<GeneratedKey, String> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|err| format!("RSA keygen: {err}"))?;
    let pkcs8 = pair
        .as_der()
        .map_err(|err| format!("RSA key export: {err}"))?;
    let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref()).ok_or("RSA key export: unexpected PKCS#8")?;
    // `public_key()` is the PKCS#1 `RSAPublicKey` DER.
    let public = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
        .map_err(|err| format!("RSA public key: {err}"))?;
    Ok(GeneratedKey {
        private_pem: pem("RSA PRIVATE KEY", pkcs1),
        public,
    })
}

/// The `RSAPrivateKey` (PKCS#1) inside a PKCS#8 `PrivateKeyInfo`:
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (tag, info, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _, rest) = tlv(info)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, _, rest) = tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, key, _) = tlv(rest)?;
    (tag == 0x04).then_some(key)
}

/// One DER element: its tag, its content and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0_usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// PEM armour: base64 in 64-column lines between `BEGIN`/`END` lines.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_pkcs1_pem_and_signs_jwts_the_public_half_verifies() {
        let key = generate().unwrap();
        assert!(
            key.private_pem
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        assert!(key.private_pem.ends_with("-----END RSA PRIVATE KEY-----\n"));
        assert!(key.private_pem.lines().all(|line| line.len() <= 64));
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let jwt =
            jsonwebtoken::encode(&header, &serde_json::json!({ "iss": 1 }), &encoding).unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        assert!(verifies(&key.public, signed.as_bytes(), signature));
        assert!(!verifies(&key.public, b"something else", signature));
        assert!(!verifies(&key.public, signed.as_bytes(), "not base64!"));
    }

    #[test]
    fn public_keys_load_from_pem_or_fail_with_a_reason() {
        let key = public_key_from_pem(crate::TEST_APP_PUBLIC_KEY).unwrap();
        let encoding =
            jsonwebtoken::EncodingKey::from_rsa_pem(crate::TEST_APP_PRIVATE_KEY_PKCS1.as_bytes())
                .unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let jwt =
            jsonwebtoken::encode(&header, &serde_json::json!({ "iss": 1 }), &encoding).unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        assert!(verifies(&key, signed.as_bytes(), signature));
        for bad in [
            "",
            "hello",
            "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(public_key_from_pem(bad).is_err(), "{bad}");
        }
        let truncated = crate::TEST_APP_PUBLIC_KEY.replace("MII", "MIA");
        assert!(public_key_from_pem(&truncated).is_err());
    }

    #[test]
    fn der_reader_refuses_truncated_input() {
        assert!(tlv(&[0x30]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x81]).is_none());
        assert_eq!(
            tlv(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((0x04, &[0xaa][..], &[0xbb][..]))
        );
        assert!(pkcs1_from_pkcs8(&[0x02, 0x01, 0x00]).is_none());
    }
}
