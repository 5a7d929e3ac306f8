//! The control plane's one error type and its one mapping to HTTP: every failure answers the
//! reference's `Error` schema `{code, error, message}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use modelgate_store::{Reference, ResourceKind, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Standard error response returned by the API when a request fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct Error {
    /// HTTP status code of the error
    #[schema(example = 409)]
    pub code: u16,
    /// Error type or code identifying the kind of error
    #[schema(example = "already_exists")]
    pub error: String,
    /// Human-readable error message describing what went wrong and what to fix
    #[schema(example = "model 'my-model' already exists in workspace 'default'")]
    pub message: String,
}

/// Seconds a client is told to wait (`Retry-After`) when the store cannot be reached (or the
/// node is starting and waits for it): its health is probed every half second, so a few seconds
/// is a fair first wait.
pub const STORE_RETRY_AFTER_SECONDS: u64 = 5;

/// A failure of a control-plane request.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    InvalidApiVersion(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed(String),
    Conflict(String),
    PayloadTooLarge(String),
    UnsupportedMediaType(String),
    /// 503 with the seconds to wait.
    Unavailable(String, u64),
    /// 408: the request body did not arrive in time.
    RequestTimeout(String),
    /// 429 with the seconds to wait.
    TooManyRequests(String, u64),
    /// Something broke on our side; the detail is logged, never shown.
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::InvalidApiVersion(_) => (StatusCode::BAD_REQUEST, "invalid_api_version"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Unavailable(..) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// Maps a store failure about the resource `kind`/`name`.
    pub fn from_store(error: StoreError, kind: ResourceKind, name: &str, workspace: &str) -> ApiError {
        match error {
            StoreError::NotFound => not_found(kind, name, workspace),
            StoreError::AlreadyExists => {
                ApiError::Conflict(format!("{} '{name}' already exists in workspace '{workspace}'", kind.label()))
            }
            StoreError::MissingReference(reference) => missing_reference(&reference, workspace),
            StoreError::InUse(referrers) => in_use(kind, name, &referrers),
            other => ApiError::from(other),
        }
    }
}

/// 404 for a resource that does not exist.
pub fn not_found(kind: ResourceKind, name: &str, workspace: &str) -> ApiError {
    ApiError::NotFound(format!("{} '{name}' does not exist in workspace '{workspace}'", kind.label()))
}

/// 400 for a resource naming something that does not exist.
pub fn missing_reference(reference: &Reference, workspace: &str) -> ApiError {
    ApiError::BadRequest(format!("{reference} does not exist in workspace '{workspace}'; create it first"))
}

fn in_use(kind: ResourceKind, name: &str, referrers: &[Reference]) -> ApiError {
    let names: Vec<String> = referrers.iter().map(|r| format!("'{}'", r.name)).collect();
    let field = match kind {
        ResourceKind::IntegrationConnection => "spec.integrationConnections",
        _ => "spec.policies",
    };
    ApiError::Conflict(format!(
        "{} '{name}' is used by models: {}; remove it from their {field} first",
        kind.label(),
        names.join(", ")
    ))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "control-plane request failed: the store is unreachable");
                store_unavailable()
            }
            other => ApiError::Internal(format!("store: {other}")),
        }
    }
}

/// 503 for a request the store could not serve because it is unreachable.
pub fn store_unavailable() -> ApiError {
    ApiError::Unavailable("the store is unreachable; retry in a few seconds".into(), STORE_RETRY_AFTER_SECONDS)
}

impl From<modelgate_body::BodyError> for ApiError {
    fn from(error: modelgate_body::BodyError) -> ApiError {
        use modelgate_body::BodyError;
        let message = error.to_string();
        match error {
            BodyError::TooLarge { .. } => ApiError::PayloadTooLarge(message),
            BodyError::TimedOut { .. } => ApiError::RequestTimeout(message),
            BodyError::OverBudget => ApiError::Unavailable(message, modelgate_body::OVER_BUDGET_RETRY_AFTER),
            BodyError::Broken => ApiError::BadRequest(message),
        }
    }
}

impl From<modelgate_domain::ValidationError> for ApiError {
    fn from(error: modelgate_domain::ValidationError) -> ApiError {
        ApiError::BadRequest(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.parts();
        let retry_after = match &self {
            ApiError::TooManyRequests(_, seconds) | ApiError::Unavailable(_, seconds) => Some(*seconds),
            _ => None,
        };
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "control-plane request failed");
                "internal error: the request was not applied; see the server log for details".to_string()
            }
            ApiError::BadRequest(m)
            | ApiError::InvalidApiVersion(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::Conflict(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Unavailable(m, _)
            | ApiError::RequestTimeout(m)
            | ApiError::TooManyRequests(m, _) => m,
        };
        let mut response =
            (status, Json(Error { code: status.as_u16(), error: error.to_string(), message })).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
