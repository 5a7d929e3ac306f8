//! `/integrations/connections`: a provider's credentials and settings. `spec.secret` is
//! write-only: sealed with the master key before it is stored, and shown masked.

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::document::{metadata_of, spec_of, to_document};
use crate::error::{not_found, ApiError, Error};
use crate::extract::Path;
use crate::listing::search_text;
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use modelgate_domain::secret_box::SealedSecret;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::validation::validate_connection;
use modelgate_domain::{IntegrationConnection, IntegrationConnectionSpec, RuntimeType, Scope};
use modelgate_providers::descriptor;
use modelgate_store::{ListQuery, ResourceKey, ResourceKind, ResourceRecord, ResourceWrite};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(list_connections, create_connection)).routes(routes!(
        get_connection,
        update_connection,
        delete_connection
    ))
}

const KIND: ResourceKind = ResourceKind::IntegrationConnection;

/// `GET /console/api/connections/{connectionName}/models`: the models that use a connection,
/// for the console (Blaxel's API has no such route; policies have `/policies/{name}/usages`).
pub(crate) async fn models_using_connection(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::IntegrationsGet)?;
    let models = crate::policies::models_using(&state, &ResourceKey::new(&caller.workspace, KIND, &name)).await?;
    Ok(Json(serde_json::json!({ "models": models })))
}

/// What a secret value reads as in every response; sending it back keeps the stored value.
pub const SECRET_MASK: &str = "********";

pub use modelgate_domain::secret_box::connection_secret_context as secret_context;

fn render(record: &ResourceRecord) -> Result<IntegrationConnection, ApiError> {
    Ok(IntegrationConnection { metadata: metadata_of(record, None)?, spec: spec_of(record)? })
}

/// Checks what the provider needs of a connection: a base URL where it has no global one, and
/// its credential.
fn check_provider_needs(spec: &IntegrationConnectionSpec, secrets: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let Some(runtime_type) = spec.integration.as_deref().and_then(RuntimeType::parse) else { return Ok(()) };
    let provider = descriptor(runtime_type);
    let has_url = spec.config.as_ref().is_some_and(|c| c.contains_key("url"));
    if provider.default_base_url.is_none() && !has_url {
        return Err(ApiError::BadRequest(format!(
            "spec.config.url: is required for {} connections ({} has no global endpoint; give your endpoint's URL)",
            runtime_type.as_str(),
            provider.display_name
        )));
    }
    for required in provider.required_secrets {
        if secrets.get(*required).is_none_or(|v| v.is_empty()) {
            return Err(ApiError::BadRequest(format!(
                "spec.secret.{required}: is required for {} connections",
                runtime_type.as_str()
            )));
        }
    }
    Ok(())
}

fn seal(
    state: &ControlPlane,
    workspace: &str,
    name: &str,
    secrets: &BTreeMap<String, String>,
) -> Result<Option<SealedSecret>, ApiError> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let plaintext =
        serde_json::to_vec(secrets).map_err(|e| ApiError::Internal(format!("cannot encode secret: {e}")))?;
    state
        .keyring
        .seal(&plaintext, &secret_context(workspace, name))
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("cannot seal secret: {e}")))
}

/// Opens the secrets stored for a connection.
fn open(state: &ControlPlane, record: &ResourceRecord) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(sealed) = &record.sealed_secret else { return Ok(BTreeMap::new()) };
    let plaintext =
        state.keyring.open(sealed, &secret_context(&record.key.workspace, &record.key.name)).map_err(|e| {
            ApiError::BadRequest(format!(
                "the stored secret of '{}' cannot be opened ({e}); send every spec.secret value again",
                record.key.name
            ))
        })?;
    serde_json::from_slice(&plaintext).map_err(|e| ApiError::Internal(format!("sealed secret is not a map: {e}")))
}

fn build_write(
    state: &ControlPlane,
    caller: &Caller,
    connection: &IntegrationConnection,
    secrets: &BTreeMap<String, String>,
) -> Result<ResourceWrite, ApiError> {
    let metadata = &connection.metadata;
    let mut spec = connection.spec.clone();
    // The stored document knows which secrets exist, never their values.
    spec.secret = (!secrets.is_empty()).then(|| secrets.keys().map(|k| (k.clone(), SECRET_MASK.to_string())).collect());
    Ok(ResourceWrite {
        key: ResourceKey::new(&caller.workspace, KIND, &metadata.name),
        document: to_document(metadata, &spec)?,
        search_text: search_text(&metadata.name, metadata.display_name.as_deref(), metadata.labels.as_ref()),
        status: None,
        new_events: Vec::new(),
        sealed_secret: seal(state, &caller.workspace, &metadata.name, secrets)?,
        references: Vec::new(),
        revision: None,
        actor: caller.subject().to_string(),
        at: now_micros(),
    })
}

/// List integration connections
#[utoipa::path(get, path = "/integrations/connections", tag = "integrations", operation_id = "ListIntegrationConnections",
    responses((status = 200, description = "Every connection of the workspace (always a bare array)", body = Vec<IntegrationConnection>),
        (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["integrations:list"])))]
async fn list_connections(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
) -> Result<Json<Vec<IntegrationConnection>>, ApiError> {
    caller.require(Scope::IntegrationsList)?;
    let records = state.store.list_resources(&caller.workspace, KIND, &ListQuery::default()).await?;
    Ok(Json(records.iter().map(render).collect::<Result<_, _>>()?))
}

/// Create integration connection
#[utoipa::path(post, path = "/integrations/connections", tag = "integrations", operation_id = "CreateIntegrationConnection",
    request_body = IntegrationConnection,
    responses((status = 200, description = "The stored connection, secrets masked", body = IntegrationConnection),
        (status = 400, description = "Invalid configuration or unsupported integration", body = Error),
        (status = 401, body = Error), (status = 403, body = Error),
        (status = 409, description = "A connection with this name already exists", body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["integrations:create"])))]
async fn create_connection(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<IntegrationConnection>, ApiError> {
    caller.require(Scope::IntegrationsCreate)?;
    let connection: IntegrationConnection = body.parse()?;
    validate_connection(&connection)?;
    let secrets = connection.spec.secret.clone().unwrap_or_default();
    if let Some((key, _)) = secrets.iter().find(|(_, v)| v.as_str() == SECRET_MASK) {
        return Err(ApiError::BadRequest(format!("spec.secret.{key}: give the real value, not the mask")));
    }
    check_provider_needs(&connection.spec, &secrets)?;
    let write = build_write(&state, &caller, &connection, &secrets)?;
    let name = &connection.metadata.name;
    let record = state
        .store
        .create_resource(&write)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, name, &caller.workspace))?;
    Ok(Json(render(&record)?))
}

/// Get integration connection
#[utoipa::path(get, path = "/integrations/connections/{connectionName}", tag = "integrations", operation_id = "GetIntegrationConnection",
    params(("connectionName" = String, Path, description = "Name of the integration connection")),
    responses((status = 200, description = "The connection, secrets masked", body = IntegrationConnection),
        (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["integrations:get"])))]
async fn get_connection(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IntegrationConnection>, ApiError> {
    caller.require(Scope::IntegrationsGet)?;
    let record = state
        .store
        .get_resource(&ResourceKey::new(&caller.workspace, KIND, &name))
        .await?
        .ok_or_else(|| not_found(KIND, &name, &caller.workspace))?;
    Ok(Json(render(&record)?))
}

/// Update integration connection
///
/// Without `spec.secret` the stored secrets stay; a secret sent as the mask (`********`) keeps
/// its stored value; secrets not named are removed.
#[utoipa::path(put, path = "/integrations/connections/{connectionName}", tag = "integrations", operation_id = "UpdateIntegrationConnection",
    request_body = IntegrationConnection,
    params(("connectionName" = String, Path, description = "Name of the integration connection")),
    responses((status = 200, body = IntegrationConnection), (status = 400, body = Error), (status = 401, body = Error),
        (status = 403, body = Error), (status = 404, body = Error), (status = 409, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["integrations:update"])))]
async fn update_connection(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    body: JsonBody,
) -> Result<Json<IntegrationConnection>, ApiError> {
    caller.require(Scope::IntegrationsUpdate)?;
    let connection: IntegrationConnection = body.parse()?;
    if connection.metadata.name != name {
        return Err(ApiError::BadRequest(format!(
            "metadata.name '{}' does not match '{name}' in the path: names are immutable",
            connection.metadata.name
        )));
    }
    validate_connection(&connection)?;
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    let existing = state.store.get_resource(&key).await?.ok_or_else(|| not_found(KIND, &name, &caller.workspace))?;
    let existing_spec: IntegrationConnectionSpec = spec_of(&existing)?;
    if existing_spec.integration != connection.spec.integration {
        let users = state.store.referrers(&key).await?;
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|r| r.name.as_str()).collect();
            return Err(ApiError::Conflict(format!(
                "spec.integration cannot change while models use this connection: {}",
                names.join(", ")
            )));
        }
    }
    let secrets = match &connection.spec.secret {
        None => open(&state, &existing)?,
        Some(sent) => {
            let needs_stored = sent.values().any(|v| v == SECRET_MASK);
            let stored = if needs_stored { open(&state, &existing)? } else { BTreeMap::new() };
            let mut merged = BTreeMap::new();
            for (k, v) in sent {
                let value = if v == SECRET_MASK {
                    stored.get(k).cloned().ok_or_else(|| {
                        ApiError::BadRequest(format!("spec.secret.{k}: no stored value to keep; give the real value"))
                    })?
                } else {
                    v.clone()
                };
                merged.insert(k.clone(), value);
            }
            merged
        }
    };
    check_provider_needs(&connection.spec, &secrets)?;
    let write = build_write(&state, &caller, &connection, &secrets)?;
    let record = state
        .store
        .update_resource(&write)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok(Json(render(&record)?))
}

/// Delete integration connection
#[utoipa::path(delete, path = "/integrations/connections/{connectionName}", tag = "integrations", operation_id = "DeleteIntegrationConnection",
    params(("connectionName" = String, Path, description = "Name of the integration connection")),
    responses((status = 200, description = "The deleted connection", body = IntegrationConnection),
        (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error),
        (status = 409, description = "The connection is used by models", body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["integrations:delete"])))]
async fn delete_connection(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IntegrationConnection>, ApiError> {
    caller.require(Scope::IntegrationsDelete)?;
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    let record =
        state.store.delete_resource(&key).await.map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok(Json(render(&record)?))
}
