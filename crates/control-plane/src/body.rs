//! `JsonBody`: the request-body extractor. It reads the body within the size limit; the handler
//! parses it (after checking the caller's scope, so a caller without permission learns nothing
//! from validation errors), insisting on a JSON content type and well-formed JSON of the right
//! shape, and saying which field is wrong.

use crate::error::ApiError;
use crate::ControlPlane;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A request body, read but not yet parsed.
pub struct JsonBody {
    content_type: String,
    bytes: axum::body::Bytes,
}

impl JsonBody {
    /// Parses the body as JSON of type `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mime = self.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected a JSON body with 'Content-Type: application/json', got '{}'",
                self.content_type
            )));
        }
        parse(&self.bytes)
    }
}

impl FromRequest<Arc<ControlPlane>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<ControlPlane>) -> Result<Self, ApiError> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = read(request, state).await?;
        Ok(JsonBody { content_type, bytes })
    }
}

/// Reads a request's body within the plane's limits (size, time, the node's budget of body
/// bytes, which is given back once the body is parsed).
pub async fn read(request: Request, state: &ControlPlane) -> Result<axum::body::Bytes, ApiError> {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = modelgate_body::read(request.into_body(), declared, &state.body_limits).await?;
    // Control-plane bodies are small and short-lived: the reservation ends with the read.
    Ok(body.into_bytes())
}

/// Fields of a body's top level accepted and ignored: a manifest's envelope (`bl apply` files
/// and `modelgate export` carry them).
const ENVELOPE_FIELDS: [&str; 2] = ["apiVersion", "kind"];

/// Parses a JSON object, naming the offending field on a shape error. A body that is not an
/// object, or that has fields the schema does not know (a typo such as `polices` would
/// otherwise be dropped, and the policy its author believes in would not be there), is refused.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(ApiError::BadRequest("the request body is empty; send a JSON object".into()));
    };
    if *first != b'{' {
        return Err(ApiError::BadRequest("the request body must be a JSON object ({...})".into()));
    }
    let mut unknown: Vec<String> = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut note_unknown = |path: serde_ignored::Path<'_>| {
        // serde_ignored writes an optional value's `Some` as a `?` segment.
        let path = path.to_string().split('.').filter(|segment| *segment != "?").collect::<Vec<_>>().join(".");
        if !ENVELOPE_FIELDS.contains(&path.as_str()) {
            unknown.push(path);
        }
    };
    let ignored = serde_ignored::Deserializer::new(&mut deserializer, &mut note_unknown);
    let value = serde_path_to_error::deserialize(ignored).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        } else if path == "." || path.is_empty() {
            ApiError::BadRequest(format!("invalid body: {inner}"))
        } else {
            ApiError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    deserializer.end().map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    if !unknown.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "unknown field{} {}: the schema has no such field (check the spelling; see /v0/openapi.json)",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.iter().map(|path| format!("'{path}'")).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(value)
}
