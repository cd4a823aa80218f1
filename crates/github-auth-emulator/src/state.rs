//! The emulator's world: fixed setup, mutable records (tokens, codes, device codes), knobs,
//! counters and the shifted clock.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::time::Instant;

use crate::{
    config::{
        AccountType, Config, DeviceOutcome, FIRST_GENERATED_INSTALLATION_ID, Installation,
        TokenFormat, full_permissions,
    },
    counters::Counters,
    defaults::DEFAULT_LOGIN,
    forbidden::Forbidden,
    ratelimit::RateBook,
};

/// How long an OAuth web-flow code stays valid.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// How long a code of the App-manifest flow stays valid.
pub(crate) const MANIFEST_CODE_LIFETIME: Duration = Duration::from_secs(3600);

/// The slug of the configured GitHub App.
pub(crate) const APP_SLUG: &str = "emulator-app";
/// The name of the configured GitHub App.
pub(crate) const APP_NAME: &str = "Emulator App";
/// A fixed creation date for the configured app, installations and repositories.
pub(crate) const CREATED_AT: &str = "2024-01-01T00:00:00Z";

/// A repository known to the emulator.
pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) full_name: String,
}

/// A GitHub App: the configured one, or one created from a manifest.
pub(crate) struct App {
    pub(crate) id: u64,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) external_url: String,
    /// The login of the account that owns the app.
    pub(crate) owner: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// The public key its JWTs are checked against.
    pub(crate) key: crate::keys::PublicKey,
    pub(crate) permissions: BTreeMap<String, String>,
    pub(crate) events: Vec<String>,
    pub(crate) created_at: String,
}

impl App {
    /// Whether a JWT `iss` claim names this app: its id (number or string) or its client id.
    pub(crate) fn is_issuer(&self, iss: &serde_json::Value) -> bool {
        match iss {
            serde_json::Value::Number(n) => n.as_u64() == Some(self.id),
            serde_json::Value::String(s) => *s == self.id.to_string() || *s == self.client_id,
            _ => false,
        }
    }
}

/// An installation of an app, with its repositories resolved to indices into [`Shared::repos`].
#[derive(Clone)]
pub(crate) struct InstallationRecord {
    pub(crate) id: u64,
    pub(crate) app_id: u64,
    pub(crate) account: String,
    pub(crate) account_type: AccountType,
    pub(crate) repos: Vec<usize>,
    pub(crate) permissions: BTreeMap<String, String>,
    pub(crate) created_at: String,
}

/// A code of the App-manifest flow, waiting for its conversion.
pub(crate) struct ManifestCode {
    /// The manifest as the form posted it (JSON text).
    pub(crate) manifest: String,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
}

/// Which kind of OAuth client a client id names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// The GitHub App's own client credentials: `ghu_` user tokens, maybe expiring.
    App,
    /// An OAuth app: `gho_` user tokens that never expire.
    OAuth,
}

/// A client id with its secret and kind.
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) kind: ClientKind,
}

/// What a minted access token stands for.
#[derive(Clone)]
pub(crate) enum TokenKind {
    /// An installation token (`ghs_`), maybe narrowed to some repositories.
    Installation {
        installation: u64,
        permissions: BTreeMap<String, String>,
        /// Indices into [`Shared::repos`] when narrowed; `None` for all of the installation's.
        repos: Option<Vec<usize>>,
    },
    /// A user token (`ghu_` or `gho_`).
    User {
        login: String,
        client_id: String,
        scopes: Vec<String>,
    },
}

/// A minted access token.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) id: u64,
    pub(crate) kind: TokenKind,
    /// When it stops working (emulator instant); `None` never.
    pub(crate) expires: Option<Instant>,
    /// The `expires_at` reported for it.
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) created_at: SystemTime,
    /// Refused once at its first use (replication-lag knob).
    pub(crate) lagging: bool,
    /// Refused with 403 at this many of its next uses (the 403 replication-lag knob).
    pub(crate) lagging_403: u32,
}

/// A refresh token.
pub(crate) struct Refresh {
    pub(crate) access_token: String,
    pub(crate) client_id: String,
    pub(crate) login: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) from_device: bool,
    pub(crate) expires: Instant,
    pub(crate) spent: bool,
}

/// An OAuth web-flow code.
pub(crate) struct Code {
    pub(crate) login: String,
    /// `None`: valid for any known client.
    pub(crate) client_id: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    /// `(challenge, method)`.
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) scopes: Vec<String>,
    /// `None`: no time limit (configured codes).
    pub(crate) expires: Option<Instant>,
    pub(crate) used: bool,
}

/// A device code of the device flow.
pub(crate) struct Device {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: Instant,
    pub(crate) interval: u64,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) polls: u32,
    pub(crate) redeemed: bool,
}

/// Settings that can change while the emulator runs.
pub(crate) struct Knobs {
    pub(crate) clock_offset: i64,
    pub(crate) latency: Duration,
    pub(crate) fail_next: u32,
    pub(crate) replication_lag: bool,
    /// Uses refused with 403 of each installation token minted from now on.
    pub(crate) replication_lag_403: u32,
    /// The next this many token-route requests are refused this way.
    pub(crate) forbid_next: Option<(u32, Forbidden)>,
    /// The next this many token-endpoint requests (mints, OAuth exchanges) are refused this way.
    pub(crate) refuse_next_exchanges: Option<(u32, Forbidden)>,
    pub(crate) installation_token_ttl: Duration,
    /// The format of installation tokens minted without the override header.
    pub(crate) installation_token_format: TokenFormat,
    pub(crate) user_token_ttl: Duration,
    pub(crate) refresh_token_ttl: Duration,
    pub(crate) device_outcome: DeviceOutcome,
    pub(crate) device_slow_down: u32,
    pub(crate) device_interval: u64,
    pub(crate) device_expires_in: u64,
}

/// Everything that changes, behind one lock (never held across an `.await`).
/// How many different `User-Agent`s the emulator tells apart.
pub(crate) const MOST_USER_AGENTS: usize = 1_000;

pub(crate) struct Mutable {
    pub(crate) knobs: Knobs,
    pub(crate) counters: Counters,
    pub(crate) verified_jwts: HashSet<String>,
    /// Logins in order; a login's id is its position + 1 (`octocat` is 1).
    pub(crate) users: Vec<String>,
    /// Lowercased login -> its position in `users`: a login is found in constant time, however
    /// many generated installations' organisations are registered.
    user_index: HashMap<String, usize>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) refresh_tokens: HashMap<String, Refresh>,
    pub(crate) codes: HashMap<String, Code>,
    pub(crate) devices: HashMap<String, Device>,
    pub(crate) revoked: HashSet<String>,
    pub(crate) last_access_token_request: Option<serde_json::Value>,
    /// The headers of the last `POST /app/installations/{id}/access_tokens`.
    pub(crate) last_access_token_headers: Option<http::HeaderMap>,
    /// Every `User-Agent` received, with its count (at most [`MOST_USER_AGENTS`] of them).
    pub(crate) user_agents: BTreeMap<String, u64>,
    pub(crate) next_token_id: u64,
    /// The configured app first, then those created from manifests.
    pub(crate) apps: Vec<App>,
    /// Every app's installations, in order of creation.
    pub(crate) installations: Vec<InstallationRecord>,
    /// Installation id -> its index in `installations` (a mint finds its installation in
    /// constant time, however many there are).
    installation_index: HashMap<u64, usize>,
    pub(crate) next_installation_id: u64,
    /// OAuth apps: `(client_id, client_secret)`.
    pub(crate) oauth_apps: Vec<(String, String)>,
    pub(crate) manifest_codes: HashMap<String, ManifestCode>,
    /// Comments created through `POST /repos/{owner}/{repo}/issues/{number}/comments`, the
    /// latest [`MOST_ISSUE_COMMENTS`] of them.
    pub(crate) issue_comments: std::collections::VecDeque<IssueComment>,
    /// Every identity's rate-limit budgets.
    pub(crate) rates: RateBook,
}

/// How many issue comments the emulator keeps (the oldest go first).
pub(crate) const MOST_ISSUE_COMMENTS: usize = 10_000;

/// A comment created on an issue through the emulator
/// ([`EmulatorHandle::issue_comments`](crate::EmulatorHandle::issue_comments)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssueComment {
    /// The comment's id.
    pub id: u64,
    /// The repository's owner.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The issue's number.
    pub issue_number: u64,
    /// The comment's text.
    pub body: String,
    /// Who wrote it: `emulator-app[bot]` (the app's slug) for an installation token, else the
    /// user's login.
    pub author: String,
    /// The installation whose token created it, if one did.
    pub installation_id: Option<u64>,
}

impl Mutable {
    /// Counts a refusal under `reason`.
    /// Counts a request's `User-Agent`; past [`MOST_USER_AGENTS`] different ones, new ones are
    /// counted under `"(others)"`.
    pub(crate) fn saw_user_agent(&mut self, user_agent: &str) {
        if let Some(count) = self.user_agents.get_mut(user_agent) {
            *count += 1;
        } else if self.user_agents.len() < MOST_USER_AGENTS {
            self.user_agents.insert(user_agent.to_owned(), 1);
        } else {
            *self.user_agents.entry("(others)".to_owned()).or_default() += 1;
        }
    }

    pub(crate) fn refuse(&mut self, reason: &str) {
        *self.counters.refusals.entry(reason.to_owned()).or_default() += 1;
    }

    /// The numeric id of `login`, registering it if new.
    pub(crate) fn user_id(&mut self, login: &str) -> u64 {
        if let Some(index) = self.find_user(login) {
            return index as u64 + 1;
        }
        self.user_index
            .insert(login.to_ascii_lowercase(), self.users.len());
        self.users.push(login.to_owned());
        self.users.len() as u64
    }

    /// The index of a known login (case-insensitive).
    pub(crate) fn find_user(&self, login: &str) -> Option<usize> {
        self.user_index.get(&login.to_ascii_lowercase()).copied()
    }

    /// A fresh id for a token record.
    pub(crate) fn token_id(&mut self) -> u64 {
        self.next_token_id += 1;
        self.next_token_id
    }

    /// An app by id.
    pub(crate) fn app(&self, id: u64) -> Option<&App> {
        self.apps.iter().find(|app| app.id == id)
    }

    /// An installation by id, of any app.
    pub(crate) fn installation(&self, id: u64) -> Option<&InstallationRecord> {
        let index = *self.installation_index.get(&id)?;
        self.installations.get(index)
    }

    /// Adds an installation (after every other).
    pub(crate) fn add_installation(&mut self, record: InstallationRecord) {
        self.installation_index
            .insert(record.id, self.installations.len());
        self.installations.push(record);
    }

    /// Indexes every installation by id (after one was removed from the middle).
    fn reindex_installations(&mut self) {
        self.installation_index = index_installations(&self.installations);
    }

    /// A known OAuth client by id: a GitHub App's client credentials or an OAuth app.
    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        if let Some(app) = self.apps.iter().find(|app| app.client_id == id) {
            return Some(Client {
                id: app.client_id.clone(),
                secret: app.client_secret.clone(),
                kind: ClientKind::App,
            });
        }
        self.oauth_apps
            .iter()
            .find(|(client_id, _)| client_id == id)
            .map(|(client_id, secret)| Client {
                id: client_id.clone(),
                secret: secret.clone(),
                kind: ClientKind::OAuth,
            })
    }

    /// Uninstalls installation `old` and installs the same app again on the same account, under a
    /// new id; the old installation's tokens stop working. `None` for an unknown installation.
    pub(crate) fn reinstall(&mut self, old: u64, created_at: String) -> Option<u64> {
        let index = self.installations.iter().position(|i| i.id == old)?;
        let mut record = self.installations.remove(index);
        let new_id = self.next_installation_id;
        self.next_installation_id += 1;
        record.id = new_id;
        record.created_at = created_at;
        self.installations.push(record);
        self.reindex_installations();
        let orphaned: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, t)| {
                matches!(t.kind, TokenKind::Installation { installation, .. } if installation == old)
            })
            .map(|(token, _)| token.clone())
            .collect();
        self.revoked.extend(orphaned);
        Some(new_id)
    }
}

/// The shared state of one running emulator.
pub(crate) struct Shared {
    pub(crate) base_url: String,
    /// The configured app's id.
    pub(crate) app_id: u64,
    pub(crate) expiring_user_tokens: bool,
    pub(crate) repos: Vec<Repo>,
    /// Lowercased logins of the organizations (accounts of organization installations).
    pub(crate) organizations: HashSet<String>,
    pub(crate) pats: HashMap<String, String>,
    start_wall: SystemTime,
    start: Instant,
    state: Mutex<Mutable>,
}

impl Shared {
    /// Builds the state from a configuration; fails on an unreadable public key.
    pub(crate) fn new(config: &Config, base_url: String) -> std::io::Result<Self> {
        let app_key =
            crate::keys::public_key_from_pem(&config.app_public_key_pem).map_err(|err| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("app_public_key_pem is not an RSA public key PEM: {err}"),
                )
            })?;

        let mut users = vec![DEFAULT_LOGIN.to_owned()];
        let mut add_user = |login: &str| {
            if !users.iter().any(|u| u.eq_ignore_ascii_case(login)) {
                users.push(login.to_owned());
            }
        };
        let mut repos: Vec<Repo> = Vec::new();
        let mut installations = Vec::new();
        for inst in &config.installations {
            add_user(&inst.account);
            let mut indices = Vec::new();
            for full_name in &inst.repositories {
                let (owner, name) = full_name
                    .split_once('/')
                    .unwrap_or((inst.account.as_str(), full_name.as_str()));
                let full_name = format!("{owner}/{name}");
                let known = repos
                    .iter()
                    .position(|r| r.full_name.eq_ignore_ascii_case(&full_name));
                let index = known.unwrap_or_else(|| {
                    repos.push(Repo {
                        id: 1000 + repos.len() as u64,
                        owner: owner.to_owned(),
                        name: name.to_owned(),
                        full_name,
                    });
                    repos.len() - 1
                });
                if !indices.contains(&index) {
                    indices.push(index);
                }
            }
            installations.push(InstallationRecord {
                id: inst.id,
                app_id: config.app_id,
                account: inst.account.clone(),
                account_type: inst.account_type,
                repos: indices,
                permissions: inst.permissions.clone(),
                created_at: CREATED_AT.to_owned(),
            });
        }
        let mut organizations: HashSet<String> = config
            .installations
            .iter()
            .filter(|inst| inst.account_type == AccountType::Organization)
            .map(|inst| inst.account.to_ascii_lowercase())
            .collect();
        // Generated installations: organizations of their own, registered as users lazily (when
        // an answer shows them), so that 100,000 of them start at once.
        let generated_permissions = full_permissions(Installation::new(0, "")).permissions;
        let count = usize::try_from(config.generated_installations).unwrap_or(usize::MAX);
        installations.reserve(count);
        organizations.reserve(count);
        for id in (FIRST_GENERATED_INSTALLATION_ID..).take(count) {
            let account = format!("org-{id}");
            organizations.insert(account.clone());
            installations.push(InstallationRecord {
                id,
                app_id: config.app_id,
                account,
                account_type: AccountType::Organization,
                repos: Vec::new(),
                permissions: generated_permissions.clone(),
                created_at: CREATED_AT.to_owned(),
            });
        }
        let app = App {
            id: config.app_id,
            slug: APP_SLUG.to_owned(),
            name: APP_NAME.to_owned(),
            description: Some("A GitHub App emulated by github-auth-emulator".to_owned()),
            external_url: base_url.clone(),
            owner: DEFAULT_LOGIN.to_owned(),
            client_id: config.app_client_id.clone(),
            client_secret: config.app_client_secret.clone(),
            key: app_key,
            permissions: strongest_permissions(&installations),
            events: Vec::new(),
            created_at: CREATED_AT.to_owned(),
        };
        let next_installation_id = installations.iter().map(|i| i.id).max().unwrap_or(0) + 1;
        for repo in &repos {
            add_user(&repo.owner);
        }
        for pat in &config.personal_access_tokens {
            add_user(&pat.login);
        }
        for code in &config.web_flow_codes {
            add_user(&code.login);
        }

        let codes = config
            .web_flow_codes
            .iter()
            .map(|c| {
                (
                    c.code.clone(),
                    Code {
                        login: c.login.clone(),
                        client_id: None,
                        redirect_uri: None,
                        challenge: None,
                        scopes: Vec::new(),
                        expires: None,
                        used: false,
                    },
                )
            })
            .collect();

        let state = Mutable {
            knobs: Knobs {
                clock_offset: config.clock_offset_secs,
                latency: Duration::from_millis(config.latency_ms),
                fail_next: 0,
                replication_lag: false,
                replication_lag_403: 0,
                forbid_next: None,
                refuse_next_exchanges: None,
                installation_token_ttl: Duration::from_secs(config.installation_token_ttl_secs),
                installation_token_format: config.installation_token_format,
                user_token_ttl: Duration::from_secs(config.user_token_ttl_secs),
                refresh_token_ttl: Duration::from_secs(config.refresh_token_ttl_secs),
                device_outcome: config.device_outcome,
                device_slow_down: 0,
                device_interval: config.device_interval_secs,
                device_expires_in: config.device_expires_in_secs,
            },
            counters: Counters::default(),
            verified_jwts: HashSet::new(),
            user_index: users
                .iter()
                .enumerate()
                .map(|(position, login)| (login.to_ascii_lowercase(), position))
                .collect(),
            users,
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes,
            devices: HashMap::new(),
            revoked: HashSet::new(),
            last_access_token_request: None,
            last_access_token_headers: None,
            user_agents: BTreeMap::new(),
            next_token_id: 0,
            apps: vec![app],
            installation_index: index_installations(&installations),
            installations,
            next_installation_id,
            oauth_apps: config
                .oauth_apps
                .iter()
                .map(|a| (a.client_id.clone(), a.client_secret.clone()))
                .collect(),
            manifest_codes: HashMap::new(),
            issue_comments: std::collections::VecDeque::new(),
            rates: RateBook::new(config.rate_limits.clone()),
        };

        Ok(Self {
            base_url,
            app_id: config.app_id,
            expiring_user_tokens: config.expiring_user_tokens,
            repos,
            organizations,
            pats: config
                .personal_access_tokens
                .iter()
                .map(|p| (p.token.clone(), p.login.clone()))
                .collect(),
            start_wall: SystemTime::now(),
            start: Instant::now(),
            state: Mutex::new(state),
        })
    }

    /// Takes the lock on the mutable state.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The emulator's wall clock for a given offset: start time + elapsed (tokio) time + offset.
    pub(crate) fn wall_at(&self, offset: i64) -> SystemTime {
        let unshifted = self.start_wall + Instant::now().saturating_duration_since(self.start);
        let shift = Duration::from_secs(offset.unsigned_abs());
        if offset >= 0 {
            unshifted + shift
        } else {
            unshifted.checked_sub(shift).unwrap_or(UNIX_EPOCH)
        }
    }

    /// The emulator's wall clock, taking the lock briefly for the offset.
    pub(crate) fn now_wall(&self) -> SystemTime {
        let offset = self.lock().knobs.clock_offset;
        self.wall_at(offset)
    }

    /// Whether `login` is an organization (else a user).
    pub(crate) fn is_organization(&self, login: &str) -> bool {
        self.organizations.contains(&login.to_ascii_lowercase())
    }

    /// A repository's index by `owner/name` (case-insensitive).
    pub(crate) fn repo_index(&self, owner: &str, name: &str) -> Option<usize> {
        self.repos
            .iter()
            .position(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }
}

/// `read` < `write` < `admin`; anything else is not a level.
pub(crate) fn rank(level: &str) -> Option<u8> {
    match level {
        "read" => Some(1),
        "write" => Some(2),
        "admin" => Some(3),
        _ => None,
    }
}

/// Installation id -> index, for [`Mutable::installation`].
fn index_installations(installations: &[InstallationRecord]) -> HashMap<u64, usize> {
    installations
        .iter()
        .enumerate()
        .map(|(index, inst)| (inst.id, index))
        .collect()
}

/// Each permission at the strongest level any of `installations` has it.
fn strongest_permissions(installations: &[InstallationRecord]) -> BTreeMap<String, String> {
    let mut permissions: BTreeMap<String, String> = BTreeMap::new();
    for inst in installations {
        for (name, level) in &inst.permissions {
            let entry = permissions
                .entry(name.clone())
                .or_insert_with(|| level.clone());
            if rank(level) > rank(entry) {
                entry.clone_from(level);
            }
        }
    }
    permissions
}

/// Seconds since the UNIX epoch (0 before it).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form of GitHub's `expires_at`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of each cycle.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// `len` random characters from `[0-9A-Za-z]`.
pub(crate) fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    random_from(ALPHABET, len)
}

/// A stateless installation token as GitHub mints them since April 2026:
/// `ghs_<app id>_<header>.<claims>.<signature>`, each part base64url (no padding), about 520
/// characters in all. The claims name the installation and the token's life and carry a random
/// `jti` of 16 to 48 characters (so the length varies, as GitHub's does); the signature is 256
/// random bytes, the size of an RS256 one. Nobody checks it: clients must not read the JWT.
pub(crate) fn stateless_token(
    app_id: u64,
    installation: u64,
    issued_at: SystemTime,
    expires_at: SystemTime,
) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut spread = [0_u8; 1];
    aws_lc_rs::rand::fill(&mut spread).expect("the system random generator failed");
    let jti = random_alnum(16 + usize::from(spread[0] % 33));
    let claims = serde_json::json!({
        "sub": format!("installation:{installation}"),
        "iat": unix_secs(issued_at),
        "exp": unix_secs(expires_at),
        "jti": jti,
    });
    let mut signature = [0_u8; 256];
    aws_lc_rs::rand::fill(&mut signature).expect("the system random generator failed");
    format!(
        "ghs_{app_id}_{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(&signature)
    )
}

/// `len` random characters from `alphabet` (at most 256 characters).
pub(crate) fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0_u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
    bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_468_275_250);
        assert_eq!(rfc3339(t), "2016-07-11T22:14:10Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        let later = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339(later), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn stateless_tokens_are_about_520_characters_of_the_token_alphabet() {
        let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let later = now + Duration::from_secs(3600);
        let mut lengths = Vec::new();
        for _ in 0..64 {
            let token = stateless_token(1, 1, now, later);
            assert!(token.starts_with("ghs_1_"), "{token}");
            assert_eq!(token.matches('.').count(), 2, "{token}");
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{token}"
            );
            lengths.push(token.len());
        }
        let (shortest, longest) = (lengths.iter().min(), lengths.iter().max());
        assert!(
            shortest >= Some(&490) && longest <= Some(&550),
            "{lengths:?}"
        );
        assert_ne!(shortest, longest, "{lengths:?}");
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_alnum(36);
        assert_eq!(a.len(), 36);
        assert_ne!(a, random_alnum(36));
    }
}
