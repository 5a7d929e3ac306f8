//! `/policies`: governance rules (location, flavor, maxToken) and which models use them.
//! Enforcement on the inference path comes with the inference plane; flavors are checked here
//! when a model is saved.

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::document::{metadata_of, spec_of, to_document};
use crate::error::{not_found, ApiError, Error};
use crate::extract::{Path, Query};
use crate::listing::{search_text, ApiVersion, ListParams, Listing};
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::validation::validate_policy;
use modelgate_domain::{Policy, PolicyUsageCounts, PolicyUsages, Scope};
use modelgate_store::{ResourceKey, ResourceKind, ResourceRecord, ResourceWrite, Store};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(get_policy_usages))
}

const KIND: ResourceKind = ResourceKind::Policy;

async fn render(store: &dyn Store, record: &ResourceRecord) -> Result<Policy, ApiError> {
    let models = store.referrers(&record.key).await?.iter().filter(|r| r.kind == ResourceKind::Model).count();
    Ok(Policy {
        metadata: metadata_of(record, None)?,
        spec: spec_of(record)?,
        usage: Some(PolicyUsageCounts {
            models: i64::try_from(models).unwrap_or(i64::MAX),
            ..PolicyUsageCounts::default()
        }),
    })
}

fn build_write(caller: &Caller, policy: &Policy) -> Result<ResourceWrite, ApiError> {
    let metadata = &policy.metadata;
    Ok(ResourceWrite {
        key: ResourceKey::new(&caller.workspace, KIND, &metadata.name),
        document: to_document(metadata, &policy.spec)?,
        search_text: search_text(&metadata.name, metadata.display_name.as_deref(), metadata.labels.as_ref()),
        status: None,
        new_events: Vec::new(),
        sealed_secret: None,
        references: Vec::new(),
        revision: None,
        actor: caller.subject().to_string(),
        at: now_micros(),
    })
}

/// List governance policies
#[utoipa::path(get, path = "/policies", tag = "policies", operation_id = "ListPolicies",
    params(ListParams, ("Blaxel-Version" = Option<String>, Header, description = "2026-04-28 or later answers {data, meta}; earlier, a bare array")),
    responses((status = 200, description = "Policies: a bare array, or {data, meta} from Blaxel-Version 2026-04-28", body = crate::openapi::PolicyList),
        (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:list"])))]
async fn list_policies(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    version: ApiVersion,
    Query(params): Query<ListParams>,
) -> Result<axum::response::Response, ApiError> {
    caller.require(Scope::PoliciesList)?;
    let listing = Listing::new(&version, &params, &caller.workspace, KIND)?;
    let records = state.store.list_resources(&caller.workspace, KIND, &listing.query).await?;
    let total = state.store.count_resources(&caller.workspace, KIND).await?;
    let mut rendered = std::collections::HashMap::new();
    for record in &records {
        rendered.insert(record.key.name.clone(), render(state.store.as_ref(), record).await?);
    }
    listing.respond(records, total, |record| {
        rendered
            .get(&record.key.name)
            .cloned()
            .ok_or_else(|| ApiError::Internal("policy vanished while listing".into()))
    })
}

/// Create governance policy
#[utoipa::path(post, path = "/policies", tag = "policies", operation_id = "CreatePolicy", request_body = Policy,
    responses((status = 200, body = Policy), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error),
        (status = 409, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:create"])))]
async fn create_policy(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<Policy>, ApiError> {
    caller.require(Scope::PoliciesCreate)?;
    let policy: Policy = body.parse()?;
    validate_policy(&policy)?;
    let name = &policy.metadata.name;
    let record = state
        .store
        .create_resource(&build_write(&caller, &policy)?)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, name, &caller.workspace))?;
    Ok(Json(render(state.store.as_ref(), &record).await?))
}

/// Get governance policy
#[utoipa::path(get, path = "/policies/{policyName}", tag = "policies", operation_id = "GetPolicy",
    params(("policyName" = String, Path, description = "Name of the policy")),
    responses((status = 200, body = Policy), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:get"])))]
async fn get_policy(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    caller.require(Scope::PoliciesGet)?;
    let record = state
        .store
        .get_resource(&ResourceKey::new(&caller.workspace, KIND, &name))
        .await?
        .ok_or_else(|| not_found(KIND, &name, &caller.workspace))?;
    Ok(Json(render(state.store.as_ref(), &record).await?))
}

/// Update governance policy
#[utoipa::path(put, path = "/policies/{policyName}", tag = "policies", operation_id = "UpdatePolicy", request_body = Policy,
    params(("policyName" = String, Path, description = "Name of the policy")),
    responses((status = 200, body = Policy), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:update"])))]
async fn update_policy(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    body: JsonBody,
) -> Result<Json<Policy>, ApiError> {
    caller.require(Scope::PoliciesUpdate)?;
    let policy: Policy = body.parse()?;
    if policy.metadata.name != name {
        return Err(ApiError::BadRequest(format!(
            "metadata.name '{}' does not match '{name}' in the path: names are immutable",
            policy.metadata.name
        )));
    }
    validate_policy(&policy)?;
    let record = state
        .store
        .update_resource(&build_write(&caller, &policy)?)
        .await
        .map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok(Json(render(state.store.as_ref(), &record).await?))
}

/// Delete governance policy
#[utoipa::path(delete, path = "/policies/{policyName}", tag = "policies", operation_id = "DeletePolicy",
    params(("policyName" = String, Path, description = "Name of the policy")),
    responses((status = 200, body = Policy), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error),
        (status = 409, description = "The policy is used by models", body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:delete"])))]
async fn delete_policy(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    caller.require(Scope::PoliciesDelete)?;
    let key = ResourceKey::new(&caller.workspace, KIND, &name);
    let record =
        state.store.delete_resource(&key).await.map_err(|e| ApiError::from_store(e, KIND, &name, &caller.workspace))?;
    Ok(Json(Policy {
        metadata: metadata_of(&record, None)?,
        spec: spec_of(&record)?,
        usage: Some(PolicyUsageCounts::default()),
    }))
}

/// List resources using a policy
#[utoipa::path(get, path = "/policies/{policyName}/usages", tag = "policies", operation_id = "GetPolicyUsages",
    params(("policyName" = String, Path, description = "Name of the policy")),
    responses((status = 200, body = PolicyUsages), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["policies:get"])))]
async fn get_policy_usages(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyUsages>, ApiError> {
    caller.require(Scope::PoliciesGet)?;
    let models = models_using(&state, &ResourceKey::new(&caller.workspace, KIND, &name)).await?;
    Ok(Json(PolicyUsages { models, ..PolicyUsages::default() }))
}

/// The models that reference the policy or connection `key`, as `{"name": ...}` objects; 404 if
/// it does not exist.
pub(crate) async fn models_using(state: &ControlPlane, key: &ResourceKey) -> Result<Vec<serde_json::Value>, ApiError> {
    if state.store.get_resource(key).await?.is_none() {
        return Err(not_found(key.kind, &key.name, &key.workspace));
    }
    Ok(state
        .store
        .referrers(key)
        .await?
        .into_iter()
        .filter(|r| r.kind == ResourceKind::Model)
        .map(|r| serde_json::json!({ "name": r.name }))
        .collect())
}
