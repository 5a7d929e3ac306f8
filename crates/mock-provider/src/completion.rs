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

    /// A JSON answer that fits `schema` (structured output), in `chunks` pieces at most.
    pub(crate) fn structured(schema: &Value, chunks: usize) -> Self {
        let text = crate::tools::sample_arguments(Some(schema)).to_string();
        Self { deltas: split_pieces(&text, chunks) }
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

/// The JSON schema a request asks its answer to follow, wherever its provider's API puts it:
/// OpenAI's `response_format.json_schema.schema`, Cohere's `response_format.json_schema`,
/// Gemini's `generationConfig.responseSchema` (or `responseJsonSchema`). JSON mode without a
/// schema asks for an object.
pub(crate) fn requested_schema(body: &Value) -> Option<Value> {
    let format = body.get("response_format");
    let given = match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("json_schema") => format.and_then(|f| f.pointer("/json_schema/schema")),
        Some("json_object") => format.and_then(|f| f.get("json_schema")),
        _ => {
            let config = body.get("generationConfig")?;
            let schema = config.get("responseSchema").or_else(|| config.get("responseJsonSchema"));
            if schema.is_none() && config.get("responseMimeType").and_then(Value::as_str) != Some("application/json") {
                return None;
            }
            schema
        }
    };
    Some(given.filter(|s| s.is_object()).cloned().unwrap_or_else(|| serde_json::json!({"type": "object"})))
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
    fn structured_output_follows_the_schema_each_provider_sends() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let cases = [
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}),
                Some(schema.clone()),
            ),
            (json!({"response_format": {"type": "json_object", "json_schema": schema}}), Some(schema.clone())),
            (json!({"response_format": {"type": "json_object"}}), Some(json!({"type": "object"}))),
            (
                json!({"generationConfig": {"responseMimeType": "application/json", "responseSchema": schema}}),
                Some(schema.clone()),
            ),
            (json!({"generationConfig": {"responseMimeType": "application/json"}}), Some(json!({"type": "object"}))),
            (json!({"generationConfig": {"temperature": 1}}), None),
            (json!({"response_format": {"type": "text"}}), None),
            (json!({}), None),
        ];
        for (body, expected) in cases {
            assert_eq!(requested_schema(&body), expected, "{body}");
        }
        let answer = Completion::structured(&schema, 3);
        assert_eq!(answer.text(), r#"{"city":"mock"}"#);
        assert_eq!(answer.tokens(), 3);
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
