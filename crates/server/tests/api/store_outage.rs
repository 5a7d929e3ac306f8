//! Store outages as the control plane's users see them: PostgreSQL taken away through a
//! [`Relay`] (refused, or blackholed: packets silently dropped, the harder case, where a query
//! on an open connection hangs), a node started while it is away, a master key that opens no
//! stored secret, and the SQLite file's safety.

use crate::common::*;
use crate::postgres_support::TestSchema;
use modelgate_mock_provider::relay::Relay;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A relay to the PostgreSQL server of `url`, and `url` rewritten to go through it.
async fn postgres_through_relay(url: &str) -> (Relay, String) {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    let target = (parsed.host_str().unwrap().to_string(), parsed.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let relay = Relay::start(target).await.unwrap();
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(relay.addr().port())).unwrap();
    (relay, parsed.to_string())
}

/// A node of `role` on `url` (PostgreSQL through a relay).
fn node_args(dir: &std::path::Path, url: &str, role: modelgate_server::Role) -> modelgate_server::ServeArgs {
    let mut args = args_for(dir);
    args.database_url = Some(url.to_string());
    args.master_key = Some("42".repeat(32));
    args.role = role;
    args
}

/// A request's answer: status, `Retry-After`, body, and how long it took.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, retry_after, body, took: started.elapsed() }
}

async fn write_connection(server: &TestServer, name: &str) -> Answer {
    let request = server.client.post(server.url("/integrations/connections")).bearer_auth(&server.key);
    send(request.json(&connection(name, "openai", "sk-outage"))).await
}

async fn ready(client: &reqwest::Client, api: &str) -> Answer {
    send(client.get(format!("{api}/ready"))).await
}

/// Asserts the control plane's 503 for an unreachable store: the Error schema and `Retry-After`.
fn assert_store_unavailable(answer: &Answer) {
    assert_error(answer.status, &answer.body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "service_unavailable", "{}", answer.body);
    let seconds: u64 = answer.retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!(seconds > 0);
}

/// Polls readiness (each answer within 1 s) until its status is `expected`, for at most `within`.
async fn ready_becomes(client: &reqwest::Client, api: &str, expected: StatusCode, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let answer = ready(client, api).await;
        assert!(answer.took < Duration::from_secs(1), "/v0/ready took {:?}", answer.took);
        if answer.status == expected || Instant::now() > deadline {
            assert_eq!(answer.status, expected, "{}", answer.body);
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn writes_through_an_outage(test: &str, take_away: fn(&Relay)) {
    let Some(schema) = TestSchema::create(test).await else { return };
    let (relay, url) = postgres_through_relay(&schema.url).await;
    let dir = tempfile::tempdir().unwrap();
    let args = node_args(dir.path(), &url, modelgate_server::Role::All);
    let mut server = TestServer::start_with(dir, args).await;
    let dir = tempfile::tempdir().unwrap();
    let args = node_args(dir.path(), &url, modelgate_server::Role::Inference);
    let mut inference_node = TestServer::start_with(dir, args).await;
    let before = write_connection(&server, "before").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);

    take_away(&relay);
    // Started at once: the write is in flight (or waits for a connection) when the outage is seen.
    let during = write_connection(&server, "during").await;
    eprintln!("{test}: first write after the outage began: {} in {:?}", during.status, during.took);
    assert_store_unavailable(&during);
    assert!(during.took < Duration::from_secs(3), "the write took {:?}", during.took);
    // Once the outage is known, writes are refused at once.
    let known = write_connection(&server, "known").await;
    eprintln!("{test}: a write while the outage is known: {} in {:?}", known.status, known.took);
    assert_store_unavailable(&known);
    assert!(known.took < Duration::from_secs(1), "the write took {:?}", known.took);
    let list = send(server.client.get(server.url("/integrations/connections")).bearer_auth(&server.key)).await;
    assert_store_unavailable(&list);

    // Readiness answers at once: the control node is not ready (once its probe, every 500 ms
    // with a 1 s timeout, has seen the outage), an inference node still serves.
    let not_ready =
        ready_becomes(&server.client, &server.api, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(3)).await;
    eprintln!("{test}: /v0/ready on the control node: {} in {:?}", not_ready.status, not_ready.took);
    assert!(not_ready.body["message"].as_str().unwrap().contains("store unreachable"), "{}", not_ready.body);
    // Its own probe sees the outage within 1.5 s; it keeps serving its snapshot meanwhile.
    let deadline = Instant::now() + Duration::from_secs(5);
    let inference_ready = loop {
        let answer = ready(&inference_node.client, &inference_node.api).await;
        assert!(answer.took < Duration::from_secs(1), "/v0/ready took {:?}", answer.took);
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if answer.body["store"] == "unreachable" || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("{test}: /v0/ready on the inference node: {} in {:?}", inference_ready.status, inference_ready.took);
    assert_eq!(inference_ready.body["store"], "unreachable", "{}", inference_ready.body);
    let health = send(server.client.get(server.url("/health"))).await;
    assert_eq!(health.status, StatusCode::OK);

    relay.restore();
    ready_becomes(&server.client, &server.api, StatusCode::OK, Duration::from_secs(15)).await;
    let after = write_connection(&server, "after").await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    // The writes that answered 503 left nothing behind.
    let (status, list) = server.get("/integrations/connections").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut names: Vec<&str> =
        list.as_array().unwrap().iter().map(|c| c["metadata"]["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["after", "before"], "{list}");
    inference_node.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn writes_answer_503_at_once_while_postgres_refuses_and_work_again_after() {
    writes_through_an_outage("writes_answer_503_at_once_while_postgres_refuses_and_work_again_after", Relay::cut).await;
}

#[tokio::test]
async fn writes_answer_503_within_2_s_while_postgres_packets_are_dropped() {
    writes_through_an_outage("writes_answer_503_within_2_s_while_postgres_packets_are_dropped", Relay::blackhole).await;
}

#[tokio::test]
async fn a_node_started_while_postgres_is_unreachable_waits_and_becomes_ready() {
    let test = "a_node_started_while_postgres_is_unreachable_waits_and_becomes_ready";
    let Some(schema) = TestSchema::create(test).await else { return };
    let (relay, url) = postgres_through_relay(&schema.url).await;
    relay.cut();
    let dir = tempfile::tempdir().unwrap();
    let args = node_args(dir.path(), &url, modelgate_server::Role::All);
    let started = Instant::now();
    let mut server = TestServer::start_with(dir, args).await;
    eprintln!("{test}: start() returned in {:?} with the store unreachable", started.elapsed());

    let health = send(server.client.get(server.url("/health"))).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    let waiting = ready(&server.client, &server.api).await;
    assert_store_unavailable(&waiting);
    let message = waiting.body["message"].as_str().unwrap();
    assert!(message.starts_with("store unreachable: retrying"), "{message}");
    assert_store_unavailable(&write_connection(&server, "early").await);
    let run = format!("http://{}", server.server.as_ref().unwrap().run_addr.unwrap());
    let call = server.client.post(format!("{run}/default/models/m/v1/chat/completions")).bearer_auth(&server.key);
    let refused = send(call.json(&json!({"model": "m", "messages": []}))).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "NODE_NOT_READY", "{}", refused.body);
    assert_eq!(refused.body["error"]["retryable"], true, "{}", refused.body);
    assert!(refused.retry_after.is_some());

    // Still waiting a moment later (the node did not exit), then ready once the store is back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(send(server.client.get(server.url("/health"))).await.status, StatusCode::OK);
    relay.restore();
    let restored = Instant::now();
    ready_becomes(&server.client, &server.api, StatusCode::OK, Duration::from_secs(20)).await;
    eprintln!("{test}: ready {:?} after the store came back", restored.elapsed());
    let written = write_connection(&server, "late").await;
    assert_eq!(written.status, StatusCode::OK, "the bootstrap admin key works: {}", written.body);
    server.stop().await;
}

#[tokio::test]
async fn a_master_key_that_opens_no_stored_secret_is_reported_by_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.master_key = Some("42".repeat(32));
    let mut server = TestServer::start_with(dir, args.clone()).await;
    server.create_connection("a", "openai", "sk-a").await;
    server.create_connection("b", "anthropic", "sk-b").await;
    assert_eq!(ready(&server.client, &server.api).await.status, StatusCode::OK);
    server.stop().await;

    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    args.master_key = Some("17".repeat(32));
    let mut server = TestServer::start_with(dir, args.clone()).await;
    let answer = ready(&server.client, &server.api).await;
    assert_error(answer.status, &answer.body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.body["message"], "none of 2 stored secrets opens with the configured master key",
        "{}",
        answer.body
    );
    server.stop().await;

    // An inference node says it beside its other readiness details.
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    args.role = modelgate_server::Role::Inference;
    let mut server = TestServer::start_with(dir, args).await;
    let answer = ready(&server.client, &server.api).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.body);
    assert_eq!(answer.body["secrets"], "none of 2 stored secrets opens with the configured master key");
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_and_its_log_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = TestServer::start().await;
    server.create_connection("c", "openai", "sk-private").await;
    let path = server.db_path();
    let mut files = vec![path.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        files.push(file.into());
    }
    for file in &files {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    }
    server.stop().await;
}

/// The error of a start whose SQLite file cannot be opened: the path said once, and the OS's reason.
async fn sqlite_start_error(dir: &std::path::Path, db: &str) -> String {
    let mut args = args_for(dir);
    args.master_key = Some("42".repeat(32));
    args.database_url = Some(format!("sqlite://{db}"));
    let error = match modelgate_server::start(args).await {
        Ok(_) => panic!("started on {db}"),
        Err(error) => format!("{error:#}"),
    };
    assert_eq!(error.matches(db).count(), 1, "the path once: {error}");
    error
}

#[tokio::test]
async fn an_sqlite_file_that_cannot_be_opened_is_named_with_the_os_reason() {
    let dir = tempfile::tempdir().unwrap();
    let error = sqlite_start_error(dir.path(), "/dev/null/modelgate.db").await;
    assert!(error.contains("Not a directory"), "{error}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(locked.join("probe"), b"").is_ok() {
            // Root ignores permissions: nothing to refuse here.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped part of an_sqlite_file_that_cannot_be_opened_is_named_with_the_os_reason: running as root, a read-only directory refuses nothing"
            );
        } else {
            let db = locked.join("modelgate.db");
            let error = sqlite_start_error(dir.path(), db.to_str().unwrap()).await;
            assert!(error.contains("Permission denied"), "{error}");
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
