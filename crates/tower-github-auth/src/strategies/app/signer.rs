//! [`JwtSigner`]: what signs the App's JWT. Its [`PrivateKey`](crate::PrivateKey) in this
//! process, or a key that never leaves a KMS, Vault or an HSM.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::error::BoxError;

/// Signs the App's JWTs: RS256 (RSASSA-PKCS1-v1_5 with SHA-256) with the App's RSA key.
///
/// [`PrivateKey`](crate::PrivateKey) is one (the key in this process). Implement it to keep the
/// key elsewhere (AWS KMS, GCP Cloud KMS, Vault transit, an HSM) and pass it to
/// [`AppAuth::with_signer`](crate::AppAuth::with_signer); the public half of the key must be
/// the one uploaded to the App's settings on GitHub.
///
/// # What the crate does, what the signer does
/// The crate builds the JWT's header (`{"typ":"JWT","alg":"RS256"}`) and claims (`iat` GitHub's
/// time as it knows it minus 60 s, `exp` ten minutes later, `iss` the App), corrects its clock
/// when GitHub refuses a JWT for its time, reuses one JWT until two minutes before it expires,
/// and asks for one signature however many requests wait for it. It calls
/// [`sign`](Self::sign) with the signing input, `base64url(header) + "." + base64url(claims)`,
/// as bytes; the signer returns the raw signature bytes (not base64: for a 2048-bit key,
/// 256 bytes), and the crate appends `"." + base64url(signature)`.
///
/// # Errors and deadlines
/// A signature is made in the same single flight as an exchange with GitHub: an error from
/// `sign` reaches every request waiting for that JWT as
/// [`Error::Signer`](crate::Error::Signer), once, and the next attempt waits for a backoff
/// (1 s, doubling up to 60 s; requests in between get [`Error::Backoff`](crate::Error::Backoff)).
/// A signature not made within the exchange deadline
/// ([`AppAuth::exchange_timeout`](crate::AppAuth::exchange_timeout), default 10 s) fails with
/// [`Error::Timeout`](crate::Error::Timeout) for
/// [`Exchange::JwtSigning`](crate::Exchange::JwtSigning), and its future is dropped. There is no
/// need to retry inside `sign`; a signer that does must stay within that deadline.
///
/// # Implementing it
/// `sign` returns a boxed future (`Box::pin(async move { .. })`), so the trait stays object safe
/// without the `async_trait` crate; the future may borrow `self` and `message`. The future must be
/// `Send`: it runs in a Tokio task. A signer holding clients or credentials should keep them out
/// of `Debug` (or show them as `***`).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use futures_util::future::BoxFuture;
/// use secrecy::ExposeSecret;
/// use tower_github_auth::{AppAuth, AppId, BoxError, JwtSigner, PrivateKey};
///
/// /// Signs with a key, counting the signatures (a KMS client would go where `key` is).
/// #[derive(Debug)]
/// struct Counting {
///     key: PrivateKey,
///     signatures: AtomicUsize,
/// }
///
/// impl JwtSigner for Counting {
///     fn key_id(&self) -> String {
///         self.key.fingerprint().to_owned()
///     }
///
///     fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
///         Box::pin(async move {
///             self.signatures.fetch_add(1, Ordering::Relaxed);
///             self.key.sign(message).await
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
/// let signer = Arc::new(Counting { key, signatures: AtomicUsize::new(0) });
/// // An `Arc` of a signer is a signer: keep a handle on it.
/// let app = AppAuth::with_signer(AppId(1), Arc::clone(&signer));
///
/// let first = app.fetch_jwt().await?;
/// let second = app.fetch_jwt().await?;
/// assert_eq!(first.expose_secret(), second.expose_secret(), "one JWT, reused");
/// assert_eq!(signer.signatures.load(Ordering::Relaxed), 1);
/// assert!(first.expose_secret().starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."));
/// # Ok(())
/// # }
/// ```
///
/// # AWS KMS
/// An asymmetric `SIGN_VERIFY` key, `RSA_2048` (or larger), whose public key (`GetPublicKey`,
/// DER `SubjectPublicKeyInfo`, as PEM) is the one added to the App. `Sign` with
/// `SigningAlgorithm=RSASSA_PKCS1_V1_5_SHA_256` and `MessageType=RAW` (KMS hashes; messages
/// up to 4 KiB, a JWT's signing input is about 150 bytes); the answer's `Signature` is the raw
/// signature. A sketch, with the AWS SDK for Rust as a dependency of *your* crate (this one
/// needs none):
///
/// ```ignore
/// #[derive(Debug)]
/// struct AwsKmsSigner {
///     client: aws_sdk_kms::Client,
///     key_arn: String, // arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (an alias ARN would move)
/// }
///
/// impl JwtSigner for AwsKmsSigner {
///     fn key_id(&self) -> String {
///         self.key_arn.clone()
///     }
///
///     fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
///         Box::pin(async move {
///             let answer = self
///                 .client
///                 .sign()
///                 .key_id(&self.key_arn)
///                 .message(aws_sdk_kms::primitives::Blob::new(message))
///                 .message_type(aws_sdk_kms::types::MessageType::Raw)
///                 .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
///                 .send()
///                 .await?;
///             Ok(answer.signature.ok_or("KMS answered Sign without a signature")?.into_inner())
///         })
///     }
/// }
/// ```
///
/// # GCP Cloud KMS
/// A key version of purpose `ASYMMETRIC_SIGN` and algorithm `RSA_SIGN_PKCS1_2048_SHA256`
/// (`getPublicKey` gives the PEM to add to the App). `asymmetricSign` takes the SHA-256
/// **digest** of the signing input, not the input; its `signature` is base64. Over the REST
/// API (`POST https://cloudkms.googleapis.com/v1/{key version name}:asymmetricSign`, an OAuth
/// access token from your credentials):
///
/// ```ignore
/// #[derive(Debug)]
/// struct GcpKmsSigner {
///     http: MyHttpClient, // yours: reqwest, hyper-util, a Google client library, ...
///     // projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/1
///     key_version: String,
/// }
///
/// impl JwtSigner for GcpKmsSigner {
///     fn key_id(&self) -> String {
///         self.key_version.clone() // the version: a new version is a new key
///     }
///
///     fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
///         Box::pin(async move {
///             let digest = sha256(message); // aws_lc_rs::digest, sha2, ring: 32 bytes
///             let url = format!(
///                 "https://cloudkms.googleapis.com/v1/{}:asymmetricSign",
///                 self.key_version
///             );
///             let body = serde_json::json!({ "digest": { "sha256": BASE64_STANDARD.encode(digest) } });
///             let answer: serde_json::Value = self.http.post_json(&url, &body).await?;
///             let signature = answer["signature"].as_str().ok_or("no `signature` in the answer")?;
///             Ok(BASE64_STANDARD.decode(signature)?)
///         })
///     }
/// }
/// ```
///
/// # Vault transit
/// An `rsa-2048` (or larger) transit key; its public key (`GET /v1/transit/keys/{key}`) is the
/// one added to the App. `POST /v1/transit/sign/{key}/sha2-256` with the base64 input,
/// `signature_algorithm=pkcs1v15` and `prehashed=false`; the answer's `data.signature` is
/// `vault:v1:<base64>`: strip the `vault:vN:` prefix and base64-decode. Pin `key_version`, and
/// put it in the key id: a rotated transit key signs with a new key, which GitHub knows only
/// once its public half is uploaded.
///
/// ```ignore
/// #[derive(Debug)]
/// struct VaultTransitSigner {
///     http: MyHttpClient, // yours, sending `X-Vault-Token` (kept out of `Debug`)
///     vault: String,      // https://vault.example.com:8200
///     key: String,
///     version: u32,
/// }
///
/// impl JwtSigner for VaultTransitSigner {
///     fn key_id(&self) -> String {
///         format!("{}/v1/transit/keys/{}:v{}", self.vault, self.key, self.version)
///     }
///
///     fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
///         Box::pin(async move {
///             let url = format!("{}/v1/transit/sign/{}/sha2-256", self.vault, self.key);
///             let body = serde_json::json!({
///                 "input": BASE64_STANDARD.encode(message),
///                 "signature_algorithm": "pkcs1v15",
///                 "prehashed": false,
///                 "key_version": self.version,
///             });
///             let answer: serde_json::Value = self.http.post_json(&url, &body).await?;
///             let signature = answer["data"]["signature"].as_str().ok_or("no data.signature")?;
///             let encoded = signature.strip_prefix(&format!("vault:v{}:", self.version))
///                 .ok_or("not a signature of the pinned key version")?;
///             Ok(BASE64_STANDARD.decode(encoded)?)
///         })
///     }
/// }
/// ```
///
/// The crate builds the JWT (header, claims on GitHub's clock, reuse for minutes, one signature
/// however many requests wait for it); the signer only turns the signing input into an RS256
/// signature.
pub trait JwtSigner: fmt::Debug + Send + Sync + 'static {
    /// A stable identity of the key, such as the SHA-256 fingerprint of its public key or the
    /// KMS key ARN; two different keys must never share one.
    ///
    /// Installation tokens are cached under it (with the App and the installation), so that two
    /// Apps sharing a [`TokenCache`](crate::TokenCache) with one App id but different keys never
    /// share a token. It is read once, when the [`AppAuth`](crate::AppAuth) is built, and may
    /// appear in errors and logs: it must not be a secret.
    fn key_id(&self) -> String;

    /// The RS256 signature (RSASSA-PKCS1-v1_5, SHA-256) of `message`, the JWT's signing input
    /// (`base64url(header) + "." + base64url(claims)`), as raw bytes.
    ///
    /// An error reaches the requests waiting for the JWT as
    /// [`Error::Signer`](crate::Error::Signer): say in it what failed (access denied, key
    /// disabled, service unreachable).
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>>;
}

impl<S: JwtSigner + ?Sized> JwtSigner for Arc<S> {
    fn key_id(&self) -> String {
        (**self).key_id()
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
        (**self).sign(message)
    }
}

impl<S: JwtSigner + ?Sized> JwtSigner for Box<S> {
    fn key_id(&self) -> String {
        (**self).key_id()
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
        (**self).sign(message)
    }
}
