//! Everything the builder sets, in a form the binary can read from TOML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::defaults::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_APP_ID, DEFAULT_LOGIN,
    DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_PAT, DEFAULT_WEB_FLOW_CODE,
    TEST_APP_PUBLIC_KEY,
};

/// The whole setup of an emulator: what [`EmulatorBuilder`](crate::builder::EmulatorBuilder) sets, and what
/// the `github-auth-emulator` binary reads from its `--config` TOML file.
///
/// [`Config::default()`] is the emulator's default world (the same as
/// [`Emulator::builder()`](crate::builder::Emulator::builder) without any call): app 1 with the bundled test
/// key, three installations, one OAuth app, [`DEFAULT_PAT`] and [`DEFAULT_WEB_FLOW_CODE`]. Every field
/// missing from a TOML file keeps its default; unknown fields are refused.
///
/// ```
/// use github_auth_emulator::Config;
///
/// let config: Config =
///     toml::from_str("app_id = 42\ninstallation_token_ttl_secs = 120").unwrap();
/// assert_eq!(config.app_id, 42);
/// assert_eq!(config.installations, Config::default().installations); // the defaults are kept
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port to listen on at `127.0.0.1`; `0` (the default) picks a free one.
    pub port: u16,
    /// The GitHub App's id, accepted as the JWT `iss` (integer or string). Default [`DEFAULT_APP_ID`].
    pub app_id: u64,
    /// The GitHub App's client id: accepted as the JWT `iss`, and as an OAuth client (its user
    /// tokens are `ghu_`). Default [`DEFAULT_APP_CLIENT_ID`].
    pub app_client_id: String,
    /// The GitHub App's client secret. Default [`DEFAULT_APP_CLIENT_SECRET`].
    pub app_client_secret: String,
    /// PEM of the public key JWTs are checked against (`-----BEGIN PUBLIC KEY-----` or
    /// `-----BEGIN RSA PUBLIC KEY-----`). Default [`TEST_APP_PUBLIC_KEY`].
    pub app_public_key_pem: String,
    /// Whether the GitHub App's user tokens expire and come with a refresh token (GitHub's
    /// default for apps). Default `true`.
    pub expiring_user_tokens: bool,
    /// Seconds added to the emulator's clock (its `Date` header, JWT checks, `expires_at`). Default 0.
    pub clock_offset_secs: i64,
    /// Delay, in milliseconds, before each answer of the token endpoints. Default 0.
    pub latency_ms: u64,
    /// Lifetime of installation tokens, in seconds. Default 3600.
    pub installation_token_ttl_secs: u64,
    /// The format of installation tokens minted without an `X-GitHub-Stateless-S2S-Token`
    /// header (`"stateless"` or `"classic"` in TOML). Default [`TokenFormat::Stateless`], as on
    /// GitHub since April 2026.
    pub installation_token_format: TokenFormat,
    /// Lifetime of expiring GitHub App user tokens, in seconds. Default 28800 (8 hours).
    pub user_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds. Default 15811200 (about six months).
    pub refresh_token_ttl_secs: u64,
    /// The `interval` handed out with new device codes, in seconds. Default 5.
    pub device_interval_secs: u64,
    /// The `expires_in` of new device codes, in seconds. Default 900.
    pub device_expires_in_secs: u64,
    /// How the person at the other end of the device flow behaves. Default
    /// [`DeviceOutcome::ApproveAfter(2)`](DeviceOutcome::ApproveAfter).
    pub device_outcome: DeviceOutcome,
    /// The installations of the GitHub App. Default: installation 1 on the organization `octo`
    /// (repositories `octo/one`, `octo/two`) and installation 2 on the user `monalisa`
    /// (`monalisa/hello`), both with `contents: write`, `issues: write`, `metadata: read`; and
    /// installation 100 on the enterprise `octo-enterprise` (no repositories, `metadata: read`).
    pub installations: Vec<Installation>,
    /// How many installations to generate besides [`installations`](Self::installations), for
    /// tests and benchmarks at scale: ids [`FIRST_GENERATED_INSTALLATION_ID`] on, each on an
    /// organization of its own (`org-<id>`), with the default world's permissions (`contents:
    /// write`, `issues: write`, `metadata: read`) and no repositories, so that their tokens are
    /// answered like installation 1's. Default 0.
    pub generated_installations: u64,
    /// OAuth apps (client id and secret; their user tokens are `gho_` and never expire).
    /// Default: [`DEFAULT_OAUTH_CLIENT_ID`] / [`DEFAULT_OAUTH_CLIENT_SECRET`].
    pub oauth_apps: Vec<OAuthApp>,
    /// Personal access tokens and their owners. Default: [`DEFAULT_PAT`] for `octocat`.
    pub personal_access_tokens: Vec<PersonalAccessToken>,
    /// Ready-made web-flow codes, valid for any known client id, once each, without time limit.
    /// Default: [`DEFAULT_WEB_FLOW_CODE`] for `octocat`.
    pub web_flow_codes: Vec<WebFlowCode>,
    /// Requests per hour of each identity's budget by resource (`core`, `graphql`, `search`,
    /// `code_search`, ...), as `[rate_limits]` in TOML. A resource not listed gets 1,000,000
    /// (GitHub gives an installation's `core` 5,000: list it to play that; the default is high
    /// so that tests not about rate limits never meet one). Default: none listed.
    pub rate_limits: BTreeMap<String, u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            app_id: DEFAULT_APP_ID,
            app_client_id: DEFAULT_APP_CLIENT_ID.to_owned(),
            app_client_secret: DEFAULT_APP_CLIENT_SECRET.to_owned(),
            app_public_key_pem: TEST_APP_PUBLIC_KEY.to_owned(),
            expiring_user_tokens: true,
            clock_offset_secs: 0,
            latency_ms: 0,
            installation_token_ttl_secs: 3600,
            installation_token_format: TokenFormat::default(),
            user_token_ttl_secs: 8 * 3600,
            refresh_token_ttl_secs: 15_811_200,
            device_interval_secs: 5,
            device_expires_in_secs: 900,
            device_outcome: DeviceOutcome::default(),
            installations: default_installations(),
            generated_installations: 0,
            oauth_apps: vec![OAuthApp {
                client_id: DEFAULT_OAUTH_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_OAUTH_CLIENT_SECRET.to_owned(),
            }],
            personal_access_tokens: vec![PersonalAccessToken {
                token: DEFAULT_PAT.to_owned(),
                login: DEFAULT_LOGIN.to_owned(),
            }],
            web_flow_codes: vec![WebFlowCode {
                code: DEFAULT_WEB_FLOW_CODE.to_owned(),
                login: DEFAULT_LOGIN.to_owned(),
            }],
            rate_limits: BTreeMap::new(),
        }
    }
}

/// The id of the default world's enterprise installation.
pub(crate) const DEFAULT_ENTERPRISE_INSTALLATION_ID: u64 = 100;
/// The slug of the default world's enterprise.
pub(crate) const DEFAULT_ENTERPRISE: &str = "octo-enterprise";

/// The id of the first of the [generated installations](Config::generated_installations): the
/// next ones follow it (1,000,000, 1,000,001, ...).
pub const FIRST_GENERATED_INSTALLATION_ID: u64 = 1_000_000;

/// The permissions of the default world's organization and user installations.
pub(crate) fn full_permissions(inst: Installation) -> Installation {
    inst.permission("contents", "write")
        .permission("issues", "write")
        .permission("metadata", "read")
}

/// The three installations an emulator has unless told otherwise.
pub(crate) fn default_installations() -> Vec<Installation> {
    let full = full_permissions;
    vec![
        full(
            Installation::new(1, "octo")
                .repository("octo/one")
                .repository("octo/two"),
        ),
        full(
            Installation::new(2, "monalisa")
                .user()
                .repository("monalisa/hello"),
        ),
        Installation::new(DEFAULT_ENTERPRISE_INSTALLATION_ID, DEFAULT_ENTERPRISE).enterprise(),
    ]
}

/// The format of the installation tokens the emulator mints.
///
/// A request to `POST /app/installations/{id}/access_tokens` chooses one with the header
/// `X-GitHub-Stateless-S2S-Token: enabled` (stateless) or `disabled` (classic), as on GitHub
/// during the rollout; without the header, the configured format
/// ([`Config::installation_token_format`]) applies. Any other value of the header is refused with
/// 422 (refusal `bad_token_format_header`). Both formats work alike on every route: tokens are
/// looked up by their text.
///
/// ```
/// use github_auth_emulator::{Config, TokenFormat};
///
/// assert_eq!(Config::default().installation_token_format, TokenFormat::Stateless);
/// let config: Config = toml::from_str(r#"installation_token_format = "classic""#).unwrap();
/// assert_eq!(config.installation_token_format, TokenFormat::Classic);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// GitHub's format since April 2026: `ghs_<app id>_<JWT>`, about 520 characters of
    /// `[A-Za-z0-9._-]`, of varying length. The JWT's parts are base64url with a random
    /// signature: clients must never read or check it (GitHub's own is not theirs to read either).
    #[default]
    Stateless,
    /// The format before: `ghs_` and 36 letters and digits (40 characters).
    Classic,
}

/// Whether an installation's account is an organization, a user or an enterprise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum AccountType {
    /// An organization account (`"Organization"` in GitHub's answers).
    #[default]
    #[serde(alias = "organization")]
    Organization,
    /// A personal account (`"User"` in GitHub's answers).
    #[serde(alias = "user")]
    User,
    /// An enterprise (GitHub Enterprise Cloud; `"Enterprise"` in GitHub's answers), found by
    /// `GET /enterprises/{enterprise}/installation`; `account` is the enterprise's slug.
    #[serde(alias = "enterprise")]
    Enterprise,
}

impl AccountType {
    /// The spelling GitHub uses in `account.type` and `target_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "Organization",
            Self::User => "User",
            Self::Enterprise => "Enterprise",
        }
    }
}

/// One installation of the emulated GitHub App.
///
/// ```
/// use github_auth_emulator::{AccountType, Installation};
///
/// let inst = Installation::new(7, "acme")
///     .repository("acme/api")
///     .repository("web") // the account is prefixed: "acme/web"
///     .permission("contents", "read");
/// assert_eq!(inst.account_type, AccountType::Organization);
/// assert_eq!(inst.repositories, ["acme/api", "acme/web"]);
/// assert_eq!(inst.permissions["metadata"], "read");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Installation {
    /// The installation id (the `{installation_id}` of `/app/installations/{installation_id}`).
    pub id: u64,
    /// The login of the account the app is installed on.
    pub account: String,
    /// Organization (default) or user.
    #[serde(default)]
    pub account_type: AccountType,
    /// The repositories the installation can reach, as `owner/name`. The emulator gives every
    /// distinct repository a stable numeric id: 1000, 1001, ... in order of appearance.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// The installation's permissions, e.g. `contents` → `write`. Levels: `read` < `write` < `admin`.
    #[serde(default = "metadata_read")]
    pub permissions: BTreeMap<String, String>,
}

fn metadata_read() -> BTreeMap<String, String> {
    BTreeMap::from([("metadata".to_owned(), "read".to_owned())])
}

impl Installation {
    /// An installation on the organization `account`, without repositories, with only
    /// `metadata: read` (the permission every GitHub App has).
    pub fn new(id: u64, account: impl Into<String>) -> Self {
        Self {
            id,
            account: account.into(),
            account_type: AccountType::Organization,
            repositories: Vec::new(),
            permissions: metadata_read(),
        }
    }

    /// Makes the account a personal (user) account.
    pub fn user(mut self) -> Self {
        self.account_type = AccountType::User;
        self
    }

    /// Makes the account an enterprise: `account` is then the enterprise's slug.
    pub fn enterprise(mut self) -> Self {
        self.account_type = AccountType::Enterprise;
        self
    }

    /// Adds `count` generated repositories, `account/repo-1` to `account/repo-{count}` (for tests
    /// that need many: a token narrowed to 500 of them gets an answer of about 2.5 MiB).
    ///
    /// ```
    /// let inst = github_auth_emulator::Installation::new(7, "acme").generated_repositories(3);
    /// assert_eq!(inst.repositories, ["acme/repo-1", "acme/repo-2", "acme/repo-3"]);
    /// ```
    pub fn generated_repositories(mut self, count: usize) -> Self {
        self.repositories.reserve(count);
        for n in 1..=count {
            self.repositories.push(format!("{}/repo-{n}", self.account));
        }
        self
    }

    /// Adds a repository, `owner/name`; a bare `name` is taken as `account/name`.
    pub fn repository(mut self, full_name: &str) -> Self {
        let full_name = if full_name.contains('/') {
            full_name.to_owned()
        } else {
            format!("{}/{full_name}", self.account)
        };
        self.repositories.push(full_name);
        self
    }

    /// Grants (or changes) a permission, e.g. `permission("contents", "read")`.
    pub fn permission(mut self, name: &str, level: &str) -> Self {
        self.permissions.insert(name.to_owned(), level.to_owned());
        self
    }
}

/// How the person at the other end of the OAuth device flow behaves.
///
/// In TOML: `device_outcome = "deny"`, or `device_outcome = { approve_after = 3 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceOutcome {
    /// Polls answer `authorization_pending` until the nth poll of a device code (slow-down answers
    /// do not count), which gets the token. The default is `ApproveAfter(2)`.
    ApproveAfter(u32),
    /// Polls answer `access_denied`.
    Deny,
    /// Polls answer `expired_token`.
    Expire,
    /// The app has the device flow turned off: `device_flow_disabled`, already when asking for a
    /// device code.
    Disabled,
    /// Polls answer `authorization_pending` until the device code expires.
    ForeverPending,
}

impl Default for DeviceOutcome {
    fn default() -> Self {
        Self::ApproveAfter(2)
    }
}

/// An OAuth app known to the emulator.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthApp {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
}

/// A personal access token and the login it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalAccessToken {
    /// The token as sent in `Authorization` (any text, e.g. `ghp_...` or `github_pat_...`).
    pub token: String,
    /// Its owner's login.
    pub login: String,
}

/// A ready-made OAuth web-flow code.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebFlowCode {
    /// The code, as it would come back on the redirect.
    pub code: String,
    /// The login of the user who "approved".
    pub login: String,
}
