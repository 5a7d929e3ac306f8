//! A Responses request -> an OpenAI chat request, and the fields its answer repeats.

use crate::openai::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, JsonSchema, Message, NamedFunction,
    ResponseFormat, Tool, ToolCall, ToolChoice,
};
use crate::TranslateError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A Responses request as clients send it; the parts with many shapes stay JSON and are read
/// with the parameter's path in every refusal.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResponsesRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Everything else the client sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The chat request to send, and what the answer repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated {
    pub chat: ChatRequest,
    /// The request fields a `response` object repeats, in their Responses form.
    pub echo: Map<String, Value>,
}

/// Fields accepted and not sent: hints or settings chat completions has no place for.
const DROPPED: [&str; 9] = [
    "reasoning",
    "include",
    "truncation",
    "user",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
    "max_tool_calls",
];

/// Translates a Responses request into a chat request.
pub fn request(request: &ResponsesRequest) -> Result<Translated, TranslateError> {
    refuse_state(request)?;
    refuse_extra(&request.extra)?;
    let mut messages = Vec::new();
    if let Some(instructions) = request.instructions.as_ref().filter(|i| !i.is_empty()) {
        messages.push(Message::System { content: Content::Text(instructions.clone()), name: None });
    }
    match &request.input {
        Some(Value::String(text)) => messages.push(Message::User { content: Content::Text(text.clone()), name: None }),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                add_item(&mut messages, item, &format!("input[{index}]"))?;
            }
        }
        Some(_) => return Err(TranslateError::param("input", "input must be a string or an array of items")),
        None => return Err(TranslateError::param("input", "input is required")),
    }
    let tools = match &request.tools {
        Some(tools) if !tools.is_empty() => {
            Some(tools.iter().enumerate().map(|(i, tool)| function_tool(tool, i)).collect::<Result<Vec<_>, _>>()?)
        }
        _ => None,
    };
    let chat = ChatRequest {
        model: request.model.clone(),
        messages,
        stream: request.stream.filter(|s| *s),
        max_tokens: request.max_output_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        tools,
        tool_choice: request.tool_choice.as_ref().map(tool_choice).transpose()?.flatten(),
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.text.as_ref().map(response_format).transpose()?.flatten(),
        ..ChatRequest::default()
    };
    Ok(Translated { chat, echo: echo(request) })
}

/// modelgate keeps no responses: nothing can refer to one, and nothing is stored.
fn refuse_state(request: &ResponsesRequest) -> Result<(), TranslateError> {
    let stateless = "not supported: modelgate keeps no responses, so send the whole conversation in `input`";
    let refused = [
        ("previous_response_id", request.previous_response_id.is_some()),
        ("store", request.store == Some(true)),
        ("conversation", request.extra.get("conversation").is_some_and(|v| !v.is_null())),
        ("background", request.extra.get("background") == Some(&Value::Bool(true))),
    ];
    match refused.into_iter().find(|(_, refused)| *refused) {
        Some(("store", _)) => {
            Err(TranslateError::param("store", format!("true is {stateless} (send store: false or leave it out)")))
        }
        Some((field, _)) => Err(TranslateError::param(field, stateless)),
        None => Ok(()),
    }
}

fn refuse_extra(extra: &BTreeMap<String, Value>) -> Result<(), TranslateError> {
    for (field, value) in extra {
        let accepted = DROPPED.contains(&field.as_str())
            || value.is_null()
            || match field.as_str() {
                "background" => value == &Value::Bool(false),
                "top_logprobs" => value.as_u64() == Some(0),
                _ => false,
            };
        if !accepted {
            return Err(TranslateError::param(field.clone(), format!("{field} is not supported for this model")));
        }
    }
    Ok(())
}

/// The request fields a `response` object repeats, with OpenAI's defaults.
fn echo(request: &ResponsesRequest) -> Map<String, Value> {
    let mut echo = Map::new();
    echo.insert("instructions".into(), json!(request.instructions));
    echo.insert("max_output_tokens".into(), json!(request.max_output_tokens));
    echo.insert("metadata".into(), request.metadata.clone().filter(Value::is_object).unwrap_or_else(|| json!({})));
    echo.insert("parallel_tool_calls".into(), json!(request.parallel_tool_calls.unwrap_or(true)));
    echo.insert("temperature".into(), json!(request.temperature.unwrap_or(1.0)));
    echo.insert("text".into(), request.text.clone().unwrap_or_else(|| json!({"format": {"type": "text"}})));
    echo.insert("tool_choice".into(), request.tool_choice.clone().unwrap_or_else(|| json!("auto")));
    echo.insert("tools".into(), json!(request.tools.clone().unwrap_or_default()));
    echo.insert("top_p".into(), json!(request.top_p.unwrap_or(1.0)));
    echo
}

fn str_field<'a>(value: &'a Value, key: &str, param: &str) -> Result<&'a str, TranslateError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::param(format!("{param}.{key}"), format!("{key} must be a string")))
}

/// Adds one input item to the conversation.
fn add_item(messages: &mut Vec<Message>, item: &Value, param: &str) -> Result<(), TranslateError> {
    if !item.is_object() {
        return Err(TranslateError::param(param, "an input item must be an object"));
    }
    let kind = match item.get("type") {
        None | Some(Value::Null) if item.get("role").is_some() => "message",
        Some(Value::String(kind)) => kind.as_str(),
        _ => return Err(TranslateError::param(format!("{param}.type"), "an input item needs a type (or a role)")),
    };
    match kind {
        "message" => messages.push(message(item, param)?),
        "function_call" => {
            let call = ToolCall {
                id: str_field(item, "call_id", param)?.to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: str_field(item, "name", param)?.to_string(),
                    arguments: str_field(item, "arguments", param)?.to_string(),
                },
            };
            // Calls after an assistant turn (its text, or other calls) belong to that turn.
            match messages.last_mut() {
                Some(Message::Assistant { tool_calls, .. }) => tool_calls.get_or_insert_with(Vec::new).push(call),
                _ => messages.push(Message::Assistant {
                    content: None,
                    tool_calls: Some(vec![call]),
                    name: None,
                    refusal: None,
                }),
            }
        }
        "function_call_output" => {
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => text_of_parts(parts, &format!("{param}.output"), false)?.0,
                _ => {
                    return Err(TranslateError::param(
                        format!("{param}.output"),
                        "output must be a string or text parts",
                    ))
                }
            };
            let tool_call_id = str_field(item, "call_id", param)?.to_string();
            messages.push(Message::Tool { content: Content::Text(output), tool_call_id });
        }
        // A previous answer's reasoning: chat completions has no place to take it back.
        "reasoning" => {}
        "item_reference" => {
            return Err(TranslateError::param(
                param,
                "item_reference is not supported: modelgate keeps no responses; send the item itself",
            ))
        }
        other => {
            return Err(TranslateError::param(
                format!("{param}.type"),
                format!("input items of type {other} are not supported for this model"),
            ))
        }
    }
    Ok(())
}

/// A message item (or an easy input message, `{role, content}`).
fn message(item: &Value, param: &str) -> Result<Message, TranslateError> {
    let role = str_field(item, "role", param)?;
    let content_param = format!("{param}.content");
    let parts = match item.get("content") {
        Some(Value::String(text)) => return message_of_text(role, text.clone(), param),
        Some(Value::Array(parts)) => parts,
        _ => return Err(TranslateError::param(content_param, "content must be a string or an array of parts")),
    };
    match role {
        "user" => {
            let parts = parts
                .iter()
                .enumerate()
                .map(|(i, part)| user_part(part, &format!("{content_param}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Message::User { content: Content::Parts(parts), name: None })
        }
        "assistant" => {
            let (text, refusal) = text_of_parts(parts, &content_param, true)?;
            let content = (!text.is_empty() || refusal.is_none()).then_some(Content::Text(text));
            Ok(Message::Assistant { content, tool_calls: None, name: None, refusal })
        }
        "system" | "developer" => message_of_text(role, text_of_parts(parts, &content_param, false)?.0, param),
        other => Err(TranslateError::param(format!("{param}.role"), format!("role {other} is not a message role"))),
    }
}

/// A message of `role` with text content. Developer messages go as system messages: providers
/// that speak chat completions without OpenAI's newer role take them that way.
fn message_of_text(role: &str, text: String, param: &str) -> Result<Message, TranslateError> {
    let content = Content::Text(text);
    Ok(match role {
        "user" => Message::User { content, name: None },
        "assistant" => Message::Assistant { content: Some(content), tool_calls: None, name: None, refusal: None },
        "system" | "developer" => Message::System { content, name: None },
        other => {
            return Err(TranslateError::param(format!("{param}.role"), format!("role {other} is not a message role")))
        }
    })
}

/// A user message's part: text or an image.
fn user_part(part: &Value, param: &str) -> Result<ContentPart, TranslateError> {
    match part.get("type").and_then(Value::as_str) {
        Some("input_text") => Ok(ContentPart::Text { text: str_field(part, "text", param)?.to_string() }),
        Some("input_image") => match part.get("image_url").and_then(Value::as_str) {
            Some(url) => Ok(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: url.to_string(),
                    detail: part.get("detail").and_then(Value::as_str).filter(|d| *d != "auto").map(str::to_string),
                },
            }),
            None => Err(TranslateError::param(
                param,
                "an input_image needs an image_url (a URL or a data: URL); file ids are not supported",
            )),
        },
        other => Err(TranslateError::param(
            param,
            format!("content parts of type {} are not supported for this model", other.unwrap_or("(none)")),
        )),
    }
}

/// The text of text parts (`input_text`, `output_text`) and, where `refusals` allows, the
/// refusal of `refusal` parts.
fn text_of_parts(parts: &[Value], param: &str, refusals: bool) -> Result<(String, Option<String>), TranslateError> {
    let (mut text, mut refusal) = (String::new(), None);
    for (i, part) in parts.iter().enumerate() {
        let param = format!("{param}[{i}]");
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text") => text.push_str(str_field(part, "text", &param)?),
            Some("refusal") if refusals => refusal = Some(str_field(part, "refusal", &param)?.to_string()),
            other => {
                return Err(TranslateError::param(
                    param,
                    format!("content parts of type {} are not supported here", other.unwrap_or("(none)")),
                ))
            }
        }
    }
    Ok((text, refusal))
}

/// A Responses function tool (`{type, name, description, parameters, strict}`) as a chat tool.
fn function_tool(tool: &Value, index: usize) -> Result<Tool, TranslateError> {
    let param = format!("tools[{index}]");
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => Ok(Tool {
            kind: "function".into(),
            function: FunctionDefinition {
                name: str_field(tool, "name", &param)?.to_string(),
                description: tool.get("description").and_then(Value::as_str).map(str::to_string),
                parameters: tool.get("parameters").filter(|p| !p.is_null()).cloned(),
                strict: tool.get("strict").and_then(Value::as_bool),
            },
        }),
        other => Err(TranslateError::param(
            format!("{param}.type"),
            format!(
                "tools of type {} are not supported for this model: only function tools are (built-in tools run on OpenAI's side)",
                other.unwrap_or("(none)")
            ),
        )),
    }
}

fn tool_choice(choice: &Value) -> Result<Option<ToolChoice>, TranslateError> {
    match choice {
        Value::Null => Ok(None),
        Value::String(mode) if ["auto", "none", "required"].contains(&mode.as_str()) => {
            Ok(Some(ToolChoice::Mode(mode.clone())))
        }
        Value::Object(_) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            let name = str_field(choice, "name", "tool_choice")?.to_string();
            Ok(Some(ToolChoice::Function { kind: "function".into(), function: NamedFunction { name } }))
        }
        _ => Err(TranslateError::param(
            "tool_choice",
            "tool_choice must be auto, none, required or {\"type\": \"function\", \"name\": ...} for this model",
        )),
    }
}

/// `text.format` as chat's `response_format`.
fn response_format(text: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else { return Ok(None) };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => Ok(Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchema {
                name: str_field(format, "name", "text.format")?.to_string(),
                description: format.get("description").and_then(Value::as_str).map(str::to_string),
                schema: format.get("schema").filter(|s| !s.is_null()).cloned(),
                strict: format.get("strict").and_then(Value::as_bool),
            },
        })),
        _ => {
            Err(TranslateError::param("text.format.type", "text.format.type must be text, json_object or json_schema"))
        }
    }
}
