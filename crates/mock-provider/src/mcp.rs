//! A minimal MCP server over streamable HTTP (`POST /mcp`, JSON responses): `initialize`,
//! `tools/list`, `tools/call` (an `echo` tool), `ping`, and notifications. No credentials, as MCP
//! connections carry none.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::call::Call;
use crate::problem::Problem;
use crate::reply::Reply;

/// Protocol version answered when the client names none.
const PROTOCOL_VERSION: &str = "2025-03-26";

/// `POST /mcp`.
pub(crate) fn handle(call: &Call) -> Reply {
    if let Err(problem) = call.injected() {
        let message = match &problem {
            Problem::Injected { status, .. } => Problem::injected_message(*status),
            other => format!("{other:?}"),
        };
        return Reply::error(&problem, rpc_error(Value::Null, -32000, &message));
    }
    let Ok(request) = serde_json::from_slice::<Value>(&call.request.body) else {
        return Reply::Json {
            status: StatusCode::BAD_REQUEST,
            body: rpc_error(Value::Null, -32700, "Parse error"),
            headers: vec![],
        };
    };
    let method = request.get("method").and_then(Value::as_str);
    let Some(id) = request.get("id").cloned() else {
        // A notification (or a response from the client): accepted, no body.
        return Reply::Empty { status: StatusCode::ACCEPTED };
    };
    let result = match method {
        Some("initialize") => {
            let version =
                request.pointer("/params/protocolVersion").and_then(Value::as_str).unwrap_or(PROTOCOL_VERSION);
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "modelgate-mock-mcp", "version": env!("CARGO_PKG_VERSION")},
            })
        }
        Some("ping") => json!({}),
        Some("tools/list") => json!({"tools": [{
            "name": "echo",
            "description": "Answers the text it is given.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        }]}),
        Some("tools/call") if request.pointer("/params/name").and_then(Value::as_str) == Some("echo") => {
            let text = request.pointer("/params/arguments/text").and_then(Value::as_str).unwrap_or_default();
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        Some("tools/call") => return Reply::ok(rpc_error(id, -32602, "Unknown tool")),
        Some(_) => return Reply::ok(rpc_error(id, -32601, "Method not found")),
        None => return Reply::ok(rpc_error(id, -32600, "Invalid Request")),
    };
    let reply = Reply::ok(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    match method {
        Some("initialize") => reply.with_header("mcp-session-id", format!("mock-session-{}", call.seq)),
        _ => reply,
    }
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}
