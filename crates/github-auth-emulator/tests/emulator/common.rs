//! Plain-HTTP helpers: a hyper client, JWT signing with the test key.

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_APP_ID, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, EmulatorHandle, TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    pub(crate) fn form(&self) -> BTreeMap<String, String> {
        serde_urlencoded::from_bytes(&self.body).expect("not form-encoded")
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `error` of an OAuth answer (which must be HTTP 200).
    pub(crate) fn oauth_error(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "OAuth errors come under 200");
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// A plain HTTP/1 client aimed at one emulator.
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub(crate) fn new(emulator: &EmulatorHandle) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: emulator.base_url(),
        }
    }

    /// A client of another of the emulator's hosts (its uploads host).
    pub(crate) fn at(base: String) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    /// Sends a request; adds a `User-Agent` when `user_agent`.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
        user_agent: bool,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if user_agent {
            builder = builder.header("user-agent", "emulator-tests");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                builder = builder.header("content-type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = builder.body(Full::new(Bytes::from(bytes))).unwrap();
        let response = self.client.request(request).await.expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET` with an optional bearer credential.
    pub(crate) async fn get(&self, path: &str, bearer: Option<&str>) -> Answer {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send(Method::GET, path, &headers, None, true).await
    }

    /// `DELETE` with an optional bearer credential.
    pub(crate) async fn delete(&self, path: &str, bearer: Option<&str>) -> Answer {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send(Method::DELETE, path, &headers, None, true).await
    }

    /// `POST` of a JSON body (none if `Value::Null`) with an optional bearer credential.
    pub(crate) async fn post_json(&self, path: &str, bearer: Option<&str>, body: &Value) -> Answer {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let body = (!body.is_null()).then(|| ("application/json", body.to_string().into_bytes()));
        self.send(Method::POST, path, &headers, body, true).await
    }

    /// A form POST to an OAuth endpoint, asking for JSON.
    pub(crate) async fn oauth(&self, path: &str, params: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(params).unwrap().into_bytes();
        self.send(
            Method::POST,
            path,
            &[("accept", "application/json")],
            Some(("application/x-www-form-urlencoded", body)),
            true,
        )
        .await
    }

    /// Mints an installation token with the default app JWT.
    pub(crate) async fn installation_token(&self, installation: u64, body: &Value) -> String {
        let answer = self
            .post_json(
                &format!("/app/installations/{installation}/access_tokens"),
                Some(&app_jwt()),
                body,
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
        answer.json()["token"].as_str().unwrap().to_owned()
    }

    /// Exchanges a web-flow code with the GitHub App's client credentials.
    pub(crate) async fn app_code_exchange(&self, code: &str) -> Value {
        let answer = self
            .oauth(
                "/login/oauth/access_token",
                &[
                    ("client_id", DEFAULT_APP_CLIENT_ID),
                    ("client_secret", DEFAULT_APP_CLIENT_SECRET),
                    ("code", code),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.json()
    }

    /// Exchanges a web-flow code with the OAuth app's credentials.
    pub(crate) async fn oauth_code_exchange(&self, code: &str) -> Value {
        let answer = self
            .oauth(
                "/login/oauth/access_token",
                &[
                    ("client_id", DEFAULT_OAUTH_CLIENT_ID),
                    ("client_secret", DEFAULT_OAUTH_CLIENT_SECRET),
                    ("code", code),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.json()
    }
}

/// The machine's UNIX time in seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs `claims` with the test app key (PKCS#1).
pub(crate) fn sign(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY_PKCS1.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// A good JWT for app `iss` (an id or a client id), signed with the PEM private key `pem`.
pub(crate) fn jwt_with(pem: &str, iss: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let now = now();
    let claims = json!({ "iat": now - 30, "exp": now + 570, "iss": iss });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

/// The `rel` → URL pairs of a `Link` header.
pub(crate) fn links(answer: &Answer) -> BTreeMap<String, String> {
    answer
        .header("link")
        .unwrap_or_default()
        .split(", ")
        .filter_map(|link| {
            let (url, rel) = link.split_once("; rel=")?;
            Some((
                rel.trim_matches('"').to_owned(),
                url.trim_start_matches('<').trim_end_matches('>').to_owned(),
            ))
        })
        .collect()
}

/// A good app JWT, the way octokit makes one.
pub(crate) fn app_jwt() -> String {
    let now = now();
    sign(&json!({ "iat": now - 30, "exp": now + 570, "iss": DEFAULT_APP_ID }))
}
