//! What changes between two manifests, field by field (`~ spec.runtime.model: "a" -> "b"`,
//! `+ metadata.labels.team: "ml"`, `- spec.policies: ["p"]`). Objects are compared key by key
//! (one added or removed whole shows field by field), anything else (strings, numbers, lists)
//! as a whole. A value under `spec.secret` is never
//! shown: it reads `********`.

use serde_json::Value;
use std::fmt;

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Added { field: String, value: Value },
    Removed { field: String, value: Value },
    Changed { field: String, from: Value, to: Value },
}

impl Change {
    /// The field's path: `spec.runtime.model`.
    pub fn field(&self) -> &str {
        match self {
            Change::Added { field, .. } | Change::Removed { field, .. } | Change::Changed { field, .. } => field,
        }
    }
}

/// The changes that turn `current` into `desired`, in key order.
pub fn changes(current: &Value, desired: &Value) -> Vec<Change> {
    let mut found = Vec::new();
    compare(current, desired, String::new(), &mut found);
    found
}

fn compare(current: &Value, desired: &Value, field: String, found: &mut Vec<Change>) {
    match (current, desired) {
        (Value::Object(current), Value::Object(desired)) => {
            let mut keys: Vec<&String> = current.keys().chain(desired.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = if field.is_empty() { key.clone() } else { format!("{field}.{key}") };
                let empty = Value::Object(Default::default());
                match (current.get(key), desired.get(key)) {
                    (Some(from), Some(to)) => compare(from, to, here, found),
                    // A whole object added or removed shows field by field.
                    (Some(from @ Value::Object(o)), None) if !o.is_empty() => compare(from, &empty, here, found),
                    (None, Some(to @ Value::Object(o))) if !o.is_empty() => compare(&empty, to, here, found),
                    (Some(value), None) => found.push(Change::Removed { field: here, value: value.clone() }),
                    (None, Some(value)) => found.push(Change::Added { field: here, value: value.clone() }),
                    (None, None) => {}
                }
            }
        }
        (from, to) if from != to => found.push(Change::Changed { field, from: from.clone(), to: to.clone() }),
        _ => {}
    }
}

/// `value` as shown for `field`: JSON, or the mask for a secret.
fn shown(field: &str, value: &Value) -> String {
    if field == "spec.secret" || field.starts_with("spec.secret.") {
        return "********".to_string();
    }
    value.to_string()
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { field, value } => write!(f, "+ {field}: {}", shown(field, value)),
            Change::Removed { field, value } => write!(f, "- {field}: {}", shown(field, value)),
            Change::Changed { field, from, to } => {
                write!(f, "~ {field}: {} -> {}", shown(field, from), shown(field, to))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(current: Value, desired: Value) -> Vec<String> {
        changes(&current, &desired).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn fields_are_added_removed_and_changed_by_path() {
        let current = json!({"metadata": {"displayName": "Old"}, "spec": {"enabled": true,
            "runtime": {"type": "openai", "model": "gpt-4o-mini"}, "policies": ["a"]}});
        let desired = json!({"metadata": {"displayName": "Old", "labels": {"team": "ml"}}, "spec": {"enabled": true,
            "runtime": {"type": "openai", "model": "gpt-4o"}, "policies": ["a", "b"], "sandbox": false}});
        assert_eq!(
            lines(current.clone(), desired),
            [
                "+ metadata.labels.team: \"ml\"",
                "~ spec.policies: [\"a\"] -> [\"a\",\"b\"]",
                "~ spec.runtime.model: \"gpt-4o-mini\" -> \"gpt-4o\"",
                "+ spec.sandbox: false",
            ]
        );
        assert_eq!(lines(current.clone(), json!({"spec": {}}))[0], "- metadata.displayName: \"Old\"");
        assert_eq!(lines(json!({}), json!({"labels": {}})), ["+ labels: {}"]);
        assert!(changes(&current, &current).is_empty());
    }

    #[test]
    fn secrets_are_never_shown() {
        let shown = lines(
            json!({"spec": {"integration": "openai"}}),
            json!({"spec": {"integration": "openai", "secret": {"apiKey": "sk-live-1"}}}),
        );
        assert_eq!(shown, ["+ spec.secret.apiKey: ********"]);
        let shown = lines(json!({"spec": {"secret": {"apiKey": "a"}}}), json!({"spec": {"secret": {"apiKey": "b"}}}));
        assert_eq!(shown, ["~ spec.secret.apiKey: ******** -> ********"]);
    }
}
