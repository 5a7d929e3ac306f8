//! modelgate's inference plane: `{RUN_URL}/{workspace}/models/{model}/{path}`.
//!
//! This build routes nothing yet: every request answers the gateway's `ROUTE_NOT_FOUND` error.
//! Routing, credential injection, streaming and metering arrive with the inference issue.
//! Invariant for what comes: no database call on this path; configuration is read from an
//! in-memory snapshot.

mod gateway_error;

pub use gateway_error::GatewayError;

use axum::http::{Method, Uri};
use axum::Router;

/// The inference-plane application.
pub fn router() -> Router {
    Router::new().fallback(no_route)
}

async fn no_route(method: Method, uri: Uri) -> GatewayError {
    GatewayError::route_not_found(format!(
        "no route for {method} {}: this modelgate build does not serve inference yet (model endpoints are \
         managed on the control plane; the inference plane lands with a later release)",
        uri.path()
    ))
}
