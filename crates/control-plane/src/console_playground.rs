//! The console's playground: `POST /console/api/playground/{modelName}` sends one OpenAI chat
//! completions body to the model through the inference plane and relays the answer (a stream
//! as it arrives) to the page.
//!
//! The session holds no key, so the call carries a one-minute access token signed here for the
//! session's principal (same subject, workspace and scopes; the inference plane checks them as
//! for any token). The token never reaches the browser, and the page talks only to its own
//! origin: no CORS on the inference plane, `connect-src 'self'` in the console's policy.
//!
//! `POST /console/api/playground/{modelName}/cost` prices an answer's usage (OpenAI's usage
//! object, as the stream's last chunk reports it) at the model's price as the gateway meters
//! it (its `spec.price`, else the price catalogue's), so the page shows what the call cost
//! without a second copy of the prices or of the arithmetic.

use crate::auth::{Caller, Principal};
use crate::error::ApiError;
use crate::extract::Path;
use crate::oauth::sign_access_token;
use crate::ControlPlane;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use modelgate_domain::validation::validate_name;
use modelgate_domain::Scope;
use modelgate_providers::prices::{cost, ModelPrice, TokenCounts};
use serde::Deserialize;
use std::sync::Arc;

/// Lifetime of the token a playground call carries: it is checked when the call starts, so a
/// long stream outlives it.
const PLAYGROUND_TOKEN_SECONDS: i64 = 60;

/// The price a model endpoint meters at (workspace, model name): `None` when it has none or
/// does not exist.
pub type PriceOf = Arc<dyn Fn(&str, &str) -> Option<ModelPrice> + Send + Sync>;

/// Where the playground reaches the inference plane, the client it does it with, and where it
/// finds a model's price.
#[derive(Clone)]
pub struct Playground {
    run_url: String,
    client: reqwest::Client,
    price_of: PriceOf,
}

impl Playground {
    /// A playground that calls the inference plane at `run_url` (this node's own listener on a
    /// `--role all` node, else the public run URL) and prices answers with `price_of`.
    pub fn new(run_url: &str, price_of: PriceOf) -> Result<Playground, reqwest::Error> {
        // Redirects are not followed: the inference plane hands a provider's redirect to its
        // client, and following it here would make this node fetch any URL a provider names.
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Playground { run_url: run_url.trim_end_matches('/').to_string(), client, price_of })
    }
}

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/playground/{modelName}", axum::routing::post(chat))
        .route("/playground/{modelName}/cost", axum::routing::post(answer_cost))
}

async fn chat(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(model): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require(Scope::ModelsInvoke)?;
    validate_name("modelName", &model)?;
    let playground = state.console.as_ref().ok_or_else(|| ApiError::NotFound("this node serves no console".into()))?;
    let body = crate::body::read(request, &state).await?;
    // Only what a chat needs: the token cannot reach `/v0`. A session opened with a key signs on
    // that key's behalf, so its calls count as the key's (usage, per-key limits).
    let invoke_only = Principal { scopes: vec![Scope::ModelsInvoke], ..caller.principal.clone() };
    let token = sign_access_token(&state.keyring, &invoke_only, PLAYGROUND_TOKEN_SECONDS);
    let url = format!("{}/{}/models/{model}/v1/chat/completions", playground.run_url, caller.workspace);
    let answer = playground
        .client
        .post(url)
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| {
            tracing::warn!(%error, "the console's playground could not reach the inference plane");
            ApiError::Unavailable("the inference plane cannot be reached from the console; retry shortly".into(), 5)
        })?;
    // A provider's 401 (the connection's credentials refused) is the gateway's problem, not the
    // session's: the page signs out on a 401, so it is told 502, with the provider's message.
    let status = match answer.status().as_u16() {
        401 => 502,
        status => status,
    };
    let mut response = Response::builder().status(status);
    if let Some(content_type) = answer.headers().get(CONTENT_TYPE) {
        response = response.header(CONTENT_TYPE, content_type.as_bytes());
    }
    response
        .body(axum::body::Body::from_stream(answer.bytes_stream()))
        .map(IntoResponse::into_response)
        .map_err(|_| ApiError::Internal("the inference plane's answer could not be relayed".into()))
}

/// OpenAI's usage object, as far as it is priced.
#[derive(Deserialize)]
struct AnswerUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

/// `{"costUsd": number}`, or `{"costUsd": null}` when the model has no known price.
async fn answer_cost(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(model): Path<String>,
    request: Request,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    caller.require(Scope::ModelsInvoke)?;
    validate_name("modelName", &model)?;
    let playground = state.console.as_ref().ok_or_else(|| ApiError::NotFound("this node serves no console".into()))?;
    let body = crate::body::read(request, &state).await?;
    let usage: AnswerUsage = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not an OpenAI usage object: {error}")))?;
    let tokens = TokenCounts {
        input: usage.prompt_tokens,
        output: usage.completion_tokens,
        cache_read: usage.prompt_tokens_details.map_or(0, |details| details.cached_tokens),
        ..TokenCounts::default()
    };
    let price = (playground.price_of)(&caller.workspace, &model);
    Ok(axum::Json(serde_json::json!({"costUsd": price.map(|price| cost(&price, &tokens))})))
}
