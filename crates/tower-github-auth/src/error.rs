//! The crate's one error type.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::rate_limit::Resource;
use crate::subject::Subject;

/// A boxed error, as tower services commonly return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error shared between every request that waited on the same exchange.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// Which side request to GitHub (or, for [`JwtSigning`](Self::JwtSigning), which call to the
/// App's JWT signer) an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exchange {
    /// `POST /app/installations/{id}/access_tokens`.
    InstallationToken,
    /// `GET /repos/{owner}/{repo}/installation` and its organisation and user siblings.
    InstallationLookup,
    /// The OAuth web-flow code exchange.
    CodeExchange,
    /// A refresh of an expiring user token.
    Refresh,
    /// `POST /login/device/code`.
    DeviceCode,
    /// A device-flow poll of `/login/oauth/access_token`.
    DevicePoll,
    /// `POST /applications/{client_id}/token` (check a user token).
    TokenCheck,
    /// `PATCH /applications/{client_id}/token` (reset a user token).
    TokenReset,
    /// `DELETE /applications/{client_id}/token` (delete a user token).
    TokenDelete,
    /// `DELETE /installation/token` (revoke an installation token).
    TokenRevocation,
    /// `GET /app/installations` (list the App's installations).
    InstallationList,
    /// `POST /app-manifests/{code}/conversions` (create an App from a manifest).
    ManifestConversion,
    /// The signature of the App's JWT by its [`JwtSigner`](crate::JwtSigner) (its private key,
    /// or a KMS, Vault or an HSM): not a request to GitHub.
    JwtSigning,
}

impl Exchange {
    /// Whether this side request may be sent again after a server error or no answer: it spends
    /// nothing single-use (a refresh token, an OAuth or manifest code, a device poll's interval),
    /// so a second try can only do what the first would have.
    pub(crate) fn resendable(self) -> bool {
        matches!(
            self,
            Self::InstallationToken
                | Self::InstallationLookup
                | Self::InstallationList
                | Self::DeviceCode
                | Self::TokenCheck
                | Self::TokenDelete
                | Self::TokenRevocation
        )
    }

    /// Who answers this exchange, for error messages.
    fn counterpart(self) -> &'static str {
        match self {
            Self::JwtSigning => "the JWT signer (its KMS, Vault or HSM, or the network to it)",
            _ => "GitHub (or the network to it)",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InstallationToken => "installation token exchange",
            Self::InstallationLookup => "installation lookup",
            Self::CodeExchange => "OAuth code exchange",
            Self::Refresh => "user token refresh",
            Self::DeviceCode => "device code request",
            Self::DevicePoll => "device flow poll",
            Self::TokenCheck => "token check",
            Self::TokenReset => "token reset",
            Self::TokenDelete => "token deletion",
            Self::TokenRevocation => "installation token revocation",
            Self::InstallationList => "installation listing",
            Self::ManifestConversion => "manifest conversion",
            Self::JwtSigning => "App JWT signing",
        })
    }
}

/// Why a user token cannot be refreshed ([`Error::RefreshImpossible`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefreshImpossible {
    /// There is no refresh token: only the expiring user tokens of GitHub Apps have one.
    NoRefreshToken,
    /// The refresh token has expired.
    RefreshTokenExpired,
    /// There is neither an access token nor a refresh token.
    NoToken,
    /// With a [`TokenStore`](crate::TokenStore): GitHub already refused this refresh token
    /// (another replica of the fleet spent it), and the store does not hold the pair that
    /// replaced it yet, so it is not sent again. Often temporary: the next request reads the
    /// store again. If the newer pair never appears (its replica died before saving it), send
    /// the user through the login flow again.
    RefreshTokenSpent,
}

impl fmt::Display for RefreshImpossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRefreshToken => {
                "there is no refresh token (only the expiring user tokens of GitHub Apps have \
                 one); send the user through the login flow again"
            }
            Self::RefreshTokenExpired => {
                "the refresh token has expired; send the user through the login flow again"
            }
            Self::NoToken => {
                "there is neither an access token nor a refresh token; send the user through the \
                 login flow again"
            }
            Self::RefreshTokenSpent => {
                "another replica spent the refresh token and its newer pair is not in the store \
                 yet; the next request reads the store again (send the user through the login \
                 flow again if the pair never appears)"
            }
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// [`Error::Inner`] is the one variant that is not ours: the inner service failed on the caller's
/// own request. Every other variant is about authentication, and says what to do about it.
/// The type is `Clone` because one failed exchange is reported to every request that waited on it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The inner service (your HTTP client) failed on your request. Not an authentication problem.
    #[error("the inner service failed: {0}")]
    Inner(#[source] SharedError),

    /// A base URL could not be used as a GitHub endpoint.
    #[error(
        "invalid GitHub base URL `{url}`: {reason}; give an absolute http(s) URL such as \
         https://api.github.com or https://github.example.com"
    )]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The App's private key could not be used.
    #[error(
        "invalid GitHub App private key: {reason}. Give the PEM file GitHub generated for the app \
         (PKCS#1, `-----BEGIN RSA PRIVATE KEY-----`), a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) \
         or that RSA key in OpenSSH's format without a passphrase \
         (`-----BEGIN OPENSSH PRIVATE KEY-----`)"
    )]
    InvalidPrivateKey {
        /// What is wrong with it.
        reason: String,
    },

    /// A token or secret cannot be sent in an HTTP header.
    #[error(
        "the {what} contains characters that cannot be sent in an HTTP header; \
         look for a trailing newline or quotes around it"
    )]
    InvalidCredential {
        /// Which credential.
        what: &'static str,
    },

    /// `ActionAuth` found no token in the environment.
    #[error(
        "no GitHub Actions token in the environment: set GITHUB_TOKEN (for example \
         `env: GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}`) or pass the `github_token` input \
         (INPUT_GITHUB_TOKEN)"
    )]
    MissingActionsToken,

    /// GitHub answered a side request with an error status.
    ///
    /// The message names GitHub's request id when GitHub sent one: give it to GitHub support.
    #[error(
        "GitHub refused the {exchange}{} with HTTP {status}: {message}{}",
        for_subject(subject.as_deref()),
        request_id.as_deref().map(|id| format!(" (GitHub request id {id})")).unwrap_or_default()
    )]
    GitHub {
        /// The side request.
        exchange: Exchange,
        /// GitHub's status code.
        status: StatusCode,
        /// GitHub's `message`, or the start of the body.
        message: String,
        /// GitHub's `x-github-request-id`, which GitHub support asks for.
        request_id: Option<String>,
        /// The `documentation_url` of GitHub's JSON error body.
        documentation_url: Option<String>,
        /// GitHub's `Retry-After`: wait this long before asking again. The exchange backoff
        /// never tries sooner.
        retry_after: Option<Duration>,
        /// GitHub's `x-ratelimit-reset` (GitHub's clock): when the spent rate limit comes back.
        /// The exchange backoff never tries sooner. Only when GitHub said the budget is spent
        /// (`x-ratelimit-remaining: 0`): it sends the header on every answer.
        rate_limit_reset: Option<SystemTime>,
        /// Who the exchange was for: [`Error::subject`].
        subject: Option<Box<Subject>>,
    },

    /// GitHub answered an OAuth request with an `error` field (often under HTTP 200).
    #[error(
        "GitHub refused the {exchange}{}: {error}{}{}",
        for_subject(subject.as_deref()),
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
        request_id.as_deref().map(|id| format!(" (GitHub request id {id})")).unwrap_or_default()
    )]
    OAuth {
        /// The side request.
        exchange: Exchange,
        /// GitHub's `error` code, such as `bad_verification_code` or `bad_refresh_token`.
        error: String,
        /// GitHub's `error_description`.
        description: Option<String>,
        /// GitHub's `error_uri`.
        uri: Option<String>,
        /// GitHub's `x-github-request-id`, which GitHub support asks for.
        request_id: Option<String>,
        /// Who the exchange was for: [`Error::subject`].
        subject: Option<Box<Subject>>,
    },

    /// A side request could not be sent, or its answer not received.
    #[error("the {exchange}{} could not reach GitHub: {source}", for_subject(subject.as_deref()))]
    Transport {
        /// The side request.
        exchange: Exchange,
        /// What the inner service reported.
        #[source]
        source: SharedError,
        /// Who the exchange was for: [`Error::subject`].
        subject: Option<Box<Subject>>,
    },

    /// GitHub's answer to a side request could not be understood.
    #[error(
        "GitHub's answer to the {exchange}{} could not be read: {reason}",
        for_subject(subject.as_deref())
    )]
    InvalidResponse {
        /// The side request.
        exchange: Exchange,
        /// What was wrong with it.
        reason: String,
        /// Who the exchange was for: [`Error::subject`].
        subject: Option<Box<Subject>>,
    },

    /// GitHub did not answer a side request (answer read) within the exchange deadline, or the
    /// JWT signer did not sign within it ([`Exchange::JwtSigning`]).
    #[error(
        "the {exchange}{} got no complete answer within {after:?}; {} is slow or hung: the \
         next attempt is a new exchange (raise `exchange_timeout` if it is just slow)",
        for_subject(subject.as_deref()),
        exchange.counterpart()
    )]
    Timeout {
        /// The side request.
        exchange: Exchange,
        /// The deadline that passed.
        after: Duration,
        /// Who the exchange was for: [`Error::subject`].
        subject: Option<Box<Subject>>,
    },

    /// The App's [`JwtSigner`](crate::JwtSigner) failed to sign a JWT (a KMS refused, was
    /// unreachable, the key is disabled), or returned an empty signature.
    #[error(
        "the App's JWT could not be signed by the signer of key `{key_id}`: {source}. The signer \
         must sign RS256 (RSASSA-PKCS1-v1_5, SHA-256) with the App's private key, and its \
         service must be reachable and allow this caller to sign (check its credentials, \
         permissions and the key's state); the next attempt, after a backoff, signs anew"
    )]
    Signer {
        /// The signer's [`key_id`](crate::JwtSigner::key_id).
        key_id: String,
        /// What the signer reported.
        #[source]
        source: SharedError,
    },

    /// A layer that exchanges or refreshes tokens was used outside a Tokio runtime.
    #[error(
        "tower-github-auth needs a Tokio runtime to run its token exchanges: call it from inside \
         one (`#[tokio::main]`, `Runtime::block_on`)"
    )]
    NoRuntime,

    /// The last exchange failed and the next attempt waits for a backoff; this request was not sent.
    ///
    /// [`Error::root`] is the last attempt's error (its message is also part of this one's, so
    /// it is not this error's `source`, which would print it twice); the accessors
    /// ([`Error::status`], [`Error::subject`], [`Error::is_rate_limited`], ...) read through.
    #[error(
        "not retrying yet after {failures} failed attempt(s); the next one is allowed in {retry_in:?}; \
         last error: {last}"
    )]
    Backoff {
        /// Failed attempts in a row.
        failures: u32,
        /// When the next attempt is allowed.
        retry_in: Duration,
        /// The error of the last attempt.
        last: Box<Error>,
    },

    /// The caller's `on_refresh` hook failed, so the new token set was not used.
    #[error("the on_refresh hook failed, so the new token set is not used: {0}")]
    Hook(#[source] SharedError),

    /// The `state` returned to an OAuth callback is not the one that was issued.
    #[error("the OAuth `state` in the callback does not match the one issued; refuse this login")]
    StateMismatch,

    /// A user token cannot be refreshed now ([`RefreshImpossible`] says why, and what to do).
    #[error("the user token cannot be refreshed: {reason}")]
    RefreshImpossible {
        /// Why.
        reason: RefreshImpossible,
    },

    /// A path given to this crate cannot be used in a URL.
    #[error(
        "`{path}` cannot be used as a GitHub URL path: give a path that starts with `/` and has \
         only URL characters (percent-encode the rest)"
    )]
    InvalidPath {
        /// The path as given.
        path: String,
    },

    /// A background task of this crate ended abnormally.
    #[error("an exchange task was cancelled or panicked; the next request starts a new one")]
    TaskFailed,

    /// No member of a [`Pool`](crate::Pool) can send the request: each has spent its budget
    /// for the request's resource, or is held back by a secondary rate limit. The request was
    /// not sent. Wait until `until`, add credentials to the pool, or send less.
    #[error(
        "no credential of the pool has `{resource}` rate limit left{}; the request was not sent",
        until.map(|at| format!(" (the first comes back at {})", http_date(at))).unwrap_or_default()
    )]
    PoolExhausted {
        /// The budget the request needed.
        resource: Resource,
        /// The earliest time a member can send it again (a budget's reset on GitHub's clock, or
        /// the end of a secondary limit's pause); `None` for a pool without members.
        until: Option<SystemTime>,
    },
}

/// `at` as an HTTP date, or as Unix seconds where no HTTP date can say it (`httpdate` panics
/// from year 10000 on, and `until` comes from the network).
fn http_date(at: SystemTime) -> String {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) if since.as_secs() < crate::rate_limit::LAST_HTTP_DATE => {
            httpdate::fmt_http_date(at)
        }
        Ok(since) => format!("{} s after 1970", since.as_secs()),
        Err(_) => "a time before 1970".to_owned(),
    }
}

/// ` for installation 42 of App 1` in a message, when the subject is known.
fn for_subject(subject: Option<&Subject>) -> String {
    subject.map(|s| format!(" for {s}")).unwrap_or_default()
}

impl Error {
    /// The error behind a [`Backoff`](Self::Backoff): the last attempt's (through nested
    /// backoffs); any other error is its own root.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_github_auth::{Error, Exchange};
    ///
    /// # fn handle(err: Error) {
    /// match err.root() {
    ///     Error::Timeout { .. } => eprintln!("GitHub is slow: {err}"),
    ///     root => eprintln!("{root}"),
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn root(&self) -> &Error {
        match self {
            Self::Backoff { last, .. } => last.root(),
            other => other,
        }
    }

    /// Which side request failed (of the last attempt, for [`Error::Backoff`]); `None` for an
    /// error that is not about an exchange ([`Error::Inner`], a configuration error, ...).
    #[must_use]
    pub fn exchange(&self) -> Option<Exchange> {
        match self.root() {
            Self::GitHub { exchange, .. }
            | Self::OAuth { exchange, .. }
            | Self::Transport { exchange, .. }
            | Self::InvalidResponse { exchange, .. }
            | Self::Timeout { exchange, .. } => Some(*exchange),
            Self::Signer { .. } => Some(Exchange::JwtSigning),
            _ => None,
        }
    }

    /// Who the failed exchange was for: the App, the installation (and its narrowing) or the
    /// user. Set by the layers on every exchange error they return; `None` for errors that are
    /// not about an exchange, and for an exchange called directly (e.g.
    /// [`AppAuth::installations`](crate::AppAuth::installations)).
    #[must_use]
    pub fn subject(&self) -> Option<&Subject> {
        match self.root() {
            Self::GitHub { subject, .. }
            | Self::OAuth { subject, .. }
            | Self::Transport { subject, .. }
            | Self::InvalidResponse { subject, .. }
            | Self::Timeout { subject, .. } => subject.as_deref(),
            _ => None,
        }
    }

    /// Whether GitHub (or the JWT signer) did not answer an exchange within its deadline (the
    /// last attempt, for [`Error::Backoff`]).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self.root(), Self::Timeout { .. })
    }

    /// Whether GitHub refused an exchange for a rate limit: HTTP 429, or a 403 with
    /// `Retry-After` (a secondary limit) or with the budget spent (`x-ratelimit-remaining: 0`);
    /// [`Error::retry_after`] and [`Error::rate_limit_reset`] say when to ask again. Also a
    /// [`PoolExhausted`](Self::PoolExhausted) pool (its `until` says when).
    #[must_use]
    pub fn is_rate_limited(&self) -> bool {
        match self.root() {
            Self::PoolExhausted { .. } => true,
            Self::GitHub {
                status,
                retry_after,
                rate_limit_reset,
                ..
            } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || (*status == StatusCode::FORBIDDEN
                        && (retry_after.is_some() || rate_limit_reset.is_some()))
            }
            _ => false,
        }
    }

    /// Names who the exchange was for, on an exchange error that does not say yet (and on the
    /// last error of a backoff); `subject` runs only then.
    pub(crate) fn with_subject(mut self, subject: impl FnOnce() -> Subject) -> Self {
        match &mut self {
            Self::GitHub { subject: s, .. }
            | Self::OAuth { subject: s, .. }
            | Self::Transport { subject: s, .. }
            | Self::InvalidResponse { subject: s, .. }
            | Self::Timeout { subject: s, .. }
                if s.is_none() =>
            {
                *s = Some(Box::new(subject()));
            }
            Self::Backoff { last, .. } => {
                let inner = std::mem::replace(&mut **last, Self::TaskFailed);
                **last = inner.with_subject(subject);
            }
            _ => {}
        }
        self
    }

    /// GitHub's HTTP status, when GitHub refused a side request.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::GitHub { status, .. } => Some(*status),
            Self::Backoff { last, .. } => last.status(),
            _ => None,
        }
    }

    /// GitHub's `x-github-request-id` for a refused side request or OAuth request (of the last attempt, for
    /// [`Error::Backoff`]): quote it to GitHub support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::GitHub { request_id, .. } | Self::OAuth { request_id, .. } => {
                request_id.as_deref()
            }
            Self::Backoff { last, .. } => last.request_id(),
            _ => None,
        }
    }

    /// How long GitHub asked to wait (`Retry-After`) before its refused side request is sent
    /// again (of the last attempt, for [`Error::Backoff`], whose `retry_in` is the wait in force).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::GitHub { retry_after, .. } => *retry_after,
            Self::Backoff { last, .. } => last.retry_after(),
            _ => None,
        }
    }

    /// When GitHub said the spent rate limit comes back (`x-ratelimit-reset`, GitHub's clock), for
    /// a refused side request (of the last attempt, for [`Error::Backoff`]).
    pub fn rate_limit_reset(&self) -> Option<SystemTime> {
        match self {
            Self::GitHub {
                rate_limit_reset, ..
            } => *rate_limit_reset,
            Self::Backoff { last, .. } => last.rate_limit_reset(),
            _ => None,
        }
    }

    /// GitHub's OAuth `error` code, such as `bad_refresh_token`.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::OAuth { error, .. } => Some(error),
            Self::Backoff { last, .. } => last.oauth_error(),
            _ => None,
        }
    }

    /// Whether the inner service failed, rather than authentication.
    pub fn is_inner(&self) -> bool {
        matches!(self, Self::Inner(_))
    }

    /// The inner service's own error, to downcast to its concrete type.
    pub fn inner_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Self::Inner(e) => Some(&**e),
            _ => None,
        }
    }

    pub(crate) fn inner(e: impl Into<BoxError>) -> Self {
        Self::Inner(Arc::from(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time no HTTP date can say (year 10000 on) is shown, never a panic.
    #[test]
    fn an_exhausted_pool_far_ahead_is_shown() {
        for secs in [253_402_300_799, 253_402_300_800, u64::from(u32::MAX) * 100] {
            let err = Error::PoolExhausted {
                resource: Resource::Core,
                until: SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
            };
            assert!(err.to_string().contains("comes back"), "{err}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = Error::OAuth {
            exchange: Exchange::Refresh,
            error: "bad_refresh_token".into(),
            description: Some("The refresh token passed is incorrect or expired.".into()),
            uri: None,
            request_id: None,
            subject: None,
        };
        assert_eq!(e.oauth_error(), Some("bad_refresh_token"));
        assert!(e.to_string().contains("user token refresh"));
        let backoff = Error::Backoff {
            failures: 2,
            retry_in: Duration::from_secs(2),
            last: Box::new(Error::GitHub {
                exchange: Exchange::InstallationToken,
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "boom".into(),
                request_id: Some("C0DE:1234:5678AB:9ABCDE:6750A1B2".into()),
                documentation_url: None,
                retry_after: Some(Duration::from_secs(30)),
                rate_limit_reset: None,
                subject: None,
            }),
        };
        assert_eq!(backoff.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(backoff.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            backoff.request_id(),
            Some("C0DE:1234:5678AB:9ABCDE:6750A1B2")
        );
        let Error::Backoff { last, .. } = &backoff else {
            unreachable!()
        };
        let shown = last.to_string();
        assert!(
            shown.contains("C0DE:1234:5678AB:9ABCDE:6750A1B2") && !shown.contains('\n'),
            "{shown}"
        );
        assert!(
            Error::MissingActionsToken
                .to_string()
                .contains("GITHUB_TOKEN")
        );
        // Debug names the variant (and never holds a secret: no variant carries one).
        assert!(format!("{backoff:?}").starts_with("Backoff"));
        let impossible = Error::RefreshImpossible {
            reason: RefreshImpossible::RefreshTokenExpired,
        };
        assert!(matches!(
            impossible,
            Error::RefreshImpossible {
                reason: RefreshImpossible::RefreshTokenExpired
            }
        ));
        assert!(impossible.to_string().contains("has expired"));
    }
}
