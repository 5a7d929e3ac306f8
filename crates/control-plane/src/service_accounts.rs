//! `/service_accounts`: machine principals of a workspace. The client secret is returned only
//! at creation and stored as a digest; it buys access tokens at `/oauth/token`.

use crate::api_keys::{granted_scopes, service_account_in_workspace};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{ApiError, Error};
use crate::extract::Path;
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use modelgate_domain::identity::{CreateServiceAccount, ServiceAccount, UpdateServiceAccount};
use modelgate_domain::timestamp::{now_micros, to_rfc3339};
use modelgate_domain::{api_key, Scope};
use modelgate_store::{ServiceAccountRecord, StoreError};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new()
        .routes(routes!(list_service_accounts, create_service_account))
        .routes(routes!(update_service_account, delete_service_account))
}

const MAX_NAME_LEN: usize = 128;
const MAX_DESCRIPTION_LEN: usize = 1024;

fn render(record: &ServiceAccountRecord, secret: Option<String>) -> ServiceAccount {
    ServiceAccount {
        client_id: record.client_id.clone(),
        client_secret: secret,
        name: record.name.clone(),
        description: record.description.clone(),
        scopes: record.scopes.clone(),
        workspace: record.workspace.clone(),
        created_at: to_rfc3339(record.created_at),
        updated_at: to_rfc3339(record.updated_at),
    }
}

fn check_fields(name: Option<&str>, description: Option<&str>) -> Result<(), ApiError> {
    if name.is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_NAME_LEN) {
        return Err(ApiError::BadRequest(format!("name: must be 1 to {MAX_NAME_LEN} characters")));
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
        return Err(ApiError::BadRequest(format!("description: must be at most {MAX_DESCRIPTION_LEN} characters")));
    }
    Ok(())
}

/// List service accounts
#[utoipa::path(get, path = "/service_accounts", tag = "service_accounts", operation_id = "GetWorkspaceServiceAccounts",
    responses((status = 200, body = Vec<ServiceAccount>), (status = 401, body = Error), (status = 403, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:get"])))]
async fn list_service_accounts(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
) -> Result<Json<Vec<ServiceAccount>>, ApiError> {
    caller.require(Scope::WorkspacesGet)?;
    let records = state.store.list_service_accounts(&caller.workspace).await?;
    Ok(Json(records.iter().map(|r| render(r, None)).collect()))
}

/// Create service account
#[utoipa::path(post, path = "/service_accounts", tag = "service_accounts", operation_id = "CreateWorkspaceServiceAccount",
    request_body = CreateServiceAccount,
    responses((status = 200, description = "The account with its client_secret, shown only in this response", body = ServiceAccount),
        (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:update"])))]
async fn create_service_account(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<ServiceAccount>, ApiError> {
    caller.require(Scope::WorkspacesUpdate)?;
    let body: CreateServiceAccount = body.parse()?;
    check_fields(Some(&body.name), body.description.as_deref())?;
    let scopes = granted_scopes(&caller, body.scopes.as_deref(), &[Scope::Admin.as_str().to_string()])?;
    let secret = api_key::generate_client_secret();
    let at = now_micros();
    let record = ServiceAccountRecord {
        client_id: api_key::generate_client_id(),
        workspace: caller.workspace.clone(),
        name: body.name,
        description: body.description,
        secret_digest: api_key::digest(&secret),
        scopes,
        created_at: at,
        updated_at: at,
        created_by: caller.subject().to_string(),
        updated_by: caller.subject().to_string(),
    };
    state.store.create_service_account(&record).await?;
    Ok(Json(render(&record, Some(secret))))
}

/// Update service account
#[utoipa::path(put, path = "/service_accounts/{clientId}", tag = "service_accounts", operation_id = "UpdateWorkspaceServiceAccount",
    request_body = UpdateServiceAccount,
    params(("clientId" = String, Path, description = "Client id of the service account")),
    responses((status = 200, body = ServiceAccount), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error),
        (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:update"])))]
async fn update_service_account(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(client_id): Path<String>,
    body: JsonBody,
) -> Result<Json<ServiceAccount>, ApiError> {
    caller.require(Scope::WorkspacesUpdate)?;
    let body: UpdateServiceAccount = body.parse()?;
    check_fields(body.name.as_deref(), body.description.as_deref())?;
    let existing = service_account_in_workspace(&state, &caller, &client_id).await?;
    let record = ServiceAccountRecord {
        name: body.name.unwrap_or(existing.name.clone()),
        description: body.description.or(existing.description.clone()),
        updated_at: now_micros(),
        updated_by: caller.subject().to_string(),
        ..existing
    };
    state.store.update_service_account(&record).await?;
    Ok(Json(render(&record, None)))
}

/// Delete service account (and every key it holds)
#[utoipa::path(delete, path = "/service_accounts/{clientId}", tag = "service_accounts", operation_id = "DeleteWorkspaceServiceAccount",
    params(("clientId" = String, Path, description = "Client id of the service account")),
    responses((status = 200, body = ServiceAccount), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:update"])))]
async fn delete_service_account(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<Json<ServiceAccount>, ApiError> {
    caller.require(Scope::WorkspacesUpdate)?;
    service_account_in_workspace(&state, &caller, &client_id).await?;
    let record = state.store.delete_service_account(&client_id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("service account '{client_id}' does not exist")),
        other => other.into(),
    })?;
    Ok(Json(render(&record, None)))
}
