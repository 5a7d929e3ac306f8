//! `/v0/policies` over real HTTP.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn max_tokens(name: &str, total: i64) -> Value {
    json!({"metadata": {"name": name}, "spec": {"type": "maxToken", "resourceTypes": ["model"],
        "maxTokens": {"granularity": "minute", "step": 1, "input": 0, "output": 0, "total": total}}})
}

#[tokio::test]
async fn policy_crud_usages_and_in_use() {
    let server = TestServer::start().await;
    let (status, created) = server.post("/policies", max_tokens("tpm", 15000)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["spec"]["maxTokens"]["total"], 15000);
    assert_eq!(created["usage"]["models"], 0);
    assert_eq!(created["metadata"]["createdBy"], "admin");

    server.create_connection("c", "openai", "k").await;
    let mut m = model("m", "openai", "c");
    m["spec"]["policies"] = json!(["tpm"]);
    let (status, body) = server.post("/models", m).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["policies"], json!(["tpm"]));

    let (_, fetched) = server.get("/policies/tpm").await;
    assert_eq!(fetched["usage"]["models"], 1);
    let (status, usages) = server.get("/policies/tpm/usages").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usages["models"], json!([{"name": "m"}]));
    assert_eq!(usages["agents"], json!([]));

    let (status, body) = server.delete("/policies/tpm").await;
    assert!(assert_error(status, &body, StatusCode::CONFLICT).contains("'m'"));

    let (status, updated) = server.put("/policies/tpm", max_tokens("tpm", 100)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"]["maxTokens"]["total"], 100);

    server.delete("/models/m").await;
    let (status, _) = server.delete("/policies/tpm").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get("/policies/tpm").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.get("/policies/tpm/usages").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_policies_are_refused() {
    let server = TestServer::start().await;
    let cases = vec![
        (json!({"metadata": {"name": "p"}, "spec": {"type": "speed"}}), "spec.type"),
        (json!({"metadata": {"name": "p"}, "spec": {}}), "spec.type"),
        (
            json!({"metadata": {"name": "p"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "week", "total": 1}}}),
            "granularity",
        ),
        (
            json!({"metadata": {"name": "p"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "day", "total": -1}}}),
            "total",
        ),
        (
            json!({"metadata": {"name": "p"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "day", "total": "lots"}}}),
            "spec.maxTokens.total",
        ),
        (
            json!({"metadata": {"name": "p"}, "spec": {"type": "location", "locations": [{"name": "eu", "type": "planet"}]}}),
            "spec.locations[0].type",
        ),
        (json!({"metadata": {"name": "p"}, "spec": {"type": "location"}}), "spec.locations"),
        (json!({"metadata": {"name": "p"}, "spec": {"type": "flavor", "flavors": []}}), "spec.flavors"),
        (
            json!({"metadata": {"name": "p"}, "spec": {"type": "flavor", "resourceTypes": ["robot"], "flavors": [{"name": "x"}]}}),
            "spec.resourceTypes",
        ),
        (json!({"metadata": {"name": "P"}, "spec": {"type": "flavor", "flavors": [{"name": "x"}]}}), "metadata.name"),
    ];
    for (body, expected) in cases {
        let (status, response) = server.post("/policies", body.clone()).await;
        let message = assert_error(status, &response, StatusCode::BAD_REQUEST);
        assert!(message.contains(expected), "{body}: '{message}' should mention '{expected}'");
    }
    assert_eq!(server.post("/policies", max_tokens("p", 1)).await.0, StatusCode::OK);
    let (status, body) = server.post("/policies", max_tokens("p", 1)).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = server.put("/policies/p", max_tokens("q", 1)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = server.put("/policies/none", max_tokens("none", 1)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn flavor_policies_are_checked_when_a_model_is_saved() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "k").await;
    let flavor = json!({"metadata": {"name": "cpu-only"}, "spec": {"type": "flavor", "flavors": [{"name": "x86", "type": "cpu"}]}});
    assert_eq!(server.post("/policies", flavor).await.0, StatusCode::OK);
    let apps_only = json!({"metadata": {"name": "apps"}, "spec": {"type": "flavor", "resourceTypes": ["application"], "flavors": [{"name": "x86"}]}});
    assert_eq!(server.post("/policies", apps_only).await.0, StatusCode::OK);

    let mut allowed = model("ok", "openai", "c");
    allowed["spec"]["policies"] = json!(["cpu-only"]);
    allowed["spec"]["flavors"] = json!([{"name": "x86", "type": "cpu"}]);
    assert_eq!(server.post("/models", allowed).await.0, StatusCode::OK);

    let mut refused = model("gpu", "openai", "c");
    refused["spec"]["policies"] = json!(["cpu-only"]);
    refused["spec"]["flavors"] = json!([{"name": "t4", "type": "gpu"}]);
    let (status, body) = server.post("/models", refused).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("t4"));

    let mut wrong_target = model("w", "openai", "c");
    wrong_target["spec"]["policies"] = json!(["apps"]);
    let (status, body) = server.post("/models", wrong_target).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("does not apply to models"));
}

#[tokio::test]
async fn policy_lists_page_like_models() {
    let server = TestServer::start().await;
    for name in ["p1", "p2", "p3"] {
        assert_eq!(server.post("/policies", max_tokens(name, 10)).await.0, StatusCode::OK);
    }
    let (status, bare) = server.get("/policies").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bare.as_array().unwrap().len(), 3);
    let (_, page) = server.get_v2("/policies?limit=2&sort=name:asc").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["metadata"]["name"], "p1");
    assert_eq!(page["data"][0]["usage"]["models"], 0);
    assert_eq!(page["meta"]["hasMore"], true);
    let cursor = page["meta"]["nextCursor"].as_str().unwrap();
    let (_, next) = server.get_v2(&format!("/policies?limit=2&sort=name:asc&cursor={cursor}")).await;
    assert_eq!(next["data"][0]["metadata"]["name"], "p3");
    let (status, body) = server.get_v2("/policies?status=DEPLOYED").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}
