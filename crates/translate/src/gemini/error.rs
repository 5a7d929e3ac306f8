//! Google's error body `{"error": {code, message, status, details}}` (sometimes wrapped in an
//! array) -> OpenAI's error body, typed by the `google.rpc.Code` name in `status`
//! (by the HTTP status when there is none).

use crate::openai::ErrorBody;
use serde_json::{Map, Value};

/// Translates Gemini's error answer; the message falls back to the raw body.
pub fn error(status: u16, body: &[u8]) -> ErrorBody {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let raw = String::from_utf8_lossy(body).trim().to_string();
    let fallback = || if raw.is_empty() { format!("Gemini answered with HTTP status {status}") } else { raw.clone() };
    let Some(detail) = parsed.as_ref().and_then(error_object) else {
        return ErrorBody::for_status(status, fallback(), None);
    };
    let message = detail.get("message").and_then(Value::as_str).filter(|m| !m.is_empty()).map(str::to_string);
    let code = detail.get("status").and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut translated = ErrorBody::for_status(status, message.unwrap_or_else(fallback), code.map(str::to_string));
    if let Some(code) = code {
        translated.error.kind = kind_of(code).to_string();
    }
    translated
}

/// OpenAI's error `type` for a `google.rpc.Code` name.
fn kind_of(status: &str) -> &'static str {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "NOT_FOUND" | "OUT_OF_RANGE" => "invalid_request_error",
        "UNAUTHENTICATED" => "authentication_error",
        "PERMISSION_DENIED" => "permission_error",
        "RESOURCE_EXHAUSTED" => "rate_limit_error",
        _ => "api_error",
    }
}

/// The `error` object of a body, bare or as the first element of an array that has one.
fn error_object(body: &Value) -> Option<&Map<String, Value>> {
    match body {
        Value::Object(object) => object.get("error")?.as_object(),
        Value::Array(items) => items.iter().find_map(error_object),
        _ => None,
    }
}

/// `"STATUS: message"` when a body (a response or a stream event) is an error.
pub(super) fn message_of(body: &Value) -> Option<String> {
    let detail = error_object(body)?;
    let message = detail.get("message").and_then(Value::as_str).unwrap_or("unknown error");
    Some(match detail.get("status").and_then(Value::as_str) {
        Some(status) => format!("{status}: {message}"),
        None => message.to_string(),
    })
}
