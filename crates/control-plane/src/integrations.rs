//! `GET /integrations/{integrationName}`: the provider descriptor from the built-in catalogue.

use crate::auth::Caller;
use crate::error::{ApiError, Error};
use crate::extract::Path;
use crate::ControlPlane;
use axum::Json;
use modelgate_domain::{RuntimeType, Scope};
use modelgate_providers::{integration, Integration};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(get_integration))
}

/// Get integration provider info
#[utoipa::path(get, path = "/integrations/{integrationName}", tag = "integrations", operation_id = "GetIntegration",
    params(("integrationName" = String, Path, description = "Name of the integration (a runtime type, e.g. openai)")),
    responses((status = 200, body = Integration), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["integrations:list"])))]
async fn get_integration(caller: Caller, Path(name): Path<String>) -> Result<Json<Integration>, ApiError> {
    caller.require(Scope::IntegrationsList)?;
    integration(&name).map(Json).ok_or_else(|| {
        let known: Vec<&str> = RuntimeType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::NotFound(format!("integration '{name}' does not exist; known integrations: {}", known.join(", ")))
    })
}
