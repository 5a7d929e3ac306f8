//! What a request carries from step to step once the caller and route are known: built once,
//! from one snapshot, and moved (not copied) into the relay that records the request at its end.

use crate::caller::Caller;
use crate::gateway_error::ErrorShape;
use crate::reservation::Reservation;
use crate::snapshot::Route;
use crate::usage_tap::Usage;
use crate::InferencePlane;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One request of a known caller to a known route.
pub(super) struct RequestContext {
    pub state: Arc<InferencePlane>,
    pub route: Arc<Route>,
    pub caller: Caller,
    /// When the request arrived (latency and time to first byte count from here).
    pub started: Instant,
    /// The same moment, in microseconds since the Unix epoch (the usage record's time).
    pub at: i64,
    /// What the request holds in its route's maxToken windows (settled when it is recorded).
    pub reservation: Option<Reservation>,
    /// Whether the reservation has been settled: once, when the request is recorded, or when
    /// it is dropped unrecorded.
    pub settled: AtomicBool,
    /// The shape of the errors the gateway answers (the client's API's).
    pub error_shape: ErrorShape,
}

impl RequestContext {
    /// The reservation to settle, the first time only.
    pub fn take_reservation(&self) -> Option<Reservation> {
        self.reservation.filter(|_| !self.settled.swap(true, Ordering::Relaxed))
    }

    /// Who is counted by per-key limits: the key, or the token's subject.
    pub fn counted_as(&self) -> &str {
        self.caller.key_id.as_deref().unwrap_or(&self.caller.subject)
    }
}

impl Drop for RequestContext {
    /// A request dropped before it was recorded (its client left while the provider had not
    /// answered yet) gives its reservation back, rather than holding it until the window ends.
    fn drop(&mut self) {
        if let Some(reservation) = self.take_reservation() {
            let (state, now) = (&self.state, self.state.clock.now_secs());
            state.limiter.settle(&self.route, self.counted_as(), Some(reservation), Usage::default(), now);
        }
    }
}
