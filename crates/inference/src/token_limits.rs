//! `maxToken` policies: tokens (and, as modelgate's extension, requests) counted per model and
//! policy, or per calling key with `perKey`, over windows of `step` x `granularity` (minute,
//! hour, day: aligned to the epoch in UTC; month: calendar months). A request is admitted when
//! its reservation (`crate::reservation`: an estimate of its tokens, and itself) fits in what
//! remains of every window, else it gets 429 with `Retry-After` until the window ends; when it
//! ends, the reservation is settled to the tokens it used. Requests stay counted, so exactly
//! `requests` pass per window.
//! Counted in memory on this node by [`TokenLimiter`]; `crate::limiter` shares the windows
//! through Redis when one is configured, and what this node counted while Redis was away is
//! kept apart (`unsynced`) until it has been pushed there.

use crate::reservation::{over_limit, Amounts, Reservation};
use crate::snapshot::{Route, TokenLimit, WORKSPACE_WIDE};
use crate::usage_tap::Usage;
use hashbrown::hash_map::RawEntryMut;
use hashbrown::{Equivalent, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
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
    // Validation keeps `step` at most MAX_WINDOW_STEP; a stored value from before is bounded here.
    let step = limit.limits.step.unwrap_or(1).clamp(1, modelgate_domain::validation::MAX_WINDOW_STEP);
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

/// One window of one counter: what it counted, and the part of that Redis has not seen yet.
#[derive(Default, Clone, Copy)]
struct Counted {
    start: i64,
    end: i64,
    counted: Amounts,
    /// Counted here while Redis was away (or a settlement Redis did not take): pushed into
    /// Redis when it answers again, so the shared window does not admit it a second time.
    unsynced: Amounts,
}

/// Whether a change of this node's windows still has to reach Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// No: there is no Redis, Redis already counted it, or the change is on its way there.
    Never,
    /// Yes, when Redis answers again (it was counted here instead of there).
    Later,
}

/// Token and request counts of the current windows.
#[derive(Default)]
pub struct TokenLimiter {
    counts: Mutex<HashMap<CounterKey, Counted>>,
    /// Whether some window holds an unsynced amount (so a sweep that finds nothing costs nothing).
    has_unsynced: AtomicBool,
}

/// Workspace, model, policy, and the caller for per-key limits (empty otherwise).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CounterKey {
    pub workspace: String,
    pub model: String,
    pub policy: String,
    pub caller: String,
}

/// A window's amounts counted on this node and not yet in Redis (see [`TokenLimiter::take_unsynced`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsyncedWindow {
    pub key: CounterKey,
    pub start: i64,
    pub end: i64,
    pub amounts: Amounts,
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

/// Which model's requests a window of `limit` counts: the route's, or every model of the
/// workspace together for a workspace-wide limit.
pub fn counted_model<'a>(limit: &TokenLimit, route: &'a Route) -> &'a str {
    if limit.is_workspace_wide() {
        WORKSPACE_WIDE
    } else {
        &route.name
    }
}

/// The counter of `limit` for a request by `caller`.
fn key<'a>(route: &'a Route, limit: &'a TokenLimit, caller: &'a str) -> CounterRef<'a> {
    CounterRef {
        workspace: &route.workspace,
        model: counted_model(limit, route),
        policy: &limit.policy,
        caller: counted_caller(limit, caller),
    }
}

type Counts = HashMap<CounterKey, Counted>;

/// The counter for the window `[start, end)`, reset when a new window starts.
fn current<'m>(counts: &'m mut Counts, key: CounterRef<'_>, (start, end): (i64, i64)) -> &'m mut Counted {
    let hash = counts.hasher().hash_one(&key);
    let counted = match counts.raw_entry_mut().from_hash(hash, |owned| key.equivalent(owned)) {
        RawEntryMut::Occupied(entry) => entry.into_mut(),
        RawEntryMut::Vacant(entry) => entry.insert_hashed_nocheck(hash, key.to_owned(), Counted::default()).1,
    };
    if counted.start != start {
        *counted = Counted { start, end, ..Counted::default() };
    }
    counted
}

/// The counter of `key` if it still counts the window starting at `start` (never reset).
fn still_counting<'m, K: Hash + Equivalent<CounterKey>>(
    counts: &'m mut Counts,
    key: &K,
    start: i64,
) -> Option<&'m mut Counted> {
    counts.get_mut(key).filter(|counted| counted.start == start)
}

fn add(counted: &mut Counted, amounts: Amounts, push: Push) {
    counted.counted = counted.counted.plus(amounts);
    if push == Push::Later {
        counted.unsynced = counted.unsynced.plus(amounts);
    }
}

impl TokenLimiter {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a request by `caller` when its reservation fits in what remains of every window of
    /// the route, and holds it there; else `Err((policy, seconds until the window ends))`.
    pub fn reserve(
        &self,
        route: &Route,
        caller: &str,
        reservation: Reservation,
        push: Push,
    ) -> Result<(), (String, i64)> {
        if route.token_limits.is_empty() {
            return Ok(());
        }
        let now = reservation.at;
        let mut counts = self.lock();
        for limit in &route.token_limits {
            let counted = current(&mut counts, key(route, limit, caller), window(limit, now));
            if over_limit(limit, counted.counted, reservation.reserved(limit)) {
                return Err((limit.policy.clone(), counted.end - now));
            }
        }
        self.hold_locked(&mut counts, route, caller, reservation, push);
        Ok(())
    }

    /// Holds a reservation admitted elsewhere (by the shared counters), so that this node's
    /// windows hold its share if it has to count alone.
    pub fn hold(&self, route: &Route, caller: &str, reservation: Reservation) {
        let mut counts = self.lock();
        self.hold_locked(&mut counts, route, caller, reservation, Push::Never);
    }

    fn hold_locked(&self, counts: &mut Counts, route: &Route, caller: &str, reservation: Reservation, push: Push) {
        for limit in &route.token_limits {
            let counted = current(counts, key(route, limit, caller), window(limit, reservation.at));
            add(counted, reservation.reserved(limit), push);
        }
        if push == Push::Later {
            self.has_unsynced.store(true, Ordering::Relaxed);
        }
    }

    /// Replaces a finished request's reservation by the tokens it used, in the windows it was
    /// admitted in (a window that has ended since is left alone).
    pub fn settle(&self, route: &Route, caller: &str, reservation: Reservation, usage: Usage, push: Push) {
        if route.token_limits.is_empty() {
            return;
        }
        let mut counts = self.lock();
        for limit in &route.token_limits {
            let (start, _) = window(limit, reservation.at);
            if let Some(counted) = still_counting(&mut counts, &key(route, limit, caller), start) {
                add(counted, reservation.settlement(limit, usage, route.price.as_ref()), push);
            }
        }
        if push == Push::Later {
            self.has_unsynced.store(true, Ordering::Relaxed);
        }
    }

    /// Marks a settlement already applied here (with [`Push::Never`]) as still to be pushed:
    /// it was meant for Redis, which did not take it.
    pub fn settlement_not_pushed(&self, route: &Route, caller: &str, reservation: Reservation, usage: Usage) {
        let mut counts = self.lock();
        for limit in &route.token_limits {
            let (start, _) = window(limit, reservation.at);
            if let Some(counted) = still_counting(&mut counts, &key(route, limit, caller), start) {
                counted.unsynced = counted.unsynced.plus(reservation.settlement(limit, usage, route.price.as_ref()));
            }
        }
        self.has_unsynced.store(true, Ordering::Relaxed);
    }

    /// Takes what open windows (those ending after `now`) counted here and Redis has not seen;
    /// they count it as seen from now on. Give back what could not be pushed with
    /// [`TokenLimiter::restore_unsynced`].
    pub fn take_unsynced(&self, now: i64) -> Vec<UnsyncedWindow> {
        if !self.has_unsynced.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        let mut counts = self.lock();
        let mut taken = Vec::new();
        for (key, counted) in counts.iter_mut() {
            let amounts = std::mem::take(&mut counted.unsynced);
            if !amounts.is_zero() && counted.end > now {
                taken.push(UnsyncedWindow { key: key.clone(), start: counted.start, end: counted.end, amounts });
            }
        }
        taken
    }

    /// Gives back windows taken by [`TokenLimiter::take_unsynced`] that did not reach Redis.
    pub fn restore_unsynced(&self, windows: Vec<UnsyncedWindow>) {
        if windows.is_empty() {
            return;
        }
        let mut counts = self.lock();
        for window in windows {
            if let Some(counted) = still_counting(&mut counts, &window.key, window.start) {
                counted.unsynced = counted.unsynced.plus(window.amounts);
            }
        }
        self.has_unsynced.store(true, Ordering::Relaxed);
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
            created: 0,
            price: None,
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

    /// A request expecting `total` tokens (no input or output estimate), admitted at `at`.
    fn expecting(total: i64, at: i64) -> Reservation {
        Reservation {
            estimate: Usage { input: 0, output: 0, total, ..Usage::default() },
            cost: 0,
            per_call_cost: 0,
            at,
        }
    }

    fn used(total: i64) -> Usage {
        Usage { input: 0, output: 0, total, ..Usage::default() }
    }

    #[test]
    fn a_request_is_admitted_when_its_reservation_fits_and_settled_to_what_it_used() {
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 100)]);
        let t = 1_700_000_100;
        let first = expecting(60, t);
        assert!(limiter.reserve(&route, "k", first, Push::Never).is_ok());
        assert_eq!(
            limiter.reserve(&route, "k", expecting(60, t + 1), Push::Never),
            Err(("p".into(), 59)),
            "60 reserved + 60 wanted > 100, though nothing has been used yet"
        );
        assert!(limiter.reserve(&route, "k", expecting(40, t + 1), Push::Never).is_ok(), "exactly the limit fits");
        limiter.settle(&route, "k", first, used(20), Push::Never);
        // Counted: 20 used + 40 reserved.
        assert!(limiter.reserve(&route, "k", expecting(40, t + 2), Push::Never).is_ok());
        assert!(limiter.reserve(&route, "k", expecting(1, t + 3), Push::Never).is_err(), "100 counted");
        assert!(limiter.reserve(&route, "k", expecting(60, t + 60), Push::Never).is_ok(), "a new window");
    }

    #[test]
    fn a_request_that_ends_without_usage_releases_its_reservation() {
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 100)]);
        let t = 1_700_000_100;
        let failed = expecting(100, t);
        assert!(limiter.reserve(&route, "k", failed, Push::Never).is_ok());
        assert!(limiter.reserve(&route, "k", expecting(1, t), Push::Never).is_err());
        limiter.settle(&route, "k", failed, Usage::default(), Push::Never);
        assert!(limiter.reserve(&route, "k", expecting(100, t + 1), Push::Never).is_ok());
    }

    #[test]
    fn concurrent_requests_overshoot_by_at_most_their_excess_over_the_reservation() {
        // 50 requests arrive before any ends; each reserves 80 and uses 90.
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 1000)]);
        let t = 1_700_000_100;
        let admitted: Vec<Reservation> = (0..50)
            .map(|_| expecting(80, t))
            .filter(|r| limiter.reserve(&route, "k", *r, Push::Never).is_ok())
            .collect();
        assert_eq!(admitted.len(), 12, "12 x 80 = 960 fits, 13 x 80 does not");
        for reservation in &admitted {
            limiter.settle(&route, "k", *reservation, used(90), Push::Never);
        }
        let spent = 90 * admitted.len() as i64;
        assert_eq!(spent, 1080, "the bound: 1000 + 12 x (90 - 80) = 1120");
        assert!(limiter.reserve(&route, "k", expecting(1, t + 1), Push::Never).is_err());
    }

    #[test]
    fn a_request_larger_than_the_limit_gets_an_empty_window_only() {
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 100)]);
        let t = 1_700_000_100;
        let huge = expecting(5000, t);
        assert!(limiter.reserve(&route, "k", huge, Push::Never).is_ok(), "not refused for ever");
        assert!(limiter.reserve(&route, "k", expecting(1, t), Push::Never).is_err(), "it holds the whole window");
        limiter.settle(&route, "k", huge, used(30), Push::Never);
        assert!(limiter.reserve(&route, "k", expecting(70, t + 1), Push::Never).is_ok());
    }

    #[test]
    fn a_settlement_after_its_window_ended_leaves_the_new_window_alone() {
        let limiter = TokenLimiter::default();
        let route = route(vec![limit("minute", 1, 100)]);
        let t = 1_700_000_100;
        let late = expecting(10, t + 59);
        assert!(limiter.reserve(&route, "k", late, Push::Never).is_ok());
        assert!(limiter.reserve(&route, "k", expecting(100, t + 60), Push::Never).is_ok(), "a new window");
        limiter.settle(&route, "k", late, used(500), Push::Never);
        let next = expecting(1, t + 61);
        assert!(limiter.reserve(&route, "k", next, Push::Never).is_err(), "100 of 100: the old window's 500 not added");
    }

    #[test]
    fn zero_thresholds_are_not_evaluated() {
        let limiter = TokenLimiter::default();
        let mut only_input = limit("hour", 1, 0);
        only_input.limits.input = Some(10);
        let route = route(vec![only_input]);
        let r = |at| Reservation {
            estimate: Usage { input: 5, output: 500, total: 505, ..Usage::default() },
            cost: 0,
            per_call_cost: 0,
            at,
        };
        assert!(limiter.reserve(&route, "k", r(0), Push::Never).is_ok());
        assert!(
            limiter.reserve(&route, "k", r(1), Push::Never).is_ok(),
            "10 input tokens: output and total not evaluated"
        );
        assert!(limiter.reserve(&route, "k", r(2), Push::Never).is_err());
    }

    #[test]
    fn request_limits_per_model_and_per_key() {
        let limiter = TokenLimiter::default();
        let mut rpm = limit("minute", 1, 0);
        rpm.limits.requests = Some(2);
        let shared = route(vec![rpm.clone()]);
        let admit = |route: &Route, caller: &str, at| limiter.reserve(route, caller, expecting(1, at), Push::Never);
        assert!(admit(&shared, "a", 0).is_ok());
        assert!(admit(&shared, "b", 1).is_ok());
        assert!(admit(&shared, "a", 2).is_err(), "two requests per minute for the model as a whole");
        rpm.limits.per_key = Some(true);
        let per_key = Route { name: "other".into(), ..route(vec![rpm]) };
        assert!(admit(&per_key, "a", 0).is_ok());
        assert!(admit(&per_key, "a", 1).is_ok());
        assert!(admit(&per_key, "a", 2).is_err());
        assert!(admit(&per_key, "b", 3).is_ok(), "each key has its own count");
        assert!(admit(&per_key, "a", 60).is_ok(), "and a new window");
    }

    #[test]
    fn what_was_counted_here_for_redis_is_taken_once_and_given_back_if_not_pushed() {
        let limiter = TokenLimiter::default();
        let mut tpm = limit("minute", 1, 1000);
        tpm.limits.requests = Some(10);
        let route = route(vec![tpm]);
        let t = 1_700_000_100;
        assert!(limiter.take_unsynced(t).is_empty());
        let shared = expecting(100, t);
        assert!(limiter.reserve(&route, "k", shared, Push::Never).is_ok(), "counted in Redis too");
        let alone = expecting(100, t);
        assert!(limiter.reserve(&route, "k", alone, Push::Later).is_ok(), "counted here only");
        limiter.settle(&route, "k", alone, used(30), Push::Later);
        limiter.settle(&route, "k", shared, used(50), Push::Never);
        limiter.settlement_not_pushed(&route, "k", shared, used(50));

        let taken = limiter.take_unsynced(t + 1);
        let amounts = Amounts { input: 0, output: 0, total: 30 - 50, requests: 1, cost: 0 };
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].start, taken[0].end, taken[0].amounts), (t, t + 60, amounts));
        assert_eq!(taken[0].key.model, "m");
        assert!(limiter.take_unsynced(t + 1).is_empty(), "taken once");
        limiter.restore_unsynced(taken.clone());
        assert_eq!(limiter.take_unsynced(t + 1), taken, "given back");
        limiter.restore_unsynced(taken);
        assert!(limiter.take_unsynced(t + 60).is_empty(), "a window that has ended is not pushed");
    }
}
