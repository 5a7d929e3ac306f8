//! Prometheus metrics of the inference plane. Label values come from configuration (workspace,
//! model, provider) and from status codes, never from request content, so label sets stay
//! bounded.

use crate::limiter::{Limiter, RedisState};
use crate::usage_tap::Usage;
use modelgate_domain::usage::usd;
use modelgate_store::UsageWriterStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

type Labels = Vec<(&'static str, String)>;

fn spend_labels(workspace: &str, model: &str) -> Labels {
    vec![("workspace", workspace.to_string()), ("model", model.to_string())]
}

/// The series a successful request of one (workspace, model, provider) counts into, looked up
/// once: building and hashing four label strings per series per request cost more than the rest
/// of the request's bookkeeping.
struct RouteSeries {
    provider: String,
    ok: Counter,
    input: Counter,
    output: Counter,
    /// Made at the first priced request, so a model without a price shows no spend at all
    /// (rather than a spend of 0).
    cost: OnceLock<CostCounter>,
    /// Made at the first request without a price.
    unpriced: OnceLock<Counter>,
}

type CostCounter = Counter<f64, AtomicU64>;

/// Handles by workspace, then model; a model's provider can change, so each entry names it.
type SeriesCache = hashbrown::HashMap<String, hashbrown::HashMap<String, Vec<RouteSeries>>>;

/// The metrics, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    cost: Family<Labels, CostCounter>,
    unpriced: Family<Labels, Counter>,
    upstream_latency: Family<Labels, Histogram>,
    upstream_attempt_failures: Family<Labels, Counter>,
    gateway_overhead: Histogram,
    usage: Arc<Mutex<UsageWriterStats>>,
    snapshot_age: Gauge<f64, AtomicU64>,
    routes: Gauge,
    redis_up: Gauge,
    limit_local_fallbacks: Counter<u64, AtomicU64>,
    handler_panics: Family<Labels, Counter>,
    series: RwLock<SeriesCache>,
    first_byte_series: RwLock<Vec<(String, Histogram)>>,
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
        let cost = Family::<Labels, CostCounter>::default();
        registry.register(
            "cost_usd",
            "What the requests of each workspace and model cost, in US dollars, priced as their usage records",
            cost.clone(),
        );
        let unpriced = Family::<Labels, Counter>::default();
        registry.register(
            "unpriced_requests",
            "Requests whose model has no known price (their cost is null), by workspace and model",
            unpriced.clone(),
        );
        let upstream_latency =
            Family::<Labels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "upstream_first_byte_seconds",
            "Time from a request's arrival to the provider's response headers, by provider",
            upstream_latency.clone(),
        );
        let upstream_attempt_failures = Family::<Labels, Counter>::default();
        registry.register(
            "upstream_attempt_failures",
            "Connections tried without an answer to relay (fallback went on or the request failed), by provider, \
             where the failure came from (provider, gateway) and its error code",
            upstream_attempt_failures.clone(),
        );
        let gateway_overhead = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gateway_overhead_seconds",
            "Time modelgate spends on a request before sending it upstream (auth, routing, body)",
            gateway_overhead.clone(),
        );
        let usage = Arc::new(Mutex::new(UsageWriterStats::default()));
        registry.register_collector(Box::new(UsageSeries(usage.clone())));
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
        let handler_panics = Family::<Labels, Counter>::default();
        registry.register(
            "handler_panics",
            "Requests whose handler panicked (a bug; answered 500 and logged), by plane (control, inference)",
            handler_panics.clone(),
        );
        Metrics {
            registry,
            requests,
            tokens,
            cost,
            unpriced,
            upstream_latency,
            upstream_attempt_failures,
            gateway_overhead,
            usage,
            snapshot_age,
            routes,
            redis_up,
            limit_local_fallbacks,
            handler_panics,
            series: Default::default(),
            first_byte_series: Default::default(),
        }
    }
}

impl Metrics {
    /// The series a shared [`Limiter`] counts its fallbacks in.
    pub fn limit_local_fallbacks(&self) -> crate::limiter::FallbackCounter {
        self.limit_local_fallbacks.clone()
    }

    /// Counts a finished request: its status, tokens and cost (`None`: its model has no price).
    pub fn request(&self, workspace: &str, model: &str, provider: &str, status: u16, usage: &Usage, cost: Option<i64>) {
        if status != 200 {
            return self.request_uncached(workspace, model, provider, status, usage, cost);
        }
        let count = |series: &RouteSeries| {
            series.ok.inc();
            if usage.input > 0 {
                series.input.inc_by(usage.input.unsigned_abs());
            }
            if usage.output > 0 {
                series.output.inc_by(usage.output.unsigned_abs());
            }
            match cost {
                Some(0) => {}
                Some(nano_usd) => {
                    let spend =
                        series.cost.get_or_init(|| self.cost.get_or_create(&spend_labels(workspace, model)).clone());
                    spend.inc_by(usd(nano_usd));
                }
                None => {
                    let unpriced = series
                        .unpriced
                        .get_or_init(|| self.unpriced.get_or_create(&spend_labels(workspace, model)).clone());
                    unpriced.inc();
                }
            }
        };
        {
            let cache = self.series.read().unwrap_or_else(|p| p.into_inner());
            let found = cache.get(workspace).and_then(|models| models.get(model));
            if let Some(series) = found.and_then(|all| all.iter().find(|s| s.provider == provider)) {
                return count(series);
            }
        }
        let labels = |extra: (&'static str, &str)| -> Labels {
            vec![
                ("workspace", workspace.to_string()),
                ("model", model.to_string()),
                ("provider", provider.to_string()),
                (extra.0, extra.1.to_string()),
            ]
        };
        // One statement each: `get_or_create` returns a read guard of the family, which must be
        // released before the next call on the same family may take its write lock.
        let ok = self.requests.get_or_create(&labels(("status", "200"))).clone();
        let input = self.tokens.get_or_create(&labels(("direction", "input"))).clone();
        let output = self.tokens.get_or_create(&labels(("direction", "output"))).clone();
        let series = RouteSeries {
            provider: provider.to_string(),
            ok,
            input,
            output,
            cost: OnceLock::new(),
            unpriced: OnceLock::new(),
        };
        count(&series);
        let mut cache = self.series.write().unwrap_or_else(|p| p.into_inner());
        let all = cache.entry(workspace.to_string()).or_default().entry(model.to_string()).or_default();
        if !all.iter().any(|s| s.provider == provider) {
            all.push(series);
        }
    }

    /// Counts a request that did not succeed (rarer; looked up by labels).
    fn request_uncached(
        &self,
        workspace: &str,
        model: &str,
        provider: &str,
        status: u16,
        usage: &Usage,
        cost: Option<i64>,
    ) {
        let labels = |extra: (&'static str, String)| {
            vec![
                ("workspace", workspace.to_string()),
                ("model", model.to_string()),
                ("provider", provider.to_string()),
                extra,
            ]
        };
        self.requests.get_or_create(&labels(("status", status.to_string()))).inc();
        if usage.input > 0 {
            self.tokens.get_or_create(&labels(("direction", "input".into()))).inc_by(usage.input.unsigned_abs());
        }
        if usage.output > 0 {
            self.tokens.get_or_create(&labels(("direction", "output".into()))).inc_by(usage.output.unsigned_abs());
        }
        match cost {
            Some(0) => {}
            Some(nano_usd) => {
                self.cost.get_or_create(&spend_labels(workspace, model)).inc_by(usd(nano_usd));
            }
            None => {
                self.unpriced.get_or_create(&spend_labels(workspace, model)).inc();
            }
        }
    }

    /// Observes the time to the provider's response headers.
    pub fn upstream_first_byte(&self, provider: &str, seconds: f64) {
        {
            let cache = self.first_byte_series.read().unwrap_or_else(|p| p.into_inner());
            if let Some((_, histogram)) = cache.iter().find(|(name, _)| name == provider) {
                return histogram.observe(seconds);
            }
        }
        let histogram = self.upstream_latency.get_or_create(&vec![("provider", provider.to_string())]).clone();
        histogram.observe(seconds);
        let mut cache = self.first_byte_series.write().unwrap_or_else(|p| p.into_inner());
        if !cache.iter().any(|(name, _)| name == provider) {
            cache.push((provider.to_string(), histogram));
        }
    }

    /// Counts a connection tried without an answer to relay (not on the path of a request that
    /// succeeds at its first connection).
    pub fn upstream_attempt_failed(&self, provider: &str, source: &'static str, code: &'static str) {
        let labels =
            vec![("provider", provider.to_string()), ("source", source.to_string()), ("code", code.to_string())];
        self.upstream_attempt_failures.get_or_create(&labels).inc();
    }

    /// Counts a request whose handler panicked on `plane` (`control` or `inference`).
    pub fn handler_panicked(&self, plane: &'static str) {
        self.handler_panics.get_or_create(&vec![("plane", plane.to_string())]).inc();
    }

    /// Observes the gateway's own time before sending upstream.
    pub fn overhead(&self, seconds: f64) {
        self.gateway_overhead.observe(seconds);
    }

    /// The text exposition, with the gauges read now.
    pub fn render(
        &self,
        snapshot_age_seconds: f64,
        routes: usize,
        usage: UsageWriterStats,
        limiter: &Limiter,
    ) -> String {
        self.snapshot_age.set(snapshot_age_seconds);
        self.redis_up.set(i64::from(limiter.redis_state() == RedisState::Up));
        self.routes.set(i64::try_from(routes).unwrap_or(i64::MAX));
        *self.usage.lock().unwrap_or_else(|p| p.into_inner()) = usage;
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The usage writer's figures as of the last [`Metrics::render`]: its counters are kept by the
/// writer (`modelgate-store`), so they are exposed as read, not counted here.
#[derive(Debug)]
struct UsageSeries(Arc<Mutex<UsageWriterStats>>);

impl Collector for UsageSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let usage = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        let gauges = [
            (
                "usage_records_dropped",
                "Usage records lost: the queue full, the spool full or unwritable, or unreadable spool lines",
                usage.dropped,
            ),
            ("usage_records_queued", "Usage records in memory, neither stored nor spooled yet", usage.queued),
            (
                "usage_spool_bytes",
                "Bytes in the usage spool file (records the store could not take yet)",
                usage.spool_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters = [
            (
                "usage_records_spooled",
                "Usage records written to the local spool because the store did not take them",
                usage.spooled,
            ),
            ("usage_records_replayed", "Usage records read back from the spool and stored", usage.replayed),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        let tokens = |input, output| Usage { input, output, total: input + output, ..Usage::default() };
        metrics.request("default", "gpt", "openai", 200, &tokens(7, 3), Some(1_250_000_000));
        metrics.request("default", "gpt", "openai", 200, &tokens(1, 1), Some(250_000_000));
        metrics.request("default", "gpt", "openai", 429, &tokens(0, 0), Some(0));
        metrics.request("default", "gpt", "anthropic", 200, &tokens(2, 0), Some(1));
        metrics.request("default", "free", "openai", 200, &tokens(2, 0), None);
        metrics.request("default", "free", "openai", 502, &tokens(0, 0), None);
        metrics.upstream_first_byte("openai", 0.02);
        metrics.overhead(0.0001);
        metrics.upstream_attempt_failed("openai", "provider", "UPSTREAM_TIMEOUT");
        let usage =
            UsageWriterStats { dropped: 2, queued: 7, spooled: 30, spool_bytes: 9_000, replayed: 20, written: 50 };
        let text = metrics.render(1.5, 4, usage, &Limiter::local());
        assert!(
            text.contains(
                r#"modelgate_upstream_attempt_failures_total{provider="openai",source="provider",code="UPSTREAM_TIMEOUT"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"modelgate_requests_total{workspace="default",model="gpt",provider="openai",status="200"} 2"#
            ),
            "{text}"
        );
        // Spend by workspace and model (whatever the provider); a model without a price is
        // counted apart and shows no spend.
        assert!(text.contains(r#"modelgate_cost_usd_total{workspace="default",model="gpt"} 1.500000001"#), "{text}");
        assert!(text.contains(r#"modelgate_unpriced_requests_total{workspace="default",model="free"} 2"#), "{text}");
        assert!(!text.contains(r#"modelgate_cost_usd_total{workspace="default",model="free"}"#), "{text}");
        assert!(
            text.contains(
                r#"modelgate_tokens_total{workspace="default",model="gpt",provider="openai",direction="input"} 8"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"modelgate_requests_total{workspace="default",model="gpt",provider="openai",status="429"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"modelgate_tokens_total{workspace="default",model="gpt",provider="anthropic",direction="input"} 2"#
            ),
            "{text}"
        );
        metrics.upstream_first_byte("openai", 0.03);
        let text = metrics.render(1.5, 4, usage, &Limiter::local());
        assert!(text.contains("modelgate_upstream_first_byte_seconds_count{provider=\"openai\"} 2"), "{text}");
        assert!(text.contains("modelgate_snapshot_age_seconds 1.5"), "{text}");
        assert!(text.contains("modelgate_routes 4"));
        assert!(text.contains("modelgate_usage_records_dropped 2"), "{text}");
        assert!(text.contains("# TYPE modelgate_usage_records_dropped gauge"), "{text}");
        assert!(text.contains("modelgate_usage_records_queued 7"), "{text}");
        assert!(text.contains("modelgate_usage_spool_bytes 9000"), "{text}");
        assert!(text.contains("# TYPE modelgate_usage_records_spooled counter"), "{text}");
        assert!(text.contains("modelgate_usage_records_spooled_total 30"), "{text}");
        assert!(text.contains("modelgate_usage_records_replayed_total 20"), "{text}");
        assert!(text.contains("modelgate_limits_redis_up 0"), "{text}");
        assert!(text.contains("modelgate_limit_local_fallbacks_total 0"), "{text}");
    }
}
