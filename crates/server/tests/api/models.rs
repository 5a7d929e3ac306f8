//! `/v0/models` over real HTTP: the contract of `reference/seed-create-model.md`.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn create_get_list_update_delete() {
    let server = TestServer::start().await;
    server.create_connection("my-openai", "openai", "sk-abc").await;

    let body = json!({
        "metadata": {"name": "my-gpt", "displayName": "My GPT", "labels": {"team": "search"}},
        "spec": {"integrationConnections": ["my-openai"], "runtime": {"type": "openai", "model": "gpt-4.1", "organization": "org-1"}}
    });
    let (status, created) = server.post("/models", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["metadata"]["name"], "my-gpt");
    assert_eq!(created["metadata"]["displayName"], "My GPT");
    assert_eq!(created["metadata"]["labels"]["team"], "search");
    assert_eq!(created["metadata"]["workspace"], "default");
    assert_eq!(created["metadata"]["url"], "https://run.example.test/default/models/my-gpt");
    assert_eq!(created["metadata"]["createdBy"], "admin");
    assert_eq!(created["metadata"]["updatedBy"], "admin");
    assert!(created["metadata"]["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["spec"]["enabled"], true, "enabled defaults to true");
    assert_eq!(created["spec"]["runtime"]["model"], "gpt-4.1");
    assert_eq!(created["spec"]["runtime"]["organization"], "org-1");
    assert_eq!(created["status"], "DEPLOYED");
    let statuses: Vec<&str> =
        created["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["DEPLOYING", "DEPLOYED"]);

    let (status, fetched) = server.get("/models/my-gpt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let (status, listed) = server.get("/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "without Blaxel-Version a list is a bare array");

    let mut update = created.clone();
    update["spec"]["runtime"]["model"] = json!("gpt-4.1-mini");
    update["metadata"]["displayName"] = json!("Mini");
    let (status, updated) = server.put("/models/my-gpt", update).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"]["runtime"]["model"], "gpt-4.1-mini");
    assert_eq!(updated["metadata"]["displayName"], "Mini");
    assert_eq!(updated["metadata"]["createdAt"], created["metadata"]["createdAt"]);
    assert_eq!(updated["events"].as_array().unwrap().len(), 4);

    let (status, deleted) = server.delete("/models/my-gpt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["status"], "DELETING");
    assert_eq!(deleted["events"].as_array().unwrap().last().unwrap()["status"], "DELETING");
    let (status, body) = server.get("/models/my-gpt").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.delete("/models/my-gpt").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn read_only_fields_are_ignored_on_input() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "sk").await;
    let body = json!({
        "metadata": {
            "name": "ro", "workspace": "someone-else", "url": "https://evil.example", "plan": "enterprise",
            "createdAt": "2001-01-01T00:00:00Z", "updatedAt": "2001-01-01T00:00:00Z", "createdBy": "mallory", "updatedBy": "mallory"
        },
        "spec": {"integrationConnections": ["c"], "runtime": {"type": "openai", "model": "m"}},
        "status": "FAILED",
        "events": [{"type": "deployment", "status": "FAILED", "message": "forged"}]
    });
    let (status, created) = server.post("/models", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let metadata = &created["metadata"];
    assert_eq!(metadata["workspace"], "default");
    assert_eq!(metadata["url"], "https://run.example.test/default/models/ro");
    assert_eq!(metadata["plan"], "self-hosted");
    assert_eq!(metadata["createdBy"], "admin");
    assert_ne!(metadata["createdAt"], "2001-01-01T00:00:00Z");
    assert_eq!(created["status"], "DEPLOYED");
    assert!(!created.to_string().contains("forged"));
}

#[tokio::test]
async fn invalid_models_are_refused_with_400_naming_the_problem() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "sk").await;
    server.create_connection("claude", "anthropic", "sk-ant").await;
    server.create_connection("g", "gemini", "gk").await;
    let vertex = json!({"metadata": {"name": "v"}, "spec": {"integration": "vertexai",
        "config": {"projectId": "p", "location": "us-central1"}, "secret": {"apiKey": "vk"}}});
    assert_eq!(server.post("/integrations/connections", vertex).await.0, StatusCode::OK);
    let with = |name: Value, spec: Value| json!({"metadata": {"name": name}, "spec": spec});
    let good_spec = json!({"integrationConnections": ["c"], "runtime": {"type": "openai", "model": "m"}});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("uppercase name", with(json!("My-Model"), good_spec.clone()), "metadata.name"),
        ("50 characters", with(json!("a".repeat(50)), good_spec.clone()), "at most 49"),
        ("underscore", with(json!("my_model"), good_spec.clone()), "metadata.name"),
        ("empty name", with(json!(""), good_spec.clone()), "metadata.name"),
        ("leading hyphen", with(json!("-m"), good_spec.clone()), "metadata.name"),
        ("name not a string", with(json!(5), good_spec.clone()), "metadata.name"),
        ("no metadata", json!({"spec": good_spec.clone()}), "metadata"),
        ("no name", json!({"metadata": {}, "spec": good_spec.clone()}), "name"),
        (
            "long displayName",
            json!({"metadata": {"name": "m", "displayName": "x".repeat(64)}, "spec": good_spec.clone()}),
            "displayName",
        ),
        (
            "bad runtime type",
            with(json!("m"), json!({"integrationConnections": ["c"], "runtime": {"type": "gpt"}})),
            "spec.runtime.type",
        ),
        (
            "bad generation",
            with(
                json!("m"),
                json!({"integrationConnections": ["c"], "runtime": {"type": "openai", "generation": "mk9"}}),
            ),
            "spec.runtime.generation",
        ),
        (
            "bad flavor type",
            with(
                json!("m"),
                json!({"integrationConnections": ["c"], "runtime": {"type": "openai"}, "flavors": [{"name": "t4", "type": "tpu"}]}),
            ),
            "spec.flavors[0].type",
        ),
        (
            "enabled not bool",
            with(json!("m"), json!({"integrationConnections": ["c"], "runtime": {"type": "openai"}, "enabled": "yes"})),
            "spec.enabled",
        ),
        ("no runtime", with(json!("m"), json!({"integrationConnections": ["c"]})), "spec.runtime"),
        (
            "a Gemini model that cannot stand in a URL path",
            with(
                json!("m"),
                json!({"integrationConnections": ["g"], "runtime": {"type": "gemini", "model": "models/gemini 2"}}),
            ),
            "spec.runtime.model",
        ),
        (
            "a Vertex AI model with a query in it",
            with(
                json!("m"),
                json!({"integrationConnections": ["v"], "runtime": {"type": "vertexai", "model": "gemini?x=1"}}),
            ),
            "spec.runtime.model",
        ),
        (
            "no runtime type",
            with(json!("m"), json!({"integrationConnections": ["c"], "runtime": {"model": "m"}})),
            "spec.runtime.type",
        ),
        ("no connection", with(json!("m"), json!({"runtime": {"type": "openai"}})), "spec.integrationConnections"),
        (
            "unknown connection",
            with(json!("m"), json!({"integrationConnections": ["nope"], "runtime": {"type": "openai"}})),
            "'nope'",
        ),
        (
            "unknown policy",
            with(
                json!("m"),
                json!({"integrationConnections": ["c"], "policies": ["ghost"], "runtime": {"type": "openai"}}),
            ),
            "'ghost'",
        ),
        (
            "connection of another provider",
            with(json!("m"), json!({"integrationConnections": ["claude"], "runtime": {"type": "openai"}})),
            "anthropic",
        ),
        (
            "connection listed twice",
            with(json!("m"), json!({"integrationConnections": ["c", "c"], "runtime": {"type": "openai"}})),
            "twice",
        ),
        ("spec not an object", with(json!("m"), json!([1])), "spec"),
    ];
    for (case, body, expected) in cases {
        let (status, response) = server.post("/models", body).await;
        let message = assert_error(status, &response, StatusCode::BAD_REQUEST);
        assert!(message.contains(expected), "{case}: '{message}' should mention '{expected}'");
    }
    let (_, listed) = server.get("/models").await;
    assert_eq!(listed, json!([]), "no failed request wrote anything");
}

#[tokio::test]
async fn every_runtime_type_is_accepted_with_a_matching_connection() {
    let server = TestServer::start().await;
    let types = [
        "hf_private_endpoint",
        "hf_public_endpoint",
        "huggingface",
        "public_model",
        "mcp",
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "deepseek",
        "cohere",
        "cerebras",
        "xai",
        "vertexai",
        "azure-openai-service",
        "azure-ai-inference",
        "azure-marketplace",
        "groq",
    ];
    for (index, runtime_type) in types.iter().enumerate() {
        let connection = format!("conn-{index}");
        let body = json!({"metadata": {"name": connection}, "spec": {
            "integration": runtime_type, "config": {"url": "http://127.0.0.1:9"}, "secret": {"apiKey": "k"}}});
        let (status, response) = server.post("/integrations/connections", body).await;
        assert_eq!(status, StatusCode::OK, "{runtime_type}: {response}");
        let (status, response) =
            server.post("/models", model(&format!("model-{index}"), runtime_type, &connection)).await;
        assert_eq!(status, StatusCode::OK, "{runtime_type}: {response}");
        assert_eq!(response["spec"]["runtime"]["type"], *runtime_type);
    }
    let (_, page) = server.get_v2("/models?limit=200").await;
    assert_eq!(page["meta"]["total"], 18);
}

#[tokio::test]
async fn duplicate_names_conflict_and_put_checks_name_and_existence() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "sk").await;
    server.create_model("dup", "c").await;
    let (status, body) = server.post("/models", model("dup", "openai", "c")).await;
    let message = assert_error(status, &body, StatusCode::CONFLICT);
    assert!(message.contains("already exists"), "{message}");

    let (status, body) = server.put("/models/missing", model("missing", "openai", "c")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.put("/models/dup", model("other", "openai", "c")).await;
    let message = assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("immutable"), "{message}");
    let (status, body) = server.put("/models/dup", model("dup", "openai", "nope")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (_, unchanged) = server.get("/models/dup").await;
    assert_eq!(unchanged["spec"]["integrationConnections"], json!(["c"]), "a refused update changes nothing");
}

#[tokio::test]
async fn disabling_deactivates_and_each_change_is_a_revision() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "sk").await;
    let created = server.create_model("m", "c").await;

    let mut disabled = created.clone();
    disabled["spec"]["enabled"] = json!(false);
    let (status, body) = server.put("/models/m", disabled).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "DEACTIVATED");
    assert_eq!(body["spec"]["enabled"], false);
    let statuses: Vec<&str> =
        body["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["DEPLOYING", "DEPLOYED", "DEACTIVATING", "DEACTIVATED"]);

    let (status, body) = server.put("/models/m", created.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "DEPLOYED");

    let (status, revisions) = server.get("/models/m/revisions").await;
    assert_eq!(status, StatusCode::OK, "{revisions}");
    let revisions = revisions.as_array().unwrap();
    assert_eq!(revisions.len(), 3);
    assert_eq!(revisions[0]["active"], true);
    assert_eq!(revisions[0]["trafficPercent"], 100);
    assert_eq!(revisions[0]["status"], "DEPLOYED");
    assert_eq!(revisions[1]["previousActive"], true);
    assert_eq!(revisions[1]["status"], "DEACTIVATED");
    assert_eq!(revisions[2]["active"], false);
    assert_eq!(revisions[0]["createdBy"], "admin");
    let last_event = body["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_event["revision"], revisions[0]["id"], "events name their revision");

    let (status, body) = server.get("/models/nope/revisions").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

async fn names(server: &TestServer, path: &str) -> (Vec<String>, Value) {
    let (status, page) = server.get_v2(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {page}");
    let names =
        page["data"].as_array().unwrap().iter().map(|m| m["metadata"]["name"].as_str().unwrap().to_string()).collect();
    (names, page["meta"].clone())
}

#[tokio::test]
async fn paging_sorting_search_and_status_filter() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "sk").await;
    for name in ["alpha", "bravo", "charlie", "delta", "echo"] {
        server.create_model(name, "c").await;
    }
    let mut disabled = model("foxtrot", "openai", "c");
    disabled["spec"]["enabled"] = json!(false);
    disabled["metadata"]["labels"] = json!({"team": "Research"});
    assert_eq!(server.post("/models", disabled).await.0, StatusCode::OK);

    // Default order: newest first; walk the pages with the cursor.
    let (first, meta) = names(&server, "/models?limit=4").await;
    assert_eq!(first, ["foxtrot", "echo", "delta", "charlie"]);
    assert_eq!(meta["hasMore"], true);
    assert_eq!(meta["total"], 6);
    let cursor = meta["nextCursor"].as_str().unwrap().to_string();
    let (second, meta) = names(&server, &format!("/models?limit=4&cursor={cursor}")).await;
    assert_eq!(second, ["bravo", "alpha"]);
    assert_eq!(meta["hasMore"], false);
    assert_eq!(meta["nextCursor"], "");

    // The cursor is bound to its query.
    let (status, body) = server.get_v2(&format!("/models?limit=4&sort=name:asc&cursor={cursor}")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = server.get_v2("/models?cursor=garbage").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    let (sorted, _) = names(&server, "/models?sort=name:asc&limit=2").await;
    assert_eq!(sorted, ["alpha", "bravo"]);
    let (sorted, meta) = names(&server, "/models?sort=name:desc&limit=2").await;
    assert_eq!(sorted, ["foxtrot", "echo"]);
    let (after, _) =
        names(&server, &format!("/models?sort=name:desc&limit=2&cursor={}", meta["nextCursor"].as_str().unwrap()))
            .await;
    assert_eq!(after, ["delta", "charlie"]);
    let (oldest, _) = names(&server, "/models?sort=createdAt:asc&limit=2").await;
    assert_eq!(oldest, ["alpha", "bravo"]);
    let (tail, meta) = names(&server, "/models?sort=createdAt:asc&limit=2&anchor=end").await;
    assert_eq!(tail, ["echo", "foxtrot"]);
    assert_eq!(meta["hasMore"], false);

    // Search: name, displayName and labels, case-insensitive; one character is ignored.
    let (found, meta) = names(&server, "/models?q=RAV").await;
    assert_eq!(found, ["bravo"]);
    assert_eq!(meta["total"], 6, "total ignores filters");
    let (found, _) = names(&server, "/models?q=research").await;
    assert_eq!(found, ["foxtrot"]);
    let (found, _) = names(&server, "/models?q=a").await;
    assert_eq!(found.len(), 6);

    let (found, _) = names(&server, "/models?status=deactivated").await;
    assert_eq!(found, ["foxtrot"]);
    let (found, _) = names(&server, "/models?status=DEPLOYED,FAILED&sort=name:asc").await;
    assert_eq!(found, ["alpha", "bravo", "charlie", "delta", "echo"]);

    for bad in [
        "limit=0",
        "limit=abc",
        "sort=size:asc",
        "status=RUNNING",
        "anchor=start",
        "sort=name:asc&anchor=end",
        &format!("q={}", "x".repeat(201)),
    ] {
        let (status, body) = server.get_v2(&format!("/models?{bad}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }
    let (clamped, _) = names(&server, "/models?limit=1000").await;
    assert_eq!(clamped.len(), 6);

    // Before 2026-04-28: the whole collection as a bare array, filters not applied.
    let (status, all) = server
        .call_as(
            &server.key,
            Method::GET,
            "/models?limit=1&q=bravo&status=FAILED",
            None,
            &[("Blaxel-Version", "2026-04-16")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 6);
    let (status, body) = server.call_as(&server.key, Method::GET, "/models?status=NOPE", None, &[]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) =
        server.call_as(&server.key, Method::GET, "/models", None, &[("Blaxel-Version", "latest")]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_api_version");
}
