//! Registering a GitHub App from a manifest: how tools set up their own App.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use http::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::Clock;
use crate::endpoints::{Endpoints, segment};
use crate::error::{Error, Exchange};
use crate::side::{Limits, Side, decode_json, github_error};
use crate::strategies::app::ids::AppId;
use crate::strategies::app::jwt::AppAuth;
use crate::strategies::oauth::client::ClientCredentials;

/// A GitHub App manifest: what the form posted to GitHub describes. Field names follow
/// GitHub's ("Registering a GitHub App from a manifest").
///
/// GitHub's flow: the user posts a form with the manifest (JSON) and a `state` to
/// `{web}/settings/apps/new` (or `{web}/organizations/{org}/settings/apps/new`), confirms the App
/// on GitHub, and is sent back to the manifest's `redirect_url` with a `code` (valid one hour,
/// once) and the `state`. `POST {api}/app-manifests/{code}/conversions` (no authentication)
/// then answers with the new App: its id, client id and secret, webhook secret and private key.
///
/// ```
/// use http_body_util::Full;
/// use tower_github_auth::{AppManifest, Endpoints, InstallationId, convert_manifest_code};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let endpoints = Endpoints::single(&github.base_url())?;
/// let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
///     .build_http::<Full<bytes::Bytes>>();
///
/// // 1. The form the user posts to GitHub (here the emulator plays the user and GitHub).
/// let manifest = AppManifest::new("my-tool", "https://example.com")
///     .redirect_url("https://example.com/setup/done")
///     .webhook("https://example.com/webhooks")
///     .default_permission("contents", "read")
///     .default_events(["push"]);
/// let (action, json) = (manifest.form_action(&endpoints, None), manifest.to_json());
/// # let _ = action;
/// let code = github.issue_manifest_code(&json);
///
/// // 2. Back at `redirect_url?code=...&state=...`: the App's credentials, once.
/// let created = convert_manifest_code(&client, &endpoints, &code).await?;
/// let app = created.app_auth()?.endpoints(endpoints);
/// let installation = app.installations(&client).await?[0].id;
/// let token = app.as_installation(installation).fetch_token(&client).await?;
/// # let _ = (token, InstallationId(0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppManifest {
    /// The App's name (unique on GitHub).
    pub name: String,
    /// The App's homepage.
    pub url: String,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where GitHub sends the user back with the `code` once the App is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Where users are sent after authorizing the App (up to ten).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callback_urls: Vec<String>,
    /// Where users are sent after installing the App.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_url: Option<String>,
    /// The webhook: its URL and whether it is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_attributes: Option<HookAttributes>,
    /// Whether anyone can install it (`true`) or only its owner.
    pub public: bool,
    /// Permissions, such as `contents` → `read`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub default_permissions: BTreeMap<String, String>,
    /// Webhook events, such as `push`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_events: Vec<String>,
    /// Whether users authorize the App when installing it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub request_oauth_on_install: bool,
}

/// A manifest's webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HookAttributes {
    /// Where GitHub posts the events.
    pub url: String,
    /// Whether deliveries are sent.
    pub active: bool,
}

impl AppManifest {
    /// A manifest for an App named `name` with homepage `url`, private, no permissions yet.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// Where GitHub sends the user back with the `code`.
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = Some(url.into());
        self
    }

    /// A URL users are sent to after authorizing the App (call again for more).
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_urls.push(url.into());
        self
    }

    /// An active webhook at `url`.
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.hook_attributes = Some(HookAttributes {
            url: url.into(),
            active: true,
        });
        self
    }

    /// A permission, such as `("issues", "write")`.
    pub fn default_permission(mut self, name: impl Into<String>, level: impl Into<String>) -> Self {
        self.default_permissions.insert(name.into(), level.into());
        self
    }

    /// Webhook events to subscribe to.
    pub fn default_events<I, N>(mut self, events: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.default_events
            .extend(events.into_iter().map(Into::into));
        self
    }

    /// Whether anyone can install the App.
    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// The manifest as GitHub reads it: the `manifest` field of the form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest is plain JSON")
    }

    /// Where the form goes: `{web}/settings/apps/new`, or the organisation's
    /// `{web}/organizations/{org}/settings/apps/new`. Post `manifest` ([`to_json`](Self::to_json))
    /// and a random `state` there (check it when the user comes back, as the OAuth `state`).
    pub fn form_action(&self, endpoints: &Endpoints, organization: Option<&str>) -> String {
        match organization {
            Some(org) => format!(
                "{}/organizations/{}/settings/apps/new",
                endpoints.web_base(),
                segment(org)
            ),
            None => format!("{}/settings/apps/new", endpoints.web_base()),
        }
    }
}

/// The App GitHub created from a manifest, with its secrets; from [`convert_manifest_code`].
/// `Debug` shows the secrets as `***`. Store them now: GitHub shows them once.
#[derive(Clone)]
#[non_exhaustive]
pub struct ManifestApp {
    /// The App id.
    pub id: AppId,
    /// Its slug, as in `https://github.com/apps/{slug}`.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// The login of the account that owns it.
    pub owner: Option<String>,
    /// Its page on GitHub.
    pub html_url: Option<String>,
    /// Its OAuth client id.
    pub client_id: String,
    /// Its OAuth client secret.
    pub client_secret: SecretString,
    /// The secret GitHub signs webhook deliveries with; `None` without a webhook.
    pub webhook_secret: Option<SecretString>,
    /// Its private key, PKCS#1 PEM.
    pub pem: SecretString,
}

impl fmt::Debug for ManifestApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManifestApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("html_url", &self.html_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("pem", &"***")
            .finish()
    }
}

impl ManifestApp {
    /// The App, ready to act as itself or its installations (on github.com: set
    /// [`endpoints`](AppAuth::endpoints) for another deployment).
    pub fn app_auth(&self) -> Result<AppAuth, Error> {
        use secrecy::ExposeSecret;
        AppAuth::from_pem(self.id, self.pem.expose_secret())
    }

    /// Its OAuth client credentials, for [`OAuthAppAuth`](crate::OAuthAppAuth) and the user flows.
    pub fn client_credentials(&self) -> ClientCredentials {
        ClientCredentials::new(self.client_id.clone(), self.client_secret.clone())
    }
}

/// Trades the `code` GitHub sent back to the manifest's `redirect_url` for the new App's
/// credentials (`POST {api}/app-manifests/{code}/conversions`, no authentication), through
/// `inner`, your HTTP client. A code works once, for one hour: a second conversion is an
/// [`Error::GitHub`] with status 404.
pub async fn convert_manifest_code<S, B, RB>(
    inner: &S,
    endpoints: &Endpoints,
    code: &str,
) -> Result<ManifestApp, Error>
where
    S: HttpClient<B, RB>,
    B: RequestBody,
    RB: ResponseBody,
{
    #[derive(Deserialize)]
    struct Converted {
        id: u64,
        slug: Option<String>,
        name: String,
        owner: Option<Owner>,
        html_url: Option<String>,
        client_id: String,
        client_secret: String,
        webhook_secret: Option<String>,
        pem: String,
    }
    #[derive(Deserialize)]
    struct Owner {
        login: Option<String>,
    }
    let side = Side::new(
        inner,
        endpoints,
        &Arc::new(Clock::default()),
        Limits::default(),
    );
    let exchange = Exchange::ManifestConversion;
    let path = format!("/app-manifests/{}/conversions", segment(code));
    let mut answer = side
        .rest_raw(exchange, Method::POST, &path, None, None)
        .await?;
    answer.secrets.push(code.to_owned());
    if answer.status != StatusCode::CREATED && !answer.status.is_success() {
        return Err(github_error(exchange, &answer));
    }
    let converted: Converted = decode_json(exchange, &answer)?;
    Ok(ManifestApp {
        id: AppId(converted.id),
        slug: converted.slug.unwrap_or_default(),
        name: converted.name,
        owner: converted.owner.and_then(|o| o.login),
        html_url: converted.html_url,
        client_id: converted.client_id,
        client_secret: SecretString::from(converted.client_secret),
        webhook_secret: converted.webhook_secret.map(SecretString::from),
        pem: SecretString::from(converted.pem),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_githubs_json_and_forms_go_to_github() {
        let manifest = AppManifest::new("tool", "https://example.com")
            .redirect_url("https://example.com/done")
            .webhook("https://example.com/hook")
            .default_permission("issues", "write")
            .default_events(["issues"]);
        let json: serde_json::Value = serde_json::from_str(&manifest.to_json()).unwrap();
        assert_eq!(json["hook_attributes"]["url"], "https://example.com/hook");
        assert_eq!(json["default_permissions"]["issues"], "write");
        assert_eq!(json["public"], false);
        assert!(json.get("setup_url").is_none());
        let dotcom = Endpoints::github_com();
        assert_eq!(
            manifest.form_action(&dotcom, None),
            "https://github.com/settings/apps/new"
        );
        assert_eq!(
            manifest.form_action(&dotcom, Some("octo org")),
            "https://github.com/organizations/octo%20org/settings/apps/new"
        );
    }
}
