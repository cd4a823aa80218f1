//! What the layers need of the HTTP client they wrap, named once.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::error::BoxError;

/// The HTTP clients the minting layers wrap, and send their token exchanges through: any
/// cloneable `tower::Service<http::Request<B>>` answering `http::Response<RB>`, such as a
/// hyper-util client. Implemented for every such service; you never implement it.
///
/// Layers that mint credentials ([`AppInstallationAuth`](crate::AppInstallationAuth), the OAuth
/// user layers, ...) send their token exchanges through a clone of the inner service, so they
/// need a cloneable service and a request body they can build. Layers with a fixed credential
/// ([`TokenAuth`](crate::TokenAuth), [`Unauthenticated`](crate::Unauthenticated), ...) need
/// neither.
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower_github_auth::{HttpClient, RequestBody, ResponseBody};
///
/// fn takes_a_client<S, B, RB>(_client: &S)
/// where
///     S: HttpClient<B, RB>,
///     B: RequestBody,
///     RB: ResponseBody,
/// {
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// takes_a_client(&client);
/// # }
/// ```
pub trait HttpClient<B, RB>:
    Service<Request<B>, Response = Response<RB>, Error: Into<BoxError>, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S, B, RB> HttpClient<B, RB> for S
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
}

/// A request body the layers can build a token exchange with (`Full<Bytes>`, axum's `Body`,
/// `String`, ...): anything made `From<Bytes>`. Implemented for every such type.
pub trait RequestBody: From<Bytes> + Send + 'static {}

impl<B: From<Bytes> + Send + 'static> RequestBody for B {}

/// A response body the layers can read an exchange's answer from (hyper's `Incoming`,
/// `Full<Bytes>`, ...). Implemented for every such type.
pub trait ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<RB> ResponseBody for RB
where
    RB: Body + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<BoxError>,
{
}
