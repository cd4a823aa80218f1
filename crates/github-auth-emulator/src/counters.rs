//! What the emulator counts: a snapshot handed out by the handle.

use std::collections::BTreeMap;

/// A snapshot of what the emulator has seen, from
/// [`EmulatorHandle::counters`](crate::handle::EmulatorHandle::counters).
///
/// Refusals are counted by reason; see the crate documentation for the list of reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every HTTP request received.
    pub requests: u64,
    /// Every request to the two token endpoints (`POST /app/installations/{id}/access_tokens`
    /// and `POST /login/oauth/access_token`), whatever the outcome: what
    /// [`Counters::exchanges`] returns.
    pub token_endpoint_requests: u64,
    /// POSTs to `/app/installations/{id}/access_tokens` received (any outcome).
    pub installation_token_exchanges: u64,
    /// Installation tokens handed out.
    pub installation_tokens_minted: u64,
    /// Installation tokens revoked by `DELETE /installation/token` (204 answers).
    pub installation_tokens_revoked: u64,
    /// Apps created by `POST /app-manifests/{code}/conversions` (201 answers).
    pub manifest_conversions: u64,
    /// Code grants received at `/login/oauth/access_token` (any outcome).
    pub oauth_code_exchanges: u64,
    /// Grants taken back by `DELETE /applications/{client_id}/grant` (204 answers).
    pub grants_deleted: u64,
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// `refresh_token` grants received (any outcome).
    pub refresh_attempts: u64,
    /// `POST /login/device/code` received.
    pub device_code_requests: u64,
    /// Device-code grants received (polls, any outcome).
    pub device_polls: u64,
    /// Polls that came sooner than the current interval after the previous poll of the same
    /// device code.
    pub device_polls_too_fast: u64,
    /// JWTs that passed every check.
    pub jwts_verified: u64,
    /// Distinct JWT strings that passed every check.
    pub distinct_jwts: u64,
    /// Requests refused for want of a `User-Agent` header.
    pub requests_without_user_agent: u64,
    /// Release assets uploaded (201 answers of the uploads route).
    pub release_assets_uploaded: u64,
    /// GraphQL queries answered (`POST /graphql` with a credential and a `query`).
    pub graphql_queries: u64,
    /// Issue comments created (`POST /repos/{owner}/{repo}/issues/{number}/comments`, 201).
    pub issue_comments_created: u64,
    /// Webhook deliveries sent ([`EmulatorHandle::deliver`](crate::EmulatorHandle::deliver) and
    /// the others), redeliveries included, whatever their answer.
    pub webhooks_delivered: u64,
    /// Refusals by reason, e.g. `"jwt_expired"` → 2.
    pub refusals: BTreeMap<String, u64>,
}

impl Counters {
    /// How many refusals were counted under `reason` (0 if none).
    pub fn refusals_for(&self, reason: &str) -> u64 {
        self.refusals.get(reason).copied().unwrap_or(0)
    }

    /// All requests to the token endpoints, whatever their grant or outcome.
    pub fn exchanges(&self) -> u64 {
        self.token_endpoint_requests
    }
}
