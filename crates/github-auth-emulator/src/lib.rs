//! A loopback GitHub authentication server for tests and examples: what `wiremock` is to HTTP,
//! for GitHub's authentication.
//!
//! ```
//! use std::time::Duration;
//!
//! use github_auth_emulator::{DEFAULT_PAT, Emulator};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let emulator = Emulator::builder()
//!     .installation_token_ttl(Duration::from_secs(600))
//!     .start()
//!     .await?;
//! // `base_url()` is both the REST API base and the web (OAuth) base.
//! assert!(emulator.base_url().starts_with("http://127.0.0.1:"));
//!
//! // Any HTTP client works; here a bare HTTP/1.1 request.
//! let mut stream = tokio::net::TcpStream::connect(emulator.addr()).await?;
//! let request = format!(
//!     "GET /user HTTP/1.1\r\nHost: {}\r\nUser-Agent: doc-test\r\n\
//!      Authorization: Bearer {DEFAULT_PAT}\r\nConnection: close\r\n\r\n",
//!     emulator.addr()
//! );
//! stream.write_all(request.as_bytes()).await?;
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 200"));
//! assert!(answer.contains(r#""login":"octocat""#));
//!
//! // The counters tell a test what the code under test did.
//! let counters = emulator.counters();
//! assert_eq!(counters.requests, 1);
//! assert_eq!(counters.exchanges(), 0);
//! assert_eq!(counters.refusals_for("bad_credentials"), 0);
//! emulator.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! The emulator plays github.com's part: it checks GitHub App JWTs, mints installation tokens,
//! runs the OAuth web and device flows, refreshes user tokens, and answers a few REST routes that
//! show which credential a request carried. It follows GitHub's documented behaviour (errors of
//! the OAuth endpoints under HTTP 200, a `Date` header to correct clock skew from, 10-minute JWTs,
//! rotating refresh tokens...) and adds knobs to provoke the awkward cases: clock skew, latency,
//! server errors, replication lag (401 or 403), refusals of a valid token (permission, SSO, rate
//! limits), expiry, slow-down.
//!
//! Start one per test with [`Emulator::builder()`]; [`EmulatorBuilder::start`] binds
//! `127.0.0.1` on a free port and serves in a task of the current tokio runtime. The returned
//! [`EmulatorHandle`] gives the [`base_url`](EmulatorHandle::base_url), a snapshot of
//! [`Counters`], and the knobs; the server stops on [`EmulatorHandle::shutdown`] or when the last
//! clone of the handle is dropped. The `github-auth-emulator` binary serves the same from a TOML
//! [`Config`] (see `emulator.example.toml`); it needs the crate's `cli` feature
//! (`cargo install github-auth-emulator --features cli`), which the library does not.
//!
//! # Default world
//! - GitHub App [`DEFAULT_APP_ID`], client id [`DEFAULT_APP_CLIENT_ID`], secret
//!   [`DEFAULT_APP_CLIENT_SECRET`]; JWTs must be signed with the bundled test key
//!   ([`TEST_APP_PRIVATE_KEY_PKCS1`], [`TEST_APP_PRIVATE_KEY_PKCS8`] or
//!   [`TEST_APP_PRIVATE_KEY_OPENSSH`]).
//! - Installation 1 on the organization `octo` (`octo/one` id 1000, `octo/two` id 1001) and
//!   installation 2 on the user `monalisa` (`monalisa/hello` id 1002), both with
//!   `contents: write`, `issues: write`, `metadata: read`; installation 100 on the enterprise
//!   `octo-enterprise` (no repositories, `metadata: read`). New installation ids (reinstalls,
//!   apps created from manifests) count on from the largest.
//! - The OAuth app [`DEFAULT_OAUTH_CLIENT_ID`] / [`DEFAULT_OAUTH_CLIENT_SECRET`].
//! - The personal access token [`DEFAULT_PAT`] and the web-flow code [`DEFAULT_WEB_FLOW_CODE`],
//!   both for `octocat` (user id 1).
//!
//! # Routes
//! Every request needs a `User-Agent` (else 403). Credentials go in `Authorization` as
//! `Bearer X` or `token X`. Every answer carries a `Date` from the emulator's clock. REST
//! errors are `{"message","documentation_url","status"}`; unknown routes answer 404
//! `{"message":"Not Found",...}`. The REST routes also answer under a `/api/v3` prefix, as on
//! GitHub Enterprise Server. The uploads host is the main listener, or a listener of its own with
//! [`EmulatorBuilder::separate_uploads_host`] (as `uploads.github.com` is beside `api.github.com`).
//!
//! | route | credential | answer |
//! | --- | --- | --- |
//! | `GET /app` | app JWT | the app (`integration`): `id`, `slug` (`emulator-app`), `client_id`, `owner`, `permissions`, ... |
//! | `GET /app/installations` | app JWT | the app's installations, paginated (below) |
//! | `GET /app/installations/{id}` | app JWT | one installation of the app, or 404 |
//! | `POST /app/installations/{id}/access_tokens` | app JWT | 201 `{"token":"ghs_...","expires_at","permissions","repository_selection"}`, plus the full `repositories` when narrowed; 404 no such installation of this app; 422 bad narrowing or a bad `X-GitHub-Stateless-S2S-Token` (below) |
//! | `GET /repos/{owner}/{repo}/installation`, `GET /orgs/{org}/installation`, `GET /users/{username}/installation` | app JWT | the app's installation, or 404 |
//! | `GET /enterprises/{enterprise}/installation` | app JWT | the app's installation on that enterprise, or 404 |
//! | `POST /app-manifests/{code}/conversions` | none | 201 the new App with `client_id`, `client_secret`, `webhook_secret`, `pem`; 404 code unknown, used or older than an hour; 422 bad manifest ([`EmulatorHandle::issue_manifest_code`]) |
//! | `GET /user` | user token, PAT | the `private-user` object (`login`, `id`, `type`, ...); 403 for installation tokens; 401 for a JWT or nothing |
//! | `GET /installation/repositories` | installation token | `{"total_count","repository_selection","repositories"}` of what the token reaches (its narrowing, else the installation's), paginated; 403 for user tokens and PATs |
//! | `DELETE /installation/token` | installation token | 204: the token revokes itself and answers 401 from then on; 403 for user tokens and PATs |
//! | `GET /repos/{owner}/{repo}` | any token, or none | the repository plus `"emulator":{"credential","login","installation_id"}`; 404 outside an installation token's reach |
//! | `GET /repos/{owner}/{repo}/issues` | any token, or none | `[]`; 403 with `X-Accepted-GitHub-Permissions: issues=read` for an installation token without `issues` (refusal `missing_permission`); 404 outside an installation token's reach |
//! | `POST /repos/{owner}/{repo}/releases/{id}/assets?name=...` | any token | on the uploads host ([`EmulatorHandle::uploads_url`]; GitHub Enterprise Server's `/api/uploads` prefix): 201 the `release-asset` (`size` the body's length) plus `"emulator"` as above; 401 without a token or with a JWT; 404 outside an installation token's reach; 422 without `name` |
//! | `POST /graphql` (`/api/graphql`) | any token | `{"data":{"viewer":{"login"}}}` for the query `{ viewer { login } }` (`emulator-app[bot]` for an installation token), a GraphQL `errors` answer for any other; 401 without a token or with a JWT; 400 without a JSON `query` |
//! | `POST /repos/{owner}/{repo}/issues/{number}/comments` | any token | 201 the `issue-comment` (`{"body"}` in), recorded for [`EmulatorHandle::issue_comments`]; 403 with `X-Accepted-GitHub-Permissions: issues=write` for an installation token without it; 404 outside its reach; 422 without a string `body`; 401 without a token |
//! | `GET /login/oauth/authorize` | none | approves at once as `octocat` (or a known `login`): 302 to `redirect_uri?code=...&state=...` |
//! | `POST /login/oauth/access_token` | client id (+ secret) | code, `refresh_token` and device-code grants |
//! | `POST /login/device/code` | client id | `{"device_code","user_code","verification_uri","expires_in","interval"}` |
//! | `POST`/`PATCH`/`DELETE /applications/{client_id}/token` | `Basic` client credentials | check, reset, delete a user token |
//! | `DELETE /applications/{client_id}/grant` | `Basic` client credentials | 204: every token (and refresh token) of that user for that client stops working |
//!
//! Answers follow the schemas of GitHub's OpenAPI description (the crate's tests validate them):
//! users, organizations and enterprises, apps, installations, and full repository objects (about
//! 5 KiB each, URLs on the emulator's base URL). Lists (`/app/installations`,
//! `/installation/repositories`) take `per_page` (default 30, at most 100) and `page` (from 1);
//! when there is more than one page, a `Link` header gives `prev`, `next`, `last` and `first` as
//! GitHub does, keeping the request's path and other parameters.
//!
//! Several apps can live in one emulator: the configured one, and those created from manifests.
//! A JWT is checked against the key of the app its `iss` names, and each app sees only its own
//! installations.
//! JWTs must be RS256 with `iss` = the app id (number or string) or the client id, `iat` not in
//! the future (1 s of rounding), `exp` after now, at most 10 minutes (+1 s) ahead, and
//! `exp − iat` at most 11 minutes (GitHub's own sample back-dates `iat` by 60 s). Installation
//! tokens last an hour; a token request may narrow with `repositories` (names),
//! `repository_ids` and `permissions` (levels `read` < `write` < `admin`).
//!
//! Installation tokens come in GitHub's two formats ([`TokenFormat`]): stateless
//! `ghs_<app id>_<JWT>` of about 520 characters and varying length (the default, as on GitHub
//! since April 2026), or the classic 40 characters (`ghs_` and 36 letters and digits). A token
//! request chooses with the header `X-GitHub-Stateless-S2S-Token: enabled` or `disabled`;
//! without it, [`EmulatorBuilder::installation_token_format`] (or
//! [`EmulatorHandle::set_installation_token_format`]) decides; any other value answers 422.
//! [`EmulatorHandle::last_access_token_request_header`] shows what the request sent.
//!
//! The OAuth token endpoint takes form or JSON bodies (or query parameters, or `Basic` client
//! credentials) and answers form-encoded unless the request has `Accept: application/json`.
//! All its errors come under HTTP 200 as `{"error","error_description","error_uri"}`. A code
//! works once, for 10 minutes, for its client, with its `redirect_uri` and PKCE challenge
//! (`S256`, or `plain`). GitHub App user tokens (`ghu_`) expire after 8 hours and come with a
//! `ghr_` refresh token (unless [`EmulatorBuilder::expiring_user_tokens`] is off); OAuth-app
//! tokens (`gho_`) never expire. A refresh spends the refresh token and ends the old access
//! token; tokens from the device flow refresh without the client secret.
//!
//! Every answer carries an `x-github-request-id`, unique per answer, as GitHub's do.
//!
//! # Knobs
//! On the builder, and at run time on the handle: clock offset
//! ([`EmulatorHandle::set_clock_offset`]), latency of the token endpoints
//! ([`EmulatorHandle::set_latency`]), injected 500s ([`EmulatorHandle::fail_next_exchanges`]),
//! replication lag (401: [`EmulatorHandle::set_replication_lag`]; 403:
//! [`EmulatorHandle::set_replication_lag_403`]), the 403s and 429 of a valid token
//! ([`EmulatorHandle::forbid_next`] with a [`Forbidden`]: missing permission, SAML SSO, rate
//! limits), the same refusals of the token endpoints themselves
//! ([`EmulatorHandle::refuse_next_exchanges`]), token lifetimes, the device-flow
//! outcome ([`DeviceOutcome`]) and forced `slow_down`s ([`EmulatorHandle::set_device_slow_down`]),
//! fresh codes ([`EmulatorHandle::issue_web_flow_code`]), revocation
//! ([`EmulatorHandle::revoke`]), the last token request body and headers
//! ([`EmulatorHandle::last_access_token_request`],
//! [`EmulatorHandle::last_access_token_request_header`]), the format of installation tokens
//! ([`TokenFormat`]), the `User-Agent`s received
//! ([`EmulatorHandle::user_agents`]), App-manifest codes
//! ([`EmulatorHandle::issue_manifest_code`]), and uninstalling then installing again under a new
//! id ([`EmulatorHandle::reinstall`]). [`Installation::generated_repositories`] gives an
//! installation many repositories at once, [`EmulatorBuilder::generated_installations`] an App
//! many installations (100,000 start at once; a token is minted in constant time).
//!
//! # Webhooks
//! The emulator sends webhooks as GitHub does, to a URL a test gives:
//! [`EmulatorHandle::deliver`] (signed with the webhook secret, [`DEFAULT_WEBHOOK_SECRET`] until
//! [`EmulatorHandle::set_webhook_secret`]), [`EmulatorHandle::redeliver`] (same delivery id and
//! body) and [`EmulatorHandle::deliver_signed_with`] (a wrong secret).
//! [`EmulatorHandle::issues_opened_event`] builds the `issues`/`opened` event of an installed
//! repository, shaped as GitHub's OpenAPI description says (`webhooks/README.md`);
//! [`WebhookEvent::new`] any other.
//!
//! # Time
//! The emulator's clock is the wall clock at start, plus the time elapsed since on
//! [`tokio::time::Instant`], plus the offset. Tests running under `tokio::time::pause()` (for
//! example `#[tokio::test(start_paused = true)]`) in the same runtime move the emulator's time
//! with `tokio::time::advance`: token expiry, the 10-minute code lifetime, the one-hour
//! manifest-code lifetime and device-poll spacing all follow the paused clock.
//!
//! # Refusal reasons
//! [`Counters::refusals`] counts every refusal by reason:
//!
//! | reason | when |
//! | --- | --- |
//! | `no_user_agent` | no `User-Agent` header (403) |
//! | `no_credentials` | no credential where one is needed (401) |
//! | `jwt_required` | a token or `Basic` on a JWT-only route (401) |
//! | `jwt_malformed`, `jwt_bad_algorithm` | not a JWT, or not RS256 (401) |
//! | `jwt_bad_signature` | not signed with the key of the app `iss` names (401) |
//! | `jwt_bad_issuer` | `iss` missing or naming no app (401) |
//! | `jwt_bad_iat`, `jwt_iat_in_future` | `iat` missing or not a number; in the future (401) |
//! | `jwt_bad_exp`, `jwt_expired`, `jwt_exp_too_far` | `exp` missing or not a number; past; too far ahead (401) |
//! | `jwt_not_allowed` | a JWT on a route that takes tokens only (401) |
//! | `bad_credentials` | an unknown token (401) |
//! | `token_expired` | an expired token (401) |
//! | `token_revoked` | a revoked token (by the handle, `DELETE /installation/token`, a deleted grant, or a reinstall), or an access token replaced by a refresh or reset (401) |
//! | `replication_lag` | a fresh installation token's first use while the knob is on (401) |
//! | `replication_lag_403` | a fresh installation token's first uses while the 403 knob is on (403, no header saying why) |
//! | `missing_permission` | an installation token without `issues` on `GET /repos/{owner}/{repo}/issues`, or [`Forbidden::MissingPermission`] (403 with `X-Accepted-GitHub-Permissions`) |
//! | `sso_required`, `rate_limited`, `secondary_rate_limit`, `too_many_requests` | a refusal from [`EmulatorHandle::forbid_next`] or [`EmulatorHandle::refuse_next_exchanges`] (403 with `X-GitHub-SSO`; 403 with `x-ratelimit-remaining: 0`; 403 with `Retry-After`; 429 with `Retry-After`) |
//! | `resource_not_accessible` | an installation token on `/user` (403) |
//! | `installation_token_required` | a user token or PAT on `/installation/repositories` or `DELETE /installation/token` (403) |
//! | `injected_error` | a failure from [`EmulatorHandle::fail_next_exchanges`] (500) |
//! | `unknown_installation` | no such installation of the JWT's app (404) |
//! | `repository_not_found`, `repository_not_accessible` | no such repository; outside the token's reach (404) |
//! | `bad_narrowing` | a token request naming a repository or permission the installation lacks (422) |
//! | `bad_json` | a token request body that is not a JSON object (400) |
//! | `bad_token_format_header` | a token request whose `X-GitHub-Stateless-S2S-Token` is neither `enabled` nor `disabled` (422) |
//! | `unknown_client`, `client_mismatch`, `token_not_found`, `validation_failed` | authorize and `/applications/{client_id}/...` refusals (404, 404, 404, 422) |
//! | `unknown_manifest_code`, `bad_manifest` | a manifest code unknown, used or expired (404); a manifest that is not a JSON object, lacks `url`, has a name in use or bad `default_permissions`/`default_events` (422) |
//! | `key_generation_failed` | the RSA key of a manifest app could not be made (500) |
//! | `incorrect_client_credentials` | wrong client id or secret (OAuth error, or 401 on `/applications`) |
//! | `unknown_route`, `body_too_large` | 404; 413 |
//!
//! and, under HTTP 200, every OAuth `error` by its own name: `bad_verification_code`,
//! `redirect_uri_mismatch`, `bad_refresh_token`, `unsupported_grant_type`,
//! `authorization_pending`, `slow_down`, `expired_token`, `access_denied`,
//! `incorrect_device_code`, `device_flow_disabled`.
//!
//! # Features
//! - `cli` (off by default): the `github-auth-emulator` binary (`cargo install
//!   github-auth-emulator --features cli`), its flags (clap) and its TOML configuration file. The
//!   library, what a test uses, needs neither.

// Layers, each file importing only from those below it (`module-cycles` checks it):
// defaults, counters, forbidden, keys < config < state < wire, objects < paging, jwt < api, apps, manifest,
// oauth < server < webhooks < handle < builder. lib.rs only declares and re-exports.
mod api;
mod apps;
mod builder;
mod config;
mod counters;
mod defaults;
mod forbidden;
mod handle;
mod jwt;
mod keys;
mod manifest;
mod oauth;
mod objects;
mod paging;
mod ratelimit;
mod server;
mod state;
mod webhooks;
mod wire;

pub use builder::{Emulator, EmulatorBuilder};
pub use config::{
    AccountType, Config, DeviceOutcome, FIRST_GENERATED_INSTALLATION_ID, Installation, OAuthApp,
    PersonalAccessToken, TokenFormat, WebFlowCode,
};
pub use counters::Counters;
pub use defaults::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_APP_ID, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_PAT, DEFAULT_WEB_FLOW_CODE, TEST_APP_PRIVATE_KEY_OPENSSH,
    TEST_APP_PRIVATE_KEY_PKCS1, TEST_APP_PRIVATE_KEY_PKCS8, TEST_APP_PUBLIC_KEY,
};
pub use forbidden::Forbidden;
pub use handle::EmulatorHandle;
pub use ratelimit::Identity;
pub use state::IssueComment;
pub use webhooks::{DEFAULT_WEBHOOK_SECRET, WEBHOOK_HOOK_ID, WebhookDelivery, WebhookEvent};
