//! Who is calling a model: the modelgate credential from `X-Blaxel-Authorization`, else
//! `Authorization: Bearer`, else a provider key header (`x-api-key`, `x-goog-api-key`,
//! `api-key`) or Gemini's `?key=`, so unmodified provider SDKs work with a modelgate key as their
//! API key. Checked against the snapshot only: no database call.

use crate::gateway_error::GatewayError;
use crate::snapshot::Snapshot;
use axum::http::{HeaderMap, HeaderName};
use modelgate_domain::secret_box::Keyring;
use modelgate_domain::timestamp::Micros;
use modelgate_domain::{access_token, api_key, Scope};

/// An authenticated caller of a model.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    /// The API key's id, `None` for an access token.
    pub key_id: Option<String>,
}

/// Headers that may carry the caller's modelgate credential, in the order they are read.
/// Every one of them is removed before a request goes upstream.
pub const CREDENTIAL_HEADERS: [&str; 5] =
    ["x-blaxel-authorization", "authorization", "x-api-key", "x-goog-api-key", "api-key"];

/// [`CREDENTIAL_HEADERS`] as header names, so that reading them parses no name per request.
static CREDENTIAL_HEADER_NAMES: [HeaderName; 5] = [
    HeaderName::from_static(CREDENTIAL_HEADERS[0]),
    HeaderName::from_static(CREDENTIAL_HEADERS[1]),
    HeaderName::from_static(CREDENTIAL_HEADERS[2]),
    HeaderName::from_static(CREDENTIAL_HEADERS[3]),
    HeaderName::from_static(CREDENTIAL_HEADERS[4]),
];

fn strip_bearer(value: &str) -> &str {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value).trim()
}

/// The credential presented, if any.
pub fn credential<'a>(headers: &'a HeaderMap, query_key: Option<&'a str>) -> Option<&'a str> {
    CREDENTIAL_HEADER_NAMES
        .iter()
        .find_map(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .map(strip_bearer)
        .filter(|v| !v.is_empty())
        .or(query_key)
}

/// Authenticates `credential` for calling a model in `workspace`. A credential of another
/// workspace gets the same answer as a model that does not exist.
pub fn authenticate(
    snapshot: &Snapshot,
    keyring: &Keyring,
    credential: Option<&str>,
    workspace: &str,
    now: Micros,
) -> Result<Caller, GatewayError> {
    let credential = credential.ok_or_else(|| {
        GatewayError::authentication_required(
            "send a modelgate API key or access token: 'Authorization: Bearer <key>' (or the provider SDK's API key setting)",
        )
    })?;
    if access_token::looks_like_token(credential) {
        let claims = access_token::verify(keyring, credential, now / 1_000_000)
            .map_err(|e| GatewayError::authentication_failed(e.to_string()))?;
        let scopes: Vec<Scope> = claims.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        admit_to(snapshot, workspace, &claims.sub, &claims.ws, claims.sub_type == "user", &scopes)?;
        return Ok(Caller { subject: claims.sub, key_id: None });
    }
    let grant = snapshot
        .key(&api_key::digest(credential))
        .ok_or_else(|| GatewayError::authentication_failed("the API key is not valid (unknown or revoked)"))?;
    if grant.expires_at.is_some_and(|at| at <= now) {
        return Err(GatewayError::authentication_failed("the API key has expired"));
    }
    admit_to(snapshot, workspace, &grant.subject, &grant.workspace, grant.is_user, &grant.scopes)?;
    Ok(Caller { subject: grant.subject.clone(), key_id: Some(grant.id.clone()) })
}

/// Whether a credential of `subject` (of workspace `home`, with `scopes`) may call models in
/// `workspace`.
fn admit_to(
    snapshot: &Snapshot,
    workspace: &str,
    subject: &str,
    home: &str,
    is_user: bool,
    scopes: &[Scope],
) -> Result<(), GatewayError> {
    let in_workspace = home == workspace || (is_user && snapshot.administers(subject, workspace));
    if !in_workspace {
        return Err(GatewayError::route_not_found(format!(
            "no model route in workspace '{workspace}' for this credential"
        )));
    }
    if !Scope::ModelsInvoke.is_granted_by(scopes) {
        return Err(GatewayError::forbidden("this credential lacks the 'models:invoke' scope needed to call models"));
    }
    Ok(())
}
