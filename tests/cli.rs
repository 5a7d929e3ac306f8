//! The `modelgate` binary as an operator runs it: environment variables, the key printed once
//! on first start, data kept across a SIGTERM and a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Node {
    child: Child,
    api: String,
    printed_key: Option<String>,
}

fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    command
        .arg("serve")
        .env("MODELGATE_DATA_DIR", data_dir)
        .env("MODELGATE_API_ADDR", "127.0.0.1:0")
        .env("MODELGATE_RUN_ADDR", "127.0.0.1:0")
        .env("MODELGATE_PUBLIC_RUN_URL", "https://run.example.test")
        .env_remove("MODELGATE_MASTER_KEY")
        .env_remove("MODELGATE_BOOTSTRAP_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed_key = None;
    let mut api = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let trimmed = line.trim();
        if trimmed.starts_with("mgk_") {
            printed_key = Some(trimmed.to_string());
        }
        if let Some(url) = trimmed.strip_prefix("control plane:") {
            api = Some(url.trim().to_string());
        }
        if trimmed.starts_with("inference plane:") {
            break;
        }
    }
    Node { child, api: api.expect("the control plane address is printed"), printed_key }
}

impl Node {
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "SIGTERM is a clean shutdown, got {status}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn call(node: &Node, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", node.api)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.timeout(Duration::from_secs(10)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn first_start_prints_a_key_once_and_a_restart_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let key = node.printed_key.clone().expect("first start prints an admin key");
    let connection =
        json!({"metadata": {"name": "my-openai"}, "spec": {"integration": "openai", "secret": {"apiKey": "sk-x"}}});
    assert_eq!(call(&node, &key, reqwest::Method::POST, "/integrations/connections", Some(connection)).await.0, 200);
    let model = json!({"metadata": {"name": "my-gpt"}, "spec": {"integrationConnections": ["my-openai"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    let (status, created) = call(&node, &key, reqwest::Method::POST, "/models", Some(model)).await;
    assert_eq!(status, 200, "{created}");
    node.stop();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }

    let node = start(dir.path(), &[]);
    assert_eq!(node.printed_key, None, "a restart prints no new key");
    let (status, fetched) = call(&node, &key, reqwest::Method::GET, "/models/my-gpt", None).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    node.stop();
}

#[tokio::test]
async fn the_bootstrap_key_can_be_given_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = "mgk_operator_chosen_key_for_scripts_0001";
    let node = start(dir.path(), &[("MODELGATE_BOOTSTRAP_API_KEY", key), ("MODELGATE_MASTER_KEY", &"ab".repeat(32))]);
    assert_eq!(node.printed_key, None, "a given key is not printed");
    let (status, models) = call(&node, key, reqwest::Method::GET, "/models", None).await;
    assert_eq!((status, models), (200, json!([])));
    assert!(!dir.path().join("master.key").exists(), "MODELGATE_MASTER_KEY replaces the key file");
    node.stop();
}
