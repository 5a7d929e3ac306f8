//! `POST /oauth/token`: the OAuth2 client-credentials grant. A service account trades its
//! client id and secret (HTTP Basic, or in the body) for a signed access token that carries its
//! workspace and scopes and is verified without a database call.
//!
//! Errors carry OAuth2's `{error, error_description}` and, beside them, the `code` and `message`
//! of modelgate's Error schema, so both kinds of client understand them.

use crate::auth::{authenticate_client, Principal};
use crate::error::ApiError;
use crate::throttle::client_ip;
use crate::ControlPlane;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use modelgate_domain::access_token::{self, Claims};
use modelgate_domain::api_key;
use modelgate_domain::identity::{TokenRequest, TokenResponse};
use modelgate_domain::secret_box::Keyring;
use modelgate_domain::timestamp::now_micros;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(token))
}

/// An OAuth2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into(), retry_after: None }
    }

    /// `invalid_client` for credentials sent with HTTP Basic: 401 with `WWW-Authenticate`
    /// (RFC 6749 section 5.2); sent in the body, 400.
    fn invalid_client(basic: bool, description: impl Into<String>) -> OAuthError {
        let status = if basic { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        OAuthError { status, error: "invalid_client", description: description.into(), retry_after: None }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
            "code": self.status.as_u16(),
            "message": self.description,
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"modelgate\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

fn basic_credentials(request: &Request) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = request.headers().get(AUTHORIZATION) else { return Ok(None) };
    let invalid =
        || OAuthError::invalid_client(true, "the Authorization header must be 'Basic base64(client_id:client_secret)'");
    let text = value.to_str().map_err(|_| invalid())?;
    let encoded = text.strip_prefix("Basic ").or_else(|| text.strip_prefix("basic ")).ok_or_else(invalid)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(Some((id.to_string(), secret.to_string())))
}

async fn read_body(request: Request, limits: &modelgate_body::BodyLimits) -> Result<TokenRequest, OAuthError> {
    let content_type =
        request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let (parts, body) = request.into_parts();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let bytes = match modelgate_body::read(body, declared, limits).await {
        Ok(body) => body.into_bytes(),
        Err(error) => return Err(unreadable_body(error)),
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let axum::Form(body) = axum::Form::<TokenRequest>::from_request(request, &())
            .await
            .map_err(|e| OAuthError::bad("invalid_request", format!("the form body is not valid: {e}")))?;
        return Ok(body);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| OAuthError::bad("invalid_request", format!("send a JSON (or form) body with grant_type: {e}")))
}

/// A token request whose body could not be read, in OAuth2's error shape.
fn unreadable_body(error: modelgate_body::BodyError) -> OAuthError {
    use modelgate_body::BodyError;
    let description = error.to_string();
    let (status, error, retry_after) = match error {
        BodyError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", None),
        BodyError::TimedOut { .. } => (StatusCode::REQUEST_TIMEOUT, "invalid_request", None),
        BodyError::OverBudget => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", Some(modelgate_body::OVER_BUDGET_RETRY_AFTER))
        }
        BodyError::Broken => (StatusCode::BAD_REQUEST, "invalid_request", None),
    };
    OAuthError { status, error, description, retry_after }
}

/// Exchange client credentials for an access token
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", operation_id = "CreateAccessToken", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "OAuth2 error: invalid_request, invalid_client or unsupported_grant_type")))]
async fn token(State(state): State<Arc<ControlPlane>>, request: Request) -> Result<Json<TokenResponse>, OAuthError> {
    let (mut parts, body) = request.into_parts();
    let ip = client_ip(&parts);
    parts.extensions.clear();
    let request = Request::from_parts(parts, body);
    let basic = basic_credentials(&request)?;
    let body = read_body(request, &state.body_limits).await?;
    match body.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::bad(
                "unsupported_grant_type",
                format!("grant_type '{other}' is not supported; use client_credentials"),
            ))
        }
        None => return Err(OAuthError::bad("invalid_request", "grant_type is required (client_credentials)")),
    }
    let by_basic = basic.is_some();
    let (client_id, client_secret) = match (basic, body.client_id, body.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(OAuthError::bad(
                "invalid_client",
                "send client_id and client_secret with HTTP Basic authentication or in the body",
            ))
        }
    };
    let principal = match authenticate_client(&state, &client_id, &api_key::digest(&client_secret)).await {
        Ok(principal) => principal,
        // Only a failure is throttled: a client whose secret verifies is never held back.
        Err(ApiError::Unauthorized(_)) => {
            if let Some(ApiError::TooManyRequests(message, seconds)) = state.auth_throttle.record_failure(ip).await {
                return Err(OAuthError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    error: "slow_down",
                    description: message,
                    retry_after: Some(seconds),
                });
            }
            return Err(OAuthError::invalid_client(by_basic, "the client id or client secret is not valid"));
        }
        Err(error) => {
            tracing::error!(?error, "token request could not read the store");
            return Err(OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "the store is unreachable; retry shortly".into(),
                retry_after: Some(crate::error::STORE_RETRY_AFTER_SECONDS),
            });
        }
    };
    let scope = principal.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    Ok(Json(TokenResponse {
        access_token: sign_access_token(&state.keyring, &principal, state.token_ttl_seconds),
        token_type: "Bearer".to_string(),
        expires_in: state.token_ttl_seconds,
        scope,
    }))
}

/// An access token for `principal` (its subject, home workspace and scopes), valid for
/// `ttl_seconds`: what `/oauth/token` answers, and what the console's playground calls the
/// inference plane with.
pub fn sign_access_token(keyring: &Keyring, principal: &Principal, ttl_seconds: i64) -> String {
    let now = now_micros() / 1_000_000;
    let claims = Claims {
        iss: access_token::ISSUER.to_string(),
        sub: principal.subject.clone(),
        sub_type: principal.subject_type.as_str().to_string(),
        ws: principal.home_workspace.clone(),
        scopes: principal.scopes.iter().map(|s| s.as_str().to_string()).collect(),
        iat: now,
        exp: now + ttl_seconds,
        jti: api_key::generate_id(),
        key: principal.key_id.clone(),
    };
    access_token::sign(keyring, &claims)
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, header_bytes};
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn request(content_type: &str, authorization: Option<HeaderValue>, body: Vec<u8>) -> Request {
        let mut request = Request::new(axum::body::Body::from(body));
        *request.method_mut() = axum::http::Method::POST;
        if let Ok(value) = HeaderValue::from_str(content_type) {
            request.headers_mut().insert(CONTENT_TYPE, value);
        }
        if let Some(value) = authorization {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        request
    }

    fn limits() -> modelgate_body::BodyLimits {
        modelgate_body::BodyLimits::new(1024, None, 1 << 20)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    /// Every byte percent-encoded.
    fn encode(text: &str) -> String {
        text.bytes().map(|byte| format!("%{byte:02X}")).collect()
    }

    const FORM: &str = "grant_type=client_credentials&client_id=sa_0123&client_secret=mgs_abc%2B%2F";
    const JSON: &str = r#"{"grant_type":"client_credentials","client_id":"sa_0123","client_secret":"mgs_abc"}"#;

    proptest! {
        #![proptest_config(config(1000))]

        /// Any Authorization header is client credentials, none, or `invalid_client`; the
        /// credentials of a well-formed one come back as sent.
        #[test]
        fn any_basic_header_is_read_or_refused(
            value in header_bytes(vec![format!("Basic {}", STANDARD.encode("sa_1:mgs_x")), "basic Og==".into(), "Bearer x".into()]),
            id in "[^:]{0,12}",
            secret in ".{0,12}",
        ) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                if let Err(error) = basic_credentials(&request("", Some(value), Vec::new())) {
                    prop_assert_eq!((error.status, error.error), (StatusCode::UNAUTHORIZED, "invalid_client"));
                }
            }
            let valid = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))).unwrap();
            prop_assert_eq!(basic_credentials(&request("", Some(valid), Vec::new())).unwrap(), Some((id, secret)));
        }

        /// Any token request body, form or JSON or neither, is read or refused with
        /// `invalid_request`; a form's fields come back as encoded.
        #[test]
        fn any_token_request_body_is_read_or_refused(
            body in header_bytes(vec![FORM.into(), JSON.into()]),
            content_type in proptest::sample::select(&["application/x-www-form-urlencoded", "application/json", "text/plain", "application/x-www-form-urlencoded; charset=utf-8"][..]),
            fields in proptest::array::uniform3(proptest::option::of(".{0,12}")),
        ) {
            let runtime = runtime();
            if let Err(error) = runtime.block_on(read_body(request(content_type, None, body), &limits())) {
                prop_assert_eq!((error.status, error.error), (StatusCode::BAD_REQUEST, "invalid_request"));
            }
            let form: Vec<String> = ["grant_type", "client_id", "client_secret"].iter().zip(&fields)
                .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={}", encode(v))))
                .collect();
            let form = request("application/x-www-form-urlencoded", None, form.join("&").into_bytes());
            let read = runtime.block_on(read_body(form, &limits())).unwrap();
            prop_assert_eq!([read.grant_type, read.client_id, read.client_secret], fields);
        }
    }
}
