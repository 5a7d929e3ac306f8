//! The `upstream_peer` step: the route's connections in fallback order, those resting after a
//! rate limit or a server error last, and the rest a provider asks for. Cooldowns live on each
//! connection's upstream (an atomic per connection), so no lock is taken per request.

use crate::snapshot::{Route, Upstream};
use axum::http::HeaderMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest `Retry-After` honoured as a connection's rest.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// The upstreams to try, in order.
pub(super) enum Peers<'a> {
    /// None rests (the common case): the configured order, nothing allocated.
    Configured(&'a [Arc<Upstream>]),
    /// Resting ones moved to the end.
    Reordered(Vec<&'a Arc<Upstream>>),
}

impl<'a> Peers<'a> {
    pub fn len(&self) -> usize {
        match self {
            Peers::Configured(upstreams) => upstreams.len(),
            Peers::Reordered(upstreams) => upstreams.len(),
        }
    }

    pub fn get(&self, index: usize) -> Option<&'a Arc<Upstream>> {
        match self {
            Peers::Configured(upstreams) => upstreams.get(index),
            Peers::Reordered(upstreams) => upstreams.get(index).copied(),
        }
    }
}

/// The route's upstreams in fallback order: those not resting first, each group in its
/// configured order. Resting is read once per upstream, so a rest set meanwhile cannot make an
/// upstream appear twice.
pub(super) fn upstream_peers(route: &Route) -> Peers<'_> {
    let upstreams = route.upstreams.as_slice();
    if !upstreams.iter().any(|u| u.cooldown.is_resting()) {
        return Peers::Configured(upstreams);
    }
    let (mut ready, resting): (Vec<&Arc<Upstream>>, Vec<&Arc<Upstream>>) =
        upstreams.iter().partition(|u| !u.cooldown.is_resting());
    ready.extend(resting);
    Peers::Reordered(ready)
}

/// Rests `upstream` for the provider's `Retry-After` (seconds; 1 s without one, at most 5 min).
pub(super) fn rest(upstream: &Upstream, headers: &HeaderMap) {
    let seconds = headers.get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok()).unwrap_or(1);
    upstream.cooldown.rest_for(Duration::from_secs(seconds).min(MAX_COOLDOWN));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_limits::test_support::route;

    fn upstream(name: &str) -> Arc<Upstream> {
        Arc::new(Upstream {
            connection: name.into(),
            base_url: "http://x".into(),
            parsed_base: None,
            credential: None,
            config: Default::default(),
            cooldown: Default::default(),
        })
    }

    fn names(peers: &Peers<'_>) -> Vec<String> {
        (0..peers.len()).filter_map(|i| peers.get(i)).map(|u| u.connection.clone()).collect()
    }

    #[test]
    fn resting_connections_go_last_and_come_back_when_rested() {
        let route = Route { upstreams: vec![upstream("a"), upstream("b"), upstream("c")], ..route(vec![]) };
        assert!(matches!(upstream_peers(&route), Peers::Configured(_)), "nothing rests: no reordering");
        assert_eq!(names(&upstream_peers(&route)), ["a", "b", "c"]);

        let mut retry_after = HeaderMap::new();
        retry_after.insert("retry-after", "60".parse().unwrap());
        rest(&route.upstreams[0], &retry_after);
        assert_eq!(names(&upstream_peers(&route)), ["b", "c", "a"]);

        route.upstreams[0].cooldown.rest_for(Duration::ZERO);
        assert_eq!(names(&upstream_peers(&route)), ["a", "b", "c"], "a rest that is over no longer counts");
    }
}
