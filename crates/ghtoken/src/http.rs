//! The HTTP client every command sends through: hyper-util over hyper-rustls (https, and plain
//! http for the emulator or a loopback proxy), wrapped in [`Logged`], which reports each request
//! on stderr under `--verbose` without showing a secret.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_github_auth::BoxError;
use tower_service::Service;

/// The client the layers wrap and send their exchanges through.
pub(crate) type Client = Logged<HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>>;

/// The response body of [`Client`].
pub(crate) type Body = hyper::body::Incoming;

/// Builds the client: TLS with the Web PKI roots, plain http allowed.
///
/// rustls on aws-lc-rs, named here rather than rustls's process default: with a second provider
/// compiled in (another crate in the build turning on rustls's `ring`), the default cannot be
/// chosen and building the connector would panic.
pub(crate) fn client(verbose: bool) -> Client {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        .expect("aws-lc-rs's provider supports rustls's default protocol versions")
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Logged {
        inner: HyperClient::builder(TokioExecutor::new()).build(https),
        verbose,
    }
}

/// A service wrapper that logs each request (method, URL without its query, the credential's
/// scheme, status, time taken) on stderr when `verbose` is on. Secrets never appear: the query
/// string is dropped and the `Authorization` header is shown as its scheme followed by `***`.
#[derive(Clone, Debug)]
pub(crate) struct Logged<S> {
    inner: S,
    verbose: bool,
}

impl<S> Service<Request<Full<Bytes>>> for Logged<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let verbose = self.verbose;
        let line = verbose.then(|| describe(&request));
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await.map_err(Into::into);
            if let Some(line) = line {
                let ms = started.elapsed().as_millis();
                let outcome = match &result {
                    Ok(response) => format!("{} ({ms} ms)", response.status()),
                    Err(error) => format!(
                        "failed after {ms} ms: {}",
                        crate::show::inert(&error.to_string())
                    ),
                };
                crate::show::say(&format!("* {line} -> {outcome}"));
            }
            result
        })
    }
}

/// `POST http://host/path (auth: Bearer ***)`: no query string, no credential.
fn describe<B>(request: &Request<B>) -> String {
    let uri = request.uri();
    let mut line = format!("{} ", request.method());
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        line.push_str(scheme);
        line.push_str("://");
        line.push_str(authority.as_str());
    }
    line.push_str(uri.path());
    if let Some(auth) = request.headers().get(http::header::AUTHORIZATION) {
        let scheme = auth
            .to_str()
            .ok()
            .and_then(|value| value.split_whitespace().next())
            .unwrap_or("?");
        line.push_str(" (auth: ");
        line.push_str(scheme);
        line.push_str(" ***)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn describe_hides_query_and_credential() {
        let request = http::Request::post(
            "https://api.github.com/app/installations/1/access_tokens?secret=x",
        )
        .header("authorization", "Bearer ghs_secret")
        .body(())
        .expect("request");
        let line = describe(&request);
        assert_eq!(
            line,
            "POST https://api.github.com/app/installations/1/access_tokens (auth: Bearer ***)"
        );
        assert!(!line.contains("ghs_secret") && !line.contains("secret=x"));
    }
}
