//! Reading token usage out of a provider's answer while it streams through, without holding it
//! back. JSON answers are copied aside (up to a cap) and read at the end; SSE streams are split
//! into events and only events that mention usage are parsed. When modelgate asked an
//! OpenAI-style stream for usage the caller did not want, the usage-only chunk is removed.

use crate::json_scan;
use crate::relay::BodyProcessor;
use crate::sse::{find_event_end, parse_event};
use bytes::{Bytes, BytesMut};
use memchr::memmem::{Finder, FinderRev};
use modelgate_providers::Family;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::LazyLock;

/// Tokens a request used, in modelgate's convention (`modelgate_providers::prices::TokenCounts`):
/// `input` counts every input token, cached or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: i64,
    /// Output tokens, reasoning included.
    pub output: i64,
    pub total: i64,
    /// Input tokens the provider read from its prompt cache (part of `input`).
    pub cache_read: i64,
    /// Input tokens the provider wrote to its prompt cache (part of `input`).
    pub cache_write: i64,
}

/// Where an OpenAI chat usage object keeps its counts: input, output, total, cached input.
const OPENAI_USAGE: [json_scan::KeyPath<'static>; 4] =
    [&[b"prompt_tokens"], &[b"completion_tokens"], &[b"total_tokens"], &[b"prompt_tokens_details", b"cached_tokens"]];
/// The Responses API's names for the same counts: input, output, total, cached input. Looked for
/// only when the chat names are absent, so chat answers pay for four keys, not eight.
const RESPONSES_USAGE: [json_scan::KeyPath<'static>; 4] =
    [&[b"input_tokens"], &[b"output_tokens"], &[b"total_tokens"], &[b"input_tokens_details", b"cached_tokens"]];
/// Where an Anthropic usage object keeps its counts: fresh, cache-written and cache-read input, output.
const ANTHROPIC_USAGE: [json_scan::KeyPath<'static>; 4] =
    [&[b"input_tokens"], &[b"cache_creation_input_tokens"], &[b"cache_read_input_tokens"], &[b"output_tokens"]];

/// Largest JSON answer copied aside to read its usage.
const MAX_JSON_COPY: usize = 8 * 1024 * 1024;
/// Largest partial SSE event held while waiting for its end.
const MAX_PENDING_EVENT: usize = 4 * 1024 * 1024;

/// The tap on one response body.
pub struct UsageTap {
    family: Family,
    sse: bool,
    strip_usage_chunk: bool,
    /// JSON: the copy so far. SSE: the incomplete event at the end of what was seen.
    pending: BytesMut,
    overflowed: bool,
    usage: Usage,
}

/// The most tokens one request is recorded with, per count: far above any real request, low
/// enough that sums over millions of records stay within 64 bits.
pub const MAX_RECORDED_TOKENS: i64 = 1 << 40;

impl Usage {
    /// Whether the provider reported any input or output token.
    pub fn has_tokens(&self) -> bool {
        self.input > 0 || self.output > 0
    }

    /// The counts as recorded: each between 0 and [`MAX_RECORDED_TOKENS`] (a provider's count is
    /// not trusted to be sane), the total input + output when the provider gave none.
    pub fn recorded(self) -> Usage {
        let count = |n: i64| n.clamp(0, MAX_RECORDED_TOKENS);
        let (input, output) = (count(self.input), count(self.output));
        let total = if self.total > 0 { count(self.total) } else { input + output };
        Usage { input, output, total, cache_read: count(self.cache_read), cache_write: count(self.cache_write) }
    }
}

fn int(value: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_i64)
}

impl UsageTap {
    pub fn new(family: Family, sse: bool, strip_usage_chunk: bool) -> UsageTap {
        UsageTap {
            family,
            sse,
            strip_usage_chunk: strip_usage_chunk && sse,
            pending: BytesMut::new(),
            overflowed: false,
            usage: Usage::default(),
        }
    }
}

impl BodyProcessor for UsageTap {
    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        if !self.sse {
            if !self.overflowed && self.pending.len() + chunk.len() <= MAX_JSON_COPY {
                self.pending.extend_from_slice(&chunk);
            } else {
                self.overflowed = true;
            }
            out.push_back(chunk);
            return;
        }
        if self.pending.len() + chunk.len() > MAX_PENDING_EVENT {
            // A runaway event: stop reading it, keep relaying.
            self.pending.clear();
            if self.strip_usage_chunk {
                self.strip_usage_chunk = false;
            }
        }
        if !self.strip_usage_chunk {
            out.push_back(chunk.clone());
        }
        if self.pending.is_empty() {
            // The common case, a chunk that starts an event: its whole events are read where
            // they are, and only an unfinished one at its end is copied aside.
            let mut rest = chunk;
            while let Some((end, separator)) = find_event_end(&rest) {
                let event = rest.split_to(end + separator);
                let keep = self.read_event(&event[..end]);
                if self.strip_usage_chunk && keep {
                    out.push_back(event);
                }
            }
            self.pending.extend_from_slice(&rest);
            return;
        }
        self.pending.extend_from_slice(&chunk);
        while let Some((end, separator)) = find_event_end(&self.pending) {
            let event = self.pending.split_to(end + separator).freeze();
            let keep = self.read_event(&event[..end]);
            if self.strip_usage_chunk && keep {
                out.push_back(event);
            }
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        if self.sse {
            if !self.pending.is_empty() {
                let rest = self.pending.split().freeze();
                let keep = self.read_event(&rest);
                if self.strip_usage_chunk && keep {
                    out.push_back(rest);
                }
            }
        } else if !self.overflowed {
            self.read_answer();
        }
        if self.usage.total == 0 {
            self.usage.total = self.usage.input.saturating_add(self.usage.output);
        }
        self.usage
    }
}

impl UsageTap {
    /// Reads the usage of a whole JSON answer: in place when it can (see [`top_level_usage`]),
    /// else only the usage fields, else the whole document.
    fn read_answer(&mut self) {
        // (A derived struct also reads JSON arrays by position: only objects go the first ways.)
        let is_object = self.pending.trim_ascii_start().first() == Some(&b'{');
        if is_object && self.family != Family::Mcp {
            let answer = std::mem::take(&mut self.pending);
            let read = self.usage_in_place(&answer);
            self.pending = answer;
            if read {
                return;
            }
        }
        if is_object && self.reads_openai_usage() {
            if let Ok(typed) = serde_json::from_slice::<OpenAiEnvelope>(&self.pending) {
                if let Some(usage) = typed.usage {
                    let cached = usage.prompt_tokens_details.and_then(|details| details.cached_tokens);
                    self.count_openai([usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, cached]);
                }
                return;
            }
        }
        if is_object {
            if let Ok(envelope) = serde_json::from_slice::<UsageEnvelope>(&self.pending) {
                let mut value = serde_json::Map::new();
                if let Some(usage) = envelope.usage {
                    value.insert("usage".into(), usage);
                }
                if let Some(usage) = envelope.usage_metadata {
                    value.insert("usageMetadata".into(), usage);
                }
                return self.absorb(&Value::Object(value), None);
            }
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&self.pending) {
            // Gemini's non-SSE stream is a JSON array of chunks: the last has the totals.
            let value = match value {
                Value::Array(items) => items.into_iter().last().unwrap_or(Value::Null),
                other => other,
            };
            self.absorb(&value, None);
        }
    }

    /// Reads one SSE event; returns whether the client should see it.
    fn read_event(&mut self, event: &[u8]) -> bool {
        // Most events carry no usage (or `"usage":null`): only parse the ones that do.
        if !reports_usage(event) {
            return true;
        }
        let (name, data) = parse_event(event);
        // A top-level usage object read in place, unless the event must be classified (an
        // injected usage-only chunk) or its usage is nested (Anthropic's `message_start`).
        if !self.strip_usage_chunk && self.usage_in_place(&data) {
            return true;
        }
        let Ok(value) = serde_json::from_slice::<Value>(&data) else { return true };
        let usage_only = self.family_is_openai()
            && value.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty)
            && value.get("usage").is_some_and(|u| !u.is_null());
        self.absorb(&value, name.as_deref());
        !(self.strip_usage_chunk && usage_only)
    }

    /// Reads the top-level usage of a JSON document (an answer or one event's data) in place,
    /// for OpenAI's and Anthropic's shapes; whether it could.
    fn usage_in_place(&mut self, document: &[u8]) -> bool {
        match self.family {
            Family::OpenAiCompatible | Family::AzureOpenAi => {
                let Some(mut counts) = top_level_usage(document, OPENAI_USAGE) else { return false };
                if counts[0].is_none() && counts[1].is_none() {
                    let Some(responses) = top_level_usage(document, RESPONSES_USAGE) else { return false };
                    counts = responses;
                }
                self.count_openai(counts);
                true
            }
            Family::Anthropic => {
                let Some([input, created, read, output]) = top_level_usage(document, ANTHROPIC_USAGE) else {
                    return false;
                };
                self.count_anthropic([input, created, read], output);
                true
            }
            _ => false,
        }
    }

    /// OpenAI's counts (prompt, completion, total, cached prompt): each one given replaces the
    /// count so far. `prompt_tokens` already includes the cached tokens.
    fn count_openai(&mut self, [input, output, total, cached]: [Option<i64>; 4]) {
        self.usage.input = input.unwrap_or(self.usage.input);
        self.usage.output = output.unwrap_or(self.usage.output);
        self.usage.total = total.unwrap_or(self.usage.total);
        self.usage.cache_read = cached.unwrap_or(self.usage.cache_read);
    }

    /// Anthropic's counts: the input is the sum of fresh, cache-written and cache-read input
    /// tokens (when any is given and positive); the total is always input + output.
    fn count_anthropic(&mut self, inputs: [Option<i64>; 3], output: Option<i64>) {
        if let Some(input) = inputs.into_iter().flatten().reduce(i64::saturating_add).filter(|i| *i > 0) {
            self.usage.input = input;
        }
        let [_, created, read] = inputs;
        self.usage.cache_write = created.unwrap_or(self.usage.cache_write);
        self.usage.cache_read = read.unwrap_or(self.usage.cache_read);
        self.usage.output = output.unwrap_or(self.usage.output);
        self.usage.total = self.usage.input.saturating_add(self.usage.output);
    }

    /// Whether `absorb` reads OpenAI's usage fields for this family.
    fn reads_openai_usage(&self) -> bool {
        matches!(self.family, Family::OpenAiCompatible | Family::AzureOpenAi | Family::Mcp)
    }

    fn family_is_openai(&self) -> bool {
        matches!(self.family, Family::OpenAiCompatible | Family::AzureOpenAi)
    }

    /// Anthropic's usage in an answer or a stream event (`message_start` holds it in its message).
    fn absorb_anthropic(&mut self, value: &Value, event: Option<&str>) {
        let usage = match event {
            Some("message_start") => value.get("message").and_then(|m| m.get("usage")),
            _ => value.get("usage"),
        };
        if let Some(usage) = usage {
            let count = |key| int(usage, &[key]);
            let inputs =
                [count("input_tokens"), count("cache_creation_input_tokens"), count("cache_read_input_tokens")];
            self.count_anthropic(inputs, count("output_tokens"));
        }
    }

    /// Takes the usage a JSON document (an answer or one stream event) reports.
    fn absorb(&mut self, value: &Value, event: Option<&str>) {
        match self.family {
            Family::OpenAiCompatible | Family::AzureOpenAi | Family::Mcp => {
                // A Responses stream reports it in `response.completed`'s response.
                let usage = value.get("usage").or_else(|| value.get("response").and_then(|r| r.get("usage")));
                if let Some(usage) = usage.filter(|u| u.is_object()) {
                    let count = |path: &[&str]| int(usage, path);
                    self.count_openai([
                        count(&["prompt_tokens"]).or(count(&["input_tokens"])),
                        count(&["completion_tokens"]).or(count(&["output_tokens"])),
                        count(&["total_tokens"]),
                        count(&["prompt_tokens_details", "cached_tokens"])
                            .or(count(&["input_tokens_details", "cached_tokens"])),
                    ]);
                }
            }
            Family::Anthropic => self.absorb_anthropic(value, event),
            Family::Gemini | Family::VertexAi => {
                // Claude on Vertex AI (`publishers/anthropic`) answers in Anthropic's format.
                if self.family == Family::VertexAi && value.get("usageMetadata").is_none() {
                    return self.absorb_anthropic(value, event);
                }
                if let Some(usage) = value.get("usageMetadata") {
                    self.usage.input = int(usage, &["promptTokenCount"]).unwrap_or(self.usage.input);
                    // Thinking is billed as output: candidates plus thoughts.
                    let candidates = int(usage, &["candidatesTokenCount"]);
                    let thoughts = int(usage, &["thoughtsTokenCount"]);
                    if candidates.is_some() || thoughts.is_some() {
                        self.usage.output = candidates.unwrap_or(0).saturating_add(thoughts.unwrap_or(0));
                    }
                    self.usage.total = int(usage, &["totalTokenCount"]).unwrap_or(self.usage.total);
                    self.usage.cache_read = int(usage, &["cachedContentTokenCount"]).unwrap_or(self.usage.cache_read);
                }
            }
            Family::Cohere => {
                let usage = value.get("usage").or_else(|| value.get("delta").and_then(|d| d.get("usage")));
                if let Some(usage) = usage {
                    let tokens = usage.get("tokens").or_else(|| usage.get("billed_units"));
                    if let Some(tokens) = tokens {
                        self.usage.input = int(tokens, &["input_tokens"]).unwrap_or(self.usage.input);
                        self.usage.output = int(tokens, &["output_tokens"]).unwrap_or(self.usage.output);
                        self.usage.total = self.usage.input.saturating_add(self.usage.output);
                    }
                }
            }
        }
    }
}

/// An OpenAI-style answer's usage, read into integers without building the nested objects
/// (token details) as values. Any other shape (a float, a string, a duplicate key) fails, and
/// the answer is read the generic way by [`UsageEnvelope`], which gives the same result.
#[derive(serde::Deserialize)]
struct OpenAiEnvelope {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
}

/// The integers `names` of the answer's usage object, read where it sits instead of walking
/// the whole answer: the value of the last `"usage":` key (a quote inside a JSON string is
/// escaped, so the pattern is a key), accepted only when what follows the value closes exactly
/// the top-level object. `Some([None, ..])` for `"usage": null`; `None`: not found that way, read
/// the whole answer.
fn top_level_usage<const N: usize>(answer: &[u8], names: [json_scan::KeyPath<'_>; N]) -> Option<[Option<i64>; N]> {
    static USAGE_KEY: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b"\"usage\""));
    let at = USAGE_KEY.rfind(answer)?;
    let value = answer[at + b"\"usage\"".len()..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
    let (counts, length) = match value.strip_prefix(b"null") {
        Some(_) => ([None; N], b"null".len()),
        None => json_scan::object_integers(value, names)?,
    };
    closes_the_top_level_object(&value[length..]).then_some(counts)
}

/// Whether `tail` (what follows a value) ends the object holding that value, and the document.
fn closes_the_top_level_object(tail: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
    for (index, &byte) in tail.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' if depth == 0 => return tail[index + 1..].trim_ascii().is_empty(),
            b'}' | b']' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    false
}

#[derive(serde::Deserialize)]
struct OpenAiUsage {
    #[serde(default, alias = "input_tokens")]
    prompt_tokens: Option<i64>,
    #[serde(default, alias = "output_tokens")]
    completion_tokens: Option<i64>,
    #[serde(default)]
    total_tokens: Option<i64>,
    #[serde(default, alias = "input_tokens_details")]
    prompt_tokens_details: Option<OpenAiPromptDetails>,
}

#[derive(serde::Deserialize)]
struct OpenAiPromptDetails {
    #[serde(default)]
    cached_tokens: Option<i64>,
}

/// The usage fields of a JSON answer, whatever else it holds.
#[derive(serde::Deserialize)]
struct UsageEnvelope {
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default, rename = "usageMetadata")]
    usage_metadata: Option<Value>,
}

/// Whether an event holds a usage object (`"usage": {` or `"usageMetadata": {`), found by a
/// byte scan so the events without one are never parsed.
fn reports_usage(event: &[u8]) -> bool {
    static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage"));
    USAGE.find_iter(event).any(|at| {
        let rest = &event[at + b"\"usage".len()..];
        let rest = rest.strip_prefix(b"Metadata").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix(b"\"") else { return false };
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b":") else { return false };
        rest.trim_ascii_start().first() == Some(&b'{')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_usage_is_read_in_place_only_when_it_is_the_top_level_key() {
        const OPENAI: [json_scan::KeyPath<'static>; 4] = OPENAI_USAGE;
        let answer = br#"{"id":"c","choices":[{"message":{"content":"say \"usage\": {} }"}}],
            "usage" : {"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"details":{"a":[1]},
            "prompt_tokens_details":{"cached_tokens":2}}, "system_fingerprint":"fp_{]\"x"} "#;
        assert_eq!(top_level_usage(answer, OPENAI), Some([Some(3), Some(4), Some(7), Some(2)]));
        assert_eq!(top_level_usage(br#"{"usage":null}"#, OPENAI), Some([None; 4]));
        // A nested "usage" key, with or without a top-level one before it: read the whole answer.
        let nested = br#"{"usage":{"prompt_tokens":1},"choices":[{"extra":{"usage":{"prompt_tokens":9}}}]}"#;
        assert!(top_level_usage(nested, OPENAI).is_none());
        assert!(top_level_usage(br#"{"a":{"usage":{"prompt_tokens":9}},"b":1}"#, OPENAI).is_none());
        assert!(top_level_usage(br#"{"content":"no usage here"}"#, OPENAI).is_none());
        assert!(top_level_usage(br#"{"usage":{"prompt_tokens":1}} trailing"#, OPENAI).is_none());
        assert!(top_level_usage(br#"{"usage":{"prompt_tokens":1.5}}"#, OPENAI).is_none());
        // Whichever way it is read, the tap reports the top-level usage.
        let (_, usage) = run(Family::OpenAiCompatible, false, false, std::str::from_utf8(nested).unwrap(), 7);
        assert_eq!((usage.input, usage.total), (1, 1));
        let (_, usage) = run(Family::OpenAiCompatible, false, false, std::str::from_utf8(answer).unwrap(), 5);
        assert_eq!((usage.input, usage.output, usage.total, usage.cache_read), (3, 4, 7, 2));
    }

    #[test]
    fn anthropic_usage_is_read_in_place_with_cache_tokens_counted_as_input() {
        let answer = r#"{"id":"msg_1","type":"message","content":[{"type":"tool_use","input":{"usage":{"input_tokens":99}}}],
            "usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":2,"output_tokens":7,"service_tier":"standard"}}"#;
        assert_eq!(top_level_usage(answer.as_bytes(), ANTHROPIC_USAGE), Some([Some(10), Some(5), Some(2), Some(7)]));
        let (_, usage) = run(Family::Anthropic, false, false, answer, 9);
        assert_eq!((usage.input, usage.output, usage.total, usage.cache_read, usage.cache_write), (17, 7, 24, 2, 5));
        // Usage before the content: the last "usage" key is nested, so the whole answer is read.
        let first =
            r#"{"usage":{"input_tokens":3,"output_tokens":4},"content":[{"input":{"usage":{"input_tokens":99}}}]}"#;
        let (_, usage) = run(Family::Anthropic, false, false, first, 9);
        assert_eq!((usage.input, usage.output, usage.total), (3, 4, 7));
    }

    /// Feeds `body` in chunks of `size` bytes; returns what the client got and the usage.
    fn run(family: Family, sse: bool, strip: bool, body: &str, size: usize) -> (String, Usage) {
        let mut tap = UsageTap::new(family, sse, strip);
        let mut out = VecDeque::new();
        for chunk in body.as_bytes().chunks(size) {
            tap.feed(Bytes::copy_from_slice(chunk), &mut out);
        }
        let usage = tap.finish(&mut out);
        let seen: Vec<u8> = out.into_iter().flat_map(|b| b.to_vec()).collect();
        (String::from_utf8(seen).unwrap(), usage)
    }

    /// A provider's bytes are untrusted: an answer cut inside an escape is relayed as it came,
    /// with no usage, whatever the chunking (an in-place scan once read past its end).
    #[test]
    fn a_truncated_answer_is_relayed_as_sent_without_usage() {
        let body = r#"{"usage":{"x":"\"#;
        for family in [Family::OpenAiCompatible, Family::Anthropic, Family::Gemini, Family::Cohere] {
            for size in 1..=body.len() {
                let (seen, usage) = run(family, false, false, body, size);
                assert_eq!(seen, body, "{family:?} in chunks of {size}");
                assert_eq!((usage.input, usage.output, usage.total), (0, 0, 0), "{family:?}");
            }
        }
    }

    /// A Responses API answer: its usage has other names, and keys follow it.
    const RESPONSES_ANSWER: &str = r#"{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],
        "usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"user":null,"metadata":{}}"#;

    /// A Responses stream: the usage is in `response.completed`'s response.
    const RESPONSES_STREAM: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n\
        event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi\"}\n\n\
        event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":87,\"total_tokens\":123},\"metadata\":{}}}\n\n";

    const OPENAI_STREAM: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn recorded_counts_are_bounded_and_totalled() {
        let absurd = Usage { input: i64::MAX, output: -5, total: 0, cache_read: i64::MAX, cache_write: 3 };
        let recorded = absurd.recorded();
        assert_eq!(
            recorded,
            Usage {
                input: MAX_RECORDED_TOKENS,
                output: 0,
                total: MAX_RECORDED_TOKENS,
                cache_read: MAX_RECORDED_TOKENS,
                cache_write: 3
            }
        );
        let no_total = Usage { input: 7, output: 3, ..Usage::default() };
        assert_eq!(no_total.recorded().total, 10, "a provider that reports no total");
    }

    #[test]
    fn usage_of_each_family() {
        let cases: Vec<(Family, bool, &str, Usage)> = vec![
            (Family::OpenAiCompatible, false, r#"{"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#, Usage { input: 5, output: 2, total: 7, ..Usage::default() }),
            (Family::OpenAiCompatible, true, OPENAI_STREAM, Usage { input: 7, output: 3, total: 10, ..Usage::default() }),
            (Family::Anthropic, false, r#"{"usage":{"input_tokens":11,"output_tokens":4,"cache_read_input_tokens":2}}"#, Usage { input: 13, output: 4, total: 17, cache_read: 2, ..Usage::default() }),
            // Cached tokens: OpenAI's (in JSON and in a stream), Anthropic's reads and writes in a
            // stream, Gemini's with thinking billed as output.
            (Family::OpenAiCompatible, false, r#"{"usage":{"prompt_tokens":50,"completion_tokens":2,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":40,"audio_tokens":0}}}"#, Usage { input: 50, output: 2, total: 52, cache_read: 40, cache_write: 0 }),
            (Family::OpenAiCompatible, true, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\ndata: [DONE]\n\n", Usage { input: 9, output: 1, total: 10, cache_read: 8, cache_write: 0 }),
            (Family::Anthropic, true, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":20,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\n", Usage { input: 123, output: 6, total: 129, cache_read: 20, cache_write: 100 }),
            (Family::Gemini, false, r#"{"usageMetadata":{"promptTokenCount":300,"candidatesTokenCount":8,"thoughtsTokenCount":30,"cachedContentTokenCount":256,"totalTokenCount":338}}"#, Usage { input: 300, output: 38, total: 338, cache_read: 256, cache_write: 0 }),
            (Family::Anthropic, true, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"delta\":{\"text\":\"x\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", Usage { input: 9, output: 6, total: 15, ..Usage::default() }),
            (Family::Gemini, false, r#"{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":8,"totalTokenCount":11}}"#, Usage { input: 3, output: 8, total: 11, ..Usage::default() }),
            (Family::Gemini, false, r#"[{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}},{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":8,"totalTokenCount":11}}]"#, Usage { input: 3, output: 8, total: 11, ..Usage::default() }),
            (Family::Gemini, true, "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5}}\r\n\r\ndata: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":8,\"totalTokenCount\":11}}\r\n\r\n", Usage { input: 3, output: 8, total: 11, ..Usage::default() }),
            // Claude on Vertex AI: Anthropic's format, in an answer and in a stream.
            (Family::VertexAi, false, r#"{"type":"message","usage":{"input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":50}}"#, Usage { input: 1100, output: 50, total: 1150, cache_read: 1000, cache_write: 0 }),
            (Family::VertexAi, true, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\n", Usage { input: 9, output: 6, total: 15, ..Usage::default() }),
            (Family::Cohere, false, r#"{"usage":{"billed_units":{"input_tokens":1,"output_tokens":1},"tokens":{"input_tokens":20,"output_tokens":5}}}"#, Usage { input: 20, output: 5, total: 25, ..Usage::default() }),
            (Family::Cohere, true, "event: content-delta\ndata: {\"type\":\"content-delta\"}\n\nevent: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"usage\":{\"tokens\":{\"input_tokens\":4,\"output_tokens\":6}}}}\n\n", Usage { input: 4, output: 6, total: 10, ..Usage::default() }),
            (Family::OpenAiCompatible, false, "not json", Usage::default()),
            (Family::OpenAiCompatible, false, r#"{"id":"x","usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0}},"choices":[]}"#, Usage { input: 5, output: 2, total: 7, ..Usage::default() }),
            (Family::OpenAiCompatible, false, r#"{"usage":{"prompt_tokens":5,"completion_tokens":2.5}}"#, Usage { input: 5, output: 0, total: 5, ..Usage::default() }),
            (Family::OpenAiCompatible, false, r#"{"usage":null}"#, Usage::default()),
            (Family::AzureOpenAi, false, r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":4,"completion_tokens":1}}"#, Usage { input: 4, output: 1, total: 5, ..Usage::default() }),
            (Family::OpenAiCompatible, false, RESPONSES_ANSWER, Usage { input: 36, output: 87, total: 123, ..Usage::default() }),
            (Family::OpenAiCompatible, true, RESPONSES_STREAM, Usage { input: 36, output: 87, total: 123, ..Usage::default() }),
            (Family::OpenAiCompatible, false, r#"{"object":"response","usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":32},"output_tokens":2,"total_tokens":42}}"#, Usage { input: 40, output: 2, total: 42, cache_read: 32, cache_write: 0 }),
        ];
        for (family, sse, body, expected) in cases {
            for size in [1, 7, 4096] {
                let (seen, usage) = run(family, sse, false, body, size);
                assert_eq!(usage, expected, "{family:?} {body}");
                assert_eq!(seen, body, "without stripping, the client gets every byte");
            }
        }
    }

    #[test]
    fn only_events_with_a_usage_object_are_parsed() {
        assert!(reports_usage(br#"data: {"usage":{"prompt_tokens":1}}"#));
        assert!(reports_usage(br#"data: {"usage" : {"a":1}}"#));
        assert!(reports_usage(br#"data: {"usageMetadata":{"promptTokenCount":1}}"#));
        assert!(reports_usage(br#"data: {"message":{"usage":{"input_tokens":9}}}"#));
        assert!(!reports_usage(br#"data: {"choices":[],"usage":null}"#));
        assert!(!reports_usage(br#"data: {"content":"usage"}"#));
    }

    #[test]
    fn the_injected_usage_chunk_is_removed_and_nothing_else() {
        for size in [1, 5, 4096] {
            let (seen, usage) = run(Family::OpenAiCompatible, true, true, OPENAI_STREAM, size);
            assert_eq!(seen, "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n");
            assert_eq!(usage, Usage { input: 7, output: 3, total: 10, ..Usage::default() });
        }
        // One event per chunk, as providers usually write them: each is read where it is.
        for strip in [true, false] {
            let mut tap = UsageTap::new(Family::OpenAiCompatible, true, strip);
            let mut out = VecDeque::new();
            for event in OPENAI_STREAM.split_inclusive("\n\n") {
                tap.feed(Bytes::from(event), &mut out);
            }
            let usage = tap.finish(&mut out);
            let seen: Vec<u8> = out.into_iter().flat_map(|b| b.to_vec()).collect();
            assert_eq!(usage, Usage { input: 7, output: 3, total: 10, ..Usage::default() });
            assert_eq!(seen.len() < OPENAI_STREAM.len(), strip, "{}", String::from_utf8_lossy(&seen));
        }
    }

    /// Found by the properties: counts whose sum passes `i64::MAX` panicked (debug builds) or
    /// wrapped to a negative total (release); they saturate.
    #[test]
    fn counts_past_i64_saturate() {
        let max = i64::MAX;
        let cases = [
            (
                Family::Anthropic,
                format!(r#"{{"usage":{{"input_tokens":{max},"cache_read_input_tokens":1,"output_tokens":{max}}}}}"#),
            ),
            (Family::OpenAiCompatible, format!(r#"{{"usage":{{"prompt_tokens":{max},"completion_tokens":{max}}}}}"#)),
            (Family::Cohere, format!(r#"{{"usage":{{"tokens":{{"input_tokens":{max},"output_tokens":{max}}}}}}}"#)),
        ];
        for (family, body) in cases {
            let (_, usage) = run(family, false, false, &body, 4096);
            let cache_read = i64::from(family == Family::Anthropic);
            assert_eq!(usage, Usage { input: max, output: max, total: max, cache_read, cache_write: 0 }, "{family:?}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{chunked, config, cuts, edited, every_cut, near, run};
    use proptest::prelude::*;
    use serde_json::json;

    /// A provider's answer as it sends it, and the usage the tap should report.
    #[derive(Clone)]
    struct Answer {
        family: Family,
        sse: bool,
        body: Vec<u8>,
        usage: Usage,
    }

    /// The body as text, so that a failing case reads.
    impl std::fmt::Debug for Answer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let body = String::from_utf8_lossy(&self.body);
            write!(f, "{:?} sse={} usage={:?} body={body:?}", self.family, self.sse, self.usage)
        }
    }

    const FAMILIES: [Family; 7] = [
        Family::OpenAiCompatible,
        Family::AzureOpenAi,
        Family::Anthropic,
        Family::Gemini,
        Family::VertexAi,
        Family::Cohere,
        Family::Mcp,
    ];

    /// Answer text, often holding what the tap looks for.
    fn text() -> impl Strategy<Value = String> {
        const TRICKY: [&str; 5] = ["usage", "\"usage\": {\"prompt_tokens\": 9}", "data: {}\n\n", "é😀\\", "}]"];
        prop_oneof![any::<String>(), proptest::sample::select(&TRICKY[..]).prop_map(String::from)]
    }

    fn event(name: Option<&str>, data: &serde_json::Value, separator: &str) -> String {
        let name = name.map(|name| format!("event: {name}\n")).unwrap_or_default();
        format!("{name}data: {data}{separator}")
    }

    /// One answer of `family` in its wire format, JSON or SSE, with text `pieces` and counts.
    fn answer_of(family: Family, sse: bool, pieces: &[String], [a, b, c]: [i64; 3], separator: &str) -> Answer {
        let text = pieces.concat();
        let (ab, ac, acb) = (a.saturating_add(b), a.saturating_add(c), a.saturating_add(c).saturating_add(b));
        let events = |each: &dyn Fn(&String) -> String| pieces.iter().map(each).collect::<String>();
        let (body, usage) = match family {
            Family::OpenAiCompatible | Family::AzureOpenAi | Family::Mcp => {
                let usage = json!({"prompt_tokens": a, "completion_tokens": b, "total_tokens": ab,
                    "prompt_tokens_details": {"cached_tokens": c}});
                let body = if sse && family != Family::Mcp {
                    let delta = |p: &String| json!({"id": "c", "choices": [{"index": 0, "delta": {"content": p}}]});
                    let usage = json!({"id": "c", "choices": [], "usage": usage});
                    events(&|p| event(None, &delta(p), separator))
                        + &event(None, &usage, separator)
                        + "data: [DONE]"
                        + separator
                } else {
                    json!({"id": "c", "object": "chat.completion", "choices": [{"index": 0,
                        "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": usage})
                    .to_string()
                };
                (body, Usage { input: a, output: b, total: ab, cache_read: c, cache_write: 0 })
            }
            Family::Anthropic => {
                let body = if sse {
                    let start = json!({"type": "message_start", "message": {"id": "msg_1",
                        "usage": {"input_tokens": a, "cache_read_input_tokens": c, "output_tokens": 1}}});
                    let delta = |p: &String| json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}});
                    let end = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": b}});
                    event(Some("message_start"), &start, separator)
                        + &events(&|p| event(Some("content_block_delta"), &delta(p), separator))
                        + &event(Some("message_delta"), &end, separator)
                        + &event(Some("message_stop"), &json!({"type": "message_stop"}), separator)
                } else {
                    json!({"id": "msg_1", "type": "message", "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn", "usage": {"input_tokens": a, "cache_read_input_tokens": c, "output_tokens": b}})
                    .to_string()
                };
                (body, Usage { input: ac, output: b, total: acb, cache_read: c, cache_write: 0 })
            }
            Family::Gemini | Family::VertexAi => {
                let chunk = |p: &str, out: i64| {
                    json!({"candidates": [{"content": {"parts": [{"text": p}], "role": "model"}}],
                    "usageMetadata": {"promptTokenCount": a, "candidatesTokenCount": out, "totalTokenCount": a.saturating_add(out)}})
                };
                let body = if sse {
                    events(&|p| event(None, &chunk(p, 1), separator)) + &event(None, &chunk("", b), separator)
                } else {
                    chunk(&text, b).to_string()
                };
                (body, Usage { input: a, output: b, total: ab, ..Usage::default() })
            }
            Family::Cohere => {
                let usage = json!({"billed_units": {"input_tokens": c, "output_tokens": c}, "tokens": {"input_tokens": a, "output_tokens": b}});
                let body = if sse {
                    let delta = |p: &String| json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}});
                    let end = json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}});
                    event(Some("message-start"), &json!({"type": "message-start", "id": "r"}), separator)
                        + &events(&|p| event(Some("content-delta"), &delta(p), separator))
                        + &event(Some("message-end"), &end, separator)
                } else {
                    json!({"id": "r", "finish_reason": "COMPLETE", "message": {"role": "assistant",
                        "content": [{"type": "text", "text": text}]}, "usage": usage})
                    .to_string()
                };
                (body, Usage { input: a, output: b, total: ab, ..Usage::default() })
            }
        };
        Answer { family, sse: sse && family != Family::Mcp, body: body.into_bytes(), usage }
    }

    fn answer() -> impl Strategy<Value = Answer> {
        // Counts past what adds up in an i64 too: a provider's numbers are untrusted.
        let count = prop_oneof![4 => 0i64..1_000_000_000_000, 1 => (i64::MAX - 1000)..=i64::MAX];
        (
            proptest::sample::select(&FAMILIES[..]),
            any::<bool>(),
            proptest::collection::vec(text(), 1..4),
            [count.clone(), count.clone(), count],
            proptest::sample::select(&["\n\n", "\r\n\r\n"][..]),
        )
            .prop_map(|(family, sse, pieces, counts, separator)| answer_of(family, sse, &pieces, counts, separator))
    }

    /// A valid answer with up to four edits: cut, bytes flipped, removed or repeated, pieces
    /// of JSON and SSE syntax or multi-byte UTF-8 inserted.
    fn answer_near_valid() -> impl Strategy<Value = Answer> {
        answer().prop_flat_map(|answer| {
            edited(Just(answer.body.clone())).prop_map(move |body| Answer { body, ..answer.clone() })
        })
    }

    fn tap(answer: &Answer, strip: bool) -> UsageTap {
        UsageTap::new(answer.family, answer.sse, strip)
    }

    proptest! {
        #![proptest_config(config(500))]

        #[test]
        fn a_valid_answer_reports_its_usage_and_passes_unchanged(answer in answer(), cuts in cuts()) {
            let (seen, usage) = run(tap(&answer, false), chunked(&answer.body, &cuts));
            prop_assert_eq!(usage, answer.usage);
            prop_assert_eq!(seen, answer.body);
        }

        /// Whatever the bytes, and however they are cut, the tap reports what it reports for
        /// the whole answer, and the client gets every byte (nothing to strip asked for).
        #[test]
        fn an_answer_near_a_valid_one_reads_the_same_however_cut(answer in answer_near_valid(), cuts in cuts()) {
            let whole = run(tap(&answer, false), vec![answer.body.clone().into()]);
            prop_assert_eq!(&whole.0, &answer.body);
            prop_assert_eq!(run(tap(&answer, false), chunked(&answer.body, &cuts)), whole);
        }

        /// With the injected usage chunk to strip, the same holds for what the client gets.
        #[test]
        fn a_stream_to_strip_reads_the_same_however_cut(answer in answer_near_valid(), cuts in cuts()) {
            let whole = run(tap(&answer, true), vec![answer.body.clone().into()]);
            prop_assert_eq!(run(tap(&answer, true), chunked(&answer.body, &cuts)), whole);
        }

        /// The neighbourhood of an answer cut inside an escape (the scanner once read past it).
        #[test]
        fn an_answer_cut_inside_an_escape_is_relayed_as_sent(
            body in near(&[r#"{"usage":{"x":"\"#, r#"{"usage":{"prompt_tokens":1,"x":"\\\"}"#, r#"{"usage":{"input_tokens":2},"x":["\"#]),
            family in proptest::sample::select(&FAMILIES[..]),
            cuts in cuts(),
        ) {
            let answer = Answer { family, sse: false, body, usage: Usage::default() };
            let (seen, _) = run(tap(&answer, false), chunked(&answer.body, &cuts));
            prop_assert_eq!(seen, answer.body);
        }
    }

    proptest! {
        #![proptest_config(config(40))]

        /// Cut at every byte boundary, and a byte at a time: the same as whole.
        #[test]
        fn an_answer_reads_the_same_cut_at_every_byte(answer in prop_oneof![answer(), answer_near_valid()], strip in any::<bool>()) {
            let whole = run(tap(&answer, strip), vec![answer.body.clone().into()]);
            for chunks in every_cut(&answer.body) {
                prop_assert_eq!(&run(tap(&answer, strip), chunks), &whole);
            }
        }
    }

    /// The usage-only chunk modelgate asked for is taken out of a valid OpenAI stream, and
    /// nothing else is.
    #[test]
    fn the_injected_usage_chunk_alone_is_stripped() {
        let config = config(300);
        let strategy = (proptest::collection::vec(text(), 1..4), 0i64..1_000_000, 0i64..1_000_000, cuts());
        proptest::test_runner::TestRunner::new(config)
            .run(&strategy, |(pieces, a, b, cuts)| {
                let answer = answer_of(Family::OpenAiCompatible, true, &pieces, [a, b, 0], "\n\n");
                let body = String::from_utf8(answer.body.clone()).unwrap();
                let usage_event = body.split_inclusive("\n\n").find(|e| e.contains("\"choices\":[]")).unwrap();
                let (seen, usage) = run(tap(&answer, true), chunked(&answer.body, &cuts));
                prop_assert_eq!(usage, answer.usage);
                prop_assert_eq!(String::from_utf8(seen).unwrap(), body.replacen(usage_event, "", 1));
                Ok(())
            })
            .unwrap();
    }
}
