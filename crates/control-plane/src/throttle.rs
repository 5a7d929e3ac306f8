//! Slows down credential guessing without ever locking out a valid credential: failed
//! authentications are counted per client address; past a few failures each further failure is
//! answered late, and past the limit every further failure is answered 429 (held the longest
//! delay) until the address's window ends. Only failures are throttled: a request whose
//! credential verifies is never delayed or refused here, so an attacker behind the same NAT or
//! load balancer as the operators cannot lock them out. What a guess costs: the keys are 256-bit
//! random values checked by digest, so guessing is hopeless whatever the rate; the throttle
//! bounds how fast one address can try (past the limit, one answer per guess every
//! [`MAX_DELAY`] per connection) and makes the attempts visible (each refusal is logged).
//! The lock is never held across an await.

use crate::error::ApiError;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per window before answers are delayed.
const FREE_FAILURES: u32 = 5;
/// Failures per window after which the address is refused until the window ends.
const MAX_FAILURES: u32 = 30;
const WINDOW: Duration = Duration::from_secs(60);
const DELAY_PER_FAILURE: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Addresses tracked at most; older windows are dropped first.
const MAX_TRACKED: usize = 10_000;

struct Window {
    started: Instant,
    failures: u32,
}

/// Per-address failure counts.
#[derive(Default)]
pub struct AuthThrottle {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

/// The client's address, from the connection (loopback when unknown).
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl AuthThrottle {
    /// Counts a failed authentication from `ip` and holds the answer back a little longer the
    /// more failures its window holds; past [`MAX_FAILURES`], the failure becomes a 429 for the
    /// rest of the window. Called only after a credential failed to verify.
    pub async fn record_failure(&self, ip: IpAddr) -> Option<ApiError> {
        let (failures, started) = self.count_failure(ip);
        let delay = delay_after(failures);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if failures <= MAX_FAILURES {
            return None;
        }
        let retry_after = WINDOW.saturating_sub(started.elapsed()).as_secs().max(1);
        if failures == MAX_FAILURES + 1 {
            tracing::warn!(%ip, failures, "failed authentications from this address are refused until its window ends");
        }
        Some(ApiError::TooManyRequests(
            format!("too many failed authentications from this address; retry in {retry_after} s"),
            retry_after,
        ))
    }

    /// Counts a failure; returns the failures in the address's current window and when it started.
    fn count_failure(&self, ip: IpAddr) -> (u32, Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
        }
        let window = windows.entry(ip).or_insert_with(|| Window { started: Instant::now(), failures: 0 });
        if window.started.elapsed() >= WINDOW {
            *window = Window { started: Instant::now(), failures: 0 };
        }
        window.failures = window.failures.saturating_add(1);
        (window.failures, window.started)
    }
}

/// How long to hold back the answer to the `failures`-th failure of a window.
fn delay_after(failures: u32) -> Duration {
    DELAY_PER_FAILURE.saturating_mul(failures.saturating_sub(FREE_FAILURES)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refuses_failures_past_the_limit_and_forgives_after_the_window() {
        let throttle = AuthThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..MAX_FAILURES {
            assert!(throttle.record_failure(ip).await.is_none());
        }
        assert!(matches!(throttle.record_failure(ip).await, Some(ApiError::TooManyRequests(_, _))));
        assert!(throttle.record_failure(other).await.is_none(), "other addresses are not affected");
        throttle.windows.lock().unwrap().get_mut(&ip).unwrap().started = Instant::now() - WINDOW;
        assert_eq!(throttle.count_failure(ip).0, 1, "a new window forgives");
    }

    #[test]
    fn answers_slow_down_after_the_free_failures() {
        assert_eq!(delay_after(1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES + 1), DELAY_PER_FAILURE);
        assert_eq!(delay_after(1000), MAX_DELAY);
    }
}
