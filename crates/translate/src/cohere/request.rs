//! OpenAI chat request -> Cohere v2 chat body.

use crate::openai::{ChatRequest, Content, ContentPart, Message, ResponseFormat, Tool, ToolCall, ToolChoice};
use crate::{ProviderRequest, RequestContext, TranslateError};
use serde_json::{json, Map, Value};

/// Unmodelled request fields that do not change the answer, accepted and not sent.
const HARMLESS_EXTRA: [&str; 5] = ["metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"];

/// Translates an OpenAI chat request into a Cohere `/v2/chat` request.
pub fn request(request: &ChatRequest, context: &RequestContext) -> Result<ProviderRequest, TranslateError> {
    refuse_unsupported(request)?;
    let model = context
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .or(request.model.as_deref().filter(|m| !m.is_empty()))
        .ok_or_else(|| TranslateError::param("model", "a model is required"))?;

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages(&request.messages)?));
    if request.is_stream() {
        body.insert("stream".into(), json!(true));
    }
    insert_some(&mut body, "temperature", request.temperature);
    insert_some(&mut body, "p", request.top_p);
    insert_some(&mut body, "max_tokens", request.max_output_tokens());
    if let Some(stop) = &request.stop {
        let stop = stop.to_vec();
        if !stop.is_empty() {
            body.insert("stop_sequences".into(), json!(stop));
        }
    }
    insert_some(&mut body, "seed", request.seed);
    insert_some(&mut body, "frequency_penalty", request.frequency_penalty);
    insert_some(&mut body, "presence_penalty", request.presence_penalty);
    tools(request, &mut body)?;
    if let Some(format) = response_format(request.response_format.as_ref()) {
        body.insert("response_format".into(), format);
    }
    Ok(ProviderRequest { path: "/v2/chat".into(), query: None, body: Value::Object(body) })
}

fn insert_some<T: serde::Serialize>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(key.into(), json!(value));
    }
}

/// Parameters Cohere cannot honour, refused before anything is built.
fn refuse_unsupported(request: &ChatRequest) -> Result<(), TranslateError> {
    if let Some(n) = request.n.filter(|n| *n != 1) {
        return Err(TranslateError::param("n", format!("Cohere returns one choice; n={n} is not supported")));
    }
    if request.logprobs == Some(true) {
        return Err(TranslateError::param("logprobs", "Cohere's log probabilities are not translated"));
    }
    if request.top_logprobs.is_some_and(|n| n > 0) {
        return Err(TranslateError::param("top_logprobs", "Cohere's log probabilities are not translated"));
    }
    // `parallel_tool_calls: false` has no Cohere equivalent: accepted, and the model may still
    // call several tools in one turn (structured-output libraries send it with one tool).
    for (key, value) in &request.extra {
        let text_only = key == "modalities" && *value == json!(["text"]);
        if !HARMLESS_EXTRA.contains(&key.as_str()) && !text_only {
            return Err(TranslateError::param(key.clone(), format!("{key} is not supported for Cohere models")));
        }
    }
    Ok(())
}

fn messages(messages: &[Message]) -> Result<Vec<Value>, TranslateError> {
    messages.iter().enumerate().map(|(i, message)| self::message(i, message)).collect()
}

fn message(i: usize, message: &Message) -> Result<Value, TranslateError> {
    Ok(match message {
        Message::System { content, .. } | Message::Developer { content, .. } => {
            json!({"role": "system", "content": text_only(i, content)?})
        }
        Message::User { content, .. } => json!({"role": "user", "content": user_content(i, content)?}),
        Message::Assistant { content, tool_calls, refusal, .. } => {
            let text = match content {
                Some(content) => Some(text_only(i, content)?),
                None => refusal.clone(),
            };
            assistant(text, tool_calls.as_deref().unwrap_or_default())
        }
        Message::Tool { content, tool_call_id } => {
            json!({"role": "tool", "tool_call_id": tool_call_id, "content": text_only(i, content)?})
        }
    })
}

/// Cohere rejects text `content` beside `tool_calls`; the text goes as the `tool_plan`.
fn assistant(text: Option<String>, tool_calls: &[ToolCall]) -> Value {
    let text = text.filter(|t| !t.is_empty());
    if tool_calls.is_empty() {
        return json!({"role": "assistant", "content": text.unwrap_or_default()});
    }
    let calls: Vec<Value> = tool_calls
        .iter()
        .map(|call| {
            json!({"id": call.id, "type": "function",
                   "function": {"name": call.function.name, "arguments": call.function.arguments}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "tool_calls": calls});
    if let Some(text) = text {
        message["tool_plan"] = json!(text);
    }
    message
}

/// The text of a message that can only hold text (system, assistant, tool).
fn text_only(i: usize, content: &Content) -> Result<String, TranslateError> {
    if let Content::Parts(parts) = content {
        if let Some(j) = parts.iter().position(|p| !matches!(p, ContentPart::Text { .. })) {
            return Err(TranslateError::param(
                format!("messages[{i}].content[{j}]"),
                "only user messages can hold images for Cohere, and only text and images are supported",
            ));
        }
    }
    Ok(content.text())
}

fn user_content(i: usize, content: &Content) -> Result<Value, TranslateError> {
    let parts = match content {
        Content::Text(text) => return Ok(json!(text)),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        out.push(match part {
            ContentPart::Text { text } => json!({"type": "text", "text": text}),
            ContentPart::ImageUrl { image_url } => {
                let mut image = json!({"url": image_url.url});
                if let Some(detail) = &image_url.detail {
                    image["detail"] = json!(detail);
                }
                json!({"type": "image_url", "image_url": image})
            }
            ContentPart::Unsupported => {
                return Err(TranslateError::param(
                    format!("messages[{i}].content[{j}]"),
                    "Cohere takes text and image parts only",
                ))
            }
        });
    }
    Ok(Value::Array(out))
}

fn tools(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), TranslateError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    if !tools.is_empty() {
        let translated =
            tools.iter().enumerate().map(|(i, tool)| self::tool(i, tool)).collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(translated));
        if tools.iter().any(|t| t.function.strict == Some(true)) {
            body.insert("strict_tools".into(), json!(true));
        }
    }
    let choice =
        match &request.tool_choice {
            None => return Ok(()),
            Some(ToolChoice::Mode(mode)) => mode.as_str(),
            // Naming the only tool offered means exactly Cohere's REQUIRED.
            Some(ToolChoice::Function { function, .. })
                if tools.len() == 1 && tools.first().is_some_and(|only| only.function.name == function.name) =>
            {
                "required"
            }
            Some(ToolChoice::Function { .. }) => return Err(TranslateError::param(
                "tool_choice",
                "Cohere can force a tool call but not choose which: name the only tool offered, or use \"required\"",
            )),
        };
    match choice {
        "auto" => {}
        "none" if !tools.is_empty() => {
            body.insert("tool_choice".into(), json!("NONE"));
        }
        "none" => {}
        "required" if !tools.is_empty() => {
            body.insert("tool_choice".into(), json!("REQUIRED"));
        }
        "required" => return Err(TranslateError::param("tool_choice", "tool_choice \"required\" needs tools")),
        other => return Err(TranslateError::param("tool_choice", format!("unknown tool_choice {other:?}"))),
    }
    Ok(())
}

fn tool(i: usize, tool: &Tool) -> Result<Value, TranslateError> {
    if tool.kind != "function" {
        return Err(TranslateError::param(format!("tools[{i}].type"), "Cohere supports function tools only"));
    }
    let function = &tool.function;
    let mut out = json!({"name": function.name});
    if let Some(description) = &function.description {
        out["description"] = json!(description);
    }
    // OpenAI allows a function without parameters; Cohere's schema wants an object.
    out["parameters"] = function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    Ok(json!({"type": "function", "function": out}))
}

fn response_format(format: Option<&ResponseFormat>) -> Option<Value> {
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema { json_schema } => Some(match &json_schema.schema {
            Some(schema) => json!({"type": "json_object", "json_schema": schema}),
            None => json!({"type": "json_object"}),
        }),
    }
}
