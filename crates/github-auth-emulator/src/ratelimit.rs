//! GitHub's primary rate limits: a budget per identity (an installation, a user across all of
//! that user's tokens, anonymous callers) and per resource (`core`, `graphql`, `search`,
//! `code_search`), refilled an hour after its first use, reported on every answer of the token
//! routes with `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` and `-resource`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The budget of a resource nobody configured: far above GitHub's 5,000 for an installation's
/// `core`, so that tests which are not about rate limits (soak, fleet faults: tens of thousands
/// of requests of one user) never meet one.
pub(crate) const DEFAULT_LIMIT: u64 = 1_000_000;
/// How long a budget lasts from its first use.
const WINDOW: Duration = Duration::from_secs(3600);

/// Whose budget a request spends: GitHub counts per installation, per user (every token of one
/// user shares one budget), and per address for anonymous callers (one here).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Identity {
    /// An installation's tokens.
    Installation(u64),
    /// A user's tokens (personal access tokens, OAuth and GitHub App user tokens), by login.
    User(String),
    /// Requests without a credential.
    Anonymous,
}

/// The resource a request's path spends: `/graphql` (and GHES's `/api/graphql`) `graphql`,
/// `/search/code` `code_search`, other `/search/` routes `search`, anything else `core`.
pub(crate) fn resource_of(path: &str) -> &'static str {
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    if path == "/graphql" || path == "/api/graphql" {
        "graphql"
    } else if path.starts_with("/search/code") {
        "code_search"
    } else if path.starts_with("/search/") {
        "search"
    } else {
        "core"
    }
}

/// One request's charge: what its answer's `x-ratelimit-*` headers say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Charge {
    pub(crate) limit: u64,
    pub(crate) used: u64,
    /// Epoch seconds at which the budget is refilled.
    pub(crate) reset: u64,
    pub(crate) resource: &'static str,
    /// Whether the budget was already spent (the request is refused).
    pub(crate) exhausted: bool,
}

impl Charge {
    /// Puts the five `x-ratelimit-*` headers on an answer.
    pub(crate) fn stamp(&self, headers: &mut HeaderMap) {
        let remaining = self.limit.saturating_sub(self.used);
        let numbers = [
            ("x-ratelimit-limit", self.limit),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-used", self.used),
            ("x-ratelimit-reset", self.reset),
        ];
        for (name, value) in numbers {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
        headers.insert(
            HeaderName::from_static("x-ratelimit-resource"),
            HeaderValue::from_static(self.resource),
        );
    }
}

/// A budget in use: how much of it is spent, and when it is refilled.
#[derive(Clone, Copy, Debug)]
struct Window {
    used: u64,
    reset: SystemTime,
}

/// A secondary limit an identity is to hit: how many more requests, and the `Retry-After` said.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Secondary {
    pub(crate) left: u32,
    /// 403 or 429.
    pub(crate) status: http::StatusCode,
    pub(crate) retry_after: Option<Duration>,
}

/// Every identity's budgets, and the configured limits.
#[derive(Debug, Default)]
pub(crate) struct RateBook {
    /// Limit per hour by resource; [`DEFAULT_LIMIT`] for the others.
    limits: BTreeMap<String, u64>,
    windows: HashMap<(Identity, &'static str), Window>,
    /// Secondary limits asked for, per identity.
    pub(crate) secondary: HashMap<Identity, Secondary>,
}

impl RateBook {
    pub(crate) fn new(limits: BTreeMap<String, u64>) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Sets the hourly limit of `resource` (budgets in use keep what they spent).
    pub(crate) fn set_limit(&mut self, resource: &str, per_hour: u64) {
        self.limits.insert(resource.to_owned(), per_hour);
    }

    /// Spends one request of `who`'s budget for `resource` at `now` (unless it is spent).
    pub(crate) fn charge(
        &mut self,
        who: &Identity,
        resource: &'static str,
        now: SystemTime,
    ) -> Charge {
        let limit = self.limits.get(resource).copied().unwrap_or(DEFAULT_LIMIT);
        let window = self
            .windows
            .entry((who.clone(), resource))
            .or_insert(Window {
                used: 0,
                reset: now,
            });
        if now >= window.reset {
            *window = Window {
                used: 0,
                reset: now.checked_add(WINDOW).unwrap_or(now),
            };
        }
        let exhausted = window.used >= limit;
        if !exhausted {
            window.used = window.used.saturating_add(1);
        }
        let reset = window
            .reset
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Charge {
            limit,
            used: window.used.min(limit),
            reset,
            resource,
            exhausted,
        }
    }

    /// The secondary limit `who` hits now, if any (counting it down).
    pub(crate) fn secondary_hit(&mut self, who: &Identity) -> Option<Secondary> {
        let secondary = self.secondary.get_mut(who)?;
        secondary.left = secondary.left.saturating_sub(1);
        let hit = *secondary;
        if secondary.left == 0 {
            self.secondary.remove(who);
        }
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_spent_then_refused_until_its_reset() {
        let mut book = RateBook::new(BTreeMap::from([("core".to_owned(), 2)]));
        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let who = Identity::Installation(1);
        let first = book.charge(&who, "core", start);
        assert_eq!((first.used, first.exhausted), (1, false));
        assert_eq!(first.reset, 1_003_600);
        assert!(!book.charge(&who, "core", start).exhausted);
        let third = book.charge(&who, "core", start + Duration::from_secs(10));
        assert!(third.exhausted);
        assert_eq!(third.used, 2);
        // Another identity, another resource: budgets of their own.
        assert!(
            !book
                .charge(&Identity::Installation(2), "core", start)
                .exhausted
        );
        assert_eq!(book.charge(&who, "graphql", start).limit, DEFAULT_LIMIT);
        // After the reset, a new budget.
        let later = book.charge(&who, "core", start + WINDOW);
        assert_eq!((later.used, later.exhausted), (1, false));
    }

    #[test]
    fn resources_follow_the_path() {
        assert_eq!(resource_of("/graphql"), "graphql");
        assert_eq!(resource_of("/api/graphql"), "graphql");
        assert_eq!(resource_of("/search/code"), "code_search");
        assert_eq!(resource_of("/api/v3/search/issues"), "search");
        assert_eq!(resource_of("/repos/octo/one"), "core");
    }

    #[test]
    fn the_headers_say_what_github_says() {
        let mut headers = HeaderMap::new();
        Charge {
            limit: 10,
            used: 3,
            reset: 42,
            resource: "core",
            exhausted: false,
        }
        .stamp(&mut headers);
        assert_eq!(headers["x-ratelimit-limit"], "10");
        assert_eq!(headers["x-ratelimit-remaining"], "7");
        assert_eq!(headers["x-ratelimit-used"], "3");
        assert_eq!(headers["x-ratelimit-reset"], "42");
        assert_eq!(headers["x-ratelimit-resource"], "core");
    }
}
