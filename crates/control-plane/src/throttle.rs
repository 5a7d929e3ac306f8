//! Slows down credential guessing: failed authentications are counted per client address;
//! past a few failures each further one is answered late, and past the limit the address gets
//! 429 until its window ends. The lock is never held across an await.

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
    /// 429 if `ip` failed too often in its current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match windows.get(&ip) {
            Some(window) if window.failures >= MAX_FAILURES && window.started.elapsed() < WINDOW => {
                let retry_after = WINDOW.saturating_sub(window.started.elapsed()).as_secs().max(1);
                Err(ApiError::TooManyRequests(
                    format!("too many failed authentications from this address; retry in {retry_after} s"),
                    retry_after,
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure and waits a little longer the more failures the window holds.
    pub async fn record_failure(&self, ip: IpAddr) {
        let delay = delay_after(self.count_failure(ip));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts a failure; returns the failures in the address's current window.
    fn count_failure(&self, ip: IpAddr) -> u32 {
        {
            let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if windows.len() >= MAX_TRACKED {
                windows.retain(|_, w| w.started.elapsed() < WINDOW);
            }
            let window = windows.entry(ip).or_insert_with(|| Window { started: Instant::now(), failures: 0 });
            if window.started.elapsed() >= WINDOW {
                *window = Window { started: Instant::now(), failures: 0 };
            }
            window.failures += 1;
            window.failures
        }
    }
}

/// How long to hold back the answer to the `failures`-th failure of a window.
fn delay_after(failures: u32) -> Duration {
    DELAY_PER_FAILURE.saturating_mul(failures.saturating_sub(FREE_FAILURES)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_address_after_too_many_failures_and_forgives_after_the_window() {
        let throttle = AuthThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check(ip).is_ok());
            throttle.count_failure(ip);
        }
        assert!(matches!(throttle.check(ip), Err(ApiError::TooManyRequests(_, _))));
        assert!(throttle.check(other).is_ok(), "other addresses are not affected");
        throttle.windows.lock().unwrap().get_mut(&ip).unwrap().started = Instant::now() - WINDOW;
        assert!(throttle.check(ip).is_ok(), "a new window forgives");
        assert_eq!(throttle.count_failure(ip), 1);
    }

    #[test]
    fn answers_slow_down_after_the_free_failures() {
        assert_eq!(delay_after(1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES + 1), DELAY_PER_FAILURE);
        assert_eq!(delay_after(1000), MAX_DELAY);
    }
}
