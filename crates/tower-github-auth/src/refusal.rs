//! What GitHub's answer says about the credential a request carried, read from its status and
//! headers alone.
//!
//! A 401 says the credential is not good (or, for a token minted moments ago, not replicated
//! yet). A 403 is GitHub keeping a good credential out, and it usually says why: the permission
//! the request needed (`X-Accepted-GitHub-Permissions`), the organization's SAML SSO
//! (`X-GitHub-SSO`), the OAuth scopes the route takes (`X-Accepted-OAuth-Scopes`, against the
//! token's `X-OAuth-Scopes`), or a spent rate limit (`x-ratelimit-remaining: 0`, `Retry-After`).
//! A 403 that says none of that is what a token GitHub has not replicated yet may get.
//!
//! [`Refused`] is the public reading; the service's replication-lag decision ([`Refusal`]) uses
//! the same classification, and reads headers only for a 401 or 403.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

/// The permission a 403 was missing, e.g. `contents=read`.
const ACCEPTED_PERMISSIONS: HeaderName = HeaderName::from_static("x-accepted-github-permissions");
/// A token not authorized for an organization's SAML single sign-on.
const SSO: HeaderName = HeaderName::from_static("x-github-sso");
/// The requests left in the rate-limit window.
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// When the rate-limit window resets, in epoch seconds.
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// Which budget the request counts against (`core`, `search`, `graphql`, ...).
const RATE_LIMIT_RESOURCE: HeaderName = HeaderName::from_static("x-ratelimit-resource");
/// The OAuth scopes a route takes (any one of them is enough).
const ACCEPTED_OAUTH_SCOPES: HeaderName = HeaderName::from_static("x-accepted-oauth-scopes");
/// The OAuth scopes the token has (OAuth app tokens and classic personal access tokens).
const OAUTH_SCOPES: HeaderName = HeaderName::from_static("x-oauth-scopes");

/// Why GitHub refused a request, read from its answer's status and headers: what a caller can
/// act on. GitHub's answer itself is not changed; read it with [`Refused::of`].
///
/// | answer | variant |
/// | --- | --- |
/// | 401 | [`BadCredentials`](Self::BadCredentials) |
/// | 403 or 429 with `x-ratelimit-remaining: 0` | [`RateLimited`](Self::RateLimited) |
/// | 403 with `Retry-After`, any 429 | [`SecondaryRateLimit`](Self::SecondaryRateLimit) |
/// | 403 with `X-GitHub-SSO: required; url=...` | [`SsoRequired`](Self::SsoRequired) |
/// | any answer with `X-GitHub-SSO: partial-results; organizations=...` | [`SsoPartialResults`](Self::SsoPartialResults) |
/// | 403 with `X-Accepted-GitHub-Permissions` | [`MissingPermissions`](Self::MissingPermissions) |
/// | 403 with `X-Accepted-OAuth-Scopes` none of which is in `X-OAuth-Scopes` | [`OAuthScopes`](Self::OAuthScopes) |
/// | any other 403 | [`Unexplained`](Self::Unexplained) |
///
/// The first row that matches wins. Nothing a peer sends can make the reading panic: a value
/// that does not parse is left out (an empty list, `None`).
///
/// ```
/// use std::time::Duration;
/// use tower_github_auth::{Permission, Refused};
///
/// let answer = http::Response::builder()
///     .status(403)
///     .header("x-accepted-github-permissions", "contents=read, issues=write")
///     .header("x-ratelimit-remaining", "4999")
///     .body(())?;
/// let Some(Refused::MissingPermissions(missing)) = Refused::of(&answer) else {
///     panic!("a missing permission");
/// };
/// assert_eq!(missing[0], Permission::new("contents", "read"));
/// assert_eq!(missing[1].to_string(), "issues=write");
///
/// let limited = http::Response::builder()
///     .status(429)
///     .header("retry-after", "30")
///     .body(())?;
/// assert!(matches!(
///     Refused::of(&limited),
///     Some(Refused::SecondaryRateLimit { retry_after: Some(wait), .. }) if wait == Duration::from_secs(30)
/// ));
///
/// // A success is no refusal.
/// assert_eq!(Refused::of(&http::Response::new(())), None);
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// 401: GitHub does not take the credential (revoked, expired, mistyped; a token minted
    /// moments ago may not be replicated yet, which the layers wait for). Get a new one: the
    /// layers that mint credentials have already dropped it and tried a fresh one once.
    BadCredentials,
    /// 403 naming the fine-grained permissions the request needed
    /// (`X-Accepted-GitHub-Permissions`), which the token lacks. Give the App (or the
    /// fine-grained token) the permission, or widen the narrowing of the installation token.
    MissingPermissions(Vec<Permission>),
    /// 403: the token is not authorized for an organization's SAML single sign-on
    /// (`X-GitHub-SSO: required`). Have the user open `url` to authorize it.
    #[non_exhaustive]
    SsoRequired {
        /// The authorization URL GitHub gives, `None` when the header carries none.
        url: Option<String>,
    },
    /// Results withheld (`X-GitHub-SSO: partial-results`): the token is not authorized for
    /// these organizations' SAML single sign-on, so their part of the answer is missing. The
    /// answer may well be a 200.
    #[non_exhaustive]
    SsoPartialResults {
        /// The ids of the organizations withheld.
        organizations: Vec<u64>,
    },
    /// 403: an OAuth app token or classic personal access token without any of the scopes the
    /// route takes. Ask the user for one of `accepted` (authorize again with that scope).
    #[non_exhaustive]
    OAuthScopes {
        /// The scopes the route takes (`X-Accepted-OAuth-Scopes`); any one is enough.
        accepted: Vec<String>,
        /// The scopes the token has (`X-OAuth-Scopes`).
        granted: Vec<String>,
    },
    /// 403 or 429 with `x-ratelimit-remaining: 0`: the primary budget of this identity is spent.
    /// Wait until `reset`.
    #[non_exhaustive]
    RateLimited {
        /// When the budget comes back (`x-ratelimit-reset`, GitHub's clock), `None` when absent
        /// or not a time.
        reset: Option<SystemTime>,
        /// The budget spent (`x-ratelimit-resource`: `core`, `search`, `graphql`, ...).
        resource: Option<String>,
    },
    /// A secondary rate limit: a 403 with `Retry-After`, or a 429. Wait `retry_after`; without
    /// it, at least a minute (GitHub's docs), longer on repeats, and send less at once.
    #[non_exhaustive]
    SecondaryRateLimit {
        /// What `Retry-After` says (whole seconds), `None` when absent or not a number.
        retry_after: Option<Duration>,
    },
    /// A 403 that names no reason: `Resource not accessible by integration` (an installation
    /// token on a route for users), a secondary rate limit GitHub sent without `Retry-After`,
    /// or, moments after a mint, a token not replicated yet (which the layers wait for). Read
    /// the answer's `message`.
    Unexplained,
}

/// A fine-grained permission and its level, as GitHub names them: `contents=read`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    name: String,
    level: String,
}

impl Permission {
    /// A permission `name` at `level`, e.g. `Permission::new("contents", "read")`.
    pub fn new(name: impl Into<String>, level: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            level: level.into(),
        }
    }

    /// The permission, e.g. `contents`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The level, e.g. `read`.
    #[must_use]
    pub fn level(&self) -> &str {
        &self.level
    }

    /// `name=level`; `None` unless both sides are non-empty.
    fn parse(item: &str) -> Option<Self> {
        let (name, level) = item.split_once('=')?;
        let (name, level) = (name.trim(), level.trim());
        (!name.is_empty() && !level.is_empty()).then(|| Self::new(name, level))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.level)
    }
}

/// Which row of [`Refused`]'s table an answer is, without reading any value out (no allocation):
/// the one classification both [`Refused`] and [`Refusal`] use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BadCredentials,
    RateLimited,
    SecondaryRateLimit,
    SsoRequired,
    SsoPartialResults,
    MissingPermissions,
    OAuthScopes,
    Unexplained,
}

impl Kind {
    fn of(status: StatusCode, headers: &HeaderMap) -> Option<Self> {
        let refused = matches!(
            status,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        );
        if status == StatusCode::UNAUTHORIZED {
            return Some(Self::BadCredentials);
        }
        let sso = sso(headers);
        if !refused {
            return matches!(sso, Some((Sso::PartialResults, _)))
                .then_some(Self::SsoPartialResults);
        }
        Some(if budget_spent(headers) {
            Self::RateLimited
        } else if status == StatusCode::TOO_MANY_REQUESTS || headers.contains_key(RETRY_AFTER) {
            Self::SecondaryRateLimit
        } else if let Some((which, _)) = sso {
            match which {
                Sso::PartialResults => Self::SsoPartialResults,
                Sso::Required => Self::SsoRequired,
            }
        } else if headers.contains_key(ACCEPTED_PERMISSIONS) {
            Self::MissingPermissions
        } else if lacks_scope(headers) {
            Self::OAuthScopes
        } else {
            Self::Unexplained
        })
    }
}

impl Refused {
    /// Why GitHub refused the request `response` answers; `None` when it did not (a 2xx, a 404,
    /// a 5xx, ...; see the table above). Only the status and headers are read.
    #[must_use]
    pub fn of<B>(response: &Response<B>) -> Option<Self> {
        Self::from_parts(response.status(), response.headers())
    }

    /// [`Refused::of`] from an answer's status and headers (e.g. an
    /// [`http::response::Parts`], or a client's error that kept them).
    #[must_use]
    pub fn from_parts(status: StatusCode, headers: &HeaderMap) -> Option<Self> {
        Some(match Kind::of(status, headers)? {
            Kind::BadCredentials => Self::BadCredentials,
            Kind::RateLimited => Self::RateLimited {
                reset: rate_limit_reset(headers),
                resource: first(headers, &RATE_LIMIT_RESOURCE)
                    .map(str::trim)
                    .filter(|resource| !resource.is_empty())
                    .map(str::to_owned),
            },
            Kind::SecondaryRateLimit => Self::SecondaryRateLimit {
                retry_after: retry_after(headers),
            },
            Kind::SsoRequired => Self::SsoRequired {
                url: sso(headers)
                    .and_then(|(_, params)| param(params, "url"))
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned),
            },
            Kind::SsoPartialResults => Self::SsoPartialResults {
                organizations: sso(headers)
                    .and_then(|(_, params)| param(params, "organizations"))
                    .map(|ids| {
                        ids.split(',')
                            .filter_map(|id| id.trim().parse().ok())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            Kind::MissingPermissions => Self::MissingPermissions(
                values(headers, &ACCEPTED_PERMISSIONS)
                    .flat_map(|list| list.split(','))
                    .filter_map(Permission::parse)
                    .collect(),
            ),
            Kind::OAuthScopes => Self::OAuthScopes {
                accepted: scopes(headers, &ACCEPTED_OAUTH_SCOPES)
                    .map(str::to_owned)
                    .collect(),
                granted: scopes(headers, &OAUTH_SCOPES).map(str::to_owned).collect(),
            },
            Kind::Unexplained => Self::Unexplained,
        })
    }
}

/// `Retry-After` in seconds (GitHub sends seconds, never an HTTP date); `None` when absent or
/// not a number.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    first(headers, &RETRY_AFTER)
        .and_then(|wait| wait.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `x-ratelimit-reset` (epoch seconds, GitHub's clock); `None` when absent, not a number, or
/// past what a `SystemTime` holds.
pub(crate) fn rate_limit_reset(headers: &HeaderMap) -> Option<SystemTime> {
    first(headers, &RATE_LIMIT_RESET)
        .and_then(|reset| reset.trim().parse::<u64>().ok())
        .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
}

/// [`rate_limit_reset`] when the budget is spent (`x-ratelimit-remaining: 0`): GitHub sends the
/// reset on every answer, and it says when to ask again only then.
pub(crate) fn spent_rate_limit_reset(headers: &HeaderMap) -> Option<SystemTime> {
    budget_spent(headers)
        .then(|| rate_limit_reset(headers))
        .flatten()
}

/// Whether `x-ratelimit-remaining` says the budget is spent.
fn budget_spent(headers: &HeaderMap) -> bool {
    values(headers, &RATE_LIMIT_REMAINING).any(|left| left.trim() == "0")
}

/// The text values of a header (values that are not visible ASCII are left out).
fn values<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| HeaderValue::to_str(value).ok())
}

/// The first text value of a header.
fn first<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    values(headers, name).next()
}

/// The non-empty items of a comma-separated header, over all its values.
fn scopes<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    values(headers, name)
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
}

/// A route that takes scopes, none of which the token has; only for a token that reports its
/// scopes (`X-OAuth-Scopes`, possibly empty): installation tokens do not.
fn lacks_scope(headers: &HeaderMap) -> bool {
    headers.contains_key(OAUTH_SCOPES)
        && scopes(headers, &ACCEPTED_OAUTH_SCOPES).next().is_some()
        && !scopes(headers, &ACCEPTED_OAUTH_SCOPES)
            .any(|needed| scopes(headers, &OAUTH_SCOPES).any(|has| has == needed))
}

/// What `X-GitHub-SSO` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sso {
    Required,
    PartialResults,
}

/// `X-GitHub-SSO`'s kind and the parameters after its first `;`. Any value but
/// `partial-results` is taken as `required` (the header is there: SSO is the reason).
fn sso(headers: &HeaderMap) -> Option<(Sso, &str)> {
    let Ok(value) = headers.get(SSO)?.to_str() else {
        return Some((Sso::Required, ""));
    };
    let (which, params) = value.split_once(';').unwrap_or((value, ""));
    let which = if which.trim().eq_ignore_ascii_case("partial-results") {
        Sso::PartialResults
    } else {
        Sso::Required
    };
    Some((which, params))
}

/// The value of `key=` in `params`: from after the `=` to the end (a URL may hold `;` and `=`),
/// trimmed.
fn param<'p>(params: &'p str, key: &str) -> Option<&'p str> {
    let rest = params.trim_start().strip_prefix(key)?;
    Some(rest.trim_start().strip_prefix('=')?.trim())
}

/// How GitHub refused the credential a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401: the credential is not good, or a fresh token is not replicated yet.
    Unauthorized,
    /// 403 that says nothing of a permission, SSO, OAuth scopes or rate limit: a fresh token may
    /// not be replicated yet; an older one is refused for a reason that is not ours to judge. A
    /// guess: GitHub may also send a secondary rate limit's 403 without `Retry-After` (its docs:
    /// then wait a minute); a fresh token's request meeting one is replayed within the same
    /// bounds as a lag 401 (three pauses, 3 s in all) before the 403 reaches the caller.
    Unexplained,
}

impl Refusal {
    /// How the answer refused the credential; `None` when it says nothing against it: any status
    /// but 401 and 403 (429 included), or a 403 that names its reason (the credential is good;
    /// it lacks a permission, SSO, a scope or budget). Only a 403's headers are read.
    #[inline]
    pub(crate) fn of(status: StatusCode, headers: &HeaderMap) -> Option<Self> {
        match status {
            StatusCode::UNAUTHORIZED => Some(Self::Unauthorized),
            StatusCode::FORBIDDEN => {
                (Kind::of(status, headers) == Some(Kind::Unexplained)).then_some(Self::Unexplained)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn a_403_that_names_its_reason_is_no_refusal_of_the_credential() {
        for reason in [
            ("x-accepted-github-permissions", "contents=read"),
            (
                "x-github-sso",
                "required; url=https://github.com/orgs/o/sso",
            ),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-remaining", " 0 "),
            ("retry-after", "60"),
        ] {
            let map = headers(&[reason, ("x-ratelimit-limit", "5000")]);
            assert_eq!(Refusal::of(StatusCode::FORBIDDEN, &map), None, "{reason:?}");
        }
    }

    #[test]
    fn a_403_that_says_nothing_and_a_401_refuse_the_credential() {
        let budget_left = headers(&[
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-limit", "5000"),
            ("x-github-request-id", "C0DE:1"),
        ]);
        assert_eq!(
            Refusal::of(StatusCode::FORBIDDEN, &budget_left),
            Some(Refusal::Unexplained)
        );
        assert_eq!(
            Refusal::of(StatusCode::FORBIDDEN, &HeaderMap::new()),
            Some(Refusal::Unexplained)
        );
        // A 401 is one whatever it carries.
        let limited = headers(&[("x-ratelimit-remaining", "0"), ("retry-after", "1")]);
        assert_eq!(
            Refusal::of(StatusCode::UNAUTHORIZED, &limited),
            Some(Refusal::Unauthorized)
        );
    }

    #[test]
    fn other_statuses_say_nothing_about_the_credential() {
        for status in [
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert_eq!(Refusal::of(status, &HeaderMap::new()), None, "{status}");
        }
    }

    fn refused(status: u16, pairs: &[(&'static str, &'static str)]) -> Option<Refused> {
        Refused::from_parts(StatusCode::from_u16(status).unwrap(), &headers(pairs))
    }

    #[test]
    fn missing_permissions_are_listed_and_malformed_items_left_out() {
        assert_eq!(
            refused(
                403,
                &[
                    (
                        "x-accepted-github-permissions",
                        " contents=read,issues = write,,=x,y=,z"
                    ),
                    ("x-accepted-github-permissions", "metadata=read"),
                    ("x-ratelimit-remaining", "4999"),
                ]
            ),
            Some(Refused::MissingPermissions(vec![
                Permission::new("contents", "read"),
                Permission::new("issues", "write"),
                Permission::new("metadata", "read"),
            ]))
        );
        assert_eq!(
            refused(403, &[("x-accepted-github-permissions", "")]),
            Some(Refused::MissingPermissions(Vec::new())),
            "the header is the reason even when it names nothing"
        );
        assert_eq!(
            Permission::new("contents", "read").to_string(),
            "contents=read"
        );
    }

    #[test]
    fn sso_gives_the_url_or_the_organizations_withheld() {
        let url = "https://github.com/orgs/octo/sso?authorization_request=A=B;c";
        assert_eq!(
            refused(
                403,
                &[(
                    "x-github-sso",
                    "required; url=https://github.com/orgs/octo/sso?authorization_request=A=B;c"
                )]
            ),
            Some(Refused::SsoRequired {
                url: Some(url.to_owned())
            })
        );
        assert_eq!(
            refused(403, &[("x-github-sso", "required")]),
            Some(Refused::SsoRequired { url: None })
        );
        let withheld = Some(Refused::SsoPartialResults {
            organizations: vec![21_955_855, 20_582_480],
        });
        for status in [200, 403] {
            assert_eq!(
                refused(
                    status,
                    &[(
                        "x-github-sso",
                        "partial-results; organizations=21955855, 20582480,x"
                    )]
                ),
                withheld,
                "{status}"
            );
        }
        // On a success only partial results are read.
        assert_eq!(refused(200, &[("x-github-sso", "required; url=u")]), None);
    }

    #[test]
    fn oauth_scopes_count_only_when_the_token_has_none_the_route_takes() {
        assert_eq!(
            refused(
                403,
                &[
                    ("x-accepted-oauth-scopes", "repo, admin:org"),
                    ("x-oauth-scopes", "gist, read:user"),
                ]
            ),
            Some(Refused::OAuthScopes {
                accepted: vec!["repo".into(), "admin:org".into()],
                granted: vec!["gist".into(), "read:user".into()],
            })
        );
        assert_eq!(
            refused(
                403,
                &[("x-accepted-oauth-scopes", "repo"), ("x-oauth-scopes", "")]
            ),
            Some(Refused::OAuthScopes {
                accepted: vec!["repo".into()],
                granted: Vec::new(),
            })
        );
        for unexplained in [
            // The token has one of them: the scopes are not why.
            &[
                ("x-accepted-oauth-scopes", "repo, admin:org"),
                ("x-oauth-scopes", "gist, repo"),
            ][..],
            // The route takes none.
            &[("x-accepted-oauth-scopes", ""), ("x-oauth-scopes", "gist")][..],
            // A token that does not report scopes (an installation token).
            &[("x-accepted-oauth-scopes", "repo")][..],
        ] {
            assert_eq!(
                refused(403, unexplained),
                Some(Refused::Unexplained),
                "{unexplained:?}"
            );
        }
    }

    #[test]
    fn rate_limits_primary_and_secondary() {
        let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for status in [403, 429] {
            assert_eq!(
                refused(
                    status,
                    &[
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "1700000000"),
                        ("x-ratelimit-resource", "search"),
                        ("retry-after", "60"),
                        ("x-accepted-github-permissions", "contents=read"),
                    ]
                ),
                Some(Refused::RateLimited {
                    reset: Some(reset),
                    resource: Some("search".into()),
                }),
                "{status}"
            );
        }
        assert_eq!(
            refused(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "99999999999999999999999"),
                    ("x-ratelimit-resource", " "),
                ]
            ),
            Some(Refused::RateLimited {
                reset: None,
                resource: None,
            })
        );
        assert_eq!(
            refused(
                403,
                &[("retry-after", "60"), ("x-ratelimit-remaining", "10")]
            ),
            Some(Refused::SecondaryRateLimit {
                retry_after: Some(Duration::from_secs(60))
            })
        );
        assert_eq!(
            refused(429, &[]),
            Some(Refused::SecondaryRateLimit { retry_after: None })
        );
        assert_eq!(
            refused(429, &[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")]),
            Some(Refused::SecondaryRateLimit { retry_after: None })
        );
    }

    #[test]
    fn a_401_is_bad_credentials_and_a_bare_403_unexplained() {
        assert_eq!(
            refused(
                401,
                &[("x-ratelimit-remaining", "0"), ("x-github-sso", "required")]
            ),
            Some(Refused::BadCredentials)
        );
        assert_eq!(
            refused(403, &[("x-ratelimit-remaining", "4999")]),
            Some(Refused::Unexplained)
        );
        for status in [200, 204, 304, 404, 422, 500] {
            assert_eq!(
                refused(status, &[("x-ratelimit-remaining", "0")]),
                None,
                "{status}"
            );
        }
        let response = http::Response::builder().status(401).body(()).unwrap();
        assert_eq!(Refused::of(&response), Some(Refused::BadCredentials));
    }

    #[test]
    fn values_that_are_not_text_are_left_out() {
        let mut map = HeaderMap::new();
        map.append(
            ACCEPTED_PERMISSIONS,
            HeaderValue::from_bytes(b"contents=\xffread").unwrap(),
        );
        map.append(
            ACCEPTED_PERMISSIONS,
            HeaderValue::from_static("issues=read"),
        );
        assert_eq!(
            Refused::from_parts(StatusCode::FORBIDDEN, &map),
            Some(Refused::MissingPermissions(vec![Permission::new(
                "issues", "read"
            )]))
        );
        let mut map = HeaderMap::new();
        map.append(SSO, HeaderValue::from_bytes(b"\xfe").unwrap());
        assert_eq!(
            Refused::from_parts(StatusCode::FORBIDDEN, &map),
            Some(Refused::SsoRequired { url: None })
        );
    }

    /// A header name GitHub's refusals use, or another one.
    fn any_name() -> impl Strategy<Value = HeaderName> {
        prop_oneof![
            Just(ACCEPTED_PERMISSIONS),
            Just(SSO),
            Just(RATE_LIMIT_REMAINING),
            Just(RATE_LIMIT_RESET),
            Just(RATE_LIMIT_RESOURCE),
            Just(ACCEPTED_OAUTH_SCOPES),
            Just(OAUTH_SCOPES),
            Just(RETRY_AFTER),
            "x-[a-z-]{1,20}".prop_map(|name| HeaderName::try_from(name).unwrap()),
        ]
    }

    /// Header bytes a peer may send: text GitHub's values are made of, and any other byte a
    /// header value may hold.
    fn any_value() -> impl Strategy<Value = HeaderValue> {
        prop_oneof![
            "[a-z0-9=,;: ./?_-]{0,60}".prop_map(|v| HeaderValue::try_from(v).unwrap()),
            proptest::collection::vec(
                any::<u8>().prop_filter("a header value byte", |b| *b == b'\t'
                    || (*b >= 0x20 && *b != 0x7f)),
                0..40
            )
            .prop_map(|v| HeaderValue::from_bytes(&v).unwrap()),
        ]
    }

    proptest! {
        /// Nothing a peer sends panics the reading, and the lag decision agrees with it: a 403
        /// is taken for lag exactly when the reading finds no reason.
        #[test]
        fn any_answer_is_read_without_panic_and_agrees_with_the_lag_decision(
            status in 100..600_u16,
            pairs in proptest::collection::vec((any_name(), any_value()), 0..10),
        ) {
            let status = StatusCode::from_u16(status).unwrap();
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(name, value);
            }
            let reading = Refused::from_parts(status, &map);
            if status == StatusCode::FORBIDDEN {
                prop_assert_eq!(
                    Refusal::of(status, &map) == Some(Refusal::Unexplained),
                    reading == Some(Refused::Unexplained)
                );
            }
            if status.is_success() {
                let withheld = matches!(reading, None | Some(Refused::SsoPartialResults { .. }));
                prop_assert!(withheld, "{:?}", reading);
            }
        }

        /// Permissions given are read back as given.
        #[test]
        fn permissions_read_back(
            given in proptest::collection::vec(("[a-z_]{1,20}", "(read|write|admin)"), 1..6),
        ) {
            let list = given
                .iter()
                .map(|(name, level)| format!("{name}={level}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut map = HeaderMap::new();
            map.append(ACCEPTED_PERMISSIONS, HeaderValue::try_from(list).unwrap());
            let expected = given
                .iter()
                .map(|(name, level)| Permission::new(name.as_str(), level.as_str()))
                .collect::<Vec<_>>();
            prop_assert_eq!(
                Refused::from_parts(StatusCode::FORBIDDEN, &map),
                Some(Refused::MissingPermissions(expected))
            );
        }

        /// Organization ids given are read back as given.
        #[test]
        fn organizations_read_back(ids in proptest::collection::vec(any::<u64>(), 0..8)) {
            let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let mut map = HeaderMap::new();
            map.append(
                SSO,
                HeaderValue::try_from(format!("partial-results; organizations={list}")).unwrap(),
            );
            prop_assert_eq!(
                Refused::from_parts(StatusCode::OK, &map),
                Some(Refused::SsoPartialResults { organizations: ids })
            );
        }

        /// Whatever else a 403 carries, naming a reason keeps it from being taken for lag.
        #[test]
        fn a_named_reason_always_wins(
            reason in 0..4_usize,
            value in "[ -~]{0,40}",
            others in proptest::collection::vec(("x-[a-z-]{1,20}", "[ -~]{0,20}"), 0..8),
        ) {
            let mut map = HeaderMap::new();
            for (name, other) in &others {
                if let (Ok(name), Ok(other)) =
                    (HeaderName::try_from(name.as_str()), HeaderValue::try_from(other.as_str()))
                {
                    map.append(name, other);
                }
            }
            let (name, value) = match reason {
                0 => (ACCEPTED_PERMISSIONS, value.as_str()),
                1 => (SSO, value.as_str()),
                2 => (RETRY_AFTER, value.as_str()),
                _ => (RATE_LIMIT_REMAINING, "0"),
            };
            map.append(name, HeaderValue::try_from(value).unwrap());
            prop_assert_eq!(Refusal::of(StatusCode::FORBIDDEN, &map), None);
        }
    }
}
