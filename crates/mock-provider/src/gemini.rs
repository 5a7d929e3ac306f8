//! Google Gemini (API key) and Vertex AI (Bearer): `generateContent`, `streamGenerateContent`
//! (SSE with `?alt=sse`, else a streamed JSON array), `embedContent`, `batchEmbedContents`,
//! `countTokens`, and Google's error shape.

use axum::body::Bytes;
use serde_json::{json, Value};

use crate::call::{required_array, Call};
use crate::completion::prompt_tokens;
use crate::embedding;
use crate::problem::Problem;
use crate::reply::Reply;
use crate::sse;
use crate::tools::{self, Choice, Declared, ToolCall};

/// Which Google front door the request came through (they differ in credentials only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GoogleApi {
    /// `generativelanguage.googleapis.com`: `x-goog-api-key` header or `?key=`.
    Gemini,
    /// `aiplatform.googleapis.com`: `Authorization: Bearer`.
    Vertex,
}

/// The method after the colon in `models/{model}:{method}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Generate,
    StreamGenerate,
    Embed,
    BatchEmbed,
    CountTokens,
}

impl Action {
    /// Parses the method name.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "generateContent" => Self::Generate,
            "streamGenerateContent" => Self::StreamGenerate,
            "embedContent" => Self::Embed,
            "batchEmbedContents" => Self::BatchEmbed,
            "countTokens" => Self::CountTokens,
            _ => return None,
        })
    }
}

/// `POST .../models/{model}:{action}`.
pub(crate) fn handle(call: &Call, api: GoogleApi, model: &str, action: Action) -> Reply {
    let auth = match api {
        GoogleApi::Gemini => {
            let key =
                call.request.header("x-goog-api-key").map(str::to_owned).or_else(|| call.request.query_param("key"));
            crate::problem::check_key(key.as_deref(), call.api_key)
        }
        GoogleApi::Vertex => call.bearer_auth(),
    };
    let result = call.injected().and(auth).and_then(|()| call.json()).and_then(|body| match action {
        Action::Generate => generate(call, &body, model, None),
        Action::StreamGenerate => {
            let sse = call.request.query_param("alt").as_deref() == Some("sse");
            generate(call, &body, model, Some(sse))
        }
        Action::Embed => embed(&body),
        Action::BatchEmbed => batch_embed(&body),
        Action::CountTokens => {
            // Gemini's API takes a whole request as `generateContentRequest`; Vertex AI its fields.
            let request = body.get("generateContentRequest").unwrap_or(&body);
            let contents = request.get("contents").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            Ok(Reply::ok(json!({"totalTokens": prompt_tokens(contents, request.get("systemInstruction"))})))
        }
    });
    result.unwrap_or_else(|p| error(api, &p))
}

/// `stream`: `None` for one JSON response, `Some(true)` for SSE, `Some(false)` for a JSON array.
fn generate(call: &Call, body: &Value, model: &str, stream: Option<bool>) -> Result<Reply, Problem> {
    let contents = required_array(body, "contents")?;
    // `promptTokenCount` includes the cached tokens.
    let prompt = prompt_tokens(contents, body.get("systemInstruction").or_else(|| body.get("system_instruction")))
        + call.cache.read;
    let response_id = format!("mock-{}", call.seq);
    let chunk = |parts: Value, finished: bool, candidates_tokens: u64| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if finished {
            candidate["finishReason"] = json!("STOP");
        }
        let mut chunk = json!({
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": candidates_tokens,
                "totalTokenCount": prompt + candidates_tokens,
            },
            "modelVersion": model,
            "responseId": response_id,
        });
        if call.cache.read > 0 {
            chunk["usageMetadata"]["cachedContentTokenCount"] = json!(call.cache.read);
        }
        chunk
    };
    let chunks: Vec<Value> = match decide_tool(body, contents) {
        Some(tool) => vec![chunk(json!([{"functionCall": {"name": tool.name, "args": tool.arguments}}]), true, 1)],
        None => {
            let completion = call.completion("gemini", body);
            match stream {
                None => vec![chunk(json!([{"text": completion.text()}]), true, completion.tokens())],
                Some(_) => {
                    let last = completion.deltas.len();
                    let deltas = completion.deltas.iter().enumerate();
                    deltas.map(|(i, text)| chunk(json!([{"text": text}]), i + 1 == last, i as u64 + 1)).collect()
                }
            }
        }
    };
    Ok(match stream {
        None => Reply::ok(chunks.into_iter().next().unwrap_or(Value::Null)),
        Some(true) => Reply::sse(chunks.iter().map(sse::data_crlf).collect()),
        Some(false) => {
            let mut frames: Vec<Bytes> = chunks
                .iter()
                .enumerate()
                .map(|(i, chunk)| Bytes::from(format!("{}{chunk}", if i == 0 { "[" } else { ",\r\n" })))
                .collect();
            frames.push(Bytes::from_static(b"]"));
            Reply::Stream { content_type: "application/json; charset=UTF-8", frames, headers: Vec::new() }
        }
    })
}

fn embed(body: &Value) -> Result<Reply, Problem> {
    let content = body.get("content").ok_or(Problem::MissingField("content"))?;
    let dimensions = embedding::dimensions(body.get("outputDimensionality"));
    Ok(Reply::ok(json!({"embedding": {"values": embedding::vector(&tools::text_of(content), dimensions)}})))
}

fn batch_embed(body: &Value) -> Result<Reply, Problem> {
    let requests = required_array(body, "requests")?;
    let embeddings: Vec<Value> = requests
        .iter()
        .map(|request| {
            let text = request.get("content").map(tools::text_of).unwrap_or_default();
            let dimensions = embedding::dimensions(request.get("outputDimensionality"));
            json!({"values": embedding::vector(&text, dimensions)})
        })
        .collect();
    Ok(Reply::ok(json!({"embeddings": embeddings})))
}

fn decide_tool(body: &Value, contents: &[Value]) -> Option<ToolCall> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let declared: Vec<Declared> = tools
        .iter()
        .filter_map(|tool| tool.get("functionDeclarations").or_else(|| tool.get("function_declarations")))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|f| Some(Declared { name: f.get("name")?.as_str()?, schema: f.get("parameters") }))
        .collect();
    let config = body.pointer("/toolConfig/functionCallingConfig");
    let allowed = config.and_then(|c| c.pointer("/allowedFunctionNames/0")).and_then(Value::as_str);
    let choice = match config.and_then(|c| c.get("mode")).and_then(Value::as_str) {
        Some("NONE") => Choice::None,
        Some("ANY") => allowed.map_or(Choice::Any, |name| Choice::Named(name.to_owned())),
        _ => Choice::Auto,
    };
    let last = contents.last()?;
    let answered = last
        .get("parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    tools::decide(&declared, &choice, &tools::text_of(last), answered)
}

/// Google's error body `{"error": {code, message, status}}` for `problem`.
pub(crate) fn error(api: GoogleApi, problem: &Problem) -> Reply {
    let status = problem.status();
    let message = match (problem, api) {
        (Problem::MissingCredential, GoogleApi::Gemini) => {
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key \
             or other form of API consumer identity to call this API."
                .to_owned()
        }
        (Problem::InvalidCredential { .. }, GoogleApi::Gemini) => {
            "API key not valid. Please pass a valid API key.".to_owned()
        }
        (Problem::MissingCredential | Problem::InvalidCredential { .. }, GoogleApi::Vertex) => {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other \
             valid authentication credential."
                .to_owned()
        }
        (Problem::MalformedJson(detail), _) => format!("Invalid JSON payload received. {detail}"),
        (Problem::MissingField(field), _) => format!("* GenerateContentRequest.{field}: {field} is not specified"),
        (Problem::Invalid(message) | Problem::NotFound(message), _) => message.clone(),
        (Problem::Injected { status, .. }, _) if status.as_u16() == 429 => {
            "Resource has been exhausted (e.g. check quota). (injected by the mock provider)".to_owned()
        }
        (Problem::Injected { status, .. }, _) => Problem::injected_message(*status),
    };
    let mut error = json!({"code": status.as_u16(), "message": message, "status": status_name(status.as_u16())});
    if matches!(problem, Problem::InvalidCredential { .. }) && api == GoogleApi::Gemini {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }]);
    }
    Reply::error(problem, json!({"error": error}))
}

/// The `google.rpc.Code` name Google sends for an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_config_table() {
        let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]);
        let user = json!([{"role": "user", "parts": [{"text": "hi"}]}]);
        let asks = json!([{"role": "user", "parts": [{"text": "get_weather please"}]}]);
        let answered =
            json!([{"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]}]);
        let any = json!({"functionCallingConfig": {"mode": "ANY"}});
        let none = json!({"functionCallingConfig": {"mode": "NONE"}});
        let cases = [
            (json!({"tools": tools}), &user, false),
            (json!({"tools": tools}), &asks, true),
            (json!({"tools": tools}), &answered, false),
            (json!({"tools": tools, "toolConfig": any}), &user, true),
            (json!({"tools": tools, "toolConfig": none}), &asks, false),
        ];
        for (body, contents, expected) in cases {
            assert_eq!(decide_tool(&body, contents.as_array().unwrap()).is_some(), expected, "{body} {contents}");
        }
        let call = decide_tool(&json!({"tools": tools, "toolConfig": any}), user.as_array().unwrap()).unwrap();
        assert_eq!(call.arguments, json!({"city": "mock"}));
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(401), "UNAUTHENTICATED");
        assert_eq!(status_name(429), "RESOURCE_EXHAUSTED");
        assert_eq!(status_name(502), "INTERNAL");
    }
}
