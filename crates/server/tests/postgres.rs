//! A node on PostgreSQL, end to end over HTTP: the same flow as on SQLite, a restart on the same
//! schema, and a rotation. Needs `MODELGATE_TEST_POSTGRES_URL` (skipped without it, failing
//! without it under `CI=true`); each run gets a fresh schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../store/tests/support/postgres.rs"]
mod postgres_support;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_node_on_postgres_keeps_its_resources_across_restarts() {
    let Some(schema) =
        postgres_support::TestSchema::create("a_node_on_postgres_keeps_its_resources_across_restarts").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.database_url = Some(schema.url.clone());
    let mut server = TestServer::start_with(dir, args.clone()).await;

    server.create_connection("conn", "openai", "sk-on-postgres").await;
    let created = server.create_model("m", "conn").await;
    assert_eq!(created["status"], "DEPLOYED", "{created}");
    let (status, before) = server.get("/models/m").await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["spec"]["integrationConnections"], serde_json::json!(["conn"]));
    // The store's errors map the same way: a duplicate and a referenced delete are 409s.
    let (status, body) = server.post("/integrations/connections", connection("conn", "openai", "k")).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = server.delete("/integrations/connections/conn").await;
    assert_error(status, &body, StatusCode::CONFLICT);
    assert!(!server.db_path().exists(), "no SQLite file beside the key file");
    assert!(server.dir.path().join("master.key").exists(), "the key file still lives in the data directory");
    server.stop().await;

    // The same schema and key file: everything is still there, and the sealed secret opens.
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let mut server = TestServer::start_with(dir, args.clone()).await;
    let (status, after) = server.get("/models/m").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before);
    let (status, redeployed) = server.put("/models/m", model("m", "openai", "conn")).await;
    assert_eq!(status, StatusCode::OK, "{redeployed}");
    assert_eq!(redeployed["status"], "DEPLOYED", "the connection's secret opens after the restart: {redeployed}");
    let (status, page) = server.get_v2("/models").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    server.stop().await;

    let report = modelgate_server::rotate_master_key(&args).await.unwrap();
    assert_eq!((report.resealed, report.already_current), (0, 1));
}
