//! Anthropic error body -> OpenAI error body.

use crate::openai::ErrorBody;
use serde_json::Value;

/// Translates `{"type": "error", "error": {type, message}}` into OpenAI's error body; the
/// Anthropic error type is kept as `code`. Bodies of another shape keep their raw text.
pub fn error(status: u16, body: &[u8]) -> ErrorBody {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let detail = parsed.as_ref().and_then(|v| v.get("error"));
    let kind = detail.and_then(|d| d.get("type")).and_then(Value::as_str);
    let message = detail.and_then(|d| d.get("message")).and_then(Value::as_str).map(str::to_string);
    let message = message.unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(body).trim().to_string();
        if raw.is_empty() {
            format!("Anthropic answered HTTP {status} without a body")
        } else {
            raw
        }
    });
    let mut answer = ErrorBody::for_status(status, message, kind.map(str::to_string));
    let openai_kind = match kind {
        Some("invalid_request_error" | "not_found_error") => Some("invalid_request_error"),
        Some("authentication_error") => Some("authentication_error"),
        Some("permission_error") => Some("permission_error"),
        Some("rate_limit_error") => Some("rate_limit_error"),
        Some("api_error" | "overloaded_error") => Some("api_error"),
        // request_too_large, billing_error, timeout_error...: the status decides.
        _ => None,
    };
    if let Some(openai_kind) = openai_kind {
        answer.error.kind = openai_kind.to_string();
    }
    answer
}
