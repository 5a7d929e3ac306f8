//! The request path of the inference plane, one step per module, in the order a request takes
//! them (named after Pingora's phases):
//!
//! 1. `endpoint` (`crate::endpoint`): which endpoint the path names, read without a router.
//! 2. [`request_filter`]: who calls and which route, both from one snapshot; then whether the
//!    route may serve now (readable configuration, enabled, location, maxToken windows).
//! 3. [`plan`]: how the request reaches the provider and how the answer comes back, decided once
//!    per (client API, provider family).
//! 4. [`upstream_peer`]: the route's connections in fallback order, resting ones last.
//! 5. `upstream_request` (`crate::upstream_request`): URL, headers and body for one connection,
//!    sent by the pooled client (`crate::upstream_client`); a connection that fails is an
//!    attempt kept for the log and metrics, and the next one is tried.
//! 6. [`response_filter`]: the provider's answer becomes the client's, relayed as it arrives
//!    (`crate::relay`).
//! 7. [`logging`]: the usage record, metrics and token windows, when the answer ends.
//!
//! [`context::RequestContext`] carries what the steps share once the caller and route are known.

mod context;
mod logging;
mod messages;
mod plan;
mod request_filter;
mod response_filter;
mod upstream_peer;

use crate::endpoint::{endpoint, Endpoint};
use crate::gateway_error::{ErrorSource, GatewayError};
use crate::snapshot::Upstream;
use crate::upstream_client::{UpstreamRequest, UpstreamResponse};
use crate::upstream_request::{upstream_headers, upstream_query, upstream_uri, upstream_url_parts};
use crate::InferencePlane;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use context::RequestContext;
use http_body_util::Full;
use modelgate_domain::timestamp::now_micros;
use plan::{Outgoing, Plan};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use upstream_peer::{rest, upstream_peers};

/// Serves one request of the inference plane.
pub async fn dispatch(state: &Arc<InferencePlane>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let endpoint = match endpoint(parts.uri.path()) {
        Some(Ok(endpoint)) => endpoint,
        Some(Err(error)) => return error.into_response(),
        None => return no_route(&parts.method, &parts.uri).into_response(),
    };
    match endpoint {
        Endpoint::Model { workspace, model, path } => {
            serve(state, &parts, body, &workspace, ModelName::Path(&model), path).await
        }
        Endpoint::WorkspaceChat { workspace } if parts.method == Method::POST => {
            serve(state, &parts, body, &workspace, ModelName::Body, "/v1/chat/completions").await
        }
        Endpoint::WorkspaceEmbeddings { workspace } if parts.method == Method::POST => {
            serve(state, &parts, body, &workspace, ModelName::Body, "/v1/embeddings").await
        }
        Endpoint::WorkspaceResponses { workspace } if parts.method == Method::POST => {
            serve(state, &parts, body, &workspace, ModelName::Body, "/v1/responses").await
        }
        Endpoint::WorkspaceMessages { workspace, path } if parts.method == Method::POST => {
            serve(state, &parts, body, &workspace, ModelName::Body, path).await
        }
        Endpoint::ListModels { workspace } if parts.method == Method::GET || parts.method == Method::HEAD => {
            list_models(state, &workspace, &parts, None)
        }
        Endpoint::GetModel { workspace, id } if parts.method == Method::GET || parts.method == Method::HEAD => {
            list_models(state, &workspace, &parts, Some(&id))
        }
        Endpoint::WorkspaceChat { .. }
        | Endpoint::WorkspaceEmbeddings { .. }
        | Endpoint::WorkspaceResponses { .. }
        | Endpoint::WorkspaceMessages { .. } => method_not_allowed(&parts, "POST"),
        Endpoint::ListModels { .. } | Endpoint::GetModel { .. } => method_not_allowed(&parts, "GET, HEAD"),
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

/// Which model a request names: in its path, or (workspace-level endpoint) in its body.
enum ModelName<'a> {
    Path(&'a str),
    Body,
}

/// The model a workspace-level request names in its body's `"model"`.
fn model_in_body(bytes: &[u8]) -> Result<String, GatewayError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| GatewayError::bad_request(format!("the body is not JSON: {error}")))?;
    match value.get("model").and_then(|m| m.as_str()) {
        Some(name) => Ok(name.to_string()),
        None => Err(GatewayError::bad_request("name the model endpoint in the body's \"model\"")),
    }
}

/// The pipeline: `request_filter`, then `plan`, the attempts and `response_filter`.
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
    let error_shape = plan::error_shape(path);
    // One snapshot for the whole request: the caller and the route come from one configuration.
    let snapshot = state.snapshot.current();
    let caller = match request_filter::identify(state, &snapshot, workspace, &parts.headers, &parts.uri, at) {
        Ok(caller) => caller,
        Err(error) => return error.into_response_shaped(error_shape),
    };
    // The body is read only once the caller is known, and not at all when its declared length
    // is already over the limit; it holds its bytes in the node's budget until the answer starts.
    let body = match modelgate_body::read(body, declared_length(&parts.headers), &state.body_limits).await {
        Ok(body) => body,
        Err(error) => return GatewayError::unreadable_body(error).into_response_shaped(error_shape),
    };
    let bytes = body.bytes().clone();
    let model: Cow<'_, str> = match model {
        ModelName::Path(name) => Cow::Borrowed(name),
        ModelName::Body => match model_in_body(&bytes) {
            Ok(name) => Cow::Owned(name),
            Err(error) => return error.into_response_shaped(error_shape),
        },
    };
    let route = match request_filter::route(&snapshot, workspace, &model) {
        Ok(route) => route,
        Err(error) => return error.into_response_shaped(error_shape),
    };
    drop(snapshot);
    let mut context = RequestContext {
        state: state.clone(),
        route,
        caller,
        started,
        at,
        reservation: None,
        settled: Default::default(),
        error_shape,
    };
    match request_filter::admit(&context, &bytes).await {
        Ok(reservation) => context.reservation = reservation,
        Err(error) => return context.fail(error),
    }
    let client = ClientRequest { method: &parts.method, path, query: parts.uri.query(), headers: &parts.headers };
    let response = proxy(context, &client, bytes).await;
    drop(body);
    response
}

/// The body length a request declares in `content-length`, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// What the client asked, as each upstream request is built from it.
struct ClientRequest<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
}

async fn proxy(context: RequestContext, client: &ClientRequest<'_>, bytes: Bytes) -> Response {
    let route = &context.route;
    if route.upstreams.is_empty() {
        let reasons = route.unusable.join("; ");
        let error =
            GatewayError::upstream_unavailable(format!("model '{}' has no usable connection: {reasons}", route.name))
                .from_source(ErrorSource::Gateway);
        return context.fail(error);
    }
    let plan = match plan::plan(route, client.method, client.path, bytes) {
        Ok(plan) => plan,
        Err(error) => return context.fail(error),
    };
    match send_to_peers(&context, client, &plan).await {
        Ok(response) => response_filter::relay(context, response, plan.answer_shape()),
        Err(error) => context.fail(error),
    }
}

/// A connection tried without an answer to relay.
struct FailedAttempt<'a> {
    connection: &'a str,
    error: GatewayError,
}

/// Sends to the route's upstreams in fallback order and returns the first answer to relay. A
/// connection that cannot be reached, times out, or answers 429 or 5xx while another remains is
/// a failed attempt: logged, counted, and the next one is tried. The last connection's 429 or
/// 5xx is relayed as the provider sent it.
async fn send_to_peers(
    context: &RequestContext,
    client: &ClientRequest<'_>,
    plan: &Plan,
) -> Result<UpstreamResponse, GatewayError> {
    let route = &context.route;
    let peers = upstream_peers(route);
    let mut failed: Vec<FailedAttempt<'_>> = Vec::new();
    for attempt in 0..peers.len() {
        let Some(upstream) = peers.get(attempt) else { break };
        let is_last = attempt + 1 == peers.len();
        let response = match send_once(context, client, plan, upstream, attempt == 0).await {
            Ok(response) => response,
            // The request itself is wrong: no other connection changes that.
            Err(error) if error.source == ErrorSource::Client => return Err(error),
            Err(error) => {
                failed.push(count_failure(context, upstream, error));
                continue;
            }
        };
        let status = response.status();
        let refused = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        if refused && !is_last {
            rest(upstream, response.headers());
            let error =
                GatewayError::upstream_unavailable(format!("connection '{}' answered {status}", upstream.connection));
            failed.push(count_failure(context, upstream, error));
            continue;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            rest(upstream, response.headers());
        }
        log_failed_attempts(context, &failed, "relaying the next connection's answer");
        return Ok(response);
    }
    log_failed_attempts(context, &failed, "no connection answered");
    Err(failed.pop().map_or_else(|| GatewayError::upstream_unavailable("no connection answered"), |f| f.error))
}

/// Builds and sends the request for one connection; `Err` when no answer came.
async fn send_once(
    context: &RequestContext,
    client: &ClientRequest<'_>,
    plan: &Plan,
    upstream: &Upstream,
    first: bool,
) -> Result<UpstreamResponse, GatewayError> {
    let state = &context.state;
    let outgoing = plan.outgoing(upstream, client.method, client.path, client.query)?;
    let request = upstream_request(context, upstream, client.headers, outgoing)?;
    if first {
        state.metrics.overhead(context.started.elapsed().as_secs_f64());
    }
    match tokio::time::timeout(state.timeouts.first_byte, state.client.send(request)).await {
        Ok(Ok(response)) => Ok(response),
        Err(_) => Err(GatewayError::upstream_timeout(format!(
            "connection '{}' sent no response within {} s",
            upstream.connection,
            state.timeouts.first_byte.as_secs()
        ))),
        Ok(Err(error)) if error.timed_out => {
            Err(GatewayError::upstream_timeout(format!("connecting to connection '{}' timed out", upstream.connection))
                .caused_by(&error.detail))
        }
        Ok(Err(error)) => Err(GatewayError::upstream_unavailable(format!(
            "connection '{}' could not be reached",
            upstream.connection
        ))
        .caused_by(&error.detail)),
    }
}

/// The `upstream_request` step for one connection: the provider's URL, the headers (client
/// credentials out, the connection's in) and the planned body.
fn upstream_request(
    context: &RequestContext,
    upstream: &Upstream,
    client_headers: &HeaderMap,
    outgoing: Outgoing<'_>,
) -> Result<UpstreamRequest, GatewayError> {
    let route = &context.route;
    let (base, upstream_path) = upstream_url_parts(route, upstream, &outgoing.path)?;
    let query = upstream_query(route, outgoing.query.as_deref());
    let uri = upstream_uri(&base, upstream, &upstream_path, &query).ok_or_else(|| {
        GatewayError::upstream_unavailable(format!(
            "connection '{}' and this request do not make a valid provider URL",
            upstream.connection
        ))
        .from_source(ErrorSource::Gateway)
    })?;
    let mut request = UpstreamRequest::new(Full::new(outgoing.body));
    *request.method_mut() = outgoing.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = upstream_headers(route, upstream, client_headers);
    Ok(request)
}

/// Counts a failed attempt in the metrics and keeps it for the log.
fn count_failure<'a>(context: &RequestContext, upstream: &'a Upstream, error: GatewayError) -> FailedAttempt<'a> {
    context.state.metrics.upstream_attempt_failed(
        context.route.runtime_type.as_str(),
        error.source.as_str(),
        error.code,
    );
    FailedAttempt { connection: &upstream.connection, error }
}

/// One log line for a request whose attempts failed, naming every attempt and its cause.
fn log_failed_attempts(context: &RequestContext, failed: &[FailedAttempt<'_>], outcome: &str) {
    if failed.is_empty() {
        return;
    }
    let attempts: Vec<String> = failed
        .iter()
        .map(|f| {
            let cause = f.error.cause.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            format!("{}: {} {} {}{cause}", f.connection, f.error.source.as_str(), f.error.code, f.error.message)
        })
        .collect();
    tracing::warn!(
        workspace = %context.route.workspace,
        model = %context.route.name,
        attempts = %attempts.join("; "),
        "{} connection(s) failed, {outcome}",
        failed.len()
    );
}

/// `GET {RUN_URL}/{workspace}/v1/models`: the workspace's model endpoints in OpenAI's format.
/// The workspace's enabled models in OpenAI's list format, or (`id` given) the one named, 404 if
/// it is not there.
fn list_models(state: &InferencePlane, workspace: &str, parts: &Parts, id: Option<&str>) -> Response {
    let snapshot = state.snapshot.get();
    if let Err(error) = request_filter::identify(state, &snapshot, workspace, &parts.headers, &parts.uri, now_micros())
    {
        return error.into_response();
    }
    let describe = |route: &crate::snapshot::Route| serde_json::json!({"id": route.name, "object": "model", "created": route.created, "owned_by": route.runtime_type.as_str()});
    if let Some(id) = id {
        return match snapshot.route(workspace, id).filter(|route| route.enabled) {
            Some(route) => axum::Json(describe(route)).into_response(),
            None => GatewayError::route_not_found(format!("model '{id}' does not exist in workspace '{workspace}'"))
                .into_response(),
        };
    }
    let mut models: Vec<serde_json::Value> =
        snapshot.routes_in(workspace).filter(|route| route.enabled).map(|route| describe(route)).collect();
    models.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    axum::Json(serde_json::json!({"object": "list", "data": models})).into_response()
}
