//! Anthropic Messages request -> OpenAI chat request.

use super::wire::{
    Block, ImageSource, InputMessage, MessagesRequest, Role, SystemBlock, TextOr, ToolChoice as AnthropicChoice,
    ToolDefinition, ToolResultBlock,
};
use crate::openai::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, Message, NamedFunction, Stop, Tool,
    ToolCall, ToolChoice,
};
use crate::TranslateError;
use serde_json::json;

/// Reads a Messages body and translates it into an OpenAI chat request (`stream` kept; the
/// gateway asks for stream usage itself).
pub fn request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let request: MessagesRequest = serde_json::from_slice(body)
        .map_err(|e| TranslateError::other(format!("the body is not an Anthropic Messages request: {e}")))?;
    translate(request)
}

fn translate(request: MessagesRequest) -> Result<ChatRequest, TranslateError> {
    if request.mcp_servers.is_some() {
        return Err(TranslateError::param(
            "mcp_servers",
            "MCP servers are run by Anthropic only; call the MCP tools as client tools",
        ));
    }
    if request.container.is_some() {
        return Err(TranslateError::param("container", "code execution containers are Anthropic's only"));
    }
    if request.max_tokens == Some(0) {
        return Err(TranslateError::param("max_tokens", "max_tokens must be at least 1"));
    }
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        let text = system_text(system);
        if !text.is_empty() {
            messages.push(Message::System { content: Content::Text(text), name: None });
        }
    }
    for (index, message) in request.messages.into_iter().enumerate() {
        conversation_message(index, message, &mut messages)?;
    }
    let tools = request.tools.map(tools).transpose()?.filter(|tools| !tools.is_empty());
    let (tool_choice, parallel_tool_calls) = match request.tool_choice {
        None => (None, None),
        Some(choice) => tool_choice(choice, tools.is_some())?,
    };
    let stop = request.stop_sequences.filter(|s| !s.is_empty()).map(Stop::Many);
    Ok(ChatRequest {
        model: request.model,
        messages,
        stream: request.stream.filter(|s| *s),
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop,
        tools,
        tool_choice,
        parallel_tool_calls,
        ..ChatRequest::default()
    })
}

fn system_text(system: TextOr<SystemBlock>) -> String {
    match system {
        TextOr::Text(text) => text,
        TextOr::Blocks(blocks) => {
            let texts: Vec<String> = blocks.into_iter().map(|SystemBlock::Text { text }| text).collect();
            texts.join("\n")
        }
    }
}

/// One Anthropic turn as OpenAI messages: a user turn with tool results becomes the tool
/// messages, then a user message with what else it holds (text, images, images the tools returned).
fn conversation_message(index: usize, message: InputMessage, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let blocks = match message.content {
        TextOr::Text(text) => {
            let content = Content::Text(text);
            out.push(match message.role {
                Role::User => Message::User { content, name: None },
                Role::Assistant => {
                    Message::Assistant { content: Some(content), tool_calls: None, name: None, refusal: None }
                }
            });
            return Ok(());
        }
        TextOr::Blocks(blocks) => blocks,
    };
    match message.role {
        Role::User => user_turn(index, blocks, out),
        Role::Assistant => assistant_turn(index, blocks, out),
    }
}

fn user_turn(index: usize, blocks: Vec<Block>, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        let param = || format!("messages[{index}].content[{j}]");
        match block {
            Block::Text { text } => push_text(&mut parts, text),
            Block::Image { source } => parts.push(image(source)),
            Block::ToolResult { tool_use_id, content, is_error } => {
                let mut text = Vec::new();
                for block in content.map(tool_result_blocks).unwrap_or_default() {
                    match block {
                        ToolResultBlock::Text { text: piece } => text.push(piece),
                        // OpenAI's tool messages carry text only: the image follows in a user message.
                        ToolResultBlock::Image { source } => parts.push(image(source)),
                    }
                }
                let mut text = text.join("\n");
                if is_error == Some(true) {
                    text = format!("Tool error: {text}");
                }
                out.push(Message::Tool { content: Content::Text(text), tool_call_id: tool_use_id });
            }
            Block::ToolUse { .. } => {
                return Err(TranslateError::param(param(), "tool_use blocks belong in assistant messages"));
            }
            Block::Thinking {} | Block::RedactedThinking {} => {
                return Err(TranslateError::param(param(), "thinking blocks belong in assistant messages"));
            }
        }
    }
    if !parts.is_empty() {
        out.push(Message::User { content: user_content(parts), name: None });
    }
    Ok(())
}

fn assistant_turn(index: usize, blocks: Vec<Block>, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            Block::Text { text: piece } if !piece.is_empty() => text.push(piece),
            Block::Text { .. } | Block::Thinking {} | Block::RedactedThinking {} => {}
            Block::ToolUse { id, name, input } => {
                // A call without input is sent as `{}`, as Anthropic's own `input` default.
                let arguments = if input.is_null() { "{}".to_string() } else { input.to_string() };
                calls.push(ToolCall { id, kind: "function".into(), function: FunctionCall { name, arguments } });
            }
            Block::Image { .. } | Block::ToolResult { .. } => {
                return Err(TranslateError::param(
                    format!("messages[{index}].content[{j}]"),
                    "assistant messages hold text and tool_use blocks only",
                ));
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        // Only reasoning, nothing another model can read.
        return Ok(());
    }
    out.push(Message::Assistant {
        content: (!text.is_empty()).then(|| Content::Text(text.join("\n"))),
        tool_calls: (!calls.is_empty()).then_some(calls),
        name: None,
        refusal: None,
    });
    Ok(())
}

fn tool_result_blocks(content: TextOr<ToolResultBlock>) -> Vec<ToolResultBlock> {
    match content {
        TextOr::Text(text) => vec![ToolResultBlock::Text { text }],
        TextOr::Blocks(blocks) => blocks,
    }
}

/// Empty text blocks carry nothing (Anthropic refuses them; OpenAI need not see them).
fn push_text(parts: &mut Vec<ContentPart>, text: String) {
    if !text.is_empty() {
        parts.push(ContentPart::Text { text });
    }
}

/// Text-only content as one string (OpenAI-compatible APIs that take no part lists read it too).
fn user_content(parts: Vec<ContentPart>) -> Content {
    if parts.iter().all(|p| matches!(p, ContentPart::Text { .. })) {
        let texts: Vec<String> = parts
            .into_iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text),
                _ => None,
            })
            .collect();
        Content::Text(texts.join("\n"))
    } else {
        Content::Parts(parts)
    }
}

fn image(source: ImageSource) -> ContentPart {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url,
    };
    ContentPart::ImageUrl { image_url: ImageUrl { url, detail: None } }
}

fn tools(definitions: Vec<ToolDefinition>) -> Result<Vec<Tool>, TranslateError> {
    definitions
        .into_iter()
        .enumerate()
        .map(|(index, definition)| match definition.kind.as_deref() {
            None | Some("custom") => Ok(Tool {
                kind: "function".into(),
                function: FunctionDefinition {
                    name: definition.name,
                    description: definition.description,
                    parameters: Some(definition.input_schema.unwrap_or_else(|| json!({"type": "object", "properties": {}}))),
                    strict: None,
                },
            }),
            Some(kind) => Err(TranslateError::param(
                format!("tools[{index}].type"),
                format!("`{kind}` is one of Anthropic's own tools, which only Claude models run; declare a client tool (name, description, input_schema) instead"),
            )),
        })
        .collect()
}

/// OpenAI's `tool_choice` and `parallel_tool_calls` for Anthropic's `tool_choice`.
fn tool_choice(choice: AnthropicChoice, has_tools: bool) -> Result<(Option<ToolChoice>, Option<bool>), TranslateError> {
    let mode = |mode: &str| Some(ToolChoice::Mode(mode.to_string()));
    let parallel = |disable: Option<bool>| disable.filter(|d| *d).map(|_| false);
    let (choice, parallel) = match choice {
        AnthropicChoice::Auto { disable_parallel_tool_use } => (mode("auto"), parallel(disable_parallel_tool_use)),
        AnthropicChoice::Any { disable_parallel_tool_use } => (mode("required"), parallel(disable_parallel_tool_use)),
        AnthropicChoice::Tool { name, disable_parallel_tool_use } => (
            Some(ToolChoice::Function { kind: "function".into(), function: NamedFunction { name } }),
            parallel(disable_parallel_tool_use),
        ),
        AnthropicChoice::None {} => (mode("none"), None),
    };
    if !has_tools {
        // Without tools only "none" (and Anthropic's default, auto) mean anything.
        return match choice {
            Some(ToolChoice::Mode(mode)) if mode == "auto" || mode == "none" => Ok((None, None)),
            _ => Err(TranslateError::param("tool_choice", "tool_choice forces a tool but no tools are declared")),
        };
    }
    Ok((choice, parallel))
}
