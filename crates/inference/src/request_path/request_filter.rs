//! The `request_filter` step: who calls (a modelgate credential from any SDK's header, checked
//! against the snapshot), which route, and whether that route may serve now (readable
//! configuration, enabled, location, maxToken windows). Refusals before the route is known are
//! not metered (there is nothing to attribute them to); refusals after it are.

use super::context::RequestContext;
use crate::caller::{authenticate, credential, Caller};
use crate::gateway_error::GatewayError;
use crate::reservation::Reservation;
use crate::snapshot::{Route, Snapshot, TokenLimit};
use crate::InferencePlane;
use axum::http::{HeaderMap, Uri};
use modelgate_domain::PolicyLocationType;
use std::sync::Arc;

/// The caller of a request to `workspace`, from its credential.
pub(super) fn identify(
    state: &InferencePlane,
    snapshot: &Snapshot,
    workspace: &str,
    headers: &HeaderMap,
    uri: &Uri,
    now: i64,
) -> Result<Caller, GatewayError> {
    authenticate(snapshot, state.snapshot.keyring(), credential(headers, query_key(uri)), workspace, now)
}

/// Gemini's SDKs send their API key as `?key=`.
fn query_key(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("key="))
}

/// The route of `model` in `workspace`.
pub(super) fn route(snapshot: &Snapshot, workspace: &str, model: &str) -> Result<Arc<Route>, GatewayError> {
    snapshot.route(workspace, model).cloned().ok_or_else(|| {
        GatewayError::route_not_found(format!("model '{model}' does not exist in workspace '{workspace}'"))
    })
}

/// Whether the route may be served now; with maxToken limits, what the request (whose body is
/// `body`) holds in their windows until it is settled.
pub(super) async fn admit(context: &RequestContext, body: &[u8]) -> Result<Option<Reservation>, GatewayError> {
    let state = &context.state;
    let route = &context.route;
    let model = &route.name;
    if let Some(reason) = &route.refusal {
        return Err(GatewayError::model_misconfigured(format!(
            "model '{model}' is not served: {reason}; fix or re-save it through the control plane"
        )));
    }
    if !route.enabled {
        return Err(GatewayError::model_disabled(format!("model '{model}' is disabled (spec.enabled is false)")));
    }
    check_location(state, route)?;
    let now = state.clock.now_secs();
    state.limiter.reserve(route, context.counted_as(), body, now).await.map_err(|(policy, retry_after)| {
        let limit = route.token_limits.iter().find(|limit| limit.policy == policy);
        let what = limit.map(describe).unwrap_or_default();
        GatewayError::usage_limit_exceeded(
            format!("policy '{policy}' limit reached for model '{model}' in this window{what}"),
            u64::try_from(retry_after).unwrap_or(1),
        )
    })
}

/// What a limit allows, for the refusal's message: ` (budget US$25.00, 1000 requests per 1 day,
/// per key, across the workspace's models)`.
fn describe(limit: &TokenLimit) -> String {
    let limits = &limit.limits;
    let mut allows = Vec::new();
    if let Some(budget) = limits.cost_usd.filter(|budget| *budget > 0.0) {
        allows.push(format!("budget US${budget:.2}"));
    }
    for (name, value) in [
        ("requests", limits.requests),
        ("input tokens", limits.input),
        ("output tokens", limits.output),
        ("tokens", limits.total),
    ] {
        if let Some(value) = value.filter(|v| *v > 0) {
            allows.push(format!("{value} {name}"));
        }
    }
    let granularity = limits.granularity.as_deref().unwrap_or("month");
    let mut text = format!(" ({} per {} {granularity}", allows.join(", "), limits.step.unwrap_or(1));
    if limits.per_key == Some(true) {
        text.push_str(", per key");
    }
    if limit.is_workspace_wide() {
        text.push_str(", across the workspace's models");
    }
    text.push(')');
    text
}

fn check_location(state: &InferencePlane, route: &Route) -> Result<(), GatewayError> {
    if route.locations.is_empty() {
        return Ok(());
    }
    let node = &state.location;
    let allowed = route.locations.iter().any(|allowed| {
        let Some(name) = allowed.name.as_deref() else { return false };
        let node_value = match allowed.kind {
            Some(PolicyLocationType::Country) => node.country.as_deref(),
            Some(PolicyLocationType::Continent) => node.continent.as_deref(),
            Some(PolicyLocationType::Location) => node.location.as_deref(),
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
