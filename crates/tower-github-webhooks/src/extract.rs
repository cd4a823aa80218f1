//! [`Delivery`] as an axum extractor (feature `axum`).

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};

use crate::delivery::Delivery;

/// The rejection of the [`Delivery`] extractor: the request did not come through
/// [`WebhookLayer`](crate::WebhookLayer) (a routing mistake), answered 500.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "no verified webhook delivery in this request: put WebhookLayer in front of this route \
     (Router::layer or route_layer)"
)]
pub struct MissingDelivery;

impl IntoResponse for MissingDelivery {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Delivery {
    type Rejection = MissingDelivery;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Delivery>()
            .cloned()
            .ok_or(MissingDelivery)
    }
}
