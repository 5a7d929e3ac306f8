//! Caller authentication: a bearer API key in `X-Blaxel-Authorization` or `Authorization`, the
//! workspace from `X-Blaxel-Workspace` (or `?workspace=`), else the key's own. Each handler
//! declares the scope the reference gives its route with [`Caller::require`].

use crate::error::ApiError;
use crate::ControlPlane;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::{api_key, Scope};
use std::collections::HashMap;
use std::sync::Arc;

/// The authenticated caller of a request and the workspace it acts in.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who the caller is; recorded as `createdBy` / `updatedBy`.
    pub subject: String,
    /// The workspace the request acts in.
    pub workspace: String,
    scopes: Vec<Scope>,
}

impl Caller {
    /// Refuses the request with 403 unless the caller holds `scope` (or `admin`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if scope.is_granted_by(&self.scopes) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this credential lacks the '{scope}' scope needed for this request")))
        }
    }
}

/// The bearer credential of a request: `X-Blaxel-Authorization` first, then `Authorization`.
fn bearer_credential(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    for header in ["x-blaxel-authorization", "authorization"] {
        if let Some(value) = headers.get(header) {
            let value =
                value.to_str().map_err(|_| ApiError::Unauthorized(format!("the {header} header is not valid text")))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::Unauthorized(format!("the {header} header must be 'Bearer <API key>'")))?;
            return Ok(Some(token.trim()));
        }
    }
    Ok(None)
}

fn requested_workspace(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get("x-blaxel-workspace") {
        let name = value
            .to_str()
            .map_err(|_| ApiError::BadRequest("the X-Blaxel-Workspace header is not valid text".into()))?;
        return Ok(Some(name.trim().to_string()));
    }
    let query: Query<HashMap<String, String>> =
        Query::try_from_uri(&parts.uri).unwrap_or_else(|_| Query(HashMap::new()));
    Ok(query.0.get("workspace").cloned())
}

impl FromRequestParts<Arc<ControlPlane>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<ControlPlane>) -> Result<Self, ApiError> {
        let token = bearer_credential(&parts.headers)?.ok_or_else(|| {
            ApiError::Unauthorized("missing credentials: send 'Authorization: Bearer <modelgate API key>'".into())
        })?;
        let record = state
            .store
            .find_api_key(&api_key::digest(token))
            .await?
            .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))?;
        if record.expires_at.is_some_and(|at| at <= now_micros()) {
            return Err(ApiError::Unauthorized("the API key has expired".into()));
        }
        let scopes: Vec<Scope> = record.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        let workspace = match requested_workspace(parts)? {
            Some(requested) if requested != record.workspace => {
                // Only a user's admin key reaches other workspaces (as Blaxel's user keys do);
                // service-account keys are bound to their own workspace.
                if !(scopes.contains(&Scope::Admin) && record.subject_type == "user") {
                    return Err(ApiError::Forbidden(format!(
                        "this key belongs to workspace '{}' and cannot act in workspace '{requested}'",
                        record.workspace
                    )));
                }
                if !state.store.workspace_exists(&requested).await? {
                    return Err(ApiError::NotFound(format!("workspace '{requested}' does not exist")));
                }
                requested
            }
            _ => record.workspace,
        };
        Ok(Caller { subject: record.subject, workspace, scopes })
    }
}
