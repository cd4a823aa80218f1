//! What GitHub's answer says about the credential a request carried, read from its status and
//! headers alone.
//!
//! A 401 says the credential is not good (or, for a token minted moments ago, not replicated
//! yet). A 403 is GitHub keeping a good credential out, and it usually says why: the permission
//! the request needed (`X-Accepted-GitHub-Permissions`), the organization's SAML SSO
//! (`X-GitHub-SSO`), or a spent rate limit (`x-ratelimit-remaining: 0`, `Retry-After`). A 403
//! that says none of that is what a token GitHub has not replicated yet may get.

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, StatusCode};

/// The permission a 403 was missing, e.g. `contents=read`.
const ACCEPTED_PERMISSIONS: HeaderName = HeaderName::from_static("x-accepted-github-permissions");
/// A token not authorized for an organization's SAML single sign-on.
const SSO: HeaderName = HeaderName::from_static("x-github-sso");
/// The requests left in the rate-limit window.
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// How GitHub refused the credential a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401: the credential is not good, or a fresh token is not replicated yet.
    Unauthorized,
    /// 403 that says nothing of a permission, SSO or rate limit: a fresh token may not be
    /// replicated yet; an older one is refused for a reason that is not ours to judge. A guess:
    /// GitHub may also send a secondary rate limit's 403 without `Retry-After` (its docs: then
    /// wait a minute); a fresh token's request meeting one is replayed within the same bounds
    /// as a lag 401 (three pauses, 3 s in all) before the 403 reaches the caller.
    Unexplained,
}

impl Refusal {
    /// How the answer refused the credential; `None` when it says nothing against it: any status
    /// but 401 and 403 (429 included), or a 403 that names its reason (the credential is good;
    /// it lacks a permission, SSO or budget). Only a 403's headers are read.
    #[inline]
    pub(crate) fn of(status: StatusCode, headers: &HeaderMap) -> Option<Self> {
        match status {
            StatusCode::UNAUTHORIZED => Some(Self::Unauthorized),
            StatusCode::FORBIDDEN if !says_why(headers) => Some(Self::Unexplained),
            _ => None,
        }
    }
}

/// Whether a 403's headers name why a good credential was refused.
fn says_why(headers: &HeaderMap) -> bool {
    headers.contains_key(ACCEPTED_PERMISSIONS)
        || headers.contains_key(SSO)
        || headers.contains_key(RETRY_AFTER)
        || headers
            .get_all(RATE_LIMIT_REMAINING)
            .iter()
            .any(|left| left.as_bytes().trim_ascii() == b"0")
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

    proptest! {
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
