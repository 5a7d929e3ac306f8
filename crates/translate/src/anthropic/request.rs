//! OpenAI chat request -> Anthropic Messages request.

use super::JSON_OUTPUT_TOOL;
use crate::openai::{ChatRequest, Content, ContentPart, ImageUrl, Message, ResponseFormat, Tool, ToolCall, ToolChoice};
use crate::{ProviderRequest, RequestContext, TranslateError};
use serde_json::{json, Map, Value};

/// Unmodelled request fields accepted and dropped: they do not change the answer.
const HARMLESS_FIELDS: &[&str] = &["metadata", "store", "service_tier", "prompt_cache_key", "prompt_cache_retention"];

/// Unmodelled request fields this translator reads.
const TRANSLATED_FIELDS: &[&str] = &["top_k", "safety_identifier"];

/// Image media types Anthropic reads.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Translates an OpenAI chat request into an Anthropic `POST /v1/messages` body.
pub fn request(request: &ChatRequest, context: &RequestContext) -> Result<ProviderRequest, TranslateError> {
    refuse_unsupported(request)?;
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model(request, context)?));
    let (system, messages) = conversation(&request.messages)?;
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), json!(max_tokens(request, context)?));
    if request.is_stream() {
        body.insert("stream".into(), Value::Bool(true));
    }
    sampling(request, &mut body)?;
    if let Some(user) = user_id(request) {
        body.insert("metadata".into(), json!({ "user_id": user }));
    }
    tools(request, &mut body)?;
    Ok(ProviderRequest { path: "/v1/messages".to_string(), query: None, body: Value::Object(body) })
}

fn model(request: &ChatRequest, context: &RequestContext) -> Result<String, TranslateError> {
    [context.model.as_deref(), request.model.as_deref()]
        .into_iter()
        .flatten()
        .find(|m| !m.is_empty())
        .map(str::to_string)
        .ok_or_else(|| TranslateError::param("model", "model is required"))
}

/// Parameters with no Anthropic equivalent, and unmodelled fields that would change the answer.
fn refuse_unsupported(request: &ChatRequest) -> Result<(), TranslateError> {
    if request.n.is_some_and(|n| n != 1) {
        return Err(TranslateError::param("n", "Anthropic models return one choice: n must be 1"));
    }
    if request.logprobs == Some(true) {
        return Err(TranslateError::param("logprobs", "Anthropic models do not return log probabilities"));
    }
    if request.top_logprobs.is_some_and(|n| n > 0) {
        return Err(TranslateError::param("top_logprobs", "Anthropic models do not return log probabilities"));
    }
    for (param, value) in
        [("presence_penalty", request.presence_penalty), ("frequency_penalty", request.frequency_penalty)]
    {
        if value.is_some_and(|v| v != 0.0) {
            return Err(TranslateError::param(param, format!("Anthropic models do not support {param}")));
        }
    }
    let unknown = request.extra.iter().find(|(name, value)| {
        !value.is_null() && !HARMLESS_FIELDS.contains(&name.as_str()) && !TRANSLATED_FIELDS.contains(&name.as_str())
    });
    if let Some((name, _)) = unknown {
        return Err(TranslateError::param(name.as_str(), format!("{name} is not supported for Anthropic models")));
    }
    Ok(())
}

fn max_tokens(request: &ChatRequest, context: &RequestContext) -> Result<u64, TranslateError> {
    let (param, value) = match (request.max_completion_tokens, request.max_tokens) {
        (Some(n), _) => ("max_completion_tokens", n),
        (None, Some(n)) => ("max_tokens", n),
        (None, None) => ("max_tokens", context.default_max_tokens),
    };
    if value == 0 {
        return Err(TranslateError::param(param, "Anthropic models need a positive output-token cap (max_tokens)"));
    }
    Ok(value)
}

fn sampling(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), TranslateError> {
    for (param, value) in [("temperature", request.temperature), ("top_p", request.top_p)] {
        if let Some(value) = value {
            if !(0.0..=1.0).contains(&value) {
                return Err(TranslateError::param(param, format!("Anthropic models accept a {param} between 0 and 1")));
            }
            body.insert(param.into(), json!(value));
        }
    }
    match request.extra.get("top_k") {
        None | Some(Value::Null) => {}
        Some(value) if value.as_u64().is_some() => {
            body.insert("top_k".into(), value.clone());
        }
        Some(_) => return Err(TranslateError::param("top_k", "top_k must be a non-negative integer")),
    }
    let stop = request.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default();
    if stop.iter().any(|s| s.trim().is_empty()) {
        return Err(TranslateError::param(
            "stop",
            "Anthropic models do not accept empty or whitespace-only stop sequences",
        ));
    }
    if !stop.is_empty() {
        body.insert("stop_sequences".into(), json!(stop));
    }
    Ok(())
}

fn user_id(request: &ChatRequest) -> Option<&str> {
    let safety_identifier = request.extra.get("safety_identifier").and_then(Value::as_str);
    request.user.as_deref().or(safety_identifier).filter(|u| !u.is_empty())
}

/// `tools` and `tool_choice`, or the forced `json_output` tool of JSON mode.
fn tools(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), TranslateError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    if tools.is_empty() {
        if let Some(choice) = &request.tool_choice {
            if !matches!(choice, ToolChoice::Mode(mode) if mode == "none" || mode == "auto") {
                return Err(TranslateError::param("tool_choice", "tool_choice requires tools"));
            }
        }
    }
    let json_schema = match &request.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some((json!({"type": "object"}), None)),
        Some(ResponseFormat::JsonSchema { json_schema }) => Some((
            json_schema.schema.clone().unwrap_or_else(|| json!({"type": "object"})),
            json_schema.description.clone(),
        )),
    };
    if let Some((schema, description)) = json_schema {
        if !tools.is_empty() {
            return Err(TranslateError::param(
                "response_format",
                "JSON mode is translated as a forced tool for Anthropic models and cannot be combined with tools",
            ));
        }
        let description = description.unwrap_or_else(|| "Give your final answer as JSON with this tool.".to_string());
        body.insert(
            "tools".into(),
            json!([{"name": JSON_OUTPUT_TOOL, "description": description, "input_schema": schema}]),
        );
        body.insert("tool_choice".into(), json!({"type": "tool", "name": JSON_OUTPUT_TOOL}));
        return Ok(());
    }
    if tools.is_empty() {
        return Ok(());
    }
    let declared = tools.iter().enumerate().map(|(i, tool)| tool_definition(i, tool)).collect::<Result<Vec<_>, _>>()?;
    body.insert("tools".into(), Value::Array(declared));
    let mut choice = match &request.tool_choice {
        None => json!({"type": "auto"}),
        Some(ToolChoice::Mode(mode)) => match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => return Err(TranslateError::param("tool_choice", format!("unknown tool_choice `{mode}`"))),
        },
        Some(ToolChoice::Function { kind, function }) if kind == "function" => {
            json!({"type": "tool", "name": function.name})
        }
        Some(ToolChoice::Function { kind, .. }) => {
            return Err(TranslateError::param("tool_choice.type", format!("unsupported tool_choice type `{kind}`")))
        }
    };
    let calls_possible = choice["type"] != "none";
    if request.parallel_tool_calls == Some(false) && calls_possible {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    // `auto` is Anthropic's default: only sent when it carries the parallel-calls switch.
    if request.tool_choice.is_some() || choice.get("disable_parallel_tool_use").is_some() {
        body.insert("tool_choice".into(), choice);
    }
    Ok(())
}

fn tool_definition(index: usize, tool: &Tool) -> Result<Value, TranslateError> {
    if tool.kind != "function" {
        return Err(TranslateError::param(
            format!("tools[{index}].type"),
            format!("tools of type `{}` are not supported for Anthropic models", tool.kind),
        ));
    }
    let function = &tool.function;
    if function.name == JSON_OUTPUT_TOOL {
        return Err(TranslateError::param(
            format!("tools[{index}].function.name"),
            format!("the tool name `{JSON_OUTPUT_TOOL}` is reserved for JSON mode with Anthropic models"),
        ));
    }
    let mut definition = Map::new();
    definition.insert("name".into(), Value::String(function.name.clone()));
    if let Some(description) = &function.description {
        definition.insert("description".into(), Value::String(description.clone()));
    }
    let schema = function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    definition.insert("input_schema".into(), schema);
    Ok(Value::Object(definition))
}

/// The `system` text blocks and the alternating `messages`.
fn conversation(messages: &[Message]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let (role, blocks) = match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.extend(system_blocks(i, content)?);
                continue;
            }
            Message::User { content, .. } => ("user", user_blocks(&format!("messages[{i}].content"), content)?),
            Message::Assistant { content, tool_calls, .. } => ("assistant", assistant_blocks(i, content, tool_calls)?),
            Message::Tool { content, tool_call_id } => ("user", vec![tool_result(i, tool_call_id, content)?]),
        };
        if blocks.is_empty() {
            continue;
        }
        // Anthropic wants user and assistant turns to alternate: same-role neighbours merge.
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect();
    Ok((system, messages))
}

fn text_block(text: &str) -> Option<Value> {
    // Anthropic rejects empty text blocks; OpenAI clients send `""` beside tool calls.
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

fn system_blocks(index: usize, content: &Content) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    for (j, part) in content.parts().iter().enumerate() {
        match part {
            ContentPart::Text { text } => blocks.extend(text_block(text)),
            _ => {
                return Err(TranslateError::param(
                    format!("messages[{index}].content[{j}]"),
                    "system messages can only contain text for Anthropic models",
                ))
            }
        }
    }
    Ok(blocks)
}

/// Text and image blocks of a user message or a tool result; `param` names the content.
fn user_blocks(param: &str, content: &Content) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    for (j, part) in content.parts().iter().enumerate() {
        match part {
            ContentPart::Text { text } => blocks.extend(text_block(text)),
            ContentPart::ImageUrl { image_url } => blocks.push(image_block(&format!("{param}[{j}]"), image_url)?),
            ContentPart::Unsupported => {
                return Err(TranslateError::param(
                    format!("{param}[{j}]"),
                    "only text and image content parts are supported for Anthropic models",
                ))
            }
        }
    }
    Ok(blocks)
}

fn image_block(param: &str, image: &ImageUrl) -> Result<Value, TranslateError> {
    if let Some((media_type, data)) = image.as_data() {
        if !IMAGE_TYPES.contains(&media_type) {
            return Err(TranslateError::param(
                param,
                format!("image type `{media_type}` is not supported for Anthropic models (jpeg, png, gif, webp)"),
            ));
        }
        return Ok(json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}));
    }
    if image.url.starts_with("https://") || image.url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": image.url}}));
    }
    Err(TranslateError::param(param, "images must be http(s) URLs or base64 `data:` URLs"))
}

fn assistant_blocks(
    index: usize,
    content: &Option<Content>,
    tool_calls: &Option<Vec<ToolCall>>,
) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    for (j, part) in content.as_ref().map(Content::parts).unwrap_or_default().iter().enumerate() {
        match part {
            ContentPart::Text { text } => blocks.extend(text_block(text)),
            _ => {
                return Err(TranslateError::param(
                    format!("messages[{index}].content[{j}]"),
                    "assistant messages can only contain text for Anthropic models",
                ))
            }
        }
    }
    for (j, call) in tool_calls.iter().flatten().enumerate() {
        blocks.push(tool_use(&format!("messages[{index}].tool_calls[{j}]"), call)?);
    }
    Ok(blocks)
}

fn tool_use(param: &str, call: &ToolCall) -> Result<Value, TranslateError> {
    if call.kind != "function" {
        return Err(TranslateError::param(format!("{param}.type"), "only function tool calls are supported"));
    }
    let arguments = call.function.arguments.trim();
    // Some clients send `""` for a call without arguments.
    let input = if arguments.is_empty() { Ok(json!({})) } else { serde_json::from_str::<Value>(arguments) };
    match input {
        Ok(input @ Value::Object(_)) => {
            Ok(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}))
        }
        _ => Err(TranslateError::param(
            format!("{param}.function.arguments"),
            "tool call arguments must be a JSON object",
        )),
    }
}

fn tool_result(index: usize, tool_call_id: &str, content: &Content) -> Result<Value, TranslateError> {
    let content = match content {
        Content::Text(text) => Value::String(text.clone()),
        Content::Parts(_) => Value::Array(user_blocks(&format!("messages[{index}].content"), content)?),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content}))
}
