//! The `logging` step: when a request ends, its usage record goes to the batch writer, its
//! limit windows' reservation is settled to its tokens and its status goes to the metrics.
//! Refusals after the route is known are recorded here too, with their status and no tokens.

use super::context::RequestContext;
use crate::gateway_error::GatewayError;
use crate::relay::{OnFinish, CLIENT_CLOSED};
use crate::spend::cost_nano_usd;
use crate::usage_tap::Usage;
use axum::response::Response;
use modelgate_domain::usage::{UsageRecord, UsageRecordId};
use std::time::Duration;

impl RequestContext {
    /// Records the request with `status` and `usage`; `ttfb` when a provider answered.
    pub fn record(&self, status: u16, usage: Usage, ttfb: Option<Duration>) {
        let usage = usage.recorded();
        let state = &self.state;
        let route = &self.route;
        let reservation = self.take_reservation();
        // A client that hung up before any usage arrived leaves tokens the provider may still
        // bill: its windows keep what the request held, rather than count nothing (which would
        // let hanging up early slip past every limit and budget).
        if status != CLIENT_CLOSED || usage.has_tokens() {
            state.limiter.settle(route, self.counted_as(), reservation, usage, state.clock.now_secs());
        }
        let provider = route.runtime_type.as_str();
        let cost = route.price.as_ref().and_then(|price| cost_nano_usd(price, &usage));
        state.metrics.request(&route.workspace, &route.name, provider, status, &usage, cost);
        if let Some(ttfb) = ttfb {
            state.metrics.upstream_first_byte(provider, ttfb.as_secs_f64());
        }
        state.usage.record(UsageRecord {
            id: Some(UsageRecordId::next()),
            at: self.at,
            workspace: route.workspace.clone(),
            model: route.name.clone(),
            subject: self.caller.subject.clone(),
            key_id: self.caller.key_id.clone(),
            provider: provider.to_string(),
            status,
            input_tokens: usage.input,
            output_tokens: usage.output,
            total_tokens: usage.total,
            cache_read_tokens: usage.cache_read,
            cache_write_tokens: usage.cache_write,
            cost_nano_usd: cost,
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttfb_ms: ttfb.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        });
    }

    /// Records a request the gateway answers with `error`, and answers it.
    pub fn fail(&self, error: GatewayError) -> Response {
        self.record(error.status.as_u16(), Usage::default(), None);
        error.into_response_shaped(self.error_shape)
    }
}

/// Records the request when its relayed body is over.
pub(super) struct Logging {
    pub context: RequestContext,
    pub ttfb: Duration,
}

impl OnFinish for Logging {
    fn finish(self: Box<Self>, status: u16, usage: Usage) {
        self.context.record(status, usage, Some(self.ttfb));
    }
}
