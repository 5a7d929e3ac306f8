//! The error answer of a provider that speaks chat completions -> OpenAI's error body, which the
//! Responses API shares. OpenAI-compatible providers differ in the details (Mistral's
//! `{"object": "error", "message": {...}}`, `{"detail": ...}`): the message is found where it is.

use crate::openai::{ErrorBody, ErrorDetail};
use serde_json::Value;

/// Translates an error answer; the status stays the provider's.
pub fn error(status: u16, body: &[u8]) -> ErrorBody {
    let value = serde_json::from_slice::<Value>(body).ok();
    // Already OpenAI's shape: kept as it is.
    if let Some(detail) = value.as_ref().and_then(|v| v.get("error")).and_then(openai_detail) {
        return ErrorBody { error: detail };
    }
    let message = value
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("detail")).or_else(|| v.get("error")))
        .filter(|m| !m.is_null())
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match String::from_utf8_lossy(body).trim() {
            "" => format!("the provider answered HTTP {status} with no body"),
            text => text.to_string(),
        });
    let code = value.as_ref().and_then(|v| v.get("code")).and_then(Value::as_str).map(str::to_string);
    ErrorBody::for_status(status, message, code)
}

/// `{"message": "...", "type": "...", ...}` as OpenAI's error detail.
fn openai_detail(error: &Value) -> Option<ErrorDetail> {
    let message = error.get("message")?.as_str()?.to_string();
    let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_string);
    Some(ErrorDetail {
        message,
        kind: text("type").unwrap_or_else(|| "api_error".into()),
        param: text("param"),
        code: text("code").or_else(|| error.get("code").and_then(Value::as_i64).map(|c| c.to_string())),
    })
}
