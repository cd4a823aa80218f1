//! [`Error`]: why a webhook delivery was refused, and the status it is answered with.

use std::time::Duration;

use http::StatusCode;

/// Why a delivery was refused (or a store call failed). Every message says what happened and
/// what to do; none contains the body, a signature or a secret.
///
/// The layer answers a refusal with [`status`](Error::status) and an empty body (the answer
/// never says which check failed) and logs the message at `warn` with the delivery id.
///
/// ```
/// use http::StatusCode;
/// use tower_github_webhooks::Error;
///
/// assert_eq!(Error::SignatureMismatch.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(Error::TooLarge { limit: 10 }.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header GitHub always sends is missing.
    #[error(
        "the {0} header is missing: is the sender GitHub (or is a proxy dropping X-GitHub-* headers)?"
    )]
    MissingHeader(&'static str),

    /// A header is there but not in GitHub's shape (not visible ASCII, too long, not a number).
    #[error("the {0} header is malformed: GitHub sends it in another shape; is the sender GitHub?")]
    InvalidHeader(&'static str),

    /// `X-Hub-Signature-256` is missing.
    #[error(
        "the X-Hub-Signature-256 header is missing: set a webhook secret in the App's settings \
         (GitHub signs only when one is set)"
    )]
    MissingSignature,

    /// `X-Hub-Signature-256` is not `sha256=` followed by 64 hexadecimal digits.
    #[error(
        "the X-Hub-Signature-256 header is not `sha256=` and 64 hexadecimal digits: the sender is \
         not GitHub, or a proxy rewrote the header"
    )]
    MalformedSignature,

    /// The signature matches none of the secrets.
    #[error(
        "the signature matches none of the configured secrets: check the webhook secret in the \
         App's settings against the layer's (during a rotation configure both, new first), and \
         that nothing between GitHub and this service rewrites the body"
    )]
    SignatureMismatch,

    /// The body is larger than the limit.
    #[error(
        "the body is larger than the limit of {limit} bytes: GitHub sends at most 25 MiB; raise \
         `body_limit` if a smaller limit was configured on purpose"
    )]
    TooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },

    /// Reading the body failed (the connection broke, or the body is not a valid stream).
    #[error("reading the body failed: the sender closed the connection or sent a broken body")]
    Body,

    /// The body did not arrive within the read timeout.
    #[error(
        "the body did not arrive within {0:?} (`body_timeout`): the sender is slow or stalled; \
         GitHub gives up after 10 s itself"
    )]
    BodyTimeout(Duration),

    /// The (verified) body is not a JSON object with GitHub's `installation.id` and `action`
    /// shapes: the App's webhook content type must be `application/json`.
    #[error(
        "the payload is not JSON in GitHub's shape (line {line}, column {column}): set the \
         webhook's content type to application/json"
    )]
    InvalidPayload {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
    },

    /// The delivery store failed or did not answer in time, and the policy is
    /// [`StoreUnavailable::Refuse`](crate::StoreUnavailable::Refuse).
    #[error(
        "the delivery store did not answer ({detail}): the delivery is refused with 503 so that \
         it is delivered again; check the store, or choose StoreUnavailable::ProcessAnyway"
    )]
    StoreUnavailable {
        /// What the store said (never a key's content beyond its hash).
        detail: String,
    },
}

impl Error {
    /// The status a refusal is answered with: 401 for a missing, malformed or wrong signature,
    /// 413 for a body over the limit, 408 for a body that did not arrive in time, 503 when the
    /// store is away under [`StoreUnavailable::Refuse`](crate::StoreUnavailable::Refuse), 400 for
    /// the rest (a missing or malformed header, an unreadable body, a payload that is not JSON).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingSignature | Self::MalformedSignature | Self::SignatureMismatch => {
                StatusCode::UNAUTHORIZED
            }
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingHeader(_)
            | Self::InvalidHeader(_)
            | Self::Body
            | Self::InvalidPayload { .. } => StatusCode::BAD_REQUEST,
        }
    }
}
