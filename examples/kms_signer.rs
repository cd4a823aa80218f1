//! A GitHub App whose private key never enters the process: its JWTs are signed by a key
//! service (AWS KMS, GCP Cloud KMS, Vault transit, an HSM), here a loopback stand-in.
//!
//! The "KMS" below is a small axum server holding the emulator's test key and answering
//! `POST /sign` with the signature of the posted message. The App's [`JwtSigner`] calls it over
//! HTTP; the crate builds the JWT, asks for one signature per JWT (however many requests wait
//! for it) and reuses the JWT for minutes. Swap [`KmsSigner::sign`]'s request for your key
//! service's (the `JwtSigner` docs sketch AWS KMS, GCP Cloud KMS and Vault transit).
//!
//! Run: `cargo run --example kms_signer`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use github_auth_emulator::{Emulator, TEST_APP_PRIVATE_KEY_PKCS1};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tower::{ServiceBuilder, ServiceExt};
use tower_github_auth::{
    AppAuth, AppId, BoxError, Endpoints, InstallationId, JwtSigner, PrivateKey,
};

/// The key's name at the KMS, and the App's key id (installation tokens are cached under it).
pub const KEY_ID: &str = "github-app-signing-key";

/// What `POST /sign` takes: the key to sign with and the message, base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignRequest {
    /// The key's name at the KMS.
    pub key_id: String,
    /// The bytes to sign (the JWT's signing input), base64.
    pub message: String,
}

/// What `POST /sign` answers: the RS256 signature, base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignAnswer {
    /// RSASSA-PKCS1-v1_5 with SHA-256 of the message, base64.
    pub signature: String,
}

/// The loopback key service: one RSA key, named [`KEY_ID`], and a count of its signatures.
#[derive(Clone, Debug)]
pub struct Kms {
    key: PrivateKey,
    signatures: Arc<AtomicUsize>,
}

impl Kms {
    /// A KMS holding `key`.
    pub fn new(key: PrivateKey) -> Self {
        Self {
            key,
            signatures: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many signatures it has made.
    pub fn signatures(&self) -> usize {
        self.signatures.load(Ordering::SeqCst)
    }

    /// Its routes: `POST /sign`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/sign", post(sign))
            .with_state(self.clone())
    }

    /// Serves it on a loopback port; its base URL.
    pub async fn start(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(format!("http://{addr}"))
    }
}

/// `POST /sign`: the signature of the message with the named key.
async fn sign(
    State(kms): State<Kms>,
    Json(request): Json<SignRequest>,
) -> Result<Json<SignAnswer>, (StatusCode, String)> {
    if request.key_id != KEY_ID {
        let reason = format!("NotFoundException: no key named `{}`", request.key_id);
        return Err((StatusCode::NOT_FOUND, reason));
    }
    let message = STANDARD
        .decode(request.message)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("message not base64: {e}")))?;
    // The "HSM": the key signs inside the KMS and never leaves it.
    let signature = kms
        .key
        .sign(&message)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    kms.signatures.fetch_add(1, Ordering::SeqCst);
    Ok(Json(SignAnswer {
        signature: STANDARD.encode(signature),
    }))
}

/// The App's JWT signer: asks the KMS over HTTP, holds no key.
#[derive(Clone, Debug)]
pub struct KmsSigner {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `{kms}/sign`.
    sign_url: String,
    key_id: String,
}

impl KmsSigner {
    /// A signer using the key `key_id` of the KMS at `kms` (its base URL).
    pub fn new(kms: &str, key_id: impl Into<String>) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            sign_url: format!("{kms}/sign"),
            key_id: key_id.into(),
        }
    }
}

impl JwtSigner for KmsSigner {
    fn key_id(&self) -> String {
        // Stable, and different for every key (a real KMS: the key's ARN or version name).
        format!("{}#{}", self.sign_url, self.key_id)
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, BoxError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&SignRequest {
                key_id: self.key_id.clone(),
                message: STANDARD.encode(message),
            })?;
            let request = Request::post(&self.sign_url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::from(body))?;
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return Err(format!("the KMS refused to sign ({status}): {text}").into());
            }
            let answer: SignAnswer = serde_json::from_slice(&body)?;
            Ok(STANDARD.decode(answer.signature)?)
        })
    }
}

/// `GET path` through `layer` over a hyper-util client: the status and the JSON body.
pub async fn call<L>(layer: L, path: &str) -> Result<(u16, serde_json::Value), BoxError>
where
    L: tower::Layer<Client<HttpConnector, Full<Bytes>>>,
    L::Service: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = tower_github_auth::Error,
        >,
{
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new().layer(layer).service(client);
    let response = service
        .oneshot(Request::get(path).body(Full::default())?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or_default()))
}

#[allow(dead_code)] // The end-to-end test includes this file for its pieces only.
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let github = Emulator::builder().start().await?;
    // The key lives in the KMS; this process only knows where the KMS is and the key's name.
    let kms = Kms::new(PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1)?);
    let kms_url = kms.start().await?;
    println!("GitHub emulator on {}, KMS on {kms_url}", github.base_url());

    let app = AppAuth::with_signer(AppId(1), KmsSigner::new(&kms_url, KEY_ID))
        .endpoints(Endpoints::single(&github.base_url())?);

    let (status, me) = call(app.clone(), "/app").await?;
    println!(
        "GET /app -> {status}: the App {} (id {})",
        me["slug"], me["id"]
    );
    for _ in 0..3 {
        let (status, repo) =
            call(app.as_installation(InstallationId(1)), "/repos/octo/one").await?;
        println!(
            "GET /repos/octo/one -> {status}: {} as {}",
            repo["full_name"], repo["emulator"]["credential"]
        );
    }
    println!(
        "the KMS signed {} JWT(s); GitHub verified {} and minted {} installation token(s)",
        kms.signatures(),
        github.counters().jwts_verified,
        github.counters().installation_tokens_minted
    );
    Ok(())
}
