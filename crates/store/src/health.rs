//! Whether the store answers, as a background probe sees it. Readiness reads it without waiting,
//! and the control plane uses it to answer 503 at once while the store is down and to end the
//! requests in flight when it goes down (a request waiting on a connection whose packets are
//! dropped would otherwise hang on TCP).

use crate::{Store, StoreError};
use std::time::Duration;
use tokio::sync::watch;

/// The store's reachability, kept current by [`StoreHealth::watch`].
pub struct StoreHealth {
    up: watch::Sender<bool>,
}

impl StoreHealth {
    /// How often the store is probed.
    pub const EVERY: Duration = Duration::from_millis(500);
    /// How long a probe may take before the store counts as unreachable. A probe is a
    /// `SELECT 1` on a connection of its own: a database that cannot answer it within a second
    /// cannot serve writes either.
    pub const TIMEOUT: Duration = Duration::from_secs(1);

    /// Starts as `up` (a store just opened answers).
    pub fn new(up: bool) -> StoreHealth {
        StoreHealth { up: watch::Sender::new(up) }
    }

    /// Whether the last probe succeeded.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Completes when the store is seen down (at once if it already is).
    pub async fn went_down(&self) {
        let mut up = self.up.subscribe();
        // The sender lives in `self`, which outlives this future: the wait cannot fail.
        let _ = up.wait_for(|up| !*up).await;
    }

    /// Probes `store` every [`StoreHealth::EVERY`] and records whether it answered within
    /// [`StoreHealth::TIMEOUT`], logging each change. Runs until dropped.
    pub async fn watch(&self, store: &dyn Store) {
        let mut ticks = tokio::time::interval(StoreHealth::EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let probed = tokio::time::timeout(StoreHealth::TIMEOUT, store.probe()).await;
            let failure = match probed {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some(StoreError::Unavailable("no answer within 1 s".into())),
            };
            let up = failure.is_none();
            if self.up.send_replace(up) != up {
                match failure {
                    Some(error) => {
                        tracing::error!(%error, "the store is unreachable: control-plane requests answer 503 until it is back")
                    }
                    None => tracing::info!("the store answers again"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn went_down_completes_at_once_when_down_and_waits_while_up() {
        let health = StoreHealth::new(true);
        assert!(health.is_up());
        let waiting = tokio::time::timeout(Duration::from_millis(50), health.went_down()).await;
        assert!(waiting.is_err(), "still up: went_down waits");
        health.up.send_replace(false);
        assert!(!health.is_up());
        tokio::time::timeout(Duration::from_secs(5), health.went_down()).await.expect("down: went_down completes");
    }
}
