//! Prometheus metrics of the inference plane. Label values come from configuration (workspace,
//! model, provider) and from status codes, never from request content, so label sets stay
//! bounded.

use crate::limiter::{Limiter, RedisState};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(&'static str, String)>;

/// The metrics, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    upstream_latency: Family<Labels, Histogram>,
    gateway_overhead: Histogram,
    usage_dropped: Gauge<u64, AtomicU64>,
    snapshot_age: Gauge<f64, AtomicU64>,
    routes: Gauge,
    redis_up: Gauge,
    limit_local_fallbacks: Counter<u64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("modelgate");
        let requests = Family::<Labels, Counter>::default();
        registry.register("requests", "Inference requests by workspace, model, provider and status", requests.clone());
        let tokens = Family::<Labels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens by workspace, model, provider and direction (input, output)",
            tokens.clone(),
        );
        let upstream_latency =
            Family::<Labels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "upstream_first_byte_seconds",
            "Time from a request's arrival to the provider's response headers, by provider",
            upstream_latency.clone(),
        );
        let gateway_overhead = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gateway_overhead_seconds",
            "Time modelgate spends on a request before sending it upstream (auth, routing, body)",
            gateway_overhead.clone(),
        );
        let usage_dropped = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "usage_records_dropped",
            "Usage records dropped because the writer was full",
            usage_dropped.clone(),
        );
        let snapshot_age = Gauge::<f64, AtomicU64>::default();
        registry.register("snapshot_age_seconds", "Age of the route snapshot in use", snapshot_age.clone());
        let routes = Gauge::default();
        registry.register("routes", "Model routes in the snapshot", routes.clone());
        let redis_up = Gauge::default();
        registry.register(
            "limits_redis_up",
            "Whether maxToken and rate-limit windows are shared through Redis (1) or counted on this node only (0)",
            redis_up.clone(),
        );
        let limit_local_fallbacks = Counter::<u64, AtomicU64>::default();
        registry.register(
            "limit_local_fallbacks",
            "Limit checks and token additions counted on this node only because Redis did not answer",
            limit_local_fallbacks.clone(),
        );
        Metrics {
            registry,
            requests,
            tokens,
            upstream_latency,
            gateway_overhead,
            usage_dropped,
            snapshot_age,
            routes,
            redis_up,
            limit_local_fallbacks,
        }
    }
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, workspace: &str, model: &str, provider: &str, status: u16, input: i64, output: i64) {
        let labels = |extra: (&'static str, String)| {
            vec![
                ("workspace", workspace.to_string()),
                ("model", model.to_string()),
                ("provider", provider.to_string()),
                extra,
            ]
        };
        self.requests.get_or_create(&labels(("status", status.to_string()))).inc();
        if input > 0 {
            self.tokens.get_or_create(&labels(("direction", "input".into()))).inc_by(input.unsigned_abs());
        }
        if output > 0 {
            self.tokens.get_or_create(&labels(("direction", "output".into()))).inc_by(output.unsigned_abs());
        }
    }

    /// Observes the time to the provider's response headers.
    pub fn upstream_first_byte(&self, provider: &str, seconds: f64) {
        self.upstream_latency.get_or_create(&vec![("provider", provider.to_string())]).observe(seconds);
    }

    /// Observes the gateway's own time before sending upstream.
    pub fn overhead(&self, seconds: f64) {
        self.gateway_overhead.observe(seconds);
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, snapshot_age_seconds: f64, routes: usize, usage_dropped: u64, limiter: &Limiter) -> String {
        self.snapshot_age.set(snapshot_age_seconds);
        self.redis_up.set(i64::from(limiter.redis_state() == RedisState::Up));
        let fallbacks = limiter.local_fallbacks();
        self.limit_local_fallbacks.inc_by(fallbacks.saturating_sub(self.limit_local_fallbacks.get()));
        self.routes.set(i64::try_from(routes).unwrap_or(i64::MAX));
        self.usage_dropped.set(usage_dropped);
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.request("default", "gpt", "openai", 200, 7, 3);
        metrics.request("default", "gpt", "openai", 200, 1, 1);
        metrics.upstream_first_byte("openai", 0.02);
        metrics.overhead(0.0001);
        let text = metrics.render(1.5, 4, 2, &Limiter::local());
        assert!(
            text.contains(
                r#"modelgate_requests_total{workspace="default",model="gpt",provider="openai",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"modelgate_tokens_total{workspace="default",model="gpt",provider="openai",direction="input"} 8"#
            ),
            "{text}"
        );
        assert!(text.contains("modelgate_upstream_first_byte_seconds_count{provider=\"openai\"} 1"), "{text}");
        assert!(text.contains("modelgate_snapshot_age_seconds 1.5"), "{text}");
        assert!(text.contains("modelgate_routes 4"));
        assert!(text.contains("modelgate_usage_records_dropped 2"));
        assert!(text.contains("modelgate_limits_redis_up 0"), "{text}");
        assert!(text.contains("modelgate_limit_local_fallbacks_total 0"), "{text}");
    }
}
