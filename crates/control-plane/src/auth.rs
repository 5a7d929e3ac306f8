//! Caller authentication on the control plane.
//!
//! Credentials: a bearer API key (`mgk_...`) or access token (JWT from `/oauth/token`) in
//! `X-Blaxel-Authorization`, else `Authorization`; without either, the web console's session
//! cookie (see `console_session`), which acts exactly as the credential it was opened with. Workspace: the one named by
//! `X-Blaxel-Workspace` (or `?workspace=`), else the credential's own. A service account's
//! credentials act only in its workspace; a user's key acts in every workspace the user
//! administers. A workspace the caller cannot act in answers 404, exactly like one that does not
//! exist, so existence never leaks. Each handler declares its scope with [`Caller::require`].

use crate::error::ApiError;
use crate::throttle::client_ip;
use crate::ControlPlane;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::{access_token, api_key, Scope};
use std::collections::HashMap;
use std::sync::Arc;

/// Kind of principal behind a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    User,
    ServiceAccount,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::User => "user",
            SubjectType::ServiceAccount => "service_account",
        }
    }

    fn parse(text: &str) -> SubjectType {
        if text == "user" {
            SubjectType::User
        } else {
            SubjectType::ServiceAccount
        }
    }
}

/// Who is calling, as proven by their credential, before a workspace is chosen.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A user's subject or a service account's client id; recorded as `createdBy`/`updatedBy`.
    pub subject: String,
    pub subject_type: SubjectType,
    /// The workspace the credential belongs to.
    pub home_workspace: String,
    pub scopes: Vec<Scope>,
    /// The API key's id when the credential is a key (or a token signed on behalf of one).
    pub key_id: Option<String>,
}

/// The authenticated caller of a request and the workspace it acts in.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The workspace the request acts in.
    pub workspace: String,
}

impl Caller {
    /// Refuses the request with 403 unless the caller holds `scope` (or `admin`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if scope.is_granted_by(&self.principal.scopes) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this credential lacks the '{scope}' scope needed for this request")))
        }
    }

    /// Who acts, for owner fields.
    pub fn subject(&self) -> &str {
        &self.principal.subject
    }

    /// Whether the caller may hand out `scope` (to a key or service account it creates).
    pub fn may_grant(&self, scope: Scope) -> bool {
        scope.is_granted_by(&self.principal.scopes)
    }
}

/// The bearer credential of a request: `X-Blaxel-Authorization` first, then `Authorization`.
fn bearer_credential(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    for header in ["x-blaxel-authorization", "authorization"] {
        if let Some(value) = headers.get(header) {
            let value =
                value.to_str().map_err(|_| ApiError::Unauthorized(format!("the {header} header is not valid text")))?;
            let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or_else(|| {
                ApiError::Unauthorized(format!("the {header} header must be 'Bearer <API key or token>'"))
            })?;
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

fn parse_scopes(names: &[String]) -> Vec<Scope> {
    names.iter().filter_map(|s| Scope::parse(s)).collect()
}

/// Proves a credential: an API key by its digest (one indexed lookup, the same work for an
/// unknown key as for any other), an access token by its signature alone.
pub async fn authenticate(state: &ControlPlane, credential: &str) -> Result<Principal, ApiError> {
    if access_token::looks_like_token(credential) {
        let claims = access_token::verify(&state.keyring, credential, now_micros() / 1_000_000)
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        return Ok(Principal {
            subject: claims.sub,
            subject_type: SubjectType::parse(&claims.sub_type),
            home_workspace: claims.ws,
            scopes: parse_scopes(&claims.scopes),
            key_id: claims.key,
        });
    }
    authenticate_key_digest(state, &api_key::digest(credential)).await
}

/// Proves an API key by its digest (one indexed lookup): unknown, revoked or expired keys are
/// refused. A console session opened with a key is checked this way on every request.
pub async fn authenticate_key_digest(state: &ControlPlane, digest: &str) -> Result<Principal, ApiError> {
    let record = state
        .store
        .find_api_key(digest)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the API key is not valid (unknown or revoked)".into()))?;
    if record.expires_at.is_some_and(|at| at <= now_micros()) {
        return Err(ApiError::Unauthorized("the API key has expired".into()));
    }
    Ok(Principal {
        subject: record.subject,
        subject_type: SubjectType::parse(&record.subject_type),
        home_workspace: record.workspace,
        scopes: parse_scopes(&record.scopes),
        key_id: Some(record.id),
    })
}

/// The principal of a service account whose secret digest is `secret_digest`, as its access
/// tokens would carry it: compared in constant time, an unknown client costing the same as a
/// wrong secret.
pub async fn authenticate_client(
    state: &ControlPlane,
    client_id: &str,
    secret_digest: &str,
) -> Result<Principal, ApiError> {
    let account = state.store.get_service_account(client_id).await?;
    let expected =
        account.as_ref().map(|a| a.secret_digest.clone()).unwrap_or_else(|| api_key::digest("no such client"));
    let account = account
        .filter(|_| api_key::digests_match(secret_digest, &expected))
        .ok_or_else(|| ApiError::Unauthorized("the client id or client secret is not valid".into()))?;
    Ok(Principal {
        subject: account.client_id,
        subject_type: SubjectType::ServiceAccount,
        home_workspace: account.workspace,
        scopes: parse_scopes(&account.scopes),
        key_id: None,
    })
}

/// Whether `principal` may act in `workspace` (which it named explicitly).
pub async fn may_act_in(state: &ControlPlane, principal: &Principal, workspace: &str) -> Result<bool, ApiError> {
    if workspace == principal.home_workspace {
        return Ok(true);
    }
    if principal.subject_type != SubjectType::User || !state.store.workspace_exists(workspace).await? {
        return Ok(false);
    }
    Ok(state.store.is_platform_admin(&principal.subject).await?
        || state.store.is_workspace_admin(workspace, &principal.subject).await?)
}

/// 404 for a workspace that does not exist or that the caller cannot act in: the same answer.
pub fn workspace_not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("workspace '{name}' does not exist or this credential cannot act in it"))
}

impl FromRequestParts<Arc<ControlPlane>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<ControlPlane>) -> Result<Self, ApiError> {
        let result = async {
            if let Some(token) = bearer_credential(&parts.headers)? {
                return authenticate(state, token).await;
            }
            // The console's session cookie, only when no Authorization header is sent.
            let token = match state.console {
                Some(_) => crate::console_session::session_token(&parts.headers)?,
                None => None,
            };
            match token {
                Some(token) => crate::console_session::authenticate(state, &parts.method, &parts.headers, token).await,
                _ => Err(ApiError::Unauthorized(
                    "missing credentials: send 'Authorization: Bearer <modelgate API key>'".into(),
                )),
            }
        }
        .await;
        let principal = match result {
            Ok(principal) => principal,
            // Only a failure is throttled: a credential that verifies is never held back.
            Err(error @ ApiError::Unauthorized(_)) => {
                return Err(state.auth_throttle.record_failure(client_ip(parts)).await.unwrap_or(error));
            }
            Err(error) => return Err(error),
        };
        let workspace = match requested_workspace(parts)? {
            Some(requested) if requested != principal.home_workspace => {
                if !may_act_in(state, &principal, &requested).await? {
                    return Err(workspace_not_found(&requested));
                }
                requested
            }
            _ => principal.home_workspace.clone(),
        };
        Ok(Caller { principal, workspace })
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, header_bytes};
    use axum::http::{HeaderValue, Request};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(2000))]

        /// Whatever the credential headers hold, the credential is the first one's text after
        /// `Bearer `, trimmed, or a 401 naming the header.
        #[test]
        fn any_credential_header_is_read_or_refused(
            values in proptest::collection::vec((any::<bool>(), header_bytes(vec!["Bearer mgk_abc".into(), "bearer  a.b.c ".into(), "Basic x".into()])), 0..3),
        ) {
            let mut headers = HeaderMap::new();
            for (blaxel, value) in values {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    headers.append(if blaxel { "x-blaxel-authorization" } else { "authorization" }, value);
                }
            }
            let first = headers.get("x-blaxel-authorization").or_else(|| headers.get("authorization"));
            match bearer_credential(&headers) {
                Ok(Some(token)) => {
                    let text = first.and_then(|v| v.to_str().ok()).unwrap_or_default();
                    prop_assert_eq!(text[7..].trim(), token);
                }
                Ok(None) => prop_assert!(first.is_none()),
                Err(error) => prop_assert!(matches!(error, ApiError::Unauthorized(_))),
            }
        }

        /// The workspace asked for by header or query, whatever either holds, is read or refused.
        #[test]
        fn any_requested_workspace_is_read_or_refused(
            header in proptest::option::of(header_bytes(vec!["default".into(), " ws-1 ".into()])),
            query in "[a-z=&%0-9A-F+é]{0,24}",
        ) {
            let Ok(request) = Request::builder().uri(format!("/v0/models?{query}")).body(()) else { return Ok(()) };
            let (mut parts, ()) = request.into_parts();
            if let Some(value) = header.and_then(|h| HeaderValue::from_bytes(&h).ok()) {
                parts.headers.insert("x-blaxel-workspace", value);
            }
            match requested_workspace(&parts) {
                Err(error) => prop_assert!(matches!(error, ApiError::BadRequest(_))),
                Ok(Some(name)) if parts.headers.contains_key("x-blaxel-workspace") => prop_assert_eq!(name.trim(), name.as_str()),
                Ok(_) => {}
            }
        }
    }
}
