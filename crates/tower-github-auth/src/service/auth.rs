//! What a layer gives the services it makes: where GitHub is, the clock, the credential.

use std::sync::Arc;

use http::HeaderMap;
use http::header::USER_AGENT;

use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::Clock;
use crate::endpoints::Endpoints;
use crate::rate_limit::RateLimits;
use crate::service::replay::Replaying;
use crate::side::{Limits, Side};

/// Built by a strategy's `Layer` impl, shared by every clone of the service.
#[derive(Debug)]
pub(crate) struct Auth<C> {
    pub(crate) endpoints: Endpoints,
    pub(crate) clock: Arc<Clock>,
    pub(crate) credential: C,
    /// Whether (and how) a request refused with 401 is replayed once with a fresh credential.
    pub(crate) replay: Replaying,
    /// The bounds of every side request.
    pub(crate) limits: Limits,
    /// What GitHub reported of the credential's rate limits.
    pub(crate) rate_limits: RateLimits,
}

impl<C> Auth<C> {
    pub(crate) fn new(endpoints: Endpoints, clock: Arc<Clock>, credential: C) -> Self {
        Self {
            endpoints,
            clock,
            credential,
            replay: Replaying::default(),
            limits: Limits::default(),
            rate_limits: RateLimits::default(),
        }
    }

    /// The side-request helper over a clone of the inner service.
    pub(crate) fn side<S, B, RB>(&self, inner: &S) -> Side
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        Side::new(inner, &self.endpoints, &self.clock, self.limits.clone())
    }

    /// The layer's own `User-Agent` on a request that has none, before the credential and
    /// GitHub's other headers go in (which then leave it alone). Nothing to do with this crate's
    /// default one.
    #[inline]
    pub(crate) fn dress(&self, headers: &mut HeaderMap) {
        if let Some(user_agent) = &self.limits.user_agent {
            headers
                .entry(USER_AGENT)
                .or_insert_with(|| user_agent.clone());
        }
    }
}
