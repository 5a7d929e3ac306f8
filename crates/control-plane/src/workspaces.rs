//! `/workspaces`: tenants. A user's key reaches the workspaces the user administers (the
//! bootstrap admin administers all; a workspace's creator administers it); a service account
//! sees only its own.

use crate::auth::{may_act_in, workspace_not_found, Caller, SubjectType};
use crate::body::JsonBody;
use crate::error::{ApiError, Error};
use crate::extract::{Path, Query};
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use modelgate_domain::identity::Workspace;
use modelgate_domain::timestamp::{now_micros, to_rfc3339};
use modelgate_domain::validation::{validate_name, MAX_DISPLAY_NAME_LEN};
use modelgate_domain::Scope;
use modelgate_store::{StoreError, WorkspaceRecord, USER_KEYS_COUNT};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(list_workspaces, create_workspace)).routes(routes!(
        get_workspace,
        update_workspace,
        delete_workspace
    ))
}

fn render(
    record: &WorkspaceRecord,
    counts: Option<std::collections::BTreeMap<String, i64>>,
) -> Result<Workspace, ApiError> {
    let mut document = record.document.clone();
    if let Some(object) = document.as_object_mut() {
        object.insert("name".into(), serde_json::Value::String(record.name.clone()));
    }
    let mut workspace: Workspace = serde_json::from_value(document)
        .map_err(|e| ApiError::Internal(format!("stored workspace '{}' is unreadable: {e}", record.name)))?;
    workspace.name = record.name.clone();
    workspace.id = record.document.get("id").and_then(|v| v.as_str()).map(str::to_string);
    workspace.created_at = Some(to_rfc3339(record.created_at));
    workspace.updated_at = Some(to_rfc3339(record.updated_at));
    workspace.created_by = Some(record.created_by.clone());
    workspace.updated_by = Some(record.updated_by.clone());
    workspace.status = Some("ready".to_string());
    workspace.resource_counts = counts.map(|mut c| {
        c.remove(USER_KEYS_COUNT);
        c
    });
    Ok(workspace)
}

fn validate(workspace: &Workspace) -> Result<(), ApiError> {
    validate_name("name", &workspace.name)?;
    if workspace.display_name.as_ref().is_some_and(|d| d.chars().count() > MAX_DISPLAY_NAME_LEN) {
        return Err(ApiError::BadRequest(format!("displayName: must be at most {MAX_DISPLAY_NAME_LEN} characters")));
    }
    Ok(())
}

/// The stored document: the writable fields, plus the id fixed at creation.
fn document(workspace: &Workspace, id: &str) -> Result<serde_json::Value, ApiError> {
    let mut value = serde_json::to_value(workspace).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.remove("name");
        object.insert("id".into(), serde_json::Value::String(id.to_string()));
    }
    Ok(value)
}

async fn accessible(state: &ControlPlane, caller: &Caller, name: &str) -> Result<WorkspaceRecord, ApiError> {
    if !may_act_in(state, &caller.principal, name).await? {
        return Err(workspace_not_found(name));
    }
    state.store.get_workspace(name).await?.ok_or_else(|| workspace_not_found(name))
}

/// List workspaces
#[utoipa::path(get, path = "/workspaces", tag = "workspaces", operation_id = "ListWorkspaces",
    responses((status = 200, description = "The workspaces this credential can act in", body = Vec<Workspace>),
        (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:list"])))]
async fn list_workspaces(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
) -> Result<Json<Vec<Workspace>>, ApiError> {
    caller.require(Scope::WorkspacesList)?;
    let records = visible_to(&state, &caller).await?;
    Ok(Json(records.iter().map(|r| render(r, None)).collect::<Result<_, _>>()?))
}

/// The workspaces `caller` can act in, by name: every one for a platform administrator, those a
/// user administers, a service account's own.
pub(crate) async fn visible_to(state: &ControlPlane, caller: &Caller) -> Result<Vec<WorkspaceRecord>, ApiError> {
    let principal = &caller.principal;
    if principal.subject_type == SubjectType::User && state.store.is_platform_admin(&principal.subject).await? {
        return Ok(state.store.list_workspaces(None).await?);
    }
    let mut records = match principal.subject_type {
        SubjectType::User => state.store.list_workspaces(Some(&principal.subject)).await?,
        SubjectType::ServiceAccount => Vec::new(),
    };
    if !records.iter().any(|r| r.name == principal.home_workspace) {
        records.extend(state.store.get_workspace(&principal.home_workspace).await?);
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

/// Create workspace
#[utoipa::path(post, path = "/workspaces", tag = "workspaces", operation_id = "CreateWorkspace", request_body = Workspace,
    responses((status = 200, description = "The workspace; its creator administers it", body = Workspace),
        (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 409, body = Error),
        (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:create"])))]
async fn create_workspace(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<Workspace>, ApiError> {
    caller.require(Scope::WorkspacesCreate)?;
    let workspace: Workspace = body.parse()?;
    if caller.principal.subject_type != SubjectType::User {
        return Err(ApiError::Forbidden(
            "service accounts are bound to their own workspace and cannot create workspaces; use a user's key".into(),
        ));
    }
    validate(&workspace)?;
    let at = now_micros();
    let record = WorkspaceRecord {
        name: workspace.name.clone(),
        document: document(&workspace, &format!("ws_{}", &modelgate_domain::api_key::generate_id()[3..]))?,
        created_at: at,
        updated_at: at,
        created_by: caller.subject().to_string(),
        updated_by: caller.subject().to_string(),
    };
    state.store.create_workspace(&record, Some(caller.subject())).await.map_err(|e| match e {
        StoreError::AlreadyExists => ApiError::Conflict(format!("workspace '{}' already exists", workspace.name)),
        other => other.into(),
    })?;
    Ok(Json(render(&record, None)?))
}

/// Query of `GET /workspaces/{workspaceName}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetWorkspaceParams {
    /// Fill `resourceCounts`
    #[serde(default, rename = "countResources")]
    pub count_resources: Option<bool>,
}

/// Get workspace
#[utoipa::path(get, path = "/workspaces/{workspaceName}", tag = "workspaces", operation_id = "GetWorkspace",
    params(("workspaceName" = String, Path, description = "Name of the workspace"), GetWorkspaceParams),
    responses((status = 200, body = Workspace), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error),
        (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:get"])))]
async fn get_workspace(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<GetWorkspaceParams>,
) -> Result<Json<Workspace>, ApiError> {
    caller.require(Scope::WorkspacesGet)?;
    let record = accessible(&state, &caller, &name).await?;
    let counts = match params.count_resources {
        Some(true) => Some(state.store.count_workspace_contents(&name).await?),
        _ => None,
    };
    Ok(Json(render(&record, counts)?))
}

/// Update workspace
#[utoipa::path(put, path = "/workspaces/{workspaceName}", tag = "workspaces", operation_id = "UpdateWorkspace", request_body = Workspace,
    params(("workspaceName" = String, Path, description = "Name of the workspace")),
    responses((status = 200, body = Workspace), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error),
        (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:update"])))]
async fn update_workspace(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    body: JsonBody,
) -> Result<Json<Workspace>, ApiError> {
    caller.require(Scope::WorkspacesUpdate)?;
    let workspace: Workspace = body.parse()?;
    let existing = accessible(&state, &caller, &name).await?;
    if workspace.name != name {
        return Err(ApiError::BadRequest(format!(
            "name '{}' does not match '{name}' in the path: workspace names are immutable",
            workspace.name
        )));
    }
    validate(&workspace)?;
    let id = existing.document.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let record = WorkspaceRecord {
        document: document(&workspace, &id)?,
        updated_at: now_micros(),
        updated_by: caller.subject().to_string(),
        ..existing
    };
    state.store.update_workspace(&record).await.map_err(|e| match e {
        StoreError::NotFound => workspace_not_found(&name),
        other => other.into(),
    })?;
    Ok(Json(render(&record, None)?))
}

/// Query of `DELETE /workspaces/{workspaceName}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteWorkspaceParams {
    /// Delete everything the workspace holds (models, connections and their secrets, policies,
    /// service accounts and their keys); without it, a workspace that holds anything answers 409
    #[serde(default)]
    pub force: Option<bool>,
}

/// Delete workspace
#[utoipa::path(delete, path = "/workspaces/{workspaceName}", tag = "workspaces", operation_id = "DeleteWorkspace",
    params(("workspaceName" = String, Path, description = "Name of the workspace"), DeleteWorkspaceParams),
    responses((status = 200, body = Workspace), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error),
        (status = 409, description = "The workspace still holds resources (use ?force=true) or users' API keys", body = Error),
        (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["workspaces:delete"])))]
async fn delete_workspace(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<DeleteWorkspaceParams>,
) -> Result<Json<Workspace>, ApiError> {
    caller.require(Scope::WorkspacesDelete)?;
    accessible(&state, &caller, &name).await?;
    let record = state.store.delete_workspace(&name, params.force.unwrap_or(false)).await.map_err(|e| match e {
        StoreError::NotFound => workspace_not_found(&name),
        StoreError::NotEmpty(counts) if counts.get(USER_KEYS_COUNT).copied().unwrap_or(0) > 0 => ApiError::Conflict(
            format!("workspace '{name}' is the home of users' API keys (the admin's among them); it cannot be deleted"),
        ),
        StoreError::NotEmpty(counts) => {
            let held: Vec<String> = counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
            ApiError::Conflict(format!(
                "workspace '{name}' still holds {}; delete them first or pass ?force=true to delete everything in it",
                held.join(", ")
            ))
        }
        other => other.into(),
    })?;
    Ok(Json(render(&record, None)?))
}
