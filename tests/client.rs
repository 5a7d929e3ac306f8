//! The `modelgate` command line as an operator uses it against a real node: `get` tables and
//! manifests, `delete`, a wrong key's error, `login` and contexts in a private config file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::Node;

const KEY: &str = "mgk_operator_chosen_key_for_scripts_0001";

/// What one run of the command line printed, and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `modelgate ARGS` with no `MODELGATE_*` variable of the test's own and its config
/// directory in `config_home`.
fn modelgate<S: AsRef<std::ffi::OsStr>>(config_home: &Path, args: &[S]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("MODELGATE_")) {
        command.env_remove(name);
    }
    let output = command.args(args).env("XDG_CONFIG_HOME", config_home).env("HOME", config_home).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn node_with_a_model() -> Node {
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let connection = json!({"metadata": {"name": "my-openai"}, "spec": {"integration": "openai", "secret": {"apiKey": "sk-secret-value"}}});
    let (status, body) =
        support::call(KEY, reqwest::Method::POST, &format!("{}/integrations/connections", node.api), Some(connection))
            .await;
    assert_eq!(status, 200, "{body}");
    let model = json!({"metadata": {"name": "my-gpt", "displayName": "My GPT"},
        "spec": {"integrationConnections": ["my-openai"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    let (status, body) = support::call(KEY, reqwest::Method::POST, &format!("{}/models", node.api), Some(model)).await;
    assert_eq!(status, 200, "{body}");
    node
}

#[tokio::test]
async fn get_shows_a_table_and_manifests_and_delete_removes() {
    let node = node_with_a_model().await;
    let home = tempfile::tempdir().unwrap();
    // The URL without `/v0`, as an operator types it.
    let connect = ["--url", node.admin(), "--key", KEY];

    let run = modelgate(home.path(), &[&["get", "models"][..], &connect].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Vec<&str>> = run.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "RUNTIME", "MODEL", "STATUS"]);
    assert_eq!(lines[1][..3], ["my-gpt", "openai", "gpt-4o-mini"]);
    assert_eq!(lines.len(), 2);

    let run = modelgate(home.path(), &[&["get", "ml", "my-gpt", "-o", "yaml"][..], &connect].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest: Value = serde_yaml_ng::from_str(&run.stdout).unwrap();
    assert_eq!(
        manifest,
        json!({"apiVersion": "blaxel.ai/v1alpha1", "kind": "Model",
            "metadata": {"name": "my-gpt", "displayName": "My GPT"},
            "spec": {"enabled": true, "integrationConnections": ["my-openai"],
                "runtime": {"type": "openai", "model": "gpt-4o-mini"}}})
    );

    // A connection's secret is printed in no format.
    for format in ["table", "yaml", "json"] {
        let run = modelgate(home.path(), &[&["get", "ic", "-o", format][..], &connect].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("my-openai"), "{}", run.stdout);
        assert!(!run.stdout.contains("sk-secret-value") && !run.stdout.contains("secret"), "{}", run.stdout);
    }
    let run = modelgate(home.path(), &[&["get", "connections", "-o", "yaml"][..], &connect].concat());
    let manifest: Value = serde_yaml_ng::from_str(&run.stdout).unwrap();
    assert_eq!(manifest["kind"], "IntegrationConnection");
    assert_eq!(manifest["spec"], json!({"integration": "openai"}));

    // Another workspace, by flag: it has no model.
    let (status, body) =
        support::call(KEY, reqwest::Method::POST, &format!("{}/workspaces", node.api), Some(json!({"name": "team"})))
            .await;
    assert_eq!(status, 200, "{body}");
    let run = modelgate(home.path(), &[&["get", "models", "--workspace", "team"][..], &connect].concat());
    assert_eq!((run.code, run.stdout.lines().count()), (0, 1), "{}{}", run.stdout, run.stderr);

    let run = modelgate(home.path(), &[&["delete", "model", "my-gpt"][..], &connect].concat());
    assert_eq!((run.code, run.stdout.trim()), (0, "model/my-gpt deleted"), "{}", run.stderr);
    let run = modelgate(home.path(), &[&["get", "models"][..], &connect].concat());
    assert_eq!(run.stdout.lines().count(), 1, "only the header is left: {}", run.stdout);
    let run = modelgate(home.path(), &[&["get", "model", "my-gpt"][..], &connect].concat());
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("'my-gpt' does not exist"), "{}", run.stderr);
    node.stop().await;
}

#[tokio::test]
async fn service_accounts_are_found_by_name_and_their_secret_never_printed() {
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let account = json!({"name": "billing", "scopes": ["models:list"]});
    let (status, created) =
        support::call(KEY, reqwest::Method::POST, &format!("{}/service_accounts", node.api), Some(account)).await;
    assert_eq!(status, 200, "{created}");
    let secret = created["client_secret"].as_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let connect = ["--url", &node.api, "--key", KEY];
    for format in ["table", "yaml", "json"] {
        let run = modelgate(home.path(), &[&["get", "sa", "billing", "-o", format][..], &connect].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("billing") && !run.stdout.contains(secret), "{}", run.stdout);
    }
    let run = modelgate(home.path(), &[&["delete", "serviceaccount", "billing"][..], &connect].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, accounts) = support::call(KEY, reqwest::Method::GET, &format!("{}/service_accounts", node.api), None).await;
    assert_eq!(accounts, json!([]));
    // A name that is not one path segment reaches no other route.
    let run = modelgate(home.path(), &[&["get", "model", "../workspaces"][..], &connect].concat());
    assert_eq!(run.code, 1, "{}", run.stdout);
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_key_fails_with_the_apis_message() {
    let node = node_with_a_model().await;
    let home = tempfile::tempdir().unwrap();
    let run = modelgate(home.path(), &["get", "models", "--url", &node.api, "--key", "mgk_wrong"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.starts_with("error: ") && run.stderr.contains("API key"), "{}", run.stderr);
    let run = modelgate(home.path(), &["get", "agents", "--url", &node.api, "--key", KEY]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unknown kind 'agents'"), "{}", run.stderr);
    node.stop().await;
}

#[tokio::test]
async fn login_saves_a_private_context_that_later_commands_use() {
    let node = node_with_a_model().await;
    let home = tempfile::tempdir().unwrap();
    let run = modelgate(home.path(), &["login", "--url", &node.api, "--key", KEY, "--context", "local"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key is never printed");
    let file = home.path().join("modelgate/config.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let run = modelgate(home.path(), &["get", "models"]);
    assert_eq!(run.code, 0, "the current context is used: {}", run.stderr);
    assert!(run.stdout.contains("my-gpt"));
    let run = modelgate(home.path(), &["context", "list"]);
    assert!(run.stdout.starts_with("* local"), "{}", run.stdout);
    assert!(!run.stdout.contains(KEY), "{}", run.stdout);

    // A flag overrides the context; a wrong key is refused at login and not saved.
    let run = modelgate(home.path(), &["get", "models", "--key", "mgk_wrong"]);
    assert_eq!(run.code, 1);
    let run = modelgate(home.path(), &["login", "--url", &node.api, "--key", "mgk_wrong", "--context", "bad"]);
    assert_eq!(run.code, 1);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("bad"));
    let run = modelgate(home.path(), &["context", "use", "bad"]);
    assert_eq!(run.code, 1);
    node.stop().await;
}

#[test]
fn completions_are_printed_for_each_shell() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let run = modelgate(home.path(), &["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("login") && run.stdout.contains("get"), "{shell}");
    }
}

#[tokio::test]
async fn keys_are_created_once_listed_and_revoked_and_usage_is_a_table() {
    let mock =
        modelgate_mock_provider::MockProvider::start(modelgate_mock_provider::MockConfig::default()).await.unwrap();
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let connection = json!({"metadata": {"name": "mock"}, "spec": {"integration": "openai",
        "config": {"url": mock.base_url()}, "secret": {"apiKey": modelgate_mock_provider::DEFAULT_API_KEY}}});
    let api = |path: &str| format!("{}{path}", node.api);
    assert_eq!(
        support::call(KEY, reqwest::Method::POST, &api("/integrations/connections"), Some(connection)).await.0,
        200
    );
    let model = json!({"metadata": {"name": "my-gpt"},
        "spec": {"integrationConnections": ["mock"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    assert_eq!(support::call(KEY, reqwest::Method::POST, &api("/models"), Some(model)).await.0, 200);
    let (status, _) =
        support::call(KEY, reqwest::Method::POST, &api("/service_accounts"), Some(json!({"name": "app"}))).await;
    assert_eq!(status, 200);
    let home = tempfile::tempdir().unwrap();
    let admin = node.admin().to_string();
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().copied().chain(["--url", admin.as_str(), "--key", KEY]).map(str::to_string).collect()
    };

    // A service account's key, named by the account's name: printed once, alone on stdout.
    let run = modelgate(
        home.path(),
        &with(&[
            "keys",
            "create",
            "--service-account",
            "app",
            "--name",
            "ci",
            "--scopes",
            "models:invoke",
            "--expires",
            "30d",
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = run.stdout.trim().to_string();
    assert!(key.starts_with("mgk_") && !key.contains(char::is_whitespace), "{}", run.stdout);
    assert!(run.stderr.contains("shown only now"), "{}", run.stderr);
    let run = modelgate(home.path(), &with(&["keys", "list", "--service-account", "app"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("ci") && !run.stdout.contains(&key), "listed, never the key: {}", run.stdout);
    let id = run.stdout.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(id.starts_with("ak_"), "{}", run.stdout);

    // The key works; its usage shows per key and per model.
    assert_eq!(support::chat(node.run(), &key, "my-gpt").await.0, 200);
    let mut table = String::new();
    for _ in 0..50 {
        let run = modelgate(home.path(), &with(&["usage", "--by", "key", "--since", "1h"]));
        assert_eq!(run.code, 0, "{}", run.stderr);
        if run.stdout.contains(&id) {
            table = run.stdout;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["KEY", "SUBJECT", "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "TOTAL"], "{table}");
    let row: Vec<&str> = table.lines().find(|l| l.starts_with(&id)).unwrap().split_whitespace().collect();
    assert_eq!(row[2..4], ["1", "0"], "one request, no error: {table}");
    let run = modelgate(home.path(), &with(&["usage", "--by", "model"]));
    assert!(run.stdout.lines().any(|l| l.starts_with("my-gpt ")), "{}", run.stdout);
    let run = modelgate(home.path(), &with(&["usage", "--since", "1h", "--for-key", &id]));
    assert!(run.stdout.starts_with("REQUESTS"), "totals: {}", run.stdout);
    assert_eq!(run.stdout.lines().nth(1).unwrap().split_whitespace().next(), Some("1"), "{}", run.stdout);
    let run = modelgate(home.path(), &with(&["usage", "--since", "yesterday"]));
    assert_eq!(run.code, 1, "{}", run.stdout);

    // Revoked: the key stops working.
    let run = modelgate(home.path(), &with(&["keys", "revoke", &id, "--service-account", "app"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let revoked = support::poll_until(std::time::Instant::now() + std::time::Duration::from_secs(5), 401, || {
        support::chat(node.run(), &key, "my-gpt")
    })
    .await;
    assert_eq!(revoked.0, 401);
    node.stop().await;
}

#[tokio::test]
async fn export_writes_the_workspace_as_manifests_in_dependency_order_with_secret_placeholders() {
    let node = node_with_a_model().await;
    let home = tempfile::tempdir().unwrap();
    let run = modelgate(home.path(), &["export", "--url", node.admin(), "--key", KEY]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("sk-secret-value") && !run.stdout.contains(KEY), "{}", run.stdout);
    let documents: Vec<Value> =
        run.stdout.split("\n---\n").map(|document| serde_yaml_ng::from_str(document).unwrap()).collect();
    let kinds: Vec<&str> = documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["IntegrationConnection", "Model"], "connections before the models naming them");
    assert_eq!(documents[0]["apiVersion"], "blaxel.ai/v1alpha1");
    assert_eq!(documents[0]["spec"]["secret"]["apiKey"], "${secrets.MY_OPENAI_APIKEY}");
    assert_eq!(documents[1]["metadata"]["name"], "my-gpt");
    assert!(documents[1].get("status").is_none());
    node.stop().await;
}
