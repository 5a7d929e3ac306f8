//! The MCP endpoint.

use serde_json::{json, Value};

use crate::common::{client, mock};

#[tokio::test]
async fn initialize_list_call_and_notify() {
    let mock = mock().await;
    let url = format!("{}/mcp", mock.base_url());
    let rpc =
        |id: u64, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});

    let init =
        client().post(&url).json(&rpc(1, "initialize", json!({"protocolVersion": "2025-06-18"}))).send().await.unwrap();
    assert!(init.headers().contains_key("mcp-session-id"));
    let init: Value = init.json().await.unwrap();
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");

    let notified = client()
        .post(&url)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(notified.status(), 202);

    let list: Value =
        client().post(&url).json(&rpc(2, "tools/list", json!({}))).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["result"]["tools"][0]["name"], "echo");

    let called: Value = client()
        .post(&url)
        .json(&rpc(3, "tools/call", json!({"name": "echo", "arguments": {"text": "ping"}})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(called["result"]["content"][0]["text"], "ping");

    let unknown: Value =
        client().post(&url).json(&rpc(4, "nope", json!({}))).send().await.unwrap().json().await.unwrap();
    assert_eq!(unknown["error"]["code"], -32601);
}
