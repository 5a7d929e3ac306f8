//! What this crate's property tests share: their case counts, and text near a valid sample
//! (what a careless or hostile client sends where a valid value goes).

use proptest::prelude::*;
use proptest::test_runner::Config;

/// `cases` cases (`PROPTEST_CASES` overrides), and no failure files: a failure found becomes a
/// regression test beside the property.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Pieces a client may put in: multi-byte characters (the lifetime parser once cut one in two),
/// signs, digits past any limit, separators and white space.
const FRAGMENTS: &[&str] = &[
    "é",
    "日",
    "😀",
    "\u{0}",
    "\u{301}",
    " ",
    "\t",
    "\n",
    "-",
    "+",
    "0",
    "9",
    "99999999999999999999",
    ".",
    ":",
    "=",
    "%",
    "%FF",
    "/",
    "\\",
    "\"",
    "_",
    "Bearer ",
    "d",
    "w",
];

/// An edit of a text, at a character position taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Remove(usize),
    Replace(usize, char),
    Insert(usize, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    let position = any::<usize>();
    prop_oneof![
        position.prop_map(Edit::Truncate),
        position.prop_map(Edit::Remove),
        (position, any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
        (position, proptest::sample::select(FRAGMENTS)).prop_map(|(at, f)| Edit::Insert(at, f)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len();
        let at = |position: usize, extra: usize| position % (len + extra);
        match *edit {
            Edit::Truncate(position) => chars.truncate(at(position, 1)),
            Edit::Remove(position) if !chars.is_empty() => {
                chars.remove(at(position, 0));
            }
            Edit::Replace(position, c) if !chars.is_empty() => chars[at(position, 0)] = c,
            Edit::Insert(position, fragment) => {
                let at = at(position, 1);
                chars.splice(at..at, fragment.chars());
            }
            Edit::Remove(_) | Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

/// One of `samples`, unchanged or with up to four edits.
pub fn near(samples: Vec<String>) -> impl Strategy<Value = String> {
    (proptest::sample::select(samples), proptest::collection::vec(edit(), 0..5))
        .prop_map(|(sample, edits)| apply(&sample, &edits))
}

/// [`near`] for literal samples.
pub fn near_str(samples: &[&str]) -> impl Strategy<Value = String> {
    near(samples.iter().map(|s| s.to_string()).collect())
}
