//! Tool-call decisions shared by the providers: which declared tool to call, and arguments that
//! fit its JSON schema.

use serde_json::{Map, Value};

/// A tool the mock decided to call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

/// How the request lets the model choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Call a tool only if the last message names one.
    Auto,
    /// Never call a tool.
    None,
    /// Call some tool (the named one in the last message, else the first).
    Any,
    /// Call this tool.
    Named(String),
}

/// A declared tool: its name and parameter schema.
pub(crate) struct Declared<'a> {
    pub name: &'a str,
    pub schema: Option<&'a Value>,
}

/// Decides the tool call for a request: `last_text` is the last message's text, `answered` is true
/// when the last message already carries a tool result (so the model answers in text).
pub(crate) fn decide(tools: &[Declared<'_>], choice: &Choice, last_text: &str, answered: bool) -> Option<ToolCall> {
    if tools.is_empty() || *choice == Choice::None {
        return None;
    }
    let lowered = last_text.to_lowercase();
    let mentioned = tools.iter().find(|tool| !tool.name.is_empty() && lowered.contains(&tool.name.to_lowercase()));
    let tool = match choice {
        Choice::Named(name) => tools.iter().find(|tool| tool.name == name),
        Choice::Any => mentioned.or(tools.first()),
        Choice::Auto if answered => None,
        Choice::Auto => mentioned,
        Choice::None => None,
    }?;
    Some(ToolCall { name: tool.name.to_owned(), arguments: sample_arguments(tool.schema) })
}

/// An object with a plausible value for every property of `schema`.
pub(crate) fn sample_arguments(schema: Option<&Value>) -> Value {
    let mut object = Map::new();
    if let Some(properties) = schema.and_then(|s| s.get("properties")).and_then(Value::as_object) {
        for (name, property) in properties {
            object.insert(name.clone(), sample_value(property));
        }
    }
    Value::Object(object)
}

fn sample_value(schema: &Value) -> Value {
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|values| values.first()) {
        return first.clone();
    }
    let kind = schema.get("type").and_then(|t| t.as_str().or_else(|| t.get(0).and_then(Value::as_str)));
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("integer") | Some("number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => sample_arguments(Some(schema)),
        Some("null") => Value::Null,
        _ => Value::from("mock"),
    }
}

/// All text in a message or content value, joined by spaces.
pub(crate) fn text_of(value: &Value) -> String {
    let mut out = Vec::new();
    collect_text(value, &mut out);
    out.join(" ")
}

fn collect_text<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        Value::Object(map) => {
            ["content", "text", "parts"].iter().filter_map(|key| map.get(*key)).for_each(|v| collect_text(v, out))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decision_table() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}});
        let tools =
            [Declared { name: "get_weather", schema: Some(&schema) }, Declared { name: "search", schema: None }];
        let weather = Some(ToolCall { name: "get_weather".into(), arguments: json!({"city": "mock", "days": 1}) });
        let search = Some(ToolCall { name: "search".into(), arguments: json!({}) });
        let cases = [
            (Choice::Auto, "What is the weather? Use get_weather.", false, weather.clone()),
            (Choice::Auto, "Hello", false, None),
            (Choice::Auto, "use get_weather", true, None),
            (Choice::None, "use get_weather", false, None),
            (Choice::Any, "Hello", false, weather.clone()),
            (Choice::Any, "please SEARCH", false, search.clone()),
            (Choice::Named("search".into()), "get_weather", false, search),
            (Choice::Named("nope".into()), "get_weather", false, None),
        ];
        for (choice, text, answered, expected) in cases {
            assert_eq!(decide(&tools, &choice, text, answered), expected, "{choice:?} {text}");
        }
        assert_eq!(decide(&[], &Choice::Any, "x", false), None);
    }

    #[test]
    fn sample_values_follow_the_schema() {
        let schema = json!({"properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "exact": {"type": "boolean"},
            "tags": {"type": "array"},
            "nested": {"type": "object", "properties": {"n": {"type": ["number", "null"]}}}
        }});
        assert_eq!(
            sample_arguments(Some(&schema)),
            json!({"unit": "celsius", "exact": true, "tags": [], "nested": {"n": 1}})
        );
        assert_eq!(sample_arguments(None), json!({}));
    }

    #[test]
    fn text_is_collected() {
        assert_eq!(text_of(&json!({"role": "user", "content": [{"type": "text", "text": "a"}, "b"]})), "a b");
        assert_eq!(text_of(&json!({"role": "user", "parts": [{"text": "c"}]})), "c");
    }
}
