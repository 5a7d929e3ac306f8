//! Errors the gateway itself answers on the inference plane (as opposed to a provider's errors,
//! which pass through unchanged): `{"error": {code, message, type, retryable}}` with
//! `x-blaxel-source: platform` and the code in `x-blaxel-error-code`, as Blaxel's run plane does.
//! Each error knows where it came from ([`ErrorSource`], as Pingora's errors do) and may carry an
//! internal cause for the log, never sent to the client.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Header marking a response made by the gateway, not the provider.
pub const SOURCE_HEADER: &str = "x-blaxel-source";
/// Header carrying the gateway's error code.
pub const ERROR_CODE_HEADER: &str = "x-blaxel-error-code";

/// Where an error came from: what the client sent, the gateway's own configuration or state,
/// or the provider (unreachable, too slow, refusing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSource {
    Client,
    Gateway,
    Provider,
}

impl ErrorSource {
    /// The name used in logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::Client => "client",
            ErrorSource::Gateway => "gateway",
            ErrorSource::Provider => "provider",
        }
    }
}

/// An error made by the gateway.
#[derive(Debug)]
pub struct GatewayError {
    pub status: StatusCode,
    pub code: &'static str,
    kind: &'static str,
    pub message: String,
    pub source: ErrorSource,
    /// What lies behind the message, for the log only (a transport error, a provider's status).
    pub cause: Option<String>,
    retryable: bool,
    retry_after: Option<u64>,
}

impl GatewayError {
    fn new(status: StatusCode, code: &'static str, kind: &'static str, message: impl Into<String>) -> GatewayError {
        GatewayError {
            status,
            code,
            kind,
            message: message.into(),
            source: ErrorSource::Client,
            cause: None,
            retryable: false,
            retry_after: None,
        }
    }

    /// This error, attributed to `source`.
    pub fn from_source(mut self, source: ErrorSource) -> GatewayError {
        self.source = source;
        self
    }

    /// This error with its internal cause, for the log.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> GatewayError {
        self.cause = Some(cause.to_string());
        self
    }

    /// 503 `MODEL_MISCONFIGURED`: the model's stored configuration cannot be read, so it is not
    /// served rather than served without part of it.
    pub fn model_misconfigured(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::SERVICE_UNAVAILABLE, "MODEL_MISCONFIGURED", "api_error", message)
            .from_source(ErrorSource::Gateway)
    }

    /// 404 `ROUTE_NOT_FOUND`.
    pub fn route_not_found(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "not_found", message)
    }

    /// 401 `AUTHENTICATION_REQUIRED`.
    pub fn authentication_required(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED", "authentication_error", message)
    }

    /// 401 `AUTHENTICATION_FAILED`.
    pub fn authentication_failed(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::UNAUTHORIZED, "AUTHENTICATION_FAILED", "authentication_error", message)
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "permission_error", message)
    }

    /// 403 `MODEL_DISABLED`.
    pub fn model_disabled(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::FORBIDDEN, "MODEL_DISABLED", "permission_error", message)
    }

    /// 403 `POLICY_VIOLATION`.
    pub fn policy_violation(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::FORBIDDEN, "POLICY_VIOLATION", "permission_error", message)
    }

    /// 429 `USAGE_LIMIT_EXCEEDED` with `Retry-After`.
    pub fn usage_limit_exceeded(message: impl Into<String>, retry_after: u64) -> GatewayError {
        let mut error =
            GatewayError::new(StatusCode::TOO_MANY_REQUESTS, "USAGE_LIMIT_EXCEEDED", "rate_limit_error", message);
        error.retryable = true;
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", "invalid_request_error", message)
    }

    /// 405 `METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "invalid_request_error", message)
    }

    /// 413 `BAD_REQUEST` for a body over the limit.
    pub fn payload_too_large(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", "invalid_request_error", message)
    }

    /// 408 `REQUEST_TIMEOUT`: the body did not arrive in time.
    pub fn request_timeout(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "invalid_request_error", message)
    }

    /// 503 `GATEWAY_BUSY` with `Retry-After`: this node holds as many request bodies as it may.
    pub fn gateway_busy(message: impl Into<String>, retry_after: u64) -> GatewayError {
        let mut error = GatewayError::new(StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_BUSY", "api_error", message)
            .from_source(ErrorSource::Gateway);
        error.retryable = true;
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// 500 `INTERNAL_ERROR`: the gateway failed (a bug); the detail is in the log.
    pub fn internal(message: impl Into<String>) -> GatewayError {
        GatewayError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "api_error", message)
            .from_source(ErrorSource::Gateway)
    }

    /// The answer to a request body that could not be read within the plane's limits.
    pub fn unreadable_body(error: modelgate_body::BodyError) -> GatewayError {
        use modelgate_body::BodyError;
        let message = error.to_string();
        match error {
            BodyError::TooLarge { .. } => GatewayError::payload_too_large(message),
            BodyError::TimedOut { .. } => GatewayError::request_timeout(message),
            BodyError::OverBudget => GatewayError::gateway_busy(message, modelgate_body::OVER_BUDGET_RETRY_AFTER),
            BodyError::Broken => GatewayError::bad_request(message),
        }
    }

    /// 502 `UPSTREAM_UNAVAILABLE` (from the provider unless said otherwise).
    pub fn upstream_unavailable(message: impl Into<String>) -> GatewayError {
        let mut error = GatewayError::new(StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE", "api_error", message)
            .from_source(ErrorSource::Provider);
        error.retryable = true;
        error
    }

    /// 503 `NODE_NOT_READY` with `Retry-After`: the node is starting and cannot serve yet (its
    /// store does not answer, so it has no routes).
    pub fn node_not_ready(message: impl Into<String>, retry_after: u64) -> GatewayError {
        let mut error = GatewayError::new(StatusCode::SERVICE_UNAVAILABLE, "NODE_NOT_READY", "api_error", message)
            .from_source(ErrorSource::Gateway);
        error.retryable = true;
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// 504 `UPSTREAM_TIMEOUT`.
    pub fn upstream_timeout(message: impl Into<String>) -> GatewayError {
        let mut error = GatewayError::new(StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT", "api_error", message)
            .from_source(ErrorSource::Provider);
        error.retryable = true;
        error
    }
}

/// The error body a client reads: the gateway's own, or the shape of the client's API when it
/// speaks one whose SDKs read errors their own way (Anthropic Messages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    #[default]
    Gateway,
    /// `{"type": "error", "error": {"type", "message"}}`, the type following the status.
    Anthropic,
}

impl GatewayError {
    /// The response in `shape`; the headers (source, code, `Retry-After`) are the same in all.
    pub fn into_response_shaped(self, shape: ErrorShape) -> Response {
        match shape {
            ErrorShape::Gateway => self.into_response(),
            ErrorShape::Anthropic => {
                let body = modelgate_translate::messages::error_body(self.status.as_u16(), self.message.as_str());
                let mut response = (self.status, Json(body)).into_response();
                self.add_headers(&mut response);
                response
            }
        }
    }

    fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(SOURCE_HEADER, HeaderValue::from_static("platform"));
        headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(self.code));
        if let Some(seconds) = self.retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "type": self.kind,
                "retryable": self.retryable,
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }
}
