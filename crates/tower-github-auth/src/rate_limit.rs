//! GitHub's rate limits as the layers saw them: one record per credential identity, a fixed
//! array of atomics per resource, written from the `x-ratelimit-*` headers of every answer to a
//! request that carried the identity's credential.
//!
//! The record lives in the layer (shared by its clones and by every service it makes), not
//! beside a token: a refreshed installation token keeps counting against the same budget, as it
//! does at GitHub. Writing it takes no lock and allocates nothing.
//!
//! What a warm request pays: reading an answer means one pass over its headers (a name that
//! does not start with `x-r` costs two byte comparisons) and parsing four numbers, about 300
//! instructions for GitHub's five headers, more than the rest of the layer's work on the
//! answer. So an answer is read when it matters: the first answer, every answer while
//! any budget of the identity has fewer than [`PRECISE_BELOW`] requests left, and every answer
//! that is not a success (a refusal, a 304); otherwise every [`READ_EVERY`]th answer of each
//! thread. A figure read from a busy identity's answers is then at most that many answers old
//! (GitHub's own figure moves with every other client of the identity anyway).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

/// Below this many requests left in any of its budgets, every answer of the identity is read.
pub(crate) const PRECISE_BELOW: u64 = 1024;
/// With more left, one answer in this many (per thread) is read.
pub(crate) const READ_EVERY: u32 = 64;
/// The `watch` bit that says nothing was read yet.
const UNREAD: u32 = 1 << 31;

thread_local! {
    /// Answers this thread has seen with plenty of budget left, modulo [`READ_EVERY`].
    static ANSWERS: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread's answer is the one in [`READ_EVERY`] to read.
#[inline]
fn turn() -> bool {
    ANSWERS.with(|answers| {
        let n = answers.get().wrapping_add(1);
        answers.set(n);
        n % READ_EVERY == 0
    })
}

/// A budget GitHub counts separately (`x-ratelimit-resource`): each identity has one of each.
///
/// ```
/// use tower_github_auth::Resource;
///
/// assert_eq!(Resource::of_path("/repos/octo/one"), Resource::Core);
/// assert_eq!(Resource::of_path("/graphql"), Resource::Graphql);
/// assert_eq!(Resource::of_path("/api/graphql"), Resource::Graphql); // GitHub Enterprise Server
/// assert_eq!(Resource::of_path("/search/code"), Resource::CodeSearch);
/// assert_eq!(Resource::of_path("/api/v3/search/issues"), Resource::Search);
/// assert_eq!(Resource::from_name("code_scanning_upload"), Some(Resource::CodeScanningUpload));
/// assert_eq!(Resource::Core.as_str(), "core");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// `core`: the REST API, except what has a budget of its own.
    Core,
    /// `search`: the search routes but code search.
    Search,
    /// `code_search`: `/search/code`.
    CodeSearch,
    /// `graphql`: the GraphQL API.
    Graphql,
    /// `integration_manifest`: `POST /app-manifests/{code}/conversions`.
    IntegrationManifest,
    /// `code_scanning_upload`: SARIF uploads.
    CodeScanningUpload,
    /// `actions_runner_registration`: self-hosted runner registration.
    ActionsRunnerRegistration,
    /// `scim`: the SCIM API.
    Scim,
    /// `dependency_snapshots`: dependency submission.
    DependencySnapshots,
    /// `audit_log`: the audit log API.
    AuditLog,
    /// `source_import`: the source imports API.
    SourceImport,
}

impl Resource {
    /// Every resource, in the order of the record's slots.
    const ALL: [Self; 11] = [
        Self::Core,
        Self::Search,
        Self::CodeSearch,
        Self::Graphql,
        Self::IntegrationManifest,
        Self::CodeScanningUpload,
        Self::ActionsRunnerRegistration,
        Self::Scim,
        Self::DependencySnapshots,
        Self::AuditLog,
        Self::SourceImport,
    ];

    /// GitHub's name for it, as in `x-ratelimit-resource`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Search => "search",
            Self::CodeSearch => "code_search",
            Self::Graphql => "graphql",
            Self::IntegrationManifest => "integration_manifest",
            Self::CodeScanningUpload => "code_scanning_upload",
            Self::ActionsRunnerRegistration => "actions_runner_registration",
            Self::Scim => "scim",
            Self::DependencySnapshots => "dependency_snapshots",
            Self::AuditLog => "audit_log",
            Self::SourceImport => "source_import",
        }
    }

    /// The resource GitHub names `name`; `None` for one this crate does not know.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::from_bytes(name.as_bytes())
    }

    fn from_bytes(name: &[u8]) -> Option<Self> {
        // The usual answer first: one comparison of four bytes.
        if name == b"core" {
            return Some(Self::Core);
        }
        Self::ALL
            .into_iter()
            .find(|resource| resource.as_str().as_bytes() == name)
    }

    /// The budget a request to `path` (below the API base, or with GitHub Enterprise Server's
    /// `/api/v3` prefix) spends: `/graphql` and `/api/graphql` [`Graphql`](Self::Graphql),
    /// `/search/code` [`CodeSearch`](Self::CodeSearch), other `/search/` routes
    /// [`Search`](Self::Search), anything else [`Core`](Self::Core) (the few routes with
    /// budgets of their own are counted as `core` here; the answer's `x-ratelimit-resource`
    /// still records them under their own).
    #[must_use]
    pub fn of_path(path: &str) -> Self {
        let path = path.strip_prefix("/api/v3").unwrap_or(path);
        if path == "/graphql" || path == "/api/graphql" {
            Self::Graphql
        } else if path.starts_with("/search/code") {
            Self::CodeSearch
        } else if path.starts_with("/search/") {
            Self::Search
        } else {
            Self::Core
        }
    }

    const fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource's budget as GitHub last reported it for an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per window (`x-ratelimit-limit`).
    pub limit: u64,
    /// Requests left in the window (`x-ratelimit-remaining`).
    pub remaining: u64,
    /// Requests spent in the window (`x-ratelimit-used`).
    pub used: u64,
    /// When the window ends and the budget comes back (`x-ratelimit-reset`, GitHub's clock).
    pub reset: SystemTime,
    /// The budget (`x-ratelimit-resource`; `core` when absent).
    pub resource: Resource,
}

/// One resource's figures; `reset` 0: nothing seen yet.
#[derive(Debug, Default)]
struct Slot {
    limit: AtomicU64,
    remaining: AtomicU64,
    used: AtomicU64,
    reset: AtomicU64,
}

#[derive(Debug)]
struct Record {
    slots: [Slot; Resource::ALL.len()],
    /// [`UNREAD`] before the first answer, then one bit per resource with fewer than
    /// [`PRECISE_BELOW`] left: while not 0, every answer is read.
    watch: AtomicU32,
    /// Until when (milliseconds after `base`) a secondary rate limit holds; 0: none.
    held_until_ms: AtomicU64,
    base: Instant,
}

/// The rate limits GitHub reported for one credential identity, resource by resource.
///
/// Every layer keeps one, shared by its clones and the services it makes, and fills it from the
/// `x-ratelimit-*` headers of each answer to a request that carried its credential (read it with
/// the layer's or the service's `rate_limit`). GitHub counts per identity, not per token: an
/// installation's tokens share the installation's budget, a user's tokens share the user's.
/// A refreshed token keeps the layer's record; to make two layers of one user (two tokens) share
/// one, give both the same record (`rate_limits(..)` on their builders). Cloning shares it.
///
/// ```
/// use tower_github_auth::{RateLimits, Resource};
///
/// let limits = RateLimits::new();
/// assert_eq!(limits.get(Resource::Core), None); // nothing seen yet
/// assert!(limits.shares_with(&limits.clone()));
/// ```
#[derive(Clone)]
pub struct RateLimits(Arc<Record>);

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seen: Vec<RateLimit> = Resource::ALL
            .into_iter()
            .filter_map(|resource| self.get(resource))
            .collect();
        f.debug_struct("RateLimits").field("seen", &seen).finish()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// Epoch seconds to a time; `None` for 0 (nothing recorded).
fn epoch(secs: u64) -> Option<SystemTime> {
    if secs == 0 || secs >= LAST_HTTP_DATE {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// 10000-01-01T00:00:00Z in Unix seconds: no HTTP date says a time from then on (and
/// `httpdate` panics formatting one), and no reset GitHub sends is that far ahead.
pub(crate) const LAST_HTTP_DATE: u64 = 253_402_300_800;

/// A decimal number of at most 19 digits (no sign, no space); `None` for anything else.
fn parse_number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |n, &byte| {
        let digit = byte.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

impl RateLimits {
    /// An empty record, for one identity.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(Record {
            slots: Default::default(),
            watch: AtomicU32::new(UNREAD),
            held_until_ms: AtomicU64::new(0),
            base: Instant::now(),
        }))
    }

    /// What GitHub last reported for `resource`; `None` before any answer reported it.
    #[must_use]
    pub fn get(&self, resource: Resource) -> Option<RateLimit> {
        let slot = &self.0.slots[resource.slot()];
        let reset = epoch(slot.reset.load(Ordering::Acquire))?;
        Some(RateLimit {
            limit: slot.limit.load(Ordering::Relaxed),
            remaining: slot.remaining.load(Ordering::Relaxed),
            used: slot.used.load(Ordering::Relaxed),
            reset,
            resource,
        })
    }

    /// Whether `other` is the same record (the same identity's budget).
    #[must_use]
    pub fn shares_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An answer to a request that carried the identity's credential: read it when it is due
    /// (see the module's docs).
    #[inline]
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        if self.0.watch.load(Ordering::Relaxed) == 0 && status.is_success() && !turn() {
            return;
        }
        self.record(headers);
    }

    /// Records the `x-ratelimit-*` headers of an answer, in one pass over its headers. A value
    /// that is not a number is left out; an answer without `x-ratelimit-remaining`, or naming a
    /// resource this crate does not know, changes nothing.
    pub(crate) fn record(&self, headers: &HeaderMap) {
        // limit, remaining, used, reset.
        let mut figures = [None; 4];
        let mut resource = Resource::Core;
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            // Most names are out at the first or third byte, before any comparison of strings.
            if name.len() < 15 || name[0] != b'x' || name[2] != b'r' {
                continue;
            }
            let Some(which) = name.strip_prefix(b"x-ratelimit-") else {
                continue;
            };
            let value = value.as_bytes();
            match which {
                b"limit" => figures[0] = parse_number(value),
                b"remaining" => figures[1] = parse_number(value),
                b"used" => figures[2] = parse_number(value),
                b"reset" => figures[3] = parse_number(value),
                b"resource" => match Resource::from_bytes(value) {
                    Some(named) => resource = named,
                    None => return,
                },
                _ => {}
            }
        }
        let [limit, Some(remaining), used, reset] = figures else {
            // Answers without the headers (a GitHub Enterprise Server with rate limiting off)
            // are then read one in so many, like those of a busy identity.
            if self.0.watch.load(Ordering::Relaxed) == UNREAD {
                self.0.watch.store(0, Ordering::Relaxed);
            }
            return;
        };
        let slot = &self.0.slots[resource.slot()];
        slot.remaining.store(remaining, Ordering::Relaxed);
        if let Some(limit) = limit {
            slot.limit.store(limit, Ordering::Relaxed);
        }
        if let Some(used) = used {
            slot.used.store(used, Ordering::Relaxed);
        }
        // Stored last (0 is "nothing seen"), so that a reader who sees it sees the rest.
        if let Some(reset) = reset.filter(|reset| *reset > 0 && *reset < LAST_HTTP_DATE) {
            slot.reset.store(reset, Ordering::Release);
        }
        let bit = 1 << resource.slot();
        let watch = self.0.watch.load(Ordering::Relaxed);
        let next = if remaining < PRECISE_BELOW {
            (watch | bit) & !UNREAD
        } else {
            watch & !bit & !UNREAD
        };
        // Written only when it changes: a busy identity's answers do not all write one line.
        if next != watch {
            self.0.watch.store(next, Ordering::Relaxed);
        }
    }

    /// Takes one request of `resource`'s budget for a request about to be sent (`now` on
    /// GitHub's clock): `true` when the budget is unknown, has some left (counted down here, until
    /// GitHub's next answer says the real figure), or its window is over.
    pub(crate) fn take(&self, resource: Resource, now: SystemTime) -> bool {
        let slot = &self.0.slots[resource.slot()];
        let Some(reset) = epoch(slot.reset.load(Ordering::Acquire)) else {
            return true;
        };
        let took = slot
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        // Counted down low (or out, with the window over): read every answer again, so the
        // figure is GitHub's before the pool relies on it.
        if took.map_or(true, |before| before <= PRECISE_BELOW) {
            let bit = 1 << resource.slot();
            if self.0.watch.load(Ordering::Relaxed) & bit == 0 {
                self.0.watch.fetch_or(bit, Ordering::Relaxed);
            }
        }
        took.is_ok() || now >= reset
    }

    /// When `resource`'s spent budget comes back: `None` if it is not spent (or unknown).
    pub(crate) fn spent_until(&self, resource: Resource, now: SystemTime) -> Option<SystemTime> {
        let limit = self.get(resource)?;
        (limit.remaining == 0 && now < limit.reset).then_some(limit.reset)
    }

    /// Holds the identity back for `wait` (a secondary rate limit), or longer if already held.
    pub(crate) fn hold_off(&self, wait: Duration) {
        let until = Instant::now()
            .saturating_duration_since(self.0.base)
            .saturating_add(wait);
        let until_ms = u64::try_from(until.as_millis()).unwrap_or(u64::MAX).max(1);
        self.0.held_until_ms.fetch_max(until_ms, Ordering::Relaxed);
    }

    /// How long a secondary rate limit still holds the identity back; `None` if it does not.
    #[must_use]
    pub fn held_for(&self) -> Option<Duration> {
        let until_ms = self.0.held_until_ms.load(Ordering::Relaxed);
        if until_ms == 0 {
            return None;
        }
        let until = Duration::from_millis(until_ms);
        let elapsed = Instant::now().saturating_duration_since(self.0.base);
        until.checked_sub(elapsed).filter(|left| !left.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn answer(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn records_each_resource_apart() {
        let limits = RateLimits::new();
        limits.record(&answer(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-used", "10"),
            ("x-ratelimit-reset", "1700000000"),
            ("x-ratelimit-resource", "core"),
        ]));
        limits.record(&answer(&[
            ("x-ratelimit-limit", "30"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-used", "30"),
            ("x-ratelimit-reset", "1700000060"),
            ("x-ratelimit-resource", "search"),
        ]));
        let core = limits.get(Resource::Core).unwrap();
        assert_eq!((core.limit, core.remaining, core.used), (5000, 4990, 10));
        assert_eq!(core.reset, epoch(1_700_000_000).unwrap());
        let search = limits.get(Resource::Search).unwrap();
        assert_eq!((search.remaining, search.resource), (0, Resource::Search));
        assert_eq!(limits.get(Resource::Graphql), None);
        let before = epoch(1_700_000_010).unwrap();
        assert_eq!(
            limits.spent_until(Resource::Search, before),
            Some(search.reset)
        );
        assert!(!limits.take(Resource::Search, before));
        assert!(limits.take(Resource::Search, search.reset));
        assert!(format!("{limits:?}").contains("Search"));
    }

    #[test]
    fn counting_down_low_reads_every_answer() {
        let limits = RateLimits::new();
        let now = epoch(1_000).unwrap();
        limits.record(&answer(&[
            ("x-ratelimit-remaining", "1030"),
            ("x-ratelimit-reset", "2000"),
        ]));
        assert_eq!(limits.0.watch.load(Ordering::Relaxed), 0, "plenty left");
        for _ in 0..10 {
            assert!(limits.take(Resource::Core, now));
        }
        // The pool's own count went below PRECISE_BELOW: the next answers are all read.
        assert_ne!(limits.0.watch.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn take_counts_down_until_github_says_otherwise() {
        let limits = RateLimits::new();
        let now = epoch(1_000).unwrap();
        assert!(limits.take(Resource::Core, now), "unknown: go");
        limits.record(&answer(&[
            ("x-ratelimit-remaining", "2"),
            ("x-ratelimit-reset", "2000"),
        ]));
        assert!(limits.take(Resource::Core, now));
        assert!(limits.take(Resource::Core, now));
        assert!(!limits.take(Resource::Core, now));
        assert_eq!(limits.get(Resource::Core).unwrap().remaining, 0);
    }

    #[test]
    fn garbage_changes_nothing() {
        let limits = RateLimits::new();
        limits.record(&answer(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "99"),
        ]));
        for garbage in ["", "-1", "+5", " 7", "1e3", "99999999999999999999", "0x10"] {
            limits.record(&answer(&[
                ("x-ratelimit-remaining", garbage),
                ("x-ratelimit-limit", garbage),
                ("x-ratelimit-reset", garbage),
            ]));
        }
        limits.record(&answer(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "253402300800"),
        ]));
        // A reset past year 9999 (no HTTP date can say it) is garbage too.
        let core = limits.get(Resource::Core).unwrap();
        assert_eq!((core.remaining, core.reset), (12, epoch(99).unwrap()));
        // A resource this crate does not know is left out.
        limits.record(&answer(&[
            ("x-ratelimit-remaining", "1"),
            ("x-ratelimit-resource", "brand_new"),
        ]));
        assert_eq!(limits.get(Resource::Core).unwrap().remaining, 12);
    }

    #[test]
    fn busy_answers_are_read_one_in_so_many_low_ones_all() {
        let limits = RateLimits::new();
        let remaining = |n: u64| {
            answer(&[
                ("x-ratelimit-remaining", &n.to_string()),
                ("x-ratelimit-reset", "2000"),
            ])
        };
        let now = |limits: &RateLimits| limits.get(Resource::Core).unwrap().remaining;
        // The first answer is read.
        limits.observe(StatusCode::OK, &remaining(4000));
        assert_eq!(now(&limits), 4000);
        // Plenty left: one in READ_EVERY.
        let mut seen = Vec::new();
        for left in (3000..3000 + u64::from(READ_EVERY)).rev() {
            limits.observe(StatusCode::OK, &remaining(left));
            seen.push(now(&limits));
        }
        let read: std::collections::BTreeSet<u64> = seen.iter().copied().collect();
        assert_eq!(read.len(), 2, "{seen:?}"); // 4000 until the turn, then one reading
        assert!(seen.contains(&4000));
        // A refusal is always read.
        limits.observe(StatusCode::FORBIDDEN, &remaining(2500));
        assert_eq!(now(&limits), 2500);
        // Low: every answer.
        limits.observe(StatusCode::FORBIDDEN, &remaining(PRECISE_BELOW - 1));
        for left in (100..110).rev() {
            limits.observe(StatusCode::OK, &remaining(left));
            assert_eq!(now(&limits), left);
        }
    }

    #[test]
    fn answers_without_the_headers_are_sampled_after_the_first() {
        let limits = RateLimits::new();
        assert_eq!(limits.0.watch.load(Ordering::Relaxed), UNREAD);
        limits.observe(StatusCode::OK, &HeaderMap::new());
        assert_eq!(limits.0.watch.load(Ordering::Relaxed), 0);
        assert_eq!(limits.get(Resource::Core), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_lasts_its_time() {
        let limits = RateLimits::new();
        assert_eq!(limits.held_for(), None);
        limits.hold_off(Duration::from_secs(60));
        limits.hold_off(Duration::from_secs(5)); // a shorter one does not shorten it
        assert_eq!(limits.held_for(), Some(Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(limits.held_for(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limits.held_for(), None);
    }

    #[test]
    fn every_resource_round_trips_its_name() {
        for resource in Resource::ALL {
            assert_eq!(Resource::from_name(resource.as_str()), Some(resource));
            assert_eq!(Resource::ALL[resource.slot()], resource);
        }
    }

    proptest! {
        #[test]
        fn numbers_parse_as_decimal_or_not_at_all(text in "\\PC{0,24}") {
            let parsed = parse_number(text.as_bytes());
            let reference = text.parse::<u64>().ok().filter(|_| text.bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(parsed, reference.filter(|_| text.len() <= 19));
        }

        #[test]
        fn any_header_values_never_panic(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 5)
        ) {
            let limits = RateLimits::new();
            let names = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used",
                "x-ratelimit-reset", "x-ratelimit-resource"];
            let mut headers = HeaderMap::new();
            for (name, value) in names.iter().zip(&values) {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    headers.insert(*name, value);
                }
            }
            limits.record(&headers);
            let now = SystemTime::now();
            let _ = limits.take(Resource::Core, now);
            let _ = limits.spent_until(Resource::Core, now);
            let _ = limits.get(Resource::Core);
        }
    }
}
