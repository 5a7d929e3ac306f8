//! Issuing, listing and revoking API keys, for service accounts
//! (`/service_accounts/{clientId}/api_keys`) and for the admin user itself
//! (`/users/me/api_keys`, for the CLI and scripts). The key is shown once; only its digest is
//! stored. A key never carries a scope its issuer does not hold.

use crate::auth::{Caller, SubjectType};
use crate::body::JsonBody;
use crate::error::{ApiError, Error};
use crate::extract::Path;
use crate::ControlPlane;
use axum::extract::State;
use axum::Json;
use modelgate_domain::identity::{ApiKey, CreateApiKey};
use modelgate_domain::timestamp::{now_micros, to_rfc3339};
use modelgate_domain::{api_key, Scope};
use modelgate_store::{ApiKeyRecord, StoreError};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new()
        .routes(routes!(list_own_keys, create_own_key))
        .routes(routes!(delete_own_key))
        .routes(routes!(list_service_account_keys, create_service_account_key))
        .routes(routes!(delete_service_account_key))
}

const MAX_KEY_NAME_LEN: usize = 128;

/// The wire form of a key record; `key` only at creation.
pub fn render(record: &ApiKeyRecord, key: Option<String>) -> ApiKey {
    ApiKey {
        created_at: to_rfc3339(record.created_at),
        updated_at: to_rfc3339(record.created_at),
        created_by: record.created_by.clone(),
        updated_by: record.created_by.clone(),
        api_key: key,
        expires_in: record.expires_in.clone(),
        expires_at: record.expires_at.map(to_rfc3339),
        id: record.id.clone(),
        name: record.name.clone(),
        scopes: record.scopes.clone(),
        sub: record.subject.clone(),
        sub_type: record.subject_type.clone(),
        workspace: record.workspace.clone(),
    }
}

/// Parses requested scope names, checking each is known and that `caller` may grant it.
pub fn granted_scopes(
    caller: &Caller,
    requested: Option<&[String]>,
    default: &[String],
) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = requested.map(<[String]>::to_vec).unwrap_or_else(|| default.to_vec());
    if names.is_empty() {
        return Err(ApiError::BadRequest("scopes: give at least one scope".into()));
    }
    let mut scopes = Vec::new();
    for name in &names {
        let scope = Scope::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::BadRequest(format!("scopes: '{name}' is not a scope; use any of {}", known.join(", ")))
        })?;
        if !caller.may_grant(scope) {
            return Err(ApiError::Forbidden(format!(
                "cannot grant the '{scope}' scope: a credential can only grant scopes it holds{}",
                if requested.is_none() { " (give `scopes` explicitly)" } else { "" }
            )));
        }
        if !scopes.contains(&scope.as_str().to_string()) {
            scopes.push(scope.as_str().to_string());
        }
    }
    Ok(scopes)
}

/// Creates a key for `subject` in `workspace` and answers it (with the key, once).
async fn issue(
    state: &ControlPlane,
    caller: &Caller,
    body: CreateApiKey,
    subject: &str,
    subject_type: SubjectType,
    workspace: &str,
    scopes: Vec<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let name = body.name.unwrap_or_else(|| "api key".to_string());
    if name.trim().is_empty() || name.chars().count() > MAX_KEY_NAME_LEN {
        return Err(ApiError::BadRequest(format!("name: must be 1 to {MAX_KEY_NAME_LEN} characters")));
    }
    let lifetime = api_key::parse_expires_in(body.expires_in.as_deref().unwrap_or(""))
        .map_err(|m| ApiError::BadRequest(format!("expires_in: {m}")))?;
    let at = now_micros();
    let key = api_key::generate();
    let record = ApiKeyRecord {
        id: api_key::generate_id(),
        workspace: workspace.to_string(),
        name,
        key_digest: api_key::digest(&key),
        subject: subject.to_string(),
        subject_type: subject_type.as_str().to_string(),
        scopes,
        expires_in: body.expires_in.filter(|e| !e.trim().is_empty()),
        expires_at: lifetime.map(|seconds| at + seconds * 1_000_000),
        created_at: at,
        created_by: caller.subject().to_string(),
    };
    state.store.insert_api_key(&record).await?;
    Ok(Json(render(&record, Some(key))))
}

async fn revoke(state: &ControlPlane, subject: &str, id: &str) -> Result<Json<ApiKey>, ApiError> {
    let record = state.store.delete_api_key(subject, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("API key '{id}' does not exist")),
        other => other.into(),
    })?;
    Ok(Json(render(&record, None)))
}

/// The service account `client_id` if it belongs to the caller's workspace; 404 otherwise.
pub async fn service_account_in_workspace(
    state: &ControlPlane,
    caller: &Caller,
    client_id: &str,
) -> Result<modelgate_store::ServiceAccountRecord, ApiError> {
    state
        .store
        .get_service_account(client_id)
        .await?
        .filter(|account| account.workspace == caller.workspace)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "service account '{client_id}' does not exist in workspace '{}'",
                caller.workspace
            ))
        })
}

fn require_admin_user(caller: &Caller) -> Result<(), ApiError> {
    caller.require(Scope::Admin)?;
    if caller.principal.subject_type != SubjectType::User {
        return Err(ApiError::Forbidden("only a user's admin credential has keys of its own; service accounts use /service_accounts/{clientId}/api_keys".into()));
    }
    Ok(())
}

/// List the admin's own API keys
#[utoipa::path(get, path = "/users/me/api_keys", tag = "service_accounts", operation_id = "ListOwnApiKeys",
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Error), (status = 403, body = Error)),
    security(("ApiKeyAuth" = ["admin"])))]
async fn list_own_keys(State(state): State<Arc<ControlPlane>>, caller: Caller) -> Result<Json<Vec<ApiKey>>, ApiError> {
    require_admin_user(&caller)?;
    let records = state.store.list_api_keys(caller.subject()).await?;
    Ok(Json(records.iter().map(|r| render(r, None)).collect()))
}

/// Create an API key for the admin itself (for the CLI and scripts)
#[utoipa::path(post, path = "/users/me/api_keys", tag = "service_accounts", operation_id = "CreateOwnApiKey", request_body = CreateApiKey,
    responses((status = 200, description = "The key, shown only in this response", body = ApiKey), (status = 400, body = Error),
        (status = 401, body = Error), (status = 403, body = Error)),
    security(("ApiKeyAuth" = ["admin"])))]
async fn create_own_key(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<ApiKey>, ApiError> {
    require_admin_user(&caller)?;
    let body: CreateApiKey = body.parse()?;
    let scopes = granted_scopes(&caller, body.scopes.as_deref(), &[Scope::Admin.as_str().to_string()])?;
    let principal = caller.principal.clone();
    issue(&state, &caller, body, &principal.subject, SubjectType::User, &principal.home_workspace, scopes).await
}

/// Revoke one of the admin's own API keys
#[utoipa::path(delete, path = "/users/me/api_keys/{apiKeyId}", tag = "service_accounts", operation_id = "DeleteOwnApiKey",
    params(("apiKeyId" = String, Path, description = "Id of the key (ak_...)")),
    responses((status = 200, body = ApiKey), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["admin"])))]
async fn delete_own_key(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    require_admin_user(&caller)?;
    revoke(&state, caller.subject(), &id).await
}

/// List API keys of a service account
#[utoipa::path(get, path = "/service_accounts/{clientId}/api_keys", tag = "service_accounts", operation_id = "ListApiKeysForServiceAccount",
    params(("clientId" = String, Path, description = "Client id of the service account")),
    responses((status = 200, description = "The keys, never the key values", body = Vec<ApiKey>), (status = 401, body = Error),
        (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["apiKey:list"])))]
async fn list_service_account_keys(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    caller.require(Scope::ApiKeyList)?;
    service_account_in_workspace(&state, &caller, &client_id).await?;
    let records = state.store.list_api_keys(&client_id).await?;
    Ok(Json(records.iter().map(|r| render(r, None)).collect()))
}

/// Create an API key for a service account
#[utoipa::path(post, path = "/service_accounts/{clientId}/api_keys", tag = "service_accounts", operation_id = "CreateApiKeyForServiceAccount",
    request_body = CreateApiKey,
    params(("clientId" = String, Path, description = "Client id of the service account")),
    responses((status = 200, description = "The key, shown only in this response", body = ApiKey), (status = 400, body = Error),
        (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["apiKey:write"])))]
async fn create_service_account_key(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(client_id): Path<String>,
    body: JsonBody,
) -> Result<Json<ApiKey>, ApiError> {
    caller.require(Scope::ApiKeyWrite)?;
    let body: CreateApiKey = body.parse()?;
    let account = service_account_in_workspace(&state, &caller, &client_id).await?;
    let scopes = granted_scopes(&caller, body.scopes.as_deref(), &account.scopes)?;
    let account_scopes: Vec<Scope> = account.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    if let Some(beyond) = scopes.iter().filter_map(|s| Scope::parse(s)).find(|s| !s.is_granted_by(&account_scopes)) {
        return Err(ApiError::BadRequest(format!(
            "scopes: '{beyond}' exceeds what service account '{client_id}' may do ({})",
            account.scopes.join(", ")
        )));
    }
    issue(&state, &caller, body, &client_id, SubjectType::ServiceAccount, &account.workspace, scopes).await
}

/// Revoke an API key of a service account
#[utoipa::path(delete, path = "/service_accounts/{clientId}/api_keys/{apiKeyId}", tag = "service_accounts",
    operation_id = "DeleteApiKeyForServiceAccount",
    params(("clientId" = String, Path, description = "Client id of the service account"), ("apiKeyId" = String, Path, description = "Id of the key")),
    responses((status = 200, body = ApiKey), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)),
    security(("ApiKeyAuth" = ["apiKey:write"])))]
async fn delete_service_account_key(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path((client_id, id)): Path<(String, String)>,
) -> Result<Json<ApiKey>, ApiError> {
    caller.require(Scope::ApiKeyWrite)?;
    service_account_in_workspace(&state, &caller, &client_id).await?;
    revoke(&state, &client_id, &id).await
}
