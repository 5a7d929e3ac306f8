//! modelgate's inference plane: `{RUN_URL}/{workspace}/models/{model}/{path}`, the hot path.
//!
//! The request path is `request_path`, one module per step (see its docs and ARCHITECTURE.md).
//! API boundary: [`app`] over an [`InferencePlane`]; [`SnapshotHandle::reload`] after every
//! configuration change.
//! Invariants: no database call and no lock held across an await on the request path
//! (configuration comes from the lock-free [`snapshot`]); request bodies are read once and sent
//! to each fallback upstream without a copy; response bodies are relayed as they arrive, never
//! buffered; usage records leave through a non-blocking [`UsageSink`].

mod caller;
mod chat_translation;
mod endpoint;
mod gateway_error;
mod json_scan;
pub mod limiter;
mod messages_ingress;
pub mod metrics;
#[cfg(test)]
mod properties;
pub mod redis_counters;
pub mod relay;
mod request_path;
pub mod reservation;
mod responses_translation;
mod route_table;
pub mod snapshot;
pub mod spend;
mod sse;
pub mod token_limits;
pub mod upstream_client;
pub mod upstream_request;
pub mod usage_tap;

pub use gateway_error::GatewayError;
pub use limiter::{Limiter, RedisState};
pub use redis_counters::RedisCounters;
pub use snapshot::SnapshotHandle;
pub use token_limits::{Clock, SystemClock};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use modelgate_domain::usage::UsageRecord;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Where usage records go; must never block.
pub trait UsageSink: Send + Sync {
    fn record(&self, record: UsageRecord);
}

/// Timeouts of upstream calls. There is no total timeout: long streams live as long as they
/// keep sending.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To open a connection to the provider.
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(120),
        }
    }
}

/// Where this node runs, for `location` policies (compared case-insensitively).
#[derive(Clone, Debug, Default)]
pub struct NodeLocation {
    pub country: Option<String>,
    pub continent: Option<String>,
    pub location: Option<String>,
}

/// Everything the request path shares.
pub struct InferencePlane {
    pub snapshot: Arc<SnapshotHandle>,
    pub client: upstream_client::UpstreamClient,
    pub usage: Arc<dyn UsageSink>,
    /// `maxToken` windows, per node or shared through Redis.
    pub limiter: limiter::Limiter,
    pub clock: Arc<dyn Clock>,
    pub timeouts: Timeouts,
    pub location: NodeLocation,
    /// How request bodies are read: size limit, time limit, the node's budget of body bytes.
    pub body_limits: modelgate_body::BodyLimits,
    pub metrics: metrics::Metrics,
}

/// Default size limit of [`InferencePlane::body_limits`] (requests carry images and documents).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

impl InferencePlane {
    /// A plane with a pooled HTTP client built for `timeouts`.
    pub fn new(
        snapshot: Arc<SnapshotHandle>,
        usage: Arc<dyn UsageSink>,
        timeouts: Timeouts,
        location: NodeLocation,
    ) -> InferencePlane {
        let client = upstream_client::UpstreamClient::new(timeouts.connect);
        InferencePlane {
            snapshot,
            client,
            usage,
            limiter: Default::default(),
            clock: Arc::new(SystemClock),
            timeouts,
            location,
            body_limits: modelgate_body::BodyLimits::new(
                DEFAULT_MAX_BODY_BYTES,
                Some(modelgate_body::DEFAULT_TIMEOUT),
                modelgate_body::DEFAULT_BUDGET_BYTES,
            ),
            metrics: Default::default(),
        }
    }
}

impl InferencePlane {
    /// The Prometheus text exposition; `usage` comes from the usage writer.
    pub fn render_metrics(&self, usage: modelgate_store::UsageWriterStats) -> String {
        let snapshot = self.snapshot.get();
        let age = snapshot.built_at.and_then(|t| t.elapsed().ok()).map_or(0.0, |d| d.as_secs_f64());
        self.metrics.render(age, snapshot.route_count(), usage, &self.limiter)
    }
}

/// The inference-plane application: a tower `Service` over axum requests that reads the
/// endpoint from the path itself (see `endpoint`); `modelgate-server` serves it with hyper.
#[derive(Clone)]
pub struct InferenceApp {
    state: Arc<InferencePlane>,
}

/// The inference-plane application over `state`.
pub fn app(state: Arc<InferencePlane>) -> InferenceApp {
    InferenceApp { state }
}

impl tower_service::Service<Request> for InferenceApp {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::FutureExt;
        let state = self.state.clone();
        Box::pin(async move {
            // A panic (a bug) becomes a 500 in the plane's error shape, counted, instead of a
            // connection dropped without an answer. A panic after the answer has started (in
            // the relay) can only end the connection.
            let answer = std::panic::AssertUnwindSafe(request_path::dispatch(&state, request)).catch_unwind().await;
            Ok(answer.unwrap_or_else(|_| {
                state.metrics.handler_panicked("inference");
                // The panic hook has already logged the message and where it happened.
                tracing::error!("an inference request panicked; answered 500");
                GatewayError::internal("internal error: the request failed inside modelgate; see the server log")
                    .into_response()
            }))
        })
    }
}
