//! Admission against a route's `maxToken` windows, by reservation (`crate::reservation`): a
//! request holds an estimate of its tokens while it runs and is settled to its usage at its end.
//! With Redis configured the windows are shared by every node ([`RedisCounters`]); without it,
//! or while Redis does not answer, each node counts on its own ([`TokenLimiter`]), logs a warning
//! when Redis goes away and counts the fallbacks. Local windows are kept in both cases, so a
//! fallback starts from this node's share; what a node counted alone is pushed into Redis before
//! the node uses Redis again, so the shared windows are not spent a second time.

use crate::redis_counters::{CounterError, RedisCounters};
use crate::reservation::Reservation;
use crate::snapshot::Route;
use crate::token_limits::{Clock, Push, TokenLimiter};
use crate::usage_tap::Usage;
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// How long Redis is left alone after a failure before it is asked again.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// How often Redis is pinged, so that its state is known without traffic (and what a node
/// could not push earlier is pushed).
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Settlements waiting to be sent to Redis; beyond that they wait in the local windows.
const PENDING_SETTLEMENTS: usize = 16 * 1024;

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
    local: Arc<TokenLimiter>,
    shared: Option<Shared>,
    /// Checks and settlements counted on this node only because Redis did not answer.
    local_fallbacks: FallbackCounter,
}

/// The `modelgate_limit_local_fallbacks_total` series (shared with the metrics registry).
pub type FallbackCounter = Counter<u64, AtomicU64>;

struct Shared {
    counters: Arc<RedisCounters>,
    health: Arc<Health>,
    settlements: mpsc::Sender<Settlement>,
    /// Wakes the background task to see whether Redis answers again.
    recheck: Arc<Notify>,
}

/// A finished request's settlement, on its way to Redis.
struct Settlement {
    route: Arc<Route>,
    caller: Box<str>,
    reservation: Reservation,
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
        Limiter { local: Arc::default(), shared: None, local_fallbacks: FallbackCounter::default() }
    }

    /// Windows shared through `counters`, fallbacks counted in `local_fallbacks`, windows ended by
    /// `clock`. Starts the task that talks to Redis outside requests (settlements, health checks,
    /// pushing what was counted here alone), so it must be called within a Tokio runtime.
    pub fn shared(counters: RedisCounters, local_fallbacks: FallbackCounter, clock: Arc<dyn Clock>) -> Limiter {
        let local = Arc::new(TokenLimiter::default());
        let counters = Arc::new(counters);
        let health = Arc::new(Health::new());
        let recheck = Arc::new(Notify::new());
        let (settlements, pending) = mpsc::channel(PENDING_SETTLEMENTS);
        let task = Background {
            local: local.clone(),
            counters: counters.clone(),
            health: health.clone(),
            local_fallbacks: local_fallbacks.clone(),
            clock,
        };
        tokio::spawn(task.run(pending, recheck.clone()));
        Limiter { local, shared: Some(Shared { counters, health, settlements, recheck }), local_fallbacks }
    }

    /// Admits a request by `caller` whose body is `body` when its reservation fits in every
    /// window of the route, and holds it there: `Ok(Some(reservation))`, to be settled with
    /// [`Limiter::settle`]. `Err((policy, seconds until the window ends))` when it does not fit.
    /// Routes without limits cost nothing (`Ok(None)`; the body is not read).
    pub async fn reserve(
        &self,
        route: &Route,
        caller: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Option<Reservation>, (String, i64)> {
        if route.token_limits.is_empty() {
            return Ok(None);
        }
        let reservation = Reservation::for_body(body, now, route.price.as_ref());
        let push = match &self.shared {
            None => Push::Never,
            Some(shared) => {
                if shared.health.is_up() {
                    match shared.counters.reserve(route, caller, reservation).await {
                        Ok(verdict) => {
                            if verdict.is_ok() {
                                self.local.hold(route, caller, reservation);
                            }
                            return verdict.map(|()| Some(reservation));
                        }
                        // A reservation Redis made but whose answer was lost is counted twice
                        // once this node's count is pushed: too much, never too little.
                        Err(error) => shared.health.failed(&error),
                    }
                } else {
                    shared.recheck.notify_one();
                }
                self.local_fallbacks.inc();
                Push::Later
            }
        };
        self.local.reserve(route, caller, reservation, push).map(|()| Some(reservation))
    }

    /// Settles a finished request's reservation (none: it was refused, nothing to settle) to the
    /// tokens it used; a request that failed without usage releases its reservation. Sent to
    /// Redis in the background.
    pub fn settle(&self, route: &Arc<Route>, caller: &str, reservation: Option<Reservation>, usage: Usage, now: i64) {
        if route.token_limits.is_empty() {
            return;
        }
        let Some(reservation) = reservation else { return };
        self.local.settle(route, caller, reservation, usage, Push::Never);
        let Some(shared) = &self.shared else { return };
        let settlement = Settlement { route: route.clone(), caller: caller.into(), reservation, usage, now };
        if shared.settlements.try_send(settlement).is_err() {
            self.local.settlement_not_pushed(route, caller, reservation, usage);
            self.local_fallbacks.inc();
        }
    }

    /// Where limits are counted right now.
    pub fn redis_state(&self) -> RedisState {
        match &self.shared {
            None => RedisState::NotConfigured,
            Some(shared) if shared.health.is_up() => RedisState::Up,
            Some(_) => RedisState::Down,
        }
    }

    /// Checks and settlements counted on this node only because Redis did not answer.
    pub fn local_fallbacks(&self) -> u64 {
        self.local_fallbacks.get()
    }
}

/// The task that talks to Redis outside requests.
struct Background {
    local: Arc<TokenLimiter>,
    counters: Arc<RedisCounters>,
    health: Arc<Health>,
    local_fallbacks: FallbackCounter,
    clock: Arc<dyn Clock>,
}

impl Background {
    /// Sends settlements one after the other (while Redis is down they wait in the local
    /// windows); every [`HEALTH_CHECK_EVERY`], and when a request finds Redis down, checks Redis
    /// and pushes what this node counted alone. Ends when the limiter is dropped.
    async fn run(self, mut pending: mpsc::Receiver<Settlement>, recheck: Arc<Notify>) {
        let mut health_check = tokio::time::interval(HEALTH_CHECK_EVERY);
        loop {
            tokio::select! {
                settlement = pending.recv() => match settlement {
                    Some(settlement) => self.send(settlement).await,
                    None => return,
                },
                _ = health_check.tick() => self.check().await,
                () = recheck.notified() => self.check().await,
            }
        }
    }

    async fn send(&self, s: Settlement) {
        if self.health.is_up() {
            match self.counters.settle(&s.route, &s.caller, s.reservation, s.usage, s.now).await {
                Ok(()) => return,
                Err(error) => self.health.failed(&error),
            }
        }
        self.local.settlement_not_pushed(&s.route, &s.caller, s.reservation, s.usage);
        self.local_fallbacks.inc();
    }

    /// Whether Redis answers; if it does, pushes what this node counted alone, and only then
    /// lets requests use Redis again.
    async fn check(&self) {
        if !self.health.worth_asking() {
            return;
        }
        if let Err(error) = self.counters.ping().await {
            return self.health.failed(&error);
        }
        if let Err(error) = self.push_unsynced().await {
            return self.health.failed(&error);
        }
        self.health.answered();
        // What requests counted here while the first push ran (later leftovers: next check).
        if let Err(error) = self.push_unsynced().await {
            self.health.failed(&error);
        }
    }

    /// Pushes the open windows' counts Redis has not seen; what could not be pushed is given
    /// back to the local windows.
    async fn push_unsynced(&self) -> Result<(), CounterError> {
        let now = self.clock.now_secs();
        let windows = self.local.take_unsynced(now);
        let count = windows.len();
        let mut rest = windows.into_iter();
        while let Some(window) = rest.next() {
            if let Err(error) = self.counters.push(&window, now).await {
                self.local.restore_unsynced(std::iter::once(window).chain(rest).collect());
                return Err(error);
            }
        }
        if count > 0 {
            tracing::info!(windows = count, "pushed into Redis what this node counted while Redis was away");
        }
        Ok(())
    }
}

/// Whether Redis answers. Requests use Redis while it is up; after a failure, only the
/// background task asks it again (not before [`REST_AFTER_FAILURE`]), and turns it up once this
/// node's own counts have been pushed.
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

    fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    fn worth_asking(&self) -> bool {
        self.is_up() || self.now_millis() >= self.resting_until.load(Ordering::Relaxed)
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
    /// When the tests' requests arrive (every window of a test is open).
    const T: i64 = 1_700_000_100;

    struct Fixed;

    impl Clock for Fixed {
        fn now_secs(&self) -> i64 {
            T + 5
        }
    }

    /// A node's limiter on `url` under `prefix`.
    fn node(url: &str, prefix: &str) -> Limiter {
        Limiter::shared(RedisCounters::new(url, prefix, TIMEOUT).unwrap(), FallbackCounter::default(), Arc::new(Fixed))
    }

    fn requests_per_minute(requests: i64, per_key: bool) -> Arc<Route> {
        let mut rpm = limit("minute", 1, 0);
        rpm.limits.requests = Some(requests);
        rpm.limits.per_key = Some(per_key);
        Arc::new(route(vec![rpm]))
    }

    /// Admits a request without a body (the default estimate) at `at`.
    async fn admit(limiter: &Limiter, route: &Route, caller: &str, at: i64) -> Result<(), (String, i64)> {
        limiter.reserve(route, caller, b"", at).await.map(|_| ())
    }

    /// Polls `check` for up to two seconds (settlements reach Redis in the background).
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
        assert!(admit(&a, &route, "k1", T).await.is_ok());
        assert!(admit(&b, &route, "k2", T + 1).await.is_ok());
        assert!(admit(&a, &route, "k1", T + 2).await.is_ok());
        assert_eq!(admit(&b, &route, "k2", T + 3).await, Err(("p".into(), 57)), "three requests per minute in all");
        assert!(admit(&a, &route, "k1", T + 4).await.is_err());
        assert!(admit(&b, &route, "k1", T + 60).await.is_ok(), "the next window starts afresh");
        assert_eq!((a.redis_state(), b.redis_state()), (RedisState::Up, RedisState::Up));
        assert_eq!(a.local_fallbacks() + b.local_fallbacks(), 0);
    }

    #[tokio::test]
    async fn per_key_windows_are_shared_per_key() {
        let Some(url) = redis_url("per_key_windows_are_shared_per_key") else { return };
        let prefix = unique_prefix("per-key");
        let (a, b) = (node(&url, &prefix), node(&url, &prefix));
        let route = requests_per_minute(1, true);
        assert!(admit(&a, &route, "k1", T).await.is_ok());
        assert!(admit(&b, &route, "k1", T).await.is_err(), "k1's one request was made through the other node");
        assert!(admit(&b, &route, "k2", T).await.is_ok(), "k2 has its own window");
    }

    #[tokio::test]
    async fn reservations_and_settlements_are_shared() {
        let Some(url) = redis_url("reservations_and_settlements_are_shared") else { return };
        let prefix = unique_prefix("share-tokens");
        let (a, b) = (node(&url, &prefix), node(&url, &prefix));
        let route = Arc::new(route(vec![limit("hour", 1, 1000)]));
        // Each reserves 5 input tokens (20 bytes) and 100 output tokens.
        let body = br#"{"max_tokens":100}  "#;
        let (first, second) = (Reservation::for_body(body, T, None), Reservation::for_body(body, T + 1, None));
        assert_eq!(a.reserve(&route, "k", body, T).await, Ok(Some(first)));
        assert_eq!(b.reserve(&route, "k", body, T + 1).await, Ok(Some(second)), "210 of 1000 reserved");
        a.settle(&route, "k", Some(first), Usage { input: 5, output: 795, total: 800, ..Usage::default() }, T + 2);
        assert!(
            eventually(async || match b.reserve(&route, "k", body, T + 3).await {
                // Settled: 800 used + 105 reserved; another 105 does not fit.
                Err(_) => true,
                // Not settled yet: give this one back.
                Ok(early) => {
                    b.settle(&route, "k", early, Usage::default(), T + 3);
                    false
                }
            })
            .await,
            "the tokens used through one node count on the other"
        );
        b.settle(&route, "k", Some(second), Usage::default(), T + 4);
        assert!(
            eventually(async || a.reserve(&route, "k", body, T + 5).await.is_ok()).await,
            "a request that used nothing gives its reservation back"
        );
        assert_eq!(a.local_fallbacks() + b.local_fallbacks(), 0);
    }

    #[tokio::test]
    async fn without_redis_each_node_counts_alone_and_says_so() {
        // A port nothing listens on: every call fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let a = node(&format!("redis://127.0.0.1:{port}"), "unused");
        let route = requests_per_minute(2, false);
        assert!(admit(&a, &route, "k", T).await.is_ok(), "requests keep flowing");
        assert_eq!(a.redis_state(), RedisState::Down);
        assert!(admit(&a, &route, "k", T + 1).await.is_ok());
        assert!(admit(&a, &route, "k", T + 2).await.is_err(), "the limit still holds on this node");
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
    async fn what_a_node_counted_alone_reaches_redis_when_it_returns() {
        let Some(url) = redis_url("what_a_node_counted_alone_reaches_redis_when_it_returns") else { return };
        let target = url.trim_start_matches("redis://").trim_end_matches('/');
        let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
        let relay = Relay::start(target).await.unwrap();
        let prefix = unique_prefix("cut");
        let a = node(&format!("redis://{}", relay.addr()), &prefix);
        let direct = node(&url, &prefix);
        let route = requests_per_minute(3, false);
        assert!(admit(&a, &route, "k", T).await.is_ok());
        assert_eq!(a.redis_state(), RedisState::Up);

        relay.cut();
        assert!(admit(&a, &route, "k", T + 1).await.is_ok(), "requests keep flowing without Redis");
        assert_eq!(a.redis_state(), RedisState::Down);
        assert!(a.local_fallbacks() >= 1);
        assert!(admit(&a, &route, "k", T + 2).await.is_ok(), "this node's share: 3 requests, 2 counted so far");
        assert!(admit(&a, &route, "k", T + 3).await.is_err());

        relay.restore();
        assert!(
            eventually(async || {
                let _ = admit(&a, &route, "k", T + 4).await;
                a.redis_state() == RedisState::Up
            })
            .await,
            "the node uses Redis again once it answers"
        );
        assert!(
            admit(&direct, &route, "k", T + 6).await.is_err(),
            "the two requests counted alone were pushed: Redis holds 3 of 3, not 1"
        );
        assert!(admit(&a, &route, "k", T + 7).await.is_err(), "shared counting resumed");
    }
}
