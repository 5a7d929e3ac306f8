//! `/v0/usage` and `/v0/models/{name}/usage` over real HTTP, on records written straight into
//! the node's store (as the inference plane's usage writer does).

use crate::common::*;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::usage::UsageRecord;
use modelgate_store::{Store, UsageQuery, UsageStore};
use modelgate_store_sql::SqlStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECOND: i64 = 1_000_000;
/// 2025-01-15T00:00:00Z, far from "now" so that the default range never sees these records.
const T0: i64 = 1_736_899_200 * SECOND;
const RANGE: &str = "from=2025-01-15T00:00:00Z&to=2025-01-15T02:00:00Z&interval=1h";

/// A record: workspace, model, seconds after T0, status, (input, output) tokens, latency, ttfb.
type Row = (&'static str, &'static str, i64, u16, (i64, i64), i64, Option<i64>);

fn usage((workspace, model, seconds, status, tokens, latency, ttfb): Row) -> UsageRecord {
    UsageRecord {
        id: None,
        at: T0 + seconds * SECOND,
        workspace: workspace.into(),
        model: model.into(),
        subject: format!("sa-{workspace}"),
        key_id: Some("ak_test".into()),
        provider: "openai".into(),
        status,
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        total_tokens: tokens.0 + tokens.1,
        latency_ms: latency,
        ttfb_ms: ttfb,
        ..UsageRecord::default()
    }
}

/// `sums` (an object, or an array of them) with the spend fields of requests made without a
/// price and without cached tokens, as the seeded records are: no cost known.
fn unpriced(mut sums: Value) -> Value {
    if let Some(items) = sums.as_array_mut() {
        items.iter_mut().for_each(|item| *item = unpriced(item.take()));
        return sums;
    }
    let requests = sums["requests"].as_i64().unwrap();
    let cost = if requests == 0 { json!(0.0) } else { Value::Null };
    let spend = json!({"cacheReadTokens": 0, "cacheWriteTokens": 0, "costUsd": cost, "unpricedRequests": requests});
    sums.as_object_mut().unwrap().extend(spend.as_object().unwrap().clone());
    sums
}

/// The node's SQLite file.
fn sqlite_url(server: &TestServer) -> String {
    format!("sqlite://{}", server.db_path().display())
}

async fn open_store(server: &TestServer) -> SqlStore {
    SqlStore::open(&sqlite_url(server)).await.unwrap()
}

async fn insert(server: &TestServer, records: &[UsageRecord]) {
    insert_into(&sqlite_url(server), records).await;
}

/// Inserts into the database at `url` (the node's own, on either engine).
async fn insert_into(url: &str, records: &[UsageRecord]) {
    let store = SqlStore::open(url).await.unwrap();
    store.insert_usage(records).await.unwrap();
    store.close().await;
}

/// Two models in `default`, one in `other` (same name as one of ours), one record after the range.
async fn seed(server: &TestServer) {
    seed_into(&sqlite_url(server)).await;
}

async fn seed_into(url: &str) {
    #[rustfmt::skip]
    let rows: [Row; 7] = [
        ("default", "my-gpt",   10, 200, (10, 5),      100, Some(30)),
        ("default", "claude",   30, 200, (1, 2),        50, Some(10)),
        ("default", "my-gpt",   70, 200, (20, 10),     200, Some(50)),
        ("default", "claude", 3600, 429, (0, 0),         5, None),
        ("default", "my-gpt", 3700, 500, (5, 0),       300, None),
        ("default", "my-gpt", 7200, 200, (7, 7),         1, Some(1)), // at `to`: outside
        ("other",   "my-gpt",   20, 200, (1000, 1000), 9999, Some(9999)),
    ];
    insert_into(url, &rows.map(usage)).await;
}

fn ok(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn workspace_usage_totals_series_and_models() {
    let server = TestServer::start().await;
    seed(&server).await;
    check_workspace_usage(&server).await;
}

/// What [`seed`] gives through `GET /usage`.
async fn check_workspace_usage(server: &TestServer) {
    let (status, body) = server.get(&format!("/usage?{RANGE}")).await;
    ok(status, &body);
    assert_eq!(body["workspace"], "default");
    assert_eq!(body["model"], Value::Null);
    assert_eq!(body["from"], "2025-01-15T00:00:00Z");
    assert_eq!(body["to"], "2025-01-15T02:00:00Z");
    assert_eq!(body["interval"], "1h");
    assert_eq!(
        body["totals"],
        unpriced(json!({"requests": 5, "errors": 2, "inputTokens": 36, "outputTokens": 17, "totalTokens": 53,
               "latencyMs": {"p50": 100, "p90": 300, "p99": 300, "max": 300},
               "ttfbMs": {"p50": 30, "p90": 50, "p99": 50, "max": 50}}))
    );
    assert_eq!(
        body["series"],
        unpriced(json!([
            {"start": "2025-01-15T00:00:00Z", "requests": 3, "errors": 0, "inputTokens": 31, "outputTokens": 17,
             "totalTokens": 48, "latencyMsP50": 100},
            {"start": "2025-01-15T01:00:00Z", "requests": 2, "errors": 2, "inputTokens": 5, "outputTokens": 0,
             "totalTokens": 5, "latencyMsP50": 5},
        ]))
    );
    assert_eq!(
        body["byModel"],
        unpriced(json!([
            {"model": "claude", "requests": 2, "errors": 1, "inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
            {"model": "my-gpt", "requests": 3, "errors": 1, "inputTokens": 35, "outputTokens": 15, "totalTokens": 50},
        ]))
    );

    // Finer buckets, empty ones included.
    let (status, body) = server.get("/usage?from=2025-01-15T00:00:00Z&to=2025-01-15T00:05:00Z&interval=1m").await;
    ok(status, &body);
    let requests: Vec<i64> =
        body["series"].as_array().unwrap().iter().map(|b| b["requests"].as_i64().unwrap()).collect();
    assert_eq!(requests, [2, 1, 0, 0, 0]);
    assert_eq!(body["series"][2]["latencyMsP50"], Value::Null);
    assert_eq!(body["series"][4]["start"], "2025-01-15T00:04:00Z");

    // The model filter.
    let (status, body) = server.get(&format!("/usage?{RANGE}&model=my-gpt")).await;
    ok(status, &body);
    assert_eq!(body["model"], "my-gpt");
    assert_eq!(body["totals"]["requests"], 3);
    assert_eq!(body["totals"]["totalTokens"], 50);
    assert_eq!(body["byModel"].as_array().unwrap().len(), 1);
    assert_eq!(body["series"][1]["errors"], 1);
}

#[tokio::test]
async fn model_usage_and_history_of_deleted_models() {
    let server = TestServer::start().await;
    seed(&server).await;

    // `my-gpt` was never created in this workspace: its history still answers.
    let (status, body) = server.get(&format!("/models/my-gpt/usage?{RANGE}")).await;
    ok(status, &body);
    assert_eq!(body["model"], "my-gpt");
    assert!(body.get("byModel").is_none(), "{body}");
    assert_eq!(
        body["totals"],
        unpriced(json!({"requests": 3, "errors": 1, "inputTokens": 35, "outputTokens": 15, "totalTokens": 50,
               "latencyMs": {"p50": 200, "p90": 300, "p99": 300, "max": 300},
               "ttfbMs": {"p50": 30, "p90": 50, "p99": 50, "max": 50}}))
    );
    let per_bucket: Vec<(i64, i64)> = body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["requests"].as_i64().unwrap(), b["latencyMsP50"].as_i64().unwrap()))
        .collect();
    assert_eq!(per_bucket, [(2, 100), (1, 300)]);

    // An existing model without usage: zeros, not 404.
    server.create_connection("conn", "openai", "sk-test").await;
    server.create_model("quiet", "conn").await;
    let (status, body) = server.get(&format!("/models/quiet/usage?{RANGE}")).await;
    ok(status, &body);
    assert_eq!(body["totals"]["requests"], 0);
    assert_eq!(body["totals"]["latencyMs"], json!({"p50": null, "p90": null, "p99": null, "max": null}));
    assert_eq!(body["series"].as_array().unwrap().len(), 2);

    // A model deleted after use keeps its usage.
    server.create_model("temp", "conn").await;
    insert(&server, &[usage(("default", "temp", 5, 200, (1, 1), 9, Some(3)))]).await;
    let (status, _) = server.delete("/models/temp").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get(&format!("/models/temp/usage?{RANGE}")).await;
    ok(status, &body);
    assert_eq!(body["totals"]["requests"], 1);

    // Unknown, and no usage in range: 404.
    let (status, body) = server.get(&format!("/models/nope/usage?{RANGE}")).await;
    let message = assert_error(status, &body, StatusCode::NOT_FOUND);
    assert!(message.contains("'nope'"), "{message}");
    let (status, body) = server.get("/models/temp/usage?from=2025-01-16T00:00:00Z&to=2025-01-17T00:00:00Z").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn workspaces_never_see_each_others_usage() {
    let server = TestServer::start().await;
    seed(&server).await;

    let other_key = server.add_key("other", &["models:list", "models:get"], None).await;
    for (key, headers) in [(other_key.as_str(), &[][..]), (ADMIN_KEY, &[("X-Blaxel-Workspace", "other")][..])] {
        let (status, body) = server.call_as(key, Method::GET, &format!("/usage?{RANGE}"), None, headers).await;
        ok(status, &body);
        assert_eq!(body["workspace"], "other");
        assert_eq!(body["totals"]["requests"], 1, "{body}");
        assert_eq!(body["totals"]["latencyMs"]["max"], 9999);
        let (status, body) =
            server.call_as(key, Method::GET, &format!("/models/my-gpt/usage?{RANGE}"), None, headers).await;
        ok(status, &body);
        assert_eq!(body["totals"]["requests"], 1, "{body}");
        // `claude` exists only in default's usage.
        let (status, body) =
            server.call_as(key, Method::GET, &format!("/models/claude/usage?{RANGE}"), None, headers).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    // And default never counts other's 9999 ms.
    let (_, body) = server.get(&format!("/usage?{RANGE}&model=my-gpt")).await;
    assert_eq!(body["totals"]["latencyMs"]["max"], 300);
}

#[tokio::test]
async fn defaults_to_the_last_24_hours() {
    let server = TestServer::start().await;
    seed(&server).await;
    let now = now_micros();
    let recent = UsageRecord { at: now - 3600 * SECOND, ..usage(("default", "recent", 0, 200, (2, 3), 42, Some(7))) };
    let old = UsageRecord { at: now - 25 * 3600 * SECOND, ..recent.clone() };
    insert(&server, &[recent, old]).await;

    let (status, body) = server.get("/usage").await;
    ok(status, &body);
    assert_eq!(body["interval"], "15m");
    let buckets = body["series"].as_array().unwrap().len();
    assert!((96..=97).contains(&buckets), "{buckets} buckets");
    assert_eq!(body["totals"]["requests"], 1, "only the last day counts: {body}");
    assert_eq!(body["byModel"][0]["model"], "recent");
    let total: i64 = body["series"].as_array().unwrap().iter().map(|b| b["requests"].as_i64().unwrap()).sum();
    assert_eq!(total, 1);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let server = TestServer::start().await;
    for (query, param) in [
        ("from=yesterday", "from"),
        ("to=2025-01-15", "to"),
        ("from=2025-01-15T02:00:00Z&to=2025-01-15T01:00:00Z", "to"),
        ("from=2025-01-15T00:00:00Z&to=2025-01-15T00:00:00Z", "to"),
        ("interval=fortnight", "interval"),
        ("interval=0m", "interval"),
        ("from=2025-01-13T00:00:00Z&to=2025-01-15T00:00:00Z&interval=1m", "interval"),
        ("from=2025-01-15T00:00:00Z&from=2025-01-16T00:00:00Z", "from"),
        ("from=2024-01-14T00:00:00Z&to=2025-01-15T00:00:00Z", "from"),
        ("groupBy=workspaces", "groupBy"),
        ("groupBy=key,key", "groupBy"),
        ("groupBy=model,", "groupBy"),
    ] {
        for path in ["/usage", "/models/my-gpt/usage"] {
            let (status, body) = server.get(&format!("{path}?{query}")).await;
            let message = assert_error(status, &body, StatusCode::BAD_REQUEST);
            assert!(message.contains(param), "{path}?{query}: {message}");
        }
    }
    // A '+' offset, encoded or arrived as a space, is understood.
    for from in ["2025-01-15T02:00:00%2B02:00", "2025-01-15T02:00:00+02:00"] {
        let (status, body) = server.get(&format!("/usage?from={from}&to=2025-01-15T01:00:00Z")).await;
        ok(status, &body);
        assert_eq!(body["from"], "2025-01-15T00:00:00Z");
    }
}

#[tokio::test]
async fn credentials_and_scopes() {
    let server = TestServer::start().await;
    seed(&server).await;

    for path in ["/usage", "/models/my-gpt/usage"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }

    let get_only = server.add_key("default", &["models:get"], None).await;
    let list_only = server.add_key("default", &["models:list"], None).await;
    let cases = [
        (&get_only, "/usage", StatusCode::FORBIDDEN),
        (&get_only, "/models/my-gpt/usage", StatusCode::OK),
        (&list_only, "/usage", StatusCode::OK),
        (&list_only, "/models/my-gpt/usage", StatusCode::FORBIDDEN),
    ];
    for (key, path, expected) in cases {
        let (status, body) = server.call_as(key, Method::GET, &format!("{path}?{RANGE}"), None, &[]).await;
        if expected == StatusCode::OK {
            ok(status, &body);
        } else {
            let message = assert_error(status, &body, expected);
            assert!(message.contains("models:"), "{message}");
        }
    }
    // The scope is checked before the parameters: no validation detail without permission.
    let (status, body) = server.call_as(&get_only, Method::GET, "/usage?from=junk", None, &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deleting_a_workspace_deletes_its_usage() {
    let server = TestServer::start().await;
    let (status, body) = server.post("/workspaces", json!({"name": "doomed"})).await;
    ok(status, &body);
    let doomed = usage(("doomed", "m", 1, 200, (1, 1), 1, None));
    insert(&server, &[doomed.clone(), UsageRecord { workspace: "default".into(), ..doomed }]).await;
    let headers = [("X-Blaxel-Workspace", "doomed")];
    let (status, body) = server.call_as(ADMIN_KEY, Method::GET, &format!("/usage?{RANGE}"), None, &headers).await;
    ok(status, &body);
    assert_eq!(body["totals"]["requests"], 1);

    let (status, body) = server.delete("/workspaces/doomed?force=true").await;
    ok(status, &body);
    let store = open_store(&server).await;
    let query = |workspace: &str| UsageQuery { workspace: workspace.into(), model: None, from: 0, to: i64::MAX };
    assert!(store.query_usage(&query("doomed")).await.unwrap().is_empty());
    assert_eq!(store.query_usage(&query("default")).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_usage_routes() {
    let server = TestServer::start().await;
    let (status, document) = server.get("/openapi.json").await;
    ok(status, &document);
    let workspace = &document["paths"]["/usage"]["get"];
    assert_eq!(workspace["operationId"], "GetWorkspaceUsage");
    assert_eq!(workspace["security"][0]["ApiKeyAuth"], json!(["models:list"]));
    let model = &document["paths"]["/models/{modelName}/usage"]["get"];
    assert_eq!(model["operationId"], "GetModelUsage");
    assert_eq!(model["security"][0]["ApiKeyAuth"], json!(["models:get"]));
    let schemas = &document["components"]["schemas"];
    for name in ["UsageReport", "UsageTotals", "UsageBucket", "ModelUsage", "GroupUsage", "Percentiles"] {
        assert!(schemas.get(name).is_some(), "no schema {name}");
    }
    let params: Vec<&str> =
        workspace["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["from", "to", "interval", "key", "groupBy", "model"]);
}

#[tokio::test]
async fn usage_older_than_the_retention_is_deleted_at_start() {
    use modelgate_store::{UsageQuery, UsageStore};
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.usage_retention_days = 1;
    let mut server = TestServer::start_with(dir, args.clone()).await;
    server.stop().await;
    let url = format!("sqlite://{}", server.db_path().display());
    let store = modelgate_store_sql::SqlStore::open(&url).await.unwrap();
    let now = modelgate_domain::timestamp::now_micros();
    let record = |at| modelgate_domain::usage::UsageRecord {
        at,
        workspace: "default".into(),
        model: "m".into(),
        status: 200,
        ..Default::default()
    };
    store.insert_usage(&[record(now - 2 * 86_400_000_000), record(now - 1_000_000)]).await.unwrap();
    let query = UsageQuery { workspace: "default".into(), model: None, from: 0, to: now + 1 };
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let _restarted = TestServer::start_with(dir, args).await;
    for _ in 0..50 {
        if store.query_usage(&query).await.unwrap().len() == 1 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the two-day-old record was not deleted under a one-day retention");
}

/// `default`'s requests by three credentials: two API keys of one service account, and its
/// access tokens (no key id: the account's client id stands for the credential).
async fn seed_credentials(url: &str) {
    let with = |row: Row, key: Option<&str>, subject: &str| UsageRecord {
        key_id: key.map(str::to_string),
        subject: subject.to_string(),
        ..usage(row)
    };
    #[rustfmt::skip]
    let records = [
        with(("default", "my-gpt", 10, 200, (10, 5), 100, Some(30)), Some("ak_one"), "sa-ci"),
        with(("default", "claude", 20, 200, (1, 2), 50, Some(10)), Some("ak_one"), "sa-ci"),
        with(("default", "my-gpt", 30, 500, (5, 0), 300, None), Some("ak_two"), "sa-ci"),
        with(("default", "my-gpt", 3_700, 200, (20, 10), 200, Some(50)), None, "sa-ci"),
        with(("default", "my-gpt", 3_800, 200, (2, 2), 20, Some(5)), None, "sa-ci"),
        with(("default", "my-gpt", 3_900, 200, (3, 3), 30, Some(6)), None, "sa-ci"),
        with(("other", "my-gpt", 10, 200, (1_000, 0), 9, None), Some("ak_other"), "sa-other"),
    ];
    insert_into(url, &records).await;
}

#[tokio::test]
async fn breakdowns_by_key_and_model_and_the_key_filter() {
    let server = TestServer::start().await;
    seed_credentials(&sqlite_url(&server)).await;
    check_breakdowns(&server).await;
}

/// What [`seed_credentials`] gives with `groupBy` and `key`.
async fn check_breakdowns(server: &TestServer) {
    let (status, body) = server.get(&format!("/usage?{RANGE}&groupBy=key")).await;
    ok(status, &body);
    assert_eq!(body["totals"]["requests"], 6);
    assert_eq!(
        body["groups"],
        unpriced(json!([
            {"key": "sa-ci", "subject": "sa-ci", "requests": 3, "errors": 0, "inputTokens": 25, "outputTokens": 15, "totalTokens": 40},
            {"key": "ak_one", "subject": "sa-ci", "requests": 2, "errors": 0, "inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
            {"key": "ak_two", "subject": "sa-ci", "requests": 1, "errors": 1, "inputTokens": 5, "outputTokens": 0, "totalTokens": 5},
        ])),
        "the busiest first; another workspace's key never shows"
    );
    assert_eq!(body["groupsTruncated"], false);
    assert_eq!(body["byModel"].as_array().unwrap().len(), 2, "byModel stays: {body}");

    // Both dimensions.
    let (status, body) = server.get(&format!("/usage?{RANGE}&groupBy=model,key")).await;
    ok(status, &body);
    let pairs: Vec<(&str, &str, i64)> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["model"].as_str().unwrap(), g["key"].as_str().unwrap(), g["requests"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [("my-gpt", "sa-ci", 3), ("claude", "ak_one", 1), ("my-gpt", "ak_one", 1), ("my-gpt", "ak_two", 1)]
    );

    // The key filter: one key's totals, series and models; a key of another workspace finds nothing.
    let (status, body) = server.get(&format!("/usage?{RANGE}&key=ak_one&groupBy=model")).await;
    ok(status, &body);
    assert_eq!(body["key"], "ak_one");
    assert_eq!(body["totals"]["requests"], 2);
    assert_eq!(body["totals"]["latencyMs"], json!({"p50": 50, "p90": 100, "p99": 100, "max": 100}));
    let requests: Vec<i64> =
        body["series"].as_array().unwrap().iter().map(|b| b["requests"].as_i64().unwrap()).collect();
    assert_eq!(requests, [2, 0]);
    let models: Vec<&str> = body["groups"].as_array().unwrap().iter().map(|g| g["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["claude", "my-gpt"]);
    let (status, body) = server.get(&format!("/usage?{RANGE}&key=sa-ci")).await;
    ok(status, &body);
    assert_eq!((body["totals"]["requests"].as_i64(), body["totals"]["ttfbMs"]["p50"].as_i64()), (Some(3), Some(6)));
    let (status, body) = server.get(&format!("/usage?{RANGE}&key=ak_other")).await;
    ok(status, &body);
    assert_eq!(body["totals"]["requests"], 0);

    // A model's usage by key, and one key's usage of a model.
    let (status, body) = server.get(&format!("/models/my-gpt/usage?{RANGE}&groupBy=key")).await;
    ok(status, &body);
    let keys: Vec<(&str, i64)> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["requests"].as_i64().unwrap()))
        .collect();
    assert_eq!(keys, [("sa-ci", 3), ("ak_one", 1), ("ak_two", 1)]);
    assert!(body.get("byModel").is_none());
    let (status, body) = server.get(&format!("/models/my-gpt/usage?{RANGE}&key=ak_two")).await;
    ok(status, &body);
    assert_eq!((body["totals"]["requests"].as_i64(), body["totals"]["errors"].as_i64()), (Some(1), Some(1)));
    assert!(body.get("groups").is_none(), "no groupBy, no groups: {body}");
}

#[tokio::test]
async fn the_range_and_the_number_of_buckets_are_bounded() {
    let server = TestServer::start().await;
    // 1000 one-minute buckets answer, every one of them; one more is refused.
    let (status, body) = server.get("/usage?from=2025-01-15T00:00:00Z&to=2025-01-15T16:40:00Z&interval=1m").await;
    ok(status, &body);
    assert_eq!(body["series"].as_array().unwrap().len(), 1_000);
    let (status, body) = server.get("/usage?from=2025-01-15T00:00:00Z&to=2025-01-15T16:40:01Z&interval=1m").await;
    let message = assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("1001 buckets"), "{message}");
    // 366 days answer (in weekly buckets by default); a day more is refused.
    let (status, body) = server.get("/usage?from=2024-01-14T00:00:00Z&to=2025-01-14T00:00:00Z").await;
    ok(status, &body);
    assert_eq!(body["interval"], "7d");
    let (status, body) = server.get("/models/my-gpt/usage?from=2024-01-13T00:00:00Z&to=2025-01-14T00:00:00Z").await;
    let message = assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("366 days"), "{message}");
}

/// The same answers from a node on PostgreSQL: the statements are the same, the engine differs.
#[tokio::test]
async fn usage_on_postgres_answers_as_on_sqlite() {
    let Some((mut server, schema)) = start_on_postgres("usage_on_postgres_answers_as_on_sqlite").await else {
        return;
    };
    seed_into(&schema.url).await;
    check_workspace_usage(&server).await;
    server.stop().await;

    let Some((mut server, schema)) = start_on_postgres("usage_on_postgres_breakdowns").await else {
        return;
    };
    seed_credentials(&schema.url).await;
    check_breakdowns(&server).await;
    server.stop().await;
}

/// A node on a fresh PostgreSQL schema; `None` where PostgreSQL is skipped.
async fn start_on_postgres(test: &str) -> Option<(TestServer, crate::postgres_support::TestSchema)> {
    let schema = crate::postgres_support::TestSchema::create(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.database_url = Some(schema.url.clone());
    Some((TestServer::start_with(dir, args).await, schema))
}
