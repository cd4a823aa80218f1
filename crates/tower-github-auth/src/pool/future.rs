//! The future of a [`Pool`](super::Pool): the chosen member's, watching for a secondary limit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Response;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::Error;
use crate::rate_limit::RateLimits;
use crate::refusal::Refused;
use crate::service::AuthService;

/// How long a member that hit a secondary rate limit without `Retry-After` is skipped: GitHub's
/// docs say to wait at least a minute.
pub(crate) const SECONDARY_PAUSE: Duration = Duration::from_secs(60);

/// The longest a member is skipped for a `Retry-After`.
const MAX_PAUSE: Duration = Duration::from_secs(60 * 60);

/// A member's rate-limit record, taken from the service it is.
pub(crate) trait Member {
    fn record(&self) -> &RateLimits;
}

impl<S, C> Member for AuthService<S, C> {
    fn record(&self) -> &RateLimits {
        self.rate_limits_ref()
    }
}

pin_project! {
    /// The future of a [`Pool`](super::Pool): the chosen member's answer (after a secondary
    /// rate limit, the member is skipped for a while), or [`Error::PoolExhausted`].
    pub struct PoolFuture<T, R>
    where
        T: Service<R>,
    {
        #[pin]
        state: State<T, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<T, R>
    where
        T: Service<R>,
    {
        /// No member can send it.
        Failed { error: Option<Error> },
        /// The chosen member, to be polled ready.
        Ready { member: T, req: Option<R> },
        /// The chosen member's call.
        Calling { #[pin] fut: T::Future, record: RateLimits },
    }
}

impl<T, R> fmt::Debug for PoolFuture<T, R>
where
    T: Service<R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Failed { .. } => "Failed",
            State::Ready { .. } => "Ready",
            State::Calling { .. } => "Calling",
        };
        f.debug_struct("PoolFuture").field("state", &state).finish()
    }
}

impl<T, R> PoolFuture<T, R>
where
    T: Service<R>,
{
    pub(crate) fn new(member: T, req: R) -> Self {
        Self {
            state: State::Ready {
                member,
                req: Some(req),
            },
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<T, R, RB> Future for PoolFuture<T, R>
where
    T: Service<R, Response = Response<RB>, Error = Error> + Member,
{
    type Output = Result<Response<RB>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(error.take().expect("polled after completion")));
                }
                StateProj::Ready { member, req } => {
                    ready!(member.poll_ready(cx))?;
                    let req = req.take().expect("polled after completion");
                    State::Calling {
                        record: member.record().clone(),
                        fut: member.call(req),
                    }
                }
                StateProj::Calling { fut, record } => {
                    let response = ready!(fut.poll(cx))?;
                    if let Some(Refused::SecondaryRateLimit { retry_after, .. }) =
                        Refused::of(&response)
                    {
                        // At most an hour, as the exchange backoff: a hostile or broken
                        // `Retry-After` cannot take a member out for good.
                        let wait = retry_after.unwrap_or(SECONDARY_PAUSE).min(MAX_PAUSE);
                        tracing::debug!(
                            ?wait,
                            "a pool member hit a secondary rate limit: skipping it"
                        );
                        record.hold_off(wait);
                    }
                    return Poll::Ready(Ok(response));
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
