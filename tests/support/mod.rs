//! Helpers for tests that run the real `modelgate` binary: a [`Node`] process on ephemeral
//! ports (killed when dropped, so no process outlives a failed test; its log is printed when the
//! test panics), HTTP calls to it, polling with a deadline, and PostgreSQL behind a [`Relay`]
//! whose link can be cut.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use modelgate_mock_provider::relay::Relay;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How long a node may take to print its addresses (a debug build, migrations, a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `modelgate serve` process.
pub struct Node {
    child: Child,
    /// The control plane's base URL as printed (`http://127.0.0.1:PORT/v0`); on an inference
    /// node, where `/v0/health`, `/v0/ready` and `/metrics` are served.
    pub api: String,
    /// The inference plane's base URL (`http://127.0.0.1:PORT`); `None` on a control node.
    pub run: Option<String>,
    /// The admin key printed on first start, if any.
    pub printed_key: Option<String>,
    /// Kept open: a node writing to a closed stdout would fail.
    _stdout: Lines<BufReader<ChildStdout>>,
    log: tempfile::NamedTempFile,
    _data_dir: Option<tempfile::TempDir>,
}

impl Node {
    /// Starts `modelgate serve` with `data_dir`, ephemeral ports, no `MODELGATE_*` variable of
    /// the test's own environment, then `env`; returns once the node has printed its addresses
    /// (after the store is open and the listeners bound). `MODELGATE_ROLE=control` nodes print
    /// only the control-plane address.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_modelgate"));
        command.arg("serve");
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("MODELGATE_")) {
            command.env_remove(name);
        }
        let log = tempfile::NamedTempFile::new().unwrap();
        command
            .env("MODELGATE_DATA_DIR", data_dir)
            .env("MODELGATE_API_ADDR", "127.0.0.1:0")
            .env("MODELGATE_RUN_ADDR", "127.0.0.1:0")
            .env("MODELGATE_PUBLIC_RUN_URL", "https://run.example.test")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .kill_on_drop(true);
        let control_only = env.iter().any(|&(name, value)| name == "MODELGATE_ROLE" && value == "control");
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut api, mut run, mut printed_key) = (None, None, None);
        let read = async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                let line = line.trim();
                if line.starts_with("mgk_") {
                    printed_key = Some(line.to_string());
                } else if let Some(url) = line.strip_prefix("control plane:") {
                    api = Some(url.trim().to_string());
                    if control_only {
                        return true;
                    }
                } else if let Some(url) = line.strip_prefix("inference plane:") {
                    run = Some(url.trim().to_string());
                    return true;
                }
            }
            false
        };
        let started = tokio::time::timeout(START_TIMEOUT, read).await.unwrap_or(false);
        if !started {
            let _ = child.kill().await;
            panic!("the node did not start; its log:\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
        }
        let api = api.expect("the control plane address is printed");
        Node { child, api, run, printed_key, _stdout: stdout, log, _data_dir: None }
    }

    /// [`Node::start`] in a data directory of its own, removed with the node.
    pub async fn start_fresh(env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node::start(dir.path(), env).await;
        node._data_dir = Some(dir);
        node
    }

    /// The inference plane's base URL (panics on a control node).
    pub fn run(&self) -> &str {
        self.run.as_deref().expect("an inference plane")
    }

    /// The address of the node's API listener without `/v0` (`http://127.0.0.1:PORT`).
    pub fn admin(&self) -> &str {
        self.api.trim_end_matches("/v0")
    }

    /// SIGTERM, and asserts a clean exit.
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "SIGTERM is a clean shutdown, got {status}; log:\n{}", self.log_text());
    }

    /// Sends the node `signal` (a name `kill` takes: `HUP`, `TERM`, ...).
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().await.unwrap().success());
    }

    /// SIGKILL: the process ends at once, without any shutdown work.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// What the node wrote on stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("--- last lines of the log of the node at {} ---\n{tail}", self.api);
        }
    }
}

/// One HTTP client for the tests, with a timeout so a hung server fails the test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// `method url` with `key` as bearer and an optional JSON body; the status and the JSON answer
/// (a string when the answer is not JSON).
pub async fn call(key: &str, method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// One chat completion of `model` in the `default` workspace through the inference plane at
/// `run`.
pub async fn chat(run: &str, key: &str, model: &str) -> (u16, Value) {
    let body = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
    call(key, reqwest::Method::POST, &format!("{run}/default/models/{model}/v1/chat/completions"), Some(body)).await
}

/// Calls `attempt` until it answers `expected` or `deadline` passes (then the last answer), every
/// 10 ms.
pub async fn poll_until<F, Fut>(deadline: Instant, expected: u16, mut attempt: F) -> (u16, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    loop {
        let (status, body) = attempt().await;
        if status == expected || Instant::now() >= deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts the inference plane's own error: `expected` and `{"error": {code, message, type,
/// retryable}}` with this code.
pub fn assert_gateway_error((status, body): &(u16, Value), expected: u16, code: &str) {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["error"]["type"].is_string() && body["error"]["retryable"].is_boolean(), "{body}");
}

/// A relay to the PostgreSQL server of `url`, and `url` rewritten to go through it.
pub async fn postgres_through_relay(url: &str) -> (Relay, String) {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    let target = (parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let relay = Relay::start(target).await.unwrap();
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(relay.addr().port())).unwrap();
    (relay, parsed.to_string())
}
