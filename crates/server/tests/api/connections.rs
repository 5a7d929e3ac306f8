//! `/v0/integrations/...` over real HTTP: connections, their write-only secrets, and the
//! provider catalogue.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

const SECRET: &str = "sk-live-THIS-MUST-NEVER-LEAK-0123456789";

#[tokio::test]
async fn connection_crud_with_masked_secret() {
    let server = TestServer::start().await;
    let body = json!({
        "metadata": {"name": "my-openai", "displayName": "OpenAI prod", "labels": {"env": "prod"}},
        "spec": {"integration": "openai", "config": {"url": "http://127.0.0.1:9999"}, "secret": {"apiKey": SECRET}}
    });
    let (status, created) = server.post("/integrations/connections", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["spec"]["secret"], json!({"apiKey": "********"}));
    assert_eq!(created["spec"]["config"]["url"], "http://127.0.0.1:9999");
    assert_eq!(created["metadata"]["workspace"], "default");
    assert_eq!(created["metadata"]["createdBy"], "admin");

    let (status, fetched) = server.get("/integrations/connections/my-openai").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let (status, listed) = server.get_v2("/integrations/connections").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().expect("always a bare array").len(), 1);

    let mut update = fetched.clone();
    update["spec"]["config"] = json!({"url": "https://proxy.internal/openai"});
    let (status, updated) = server.put("/integrations/connections/my-openai", update).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"]["config"]["url"], "https://proxy.internal/openai");
    assert_eq!(updated["spec"]["secret"], json!({"apiKey": "********"}), "sending the mask keeps the secret");

    let (status, deleted) = server.delete("/integrations/connections/my-openai").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["metadata"]["name"], "my-openai");
    let (status, body) = server.get("/integrations/connections/my-openai").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn secrets_never_leave_the_server_and_are_encrypted_at_rest() {
    let mut server = TestServer::start().await;
    server.create_connection("c", "openai", SECRET).await;
    server.create_model("m", "c").await;
    let anthropic = json!({"metadata": {"name": "a"}, "spec": {"integration": "anthropic", "secret": {"apiKey": SECRET, "extra": SECRET}}});
    assert_eq!(server.post("/integrations/connections", anthropic.clone()).await.0, StatusCode::OK);
    let (_, put) = server.put("/integrations/connections/a", anthropic).await;

    let mut bodies = vec![put];
    for path in [
        "/integrations/connections",
        "/integrations/connections/c",
        "/integrations/connections/a",
        "/models",
        "/models/m",
        "/models/m/revisions",
        "/integrations/openai",
        "/openapi.json",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        bodies.push(body);
        bodies.push(server.get_v2(path).await.1);
    }
    bodies.push(server.delete("/models/m").await.1);
    bodies.push(server.delete("/integrations/connections/c").await.1);
    for body in &bodies {
        assert!(!body.to_string().contains(SECRET), "secret leaked in {body}");
    }

    server.stop().await;
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("modelgate.db") {
            on_disk.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!on_disk.is_empty());
    assert!(
        !on_disk.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "plaintext secret found in the database files"
    );
    assert!(!on_disk.windows(12).any(|w| w == b"NEVER-LEAK-0"), "part of the secret found in the database files");
}

#[tokio::test]
async fn secret_updates_replace_keep_or_remove() {
    let server = TestServer::start().await;
    let body = json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": "one", "orgKey": "two"}}});
    assert_eq!(server.post("/integrations/connections", body).await.0, StatusCode::OK);

    // Without spec.secret everything stays.
    let (status, body) = server
        .put("/integrations/connections/c", json!({"metadata": {"name": "c"}, "spec": {"integration": "openai"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["secret"], json!({"apiKey": "********", "orgKey": "********"}));

    // Naming only apiKey (masked) keeps it and drops orgKey.
    let keep = json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": "********"}}});
    let (status, body) = server.put("/integrations/connections/c", keep).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["secret"], json!({"apiKey": "********"}));

    // A mask for a secret that was never stored cannot be kept.
    let ghost = json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": "********", "orgKey": "********"}}});
    let (status, body) = server.put("/integrations/connections/c", ghost).await;
    let message = assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("orgKey"), "{message}");

    // Removing the provider's required credential is refused.
    let empty = json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {}}});
    let (status, body) = server.put("/integrations/connections/c", empty).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("apiKey"));

    // The mask is not a value to create with.
    let masked =
        json!({"metadata": {"name": "d"}, "spec": {"integration": "openai", "secret": {"apiKey": "********"}}});
    let (status, body) = server.post("/integrations/connections", masked).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invalid_connections_are_refused() {
    let server = TestServer::start().await;
    let cases = vec![
        (
            json!({"metadata": {"name": "Bad_Name"}, "spec": {"integration": "openai", "secret": {"apiKey": "k"}}}),
            "metadata.name",
        ),
        (
            json!({"metadata": {"name": "c"}, "spec": {"integration": "github", "secret": {"apiKey": "k"}}}),
            "unknown integration 'github'",
        ),
        (json!({"metadata": {"name": "c"}, "spec": {"secret": {"apiKey": "k"}}}), "spec.integration"),
        (json!({"metadata": {"name": "c"}, "spec": {"integration": "openai"}}), "spec.secret.apiKey"),
        (
            json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": "k"}, "config": {"url": "ftp://x"}}}),
            "spec.config.url",
        ),
        (
            json!({"metadata": {"name": "c"}, "spec": {"integration": "azure-openai-service", "secret": {"apiKey": "k"}}}),
            "spec.config.url",
        ),
        (
            json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": 5}}}),
            "spec.secret.apiKey",
        ),
        (json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "config": "x"}}), "spec.config"),
    ];
    for (body, expected) in cases {
        let (status, response) = server.post("/integrations/connections", body.clone()).await;
        let message = assert_error(status, &response, StatusCode::BAD_REQUEST);
        assert!(message.contains(expected), "{body}: '{message}' should mention '{expected}'");
    }
    server.create_connection("c", "openai", "k").await;
    let (status, body) = server.post("/integrations/connections", connection("c", "openai", "k")).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = server.put("/integrations/connections/zzz", connection("zzz", "openai", "k")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_connection_in_use_cannot_be_deleted_or_change_provider() {
    let server = TestServer::start().await;
    server.create_connection("shared", "openai", "k").await;
    server.create_model("first", "shared").await;
    server.create_model("second", "shared").await;

    let (status, body) = server.delete("/integrations/connections/shared").await;
    let message = assert_error(status, &body, StatusCode::CONFLICT);
    assert!(message.contains("first") && message.contains("second"), "{message}");

    let (status, body) = server.put("/integrations/connections/shared", connection("shared", "anthropic", "k")).await;
    assert_error(status, &body, StatusCode::CONFLICT);

    server.delete("/models/first").await;
    server.delete("/models/second").await;
    let (status, _) = server.delete("/integrations/connections/shared").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn integration_descriptors_cover_every_runtime_type() {
    let server = TestServer::start().await;
    let (status, openai) = server.get("/integrations/openai").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(openai["name"], "openai");
    assert!(openai["endpoints"]["/v1/chat/completions"].is_object(), "{openai}");
    assert_eq!(openai["additionalInfos"]["baseUrl"], "https://api.openai.com");
    let (_, anthropic) = server.get("/integrations/anthropic").await;
    assert_eq!(anthropic["headers"]["anthropic-version"], "2023-06-01");
    assert!(anthropic["endpoints"]["/v1/messages"].is_object());
    let (_, azure) = server.get("/integrations/azure-openai-service").await;
    assert!(azure["params"]["api-version"].is_string());
    for name in ["gemini", "cohere", "vertexai", "mcp", "hf_private_endpoint", "groq", "xai"] {
        let (status, body) = server.get(&format!("/integrations/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(!body["endpoints"].as_object().unwrap().is_empty(), "{name}");
    }
    let (status, body) = server.get("/integrations/github").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}
