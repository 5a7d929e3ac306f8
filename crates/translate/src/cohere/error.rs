//! Cohere v2 error body (`{"id", "message"}`) -> OpenAI error body.

use crate::openai::ErrorBody;
use serde_json::Value;

/// Translates a Cohere error answer; the message is Cohere's, else the raw body.
pub fn error(status: u16, body: &[u8]) -> ErrorBody {
    let raw = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .or_else(|| value.get("error").and_then(|e| e.get("message").or(Some(e))))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match raw.trim() {
            "" => format!("Cohere answered HTTP {status} with no body"),
            text => text.to_string(),
        });
    ErrorBody::for_status(status, message, code(status).map(str::to_string))
}

/// A short code for the status, as OpenAI's clients like to match on one.
fn code(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "invalid_request",
        401 => "invalid_api_key",
        402 => "payment_required",
        403 => "permission_denied",
        404 => "not_found",
        422 => "unprocessable_entity",
        429 => "rate_limit_exceeded",
        498 => "invalid_token",
        499 => "request_cancelled",
        500 => "internal_server_error",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => return None,
    })
}
