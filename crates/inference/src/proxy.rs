//! The request path, in phases named as Pingora names them:
//! `request_filter` (caller, route, enabled, policies, limits), `upstream_peer` (the next usable
//! connection, in fallback order), `upstream_request` (URL, headers, body for that provider),
//! the response relay, and `logging` (the usage record).

use crate::caller::{authenticate, credential, Caller};
use crate::gateway_error::GatewayError;
use crate::relay::{OnFinish, Relay};
use crate::snapshot::{Route, Upstream};
use crate::upstream_request::{prepare_body, upstream_headers, upstream_query, upstream_url_parts, PreparedBody};
use crate::usage_tap::{Usage, UsageTap};
use crate::InferencePlane;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::usage::UsageRecord;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Response headers that describe the upstream connection, not the message.
const HOP_BY_HOP_RESPONSE: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer", "te"];
/// Longest `Retry-After` honoured as a connection's rest.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

pub async fn no_route(method: Method, uri: Uri) -> GatewayError {
    GatewayError::route_not_found(format!(
        "no route for {method} {}: model endpoints are served at /{{workspace}}/models/{{model}}/{{provider path}}",
        uri.path()
    ))
}

pub async fn handle_base(
    State(state): State<Arc<InferencePlane>>,
    Path((workspace, model)): Path<(String, String)>,
    request: Request,
) -> Response {
    serve(state, workspace, model, String::new(), request).await
}

pub async fn handle(
    State(state): State<Arc<InferencePlane>>,
    Path((workspace, model, path)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    serve(state, workspace, model, format!("/{path}"), request).await
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

async fn serve(
    state: Arc<InferencePlane>,
    workspace: String,
    model: String,
    path: String,
    request: Request,
) -> Response {
    let started = Instant::now();
    let at = now_micros();
    let (parts, body) = request.into_parts();
    let (route, caller) = match identify(&state, &workspace, &model, &parts.headers, &parts.uri, at) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let context = RequestContext { state: state.clone(), route, caller, started, at };
    if let Err(error) = admit(&state, &context.route, context.counted_as()) {
        context.record(error.status.as_u16(), Usage::default(), None);
        return error.into_response();
    }
    let client = ClientRequest { method: parts.method, path: &path, query: parts.uri.query(), headers: &parts.headers };
    match proxy(&context, &client, body).await {
        Ok(response) => response,
        Err(error) => {
            context.record(error.status.as_u16(), Usage::default(), None);
            error.into_response()
        }
    }
}

/// The `request_filter` phase, first half: who calls, and which route. Refusals here are not
/// metered (there is no route or caller to attribute them to).
fn identify(
    state: &InferencePlane,
    workspace: &str,
    model: &str,
    headers: &HeaderMap,
    uri: &Uri,
    now: i64,
) -> Result<(Arc<Route>, Caller), GatewayError> {
    let snapshot = state.snapshot.get();
    let caller =
        authenticate(&snapshot, state.snapshot.keyring(), credential(headers, query_key(uri)), workspace, now)?;
    let route = snapshot.route(workspace, model).cloned().ok_or_else(|| {
        GatewayError::route_not_found(format!("model '{model}' does not exist in workspace '{workspace}'"))
    })?;
    Ok((route, caller))
}

/// The `request_filter` phase, second half: whether the route may be served now.
fn admit(state: &InferencePlane, route: &Route, caller: &str) -> Result<(), GatewayError> {
    let model = &route.name;
    if !route.enabled {
        return Err(GatewayError::model_disabled(format!("model '{model}' is disabled (spec.enabled is false)")));
    }
    check_location(state, route)?;
    if let Err((policy, retry_after)) = state.limiter.admit(route, caller, state.clock.now_secs()) {
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
    state: &InferencePlane,
    route: &Route,
    upstream: &Upstream,
    client: &ClientRequest<'_>,
    body: &PreparedBody,
) -> Result<reqwest::RequestBuilder, GatewayError> {
    let (base, upstream_path) = upstream_url_parts(route, upstream, client.path)?;
    let query = upstream_query(route, client.query);
    let url =
        if query.is_empty() { format!("{base}{upstream_path}") } else { format!("{base}{upstream_path}?{query}") };
    // `Bytes` clones share the buffer: each fallback attempt sends the same body without a copy.
    Ok(state
        .client
        .request(client.method.clone(), url)
        .headers(upstream_headers(route, upstream, client.headers))
        .body(body.bytes.clone()))
}

async fn proxy(context: &RequestContext, client: &ClientRequest<'_>, body: Body) -> Result<Response, GatewayError> {
    let state = &context.state;
    let route = &context.route;
    if route.upstreams.is_empty() {
        return Err(GatewayError::upstream_unavailable(format!(
            "model '{}' has no usable connection: {}",
            route.name,
            route.unusable.join("; ")
        )));
    }
    let bytes = axum::body::to_bytes(body, state.max_body_bytes).await.map_err(|_| {
        GatewayError::payload_too_large(format!("the request body exceeds {} bytes", state.max_body_bytes))
    })?;
    let prepared = prepare_body(route, client.path, bytes);
    let order = upstream_peers(state, route);
    let mut last_error = None;
    for (attempt, index) in order.iter().enumerate() {
        let upstream = &route.upstreams[*index];
        let is_last = attempt + 1 == order.len();
        let request = upstream_request(state, route, upstream, client, &prepared)?;
        if attempt == 0 {
            state.metrics.overhead(context.started.elapsed().as_secs_f64());
        }
        let sent = tokio::time::timeout(state.timeouts.first_byte, request.send()).await;
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
                tracing::warn!(connection = %upstream.connection, model = %route.name, error = %error, "upstream request failed");
                last_error = Some(if error.is_timeout() {
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
        return Ok(relay(context, response, &prepared));
    }
    Err(last_error.unwrap_or_else(|| GatewayError::upstream_unavailable("no connection answered")))
}

fn relay(context: &RequestContext, response: reqwest::Response, prepared: &PreparedBody) -> Response {
    let ttfb = context.started.elapsed();
    let status = response.status();
    let sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut builder = Response::builder().status(status);
    for (name, value) in response.headers() {
        let rewritten_length = prepared.strip_usage_chunk && name == "content-length";
        if !HOP_BY_HOP_RESPONSE.contains(&name.as_str()) && !rewritten_length {
            builder = builder.header(name, value);
        }
    }
    let tap = UsageTap::new(context.route.family, sse, prepared.strip_usage_chunk);
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
    let expected_length = if prepared.strip_usage_chunk { None } else { response.content_length() };
    let body = Relay::new(
        Box::pin(response.bytes_stream()),
        tap,
        context.state.timeouts.idle,
        status.as_u16(),
        expected_length,
        logging,
    );
    builder.body(Body::from_stream(body)).unwrap_or_else(|_| {
        GatewayError::upstream_unavailable("the provider's response headers could not be relayed").into_response()
    })
}
