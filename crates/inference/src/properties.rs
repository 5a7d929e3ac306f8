//! What this crate's property tests share: their case counts, bytes near a valid sample (what
//! a broken or hostile provider or client sends), and a body cut into chunks.

use crate::relay::BodyProcessor;
use crate::usage_tap::Usage;
use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::VecDeque;

/// `cases` cases (`PROPTEST_CASES` overrides), and no failure files: a failure found becomes a
/// regression test beside the property.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Pieces that break a reader's assumptions: JSON and SSE punctuation, an escape at the end
/// (the usage scanner once read past it), integers past `i64`, multi-byte and invalid UTF-8.
const FRAGMENTS: &[&[u8]] = &[
    b"\\",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b" ",
    b"\n",
    b"\r",
    b"\n\n",
    b"\r\n\r\n",
    b"data: ",
    b"event: ",
    b"\"usage\":",
    b"\"usage\":{",
    br#"{"usage":{"x":"\"#,
    b"-",
    b"99999999999999999999",
    b"9223372036854775807",
    b"18446744073709551615",
    b"1.5e3",
    b"null",
    "é".as_bytes(),
    "日本".as_bytes(),
    "😀".as_bytes(),
    b"\xff",
    b"\x80",
    b"\xe6\x97",
    b"%",
    b"%FF",
    b"/",
];

/// An edit of a byte string, at positions taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Flip(usize, u8),
    Remove(usize, usize),
    Insert(usize, &'static [u8]),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let position = any::<usize>();
    prop_oneof![
        position.prop_map(Edit::Truncate),
        (position, 1..=u8::MAX).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (position, 1..16usize).prop_map(|(at, n)| Edit::Remove(at, n)),
        (position, proptest::sample::select(FRAGMENTS)).prop_map(|(at, f)| Edit::Insert(at, f)),
        (position, 1..32usize).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        let at = |position: usize| position % (len + 1);
        match *edit {
            Edit::Truncate(position) => bytes.truncate(at(position)),
            Edit::Flip(position, mask) if len > 0 => bytes[position % len] ^= mask,
            Edit::Remove(position, n) => {
                let start = at(position);
                bytes.drain(start..(start + n).min(len));
            }
            Edit::Insert(position, fragment) => {
                let at = at(position);
                bytes.splice(at..at, fragment.iter().copied());
            }
            Edit::Repeat(position, n) => {
                let start = at(position);
                let piece = bytes[start..(start + n).min(len)].to_vec();
                bytes.splice(start..start, piece);
            }
            Edit::Flip(..) => {}
        }
    }
    bytes
}

/// What `valid` makes, unchanged or with up to four edits.
pub fn edited(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (valid, proptest::collection::vec(edit(), 0..5)).prop_map(|(sample, edits)| apply(sample, &edits))
}

/// One of `samples`, unchanged or with up to four edits.
pub fn near(samples: &[&str]) -> impl Strategy<Value = Vec<u8>> {
    let samples: Vec<Vec<u8>> = samples.iter().map(|s| s.as_bytes().to_vec()).collect();
    edited(proptest::sample::select(samples))
}

/// Where to cut a body: positions taken modulo its length (any number of chunks, empty ones too).
pub fn cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..12)
}

/// `body` cut at `cuts`.
pub fn chunked(body: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut start = 0;
    let mut chunks = Vec::new();
    for point in points.into_iter().chain([body.len()]) {
        chunks.push(Bytes::copy_from_slice(&body[start..point]));
        start = point;
    }
    chunks
}

/// The ways of cutting a body that every split-sensitive reader is checked with: at every byte
/// boundary in two, a byte at a time.
pub fn every_cut(body: &[u8]) -> impl Iterator<Item = Vec<Bytes>> + '_ {
    let halves =
        (0..=body.len()).map(|at| vec![Bytes::copy_from_slice(&body[..at]), Bytes::copy_from_slice(&body[at..])]);
    halves.chain([body.chunks(1).map(Bytes::copy_from_slice).collect()])
}

/// What the client receives from `processor` fed `chunks`, and the usage it reports.
pub fn run(mut processor: impl BodyProcessor, chunks: Vec<Bytes>) -> (Vec<u8>, Usage) {
    let mut out = VecDeque::new();
    for chunk in chunks {
        processor.feed(chunk, &mut out);
    }
    let usage = processor.finish(&mut out);
    (out.into_iter().flat_map(|b| b.to_vec()).collect(), usage)
}

/// Keys and strings a provider's answer holds, so generated documents look like answers.
const WORDS: &[&str] = &[
    "usage",
    "usageMetadata",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "tokens",
    "billed_units",
    "choices",
    "delta",
    "message",
    "content",
    "text",
    "type",
];

/// Any JSON value a few levels deep, its keys often those of a usage object.
pub fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        proptest::sample::select(WORDS).prop_map(Value::from),
    ];
    let key = prop_oneof![proptest::sample::select(WORDS).prop_map(String::from), any::<String>()];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}
