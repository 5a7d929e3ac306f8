//! Liveness and readiness for load balancers. Neither needs credentials.

use crate::error::ApiError;
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready))
}

/// State of the server.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (alive) or `ready` (able to serve)
    status: &'static str,
}

/// Liveness: the process answers
#[utoipa::path(get, path = "/health", tag = "health", operation_id = "Health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers (as its health probe last saw it: answered at once, whatever the
/// store does) and the master key opens the stored secrets
#[utoipa::path(get, path = "/ready", tag = "health", operation_id = "Ready",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Error)))]
async fn ready(State(state): State<Arc<ControlPlane>>) -> Result<Json<Health>, ApiError> {
    if !state.store_health.is_up() {
        return Err(ApiError::Unavailable("store unreachable".into(), crate::error::STORE_RETRY_AFTER_SECONDS));
    }
    if let Some(reason) = &state.not_ready_because {
        return Err(ApiError::Unavailable(reason.clone(), crate::error::STORE_RETRY_AFTER_SECONDS));
    }
    Ok(Json(Health { status: "ready" }))
}
