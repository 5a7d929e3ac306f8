//! The test harness: a real modelgate node on ephemeral loopback ports, spoken to over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate_domain::api_key;
use modelgate_domain::timestamp::now_micros;
use modelgate_server::{RunningServer, ServeArgs};
use modelgate_store::{ApiKeyRecord, IdentityStore, Store};
use modelgate_store_sql::SqlStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;

/// The admin key every test node is bootstrapped with.
pub const ADMIN_KEY: &str = "mgk_test_admin_key_0123456789abcdef";
pub const API_V2: &str = "2026-04-28";

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub api: String,
    pub key: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub fn args_for(dir: &Path) -> ServeArgs {
    let mut args = ServeArgs::ephemeral(dir.to_path_buf());
    args.bootstrap_api_key = Some(ADMIN_KEY.to_string());
    args.public_run_url = Some("https://run.example.test".to_string());
    // Tests seed usage at fixed early timestamps; the retention pass at start would race them.
    args.usage_retention_days = 0;
    args
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let args = args_for(dir.path());
        TestServer::start_with(dir, args).await
    }

    pub async fn start_with(dir: tempfile::TempDir, args: ServeArgs) -> TestServer {
        let server = modelgate_server::start(args).await.expect("server starts");
        TestServer {
            api: format!("http://{}/v0", server.api_addr),
            server: Some(server),
            key: ADMIN_KEY.to_string(),
            client: reqwest::Client::new(),
            dir,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("modelgate.db")
    }

    /// Adds an API key straight into the store (the API for keys comes with identity).
    pub async fn add_key(&self, workspace: &str, scopes: &[&str], expires_at: Option<i64>) -> String {
        let store = SqlStore::open(&format!("sqlite://{}", self.db_path().display())).await.unwrap();
        store.ensure_workspace(workspace, "test", now_micros()).await.unwrap();
        let key = api_key::generate();
        store
            .insert_api_key(&ApiKeyRecord {
                id: api_key::generate_id(),
                workspace: workspace.to_string(),
                name: "test key".into(),
                key_digest: api_key::digest(&key),
                subject: format!("sa-{workspace}"),
                subject_type: "service_account".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                expires_in: None,
                expires_at,
                created_at: now_micros(),
                created_by: "test".into(),
            })
            .await
            .unwrap();
        store.close().await;
        key
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.key, method, path, body, &[]).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// GET with `Blaxel-Version: 2026-04-28` (paginated lists).
    pub async fn get_v2(&self, path: &str) -> (StatusCode, Value) {
        self.call_as(&self.key, Method::GET, path, None, &[("Blaxel-Version", API_V2)]).await
    }

    pub async fn create_connection(&self, name: &str, integration: &str, api_key: &str) -> Value {
        let (status, body) = self.post("/integrations/connections", connection(name, integration, api_key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn create_model(&self, name: &str, connection: &str) -> Value {
        let (status, body) = self.post("/models", model(name, "openai", connection)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// A service account in `workspace` (created by the admin) and an API key for it.
pub async fn service_account_key(server: &TestServer, workspace: &str, scopes: Option<&[&str]>) -> (String, String) {
    let (status, account) = server
        .call_as(
            ADMIN_KEY,
            Method::POST,
            "/service_accounts",
            Some(json!({"name": "app"})),
            &[("X-Blaxel-Workspace", workspace)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let client_id = account["client_id"].as_str().unwrap().to_string();
    let mut body = json!({"name": "k"});
    if let Some(scopes) = scopes {
        body["scopes"] = json!(scopes);
    }
    let path = format!("/service_accounts/{client_id}/api_keys");
    let (status, key) =
        server.call_as(ADMIN_KEY, Method::POST, &path, Some(body), &[("X-Blaxel-Workspace", workspace)]).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    (client_id, key["apiKey"].as_str().unwrap().to_string())
}

pub fn connection(name: &str, integration: &str, api_key: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"integration": integration, "secret": {"apiKey": api_key}}})
}

pub fn model(name: &str, runtime_type: &str, connection: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"integrationConnections": [connection], "runtime": {"type": runtime_type, "model": "gpt-4o-mini"}}
    })
}

/// Asserts the `Error` schema with this status, and returns the message.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], json!(expected.as_u16()), "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    let message = body["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "{body}");
    message
}

/// The JSON `data:` payloads of an SSE body, without the final `[DONE]`.
pub fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Serves `app` (a provider or service a test needs to misbehave its own way) on an ephemeral
/// loopback port; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
