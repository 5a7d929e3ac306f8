//! The web console over real HTTP: the page and its headers, the sign-in session (cookie flags,
//! CSRF, the credential's own rights, sign-out, expiry, a revoked credential) and the
//! playground's relay through the inference plane.

use crate::common::*;
use modelgate_domain::api_key;
use modelgate_domain::timestamp::now_micros;
use modelgate_mock_provider::{MockConfig, MockProvider};
use modelgate_store::{ConsoleSessionRecord, ConsoleSessionStore, Store};
use modelgate_store_sql::SqlStore;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A signed-in console session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

fn root(server: &TestServer) -> String {
    server.api.trim_end_matches("/v0").to_string()
}

async fn sign_in_with(
    server: &TestServer,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, Option<String>) {
    let mut request = server.client.post(format!("{}/console/api/session", root(server))).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let set_cookie = response.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap(), set_cookie)
}

async fn sign_in(server: &TestServer, key: &str) -> Session {
    let (status, body, set_cookie) = sign_in_with(server, json!({"apiKey": key}), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = set_cookie.expect("a session cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Session { cookie, csrf: body["csrfToken"].as_str().unwrap().to_string(), set_cookie }
}

/// A call with the session's cookie (and its CSRF token when `csrf`), no Authorization header.
async fn as_session(
    server: &TestServer,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
    csrf: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = server.client.request(method, format!("{}{path}", root(server))).header(COOKIE, &session.cookie);
    if let Some(token) = csrf {
        request = request.header("x-csrf-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let server = TestServer::start().await;
    let page = server.client.get(format!("{}/", root(&server))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    let script = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(script.starts_with("/assets/") && script.ends_with("/js/main.js"), "{script}");
    assert!(!html.contains("<script>"), "no inline script: {html}");

    let asset = server.client.get(format!("{}{script}", root(&server))).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(asset.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(asset.headers().contains_key("etag"));
    // The API is unchanged beside it.
    assert_eq!(server.get("/models").await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_the_console_the_root_and_its_api_answer_404() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.no_console = true;
    let server = TestServer::start_with(dir, args).await;
    let page = server.client.get(format!("{}/", root(&server))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let body: Value = page.json().await.unwrap();
    assert_eq!(body["code"], 404, "the Error schema: {body}");
    let (status, _, cookie) = sign_in_with(&server, json!({"apiKey": ADMIN_KEY}), &[]).await;
    assert_eq!((status, cookie), (StatusCode::NOT_FOUND, None));
}

#[tokio::test]
async fn signing_in_sets_an_http_only_strict_cookie_that_is_secure_behind_tls() {
    let server = TestServer::start().await;
    let session = sign_in(&server, ADMIN_KEY).await;
    let flags: Vec<&str> = session.set_cookie.split("; ").collect();
    assert!(session.cookie.starts_with("modelgate_console=mgc_"), "{}", session.set_cookie);
    assert!(!session.set_cookie.contains(ADMIN_KEY), "the key is never in a cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(flags.contains(&flag), "{flag} in {}", session.set_cookie);
    }
    assert!(!flags.contains(&"Secure"), "plain http on loopback (the quickstart) keeps working");

    let (status, body, set_cookie) =
        sign_in_with(&server, json!({"apiKey": ADMIN_KEY}), &[("x-forwarded-proto", "https")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = set_cookie.unwrap();
    assert!(
        set_cookie.starts_with("__Host-modelgate_console=mgc_") && set_cookie.ends_with("; Secure"),
        "{set_cookie}"
    );
    assert_eq!((body["subject"].as_str(), body["workspace"].as_str()), (Some("admin"), Some("default")));
    assert!(body.get("apiKey").is_none() && !body.to_string().contains(ADMIN_KEY));

    for bad in [json!({"apiKey": "mgk_wrong"}), json!({"clientId": "sa_x", "clientSecret": "mgs_y"})] {
        let (status, body, cookie) = sign_in_with(&server, bad, &[]).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
        assert_eq!(cookie, None);
    }
    let (status, body, _) = sign_in_with(&server, json!({}), &[]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    // The API's answers are about one caller at one moment: no cache keeps them.
    let url = format!("{}/console/api/session", root(&server));
    let response = server.client.get(url).header(COOKIE, &session.cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");

    // A second session cookie (one planted by a page of another port of this host) makes the
    // request refused, never a session swapped.
    let planted = Session {
        cookie: format!("modelgate_console=mgc_planted; {}", session.cookie),
        csrf: session.csrf.clone(),
        set_cookie: String::new(),
    };
    let (status, body) = as_session(&server, &planted, Method::GET, "/v0/models", None, None).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("two console session cookies"), "{body}");
}

#[tokio::test]
async fn a_session_acts_as_its_key_and_writes_need_the_csrf_token() {
    let server = TestServer::start().await;
    let session = sign_in(&server, ADMIN_KEY).await;
    let (status, list) = as_session(&server, &session, Method::GET, "/v0/policies", None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");

    let policy = json!({"metadata": {"name": "p1"}, "spec": {"type": "maxToken", "maxTokens": {"total": 10, "granularity": "minute", "step": 1}}});
    let (status, body) = as_session(&server, &session, Method::POST, "/v0/policies", Some(policy.clone()), None).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("x-csrf-token"));
    let (status, body) = as_session(
        &server,
        &session,
        Method::POST,
        "/v0/policies",
        Some(policy.clone()),
        Some("0".repeat(64).as_str()),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(server.get("/policies/p1").await.0, StatusCode::NOT_FOUND, "nothing was written");
    let (status, body) =
        as_session(&server, &session, Method::POST, "/v0/policies", Some(policy), Some(&session.csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["createdBy"], "admin", "written as the key's principal");

    // A request with an Authorization header is judged by it alone.
    let response = server
        .client
        .get(server.url("/models"))
        .header(COOKIE, &session.cookie)
        .bearer_auth("mgk_not_a_key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_read_only_key_session_cannot_write_and_sees_only_its_workspace() {
    let server = TestServer::start().await;
    server.post("/workspaces", json!({"name": "other"})).await;
    let key = server.add_key("default", &["models:list", "models:get"], None).await;
    let session = sign_in(&server, &key).await;
    assert_eq!(as_session(&server, &session, Method::GET, "/v0/models", None, None).await.0, StatusCode::OK);
    let model = model("m1", "openai", "c1");
    let (status, body) =
        as_session(&server, &session, Method::POST, "/v0/models", Some(model), Some(&session.csrf)).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("models:create"));
    let mut request = server.client.get(server.url("/models")).header(COOKIE, &session.cookie);
    request = request.header("x-blaxel-workspace", "other");
    assert_eq!(request.send().await.unwrap().status(), StatusCode::NOT_FOUND, "another workspace stays out of reach");
}

#[tokio::test]
async fn revoking_the_key_or_deleting_the_service_account_ends_its_sessions() {
    let server = TestServer::start().await;
    let (status, key) = server.post("/users/me/api_keys", json!({"name": "console", "scopes": ["models:list"]})).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let session = sign_in(&server, key["apiKey"].as_str().unwrap()).await;
    assert_eq!(as_session(&server, &session, Method::GET, "/v0/models", None, None).await.0, StatusCode::OK);
    server.delete(&format!("/users/me/api_keys/{}", key["id"].as_str().unwrap())).await;
    let (status, body) = as_session(&server, &session, Method::GET, "/v0/models", None, None).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("no longer holds"));

    let (status, account) = server.post("/service_accounts", json!({"name": "ops", "scopes": ["models:list"]})).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let client_id = account["client_id"].as_str().unwrap();
    let credentials = json!({"clientId": client_id, "clientSecret": account["client_secret"]});
    let (status, body, set_cookie) = sign_in_with(&server, credentials, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["subject"].as_str(), body["subjectType"].as_str()), (Some(client_id), Some("service_account")));
    let cookie = set_cookie.unwrap().split(';').next().unwrap().to_string();
    let session = Session { cookie, csrf: body["csrfToken"].as_str().unwrap().to_string(), set_cookie: String::new() };
    assert_eq!(as_session(&server, &session, Method::GET, "/v0/models", None, None).await.0, StatusCode::OK);
    server.delete(&format!("/service_accounts/{client_id}")).await;
    let (status, body) = as_session(&server, &session, Method::GET, "/v0/models", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    let session = sign_in(&server, ADMIN_KEY).await;
    let (status, body) = as_session(&server, &session, Method::DELETE, "/console/api/session", None, None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let response = server
        .client
        .delete(format!("{}/console/api/session", root(&server)))
        .header(COOKIE, &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"), "the browser drops it");
    for path in ["/v0/models", "/console/api/session"] {
        let (status, body) = as_session(&server, &session, Method::GET, path, None, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn expired_and_idle_sessions_are_refused() {
    let server = TestServer::start().await;
    let store = SqlStore::open(&format!("sqlite://{}", server.db_path().display())).await.unwrap();
    let now = now_micros();
    let hour = 3600 * 1_000_000;
    let cases = [
        ("mgc_live", now - hour / 2, now + hour, StatusCode::OK),
        ("mgc_expired", now - 9 * hour, now - 1, StatusCode::UNAUTHORIZED),
        ("mgc_idle", now - 2 * hour, now + 6 * hour, StatusCode::UNAUTHORIZED),
    ];
    for (token, last_seen_at, expires_at, _) in cases {
        let record = ConsoleSessionRecord {
            token_digest: api_key::digest(token),
            credential_digest: api_key::digest(ADMIN_KEY),
            client_id: None,
            created_at: last_seen_at,
            last_seen_at,
            expires_at,
        };
        store.create_console_session(&record).await.unwrap();
    }
    for (token, _, _, expected) in cases {
        let session =
            Session { cookie: format!("modelgate_console={token}"), csrf: String::new(), set_cookie: String::new() };
        let (status, body) = as_session(&server, &session, Method::GET, "/v0/models", None, None).await;
        assert_eq!(status, expected, "{token}: {body}");
    }
    let touched = store.find_console_session(&api_key::digest("mgc_live")).await.unwrap().unwrap();
    assert!(touched.last_seen_at >= now, "activity keeps a session from idling out");
    assert_eq!(store.find_console_session(&api_key::digest("mgc_expired")).await.unwrap(), None, "ended sessions go");
    store.close().await;
}

/// A chat through the console's playground, with or without the session's CSRF token.
async fn playground(
    server: &TestServer,
    session: &Session,
    chat: &Value,
    model: &str,
    csrf: bool,
) -> (StatusCode, Value) {
    let path = format!("/console/api/playground/{model}");
    let csrf = csrf.then_some(session.csrf.as_str());
    as_session(server, session, Method::POST, &path, Some(chat.clone()), csrf).await
}

#[tokio::test]
async fn the_playground_streams_a_chat_through_the_inference_plane_as_the_session() {
    let server = TestServer::start().await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let connection = json!({"metadata": {"name": "c1"}, "spec": {"integration": "openai", "config": {"url": mock.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    assert_eq!(server.post("/models", model("m1", "openai", "c1")).await.0, StatusCode::OK);
    let session = sign_in(&server, ADMIN_KEY).await;
    let chat = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}});

    let (status, body) = playground(&server, &session, &chat, "m1", false).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = playground(&server, &session, &chat, "m1", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = sse_data(body.as_str().unwrap());
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.starts_with("Hello from the mock"), "{text}");
    assert!(events.iter().any(|e| e["usage"]["total_tokens"].as_i64() > Some(0)), "usage comes last: {events:?}");
    for request in mock.requests() {
        let authorization: Vec<&str> =
            request.headers.iter().filter(|(name, _)| name == "authorization").map(|(_, v)| v.as_str()).collect();
        assert_eq!(authorization, ["Bearer sk-mock-upstream-key"], "only the connection's key goes upstream");
    }

    // The answer's cost, as the page asks for it: its usage at the model's price, the figure
    // the usage record holds.
    let usage = events.iter().find(|e| e["usage"].is_object()).unwrap()["usage"].clone();
    let cost_path = "/console/api/playground/m1/cost";
    let csrf = Some(session.csrf.as_str());
    let (status, body) = as_session(&server, &session, Method::POST, cost_path, Some(usage.clone()), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = as_session(&server, &session, Method::POST, cost_path, Some(usage.clone()), csrf).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cost = body["costUsd"].as_f64().expect("gpt-4o-mini has a price");
    assert!(cost > 0.0, "{body}");
    let mut recorded = None;
    for _ in 0..200 {
        let (_, report) = server.get("/models/m1/usage").await;
        if report["totals"]["requests"] == 1 {
            recorded = report["totals"]["costUsd"].as_f64();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let recorded = recorded.expect("the call is recorded, with its cost");
    assert!((cost - recorded).abs() < 1e-9, "the page shows {cost}, the usage record holds {recorded}");
    let path = "/console/api/playground/nope/cost";
    let (status, body) = as_session(&server, &session, Method::POST, path, Some(usage.clone()), csrf).await;
    assert_eq!((status, &body["costUsd"]), (StatusCode::OK, &Value::Null), "no such model, no price: {body}");
    let (status, body) =
        as_session(&server, &session, Method::POST, cost_path, Some(json!({"prompt_tokens": "many"})), csrf).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    let (status, body) = playground(&server, &session, &chat, "nope", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the inference plane's answer is relayed: {body}");
    let invoke_less = server.add_key("default", &["models:list"], None).await;
    let session = sign_in(&server, &invoke_less).await;
    let (status, body) = playground(&server, &session, &chat, "m1", true).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("models:invoke"));
}

#[tokio::test]
async fn playground_calls_count_as_the_sessions_key_and_never_follow_a_providers_redirect() {
    let server = TestServer::start().await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let connection = json!({"metadata": {"name": "c1"}, "spec": {"integration": "openai", "config": {"url": mock.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    assert_eq!(server.post("/models", model("m1", "openai", "c1")).await.0, StatusCode::OK);
    let key = server.add_key("default", &["models:invoke", "models:list"], None).await;
    let session = sign_in(&server, &key).await;
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = playground(&server, &session, &chat, "m1", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut groups = Value::Null;
    for _ in 0..100 {
        groups = server.get("/usage?groupBy=key").await.1["groups"].clone();
        if groups.as_array().is_some_and(|g| !g.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let key_id = groups[0]["key"].as_str().unwrap_or_default();
    assert!(key_id.starts_with("ak_"), "the call counts as the session's key, as a direct call would: {groups}");

    // A provider that redirects: the relay hands the redirect on and fetches nothing itself.
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = fetched.clone();
    let internal = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "internal only" }
    });
    let internal_url = serve(internal).await;
    let redirecting = axum::Router::new().fallback(move || {
        let to = format!("{internal_url}/secret");
        async move { (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]) }
    });
    let connection = json!({"metadata": {"name": "c2"}, "spec": {"integration": "openai", "config": {"url": serve(redirecting).await}, "secret": {"apiKey": "sk-x"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    assert_eq!(server.post("/models", model("m2", "openai", "c2")).await.0, StatusCode::OK);
    let session = sign_in(&server, ADMIN_KEY).await;
    let (status, body) = playground(&server, &session, &chat, "m2", true).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    assert_eq!(fetched.load(Ordering::SeqCst), 0, "the control plane never fetched the redirect's target");
}
