//! The request path, in phases named as Pingora names them:
//! `request_filter` (caller, route, enabled, policies, limits), `upstream_peer` (the next usable
//! connection, in fallback order), `upstream_request` (URL, headers, body for that provider),
//! the response relay, and `logging` (the usage record).

use crate::caller::{authenticate, credential, Caller};
use crate::chat_translation::{
    is_chat_completions, is_embeddings, provider_of, Answer, StreamTranslation, WholeTranslation,
};
use crate::endpoint::{endpoint, Endpoint};
use crate::gateway_error::GatewayError;
use crate::relay::{BodyProcessor, OnFinish, Relay};
use crate::snapshot::{Route, Upstream};
use crate::upstream_client::{UpstreamRequest, UpstreamResponse};
use crate::upstream_request::{
    prepare_body, upstream_headers, upstream_query, upstream_uri, upstream_url_parts, PreparedBody,
};
use crate::usage_tap::{Usage, UsageTap};
use crate::InferencePlane;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::usage::UsageRecord;
use modelgate_providers::Family;
use modelgate_translate::openai::ChatRequest;
use modelgate_translate::{Provider, RequestContext as TranslateContext, ResponseContext};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Response headers that describe the upstream connection, not the message.
static HOP_BY_HOP_RESPONSE: [HeaderName; 7] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TRANSFER_ENCODING,
    UPGRADE,
    TRAILER,
    TE,
];
/// `max_tokens` sent to providers that require one when the client gives none (a connection's
/// `config.maxTokens` overrides it).
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Longest `Retry-After` honoured as a connection's rest.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// Serves one request of the inference plane.
pub async fn dispatch(state: Arc<InferencePlane>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let endpoint = match endpoint(parts.uri.path()) {
        Some(Ok(endpoint)) => endpoint,
        Some(Err(error)) => return error.into_response(),
        None => return no_route(&parts.method, &parts.uri).into_response(),
    };
    match endpoint {
        Endpoint::Model { workspace, model, path } => {
            serve(&state, &parts, body, &workspace, ModelName::Path(&model), path).await
        }
        Endpoint::WorkspaceChat { workspace } if parts.method == Method::POST => {
            serve(&state, &parts, body, &workspace, ModelName::Body, "/v1/chat/completions").await
        }
        Endpoint::ListModels { workspace } if parts.method == Method::GET || parts.method == Method::HEAD => {
            list_models(&state, &workspace, &parts)
        }
        Endpoint::WorkspaceChat { .. } => method_not_allowed(&parts, "POST"),
        Endpoint::ListModels { .. } => method_not_allowed(&parts, "GET, HEAD"),
    }
}

fn no_route(method: &Method, uri: &Uri) -> GatewayError {
    GatewayError::route_not_found(format!(
        "no route for {method} {}: model endpoints are served at /{{workspace}}/models/{{model}}/{{provider path}}",
        uri.path()
    ))
}

fn method_not_allowed(parts: &Parts, allowed: &'static str) -> Response {
    let message = format!("{} {} is not served: use {allowed}", parts.method, parts.uri.path());
    let mut response = GatewayError::method_not_allowed(message).into_response();
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
    response
}

/// What every usage record of a request shares.
struct RequestContext {
    state: Arc<InferencePlane>,
    route: Arc<Route>,
    caller: Caller,
    started: Instant,
    at: i64,
}

impl RequestContext {
    /// Who is counted by per-key limits: the key, or the token's subject.
    fn counted_as(&self) -> &str {
        self.caller.key_id.as_deref().unwrap_or(&self.caller.subject)
    }

    fn record(&self, status: u16, usage: Usage, ttfb: Option<Duration>) {
        self.state.limiter.add(&self.route, self.counted_as(), usage, self.state.clock.now_secs());
        let route = &self.route;
        let provider = route.runtime_type.as_str();
        self.state.metrics.request(&route.workspace, &route.name, provider, status, usage.input, usage.output);
        if let Some(ttfb) = ttfb {
            self.state.metrics.upstream_first_byte(provider, ttfb.as_secs_f64());
        }
        self.state.usage.record(UsageRecord {
            at: self.at,
            workspace: self.route.workspace.clone(),
            model: self.route.name.clone(),
            subject: self.caller.subject.clone(),
            key_id: self.caller.key_id.clone(),
            provider: self.route.runtime_type.as_str().to_string(),
            status,
            input_tokens: usage.input,
            output_tokens: usage.output,
            total_tokens: usage.total,
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttfb_ms: ttfb.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        });
    }
}

/// Records the request when its relayed body is over (the `logging` phase).
struct Logging {
    context: RequestContext,
    ttfb: Duration,
}

impl OnFinish for Logging {
    fn finish(self: Box<Self>, status: u16, usage: Usage) {
        self.context.record(status, usage, Some(self.ttfb));
    }
}

fn query_key(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("key="))
}

/// Which model a request names: in its path, or (workspace-level endpoint) in its body.
enum ModelName<'a> {
    Path(&'a str),
    Body,
}

async fn serve(
    state: &Arc<InferencePlane>,
    parts: &Parts,
    body: Body,
    workspace: &str,
    model: ModelName<'_>,
    path: &str,
) -> Response {
    let started = Instant::now();
    let at = now_micros();
    let caller = match identify_caller(state, workspace, &parts.headers, &parts.uri, at) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // The body is read only once the caller is known.
    let bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return GatewayError::payload_too_large(format!("the request body exceeds {} bytes", state.max_body_bytes))
                .into_response()
        }
    };
    let named_in_body;
    let model = match model {
        ModelName::Path(name) => name,
        ModelName::Body => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(value) => match value.get("model").and_then(|m| m.as_str()) {
                Some(name) => {
                    named_in_body = name.to_string();
                    named_in_body.as_str()
                }
                None => {
                    return GatewayError::bad_request("name the model endpoint in the body's \"model\"").into_response()
                }
            },
            Err(error) => return GatewayError::bad_request(format!("the body is not JSON: {error}")).into_response(),
        },
    };
    let route = match find_route(state, workspace, model) {
        Ok(route) => route,
        Err(error) => return error.into_response(),
    };
    let context = RequestContext { state: state.clone(), route, caller, started, at };
    if let Err(error) = admit(state, &context.route, context.counted_as()).await {
        context.record(error.status.as_u16(), Usage::default(), None);
        return error.into_response();
    }
    let client =
        ClientRequest { method: parts.method.clone(), path, query: parts.uri.query(), headers: &parts.headers };
    match proxy(&context, &client, bytes).await {
        Ok(response) => response,
        Err(error) => {
            context.record(error.status.as_u16(), Usage::default(), None);
            error.into_response()
        }
    }
}

/// `GET {RUN_URL}/{workspace}/v1/models`: the workspace's model endpoints in OpenAI's format.
fn list_models(state: &InferencePlane, workspace: &str, parts: &Parts) -> Response {
    if let Err(error) = identify_caller(state, workspace, &parts.headers, &parts.uri, now_micros()) {
        return error.into_response();
    }
    let snapshot = state.snapshot.get();
    let mut models: Vec<serde_json::Value> = snapshot
        .routes_in(workspace)
        .filter(|route| route.enabled)
        .map(|route| {
            serde_json::json!({"id": route.name, "object": "model", "created": 0, "owned_by": route.runtime_type.as_str()})
        })
        .collect();
    models.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    axum::Json(serde_json::json!({"object": "list", "data": models})).into_response()
}

/// The `request_filter` phase, first part: who calls. Refusals here are not metered (there is
/// no route to attribute them to).
fn identify_caller(
    state: &InferencePlane,
    workspace: &str,
    headers: &HeaderMap,
    uri: &Uri,
    now: i64,
) -> Result<Caller, GatewayError> {
    let snapshot = state.snapshot.get();
    authenticate(&snapshot, state.snapshot.keyring(), credential(headers, query_key(uri)), workspace, now)
}

/// The `request_filter` phase, second part: which route.
fn find_route(state: &InferencePlane, workspace: &str, model: &str) -> Result<Arc<Route>, GatewayError> {
    state.snapshot.get().route(workspace, model).cloned().ok_or_else(|| {
        GatewayError::route_not_found(format!("model '{model}' does not exist in workspace '{workspace}'"))
    })
}

/// The `request_filter` phase, last part: whether the route may be served now.
async fn admit(state: &InferencePlane, route: &Route, caller: &str) -> Result<(), GatewayError> {
    let model = &route.name;
    if !route.enabled {
        return Err(GatewayError::model_disabled(format!("model '{model}' is disabled (spec.enabled is false)")));
    }
    check_location(state, route)?;
    if let Err((policy, retry_after)) = state.limiter.admit(route, caller, state.clock.now_secs()).await {
        return Err(GatewayError::usage_limit_exceeded(
            format!("policy '{policy}' limit reached for model '{model}' in this window"),
            u64::try_from(retry_after).unwrap_or(1),
        ));
    }
    Ok(())
}

fn check_location(state: &InferencePlane, route: &Route) -> Result<(), GatewayError> {
    if route.locations.is_empty() {
        return Ok(());
    }
    let node = &state.location;
    let allowed = route.locations.iter().any(|allowed| {
        let Some(name) = allowed.name.as_deref() else { return false };
        let node_value = match allowed.kind {
            Some(modelgate_domain::PolicyLocationType::Country) => node.country.as_deref(),
            Some(modelgate_domain::PolicyLocationType::Continent) => node.continent.as_deref(),
            Some(modelgate_domain::PolicyLocationType::Location) => node.location.as_deref(),
            None => None,
        };
        node_value.is_some_and(|v| v.eq_ignore_ascii_case(name))
    });
    if allowed {
        Ok(())
    } else {
        Err(GatewayError::policy_violation(format!(
            "model '{}' may not be served from this gateway node's location (location policies)",
            route.name
        )))
    }
}

/// The next usable upstreams in fallback order: those not resting first.
fn upstream_peers(state: &InferencePlane, route: &Route) -> Vec<usize> {
    let now = Instant::now();
    let cooldowns = state.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
    // The common case: nothing rests, so nothing to look up (and no key to build).
    if cooldowns.is_empty() {
        return (0..route.upstreams.len()).collect();
    }
    let resting = |u: &Upstream| {
        cooldowns.get(&(route.workspace.clone(), u.connection.clone())).is_some_and(|until| *until > now)
    };
    let (mut ready, tired): (Vec<usize>, Vec<usize>) =
        (0..route.upstreams.len()).partition(|i| !resting(&route.upstreams[*i]));
    ready.extend(tired);
    ready
}

fn rest(state: &InferencePlane, route: &Route, upstream: &Upstream, headers: &HeaderMap) {
    let seconds = headers.get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok()).unwrap_or(1);
    let until = Instant::now() + Duration::from_secs(seconds).min(MAX_COOLDOWN);
    let mut cooldowns = state.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
    cooldowns.insert((route.workspace.clone(), upstream.connection.clone()), until);
}

/// What the client asked, as the upstream request is built from it.
struct ClientRequest<'a> {
    method: Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
}

fn upstream_request(
    route: &Route,
    upstream: &Upstream,
    client: &ClientRequest<'_>,
    body: &PreparedBody,
) -> Result<UpstreamRequest, GatewayError> {
    let (base, upstream_path) = upstream_url_parts(route, upstream, client.path)?;
    let query = upstream_query(route, client.query);
    let uri = upstream_uri(&base, upstream, &upstream_path, &query).ok_or_else(|| {
        GatewayError::upstream_unavailable(format!(
            "connection '{}' and this request do not make a valid provider URL",
            upstream.connection
        ))
    })?;
    // `Bytes` clones share the buffer: each fallback attempt sends the same body without a copy.
    let mut request = UpstreamRequest::new(Full::new(body.bytes.clone()));
    *request.method_mut() = client.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = upstream_headers(route, upstream, client.headers);
    Ok(request)
}

/// How the answer is shaped on its way back.
enum AnswerShape {
    /// As the provider sent it (tapped for usage).
    Native { strip_usage_chunk: bool },
    /// Translated into OpenAI's chat format.
    Translated { provider: Provider, stream: bool, context: ResponseContext },
    /// Translated into OpenAI's embeddings format.
    TranslatedEmbeddings { provider: Provider, model: String },
}

/// Translates an OpenAI chat request for a non-OpenAI provider: the provider's path, query and
/// body, and how to translate the answer.
fn translate_request(
    route: &Route,
    provider: Provider,
    bytes: &Bytes,
) -> Result<(String, Option<String>, Bytes, AnswerShape), GatewayError> {
    let request: ChatRequest = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("the body is not an OpenAI chat request: {e}")))?;
    let default_max_tokens = route
        .upstreams
        .first()
        .and_then(|u| u.config.get("maxTokens"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let translated = modelgate_translate::request(
        provider,
        &request,
        &TranslateContext { model: route.model.clone(), default_max_tokens },
    )
    .map_err(|e| match e.param {
        Some(param) => GatewayError::bad_request(format!("{param}: {}", e.message)),
        None => GatewayError::bad_request(e.message),
    })?;
    let body = serde_json::to_vec(&translated.body).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let context = ResponseContext {
        id: format!("chatcmpl-{}", modelgate_domain::api_key::generate_id().trim_start_matches("ak_")),
        created: now_micros() / 1_000_000,
        model: route.model.clone().or(request.model.clone()).unwrap_or_default(),
        include_usage: request.wants_stream_usage(),
    };
    let shape = AnswerShape::Translated { provider, stream: request.is_stream(), context };
    Ok((translated.path, translated.query, Bytes::from(body), shape))
}

/// Translates an OpenAI embeddings request for a provider with another embeddings API.
fn translate_embeddings(
    route: &Route,
    provider: Provider,
    bytes: &Bytes,
) -> Result<(String, Option<String>, Bytes, AnswerShape), GatewayError> {
    if route.family == Family::VertexAi {
        return Err(GatewayError::bad_request(
            "embeddings are not translated for Vertex AI (its embedding models use :predict); call the native path",
        ));
    }
    let request: modelgate_translate::embeddings::EmbeddingRequest = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("the body is not an OpenAI embeddings request: {e}")))?;
    let translated =
        modelgate_translate::embeddings::request(provider, &request, route.model.as_deref()).map_err(|e| {
            match e.param {
                Some(param) => GatewayError::bad_request(format!("{param}: {}", e.message)),
                None => GatewayError::bad_request(e.message),
            }
        })?;
    let body = serde_json::to_vec(&translated.body).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let model = route.model.clone().or(request.model).unwrap_or_default();
    Ok((translated.path, translated.query, Bytes::from(body), AnswerShape::TranslatedEmbeddings { provider, model }))
}

async fn proxy(context: &RequestContext, client: &ClientRequest<'_>, bytes: Bytes) -> Result<Response, GatewayError> {
    let route = &context.route;
    if route.upstreams.is_empty() {
        return Err(GatewayError::upstream_unavailable(format!(
            "model '{}' has no usable connection: {}",
            route.name,
            route.unusable.join("; ")
        )));
    }
    match provider_of(route.family) {
        // The unified OpenAI chat endpoint on a provider with another API: translate both ways.
        Some(provider)
            if client.method == Method::POST && (is_chat_completions(client.path) || is_embeddings(client.path)) =>
        {
            let (path, query, body, shape) = if is_embeddings(client.path) {
                translate_embeddings(route, provider, &bytes)?
            } else {
                translate_request(route, provider, &bytes)?
            };
            let translated =
                ClientRequest { method: Method::POST, path: &path, query: query.as_deref(), headers: client.headers };
            let prepared = PreparedBody { bytes: body, strip_usage_chunk: false };
            send_upstream(context, &translated, &prepared, shape).await
        }
        _ => {
            let prepared = prepare_body(route, client.path, bytes);
            let shape = AnswerShape::Native { strip_usage_chunk: prepared.strip_usage_chunk };
            send_upstream(context, client, &prepared, shape).await
        }
    }
}

/// Sends to the route's upstreams in fallback order and relays the first usable answer.
async fn send_upstream(
    context: &RequestContext,
    client: &ClientRequest<'_>,
    prepared: &PreparedBody,
    shape: AnswerShape,
) -> Result<Response, GatewayError> {
    let state = &context.state;
    let route = &context.route;
    let order = upstream_peers(state, route);
    let mut last_error = None;
    for (attempt, index) in order.iter().enumerate() {
        let upstream = &route.upstreams[*index];
        let is_last = attempt + 1 == order.len();
        let request = match upstream_request(route, upstream, client, prepared) {
            Ok(request) => request,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        if attempt == 0 {
            state.metrics.overhead(context.started.elapsed().as_secs_f64());
        }
        let sent = tokio::time::timeout(state.timeouts.first_byte, state.client.send(request)).await;
        let response = match sent {
            Err(_) => {
                last_error = Some(GatewayError::upstream_timeout(format!(
                    "connection '{}' sent no response within {} s",
                    upstream.connection,
                    state.timeouts.first_byte.as_secs()
                )));
                continue;
            }
            Ok(Err(error)) => {
                tracing::warn!(connection = %upstream.connection, model = %route.name, error = %error.detail, "upstream request failed");
                last_error = Some(if error.timed_out {
                    GatewayError::upstream_timeout(format!(
                        "connecting to connection '{}' timed out",
                        upstream.connection
                    ))
                } else {
                    GatewayError::upstream_unavailable(format!(
                        "connection '{}' could not be reached",
                        upstream.connection
                    ))
                });
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) && !is_last {
            tracing::info!(connection = %upstream.connection, %status, "falling back to the next connection");
            rest(state, route, upstream, response.headers());
            continue;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            rest(state, route, upstream, response.headers());
        }
        return Ok(relay(context, response, shape));
    }
    Err(last_error.unwrap_or_else(|| GatewayError::upstream_unavailable("no connection answered")))
}

/// The `content-length` a response announces, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn relay(context: &RequestContext, response: UpstreamResponse, shape: AnswerShape) -> Response {
    let ttfb = context.started.elapsed();
    let (parts, upstream_body) = response.into_parts();
    let status = parts.status;
    // The provider's headers are relayed in their own map, minus those that describe the
    // upstream connection or a body that is rewritten.
    let mut headers = parts.headers;
    let sse =
        headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"));
    let rewrites_body = !matches!(shape, AnswerShape::Native { strip_usage_chunk: false });
    let expected_length = if rewrites_body { None } else { content_length(&headers) };
    for name in &HOP_BY_HOP_RESPONSE {
        headers.remove(name);
    }
    if rewrites_body {
        headers.remove(CONTENT_LENGTH);
    }
    if !matches!(shape, AnswerShape::Native { .. }) {
        headers.remove(CONTENT_TYPE);
    }
    let processor: Box<dyn BodyProcessor> = match shape {
        AnswerShape::Native { strip_usage_chunk } => {
            Box::new(UsageTap::new(context.route.family, sse, strip_usage_chunk))
        }
        AnswerShape::Translated { provider, stream, context: answer } => {
            if stream && status.is_success() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                Box::new(StreamTranslation::new(provider, answer))
            } else {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Box::new(WholeTranslation::new(provider, Answer::Chat(answer), status.as_u16()))
            }
        }
        AnswerShape::TranslatedEmbeddings { provider, model } => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Box::new(WholeTranslation::new(provider, Answer::Embeddings(model), status.as_u16()))
        }
    };
    let logging = Box::new(Logging {
        context: RequestContext {
            state: context.state.clone(),
            route: context.route.clone(),
            caller: context.caller.clone(),
            started: context.started,
            at: context.at,
        },
        ttfb,
    });
    let body = Relay::new(
        upstream_body.map_err(Into::into).boxed_unsync(),
        processor,
        context.state.timeouts.idle,
        status.as_u16(),
        expected_length,
        logging,
    );
    let mut relayed = Response::new(Body::from_stream(body));
    *relayed.status_mut() = status;
    *relayed.headers_mut() = headers;
    relayed
}
