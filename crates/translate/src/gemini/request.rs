//! OpenAI chat request -> Gemini `GenerateContentRequest`.

use super::schema;
use crate::openai::{ChatRequest, Content, ContentPart, ImageUrl, Message, ResponseFormat, ToolChoice};
use crate::{ProviderRequest, RequestContext, TranslateError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Unmodelled request fields accepted and ignored: none of them changes the answer.
const HARMLESS_EXTRA: &[&str] = &["metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"];

/// Google's documented stand-in for the `thoughtSignature` of a replayed function call whose
/// real signature is unknown: OpenAI's tool calls cannot carry it back, and Gemini 3 refuses
/// replayed calls without one.
const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Translates an OpenAI chat request into Gemini's `generateContent` (or SSE stream) request.
pub fn request(request: &ChatRequest, context: &RequestContext) -> Result<ProviderRequest, TranslateError> {
    let resource = model_resource(request, context)?;
    refuse_unsupported(request)?;
    let (system, contents) = conversation(&request.messages)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        body.insert("systemInstruction".into(), system);
    }
    let config = generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    let tools = declarations(request)?;
    if let Some(config) = tool_config(request, &tools)? {
        body.insert("toolConfig".into(), config);
    }
    if !tools.is_empty() {
        body.insert("tools".into(), json!([{"functionDeclarations": tools}]));
    }
    let (method, query) = if request.is_stream() {
        ("streamGenerateContent", Some("alt=sse".to_string()))
    } else {
        ("generateContent", None)
    };
    Ok(ProviderRequest { path: format!("/v1beta/{resource}:{method}"), query, body: Value::Object(body) })
}

/// `models/{model}` (or a `tunedModels/...` name as given): `context.model` wins over the request's.
fn model_resource(request: &ChatRequest, context: &RequestContext) -> Result<String, TranslateError> {
    let model = [context.model.as_deref(), request.model.as_deref()]
        .into_iter()
        .flatten()
        .find(|m| !m.is_empty())
        .ok_or_else(|| TranslateError::param("model", "a model is required"))?;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '/');
    if !model.chars().all(valid) {
        return Err(TranslateError::param("model", format!("{model:?} is not a Gemini model name")));
    }
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        Ok(model.to_string())
    } else {
        Ok(format!("models/{model}"))
    }
}

fn refuse_unsupported(request: &ChatRequest) -> Result<(), TranslateError> {
    if request.logprobs == Some(true) {
        return Err(TranslateError::param("logprobs", "log probabilities are not available through Gemini's chat API"));
    }
    if request.top_logprobs.is_some_and(|n| n > 0) {
        return Err(TranslateError::param(
            "top_logprobs",
            "log probabilities are not available through Gemini's chat API",
        ));
    }
    if request.n == Some(0) {
        return Err(TranslateError::param("n", "n must be at least 1"));
    }
    for (key, value) in &request.extra {
        let text_only = key == "modalities" && *value == json!(["text"]);
        if value.is_null() || text_only || HARMLESS_EXTRA.contains(&key.as_str()) {
            continue;
        }
        return Err(TranslateError::param(key.as_str(), format!("`{key}` cannot be translated for Gemini")));
    }
    Ok(())
}

/// The system instruction and the contents, roles alternating.
fn conversation(messages: &[Message]) -> Result<(Option<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut contents = Contents::default();
    // Gemini matches function results by name; OpenAI by call id.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.extend(text_parts(content, &format!("{at}.content"), "system instructions")?);
            }
            Message::User { content, .. } => contents.push("user", parts(content, &format!("{at}.content"))?),
            Message::Assistant { content, tool_calls, refusal, .. } => {
                let mut model_parts = match content {
                    Some(content) => parts(content, &format!("{at}.content"))?,
                    None => Vec::new(),
                };
                if let Some(refusal) = refusal.as_deref().filter(|r| !r.is_empty()) {
                    model_parts.push(json!({"text": refusal}));
                }
                for (j, call) in tool_calls.iter().flatten().enumerate() {
                    if call.kind != "function" {
                        return Err(TranslateError::param(
                            format!("{at}.tool_calls[{j}].type"),
                            "only function tool calls can be translated for Gemini",
                        ));
                    }
                    let args =
                        arguments(&call.function.arguments, &format!("{at}.tool_calls[{j}].function.arguments"))?;
                    call_names.insert(call.id.as_str(), call.function.name.as_str());
                    model_parts.push(json!({
                        "functionCall": {"name": call.function.name, "args": args},
                        "thoughtSignature": SKIP_THOUGHT_SIGNATURE,
                    }));
                }
                contents.push("model", model_parts);
            }
            Message::Tool { content, tool_call_id } => {
                let name = call_names.get(tool_call_id.as_str()).ok_or_else(|| {
                    TranslateError::param(
                        format!("{at}.tool_call_id"),
                        format!(
                            "no earlier assistant tool call has the id {tool_call_id:?}; Gemini needs the \
                             function's name to match its result"
                        ),
                    )
                })?;
                let text = text_parts(content, &format!("{at}.content"), "tool results")?
                    .iter()
                    .filter_map(|part| part.get("text").and_then(Value::as_str))
                    .collect::<String>();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => Value::Object(object),
                    _ => json!({"content": text}),
                };
                contents.push("user", vec![json!({"functionResponse": {"name": name, "response": response}})]);
            }
        }
    }
    if contents.0.is_empty() {
        return Err(TranslateError::param(
            "messages",
            "Gemini needs at least one user or assistant message with content",
        ));
    }
    let system = (!system.is_empty()).then(|| json!({"parts": system}));
    Ok((system, contents.0))
}

/// Contents under construction: consecutive parts of one role share one content.
#[derive(Default)]
struct Contents(Vec<Value>);

impl Contents {
    fn push(&mut self, role: &str, parts: Vec<Value>) {
        if parts.is_empty() {
            // Gemini refuses a content without parts (an empty assistant turn, an empty string).
            return;
        }
        if let Some(last) = self.0.last_mut().filter(|c| c["role"] == role) {
            if let Some(existing) = last.get_mut("parts").and_then(Value::as_array_mut) {
                existing.extend(parts);
                return;
            }
        }
        self.0.push(json!({"role": role, "parts": parts}));
    }
}

/// Text and image parts of a user or assistant message; empty texts left out (Gemini refuses them).
fn parts(content: &Content, at: &str) -> Result<Vec<Value>, TranslateError> {
    let mut parts = Vec::new();
    for (j, part) in content.parts().iter().enumerate() {
        match part {
            ContentPart::Text { text } if text.is_empty() => {}
            ContentPart::Text { text } => parts.push(json!({"text": text})),
            ContentPart::ImageUrl { image_url } => parts.push(image(image_url, &format!("{at}[{j}]"))?),
            ContentPart::Unsupported => {
                return Err(TranslateError::param(
                    format!("{at}[{j}]"),
                    "only text and image_url content parts can be translated for Gemini",
                ))
            }
        }
    }
    Ok(parts)
}

/// Text parts only, for places Gemini takes no images (`what` names them in the error).
fn text_parts(content: &Content, at: &str, what: &str) -> Result<Vec<Value>, TranslateError> {
    let mut parts = Vec::new();
    for (j, part) in content.parts().iter().enumerate() {
        match part {
            ContentPart::Text { text } if text.is_empty() => {}
            ContentPart::Text { text } => parts.push(json!({"text": text})),
            _ => return Err(TranslateError::param(format!("{at}[{j}]"), format!("Gemini takes only text in {what}"))),
        }
    }
    Ok(parts)
}

fn image(image: &ImageUrl, at: &str) -> Result<Value, TranslateError> {
    if let Some((media_type, data)) = image.as_data() {
        let mime_type = media_type.split(';').next().unwrap_or_default();
        if mime_type.is_empty() {
            return Err(TranslateError::param(at, "the image's data URL has no media type"));
        }
        return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
    }
    let url = image.url.as_str();
    if url.starts_with("data:") {
        return Err(TranslateError::param(at, "image data URLs must be base64-encoded (data:<type>;base64,...)"));
    }
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("https" | "http" | "gs")) {
        return Err(TranslateError::param(at, "image URLs must be data:, https:, http: or gs: URLs"));
    }
    Ok(json!({"fileData": {"mimeType": guess_mime_type(url), "fileUri": url}}))
}

/// The media type of an image URL from its extension; `image/jpeg` when it tells nothing.
fn guess_mime_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    let extension = file.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

/// Tool call arguments (a JSON string) as the object Gemini's `functionCall.args` takes.
fn arguments(arguments: &str, at: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => Ok(Value::Object(object)),
        Ok(_) => Err(TranslateError::param(at, "tool call arguments must be a JSON object")),
        Err(e) => Err(TranslateError::param(at, format!("tool call arguments are not valid JSON: {e}"))),
    }
}

fn generation_config(request: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.to_string(), value);
        }
    };
    set("temperature", request.temperature.map(Value::from));
    set("topP", request.top_p.map(Value::from));
    set("maxOutputTokens", request.max_output_tokens().map(Value::from));
    set("stopSequences", request.stop.as_ref().map(|s| s.to_vec()).filter(|s| !s.is_empty()).map(Value::from));
    set("candidateCount", request.n.map(Value::from));
    set("presencePenalty", request.presence_penalty.map(Value::from));
    set("frequencyPenalty", request.frequency_penalty.map(Value::from));
    if let Some(seed) = request.seed {
        let seed = i32::try_from(seed).map_err(|_| TranslateError::param("seed", "Gemini takes a 32-bit seed"))?;
        set("seed", Some(Value::from(seed)));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => set("responseMimeType", Some(json!("application/json"))),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            set("responseMimeType", Some(json!("application/json")));
            if let Some(given) = &json_schema.schema {
                let converted = schema::convert(given).map_err(|e| TranslateError::param("response_format", e))?;
                set("responseSchema", Some(converted));
            }
        }
    }
    Ok(config)
}

/// The `functionDeclarations` of the request's tools.
fn declarations(request: &ChatRequest) -> Result<Vec<Value>, TranslateError> {
    let mut declarations = Vec::new();
    for (i, tool) in request.tools.iter().flatten().enumerate() {
        if tool.kind != "function" {
            return Err(TranslateError::param(
                format!("tools[{i}].type"),
                "only function tools can be translated for Gemini",
            ));
        }
        let function = &tool.function;
        let mut declaration = Map::new();
        declaration.insert("name".into(), json!(function.name));
        if let Some(description) = &function.description {
            declaration.insert("description".into(), json!(description));
        }
        if let Some(parameters) = &function.parameters {
            let at = format!("tools[{i}].function.parameters");
            let converted = schema::convert(parameters).map_err(|e| TranslateError::param(at, e))?;
            // Gemini refuses an OBJECT without properties: a function without parameters has none.
            let empty = converted.get("properties").and_then(Value::as_object).is_none_or(Map::is_empty)
                && converted.get("type").is_none_or(|t| t == "OBJECT")
                && converted.get("anyOf").is_none();
            if !empty {
                declaration.insert("parameters".into(), converted);
            }
        }
        declarations.push(Value::Object(declaration));
    }
    Ok(declarations)
}

fn tool_config(request: &ChatRequest, declarations: &[Value]) -> Result<Option<Value>, TranslateError> {
    let Some(choice) = &request.tool_choice else { return Ok(None) };
    let (mode, name) = match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => ("AUTO", None),
            "none" => ("NONE", None),
            "required" => ("ANY", None),
            other => {
                return Err(TranslateError::param("tool_choice", format!("unknown tool_choice {other:?}")));
            }
        },
        ToolChoice::Function { kind, function } => {
            if kind != "function" {
                return Err(TranslateError::param("tool_choice", "only a function can be chosen"));
            }
            ("ANY", Some(function.name.as_str()))
        }
    };
    if declarations.is_empty() {
        if mode == "ANY" {
            return Err(TranslateError::param("tool_choice", "tool_choice forces a tool call but no tools are given"));
        }
        return Ok(None);
    }
    let mut config = json!({"mode": mode});
    if let Some(name) = name {
        if !declarations.iter().any(|d| d["name"] == name) {
            return Err(TranslateError::param(
                "tool_choice",
                format!("tool_choice names {name:?}, which is not in tools"),
            ));
        }
        config["allowedFunctionNames"] = json!([name]);
    }
    Ok(Some(json!({"functionCallingConfig": config})))
}
