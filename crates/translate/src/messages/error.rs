//! Errors in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`, the type
//! following the HTTP status as Anthropic's API sets it.

use super::wire::{ErrorDetail, ErrorResponse};
use crate::openai::ErrorBody;
use serde_json::Value;

/// Anthropic's error type for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An error body for `status` with `message`.
pub fn error_body(status: u16, message: impl Into<String>) -> ErrorResponse {
    ErrorResponse {
        kind: "error".into(),
        error: ErrorDetail { kind: error_type(status).into(), message: message.into() },
    }
}

/// OpenAI's error body (a translator's, or a provider's) in Anthropic's shape, with the status kept.
pub fn from_openai(status: u16, body: &ErrorBody) -> ErrorResponse {
    error_body(status, body.error.message.clone())
}

/// An OpenAI-compatible provider's error answer: `{"error": {"message"}}`, the bare
/// `{"message"}` some providers send, `{"detail"}`, else the raw text.
pub fn from_openai_bytes(status: u16, body: &[u8]) -> ErrorResponse {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|value| {
        [value.pointer("/error/message"), value.get("error"), value.get("message"), value.get("detail")]
            .into_iter()
            .flatten()
            .find_map(Value::as_str)
            .map(str::to_string)
    });
    let message = message.unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(body).trim().to_string();
        if raw.is_empty() {
            format!("the provider answered HTTP {status} without a body")
        } else {
            raw
        }
    });
    error_body(status, message)
}
