//! Talking to the control plane: where (flags, then `MODELGATE_*`, then the current context,
//! then the default address) and how (bearer key, workspace header, the API's error message).

use crate::config::Config;
use anyhow::{anyhow, bail};
use serde_json::Value;
use std::time::Duration;

/// The control plane's address when neither a flag, a variable nor a context gives one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Which control plane to talk to and as whom; each overrides the current context.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnectionArgs {
    /// The control plane's address, with or without `/v0` [default: the context's, else http://127.0.0.1:8080]
    #[arg(long, env = "MODELGATE_URL", global = true)]
    pub url: Option<String>,
    /// The API key (or access token) to call with [default: the context's]
    #[arg(long, env = "MODELGATE_KEY", global = true, hide_env_values = true)]
    pub key: Option<String>,
    /// The workspace to act in, sent as `X-Blaxel-Workspace` [default: the key's own]
    #[arg(long, env = "MODELGATE_WORKSPACE", global = true)]
    pub workspace: Option<String>,
}

/// A client of one control plane.
pub struct Client {
    http: reqwest::Client,
    /// Ends with `/v0`.
    base: String,
    key: String,
    workspace: Option<String>,
}

/// `url` as the API's base: without a trailing slash, ending with `/v0`.
pub fn api_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.ends_with("/v0") {
        url.to_string()
    } else {
        format!("{url}/v0")
    }
}

/// What a path segment keeps as it is: letters, digits, `-`, `_` (a `.` is encoded, so that a
/// name `..` is not read as "up one").
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// `name` as one path segment: a name with `/` or `?` names no other route.
pub fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

impl Client {
    pub fn new(args: &ConnectionArgs) -> anyhow::Result<Client> {
        let config = Config::load()?;
        let context = config.current();
        let url = args.url.clone().or_else(|| context.map(|c| c.url.clone())).unwrap_or_else(|| DEFAULT_URL.into());
        let key = args.key.clone().or_else(|| context.map(|c| c.key.clone())).ok_or_else(|| {
            anyhow!("no API key: give --key, set MODELGATE_KEY or run `modelgate login --url URL --key KEY`")
        })?;
        let workspace = args.workspace.clone().or_else(|| context.and_then(|c| c.workspace.clone()));
        Client::with(&url, key, workspace)
    }

    pub fn with(url: &str, key: String, workspace: Option<String>) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Client { http, base: api_base(url), key, workspace })
    }

    /// `method path` (under `/v0`); the JSON answer, or the API's `message` as the error.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        self.send(method, path, None).await
    }

    /// `method path` with a JSON `body`; the JSON answer, or the API's `message` as the error.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(workspace) = &self.workspace {
            request = request.header("X-Blaxel-Workspace", workspace);
        }
        let response =
            request.send().await.map_err(|e| anyhow!("cannot reach the control plane at {}: {e}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            match body.get("message").and_then(Value::as_str) {
                Some(message) => bail!("{message} ({})", status.as_u16()),
                None => bail!("the control plane answered {status}"),
            }
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_ends_with_v0_once() {
        for url in ["http://h:1", "http://h:1/", "http://h:1/v0", "http://h:1/v0/", " http://h:1 "] {
            assert_eq!(api_base(url), "http://h:1/v0", "{url}");
        }
        assert_eq!(api_base("https://gw.example/prefix"), "https://gw.example/prefix/v0");
    }

    #[test]
    fn a_name_is_one_path_segment() {
        assert_eq!(segment("my-gpt_2"), "my-gpt_2");
        assert_eq!(segment("a/../b?x"), "a%2F%2E%2E%2Fb%3Fx");
    }
}
