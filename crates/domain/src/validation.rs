//! The rules a resource must meet before it is stored. Each failure names the field and says
//! what to fix; the control plane answers it as a 400.

use crate::resources::*;
use crate::usage::NANO_USD_PER_USD;
use std::collections::HashSet;

/// A field that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError { field: field.into(), message: message.into() }
}

/// Longest allowed `metadata.name`.
pub const MAX_NAME_LEN: usize = 49;
/// Longest allowed `metadata.displayName`.
pub const MAX_DISPLAY_NAME_LEN: usize = 63;
const MAX_EXTERNAL_ID_LEN: usize = 64;
const MAX_LABEL_KEY_LEN: usize = 63;
const MAX_LABEL_VALUE_LEN: usize = 255;
const MAX_LABELS: usize = 64;

/// Checks a resource name against `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, at most 49 characters.
pub fn validate_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(field, format!("must be at most {MAX_NAME_LEN} characters, got {}", name.len())));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !name.chars().all(allowed) || name.starts_with('-') || name.ends_with('-') {
        return Err(invalid(
            field,
            format!(
                "'{name}' must be lowercase letters, digits and hyphens, starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// Checks the writable metadata fields.
pub fn validate_metadata(metadata: &Metadata) -> Result<(), ValidationError> {
    validate_name("metadata.name", &metadata.name)?;
    if let Some(display_name) = &metadata.display_name {
        if display_name.chars().count() > MAX_DISPLAY_NAME_LEN {
            return Err(invalid("metadata.displayName", format!("must be at most {MAX_DISPLAY_NAME_LEN} characters")));
        }
    }
    if let Some(external_id) = &metadata.external_id {
        let ok = !external_id.is_empty()
            && external_id.len() <= MAX_EXTERNAL_ID_LEN
            && external_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(invalid(
                "metadata.externalId",
                format!("must be 1 to {MAX_EXTERNAL_ID_LEN} letters, digits or hyphens"),
            ));
        }
    }
    if let Some(labels) = &metadata.labels {
        if labels.len() > MAX_LABELS {
            return Err(invalid("metadata.labels", format!("at most {MAX_LABELS} labels are allowed")));
        }
        for (key, value) in labels {
            if key.is_empty() || key.len() > MAX_LABEL_KEY_LEN {
                return Err(invalid(
                    "metadata.labels",
                    format!("label keys must be 1 to {MAX_LABEL_KEY_LEN} characters"),
                ));
            }
            if value.len() > MAX_LABEL_VALUE_LEN {
                return Err(invalid(
                    format!("metadata.labels.{key}"),
                    format!("must be at most {MAX_LABEL_VALUE_LEN} characters"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_name_list(field: &str, names: &[String]) -> Result<(), ValidationError> {
    let mut seen = HashSet::new();
    for (index, name) in names.iter().enumerate() {
        validate_name(&format!("{field}[{index}]"), name)?;
        if !seen.insert(name) {
            return Err(invalid(field, format!("'{name}' is listed twice")));
        }
    }
    Ok(())
}

fn validate_flavors(field: &str, flavors: &[Flavor]) -> Result<(), ValidationError> {
    for (index, flavor) in flavors.iter().enumerate() {
        if flavor.name.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(format!("{field}[{index}].name"), "is required"));
        }
    }
    Ok(())
}

/// Checks a model's metadata and spec.
pub fn validate_model(model: &Model) -> Result<(), ValidationError> {
    validate_metadata(&model.metadata)?;
    let spec = &model.spec;
    let runtime = spec.runtime.as_ref().ok_or_else(|| {
        invalid("spec.runtime", "is required: give at least spec.runtime.type (e.g. openai) and spec.runtime.model")
    })?;
    if runtime.kind.is_none() {
        return Err(invalid("spec.runtime.type", "is required (one of the 18 provider types, e.g. openai)"));
    }
    if let Some(model_name) = &runtime.model {
        if model_name.trim().is_empty() {
            return Err(invalid("spec.runtime.model", "must not be blank when given"));
        }
        // Gemini and Vertex AI name the model in the URL's path (`.../models/{model}:generateContent`).
        let in_path = matches!(runtime.kind, Some(RuntimeType::Gemini | RuntimeType::Vertexai));
        if in_path && !model_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._@".contains(&b)) {
            return Err(invalid(
                "spec.runtime.model",
                "must be a model id that can stand in the provider's URL path (letters, digits, '-', '.', '_', '@'; \
                 e.g. gemini-2.0-flash, without a 'models/' prefix)",
            ));
        }
    }
    validate_name_list("spec.integrationConnections", spec.integration_connections.as_deref().unwrap_or_default())?;
    validate_name_list("spec.policies", spec.policies.as_deref().unwrap_or_default())?;
    validate_flavors("spec.flavors", spec.flavors.as_deref().unwrap_or_default())?;
    if let Some(price) = &spec.price {
        validate_price(price)?;
    }
    Ok(())
}

/// The most a price may be per token, and per request or image, in US dollars: far above any
/// provider's (the dearest output tokens cost well under a thousandth of a dollar), so a typo
/// cannot make one request cost more than the usage records can sum.
pub const MAX_PRICE_PER_TOKEN: f64 = 1.0;
pub const MAX_PRICE_PER_CALL: f64 = 1_000.0;

/// The most units a maxToken window may span (a million minutes is about two years).
pub const MAX_WINDOW_STEP: i64 = 1_000_000;

/// Checks that every price given is a finite number, 0 or more, and not absurd.
fn validate_price(price: &ModelPrice) -> Result<(), ValidationError> {
    let fields = [
        ("input", price.input),
        ("output", price.output),
        ("cacheRead", price.cache_read),
        ("cacheWrite", price.cache_write),
        ("perRequest", price.per_request),
        ("perImage", price.per_image),
    ];
    if fields.iter().all(|(_, value)| value.is_none()) {
        return Err(invalid(
            "spec.price",
            "give at least one of input, output, cacheRead, cacheWrite, perRequest, perImage (USD)",
        ));
    }
    for (index, (name, value)) in fields.into_iter().enumerate() {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(invalid(format!("spec.price.{name}"), "must be a number of US dollars, 0 or more"));
        }
        // The first four are per token, the last two per request or image.
        let (most, per) = match index {
            0..4 => (MAX_PRICE_PER_TOKEN, "token"),
            4 => (MAX_PRICE_PER_CALL, "request"),
            _ => (MAX_PRICE_PER_CALL, "image"),
        };
        if value.is_some_and(|v| v > most) {
            return Err(invalid(format!("spec.price.{name}"), format!("must be at most {most} US dollars per {per}")));
        }
    }
    Ok(())
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a host.
pub fn validate_base_url(field: &str, url: &str) -> Result<(), ValidationError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(invalid(field, format!("'{url}' must be an absolute http:// or https:// URL"))),
    }
}

/// Checks an integration connection.
pub fn validate_connection(connection: &IntegrationConnection) -> Result<(), ValidationError> {
    validate_metadata(&connection.metadata)?;
    let spec = &connection.spec;
    let integration = spec
        .integration
        .as_deref()
        .ok_or_else(|| invalid("spec.integration", "is required: the provider's name, e.g. openai or anthropic"))?;
    if RuntimeType::parse(integration).is_none() {
        let known: Vec<&str> = RuntimeType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(invalid(
            "spec.integration",
            format!("unknown integration '{integration}'; expected one of {}", known.join(", ")),
        ));
    }
    if let Some(url) = spec.config.as_ref().and_then(|c| c.get("url")) {
        validate_base_url("spec.config.url", url)?;
    }
    for key in spec.secret.iter().flat_map(|s| s.keys()) {
        if key.is_empty() {
            return Err(invalid("spec.secret", "secret names must not be empty"));
        }
    }
    Ok(())
}

/// Granularities a `maxToken` window may use.
/// Budgets stay below a billion dollars, so their billionths fit in an `i64` with room to add.
const MAX_BUDGET_NANO_USD: f64 = 1e18;

pub const GRANULARITIES: [&str; 4] = ["minute", "hour", "day", "month"];

/// Checks a policy: its type and the fields that type needs.
pub fn validate_policy(policy: &Policy) -> Result<(), ValidationError> {
    validate_metadata(&policy.metadata)?;
    let spec = &policy.spec;
    let kind = spec.kind.ok_or_else(|| invalid("spec.type", "is required: location, flavor or maxToken"))?;
    match kind {
        PolicyType::Location => {
            let locations = spec.locations.as_deref().unwrap_or_default();
            if locations.is_empty() {
                return Err(invalid("spec.locations", "a location policy needs at least one location"));
            }
            for (index, location) in locations.iter().enumerate() {
                if location.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                    return Err(invalid(format!("spec.locations[{index}].name"), "is required"));
                }
                if location.kind.is_none() {
                    return Err(invalid(
                        format!("spec.locations[{index}].type"),
                        "is required: location, country or continent",
                    ));
                }
            }
        }
        PolicyType::Flavor => {
            let flavors = spec.flavors.as_deref().unwrap_or_default();
            if flavors.is_empty() {
                return Err(invalid("spec.flavors", "a flavor policy needs at least one flavor"));
            }
            validate_flavors("spec.flavors", flavors)?;
        }
        PolicyType::MaxToken => {
            let limits = spec.max_tokens.as_ref().ok_or_else(|| {
                invalid("spec.maxTokens", "a maxToken policy needs maxTokens {granularity, step, input|output|total}")
            })?;
            match limits.granularity.as_deref() {
                Some(g) if GRANULARITIES.contains(&g) => {}
                Some(g) => {
                    return Err(invalid(
                        "spec.maxTokens.granularity",
                        format!("'{g}' must be one of minute, hour, day, month"),
                    ))
                }
                None => return Err(invalid("spec.maxTokens.granularity", "is required: minute, hour, day or month")),
            }
            if limits.step.is_some_and(|s| !(1..=MAX_WINDOW_STEP).contains(&s)) {
                return Err(invalid("spec.maxTokens.step", "must be from 1 to 1,000,000"));
            }
            let thresholds = [
                ("input", limits.input),
                ("output", limits.output),
                ("total", limits.total),
                ("requests", limits.requests),
            ];
            for (name, value) in thresholds {
                if value.is_some_and(|v| v < 0) {
                    return Err(invalid(format!("spec.maxTokens.{name}"), "must not be negative (0 = not evaluated)"));
                }
            }
            let budget = limits.cost_usd.unwrap_or(0.0);
            if !budget.is_finite() || budget < 0.0 {
                return Err(invalid(
                    "spec.maxTokens.costUsd",
                    "must be a number of US dollars, 0 or more (0 = not evaluated)",
                ));
            }
            if budget * NANO_USD_PER_USD >= MAX_BUDGET_NANO_USD {
                return Err(invalid("spec.maxTokens.costUsd", "must be below 1,000,000,000 US dollars"));
            }
            if budget > 0.0 && (budget * NANO_USD_PER_USD).round() < 1.0 {
                return Err(invalid(
                    "spec.maxTokens.costUsd",
                    "must be 0 (not evaluated) or at least 0.000000001 US dollars",
                ));
            }
            if limits.ratio_input_over_output.is_some_and(|v| v < 0) {
                return Err(invalid("spec.maxTokens.ratioInputOverOutput", "must not be negative"));
            }
            if thresholds.iter().all(|(_, v)| v.unwrap_or(0) == 0) && budget == 0.0 {
                return Err(invalid(
                    "spec.maxTokens",
                    "set at least one of input, output, total, requests or costUsd above 0",
                ));
            }
            if let Some(types) = &spec.resource_types {
                if !types.is_empty() && !types.contains(&PolicyResourceType::Model) {
                    return Err(invalid("spec.resourceTypes", "a maxToken policy applies to models: include 'model'"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("my-model-2", true),
            (&"a".repeat(49), true),
            (&"a".repeat(50), false),
            ("", false),
            ("My-Model", false),
            ("my_model", false),
            ("-model", false),
            ("model-", false),
            ("mo del", false),
            ("modèle", false),
        ];
        for (name, ok) in cases {
            assert_eq!(validate_name("metadata.name", name).is_ok(), *ok, "{name}");
        }
    }

    #[test]
    fn base_urls() {
        for (url, ok) in [
            ("http://127.0.0.1:9000", true),
            ("https://api.openai.com/v1", true),
            ("ftp://x", false),
            ("http://", false),
            ("api.openai.com", false),
            ("http://a b", false),
        ] {
            assert_eq!(validate_base_url("u", url).is_ok(), ok, "{url}");
        }
    }

    fn policy(spec: serde_json::Value) -> Policy {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn policies() {
        let cases = [
            (
                serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 10}}),
                None,
            ),
            (
                serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "week", "total": 10}}),
                Some("spec.maxTokens.granularity"),
            ),
            (serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "day"}}), Some("spec.maxTokens")),
            (
                serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "day", "step": 0, "input": 1}}),
                Some("spec.maxTokens.step"),
            ),
            (serde_json::json!({"type": "maxToken"}), Some("spec.maxTokens")),
            (
                serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "day", "step": 2_000_000, "input": 1}}),
                Some("spec.maxTokens.step"),
            ),
            (
                serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "day", "costUsd": 1e-12}}),
                Some("spec.maxTokens.costUsd"),
            ),
            (serde_json::json!({"type": "maxToken", "maxTokens": {"granularity": "day", "costUsd": 1e-9}}), None),
            (serde_json::json!({"type": "location", "locations": [{"name": "eu", "type": "continent"}]}), None),
            (serde_json::json!({"type": "location", "locations": []}), Some("spec.locations")),
            (serde_json::json!({"type": "flavor", "flavors": [{"name": "x86", "type": "cpu"}]}), None),
            (serde_json::json!({"type": "flavor"}), Some("spec.flavors")),
            (serde_json::json!({}), Some("spec.type")),
        ];
        for (spec, expected_field) in cases {
            let result = validate_policy(&policy(spec.clone()));
            assert_eq!(result.err().map(|e| e.field), expected_field.map(String::from), "{spec}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near_str};
    use proptest::prelude::*;

    /// Documents near valid ones: each that still parses as a resource is validated without a panic.
    const DOCUMENTS: [&str; 4] = [
        r#"{"metadata":{"name":"gpt","displayName":"GPT","labels":{"team":"a"}},"spec":{"runtime":{"type":"openai","model":"gpt-4o"},"integrationConnections":["c"],"policies":["p"],"flavors":[{"name":"x","type":"cpu"}]}}"#,
        r#"{"metadata":{"name":"p"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"input":1,"total":10,"ratioInputOverOutput":2},"resourceTypes":["model"]}}"#,
        r#"{"metadata":{"name":"p"},"spec":{"type":"location","locations":[{"name":"eu","type":"continent"}]}}"#,
        r#"{"metadata":{"name":"c","externalId":"x-1"},"spec":{"integration":"openai","config":{"url":"https://a.b/v1"},"secret":{"apiKey":"k"}}}"#,
    ];

    proptest! {
        #![proptest_config(config(1000))]

        #[test]
        fn names_and_urls_are_checked_without_panic(text in prop_oneof![
            any::<String>(),
            near_str(&["my-model-2", "a", "https://api.openai.com/v1", "http://127.0.0.1:9000/x?y#z"]),
        ]) {
            if validate_name("n", &text).is_ok() {
                prop_assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN && text.is_ascii());
            }
            if validate_base_url("u", &text).is_ok() {
                prop_assert!(text.starts_with("http://") || text.starts_with("https://"));
            }
        }

        #[test]
        fn resources_are_validated_without_panic(text in near_str(&DOCUMENTS)) {
            if let Ok(model) = serde_json::from_str::<Model>(&text) {
                let _ = validate_model(&model);
            }
            if let Ok(policy) = serde_json::from_str::<Policy>(&text) {
                let _ = validate_policy(&policy);
            }
            if let Ok(connection) = serde_json::from_str::<IntegrationConnection>(&text) {
                let _ = validate_connection(&connection);
            }
        }
    }
}
