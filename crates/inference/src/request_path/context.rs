//! What a request carries from step to step once the caller and route are known: built once,
//! from one snapshot, and moved (not copied) into the relay that records the request at its end.

use crate::caller::Caller;
use crate::reservation::Reservation;
use crate::snapshot::Route;
use crate::InferencePlane;
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
}

impl RequestContext {
    /// Who is counted by per-key limits: the key, or the token's subject.
    pub fn counted_as(&self) -> &str {
        self.caller.key_id.as_deref().unwrap_or(&self.caller.subject)
    }
}
