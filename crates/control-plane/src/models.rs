//! `/models`: model endpoints, their status lifecycle, events and revisions.
//!
//! Deploying a model endpoint is making its route servable: the referenced connections and
//! policies must exist (checked again by the store in the write's transaction) and the
//! connections' sealed credentials must open with this node's master key. Create and update
//! therefore go DEPLOYING -> DEPLOYED (or FAILED, with the reason in `events`) within the
//! request; `enabled: false` goes DEACTIVATING -> DEACTIVATED; delete answers DELETING.

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::document::{deployment_event, events_of, metadata_of, new_revision_id, spec_of, to_document};
use crate::error::{not_found, ApiError, Error};
use crate::extract::{Path, Query};
use crate::listing::{search_text, ApiVersion, ListParams, Listing};
use crate::{ConfigChange, ControlPlane};
use axum::extract::State;
use axum::{Extension, Json};
use modelgate_domain::timestamp::{now_micros, to_rfc3339};
use modelgate_domain::validation::validate_model;
use modelgate_domain::{
    IntegrationConnectionSpec, Model, ModelSpec, PolicyResourceType, PolicySpec, PolicyType, RevisionMetadata, Scope,
    Status,
};
use modelgate_providers::descriptor;
use modelgate_store::{Reference, ResourceKey, ResourceKind, ResourceRecord, ResourceWrite, RevisionWrite};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new()
        .routes(routes!(list_models, create_model))
        .routes(routes!(get_model, update_model, delete_model))
        .routes(routes!(list_model_revisions))
}

const KIND: ResourceKind = ResourceKind::Model;

fn model_url(state: &ControlPlane, workspace: &str, name: &str) -> String {
    format!("{}/{workspace}/models/{name}", state.public_run_url.trim_end_matches('/'))
}

/// The wire form of a stored model.
fn render(state: &ControlPlane, record: &ResourceRecord) -> Result<Model, ApiError> {
    let mut spec: ModelSpec = spec_of(record)?;
    spec.enabled = Some(spec.enabled.unwrap_or(true));
    Ok(Model {
        events: Some(events_of(record)),
        metadata: metadata_of(record, Some(model_url(state, &record.key.workspace, &record.key.name)))?,
        spec,
        status: record.status.as_deref().and_then(Status::parse),
    })
}

/// Checks the model against the connections and policies it names, and decides what its
/// deployment yields: the final status and the events that lead to it.
async fn plan_deployment(
    state: &ControlPlane,
    workspace: &str,
    model: &Model,
    revision: &str,
) -> Result<(Status, Vec<serde_json::Value>), ApiError> {
    let spec = &model.spec;
    let runtime_type = spec.runtime.as_ref().and_then(|r| r.kind).ok_or_else(|| {
        ApiError::BadRequest("spec.runtime.type: is required (one of the 18 provider types, e.g. openai)".into())
    })?;
    let provider = descriptor(runtime_type);
    let connections = spec.integration_connections.as_deref().unwrap_or_default();
    if connections.is_empty() {
        return Err(ApiError::BadRequest(
            "spec.integrationConnections: name at least one integration connection (create one with POST /v0/integrations/connections)"
                .into(),
        ));
    }
    let mut credential_problem = None;
    // A referenced connection or policy whose stored spec cannot be read: the model is not served.
    let mut unreadable = None;
    for name in connections {
        let key = ResourceKey::new(workspace, ResourceKind::IntegrationConnection, name);
        let record = state.store.get_resource(&key).await?.ok_or_else(|| {
            crate::error::missing_reference(
                &Reference { kind: ResourceKind::IntegrationConnection, name: name.clone() },
                workspace,
            )
        })?;
        let connection: IntegrationConnectionSpec = match record.spec() {
            Ok(connection) => connection,
            Err(reason) => {
                unreadable.get_or_insert(reason);
                continue;
            }
        };
        let integration = connection.integration.unwrap_or_default();
        if !provider.accepts_integration(&integration) {
            return Err(ApiError::BadRequest(format!(
                "spec.integrationConnections: connection '{name}' is a '{integration}' connection, but spec.runtime.type is '{}'",
                runtime_type.as_str()
            )));
        }
        if let Some(sealed) = &record.sealed_secret {
            if let Err(error) = state.keyring.open(sealed, &crate::connections::secret_context(workspace, name)) {
                credential_problem
                    .get_or_insert(format!("credentials of connection '{name}' cannot be opened: {error}"));
            }
        }
    }
    for name in spec.policies.as_deref().unwrap_or_default() {
        let key = ResourceKey::new(workspace, ResourceKind::Policy, name);
        let record = state.store.get_resource(&key).await?.ok_or_else(|| {
            crate::error::missing_reference(&Reference { kind: ResourceKind::Policy, name: name.clone() }, workspace)
        })?;
        match record.spec() {
            Ok(policy) => check_policy(model, name, &policy)?,
            // Served without its policy, the model could run without its limits: it fails.
            Err(reason) => {
                unreadable.get_or_insert(reason);
            }
        }
    }
    let deploying = deployment_event(Status::Deploying.as_str(), format!("Deploying revision {revision}"), revision);
    if !spec.enabled.unwrap_or(true) {
        return Ok((
            Status::Deactivated,
            vec![
                deployment_event(Status::Deactivating.as_str(), "Deactivating: the endpoint is disabled", revision),
                deployment_event(Status::Deactivated.as_str(), "Deactivated: inference requests are refused", revision),
            ],
        ));
    }
    Ok(match unreadable.or(credential_problem) {
        Some(reason) => (Status::Failed, vec![deploying, deployment_event(Status::Failed.as_str(), reason, revision)]),
        None => (
            Status::Deployed,
            vec![deploying, deployment_event(Status::Deployed.as_str(), "Deployment successful", revision)],
        ),
    })
}

/// A policy attached to a model must target models, and a flavor policy must allow each of
/// the model's flavors (flavors are checked when the model is saved).
fn check_policy(model: &Model, name: &str, policy: &PolicySpec) -> Result<(), ApiError> {
    if let Some(types) = policy.resource_types.as_deref().filter(|t| !t.is_empty()) {
        if !types.contains(&PolicyResourceType::Model) {
            return Err(ApiError::BadRequest(format!(
                "spec.policies: policy '{name}' does not apply to models (its resourceTypes exclude 'model')"
            )));
        }
    }
    if policy.kind == Some(PolicyType::Flavor) {
        let allowed = policy.flavors.as_deref().unwrap_or_default();
        for flavor in model.spec.flavors.as_deref().unwrap_or_default() {
            let permitted =
                allowed.iter().any(|a| a.name == flavor.name && (a.kind.is_none() || a.kind == flavor.kind));
            if !permitted {
                let names: Vec<&str> = allowed.iter().filter_map(|a| a.name.as_deref()).collect();
                return Err(ApiError::BadRequest(format!(
                    "spec.flavors: flavor '{}' is not allowed by policy '{name}' (allowed: {})",
                    flavor.name.as_deref().unwrap_or_default(),
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Validates a model body and builds its store write.
async fn prepare_write(state: &ControlPlane, caller: &Caller, mut model: Model) -> Result<ResourceWrite, ApiError> {
    validate_model(&model)?;
    model.spec.enabled = Some(model.spec.enabled.unwrap_or(true));
    let revision = new_revision_id();
    let (status, new_events) = plan_deployment(state, &caller.workspace, &model, &revision).await?;
    let spec = &model.spec;
    let references = spec
        .integration_connections
        .iter()
        .flatten()
        .map(|name| Reference { kind: ResourceKind::IntegrationConnection, name: name.clone() })
        .chain(spec.policies.iter().flatten().map(|name| Reference { kind: ResourceKind::Policy, name: name.clone() }))
        .collect();
    let metadata = &model.metadata;
    Ok(ResourceWrite {
        key: ResourceKey::new(&caller.workspace, KIND, &metadata.name),
        document: to_document(metadata, spec)?,
        search_text: search_text(&metadata.name, metadata.display_name.as_deref(), metadata.labels.as_ref()),
        status: Some(status.as_str().to_string()),
        new_events,
        sealed_secret: None,
        references,
        revision: Some(RevisionWrite { id: revision, status: status.as_str().to_string() }),
        actor: caller.subject().to_string(),
        at: now_micros(),
    })
}

/// List model endpoints
#[utoipa::path(get, path = "/models", tag = "models", operation_id = "ListModels",
    params(ListParams, ("Blaxel-Version" = Option<String>, Header, description = "2026-04-28 or later answers {data, meta}; earlier, a bare array")),
    responses(
        (status = 200, description = "Models: a bare array, or {data, meta} from Blaxel-Version 2026-04-28", body = crate::openapi::ModelList),
        (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:list"])))]
async fn list_models(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    version: ApiVersion,
    Query(params): Query<ListParams>,
) -> Result<axum::response::Response, ApiError> {
    caller.require(Scope::ModelsList)?;
    let listing = Listing::new(&version, &params, &caller.workspace, KIND)?;
    let records = state.store.list_resources(&caller.workspace, KIND, &listing.query).await?;
    let total = state.store.count_resources(&caller.workspace, KIND).await?;
    listing.respond(records, total, |record| render(&state, record))
}

/// Tells the snapshot that only this model changed.
fn model_changed(caller: &Caller, name: &str) -> Extension<ConfigChange> {
    crate::changed(ConfigChange::Model { workspace: caller.workspace.clone(), name: name.to_string() })
}

/// Create model endpoint
#[utoipa::path(post, path = "/models", tag = "models", operation_id = "CreateModel", request_body = Model,
    responses(
        (status = 200, description = "The stored model", body = Model),
        (status = 400, description = "Invalid model configuration or integration connection not found", body = Error),
        (status = 401, body = Error), (status = 403, body = Error),
        (status = 409, description = "A model with this name already exists", body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:create"])))]
async fn create_model(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<(Extension<ConfigChange>, Json<Model>), ApiError> {
    caller.require(Scope::ModelsCreate)?;
    let model: Model = body.parse()?;
    let name = model.metadata.name.clone();
    let write = prepare_write(&state, &caller, model).await?;
    let record = state
        .store
        .create_resource(&write)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok((model_changed(&caller, &name), Json(render(&state, &record)?)))
}

/// Get model endpoint
#[utoipa::path(get, path = "/models/{modelName}", tag = "models", operation_id = "GetModel",
    params(("modelName" = String, Path, description = "Name of the model endpoint")),
    responses((status = 200, body = Model), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:get"])))]
async fn get_model(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Model>, ApiError> {
    caller.require(Scope::ModelsGet)?;
    let record = state
        .store
        .get_resource(&ResourceKey::new(&caller.workspace, KIND, &name))
        .await?
        .ok_or_else(|| not_found(KIND, &name, &caller.workspace))?;
    Ok(Json(render(&state, &record)?))
}

/// Update model endpoint
#[utoipa::path(put, path = "/models/{modelName}", tag = "models", operation_id = "UpdateModel", request_body = Model,
    params(("modelName" = String, Path, description = "Name of the model endpoint")),
    responses((status = 200, body = Model), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:update"])))]
async fn update_model(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    body: JsonBody,
) -> Result<(Extension<ConfigChange>, Json<Model>), ApiError> {
    caller.require(Scope::ModelsUpdate)?;
    let model: Model = body.parse()?;
    if model.metadata.name != name {
        return Err(ApiError::BadRequest(format!(
            "metadata.name '{}' does not match '{name}' in the path: names are immutable",
            model.metadata.name
        )));
    }
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    if state.store.get_resource(&key).await?.is_none() {
        return Err(not_found(KIND, &name, &caller.workspace));
    }
    let write = prepare_write(&state, &caller, model).await?;
    let record = state
        .store
        .update_resource(&write)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok((model_changed(&caller, &name), Json(render(&state, &record)?)))
}

/// Delete model endpoint
#[utoipa::path(delete, path = "/models/{modelName}", tag = "models", operation_id = "DeleteModel",
    params(("modelName" = String, Path, description = "Name of the model endpoint")),
    responses((status = 200, description = "The deleted model, status DELETING", body = Model), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:delete"])))]
async fn delete_model(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(Extension<ConfigChange>, Json<Model>), ApiError> {
    caller.require(Scope::ModelsDelete)?;
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    let mut record =
        state.store.delete_resource(&key).await.map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    let revision =
        record.events.last().and_then(|e| e.get("revision")).and_then(|r| r.as_str()).unwrap_or_default().to_string();
    record.status = Some(Status::Deleting.as_str().to_string());
    record.events.push(deployment_event(
        Status::Deleting.as_str(),
        "Deleting: the endpoint no longer serves requests",
        &revision,
    ));
    record.updated_at = now_micros();
    record.updated_by = caller.subject().to_string();
    Ok((model_changed(&caller, &name), Json(render(&state, &record)?)))
}

/// List model revisions
#[utoipa::path(get, path = "/models/{modelName}/revisions", tag = "models", operation_id = "ListModelRevisions",
    params(("modelName" = String, Path, description = "Name of the model")),
    responses((status = 200, body = Vec<RevisionMetadata>), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:list"])))]
async fn list_model_revisions(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<RevisionMetadata>>, ApiError> {
    caller.require(Scope::ModelsList)?;
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    if state.store.get_resource(&key).await?.is_none() {
        return Err(not_found(KIND, &name, &caller.workspace));
    }
    let revisions = state.store.list_revisions(&key).await?;
    Ok(Json(
        revisions
            .into_iter()
            .enumerate()
            .map(|(index, revision)| RevisionMetadata {
                active: index == 0,
                canary: false,
                created_at: to_rfc3339(revision.created_at),
                created_by: revision.created_by,
                id: revision.id,
                previous_active: index == 1,
                status: revision.status,
                traffic_percent: if index == 0 { 100 } else { 0 },
            })
            .collect(),
    ))
}
