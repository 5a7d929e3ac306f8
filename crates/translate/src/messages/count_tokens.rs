//! `POST /v1/messages/count_tokens` for Gemini and Vertex AI, which can count a request's tokens
//! (`:countTokens`); other providers' APIs cannot, and the inference plane refuses the call.

use crate::openai::ChatRequest;
use crate::{ProviderRequest, RequestContext, TranslateError};
use serde_json::{json, Value};

/// The `countTokens` request for a translated chat request. Gemini's API takes the whole request
/// as `generateContentRequest` (with `model: "models/{model}"`); Vertex AI takes its fields at
/// the top level.
pub fn gemini_count_tokens(
    request: &ChatRequest,
    context: &RequestContext,
    vertex: bool,
) -> Result<ProviderRequest, TranslateError> {
    let generate = crate::gemini::request(request, context)?;
    let (method_path, _) = generate.path.rsplit_once(':').unwrap_or((generate.path.as_str(), ""));
    let path = format!("{method_path}:countTokens");
    let body = if vertex {
        generate.body
    } else {
        let model = method_path.rsplit('/').next().unwrap_or_default();
        let mut inner = generate.body;
        if let Value::Object(fields) = &mut inner {
            fields.insert("model".into(), Value::String(format!("models/{model}")));
        }
        json!({ "generateContentRequest": inner })
    };
    Ok(ProviderRequest { path, query: None, body })
}

/// Gemini's `{"totalTokens": n}` as Anthropic's `{"input_tokens": n}`.
pub fn count_tokens_answer(body: &Value) -> Result<Value, TranslateError> {
    let total = body
        .get("totalTokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| TranslateError::other("the provider's token count has no totalTokens"))?;
    Ok(json!({ "input_tokens": total }))
}
