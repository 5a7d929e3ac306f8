//! The deterministic model: the reply text (as stream deltas) and the token counts every
//! provider reports.

use serde_json::Value;

/// Default number of content deltas in a reply.
pub(crate) const DEFAULT_CHUNKS: usize = 5;
/// Upper bound for `x-mock-chunks`, so one request cannot exhaust memory.
pub(crate) const MAX_CHUNKS: usize = 100_000;

const FILLER: [&str; 10] = ["This", "reply", "is", "deterministic", "and", "arrives", "in", "small", "pieces", "."];

/// The reply text, split in the deltas a stream sends; one delta counts as one completion token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub deltas: Vec<String>,
}

impl Completion {
    /// `chunks` deltas: "Hello from the mock {provider} provider." then one filler word each.
    pub(crate) fn new(provider: &str, chunks: usize) -> Self {
        let first = format!("Hello from the mock {provider} provider.");
        let rest = (0..chunks.saturating_sub(1)).map(|i| format!(" {}", FILLER[i % FILLER.len()]));
        Self { deltas: std::iter::once(first).chain(rest).collect() }
    }

    /// The whole text.
    pub(crate) fn text(&self) -> String {
        self.deltas.concat()
    }

    /// Completion tokens.
    pub(crate) fn tokens(&self) -> u64 {
        self.deltas.len() as u64
    }
}

/// Prompt tokens: whitespace-separated words of every message's text plus one per message, plus
/// the words of the system prompt.
pub(crate) fn prompt_tokens<'a>(messages: impl IntoIterator<Item = &'a Value>, system: Option<&Value>) -> u64 {
    let messages: u64 = messages.into_iter().map(|message| 1 + words(message)).sum();
    messages + system.map(words).unwrap_or(0)
}

/// Words in the text of `value`: a string, or the `content` / `text` / `parts` of objects, in
/// arrays at any depth.
pub(crate) fn words(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.split_whitespace().count() as u64,
        Value::Array(items) => items.iter().map(words).sum(),
        Value::Object(map) => ["content", "text", "parts"].iter().filter_map(|key| map.get(*key)).map(words).sum(),
        _ => 0,
    }
}

/// Splits `text` into at most `pieces` parts on character boundaries (for streamed tool
/// arguments).
pub(crate) fn split_pieces(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(pieces.max(1));
    chars.chunks(size).map(|chunk| chunk.iter().collect()).collect()
}

/// The requested chunk count from `x-mock-chunks`, clamped to 1..=[`MAX_CHUNKS`].
pub(crate) fn chunks_from(header: Option<&str>, default: usize) -> usize {
    header.and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(default).clamp(1, MAX_CHUNKS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completion_has_one_delta_per_chunk() {
        let one = Completion::new("openai", 1);
        assert_eq!(one.text(), "Hello from the mock openai provider.");
        let five = Completion::new("anthropic", 5);
        assert_eq!(five.tokens(), 5);
        assert_eq!(five.text(), "Hello from the mock anthropic provider. This reply is deterministic");
        assert_eq!(Completion::new("x", 0).tokens(), 1);
    }

    #[test]
    fn prompt_token_table() {
        let cases = [
            (json!([{"role": "user", "content": "hi there"}]), None, 3),
            (json!([{"role": "user", "content": [{"type": "text", "text": "a b c"}]}]), None, 4),
            (json!([{"role": "user", "parts": [{"text": "a b"}]}, {"role": "model", "parts": []}]), None, 4),
            (json!([{"role": "user", "content": "x"}]), Some(json!("be brief")), 4),
            (json!([]), None, 0),
        ];
        for (messages, system, expected) in cases {
            let list = messages.as_array().cloned().unwrap_or_default();
            assert_eq!(prompt_tokens(&list, system.as_ref()), expected, "{messages}");
        }
    }

    #[test]
    fn pieces_and_chunks() {
        assert_eq!(split_pieces("abcdef", 3), ["ab", "cd", "ef"]);
        assert_eq!(split_pieces("abc", 5), ["a", "b", "c"]);
        assert_eq!(split_pieces("", 5), [""]);
        assert_eq!(chunks_from(Some("8"), 5), 8);
        assert_eq!(chunks_from(Some("0"), 5), 1);
        assert_eq!(chunks_from(Some("x"), 5), 5);
        assert_eq!(chunks_from(None, 3), 3);
    }
}
