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
        return Ok(Caller { subject: claims.sub, key_id: claims.key });
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

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use axum::http::HeaderValue;
    use modelgate_domain::access_token::{sign, Claims, ISSUER};
    use modelgate_domain::secret_box::MasterKey;
    use proptest::prelude::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::from_bytes([3; 32]), vec![])
    }

    /// A token for `w` with `models:invoke`, valid until far in the future.
    fn token() -> String {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "sa_1".into(),
            sub_type: "service_account".into(),
            ws: "w".into(),
            scopes: vec!["models:invoke".into()],
            iat: 0,
            exp: i64::MAX,
            jti: "j".into(),
            key: None,
        };
        sign(&keyring(), &claims)
    }

    /// Header values as a client may send them: any bytes a header can hold, near a bearer token.
    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..48),
            near(&["Bearer mgk_abc", "bearer  x ", "Bearer ", "mgk_\u{e9}"]),
            Just(format!("Bearer {}", token()).into_bytes()),
            near(&[format!("Bearer {}", token()).as_str()]),
        ]
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Whatever headers carry, the credential read is one of them (trimmed, without
        /// `Bearer `) or the query's key; and it authenticates only when it is the token as signed.
        #[test]
        fn any_credential_is_read_and_checked(
            values in proptest::collection::vec((0..CREDENTIAL_HEADERS.len(), header_value()), 0..3),
            query in proptest::option::of(".*"),
        ) {
            let mut headers = HeaderMap::new();
            for (header, value) in &values {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    headers.append(CREDENTIAL_HEADERS[*header], value);
                }
            }
            let found = credential(&headers, query.as_deref());
            if let Some(found) = found {
                let from_header = headers.values().filter_map(|v| v.to_str().ok()).any(|v| v.contains(found));
                prop_assert!(from_header || query.as_deref() == Some(found));
            }
            let caller = authenticate(&Snapshot::default(), &keyring(), found, "w", 0);
            if caller.is_ok() {
                prop_assert_eq!(found.map(str::to_string), Some(token()));
            }
        }
    }
}
