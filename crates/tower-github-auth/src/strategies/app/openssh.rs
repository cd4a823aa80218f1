//! An App key in OpenSSH's own format (`-----BEGIN OPENSSH PRIVATE KEY-----`, what `ssh-keygen`
//! writes by default), rewritten as the PKCS#1 `RSAPrivateKey` DER that aws-lc-rs reads.
//!
//! OpenSSH keeps n, e, d, iqmp, p and q; PKCS#1 also wants the CRT exponents d mod (p - 1) and
//! d mod (q - 1), computed here in constant time. Parsing is `ssh-key`'s; what the numbers are
//! worth (n = pq, e·d ≡ 1, ...) is left to aws-lc-rs, which checks the key when it loads it.

use crypto_bigint::{BoxedUint, NonZero};
use pkcs1::der::SecretDocument;
use pkcs1::{RsaPrivateKey, UintRef};
use ssh_key::private::KeypairData;
use ssh_key::{Algorithm, Mpint};
use zeroize::Zeroizing;

/// The largest modulus OpenSSH generates (`ssh-keygen -b`), in bytes: a bound on the arithmetic
/// done before aws-lc-rs sees the key (it takes at most 8192 bits).
const MAX_MODULUS_BYTES: usize = 16384 / 8;

/// Why an OpenSSH key is not one an App can sign with. No key material in any of them.
pub(crate) const DAMAGED: &str = "the OpenSSH key does not decode (cut short, changed, or not \
                                  in OpenSSH's `openssh-key-v1` format)";
pub(crate) const ENCRYPTED: &str = "the OpenSSH key is protected by a passphrase, which is not \
     asked for here; remove it from a private copy with `ssh-keygen -p -N \"\" -f COPY` (or \
     rewrite the copy as PKCS#1 without one: `ssh-keygen -p -m PEM -N \"\" -f COPY`)";
pub(crate) const TOO_LARGE: &str =
    "the OpenSSH key's RSA numbers are larger than any RSA key OpenSSH makes (16384 bits)";
pub(crate) const NOT_A_KEY: &str =
    "the OpenSSH key's RSA numbers do not make an RSA private key (damaged?)";

/// The PKCS#1 DER (zeroed when dropped) of the RSA key in an OpenSSH key's binary form (the
/// base64-decoded body between the armour lines).
pub(crate) fn pkcs1_der(body: &[u8]) -> Result<SecretDocument, String> {
    let key = ssh_key::PrivateKey::from_bytes(body).map_err(|_| DAMAGED.to_owned())?;
    if key.is_encrypted() {
        return Err(ENCRYPTED.to_owned());
    }
    let KeypairData::Rsa(rsa) = key.key_data() else {
        return Err(not_rsa(&key.algorithm()));
    };
    let private = &rsa.private;
    let numbers = [
        positive(&rsa.public.n)?,
        positive(&rsa.public.e)?,
        positive(&private.d)?,
        positive(&private.p)?,
        positive(&private.q)?,
        positive(&private.iqmp)?,
    ];
    if numbers
        .iter()
        .any(|number| number.len() > MAX_MODULUS_BYTES)
    {
        return Err(TOO_LARGE.to_owned());
    }
    let [
        modulus,
        public_exponent,
        private_exponent,
        prime1,
        prime2,
        coefficient,
    ] = numbers;
    let exponent1 = crt_exponent(private_exponent, prime1)?;
    let exponent2 = crt_exponent(private_exponent, prime2)?;
    let pkcs1 = RsaPrivateKey {
        modulus: uint(modulus)?,
        public_exponent: uint(public_exponent)?,
        private_exponent: uint(private_exponent)?,
        prime1: uint(prime1)?,
        prime2: uint(prime2)?,
        exponent1: uint(&exponent1)?,
        exponent2: uint(&exponent2)?,
        coefficient: uint(coefficient)?,
        other_prime_infos: None,
    };
    SecretDocument::try_from(&pkcs1).map_err(|_| NOT_A_KEY.to_owned())
}

/// What to do with an OpenSSH key of another algorithm. Its name is no secret (it is in the
/// public key too).
fn not_rsa(algorithm: &Algorithm) -> String {
    let name = match algorithm {
        Algorithm::Ed25519 | Algorithm::SkEd25519 => "an ed25519",
        Algorithm::Ecdsa { .. } | Algorithm::SkEcdsaSha2NistP256 => "an ecdsa",
        Algorithm::Dsa => "a DSA",
        _ => "a non-RSA",
    };
    format!(
        "this is {name} OpenSSH key (`{}`); a GitHub App signs with the RSA key GitHub generates \
         for it (generate one in the App's settings)",
        algorithm.as_str()
    )
}

/// A DER INTEGER of big-endian bytes.
fn uint(bytes: &[u8]) -> Result<UintRef<'_>, String> {
    UintRef::new(bytes).map_err(|_| NOT_A_KEY.to_owned())
}

/// The big-endian bytes of a positive multiple-precision integer.
fn positive(number: &Mpint) -> Result<&[u8], String> {
    number
        .as_positive_bytes()
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| NOT_A_KEY.to_owned())
}

/// d mod (prime - 1), big-endian (leading zeros are dropped by DER), zeroed when dropped.
fn crt_exponent(d: &[u8], prime: &[u8]) -> Result<Zeroizing<Box<[u8]>>, String> {
    // The lengths are public (they are in the public key's size); the values are not.
    let d = Zeroizing::new(BoxedUint::from_be_slice_vartime(d));
    let prime = Zeroizing::new(BoxedUint::from_be_slice_vartime(prime));
    // 0 and 1 are no primes of an RSA key (and 0 - 1 would wrap).
    if prime.bit_width() < 2 {
        return Err(NOT_A_KEY.to_owned());
    }
    let one = BoxedUint::one_with_precision(prime.bits_precision());
    let below = Zeroizing::new(
        NonZero::new(prime.wrapping_sub(&one))
            .into_option()
            .ok_or_else(|| NOT_A_KEY.to_owned())?,
    );
    let exponent = Zeroizing::new(d.rem(&below));
    Ok(Zeroizing::new(exponent.to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crt_exponents_are_d_modulo_the_prime_less_one() {
        // d = 1000, p = 17: 1000 mod 16 = 8; q = 1_000_003 (three bytes): 1000 mod 1_000_002.
        let big = crt_exponent(&[0x03, 0xe8], &[0x0f, 0x42, 0x43]).unwrap();
        assert_eq!(UintRef::new(&big).unwrap().as_bytes(), &[0x03, 0xe8]);
        let small = crt_exponent(&[0x03, 0xe8], &[17]).unwrap();
        assert_eq!(UintRef::new(&small).unwrap().as_bytes(), &[8]);
        for not_a_prime in [&[0u8][..], &[1], &[]] {
            assert_eq!(
                crt_exponent(&[0x03, 0xe8], not_a_prime).unwrap_err(),
                NOT_A_KEY
            );
        }
    }
}
