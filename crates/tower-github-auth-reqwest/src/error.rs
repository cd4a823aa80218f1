//! What can go wrong between an `http::Request` and reqwest.

use http::StatusCode;

/// The error of [`ReqwestService`](crate::ReqwestService): reqwest's own failures, and the ways
/// an `http::Request` or a client does not fit. Behind one of tower-github-auth's layers it
/// comes back as `tower_github_auth::Error::Inner` (downcast it with `inner_error()`).
///
/// No variant shows a URL: a path can carry a secret (an App manifest's code is one), so
/// reqwest's errors are kept without theirs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reqwest client could not be built (`ReqwestService::from_builder`): a TLS backend
    /// that failed to start, a bad proxy or certificate setting. Fix the builder's settings.
    #[error("the reqwest client could not be built: {0}")]
    Build(#[source] reqwest::Error),
    /// The request cannot be turned into a reqwest request: its URI is not an absolute `http`
    /// or `https` URL. Send a bare path (`/repos/octo/one`) through one of the layers, which
    /// resolves it against the GitHub API, or an absolute URL.
    #[error("the request's URI is not an absolute http(s) URL reqwest can send: {0}")]
    InvalidRequest(#[source] reqwest::Error),
    /// reqwest sent nothing or got no answer: connection refused, TLS handshake, a timeout set
    /// on the client, an answer that is not HTTP. Check the network and the client's settings;
    /// the request may be tried again.
    #[error("reqwest got no answer: {0}")]
    Transport(#[source] reqwest::Error),
    /// The client followed a redirect, so the answer is not the requested URL's and the request
    /// (with its body) went on to wherever the `Location` said. A client under the layers must
    /// not follow redirects, or a token exchange could send its form to another host: build it
    /// with `redirect(reqwest::redirect::Policy::none())` (`ReqwestService::from_builder` does),
    /// and follow redirects above the authentication layer (tower-http's `FollowRedirectLayer`),
    /// where each hop meets the layer's host pin again.
    #[error(
        "the reqwest client followed a redirect (final answer {status}): build it with \
         redirect(Policy::none()), and follow redirects above the authentication layer"
    )]
    Redirected {
        /// The status of the answer at the end of the redirects.
        status: StatusCode,
    },
}
