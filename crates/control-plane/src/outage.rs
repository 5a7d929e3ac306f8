//! Store outages: while the store's health probe sees it down, every request that needs the
//! store answers 503 with `Retry-After` at once, and the requests in flight when it goes down
//! end with the same 503. Ending one drops its handler, and with it any open transaction, which
//! rolls back: no partial write. (A write whose `COMMIT` was already sent may still land; the
//! client cannot tell, as after any timeout.)

use crate::error::store_unavailable;
use crate::ControlPlane;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The paths served without the store (relative to `/v0`).
fn needs_store(path: &str) -> bool {
    !matches!(path, "/health" | "/ready" | "/openapi.json")
}

/// The middleware: see the module doc.
pub(crate) async fn fail_fast(State(state): State<Arc<ControlPlane>>, request: Request, next: Next) -> Response {
    if !needs_store(request.uri().path()) {
        return next.run(request).await;
    }
    if !state.store_health.is_up() {
        return store_unavailable().into_response();
    }
    tokio::select! {
        response = next.run(request) => response,
        () = state.store_health.went_down() => {
            tracing::warn!("a control-plane request was ended: the store became unreachable");
            store_unavailable().into_response()
        }
    }
}
