//! Talking to the control plane: where (flags, then `MODELGATE_*`, then the current context,
//! then the default address) and how (bearer key, workspace header, the API's error message).

use crate::config::{self, Config};
use anyhow::anyhow;
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
    /// A service account's client id: sign in with client credentials (with --client-secret)
    /// instead of a key; a fresh access token is fetched for each run
    #[arg(long, env = "MODELGATE_CLIENT_ID", global = true, requires = "client_secret")]
    pub client_id: Option<String>,
    /// The service account's client secret (with --client-id)
    #[arg(long, env = "MODELGATE_CLIENT_SECRET", global = true, hide_env_values = true, requires = "client_id")]
    pub client_secret: Option<String>,
    /// The workspace to act in, sent as `X-Blaxel-Workspace` [default: the key's own]
    #[arg(long, env = "MODELGATE_WORKSPACE", global = true)]
    pub workspace: Option<String>,
}

/// Who calls: an API key (or access token), or a service account's client credentials, traded
/// for an access token at `POST /v0/oauth/token`.
#[derive(Debug, Clone)]
pub enum Credential {
    Key(String),
    ClientCredentials { client_id: String, client_secret: String },
}

impl Credential {
    /// The client pair when both are given (flags or variables), else the key.
    pub(crate) fn given(
        key: Option<&String>,
        client_id: Option<&String>,
        client_secret: Option<&String>,
    ) -> Option<Credential> {
        match (client_id, client_secret, key) {
            (Some(id), Some(secret), _) => {
                Some(Credential::ClientCredentials { client_id: id.clone(), client_secret: secret.clone() })
            }
            (_, _, Some(key)) => Some(Credential::Key(key.clone())),
            _ => None,
        }
    }
}

/// A client of one control plane.
pub struct Client {
    http: reqwest::Client,
    /// Ends with `/v0`.
    base: String,
    /// The bearer: the key, or the access token fetched for this run.
    token: String,
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
    /// The client the flags, variables and current context name; a client pair is signed in now.
    pub async fn new(args: &ConnectionArgs) -> anyhow::Result<Client> {
        let config = Config::load()?;
        let context = config.current();
        let url = args.url.clone().or_else(|| context.map(|c| c.url.clone())).unwrap_or_else(|| DEFAULT_URL.into());
        let credential = Credential::given(args.key.as_ref(), args.client_id.as_ref(), args.client_secret.as_ref())
            .or_else(|| context.and_then(config::Context::credential))
            .ok_or_else(|| {
                anyhow!(
                    "no credential: give --key (MODELGATE_KEY) or --client-id and --client-secret, or run `modelgate login`"
                )
            })?;
        let workspace = args.workspace.clone().or_else(|| context.and_then(|c| c.workspace.clone()));
        Client::connect(&url, &credential, workspace).await
    }

    /// A client of `url` calling as `credential`: a key as it is, a client pair through the
    /// token endpoint (which also checks it).
    pub async fn connect(url: &str, credential: &Credential, workspace: Option<String>) -> anyhow::Result<Client> {
        let mut client = Client::with(url, String::new(), workspace)?;
        client.token = match credential {
            Credential::Key(key) => key.clone(),
            Credential::ClientCredentials { client_id, client_secret } => {
                let body = serde_json::json!({"grant_type": "client_credentials",
                    "client_id": client_id, "client_secret": client_secret});
                let request = client.http.post(format!("{}/oauth/token", client.base)).json(&body);
                let (status, answer) = client.exchange(request).await?;
                if !status.is_success() {
                    return Err(api_error(status, &answer).context("the token endpoint refused the client credentials"));
                }
                answer
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("the token endpoint answered no access_token"))?
                    .to_string()
            }
        };
        Ok(client)
    }

    pub fn with(url: &str, key: String, workspace: Option<String>) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Client { http, base: api_base(url), token: key, workspace })
    }

    /// `method path` (under `/v0`); the JSON answer, or the API's `message` as the error.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        self.send(method, path, None).await
    }

    /// `method path` with a JSON `body`; the JSON answer, or the API's `message` as the error.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, answer) = self.exchange(self.request(method, path, body)).await?;
        if !status.is_success() {
            return Err(api_error(status, &answer));
        }
        Ok(answer)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path).await
    }

    /// `GET path`: the resource, or `None` when the API answers 404.
    pub async fn get_if_exists(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let (status, answer) = self.exchange(self.request(reqwest::Method::GET, path, None)).await?;
        match status {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(Some(answer)),
            status => Err(api_error(status, &answer)),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(workspace) = &self.workspace {
            request = request.header("X-Blaxel-Workspace", workspace);
        }
        request
    }

    /// Sends `request`: the status and the JSON answer (`null` when it is not JSON).
    async fn exchange(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let response =
            request.send().await.map_err(|e| anyhow!("cannot reach the control plane at {}: {e}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

/// The API's `message` and the status, as an error.
fn api_error(status: reqwest::StatusCode, answer: &Value) -> anyhow::Error {
    match answer.get("message").and_then(Value::as_str) {
        Some(message) => anyhow!("{message} ({})", status.as_u16()),
        None => anyhow!("the control plane answered {status}"),
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
