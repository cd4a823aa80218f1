//! [`Pool`]: several credentials behind one service, each request sent with one that has rate
//! limit left for it.

mod future;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::credential::Minted;
use crate::error::Error;
use crate::rate_limit::Resource;
use crate::service::AuthService;

pub use future::PoolFuture;

/// Builds a [`Pool`] from several layers of one strategy: one member per layer, each over a
/// clone of the inner service.
///
/// ```
/// use tower::Layer;
/// use tower_github_auth::{AppAuth, AppId, InstallationId, PoolLayer, PrivateKey};
///
/// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
/// let app = AppAuth::new(AppId(1), key);
/// let pool = PoolLayer::new([1, 2, 3].map(|id| app.as_installation(InstallationId(id))));
/// # let client = tower::service_fn(|_: http::Request<String>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// # });
/// let service = pool.layer(client);
/// assert_eq!(service.members().len(), 3);
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PoolLayer<L> {
    members: Vec<L>,
}

impl<L> PoolLayer<L> {
    /// A pool of these layers (installations of one App, tokens, users), in this order.
    pub fn new(members: impl IntoIterator<Item = L>) -> Self {
        Self {
            members: members.into_iter().collect(),
        }
    }
}

impl<L, S, C> Layer<S> for PoolLayer<L>
where
    L: Layer<S, Service = AuthService<S, C>>,
    S: Clone,
{
    type Service = Pool<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Pool::new(
            self.members
                .iter()
                .map(|member| member.layer(inner.clone())),
        )
    }
}

/// Several credentials behind one service: each request goes out with a member that has rate
/// limit left for the request's [`Resource`] ([`Resource::of_path`]: GraphQL, search, code
/// search, else core).
///
/// - **Choice**: members are tried in turn from a rotating start, so that work spreads over
///   them; a member goes when GitHub has not reported its budget yet, when it has some left (one
///   is taken from the recorded figure at once, so that concurrent requests do not all pick
///   the last unit; the next answer read sets GitHub's figure), or when its window has reset.
///   No lock: one atomic counter, and atomics in each member's record.
/// - **Secondary limits**: a member whose answer is a secondary rate limit (a 429, or a 403 with
///   `Retry-After`; see [`Refused::SecondaryRateLimit`](crate::Refused::SecondaryRateLimit)) is
///   skipped for its `Retry-After`, or 60 s without one. That answer itself goes to the caller:
///   the pool does not replay it.
/// - **None left**: [`Error::PoolExhausted`], with the resource and the earliest time a member
///   comes back; nothing is sent.
/// - **By identity**: GitHub counts per identity (an installation, a user), not per token. A
///   member's budget is its layer's rate-limit record: installations of one App have theirs
///   in the App's token cache, and two token layers of one user share one when built with the
///   same [`RateLimits`](crate::RateLimits) (`rate_limits(..)`); members that share a record
///   share its budget and its pauses.
///
/// A member is an [`AuthService`]: everything a layer does (host pinning, replay after a 401,
/// waiting on replication) happens in the member. A request for another host goes through a
/// member too (without its credential) and takes its turn like any other.
///
/// ```
/// use http_body_util::Full;
/// use tower::{Layer, ServiceExt};
/// use tower_github_auth::{AppAuth, AppId, Endpoints, Error, InstallationId, PoolLayer, PrivateKey, Resource};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // Two requests an hour per installation, for the example.
/// let github = github_auth_emulator::Emulator::builder().rate_limit("core", 2).start().await?;
/// # let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
/// #     .build_http::<Full<bytes::Bytes>>();
/// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
/// let app = AppAuth::new(AppId(1), key).endpoints(Endpoints::single(&github.base_url())?);
/// let pool = PoolLayer::new([1, 2].map(|id| app.as_installation(InstallationId(id)))).layer(client);
///
/// for _ in 0..4 {
///     let request = http::Request::get("/installation/repositories").body(Full::default())?;
///     assert_eq!(pool.clone().oneshot(request).await?.status(), 200);
/// }
/// let request = http::Request::get("/installation/repositories").body(Full::default())?;
/// let Err(Error::PoolExhausted { resource, until }) = pool.clone().oneshot(request).await else {
///     panic!("both budgets are spent");
/// };
/// assert_eq!(resource, Resource::Core);
/// assert!(until.is_some());
/// # Ok(())
/// # }
/// ```
pub struct Pool<S, C = Minted> {
    members: Arc<[AuthService<S, C>]>,
    /// Where the next request starts looking.
    next: Arc<AtomicUsize>,
}

impl<S, C> Clone for Pool<S, C> {
    fn clone(&self) -> Self {
        Self {
            members: Arc::clone(&self.members),
            next: Arc::clone(&self.next),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for Pool<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl<S, C> Pool<S, C> {
    /// A pool of these services (built by layers of one strategy), in this order.
    pub fn new(members: impl IntoIterator<Item = AuthService<S, C>>) -> Self {
        Self {
            members: members.into_iter().collect(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The members, in order (read their [`rate_limit`](AuthService::rate_limit)s).
    pub fn members(&self) -> &[AuthService<S, C>] {
        &self.members
    }

    /// The member to send a request for `resource` with (its budget taken), or when the first
    /// one comes back.
    fn choose(&self, resource: Resource) -> Result<&AuthService<S, C>, Option<SystemTime>> {
        let count = self.members.len();
        if count == 0 {
            return Err(None);
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let mut earliest: Option<SystemTime> = None;
        for offset in 0..count {
            let member = &self.members[(start + offset) % count];
            let record = member.rate_limits_ref();
            let now = member.github_now();
            let back = match record.held_for() {
                Some(held) => now.checked_add(held),
                None if record.take(resource, now) => return Ok(member),
                None => record.spent_until(resource, now),
            };
            if let Some(back) = back {
                earliest = Some(earliest.map_or(back, |first| first.min(back)));
            }
        }
        Err(earliest)
    }
}

impl<S, C, B, RB> Service<Request<B>> for Pool<S, C>
where
    AuthService<S, C>: Service<Request<B>, Response = Response<RB>, Error = Error> + Clone,
{
    type Response = Response<RB>;
    type Error = Error;
    type Future = PoolFuture<AuthService<S, C>, Request<B>>;

    /// Always ready: the chosen member is polled ready in the future.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let resource = Resource::of_path(req.uri().path());
        match self.choose(resource) {
            Ok(member) => PoolFuture::new(member.clone(), req),
            Err(until) => PoolFuture::failed(Error::PoolExhausted { resource, until }),
        }
    }
}
