//! `maxToken` policies: tokens (and, as modelgate's extension, requests) counted per model and
//! policy, or per calling key with `perKey`, over windows of `step` x `granularity` (minute,
//! hour, day: aligned to the epoch in UTC; month: calendar months). For tokens, the request that
//! crosses a limit succeeds and later requests in the window get 429 with `Retry-After` until the
//! window ends; requests are counted when admitted, so exactly `requests` pass per window.
//! Counted in memory on this node by [`TokenLimiter`]; `crate::limiter` shares the windows
//! through Redis when one is configured.

use crate::snapshot::{Route, TokenLimit};
use crate::usage_tap::Usage;
use hashbrown::hash_map::RawEntryMut;
use hashbrown::{Equivalent, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use time::{Date, Month, OffsetDateTime, Time};

/// The source of "now", replaceable in tests.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// `[start, end)` of the window containing `now`, in seconds.
pub fn window(limit: &TokenLimit, now: i64) -> (i64, i64) {
    let step = limit.limits.step.unwrap_or(1).max(1);
    let unit = match limit.limits.granularity.as_deref() {
        Some("minute") => 60,
        Some("hour") => 3600,
        Some("day") => 86_400,
        _ => return month_window(step, now),
    };
    let length = unit * step;
    let start = now.div_euclid(length) * length;
    (start, start + length)
}

fn month_window(step: i64, now: i64) -> (i64, i64) {
    let date = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH).date();
    let months_since_epoch = (i64::from(date.year()) - 1970) * 12 + i64::from(u8::from(date.month())) - 1;
    let first = months_since_epoch.div_euclid(step) * step;
    let to_secs = |index: i64| {
        let year = i32::try_from(1970 + index.div_euclid(12)).unwrap_or(1970);
        let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1)).unwrap_or(Month::January);
        Date::from_calendar_date(year, month, 1)
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp())
            .unwrap_or(0)
    };
    (to_secs(first), to_secs(first + step))
}

#[derive(Default, Clone, Copy)]
struct Counted {
    start: i64,
    input: i64,
    output: i64,
    total: i64,
    requests: i64,
}

/// Token counts of the current windows.
#[derive(Default)]
pub struct TokenLimiter {
    counts: Mutex<HashMap<CounterKey, Counted>>,
}

/// Workspace, model, policy, and the caller for per-key limits (empty otherwise).
#[derive(Hash, PartialEq, Eq)]
struct CounterKey {
    workspace: String,
    model: String,
    policy: String,
    caller: String,
}

/// A [`CounterKey`] borrowed from the route and the request: counters are looked up with it,
/// and a key is allocated only when a window is counted for the first time. It hashes as the
/// owned key does (the same fields, in the same order, as `str`).
#[derive(Hash)]
struct CounterRef<'a> {
    workspace: &'a str,
    model: &'a str,
    policy: &'a str,
    caller: &'a str,
}

impl Equivalent<CounterKey> for CounterRef<'_> {
    fn equivalent(&self, key: &CounterKey) -> bool {
        self.workspace == key.workspace
            && self.model == key.model
            && self.policy == key.policy
            && self.caller == key.caller
    }
}

impl CounterRef<'_> {
    fn to_owned(&self) -> CounterKey {
        CounterKey {
            workspace: self.workspace.to_string(),
            model: self.model.to_string(),
            policy: self.policy.to_string(),
            caller: self.caller.to_string(),
        }
    }
}

/// Whose requests a window of `limit` counts: `caller` (the key id or subject) for `perKey`
/// limits, everyone's (empty) otherwise.
pub fn counted_caller<'a>(limit: &TokenLimit, caller: &'a str) -> &'a str {
    if limit.limits.per_key == Some(true) {
        caller
    } else {
        ""
    }
}

/// The counter of `limit` for a request by `caller`.
fn key<'a>(route: &'a Route, limit: &'a TokenLimit, caller: &'a str) -> CounterRef<'a> {
    CounterRef {
        workspace: &route.workspace,
        model: &route.name,
        policy: &limit.policy,
        caller: counted_caller(limit, caller),
    }
}

/// The counter for the window containing `now`, reset when a new window starts.
fn current<'m>(counts: &'m mut HashMap<CounterKey, Counted>, key: CounterRef<'_>, start: i64) -> &'m mut Counted {
    let hash = counts.hasher().hash_one(&key);
    let counted = match counts.raw_entry_mut().from_hash(hash, |owned| key.equivalent(owned)) {
        RawEntryMut::Occupied(entry) => entry.into_mut(),
        RawEntryMut::Vacant(entry) => entry.insert_hashed_nocheck(hash, key.to_owned(), Counted::default()).1,
    };
    if counted.start != start {
        *counted = Counted { start, ..Counted::default() };
    }
    counted
}

fn count_request(counts: &mut HashMap<CounterKey, Counted>, route: &Route, caller: &str, now: i64) {
    for limit in &route.token_limits {
        let (start, _) = window(limit, now);
        current(counts, key(route, limit, caller), start).requests += 1;
    }
}

impl TokenLimiter {
    /// Admits a request by `caller` and counts it, or answers `Err((policy, seconds until the
    /// window ends))` if a limit of the route is reached.
    pub fn admit(&self, route: &Route, caller: &str, now: i64) -> Result<(), (String, i64)> {
        if route.token_limits.is_empty() {
            return Ok(());
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let reached = |threshold: Option<i64>, used: i64| threshold.is_some_and(|t| t > 0 && used >= t);
        for limit in &route.token_limits {
            let (start, end) = window(limit, now);
            let counted = current(&mut counts, key(route, limit, caller), start);
            if reached(limit.limits.input, counted.input)
                || reached(limit.limits.output, counted.output)
                || reached(limit.limits.total, counted.total)
                || reached(limit.limits.requests, counted.requests)
            {
                return Err((limit.policy.clone(), end - now));
            }
        }
        count_request(&mut counts, route, caller, now);
        Ok(())
    }

    /// Counts a request admitted elsewhere (by the shared counters), so that this node's windows
    /// hold its share if it has to count alone.
    pub fn count_request(&self, route: &Route, caller: &str, now: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        count_request(&mut counts, route, caller, now);
    }

    /// Adds a finished request's tokens to the route's windows.
    pub fn add(&self, route: &Route, caller: &str, usage: Usage, now: i64) {
        if route.token_limits.is_empty() {
            return;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for limit in &route.token_limits {
            let (start, _) = window(limit, now);
            let counted = current(&mut counts, key(route, limit, caller), start);
            counted.input += usage.input;
            counted.output += usage.output;
            counted.total += usage.total;
        }
    }
}

/// Routes and limits for the tests of this module and of `crate::limiter`.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use modelgate_domain::{PolicyMaxTokens, RuntimeType};
    use modelgate_providers::descriptor;

    pub fn limit(granularity: &str, step: i64, total: i64) -> TokenLimit {
        TokenLimit {
            policy: "p".into(),
            limits: PolicyMaxTokens {
                granularity: Some(granularity.into()),
                step: Some(step),
                total: Some(total),
                ..Default::default()
            },
        }
    }

    pub fn route(limits: Vec<TokenLimit>) -> Route {
        Route {
            workspace: "w".into(),
            name: "m".into(),
            enabled: true,
            runtime_type: RuntimeType::Openai,
            family: descriptor(RuntimeType::Openai).family,
            model: None,
            organization: None,
            endpoint_name: None,
            upstreams: vec![],
            unusable: vec![],
            token_limits: limits,
            locations: vec![],
            refusal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{limit, route};
    use super::*;

    #[test]
    fn windows() {
        let t = 1_700_000_123; // 2023-11-14T22:15:23Z
        assert_eq!(window(&limit("minute", 1, 1), t), (1_700_000_100, 1_700_000_160));
        assert_eq!(window(&limit("minute", 5, 1), t), (1_700_000_100, 1_700_000_400));
        assert_eq!(window(&limit("hour", 1, 1), t), (1_699_999_200, 1_700_002_800));
        assert_eq!(window(&limit("day", 1, 1), t), (1_699_920_000, 1_700_006_400));
        // November 2023, then the two-month window November-December.
        assert_eq!(window(&limit("month", 1, 1), t), (1_698_796_800, 1_701_388_800));
        let (start, end) = window(&limit("month", 2, 1), t);
        assert!(start <= t && t < end);
        assert_eq!(end, 1_704_067_200); // 2024-01-01
    }

    #[test]
    fn the_crossing_request_passes_the_next_is_refused_until_the_window_ends() {
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 100)]);
        let t = 1_700_000_100;
        assert!(limiter.admit(&route, "k", t).is_ok());
        limiter.add(&route, "k", Usage { input: 50, output: 30, total: 80 }, t);
        assert!(limiter.admit(&route, "k", t + 1).is_ok(), "80 < 100: still allowed");
        limiter.add(&route, "k", Usage { input: 50, output: 30, total: 80 }, t + 2);
        assert_eq!(limiter.admit(&route, "k", t + 10), Err(("p".into(), 50)));
        assert!(limiter.admit(&route, "k", t + 60).is_ok(), "the next window starts afresh");
        limiter.add(&route, "k", Usage { input: 1, output: 1, total: 2 }, t + 60);
        assert!(limiter.admit(&route, "k", t + 61).is_ok());
    }

    #[test]
    fn zero_thresholds_are_not_evaluated() {
        let limiter = TokenLimiter::default();
        let mut only_input = limit("hour", 1, 0);
        only_input.limits.input = Some(10);
        let route = route(vec![only_input]);
        limiter.add(&route, "k", Usage { input: 5, output: 500, total: 505 }, 0);
        assert!(limiter.admit(&route, "k", 1).is_ok());
        limiter.add(&route, "k", Usage { input: 5, output: 0, total: 5 }, 2);
        assert!(limiter.admit(&route, "k", 3).is_err());
    }

    #[test]
    fn request_limits_per_model_and_per_key() {
        let limiter = TokenLimiter::default();
        let mut rpm = limit("minute", 1, 0);
        rpm.limits.requests = Some(2);
        let shared = route(vec![rpm.clone()]);
        assert!(limiter.admit(&shared, "a", 0).is_ok());
        assert!(limiter.admit(&shared, "b", 1).is_ok());
        assert!(limiter.admit(&shared, "a", 2).is_err(), "two requests per minute for the model as a whole");
        rpm.limits.per_key = Some(true);
        let per_key = Route { name: "other".into(), ..route(vec![rpm]) };
        assert!(limiter.admit(&per_key, "a", 0).is_ok());
        assert!(limiter.admit(&per_key, "a", 1).is_ok());
        assert!(limiter.admit(&per_key, "a", 2).is_err());
        assert!(limiter.admit(&per_key, "b", 3).is_ok(), "each key has its own count");
        assert!(limiter.admit(&per_key, "a", 60).is_ok(), "and a new window");
    }
}
