//! What this crate's property tests share: their case counts, and header text near a valid one.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// `cases` cases (`PROPTEST_CASES` overrides), and no failure files: a failure found becomes a
/// regression test beside the property.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Bytes a header may carry: any, or one of `samples` with a byte changed, cut, or with
/// multi-byte or invalid UTF-8 put in.
pub fn header_bytes(samples: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let edited = (proptest::sample::select(samples), any::<usize>(), any::<u8>(), 0..4usize).prop_map(
        |(sample, at, byte, how)| {
            let mut bytes = sample.into_bytes();
            let at = at % (bytes.len() + 1);
            match how {
                0 => bytes.truncate(at),
                1 => bytes.insert(at, byte),
                2 => bytes.splice(at..at, "é😀\u{0}".bytes()).for_each(drop),
                _ => {}
            }
            bytes
        },
    );
    prop_oneof![edited, proptest::collection::vec(any::<u8>(), 0..40)]
}
