//! The 403s (and 429) GitHub answers a valid token with: what
//! [`EmulatorHandle::forbid_next`](crate::EmulatorHandle::forbid_next) makes the token routes
//! answer.

use std::time::Duration;

/// Why GitHub refuses a request whose token is valid: each kind answers with the headers GitHub
/// sends for it, so that a client can tell it from a token GitHub has not replicated yet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forbidden {
    /// 403 `Resource not accessible by integration` with `X-Accepted-GitHub-Permissions` set to
    /// this (e.g. `contents=read`): the fine-grained permission the request needed and the token
    /// lacks. Refusal `missing_permission`.
    MissingPermission(String),
    /// 403 with `X-GitHub-SSO: required; url={base}/orgs/{org}/sso?authorization_request=...`:
    /// a token not authorized for the organization's SAML single sign-on. Refusal
    /// `sso_required`.
    SsoRequired {
        /// The organization whose SSO the token lacks.
        org: String,
    },
    /// 403 `API rate limit exceeded` with `x-ratelimit-remaining: 0` (and `x-ratelimit-limit`,
    /// `-used`, `-reset` an hour ahead, `-resource: core`): the primary budget is spent.
    /// Refusal `rate_limited`.
    RateLimited,
    /// 403 `You have exceeded a secondary rate limit` with `Retry-After` in whole seconds.
    /// Refusal `secondary_rate_limit`.
    SecondaryRateLimit {
        /// What `Retry-After` says.
        retry_after: Duration,
    },
    /// 429 `Too Many Requests` with `Retry-After` in whole seconds: a secondary limit answered
    /// with 429. Refusal `too_many_requests`.
    TooManyRequests {
        /// What `Retry-After` says.
        retry_after: Duration,
    },
}

impl Forbidden {
    /// The refusal reason it is counted under.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::MissingPermission(_) => "missing_permission",
            Self::SsoRequired { .. } => "sso_required",
            Self::RateLimited => "rate_limited",
            Self::SecondaryRateLimit { .. } => "secondary_rate_limit",
            Self::TooManyRequests { .. } => "too_many_requests",
        }
    }
}
