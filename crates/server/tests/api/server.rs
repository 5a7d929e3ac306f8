//! The server as a whole over real HTTP: errors for every kind of bad request, authentication
//! and workspaces, health, bootstrap, restarts and the master key.

use crate::common::*;
use modelgate_domain::timestamp::now_micros;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn raw(server: &TestServer, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text} ({})", server.api)))
}

#[tokio::test]
async fn every_bad_request_answers_the_error_schema() {
    let server = TestServer::start().await;
    let post = |body: &'static str, content_type: &'static str| {
        server
            .client
            .post(server.url("/models"))
            .bearer_auth(&server.key)
            .header("content-type", content_type)
            .body(body)
    };
    let (status, body) = raw(&server, post("{\"metadata\": ", "application/json")).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("malformed JSON"));
    let (status, body) = raw(&server, post("{} trailing", "application/json")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = raw(&server, post("", "application/json")).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("empty"));
    let (status, body) = raw(&server, post("[]", "application/json")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = raw(&server, post("{}", "text/plain")).await;
    assert!(assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE).contains("application/json"));
    let (status, body) =
        raw(&server, server.client.post(server.url("/models")).bearer_auth(&server.key).body("{}")).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = format!("{{\"metadata\": {{\"name\": \"m\", \"displayName\": \"{}\"}}}}", "x".repeat(2 * 1024 * 1024));
    let request =
        server.client.post(server.url("/models")).bearer_auth(&server.key).header("content-type", "application/json");
    let (status, body) = raw(&server, request.body(huge)).await;
    assert!(assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE).contains("limit"));

    let (status, body) = server.get("/nothing-here").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) =
        raw(&server, server.client.get(format!("{}/../elsewhere", server.api.trim_end_matches("/v0")))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.call(Method::PATCH, "/models/m", Some(json!({}))).await;
    assert!(assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED).contains("/v0/models/m"));
    let (status, body) = server.call(Method::DELETE, "/models", None).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);

    let (_, models) = server.get("/models").await;
    assert_eq!(models, json!([]), "nothing was written");
}

#[tokio::test]
async fn authentication_and_scopes() {
    let server = TestServer::start().await;
    let (status, body) = raw(&server, server.client.get(server.url("/models"))).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("Authorization"));
    let (status, body) = server.call_as("mgk_not_a_real_key", Method::GET, "/models", None, &[]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) =
        raw(&server, server.client.get(server.url("/models")).header("authorization", "Basic abc")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // X-Blaxel-Authorization is read first, as Blaxel's SDKs send it.
    let request =
        server.client.get(server.url("/models")).header("x-blaxel-authorization", format!("Bearer {ADMIN_KEY}"));
    let (status, _) = raw(&server, request.header("authorization", "Bearer wrong")).await;
    assert_eq!(status, StatusCode::OK);

    let expired = server.add_key("default", &["admin"], Some(now_micros() - 1)).await;
    let (status, body) = server.call_as(&expired, Method::GET, "/models", None, &[]).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("expired"));

    let reader = server.add_key("default", &["models:list", "models:get"], None).await;
    let (status, _) = server.call_as(&reader, Method::GET, "/models", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call_as(&reader, Method::POST, "/models", Some(model("m", "openai", "c")), &[]).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("models:create"));
    let (status, body) = server.call_as(&reader, Method::GET, "/integrations/connections", None, &[]).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("integrations:list"));
    let (status, body) = server.call_as(&reader, Method::DELETE, "/policies/p", None, &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    let (status, body) =
        server.call_as(ADMIN_KEY, Method::GET, "/models", None, &[("X-Blaxel-Workspace", "nowhere")]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn workspaces_never_see_each_other() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "k").await;
    server.create_model("shared-name", "c").await;
    let team = server.add_key("team-b", &["admin"], None).await;
    // A key of team-b works in team-b only and does not see default's resources.
    let (status, models) = server.call_as(&team, Method::GET, "/models", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models, json!([]));
    let (status, body) = server.call_as(&team, Method::GET, "/models/shared-name", None, &[]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Naming another workspace answers as if it did not exist.
    let (status, body) =
        server.call_as(&team, Method::GET, "/models", None, &[("X-Blaxel-Workspace", "default")]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.call_as(&team, Method::GET, "/models?workspace=default", None, &[]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // It cannot use default's connection either: references resolve in the caller's workspace.
    let (status, body) = server.call_as(&team, Method::POST, "/models", Some(model("m", "openai", "c")), &[]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    // The same name may exist in both.
    let conn = connection("c", "openai", "k2");
    assert_eq!(
        server.call_as(&team, Method::POST, "/integrations/connections", Some(conn), &[]).await.0,
        StatusCode::OK
    );
    let (status, created) =
        server.call_as(&team, Method::POST, "/models", Some(model("shared-name", "openai", "c")), &[]).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["metadata"]["workspace"], "team-b");
    assert_eq!(created["metadata"]["url"], "https://run.example.test/team-b/models/shared-name");

    // The bootstrap admin reaches team-b by naming it.
    let (status, models) =
        server.call_as(ADMIN_KEY, Method::GET, "/models", None, &[("X-Blaxel-Workspace", "team-b")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models.as_array().unwrap().len(), 1);
    assert_eq!(models[0]["metadata"]["workspace"], "team-b");
    let (_, ours) = server.get("/models/shared-name").await;
    assert_eq!(ours["metadata"]["workspace"], "default");
}

#[tokio::test]
async fn health_readiness_and_openapi_need_no_key() {
    let server = TestServer::start().await;
    let (status, body) = raw(&server, server.client.get(server.url("/health"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = raw(&server, server.client.get(server.url("/ready"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
    let (status, document) = raw(&server, server.client.get(server.url("/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["paths"]["/models"]["post"].is_object());
}

#[tokio::test]
async fn the_inference_plane_answers_the_gateway_error() {
    let server = TestServer::start().await;
    let run = server.server.as_ref().unwrap().run_addr.unwrap();
    // Authentication comes first, so an anonymous caller learns nothing about which models exist.
    let response =
        server.client.post(format!("http://{run}/default/models/m/v1/chat/completions")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["x-blaxel-source"], "platform");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AUTHENTICATION_REQUIRED");
    let response = server.client.get(format!("http://{run}/not/a/route")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ROUTE_NOT_FOUND");
    assert_eq!(body["error"]["retryable"], false);
}

#[tokio::test]
async fn restart_keeps_everything_and_bootstraps_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.bootstrap_api_key = None;
    let first = modelgate_server::start(args.clone()).await.unwrap();
    let key = first.bootstrap_api_key.clone().expect("a fresh store prints an admin key");
    assert!(key.starts_with("mgk_"));
    let mut server = TestServer {
        api: format!("http://{}/v0", first.api_addr),
        server: Some(first),
        key: key.clone(),
        client: reqwest::Client::new(),
        dir,
    };
    server.create_connection("c", "openai", "sk-restart").await;
    let created = server.create_model("survivor", "c").await;
    server.stop().await;

    let second = modelgate_server::start(args).await.unwrap();
    assert_eq!(second.bootstrap_api_key, None, "no new key on restart");
    server.api = format!("http://{}/v0", second.api_addr);
    server.server = Some(second);
    let (status, fetched) = server.get("/models/survivor").await;
    assert_eq!(status, StatusCode::OK, "the old key still works: {fetched}");
    assert_eq!(fetched, created);
    let (status, revisions) = server.get("/models/survivor/revisions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revisions.as_array().unwrap().len(), 1);
    // The secret was sealed with the key file's key, which the restart read back.
    let (status, model) = server.put("/models/survivor", created).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(model["status"], "DEPLOYED");
}

#[tokio::test]
async fn a_changed_master_key_fails_deployments_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.master_key = Some("11".repeat(32));
    let mut server = TestServer::start_with(dir, args.clone()).await;
    server.create_connection("c", "openai", "sk").await;
    server.stop().await;

    args.master_key = Some("22".repeat(32));
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let server = TestServer::start_with(dir, args).await;
    let (status, created) = server.post("/models", model("m", "openai", "c")).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "FAILED");
    let last = created["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "FAILED");
    assert!(last["message"].as_str().unwrap().contains("cannot be opened"), "{last}");
    let (_, failed) = server.get_v2("/models?status=FAILED").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_master_key_or_database_url_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.master_key = Some("not-a-key".into());
    let error = modelgate_server::start(args.clone()).await.err().unwrap();
    assert!(format!("{error:#}").contains("MODELGATE_MASTER_KEY"), "{error:#}");
    args.master_key = None;
    args.database_url = Some("mysql://x".into());
    assert!(modelgate_server::start(args.clone()).await.is_err());
    args.database_url = None;
    args.bootstrap_api_key = Some("short".into());
    assert!(modelgate_server::start(args).await.is_err());
}

#[tokio::test]
async fn a_database_failure_is_a_500_with_the_error_schema_and_writes_nothing() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "k").await;
    // Break the revisions table behind the server's back: the model insert must roll back.
    let pool = sqlx_pool(&server).await;
    sqlx::query("DROP TABLE revisions").execute(&pool).await.unwrap();
    let (status, body) = server.post("/models", model("m", "openai", "c")).await;
    let message = assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!message.contains("revisions"), "internals stay in the log: {message}");
    let (status, body) = server.get("/models/m").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

/// A second connection to the node's database, for breaking it on purpose.
async fn sqlx_pool(server: &TestServer) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", server.db_path().display())).await.unwrap()
}

/// A query or path parameter that does not parse is a 400 in the Error schema, like every other
/// control-plane failure (not axum's plain-text answer), and changes nothing.
#[tokio::test]
async fn unreadable_query_and_path_parameters_answer_the_error_schema() {
    let server = TestServer::start().await;
    assert_eq!(server.post("/workspaces", json!({"name": "team-q"})).await.0, StatusCode::OK);
    for (method, path) in [
        (Method::DELETE, "/workspaces/team-q?force=null"),
        (Method::DELETE, "/workspaces/team-q?force=yes"),
        (Method::GET, "/models/m/usage?from=1&to=2&interval=1h&extra=%FF"),
        (Method::GET, "/models/%FF"),
    ] {
        let (status, body) = server.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert_eq!(body["code"], 400, "{method} {path}: {body}");
        assert_eq!(body["error"], "bad_request", "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert_eq!(server.get("/workspaces/team-q").await.0, StatusCode::OK, "the refused delete changed nothing");
}
