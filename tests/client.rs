//! The `modelgate` command line as an operator uses it against a real node: `get` tables and
//! manifests, `delete`, a wrong key's error, `login` (a key or client credentials) and contexts
//! in a private config file, `apply -f` and `delete -f` with Blaxel manifests, `export`.
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
    modelgate_with_stdin(config_home, args, "")
}

/// [`modelgate`] with `stdin` as its standard input.
fn modelgate_with_stdin<S: AsRef<std::ffi::OsStr>>(config_home: &Path, args: &[S], stdin: &str) -> Run {
    use std::io::Write;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("MODELGATE_")) {
        command.env_remove(name);
    }
    command.args(args).env("XDG_CONFIG_HOME", config_home).env("HOME", config_home);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
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
    assert_eq!(
        header,
        ["KEY", "SUBJECT", "REQUESTS", "ERRORS", "INPUT", "CACHED", "OUTPUT", "TOTAL", "COST", "USD"],
        "{table}"
    );
    let row: Vec<&str> = table.lines().find(|l| l.starts_with(&id)).unwrap().split_whitespace().collect();
    assert_eq!(row[2..4], ["1", "0"], "one request, no error: {table}");
    let cost: f64 = row.last().unwrap().parse().unwrap_or_else(|_| panic!("a cost in dollars: {table}"));
    assert!(cost > 0.0, "gpt-4o-mini is priced by the catalogue: {table}");
    let run = modelgate(home.path(), &with(&["usage", "--by", "workspace"]));
    assert!(
        run.stdout.starts_with("WORKSPACE") && run.stdout.lines().any(|l| l.starts_with("default ")),
        "{}",
        run.stdout
    );
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

/// Blaxel's published example manifest (its CLI's `test/manifests/models/openai.yml`) with the
/// policy example of blaxel-notes section 3 after it, named by the model: the model comes
/// before the policy in the file. The policy's step is `${STEP:1}`.
const BLAXEL_EXAMPLE: &str = "\
apiVersion: blaxel.ai/v1alpha1
kind: IntegrationConnection
metadata:
  name: test-openai-integration
spec:
  integration: openai
  secret:
    apiKey: ${secrets.OPENAI_API_KEY}
---
apiVersion: blaxel.ai/v1alpha1
kind: Model
metadata:
  name: test-gpt-4o-mini
  displayName: Test GPT 4o Mini
spec:
  integrationConnections:
    - test-openai-integration
  policies:
    - tokens-per-minute
  runtime:
    model: gpt-4o-mini
    type: openai
---
apiVersion: blaxel.ai/v1alpha1
kind: Policy
metadata:
  name: tokens-per-minute
spec:
  type: maxToken
  resourceTypes: [model]
  maxTokens:
    granularity: minute
    step: ${STEP:1}
    input: 10000
    output: 5000
    total: 15000
";

/// `args` followed by `--url URL --key KEY`.
fn connected(args: &[&str], url: &str) -> Vec<String> {
    args.iter().copied().chain(["--url", url, "--key", KEY]).map(str::to_string).collect()
}

#[tokio::test]
async fn blaxels_example_manifest_is_applied_in_dependency_order_read_back_and_then_unchanged() {
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("openai.yml");
    std::fs::write(&file, BLAXEL_EXAMPLE).unwrap();
    let file = file.to_str().unwrap();

    // The connection's secret is needed to create it: without it, nothing is written.
    let run = modelgate(home.path(), &connected(&["apply", "-f", file], node.admin()));
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{}", run.stderr);
    let expected = format!("error: {file}, document 1 (line 1), spec.secret.apiKey: secret OPENAI_API_KEY is not set");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    let run = modelgate(home.path(), &connected(&["get", "policies"], node.admin()));
    assert_eq!(run.stdout.lines().count(), 1, "only the header: {}", run.stdout);

    let run =
        modelgate(home.path(), &connected(&["apply", "-f", file, "-s", "OPENAI_API_KEY=sk-example-1"], node.admin()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One line per resource, in dependency order whatever the file's order.
    let every = |outcome: &str| {
        ["integrationconnection/test-openai-integration", "policy/tokens-per-minute", "model/test-gpt-4o-mini"]
            .map(|resource| format!("{resource} {outcome}\n"))
            .concat()
    };
    assert_eq!(run.stdout, every("created"), "the policy the model names is created before it");
    assert!(!run.stdout.contains("sk-example-1") && !run.stderr.contains("sk-example-1"));

    let run = modelgate(home.path(), &connected(&["get", "ml", "test-gpt-4o-mini", "-o", "yaml"], node.admin()));
    let model: Value = serde_yaml_ng::from_str(&run.stdout).unwrap();
    assert_eq!(
        model,
        json!({"apiVersion": "blaxel.ai/v1alpha1", "kind": "Model",
            "metadata": {"name": "test-gpt-4o-mini", "displayName": "Test GPT 4o Mini"},
            "spec": {"enabled": true, "integrationConnections": ["test-openai-integration"],
                "policies": ["tokens-per-minute"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}})
    );
    let run = modelgate(home.path(), &connected(&["get", "pol", "tokens-per-minute", "-o", "yaml"], node.admin()));
    let policy: Value = serde_yaml_ng::from_str(&run.stdout).unwrap();
    assert_eq!(
        policy["spec"],
        json!({"type": "maxToken", "resourceTypes": ["model"],
            "maxTokens": {"granularity": "minute", "step": 1, "input": 10000, "output": 5000, "total": 15000}}),
        "${{STEP:1}} is the number 1"
    );
    let (_, connection) = support::call(
        KEY,
        reqwest::Method::GET,
        &format!("{}/integrations/connections/test-openai-integration", node.api),
        None,
    )
    .await;
    assert_eq!(connection["spec"]["secret"], json!({"apiKey": "********"}), "the secret is stored: {connection}");

    // Again, without the secret (an existing connection does not need it): nothing changes.
    let run = modelgate(home.path(), &connected(&["apply", "-f", file], node.admin()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, every("unchanged"));

    // An edit, dry run: the diff is printed and nothing is written.
    std::fs::write(home.path().join("openai.yml"), BLAXEL_EXAMPLE.replace("model: gpt-4o-mini", "model: gpt-4o"))
        .unwrap();
    let run = modelgate(home.path(), &connected(&["apply", "-f", file, "--dry-run"], node.admin()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "model/test-gpt-4o-mini configured (dry run)\n  ~ spec.runtime.model: \"gpt-4o-mini\" -> \"gpt-4o\"\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("policy/tokens-per-minute unchanged (dry run)"), "{}", run.stdout);
    let run = modelgate(home.path(), &connected(&["get", "ml"], node.admin()));
    assert!(run.stdout.contains("gpt-4o-mini"), "the dry run wrote nothing: {}", run.stdout);
    let run = modelgate(home.path(), &connected(&["apply", "-f", file], node.admin()));
    assert!(run.stdout.contains("model/test-gpt-4o-mini configured\n"), "{}", run.stdout);
    let run = modelgate(home.path(), &connected(&["get", "ml"], node.admin()));
    let row: Vec<&str> = run.stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[2], "gpt-4o", "{}", run.stdout);

    // What `get -o yaml` prints, applied back, changes nothing, for every kind.
    let (status, _) = support::call(
        KEY,
        reqwest::Method::POST,
        &format!("{}/service_accounts", node.api),
        Some(json!({"name": "ci", "description": "CI", "scopes": ["models:list"]})),
    )
    .await;
    assert_eq!(status, 200);
    for kind in ["models", "connections", "policies", "serviceaccounts", "workspaces"] {
        let printed = modelgate(home.path(), &connected(&["get", kind, "-o", "yaml"], node.admin())).stdout;
        let run = modelgate_with_stdin(home.path(), &connected(&["apply", "-f", "-"], node.admin()), &printed);
        assert_eq!(run.code, 0, "{kind}: {}", run.stderr);
        assert!(
            !run.stdout.is_empty() && run.stdout.lines().all(|l| l.ends_with(" unchanged")),
            "{kind}: {}",
            run.stdout
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn manifest_problems_name_the_file_document_and_field_and_nothing_is_written() {
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let home = tempfile::tempdir().unwrap();
    let good = "apiVersion: blaxel.ai/v1alpha1\nkind: Policy\nmetadata:\n  name: first\nspec:\n  type: maxToken\n  maxTokens: {granularity: minute, step: 1, total: 10}\n";
    for (case, second, expected) in [
        (
            "unknown-kind",
            "apiVersion: blaxel.ai/v1alpha1\nkind: Agent\nmetadata:\n  name: a\n",
            "document 2 (line 9), kind: unknown kind 'Agent'",
        ),
        (
            "invalid-yaml",
            "kind: Model\nmetadata:\n  name: b\nspec:\n  runtime: {model: x\n",
            "document 2 (line 9), spec.runtime: invalid YAML",
        ),
        (
            "missing-variable",
            "kind: Policy\nmetadata:\n  name: c\nspec:\n  maxTokens:\n    step: ${STEP}\n",
            "document 2 (line 9), spec.maxTokens.step: variable STEP is not set",
        ),
    ] {
        let file = home.path().join(format!("{case}.yaml"));
        std::fs::write(&file, format!("{good}---\n{second}")).unwrap();
        let run = modelgate(home.path(), &connected(&["apply", "-f", file.to_str().unwrap()], node.admin()));
        assert_eq!(run.code, 1, "{case}: {}", run.stdout);
        let expected = format!("error: {}, {expected}", file.display());
        assert!(run.stderr.contains(&expected), "{case}: expected {expected:?} in\n{}", run.stderr);
        assert!(run.stdout.is_empty(), "{case}: {}", run.stdout);
    }
    let (status, _) = support::call(KEY, reqwest::Method::GET, &format!("{}/policies/first", node.api), None).await;
    assert_eq!(status, 404, "the valid document before the bad one was not applied");

    // The API's refusal names its field; the documents after it are still applied.
    let file = home.path().join("refused.yaml");
    std::fs::write(&file, "kind: Model\nmetadata:\n  name: no-connection\nspec:\n  integrationConnections: [missing]\n  runtime: {type: openai, model: m}\n---\n".to_string() + good).unwrap();
    let run = modelgate(home.path(), &connected(&["apply", "-f", file.to_str().unwrap()], node.admin()));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "policy/first created\n");
    let expected = format!("error: {}, document 1 (line 1): model/no-connection: ", file.display());
    assert!(run.stderr.contains(&expected) && run.stderr.contains("missing"), "{}", run.stderr);
    node.stop().await;
}

#[tokio::test]
async fn directories_stdin_and_update_secrets_reach_the_provider() {
    let mock =
        modelgate_mock_provider::MockProvider::start(modelgate_mock_provider::MockConfig::default()).await.unwrap();
    let node = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("manifests");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let connection = format!(
        "apiVersion: blaxel.ai/v1alpha1\nkind: IntegrationConnection\nmetadata:\n  name: mock\nspec:\n  integration: openai\n  config:\n    url: {}\n  secret:\n    apiKey: $secrets.MOCK_KEY\n",
        mock.base_url()
    );
    std::fs::write(dir.join("connection.yaml"), connection).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    std::fs::write(
        dir.join("models/gpt.yml"),
        "apiVersion: blaxel.ai/v1alpha1\nkind: Model\nmetadata:\n  name: my-gpt\nspec:\n  integrationConnections: [mock]\n  runtime:\n    type: openai\n    model: ${MODEL}\n",
    )
    .unwrap();
    let env_file = home.path().join("prod.env");
    std::fs::write(&env_file, "# the provider's key\nMOCK_KEY=wrong-key\nMODEL=from-env-file\n").unwrap();
    let dir = dir.to_str().unwrap();
    let env_file = env_file.to_str().unwrap();

    // Without -R only the directory's own files: the connection.
    let run = modelgate(home.path(), &connected(&["apply", "-f", dir, "-e", env_file], node.admin()));
    assert_eq!((run.code, run.stdout.as_str()), (0, "integrationconnection/mock created\n"), "{}", run.stderr);
    // -R: the model too; -s wins over the -e file.
    let run = modelgate(
        home.path(),
        &connected(&["apply", "-R", "-f", dir, "-e", env_file, "-s", "MODEL=gpt-4o-mini"], node.admin()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "integrationconnection/mock unchanged\nmodel/my-gpt created\n");
    assert_ne!(support::chat(node.run(), KEY, "my-gpt").await.0, 200, "the stored key is the wrong one");

    // The right key from stdin's manifest: left alone without --update-secrets, replaced with it.
    let connection = std::fs::read_to_string(format!("{dir}/connection.yaml")).unwrap();
    let with_key = ["-s", &format!("MOCK_KEY={}", modelgate_mock_provider::DEFAULT_API_KEY)];
    let run = modelgate_with_stdin(
        home.path(),
        &connected(&[&["apply", "-f", "-"][..], &with_key].concat(), node.admin()),
        &connection,
    );
    assert_eq!(run.stdout, "integrationconnection/mock unchanged\n", "{}", run.stderr);
    let run = modelgate_with_stdin(
        home.path(),
        &connected(&[&["apply", "-f", "-", "--update-secrets", "--dry-run"][..], &with_key].concat(), node.admin()),
        &connection,
    );
    assert_eq!(run.stdout, "integrationconnection/mock configured (dry run)\n  + spec.secret.apiKey: ********\n");
    assert!(!run.stdout.contains(modelgate_mock_provider::DEFAULT_API_KEY));
    let run = modelgate_with_stdin(
        home.path(),
        &connected(&[&["apply", "-f", "-", "--update-secrets"][..], &with_key].concat(), node.admin()),
        &connection,
    );
    assert_eq!(run.stdout, "integrationconnection/mock configured\n", "{}", run.stderr);
    let answer = support::poll_until(std::time::Instant::now() + std::time::Duration::from_secs(5), 200, || {
        support::chat(node.run(), KEY, "my-gpt")
    })
    .await;
    assert_eq!(answer.0, 200, "the new key reaches the provider: {}", answer.1);

    // A differing connection is skipped without --update-secrets.
    let changed = connection.replace("integration: openai", "integration: openai\n  sandbox: true");
    let run = modelgate_with_stdin(
        home.path(),
        &connected(&[&["apply", "-f", "-"][..], &with_key].concat(), node.admin()),
        &changed,
    );
    assert_eq!(
        run.stdout, "integrationconnection/mock skipped (exists; --update-secrets to replace)\n",
        "{}",
        run.stderr
    );

    // delete -f: models first; a second time, each is reported not found and that is no failure.
    for outcome in ["deleted", "not found"] {
        let run = modelgate(home.path(), &connected(&["delete", "-R", "-f", dir], node.admin()));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, format!("model/my-gpt {outcome}\nintegrationconnection/mock {outcome}\n"));
    }
    node.stop().await;
}

#[tokio::test]
async fn an_export_applied_to_a_fresh_node_reads_back_identical() {
    let source = node_with_a_model().await;
    let policy = json!({"metadata": {"name": "tpm", "labels": {"team": "ml"}},
        "spec": {"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 1000}}});
    let (status, body) =
        support::call(KEY, reqwest::Method::POST, &format!("{}/policies", source.api), Some(policy)).await;
    assert_eq!(status, 200, "{body}");
    let home = tempfile::tempdir().unwrap();
    let exported = modelgate(home.path(), &connected(&["export"], source.admin()));
    assert_eq!(exported.code, 0, "{}", exported.stderr);

    let target = Node::start_fresh(&[("MODELGATE_BOOTSTRAP_API_KEY", KEY)]).await;
    let file = home.path().join("workspace.yaml");
    std::fs::write(&file, &exported.stdout).unwrap();
    let run = modelgate(
        home.path(),
        &connected(&["apply", "-f", file.to_str().unwrap(), "-s", "MY_OPENAI_APIKEY=sk-secret-value"], target.admin()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "integrationconnection/my-openai created\npolicy/tpm created\nmodel/my-gpt created\n");
    for kind in ["models", "connections", "policies"] {
        let before = modelgate(home.path(), &connected(&["get", kind, "-o", "yaml"], source.admin()));
        let after = modelgate(home.path(), &connected(&["get", kind, "-o", "yaml"], target.admin()));
        assert!(before.stdout.contains("apiVersion"), "{kind}: {}", before.stdout);
        assert_eq!(before.stdout, after.stdout, "{kind}");
    }
    source.stop().await;
    target.stop().await;
}

#[tokio::test]
async fn a_service_account_logs_in_with_client_credentials() {
    let node = node_with_a_model().await;
    let account = json!({"name": "reader", "scopes": ["models:list", "models:get"]});
    let (status, created) =
        support::call(KEY, reqwest::Method::POST, &format!("{}/service_accounts", node.api), Some(account)).await;
    assert_eq!(status, 200, "{created}");
    let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let home = tempfile::tempdir().unwrap();

    let run = modelgate(home.path(), &["login", "--url", &node.api, "--client-id", id, "--client-secret", "mgs_wrong"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("client id or client secret is not valid"), "{}", run.stderr);
    let run = modelgate(home.path(), &["login", "--url", &node.api, "--client-id", id, "--client-secret", secret]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(secret), "{}", run.stdout);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = home.path().join("modelgate/config.yaml");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Each command fetches its own access token with the stored pair.
    for _ in 0..2 {
        let run = modelgate(home.path(), &["get", "models"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("my-gpt"), "{}", run.stdout);
    }
    // The account's scopes hold: it may not delete.
    let run = modelgate(home.path(), &["delete", "model", "my-gpt"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    node.stop().await;
}

#[test]
fn help_lists_the_client_commands_apart_from_the_nodes() {
    let home = tempfile::tempdir().unwrap();
    let run = modelgate(home.path(), &["--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let section = |heading: &str| -> Vec<String> {
        let start = run.stdout.find(heading).unwrap_or_else(|| panic!("no {heading:?} in\n{}", run.stdout));
        run.stdout[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(section("Node commands:"), ["serve", "rotate-master-key", "migrate", "mock-provider"]);
    assert_eq!(section("Client commands"), ["login", "context", "get", "apply", "delete", "export", "usage", "keys"]);
}
