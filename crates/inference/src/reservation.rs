//! What a request holds in its `maxToken` windows while it runs: admission reserves an estimate
//! of its tokens, and the end of the request settles the reservation to the tokens it actually
//! used. So concurrent requests cannot all see room that only one of them fits in: the tokens
//! counted in a window exceed its limit by at most the sum of (actual - reserved) over the
//! requests in flight when the last one was admitted.
//!
//! The estimate is read from the body already in memory, only for routes with a limit: the
//! output the request allows itself (the largest integer held by a `max_tokens`,
//! `max_completion_tokens` or `max_output_tokens` key), else [`DEFAULT_OUTPUT_TOKENS`]; plus its
//! input, one token per [`BYTES_PER_INPUT_TOKEN`] bytes of body (generous: JSON syntax counts
//! too).
//!
//! The keys are found by one vectorised byte search for `_tokens"` rather than by walking the
//! JSON (which cost more than the rest of admission): an unescaped `"` always delimits a string,
//! and a string followed by `:` is a key, so text inside a message (where quotes are escaped)
//! never matches. A key of that name nested deeper (a tool's schema) is read too when it holds
//! an integer: it is an estimate, settled to the real usage when the request ends.

use crate::snapshot::TokenLimit;
use crate::usage_tap::Usage;
use modelgate_domain::usage::nano_usd;
use modelgate_providers::prices::ModelPrice;

/// Output tokens reserved for a request that does not name its maximum.
pub const DEFAULT_OUTPUT_TOKENS: i64 = 256;
/// Body bytes counted as one input token.
pub const BYTES_PER_INPUT_TOKEN: usize = 4;

/// The most tokens one request counts for, in any kind: what a client or a provider claims is
/// untrusted, and a count past `i64` (or Redis's `HINCRBY`) must not turn into an error.
const MAX_COUNTED: i64 = 1 << 40;

/// The body fields in which the client APIs bound a request's output.
const OUTPUT_BOUNDS: [&[u8]; 3] = [b"max_tokens", b"max_completion_tokens", b"max_output_tokens"];
/// How each of [`OUTPUT_BOUNDS`] ends, quote included.
const BOUND_SUFFIX: &[u8] = b"_tokens\"";
/// The longest of [`OUTPUT_BOUNDS`] with its opening quote.
const LONGEST_BOUND: usize = b"\"max_completion_tokens".len();

/// Amounts counted in one window: tokens by kind, requests and spend (billionths of a dollar).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amounts {
    pub input: i64,
    pub output: i64,
    pub total: i64,
    pub requests: i64,
    pub cost: i64,
}

impl Amounts {
    /// `self + other`, field by field.
    pub fn plus(self, other: Amounts) -> Amounts {
        Amounts {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            total: self.total.saturating_add(other.total),
            requests: self.requests.saturating_add(other.requests),
            cost: self.cost.saturating_add(other.cost),
        }
    }

    /// Whether every field is zero.
    pub fn is_zero(&self) -> bool {
        *self == Amounts::default()
    }
}

/// A request's estimate and when it was admitted: enough to recompute, per limit, what was
/// reserved and in which window (so a reservation is a few numbers, with nothing allocated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub estimate: Usage,
    /// The estimate's cost at the route's price, in billionths of a dollar (0 without a price).
    pub cost: i64,
    /// The part of `cost` the price charges per call (`perRequest`), known exactly.
    pub per_call_cost: i64,
    /// When the request was admitted (seconds since the Unix epoch).
    pub at: i64,
}

impl Reservation {
    /// The reservation of a request whose body is `body`, admitted at `at`, on a route whose
    /// calls cost `price`.
    pub fn for_body(body: &[u8], at: i64, price: Option<&ModelPrice>) -> Reservation {
        let estimate = estimate(body);
        let per_call_cost = price.map_or(0, |price| nano_usd(price.per_request).clamp(0, MAX_COST));
        Reservation { estimate, cost: spent(price, &estimate), per_call_cost, at }
    }

    /// What this request holds in the window of `limit`: its estimate per kind, at least 1 and
    /// at most the limit itself (a request larger than the whole limit is admitted into an
    /// otherwise empty window rather than refused for ever), and one request.
    pub fn reserved(&self, limit: &TokenLimit) -> Amounts {
        let limits = &limit.limits;
        Amounts {
            input: bounded(self.estimate.input, limits.input),
            output: bounded(self.estimate.output, limits.output),
            total: bounded(self.estimate.total, limits.total),
            requests: 1,
            cost: bounded_cost(self.cost, self.per_call_cost, limit.budget()),
        }
    }

    /// What settling to `usage` adds to the window of `limit`: actual - reserved per kind (may
    /// be negative; a provider's count is taken between 0 and [`MAX_COUNTED`]), and the cost of
    /// `usage` at `price` less the cost reserved; the request itself stays counted.
    pub fn settlement(&self, limit: &TokenLimit, usage: Usage, price: Option<&ModelPrice>) -> Amounts {
        let reserved = self.reserved(limit);
        Amounts {
            input: plausible(usage.input) - reserved.input,
            output: plausible(usage.output) - reserved.output,
            total: plausible(usage.total) - reserved.total,
            requests: 0,
            cost: spent(price, &usage) - reserved.cost,
        }
    }
}

/// What `usage` costs at `price`, in billionths of a dollar, between 0 and [`MAX_COST`]: what
/// budgets count (0 without a price: such requests are never refused for it).
fn spent(price: Option<&ModelPrice>, usage: &Usage) -> i64 {
    price.and_then(|price| crate::spend::cost_nano_usd(price, usage)).map_or(0, |cost| cost.clamp(0, MAX_COST))
}

/// The most one request counts towards a budget: a thousand dollars (a provider's counts are
/// untrusted; a sum must stay far from `i64::MAX`).
const MAX_COST: i64 = 1_000 * 1_000_000_000;

/// The cost a request holds in a budget's window: its per-call price whole (known exactly), and
/// its tokens' estimated cost up to a tenth of the budget; in all, at most the budget. The token
/// estimate prices the whole output bound (`max_tokens`), often far above what a call spends:
/// held whole, one call with a large bound would keep every other one out until the window
/// ends. So such calls are admitted until nine tenths are spent or held, and spend can pass a
/// budget by what the calls in flight spend beyond their share.
fn bounded_cost(estimate: i64, per_call: i64, budget: Option<i64>) -> i64 {
    match budget {
        // Unlike tokens, a request may reserve nothing: a model without a price spends nothing.
        Some(budget) if budget > 0 => {
            let per_call = per_call.clamp(0, estimate.max(0));
            let tokens = (estimate - per_call).clamp(0, (budget / BUDGET_SHARE_PER_CALL).max(1));
            (per_call + tokens).clamp(0, budget)
        }
        _ => estimate,
    }
}

/// The largest part of a budget one call holds while it runs: 1/10.
const BUDGET_SHARE_PER_CALL: i64 = 10;

/// Whether `counted + wanted` goes over the `threshold` (0 or absent: not evaluated).
pub fn exceeds(threshold: Option<i64>, counted: i64, wanted: i64) -> bool {
    threshold.is_some_and(|t| t > 0 && counted.saturating_add(wanted) > t)
}

/// Whether adding `wanted` to `counted` goes over any threshold of `limit`.
pub fn over_limit(limit: &TokenLimit, counted: Amounts, wanted: Amounts) -> bool {
    let limits = &limit.limits;
    exceeds(limits.input, counted.input, wanted.input)
        || exceeds(limits.output, counted.output, wanted.output)
        || exceeds(limits.total, counted.total, wanted.total)
        || exceeds(limits.requests, counted.requests, wanted.requests)
        || exceeds(limit.budget(), counted.cost, wanted.cost)
}

fn bounded(estimate: i64, threshold: Option<i64>) -> i64 {
    match threshold {
        Some(t) if t > 0 => plausible(estimate).clamp(1, t),
        _ => plausible(estimate),
    }
}

fn plausible(count: i64) -> i64 {
    count.clamp(0, MAX_COUNTED)
}

/// The tokens a request with `body` may use: see the module's documentation.
pub fn estimate(body: &[u8]) -> Usage {
    let input = i64::try_from(body.len().div_ceil(BYTES_PER_INPUT_TOKEN)).unwrap_or(i64::MAX);
    let output = named_output_bound(body).unwrap_or(DEFAULT_OUTPUT_TOKENS);
    Usage { input, output, total: input.saturating_add(output), ..Usage::default() }
}

/// The largest non-negative integer any of [`OUTPUT_BOUNDS`] holds in `body` (see the module's
/// documentation).
fn named_output_bound(body: &[u8]) -> Option<i64> {
    static SUFFIX: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(BOUND_SUFFIX));
    let mut largest: Option<i64> = None;
    for found in SUFFIX.find_iter(body) {
        let closing = found + BOUND_SUFFIX.len() - 1;
        // The key's opening quote, at most the longest name back; not an escaped one.
        let window = found.saturating_sub(LONGEST_BOUND)..found;
        let Some(opening) = body[window.clone()].iter().rposition(|&b| b == b'"').map(|i| window.start + i) else {
            continue;
        };
        let escaped = opening > 0 && body[opening - 1] == b'\\';
        if escaped || !OUTPUT_BOUNDS.contains(&&body[opening + 1..closing]) {
            continue;
        }
        if let Some(value) = integer_after_colon(&body[closing + 1..]) {
            largest = Some(largest.map_or(value, |l| l.max(value)));
        }
    }
    largest
}

/// The non-negative integer after `:` (white space around it allowed) at the start of `rest`,
/// when it ends where a JSON number does.
fn integer_after_colon(rest: &[u8]) -> Option<i64> {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let rest = &rest[rest.iter().position(|b| !is_space(b))?..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[rest.iter().position(|b| !is_space(b))?..];
    let digits = rest.iter().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
    if digits == 0 || rest.get(digits).is_some_and(|b| matches!(b, b'.' | b'e' | b'E')) {
        return None;
    }
    rest[..digits].iter().try_fold(0i64, |n, d| n.checked_mul(10)?.checked_add(i64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_limits::test_support::limit;

    #[test]
    fn a_call_holds_at_most_a_tenth_of_a_budget() {
        let dollar = 1_000_000_000;
        // 32,000 output tokens at $75 a million: $2.40 estimated against a $1 budget.
        assert_eq!(bounded_cost(2_400_000_000, 0, Some(dollar)), dollar / 10);
        assert_eq!(bounded_cost(3_000, 0, Some(dollar)), 3_000, "a small estimate is held whole");
        assert_eq!(bounded_cost(3_000, 0, Some(5)), 1, "a tiny budget: at least a billionth");
        assert_eq!(bounded_cost(3_000, 0, None), 3_000);
        assert_eq!(bounded_cost(-1, 0, Some(dollar)), 0);
        // A per-call price is held whole: $1 a call against $2.50 lets two calls in, not three.
        assert_eq!(bounded_cost(dollar, dollar, Some(2 * dollar + dollar / 2)), dollar);
        assert_eq!(bounded_cost(dollar + 2_400_000_000, dollar, Some(5 * dollar)), dollar + dollar / 2);
        assert_eq!(bounded_cost(9 * dollar, 9 * dollar, Some(dollar)), dollar, "never more than the budget");
    }

    #[test]
    fn the_estimate_is_the_named_output_bound_plus_a_quarter_of_the_body() {
        let cases: [(&[u8], i64); 9] = [
            (br#"{"messages":[],"max_tokens":100}"#, 100),
            (br#"{"max_completion_tokens":300,"messages":[{"content":"a \"q\""}]}"#, 300),
            (br#"{"input":"hi","max_output_tokens":42}"#, 42),
            (br#"{"messages":[{"role":"user","content":"hi"}]}"#, DEFAULT_OUTPUT_TOKENS),
            // Unreadable where it sits (null, a fraction, not an object): the default.
            (br#"{"max_tokens":null}"#, DEFAULT_OUTPUT_TOKENS),
            (br#"{"max_tokens":1.5}"#, DEFAULT_OUTPUT_TOKENS),
            (b"not json", DEFAULT_OUTPUT_TOKENS),
            // A key of that name holding a schema, and one quoted inside a message: not bounds.
            (
                br#"{"tools":[{"parameters":{"properties":{"max_tokens":{"type":"integer"}}}}],"messages":[{"content":"{\"max_tokens\":9} my_tokens"}]}"#,
                DEFAULT_OUTPUT_TOKENS,
            ),
            (br#"{"max_tokens" : 70, "messages":[]}"#, 70),
        ];
        for (body, output) in cases {
            let input = i64::try_from(body.len().div_ceil(4)).unwrap();
            let expected = Usage { input, output, total: input + output, ..Usage::default() };
            assert_eq!(estimate(body), expected, "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(estimate(br#"{"max_tokens":-5}"#).output, DEFAULT_OUTPUT_TOKENS);
        assert_eq!(estimate(b"").input, 0);
    }

    #[test]
    fn a_reservation_is_at_least_one_and_at_most_the_limit() {
        let reservation = Reservation {
            estimate: Usage { input: 10, output: 5000, total: 5010, ..Usage::default() },
            cost: 0,
            per_call_cost: 0,
            at: 0,
        };
        let mut total_1000 = limit("minute", 1, 1000);
        assert_eq!(
            reservation.reserved(&total_1000),
            Amounts { input: 10, output: 5000, total: 1000, requests: 1, cost: 0 }
        );
        total_1000.limits.input = Some(5);
        assert_eq!(reservation.reserved(&total_1000).input, 5);
        let nothing = Reservation { estimate: Usage::default(), cost: 0, per_call_cost: 0, at: 0 };
        assert_eq!(nothing.reserved(&total_1000), Amounts { input: 1, output: 0, total: 1, requests: 1, cost: 0 });
        let settled =
            reservation.settlement(&total_1000, Usage { input: 3, output: 200, total: 203, ..Usage::default() }, None);
        assert_eq!(settled, Amounts { input: -2, output: -4800, total: -797, requests: 0, cost: 0 });
    }

    #[test]
    fn a_window_is_over_when_the_wanted_amount_does_not_fit() {
        let total_100 = limit("minute", 1, 100);
        let counted = |total| Amounts { total, ..Amounts::default() };
        let wanted = |total| Amounts { total, requests: 1, ..Amounts::default() };
        assert!(!over_limit(&total_100, counted(60), wanted(40)), "exactly the limit fits");
        assert!(over_limit(&total_100, counted(61), wanted(40)));
        assert!(over_limit(&total_100, counted(100), wanted(1)));
        assert!(!over_limit(&limit("minute", 1, 0), counted(1_000_000), wanted(1)), "0 is not evaluated");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use crate::token_limits::test_support::limit;
    use modelgate_domain::PolicyMaxTokens;
    use proptest::prelude::*;

    const SAMPLES: [&str; 3] = [
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi \"there\""}],"max_tokens":256}"#,
        r#"{"model":"o3","input":[{"role":"user","content":"x"}],"max_output_tokens":9999999999999999999}"#,
        r#"{"messages":[{"role":"user","content":[{"type":"text","text":"{\"max_tokens\":1}"}]}],"max_completion_tokens":-1}"#,
    ];

    /// What any body's estimate keeps to.
    fn well_formed(body: &[u8]) -> Result<(), TestCaseError> {
        let estimate = estimate(body);
        prop_assert_eq!(estimate.input, i64::try_from(body.len().div_ceil(BYTES_PER_INPUT_TOKEN)).unwrap());
        prop_assert!(estimate.output >= 0);
        prop_assert_eq!(estimate.total, estimate.input.saturating_add(estimate.output));
        Ok(())
    }

    fn thresholds() -> impl Strategy<Value = Option<i64>> {
        proptest::option::of(prop_oneof![Just(0i64), 1i64..1_000_000, any::<i64>()])
    }

    fn usage() -> impl Strategy<Value = Usage> {
        (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(input, output, total)| Usage {
            input,
            output,
            total,
            ..Usage::default()
        })
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn any_bytes_have_an_estimate(body in proptest::collection::vec(any::<u8>(), 0..96)) {
            well_formed(&body)?;
        }

        #[test]
        fn bytes_near_a_request_have_an_estimate(body in near(&SAMPLES)) {
            well_formed(&body)?;
        }
    }

    proptest! {
        #![proptest_config(config(500))]

        /// A body naming one bound among other fields: the estimate's output is that bound.
        #[test]
        fn a_named_bound_is_read(bound in 0i64..10_000_000, field in 0usize..3, text in r#"[a-z "{}\\]{0,20}"#) {
            let name = std::str::from_utf8(OUTPUT_BOUNDS[field]).unwrap();
            let body = serde_json::json!({"messages": [{"role": "user", "content": text}], name: bound});
            prop_assert_eq!(estimate(&serde_json::to_vec(&body).unwrap()).output, bound);
        }

        /// Whatever the estimate, the thresholds and the usage a provider claims: a reservation
        /// is between 1 and each threshold, and settling never overflows.
        #[test]
        fn reservations_and_settlements_stay_in_range(
            estimate in usage(),
            (input, output, total) in (thresholds(), thresholds(), thresholds()),
            actual in usage(),
        ) {
            let mut limit = limit("minute", 1, 0);
            limit.limits = PolicyMaxTokens { input, output, total, ..limit.limits };
            let reservation = Reservation { estimate, cost: 0, per_call_cost: 0, at: 0 };
            let reserved = reservation.reserved(&limit);
            for (amount, threshold) in [(reserved.input, input), (reserved.output, output), (reserved.total, total)] {
                prop_assert!((0..=MAX_COUNTED).contains(&amount));
                if let Some(t) = threshold.filter(|t| *t > 0) {
                    prop_assert!((1..=t).contains(&amount));
                }
            }
            let settled = reservation.settlement(&limit, actual, None);
            prop_assert_eq!(reserved.plus(settled).total, actual.total.clamp(0, MAX_COUNTED));
        }
    }
}
