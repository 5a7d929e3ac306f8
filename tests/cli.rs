//! The `modelgate` binary as an operator runs it: environment variables, the key printed once
//! on first start, data kept across a SIGTERM and a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::Node;

async fn call(node: &Node, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    support::call(key, method, &format!("{}{path}", node.api), body).await
}

#[tokio::test]
async fn first_start_prints_a_key_once_and_a_restart_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]).await;
    let key = node.printed_key.clone().expect("first start prints an admin key");
    let connection =
        json!({"metadata": {"name": "my-openai"}, "spec": {"integration": "openai", "secret": {"apiKey": "sk-x"}}});
    assert_eq!(call(&node, &key, reqwest::Method::POST, "/integrations/connections", Some(connection)).await.0, 200);
    let model = json!({"metadata": {"name": "my-gpt"}, "spec": {"integrationConnections": ["my-openai"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    let (status, created) = call(&node, &key, reqwest::Method::POST, "/models", Some(model)).await;
    assert_eq!(status, 200, "{created}");
    node.stop().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }

    let node = Node::start(dir.path(), &[]).await;
    assert_eq!(node.printed_key, None, "a restart prints no new key");
    let (status, fetched) = call(&node, &key, reqwest::Method::GET, "/models/my-gpt", None).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    node.stop().await;
}

#[tokio::test]
async fn the_bootstrap_key_can_be_given_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = "mgk_operator_chosen_key_for_scripts_0001";
    let master_key = "ab".repeat(32);
    let node =
        Node::start(dir.path(), &[("MODELGATE_BOOTSTRAP_API_KEY", key), ("MODELGATE_MASTER_KEY", &master_key)]).await;
    assert_eq!(node.printed_key, None, "a given key is not printed");
    let (status, models) = call(&node, key, reqwest::Method::GET, "/models", None).await;
    assert_eq!((status, models), (200, json!([])));
    assert!(!dir.path().join("master.key").exists(), "MODELGATE_MASTER_KEY replaces the key file");
    node.stop().await;
}

#[tokio::test]
async fn sighup_reloads_the_price_file_and_never_ends_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(&prices, r#"{"prices": {"openai": {"my-model": {"input": 1e-6, "output": 2e-6}}}}"#).unwrap();
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &[("MODELGATE_PRICES_FILE", prices.to_str().unwrap())]).await;
    // One signal at a time: two sent together may arrive as one.
    for reloads in 1..=2 {
        node.signal("HUP").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while node.log_text().matches("prices reloaded").count() < reloads && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(node.log_text().matches("prices reloaded").count(), reloads, "log:\n{}", node.log_text());
    }
    let health = support::client().get(format!("{}/health", node.api)).send().await.unwrap();
    assert_eq!(health.status(), 200, "the node still serves");
    node.stop().await;
}
