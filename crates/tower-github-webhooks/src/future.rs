//! [`ResponseFuture`]: the future of [`VerifyWebhook`](crate::VerifyWebhook).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::Response;

/// The answer of [`VerifyWebhook`](crate::VerifyWebhook): a refusal, the answer to a duplicate,
/// or the inner service's answer.
pub struct ResponseFuture<B, E> {
    pub(crate) inner: BoxFuture<'static, Result<Response<B>, E>>,
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
