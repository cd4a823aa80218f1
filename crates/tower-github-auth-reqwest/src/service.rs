//! [`ReqwestService`]: a `reqwest::Client` as the `tower::Service<http::Request<B>>` the layers
//! wrap, and its future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use pin_project_lite::pin_project;
use reqwest::redirect::Policy;
use reqwest::{ResponseBuilderExt as _, Url};
use tower_service::Service;

use crate::error::Error;

/// reqwest's own future for a request in flight (`Client::execute`'s).
type Pending = <reqwest::Client as Service<reqwest::Request>>::Future;

/// A `reqwest::Client` as a `tower::Service<http::Request<B>>`, to put tower-github-auth's
/// layers over: every request, and every token exchange the layers make, is sent by this
/// client (its connection pool, TLS, proxy, timeouts, default headers).
///
/// Requests are `http::Request<B>`, `B` one body type reqwest takes: `Bytes` unless
/// [`request_body`](Self::request_body) says otherwise. The minting layers build their
/// exchanges' bodies from `Bytes`, so under them use `Bytes`, `Vec<u8>` or `reqwest::Body`:
/// `Bytes` and `Vec<u8>` are copied for a replay after a 401 out of the box, a `reqwest::Body`
/// with [`copy_reqwest_body`](crate::copy_reqwest_body). Answers are
/// `http::Response<reqwest::Body>`; `reqwest::Response::from(answer)` turns one back into
/// reqwest's `Response` (`text()`, `bytes()`, `json()`, `url()`).
///
/// The client must not follow redirects (a token exchange's form would follow a `307` to
/// another host): [`from_builder`](Self::from_builder) turns them off; a client given to
/// [`new`](Self::new) that follows one fails that request with [`Error::Redirected`].
///
/// ```
/// use bytes::Bytes;
/// use tower::{ServiceBuilder, ServiceExt};
/// use github_auth_emulator::{DEFAULT_PAT, Emulator};
/// use tower_github_auth::{Endpoints, TokenAuth};
/// use tower_github_auth_reqwest::ReqwestService;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let emulator = Emulator::start().await?; // a loopback GitHub
/// let reqwest = ReqwestService::from_builder(reqwest::Client::builder())?;
/// let github = ServiceBuilder::new()
///     .layer(TokenAuth::new(DEFAULT_PAT)?.endpoints(Endpoints::single(&emulator.base_url())?))
///     .service(reqwest);
/// let answer = github
///     .oneshot(http::Request::get("/user").body(Bytes::new())?)
///     .await?;
/// let answer = reqwest::Response::from(answer);
/// assert_eq!(answer.status(), 200);
/// assert!(answer.text().await?.contains("octocat"));
/// # Ok(())
/// # }
/// ```
pub struct ReqwestService<B = Bytes> {
    client: reqwest::Client,
    // The request body type, one per service as hyper-util's `Client<C, B>` has, so that the
    // layers' exchanges (`fetch_token(&service)`, ...) know which body to build. `fn` keeps the
    // service `Send + Sync` whatever `B` is.
    body: PhantomData<fn(B) -> B>,
}

impl ReqwestService {
    /// Sends through `client`, which must follow no redirects: build it with
    /// `redirect(reqwest::redirect::Policy::none())`. One that follows a redirect fails that
    /// request with [`Error::Redirected`] (after the request went on to the `Location`).
    /// Requests have `Bytes` bodies ([`request_body`](Self::request_body) for another type).
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            body: PhantomData,
        }
    }

    /// Builds the client from `builder` (your timeouts, proxy, TLS settings), with redirects
    /// off whatever the builder said. Requests have `Bytes` bodies
    /// ([`request_body`](Self::request_body) for another type).
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, Error> {
        let client = builder
            .redirect(Policy::none())
            .build()
            .map_err(Error::Build)?;
        Ok(Self::new(client))
    }
}

impl<B> ReqwestService<B> {
    /// The same client, for requests with bodies of type `B2` (`Vec<u8>`, `reqwest::Body`, ...):
    /// `ReqwestService::new(client).request_body::<reqwest::Body>()`.
    pub fn request_body<B2>(self) -> ReqwestService<B2> {
        ReqwestService {
            client: self.client,
            body: PhantomData,
        }
    }

    /// The client every request goes through, also for requests that need no GitHub credential.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl<B> Clone for ReqwestService<B> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for ReqwestService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestService")
            .field("client", &self.client)
            .field("body", &std::any::type_name::<B>())
            .finish()
    }
}

impl<B> Service<http::Request<B>> for ReqwestService<B>
where
    B: Into<reqwest::Body>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A `reqwest::Client` is always ready (its pool waits inside the call).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match reqwest::Request::try_from(req) {
            Ok(req) => {
                let url = req.url().clone();
                ResponseFuture {
                    state: State::Sending {
                        pending: self.client.call(req),
                        url: Some(url),
                    },
                }
            }
            Err(error) => ResponseFuture {
                state: State::Failed {
                    error: Some(Error::InvalidRequest(error.without_url())),
                },
            },
        }
    }
}

pin_project! {
    /// The future of [`ReqwestService`]'s answer.
    pub struct ResponseFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Sending {
            #[pin]
            pending: Pending,
            // The URL asked for: the answer's must be the same (no redirect followed).
            url: Option<Url>,
        },
        Failed {
            error: Option<Error>,
        },
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL: a path can carry a secret.
        let state = match self.state {
            State::Sending { .. } => "sending",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<reqwest::Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sending { pending, url } => {
                let response = match std::task::ready!(pending.poll(cx)) {
                    Ok(response) => response,
                    Err(error) => return Poll::Ready(Err(Error::Transport(error.without_url()))),
                };
                let Some(url) = url.take() else {
                    panic!("ResponseFuture polled after completion");
                };
                if *response.url() != url {
                    return Poll::Ready(Err(Error::Redirected {
                        status: response.status(),
                    }));
                }
                Poll::Ready(Ok(into_http(response, url)))
            }
            StateProj::Failed { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

/// reqwest's answer as an `http::Response`, carrying its URL the way reqwest's own conversion
/// back (`reqwest::Response::from`) looks for it.
fn into_http(response: reqwest::Response, url: Url) -> http::Response<reqwest::Body> {
    let mut response = http::Response::from(response);
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        response
            .extensions_mut()
            .extend(carrier.into_parts().0.extensions);
    }
    response
}
