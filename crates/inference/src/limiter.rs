//! Admission against a route's `maxToken` windows. With Redis configured the windows are shared by
//! every node ([`RedisCounters`]); without it, or while Redis does not answer, each node counts on
//! its own ([`TokenLimiter`]), logs a warning when Redis goes away and counts the fallbacks.
//! Local windows are kept in both cases, so a fallback starts from this node's share.

use crate::redis_counters::{CounterError, RedisCounters};
use crate::snapshot::Route;
use crate::token_limits::TokenLimiter;
use crate::usage_tap::Usage;
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long Redis is left alone after a failure before it is asked again.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// How often Redis is pinged, so that its state is known without traffic.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Token additions waiting to be sent to Redis; beyond that they are counted locally only.
const PENDING_ADDITIONS: usize = 16 * 1024;

/// Where limits are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisState {
    /// No Redis: every node counts its own windows.
    NotConfigured,
    /// Windows are shared through Redis.
    Up,
    /// Redis is configured but does not answer: this node counts on its own for now.
    Down,
}

/// The limits of every route, counted locally or in Redis.
pub struct Limiter {
    local: TokenLimiter,
    shared: Option<Shared>,
    /// Checks and token additions counted on this node only because Redis did not answer.
    local_fallbacks: FallbackCounter,
}

/// The `modelgate_limit_local_fallbacks_total` series (shared with the metrics registry).
pub type FallbackCounter = Counter<u64, AtomicU64>;

struct Shared {
    counters: Arc<RedisCounters>,
    health: Arc<Health>,
    additions: mpsc::Sender<Addition>,
}

/// A finished request's tokens, on their way to Redis.
struct Addition {
    route: Arc<Route>,
    caller: Box<str>,
    usage: Usage,
    now: i64,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter::local()
    }
}

impl Limiter {
    /// Windows counted on this node only.
    pub fn local() -> Limiter {
        Limiter { local: TokenLimiter::default(), shared: None, local_fallbacks: FallbackCounter::default() }
    }

    /// Windows shared through `counters`, fallbacks counted in `local_fallbacks`. Starts the task
    /// that sends token additions, so it must be called within a Tokio runtime.
    pub fn shared(counters: RedisCounters, local_fallbacks: FallbackCounter) -> Limiter {
        let counters = Arc::new(counters);
        let health = Arc::new(Health::new());
        let (additions, pending) = mpsc::channel(PENDING_ADDITIONS);
        tokio::spawn(send_additions(pending, counters.clone(), health.clone(), local_fallbacks.clone()));
        Limiter {
            local: TokenLimiter::default(),
            shared: Some(Shared { counters, health, additions }),
            local_fallbacks,
        }
    }

    /// Admits a request by `caller` and counts it, or answers `Err((policy, seconds until the
    /// window ends))` if a limit of the route is reached. Routes without limits cost nothing.
    pub async fn admit(&self, route: &Route, caller: &str, now: i64) -> Result<(), (String, i64)> {
        if route.token_limits.is_empty() {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            if shared.health.worth_asking() {
                match shared.counters.admit(route, caller, now).await {
                    Ok(verdict) => {
                        shared.health.answered();
                        if verdict.is_ok() {
                            self.local.count_request(route, caller, now);
                        }
                        return verdict;
                    }
                    Err(error) => shared.health.failed(&error),
                }
            }
            self.local_fallbacks.inc();
        }
        self.local.admit(route, caller, now)
    }

    /// Adds a finished request's tokens to the route's windows (sent to Redis in the background).
    pub fn add(&self, route: &Arc<Route>, caller: &str, usage: Usage, now: i64) {
        if route.token_limits.is_empty() {
            return;
        }
        self.local.add(route, caller, usage, now);
        let Some(shared) = &self.shared else { return };
        if usage == Usage::default() {
            return;
        }
        let addition = Addition { route: route.clone(), caller: caller.into(), usage, now };
        if shared.additions.try_send(addition).is_err() {
            self.local_fallbacks.inc();
        }
    }

    /// Where limits are counted right now.
    pub fn redis_state(&self) -> RedisState {
        match &self.shared {
            None => RedisState::NotConfigured,
            Some(shared) if shared.health.down.load(Ordering::Relaxed) => RedisState::Down,
            Some(_) => RedisState::Up,
        }
    }

    /// Checks and token additions counted on this node only because Redis did not answer.
    pub fn local_fallbacks(&self) -> u64 {
        self.local_fallbacks.get()
    }
}

/// Sends token additions one after the other; while Redis is down they stay local. Between
/// them, pings Redis every [`HEALTH_CHECK_EVERY`] so that its state (and metric) is known even
/// without limited traffic. Ends when the limiter is dropped.
async fn send_additions(
    mut pending: mpsc::Receiver<Addition>,
    counters: Arc<RedisCounters>,
    health: Arc<Health>,
    local_fallbacks: FallbackCounter,
) {
    let mut health_check = tokio::time::interval(HEALTH_CHECK_EVERY);
    loop {
        let addition = tokio::select! {
            addition = pending.recv() => match addition {
                Some(addition) => addition,
                None => return,
            },
            _ = health_check.tick() => {
                if health.worth_asking() {
                    match counters.ping().await {
                        Ok(()) => health.answered(),
                        Err(error) => health.failed(&error),
                    }
                }
                continue;
            }
        };
        if !health.worth_asking() {
            local_fallbacks.inc();
            continue;
        }
        match counters.add(&addition.route, &addition.caller, addition.usage, addition.now).await {
            Ok(()) => health.answered(),
            Err(error) => {
                health.failed(&error);
                local_fallbacks.inc();
            }
        }
    }
}

/// Whether Redis answers. After a failure, requests do not wait on it again for
/// [`REST_AFTER_FAILURE`]; then one asks, and its answer decides.
struct Health {
    started: Instant,
    down: AtomicBool,
    /// Milliseconds after `started` before which Redis is not asked.
    resting_until: AtomicU64,
}

impl Health {
    fn new() -> Health {
        Health { started: Instant::now(), down: AtomicBool::new(false), resting_until: AtomicU64::new(0) }
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn worth_asking(&self) -> bool {
        !self.down.load(Ordering::Relaxed) || self.now_millis() >= self.resting_until.load(Ordering::Relaxed)
    }

    fn answered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again: maxToken and rate-limit windows are shared across nodes");
        }
    }

    fn failed(&self, error: &CounterError) {
        let rest = u64::try_from(REST_AFTER_FAILURE.as_millis()).unwrap_or(1000);
        self.resting_until.store(self.now_millis() + rest, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "Redis does not answer: counting maxToken and rate-limit windows on this node only until it returns");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_limits::test_support::{limit, route};
    use modelgate_mock_provider::relay::Relay;
    use modelgate_mock_provider::test_services::{redis_url, unique_prefix};

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// A node's limiter on `url` under `prefix`.
    fn node(url: &str, prefix: &str) -> Limiter {
        Limiter::shared(RedisCounters::new(url, prefix, TIMEOUT).unwrap(), FallbackCounter::default())
    }

    fn requests_per_minute(requests: i64, per_key: bool) -> Arc<Route> {
        let mut rpm = limit("minute", 1, 0);
        rpm.limits.requests = Some(requests);
        rpm.limits.per_key = Some(per_key);
        Arc::new(route(vec![rpm]))
    }

    /// Polls `check` for up to two seconds (token additions reach Redis in the background).
    async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn two_nodes_share_one_request_window() {
        let Some(url) = redis_url("two_nodes_share_one_request_window") else { return };
        let prefix = unique_prefix("share-requests");
        let (a, b) = (node(&url, &prefix), node(&url, &prefix));
        let route = requests_per_minute(3, false);
        let t = 1_700_000_100;
        assert!(a.admit(&route, "k1", t).await.is_ok());
        assert!(b.admit(&route, "k2", t + 1).await.is_ok());
        assert!(a.admit(&route, "k1", t + 2).await.is_ok());
        assert_eq!(b.admit(&route, "k2", t + 3).await, Err(("p".into(), 57)), "three requests per minute in all");
        assert!(a.admit(&route, "k1", t + 4).await.is_err());
        assert!(b.admit(&route, "k1", t + 60).await.is_ok(), "the next window starts afresh");
        assert_eq!((a.redis_state(), b.redis_state()), (RedisState::Up, RedisState::Up));
        assert_eq!(a.local_fallbacks() + b.local_fallbacks(), 0);
    }

    #[tokio::test]
    async fn per_key_windows_are_shared_per_key() {
        let Some(url) = redis_url("per_key_windows_are_shared_per_key") else { return };
        let prefix = unique_prefix("per-key");
        let (a, b) = (node(&url, &prefix), node(&url, &prefix));
        let route = requests_per_minute(1, true);
        let t = 1_700_000_100;
        assert!(a.admit(&route, "k1", t).await.is_ok());
        assert!(b.admit(&route, "k1", t).await.is_err(), "k1's one request was made through the other node");
        assert!(b.admit(&route, "k2", t).await.is_ok(), "k2 has its own window");
    }

    #[tokio::test]
    async fn tokens_used_through_one_node_are_refused_by_the_other() {
        let Some(url) = redis_url("tokens_used_through_one_node_are_refused_by_the_other") else { return };
        let prefix = unique_prefix("share-tokens");
        let (a, b) = (node(&url, &prefix), node(&url, &prefix));
        let route = Arc::new(route(vec![limit("hour", 1, 100)]));
        let t = 1_700_000_100;
        assert!(a.admit(&route, "k", t).await.is_ok());
        a.add(&route, "k", Usage { input: 70, output: 50, total: 120 }, t);
        assert!(eventually(async || b.admit(&route, "k", t + 1).await.is_err()).await, "120 of 100 tokens used");
    }

    #[tokio::test]
    async fn without_redis_each_node_counts_alone_and_says_so() {
        // A port nothing listens on: every call fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let a = node(&format!("redis://127.0.0.1:{port}"), "unused");
        let route = requests_per_minute(2, false);
        assert!(a.admit(&route, "k", 0).await.is_ok(), "requests keep flowing");
        assert_eq!(a.redis_state(), RedisState::Down);
        assert!(a.admit(&route, "k", 1).await.is_ok());
        assert!(a.admit(&route, "k", 2).await.is_err(), "the limit still holds on this node");
        assert_eq!(a.local_fallbacks(), 3);
        assert_eq!(Limiter::local().redis_state(), RedisState::NotConfigured);
    }

    #[tokio::test]
    async fn an_unreachable_redis_shows_without_traffic() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let idle = node(&format!("redis://127.0.0.1:{port}"), "unused");
        let found = eventually(async || idle.redis_state() == RedisState::Down).await;
        assert!(found, "the first health check finds it gone");
        assert_eq!(idle.local_fallbacks(), 0, "no request was counted locally");
    }

    #[tokio::test]
    async fn a_cut_link_falls_back_to_local_counts_and_recovers() {
        let Some(url) = redis_url("a_cut_link_falls_back_to_local_counts_and_recovers") else { return };
        let target = url.trim_start_matches("redis://").trim_end_matches('/');
        let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
        let relay = Relay::start(target).await.unwrap();
        let prefix = unique_prefix("cut");
        let a = node(&format!("redis://{}", relay.addr()), &prefix);
        let direct = node(&url, &prefix);
        let route = requests_per_minute(3, false);
        let t = 1_700_000_100;
        assert!(a.admit(&route, "k", t).await.is_ok());
        assert_eq!(a.redis_state(), RedisState::Up);

        relay.cut();
        assert!(a.admit(&route, "k", t + 1).await.is_ok(), "requests keep flowing without Redis");
        assert_eq!(a.redis_state(), RedisState::Down);
        assert!(a.local_fallbacks() >= 1);
        assert!(a.admit(&route, "k", t + 2).await.is_ok(), "this node's share: 3 requests, 2 counted so far");
        assert!(a.admit(&route, "k", t + 3).await.is_err());

        relay.restore();
        assert!(direct.admit(&route, "k", t + 4).await.is_ok(), "Redis saw only the first request: 2 of 3");
        assert!(
            eventually(async || {
                let _ = a.admit(&route, "k", t + 5).await;
                a.redis_state() == RedisState::Up
            })
            .await,
            "the node uses Redis again once it answers"
        );
        assert!(direct.admit(&route, "k", t + 6).await.is_err(), "shared counting resumed");
    }
}
