//! Identity and tenancy over real HTTP: workspaces, service accounts, scoped API keys,
//! OAuth2 client credentials, isolation, the scope matrix and master-key rotation.

use crate::common::*;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create_workspace(server: &TestServer, name: &str) {
    let (status, body) = server.post("/workspaces", json!({"name": name, "displayName": name.to_uppercase()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn workspace_lifecycle() {
    let server = TestServer::start().await;
    let (status, created) = server.post("/workspaces", json!({"name": "team-a", "displayName": "Team A", "labels": {"cost": "42"}, "status": "error", "id": "forged"})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "ready");
    assert_eq!(created["createdBy"], "admin");
    assert!(created["id"].as_str().unwrap().starts_with("ws_"));
    let (status, body) = server.post("/workspaces", json!({"name": "team-a"})).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = server.post("/workspaces", json!({"name": "Team_A"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    let (_, listed) = server.get("/workspaces").await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "team-a"]);

    let (status, updated) = server.put("/workspaces/team-a", json!({"name": "team-a", "displayName": "A team"})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["displayName"], "A team");
    assert_eq!(updated["id"], created["id"], "the id is fixed at creation");

    // Resources of team-a, reached by naming the workspace.
    let ws = [("X-Blaxel-Workspace", "team-a")];
    let conn = connection("c", "openai", "sk-in-team-a");
    assert_eq!(
        server.call_as(ADMIN_KEY, Method::POST, "/integrations/connections", Some(conn), &ws).await.0,
        StatusCode::OK
    );
    let (status, _) = server.call_as(ADMIN_KEY, Method::POST, "/models", Some(model("m", "openai", "c")), &ws).await;
    assert_eq!(status, StatusCode::OK);
    service_account_key(&server, "team-a", None).await;

    let (_, counted) = server.get("/workspaces/team-a?countResources=true").await;
    assert_eq!(counted["resourceCounts"]["models"], 1);
    assert_eq!(counted["resourceCounts"]["integrationconnections"], 1);
    assert_eq!(counted["resourceCounts"]["serviceaccounts"], 1);

    let (status, body) = server.delete("/workspaces/team-a").await;
    let message = assert_error(status, &body, StatusCode::CONFLICT);
    assert!(message.contains("force"), "{message}");
    let (status, _) = server.delete("/workspaces/team-a?force=true").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get("/workspaces/team-a").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // Everything went, secrets included.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.db_path().display())).await.unwrap();
    for table in ["resources", "service_accounts", "api_keys", "revisions", "resource_refs", "workspace_admins"] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE workspace = 'team-a'"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 0, "{table}");
    }

    // The admin's home workspace holds the admin's key: never deletable, even with force.
    let (status, body) = server.delete("/workspaces/default?force=true").await;
    assert_error(status, &body, StatusCode::CONFLICT);
}

#[tokio::test]
async fn service_accounts_and_their_keys() {
    let server = TestServer::start().await;
    let (status, account) = server.post("/service_accounts", json!({"name": "ci", "description": "pipelines"})).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let client_id = account["client_id"].as_str().unwrap().to_string();
    let secret = account["client_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mgs_"));
    let (_, listed) = server.get("/service_accounts").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "the secret is shown only at creation");

    let (status, updated) =
        server.put(&format!("/service_accounts/{client_id}"), json!({"description": "CI pipelines"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["description"], "CI pipelines");
    assert_eq!(updated["name"], "ci");

    let keys = format!("/service_accounts/{client_id}/api_keys");
    let (status, key) = server
        .post(&keys, json!({"name": "deploy", "expires_in": "30d", "scopes": ["models:list", "models:create"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let api_key = key["apiKey"].as_str().unwrap().to_string();
    assert!(api_key.starts_with("mgk_"));
    assert_eq!(key["sub"], client_id.as_str());
    assert_eq!(key["sub_type"], "service_account");
    assert_eq!(key["expires_in"], "30d");
    assert!(key["expiresAt"].is_string());
    let (_, listed) = server.get(&keys).await;
    assert_eq!(listed[0]["scopes"], json!(["models:list", "models:create"]));
    assert!(listed[0]["apiKey"].is_null(), "listing never shows the key");
    assert!(!listed.to_string().contains(&api_key));

    // The key works within its scopes, and owner fields name the service account.
    server.create_connection("c", "openai", "k").await;
    let (status, created) =
        server.call_as(&api_key, Method::POST, "/models", Some(model("m", "openai", "c")), &[]).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["metadata"]["createdBy"], client_id.as_str());
    let (status, body) = server.call_as(&api_key, Method::DELETE, "/models/m", None, &[]).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("models:delete"));

    for bad in [
        json!({"expires_in": "10x"}),
        json!({"expires_in": "0d"}),
        json!({"scopes": ["models:fly"]}),
        json!({"scopes": []}),
    ] {
        let (status, body) = server.post(&keys, bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }

    // Revocation takes effect at once.
    let id = key["id"].as_str().unwrap();
    let (status, _) = server.delete(&format!("{keys}/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call_as(&api_key, Method::GET, "/models", None, &[]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = server.delete(&format!("{keys}/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // Expiry takes effect at once.
    let (_, short) = server.post(&keys, json!({"expires_in": "1s"})).await;
    let short_key = short["apiKey"].as_str().unwrap();
    assert_eq!(server.call_as(short_key, Method::GET, "/models", None, &[]).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = server.call_as(short_key, Method::GET, "/models", None, &[]).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("expired"));

    // Deleting the account revokes its keys.
    let (_, last) = server.post(&keys, json!({})).await;
    let last_key = last["apiKey"].as_str().unwrap().to_string();
    assert_eq!(last["scopes"], json!(["admin"]), "without scopes a key gets the account's");
    assert_eq!(server.delete(&format!("/service_accounts/{client_id}")).await.0, StatusCode::OK);
    assert_eq!(server.call_as(&last_key, Method::GET, "/models", None, &[]).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = server.get(&keys).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_never_carry_more_than_their_issuer() {
    let server = TestServer::start().await;
    let (client_id, writer) =
        service_account_key(&server, "default", Some(&["apiKey:write", "workspaces:update", "models:list"])).await;
    let keys = format!("/service_accounts/{client_id}/api_keys");
    let (status, body) = server.call_as(&writer, Method::POST, &keys, Some(json!({"scopes": ["admin"]})), &[]).await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("admin"));
    let (status, body) = server.call_as(&writer, Method::POST, &keys, Some(json!({})), &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, key) =
        server.call_as(&writer, Method::POST, &keys, Some(json!({"scopes": ["models:list"]})), &[]).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let (status, body) =
        server.call_as(&writer, Method::POST, "/service_accounts", Some(json!({"name": "x"})), &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server.call_as(&writer, Method::POST, "/workspaces", Some(json!({"name": "mine"})), &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // The admin's own keys: admin-only, for the CLI.
    let (status, own) = server.post("/users/me/api_keys", json!({"name": "laptop", "expires_in": "1w"})).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["sub"], "admin");
    let own_key = own["apiKey"].as_str().unwrap();
    assert_eq!(server.call_as(own_key, Method::GET, "/workspaces", None, &[]).await.0, StatusCode::OK);
    let (_, listed) = server.get("/users/me/api_keys").await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "bootstrap key and the new one");
    let (status, body) = server.call_as(&writer, Method::GET, "/users/me/api_keys", None, &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, _) = server.delete(&format!("/users/me/api_keys/{}", own["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.call_as(own_key, Method::GET, "/workspaces", None, &[]).await.0, StatusCode::UNAUTHORIZED);
}

async fn token_request(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn client_credentials_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    // Expiry is counted in whole seconds from the second of issue: a 3 s token lives 2 to 3 s,
    // enough for the calls below on a busy machine.
    args.access_token_ttl = 3;
    let server = TestServer::start_with(dir, args).await;
    let (status, account) = server.post("/service_accounts", json!({"name": "bot", "scopes": ["models:list"]})).await;
    assert_eq!(status, StatusCode::OK);
    let client_id = account["client_id"].as_str().unwrap();
    let secret = account["client_secret"].as_str().unwrap();
    let url = server.url("/oauth/token");

    let basic =
        server.client.post(&url).basic_auth(client_id, Some(secret)).json(&json!({"grant_type": "client_credentials"}));
    let (status, token) = token_request(basic).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3);
    let access = token["access_token"].as_str().unwrap().to_string();

    let in_body = server
        .client
        .post(&url)
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}));
    let (status, _) = token_request(in_body).await;
    assert_eq!(status, StatusCode::OK);
    let form = server
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}"));
    assert_eq!(token_request(form).await.0, StatusCode::OK);

    // The token acts as the service account, within its scopes, in its workspace only.
    let (status, _) = server.call_as(&access, Method::GET, "/models", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let via_blaxel_header =
        server.client.get(server.url("/models")).header("X-Blaxel-Authorization", format!("Bearer {access}"));
    assert_eq!(via_blaxel_header.send().await.unwrap().status(), StatusCode::OK);
    let (status, body) = server.call_as(&access, Method::POST, "/policies", Some(json!({})), &[]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // A tampered token is refused.
    let (head, signature) = access.rsplit_once('.').unwrap();
    let flipped = match signature.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &signature[1..]),
    };
    let (status, body) = server.call_as(&format!("{head}.{flipped}"), Method::GET, "/models", None, &[]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (header, rest) = head.split_once('.').unwrap();
    let mut claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rest).unwrap()).unwrap();
    claims["scopes"] = json!(["admin"]);
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let (status, _) =
        server.call_as(&format!("{header}.{forged}.{signature}"), Method::GET, "/models", None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Errors speak OAuth2.
    let wrong = server
        .client
        .post(&url)
        .basic_auth(client_id, Some("mgs_wrong"))
        .json(&json!({"grant_type": "client_credentials"}));
    let response = wrong.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "RFC 6749 5.2: Basic credentials refused with 401");
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"modelgate\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string() && body["message"].is_string());
    let unknown = server
        .client
        .post(&url)
        .json(&json!({"grant_type": "client_credentials", "client_id": "sa_nobody", "client_secret": secret}));
    let (status, body) = token_request(unknown).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_client")), "sent in the body");
    let grant = server.client.post(&url).basic_auth(client_id, Some(secret)).json(&json!({"grant_type": "password"}));
    assert_eq!(token_request(grant).await.1["error"], "unsupported_grant_type");
    let none = server.client.post(&url).json(&json!({"grant_type": "client_credentials"}));
    assert_eq!(token_request(none).await.1["error"], "invalid_client");

    // And it expires.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let (status, body) = server.call_as(&access, Method::GET, "/models", None, &[]).await;
    assert!(assert_error(status, &body, StatusCode::UNAUTHORIZED).contains("expired"));
}

#[tokio::test]
async fn workspaces_are_isolated_without_leaking_existence() {
    let server = TestServer::start().await;
    create_workspace(&server, "ws-a").await;
    create_workspace(&server, "ws-b").await;
    let (_, key_a) = service_account_key(&server, "ws-a", None).await;
    let (client_b, key_b) = service_account_key(&server, "ws-b", None).await;
    // B's resources.
    let as_b = |method: Method, path: &str, body: Option<Value>| {
        let (server, key_b) = (&server, key_b.clone());
        let path = path.to_string();
        async move { server.call_as(&key_b, method, &path, body, &[]).await }
    };
    assert_eq!(
        as_b(Method::POST, "/integrations/connections", Some(connection("conn-b", "openai", "sk-b"))).await.0,
        StatusCode::OK
    );
    let policy = json!({"metadata": {"name": "pol-b"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "day", "total": 5}}});
    assert_eq!(as_b(Method::POST, "/policies", Some(policy)).await.0, StatusCode::OK);
    let mut m = model("model-b", "openai", "conn-b");
    m["spec"]["policies"] = json!(["pol-b"]);
    assert_eq!(as_b(Method::POST, "/models", Some(m)).await.0, StatusCode::OK);
    let (_, b_keys) = as_b(Method::GET, &format!("/service_accounts/{client_b}/api_keys"), None).await;
    let b_key_id = b_keys[0]["id"].as_str().unwrap().to_string();

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/models/model-b".into(), None),
        (Method::PUT, "/models/model-b".into(), Some(model("model-b", "openai", "conn-b"))),
        (Method::DELETE, "/models/model-b".into(), None),
        (Method::GET, "/models/model-b/revisions".into(), None),
        (Method::GET, "/integrations/connections/conn-b".into(), None),
        (Method::PUT, "/integrations/connections/conn-b".into(), Some(connection("conn-b", "openai", "x"))),
        (Method::DELETE, "/integrations/connections/conn-b".into(), None),
        (Method::GET, "/policies/pol-b".into(), None),
        (
            Method::PUT,
            "/policies/pol-b".into(),
            Some(
                json!({"metadata": {"name": "pol-b"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "day", "total": 9}}}),
            ),
        ),
        (Method::DELETE, "/policies/pol-b".into(), None),
        (Method::GET, "/policies/pol-b/usages".into(), None),
        (Method::PUT, format!("/service_accounts/{client_b}"), Some(json!({"name": "stolen"}))),
        (Method::DELETE, format!("/service_accounts/{client_b}"), None),
        (Method::GET, format!("/service_accounts/{client_b}/api_keys"), None),
        (Method::POST, format!("/service_accounts/{client_b}/api_keys"), Some(json!({}))),
        (Method::DELETE, format!("/service_accounts/{client_b}/api_keys/{b_key_id}"), None),
        (Method::GET, "/workspaces/ws-b".into(), None),
        (Method::PUT, "/workspaces/ws-b".into(), Some(json!({"name": "ws-b"}))),
        (Method::DELETE, "/workspaces/ws-b?force=true".into(), None),
    ];
    for (method, path, body) in routes {
        let (status, response) = server.call_as(&key_a, method.clone(), &path, body, &[]).await;
        assert_error(status, &response, StatusCode::NOT_FOUND);
        assert!(!response.to_string().contains("sk-b"), "{method} {path}: {response}");
    }
    for header in [("X-Blaxel-Workspace", "ws-b"), ("X-Blaxel-Workspace", "no-such-ws")] {
        let (status, body) = server.call_as(&key_a, Method::GET, "/models", None, &[header]).await;
        let message = assert_error(status, &body, StatusCode::NOT_FOUND);
        assert!(message.contains("does not exist or this credential cannot act in it"));
    }
    // The same names are free in A: no 409 that would reveal B's.
    assert_eq!(
        server
            .call_as(&key_a, Method::POST, "/integrations/connections", Some(connection("conn-b", "openai", "a")), &[])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server.call_as(&key_a, Method::POST, "/models", Some(model("model-b", "openai", "conn-b")), &[]).await.0,
        StatusCode::OK
    );
    let (_, listed) = server.call_as(&key_a, Method::GET, "/workspaces", None, &[]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "ws-a");
    // B is untouched.
    let (status, kept) = as_b(Method::GET, "/models/model-b", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["spec"]["policies"], json!(["pol-b"]));
}

#[tokio::test]
async fn every_route_requires_its_scope() {
    let server = TestServer::start().await;
    server.create_connection("c", "openai", "k").await;
    server.create_model("m", "c").await;
    let policy = json!({"metadata": {"name": "p"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "day", "total": 5}}});
    assert_eq!(server.post("/policies", policy.clone()).await.0, StatusCode::OK);
    let (client_id, _) = service_account_key(&server, "default", None).await;
    let sa = format!("/service_accounts/{client_id}");
    let table: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/models".into(), None, "models:list"),
        (Method::POST, "/models".into(), Some(model("n", "openai", "c")), "models:create"),
        (Method::GET, "/models/m".into(), None, "models:get"),
        (Method::PUT, "/models/m".into(), Some(model("m", "openai", "c")), "models:update"),
        (Method::GET, "/models/m/revisions".into(), None, "models:list"),
        (Method::GET, "/integrations/connections".into(), None, "integrations:list"),
        (Method::POST, "/integrations/connections".into(), Some(connection("d", "openai", "k")), "integrations:create"),
        (Method::GET, "/integrations/connections/c".into(), None, "integrations:get"),
        (
            Method::PUT,
            "/integrations/connections/c".into(),
            Some(connection("c", "openai", "k2")),
            "integrations:update",
        ),
        (Method::GET, "/integrations/openai".into(), None, "integrations:list"),
        (Method::GET, "/policies".into(), None, "policies:list"),
        (
            Method::POST,
            "/policies".into(),
            Some(json!({"metadata": {"name": "q"}, "spec": policy["spec"].clone()})),
            "policies:create",
        ),
        (Method::GET, "/policies/p".into(), None, "policies:get"),
        (Method::PUT, "/policies/p".into(), Some(policy.clone()), "policies:update"),
        (Method::GET, "/policies/p/usages".into(), None, "policies:get"),
        (Method::GET, "/workspaces".into(), None, "workspaces:list"),
        (Method::GET, "/workspaces/default".into(), None, "workspaces:get"),
        (Method::PUT, "/workspaces/default".into(), Some(json!({"name": "default"})), "workspaces:update"),
        (Method::GET, "/service_accounts".into(), None, "workspaces:get"),
        (Method::PUT, sa.clone(), Some(json!({"description": "d"})), "workspaces:update"),
        (Method::GET, format!("{sa}/api_keys"), None, "apiKey:list"),
        (Method::POST, format!("{sa}/api_keys"), Some(json!({"scopes": ["apiKey:write"]})), "apiKey:write"),
        (Method::DELETE, "/models/m".into(), None, "models:delete"),
        (Method::DELETE, "/policies/q".into(), None, "policies:delete"),
        (Method::DELETE, "/integrations/connections/d".into(), None, "integrations:delete"),
    ];
    for (method, path, body, scope) in table {
        let others: Vec<&str> =
            ["models:get", "policies:list", "integrations:get", "workspaces:get", "apiKey:list", "models:list"]
                .into_iter()
                .filter(|s| *s != scope)
                .collect();
        let (_, without) = service_account_key(&server, "default", Some(&others)).await;
        let (status, response) = server.call_as(&without, method.clone(), &path, body.clone(), &[]).await;
        let message = assert_error(status, &response, StatusCode::FORBIDDEN);
        assert!(message.contains(scope), "{method} {path}: {message}");
        let (_, with) = service_account_key(&server, "default", Some(&[scope])).await;
        let (status, response) = server.call_as(&with, method.clone(), &path, body, &[]).await;
        assert!(status.is_success(), "{method} {path} with {scope}: {status} {response}");
    }
    // Creating and deleting workspaces needs their scope too (and a user's key).
    let (status, body) = server
        .call_as(
            &service_account_key(&server, "default", Some(&["models:list"])).await.1,
            Method::POST,
            "/workspaces",
            Some(json!({"name": "z"})),
            &[],
        )
        .await;
    assert!(assert_error(status, &body, StatusCode::FORBIDDEN).contains("workspaces:create"));
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_but_never_a_valid_key() {
    let server = TestServer::start().await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let request = server.client.get(server.url("/models")).bearer_auth("mgk_guess");
        attempts.spawn(async move { request.send().await.unwrap().status() });
    }
    while attempts.join_next().await.is_some() {}
    let response = server.client.get(server.url("/models")).bearer_auth("mgk_guess").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 429);
    // The same address, behind the same NAT as the guesser: a valid credential still gets in.
    let response = server.client.get(server.url("/models")).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a valid key is never throttled");
    let response = server.client.get(server.url("/models")).bearer_auth("mgk_guess").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "a success does not forgive the guesses");
}

#[tokio::test]
async fn master_key_rotation_keeps_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let old_key = "11".repeat(32);
    let new_key = "22".repeat(32);
    let mut args = args_for(dir.path());
    args.master_key = Some(old_key.clone());
    let mut server = TestServer::start_with(dir, args.clone()).await;
    for name in ["one", "two", "three"] {
        server.create_connection(name, "openai", &format!("sk-{name}")).await;
    }
    server.create_model("m", "one").await;
    server.stop().await;

    // Step 1: nodes learn the new key, keeping the old one for opening.
    args.master_key = Some(new_key.clone());
    args.previous_master_keys = vec![old_key.clone()];
    let report = modelgate_server::rotate_master_key(&args).await.unwrap();
    assert_eq!((report.resealed, report.already_current), (3, 0));
    let again = modelgate_server::rotate_master_key(&args).await.unwrap();
    assert_eq!((again.resealed, again.already_current), (0, 3), "rotation is idempotent");

    // Step 3: the old key is gone; every secret still opens.
    args.previous_master_keys = Vec::new();
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let server = TestServer::start_with(dir, args.clone()).await;
    let (status, redeployed) = server.put("/models/m", model("m", "openai", "one")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(redeployed["status"], "DEPLOYED", "{redeployed}");
    for name in ["one", "two", "three"] {
        let keep =
            json!({"metadata": {"name": name}, "spec": {"integration": "openai", "secret": {"apiKey": "********"}}});
        let (status, body) = server.put(&format!("/integrations/connections/{name}"), keep).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
    // A rotation that cannot open a secret stops with the reason.
    args.master_key = Some("33".repeat(32));
    let error = modelgate_server::rotate_master_key(&args).await.unwrap_err();
    assert!(format!("{error:#}").contains("MODELGATE_PREVIOUS_MASTER_KEYS"), "{error:#}");
}

/// A key lifetime is the client's text: one whose unit is not a single byte (`1é`) is a 400
/// naming the field, on both key routes, and the worker that read it keeps serving.
#[tokio::test]
async fn a_lifetime_with_a_multi_byte_unit_is_a_400_naming_expires_in() {
    let server = TestServer::start().await;
    let (status, account) = server.post("/service_accounts", json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let account_keys = format!("/service_accounts/{}/api_keys", account["client_id"].as_str().unwrap());
    for path in ["/users/me/api_keys", account_keys.as_str()] {
        for lifetime in ["1é", "é", "30日"] {
            let (status, body) = server.post(path, json!({"name": "x", "expires_in": lifetime})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {lifetime}: {body}");
            assert!(body["message"].as_str().unwrap().contains("expires_in"), "{body}");
        }
    }
    let (status, _) = server.post("/users/me/api_keys", json!({"name": "x", "expires_in": "1d"})).await;
    assert_eq!(status, StatusCode::OK);
}
