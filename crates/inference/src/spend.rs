//! What a request cost: its [`Usage`] at its route's price (resolved when the route was built).
//! Recorded on its usage record and counted in budgets (`maxTokens.costUsd`).

use crate::usage_tap::Usage;
use modelgate_domain::usage::nano_usd;
use modelgate_providers::prices::{cost, ModelPrice, TokenCounts};

/// The most one request is recorded to cost: ten thousand dollars (the dearest models cost
/// well under a thousand for a million tokens), so sums over millions of records stay within 64
/// bits whatever a price or a provider's count says.
pub const MAX_RECORDED_COST: i64 = 10_000 * 1_000_000_000;

/// `usage` at `price`, in billionths of a dollar, up to [`MAX_RECORDED_COST`]. A request for
/// which the provider reported no token costs nothing, not even a per-request price: providers
/// bill no refusal or failure, and an answer whose usage could not be read is not billed twice
/// by guessing. `None` for a price per generated image: no answer modelgate reads reports its
/// images, so such a cost would be unknown, not a smaller figure.
pub fn cost_nano_usd(price: &ModelPrice, usage: &Usage) -> Option<i64> {
    if price.per_image > 0.0 {
        return None;
    }
    if !usage.has_tokens() {
        return Some(0);
    }
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let tokens = TokenCounts {
        input: count(usage.input),
        output: count(usage.output),
        cache_read: count(usage.cache_read),
        cache_write: count(usage.cache_write),
        images: 0,
    };
    Some(nano_usd(cost(price, &tokens)).clamp(0, MAX_RECORDED_COST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_priced_with_their_cache_and_nothing_used_costs_nothing() {
        let price = ModelPrice {
            input: 3e-6,
            output: 1.5e-5,
            cache_read: Some(3e-7),
            cache_write: Some(3.75e-6),
            per_request: 0.01,
            per_image: 0.0,
        };
        let usage = Usage { input: 1_230, output: 100, total: 1_330, cache_read: 200, cache_write: 1_000 };
        // 30 uncached, 200 read, 1000 written, 100 out, one request.
        let usd: f64 = 30.0 * 3e-6 + 200.0 * 3e-7 + 1_000.0 * 3.75e-6 + 100.0 * 1.5e-5 + 0.01;
        assert_eq!(cost_nano_usd(&price, &usage), Some((usd * 1e9).round() as i64));
        assert_eq!(cost_nano_usd(&price, &Usage::default()), Some(0));
        let absurd = Usage { input: i64::MAX, output: i64::MAX, total: i64::MAX, ..Usage::default() };
        assert_eq!(cost_nano_usd(&price, &absurd), Some(MAX_RECORDED_COST), "bounded");
        let per_image = ModelPrice { per_image: 0.04, ..price };
        assert_eq!(cost_nano_usd(&per_image, &usage), None, "images are not counted: unknown, not cheaper");
    }
}
