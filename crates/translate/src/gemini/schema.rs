//! JSON Schema (as OpenAI tools and `json_schema` take it) -> Gemini's `Schema`, a subset of
//! OpenAPI 3.0 that refuses unknown fields.
//!
//! - Kept: `type` (upper-cased), `title`, `description`, `nullable`, `enum`, `items`,
//!   `properties`, `required`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//!   `minProperties`/`maxProperties`, `minimum`/`maximum`, `pattern`, `default`, `example`,
//!   `anyOf`, and `format` when Gemini knows it (`enum`, `date-time`, `float`, `double`, `int32`,
//!   `int64`).
//! - Rewritten: a `type` list -> one type + `nullable` (or `anyOf` of the types); `null` in an
//!   `anyOf`/`oneOf` or `enum` -> `nullable`; `oneOf` -> `anyOf`; `const` -> a one-value `enum`;
//!   non-string `enum` values -> their JSON text; `examples` -> `example` (the first); `allOf` of
//!   one schema -> that schema; `$ref` to `#/$defs/...` or `#/definitions/...` -> the definition
//!   inlined; a missing `type` -> OBJECT / ARRAY / STRING when `properties` / `items` / `enum`
//!   says so.
//! - Dropped (documented): `additionalProperties`, `$schema`, `$id`, `$anchor`, `$comment`,
//!   `strict`, `$defs`/`definitions` (once inlined), other formats, and other keywords that only
//!   annotate or narrow values (`exclusiveMinimum`, `multipleOf`, `uniqueItems`, `readOnly`, ...).
//! - Refused: recursive or unresolvable `$ref`s, `allOf` of several schemas, tuple `items`, and
//!   keywords whose structure Gemini cannot express (`not`, `if`/`then`/`else`,
//!   `patternProperties`, `prefixItems`, `dependentSchemas`, ...).

use serde_json::{json, Map, Value};

/// Keywords that shape the answer and that Gemini cannot express.
const REFUSED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "prefixItems",
    "additionalItems",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "propertyNames",
    "$dynamicRef",
    "$recursiveRef",
];

/// Kept as they are.
const COPIED: &[&str] = &[
    "title",
    "description",
    "nullable",
    "required",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "pattern",
    "default",
    "example",
];

const FORMATS: &[&str] = &["enum", "date-time", "float", "double", "int32", "int64"];

/// Converts `schema`; the error is a message for a 400 on the parameter that holds the schema.
pub(super) fn convert(schema: &Value) -> Result<Value, String> {
    let mut definitions = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(defs) = schema.get(key).and_then(Value::as_object) {
            for (name, definition) in defs {
                definitions.insert(format!("#/{key}/{name}"), definition.clone());
            }
        }
    }
    Converter { definitions, expanding: Vec::new() }.convert(schema, "")
}

struct Converter {
    /// Definitions by their `$ref` (`#/$defs/Name`).
    definitions: Map<String, Value>,
    /// The `$ref`s being inlined, to refuse recursion.
    expanding: Vec<String>,
}

impl Converter {
    /// `at` is a JSON pointer into the given schema, for error messages.
    fn convert(&mut self, schema: &Value, at: &str) -> Result<Value, String> {
        let Some(schema) = schema.as_object() else {
            return Err(format!("the schema at {} must be an object", pointer(at)));
        };
        if let Some(reference) = schema.get("$ref") {
            return self.inline(reference, schema, at);
        }
        let mut out = Map::new();
        let mut nullable = false;
        for (key, value) in schema {
            let here = format!("{at}/{key}");
            match key.as_str() {
                "type" => match value {
                    Value::String(kind) => {
                        if kind == "null" {
                            out.insert("type".into(), json!("NULL"));
                        } else {
                            out.insert("type".into(), json!(kind.to_ascii_uppercase()));
                        }
                    }
                    Value::Array(kinds) => {
                        let mut types: Vec<String> = Vec::new();
                        for kind in kinds {
                            match kind.as_str() {
                                Some("null") => nullable = true,
                                Some(kind) => types.push(kind.to_ascii_uppercase()),
                                None => return Err(format!("`type` at {} must list strings", pointer(&here))),
                            }
                        }
                        match types.as_slice() {
                            [] => {
                                out.insert("type".into(), json!("NULL"));
                            }
                            [one] => {
                                out.insert("type".into(), json!(one));
                            }
                            several => {
                                let any_of: Vec<Value> = several.iter().map(|t| json!({"type": t})).collect();
                                out.insert("anyOf".into(), Value::Array(any_of));
                            }
                        }
                    }
                    _ => return Err(format!("`type` at {} must be a string or a list", pointer(&here))),
                },
                // Other formats fall through to the drop below.
                "format" if value.as_str().is_some_and(|f| FORMATS.contains(&f)) => {
                    out.insert("format".into(), value.clone());
                }
                "enum" => {
                    let Some(values) = value.as_array() else {
                        return Err(format!("`enum` at {} must be a list", pointer(&here)));
                    };
                    let mut strings = Vec::new();
                    for value in values {
                        match value {
                            Value::Null => nullable = true,
                            Value::String(s) => strings.push(json!(s)),
                            other => strings.push(json!(other.to_string())),
                        }
                    }
                    out.insert("enum".into(), Value::Array(strings));
                }
                "const" => {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.insert("enum".into(), json!([text]));
                }
                "examples" => {
                    if let Some(first) = value.as_array().and_then(|v| v.first()) {
                        out.entry("example").or_insert_with(|| first.clone());
                    }
                }
                "items" => match value {
                    Value::Object(_) => {
                        out.insert("items".into(), self.convert(value, &here)?);
                    }
                    _ => return Err(format!("tuple `items` at {} cannot be expressed for Gemini", pointer(&here))),
                },
                "properties" => {
                    let Some(properties) = value.as_object() else {
                        return Err(format!("`properties` at {} must be an object", pointer(&here)));
                    };
                    let mut converted = Map::new();
                    for (name, property) in properties {
                        converted.insert(name.clone(), self.convert(property, &format!("{here}/{name}"))?);
                    }
                    out.insert("properties".into(), Value::Object(converted));
                }
                "anyOf" | "oneOf" => {
                    if schema.contains_key("anyOf") && schema.contains_key("oneOf") {
                        return Err(format!(
                            "`anyOf` beside `oneOf` at {} cannot be expressed for Gemini",
                            pointer(at)
                        ));
                    }
                    let Some(options) = value.as_array() else {
                        return Err(format!("`{key}` at {} must be a list", pointer(&here)));
                    };
                    let mut kept = Vec::new();
                    for (i, option) in options.iter().enumerate() {
                        let converted = self.convert(option, &format!("{here}/{i}"))?;
                        if converted.get("type").is_some_and(|t| t == "NULL")
                            && converted.as_object().map(Map::len) == Some(1)
                        {
                            nullable = true;
                        } else {
                            kept.push(converted);
                        }
                    }
                    match kept.len() {
                        0 => {
                            out.insert("type".into(), json!("NULL"));
                        }
                        // `Optional[X]`: X itself, nullable.
                        1 => merge_missing(&mut out, kept.remove(0)),
                        _ => {
                            out.insert("anyOf".into(), Value::Array(kept));
                        }
                    }
                }
                "allOf" => match value.as_array().map(Vec::as_slice) {
                    Some([only]) => {
                        let converted = self.convert(only, &format!("{here}/0"))?;
                        merge_missing(&mut out, converted);
                    }
                    _ => return Err(format!("`allOf` at {} cannot be expressed for Gemini", pointer(&here))),
                },
                key if COPIED.contains(&key) => {
                    if key == "nullable" && value == &Value::Bool(true) {
                        nullable = true;
                    } else {
                        out.insert(key.to_string(), value.clone());
                    }
                }
                key if REFUSED.contains(&key) => {
                    return Err(format!("`{key}` at {} cannot be expressed for Gemini", pointer(&here)));
                }
                // Annotations, `additionalProperties`, `$defs` (inlined where used) and the like.
                _ => {}
            }
        }
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
        if !out.contains_key("type") && !out.contains_key("anyOf") {
            let implied = if out.contains_key("properties") {
                Some("OBJECT")
            } else if out.contains_key("items") {
                Some("ARRAY")
            } else if out.contains_key("enum") {
                Some("STRING")
            } else {
                None
            };
            if let Some(implied) = implied {
                out.insert("type".into(), json!(implied));
            }
        }
        Ok(Value::Object(out))
    }

    /// A `$ref` replaced by its definition; keywords beside the `$ref` win over the definition's.
    fn inline(&mut self, reference: &Value, schema: &Map<String, Value>, at: &str) -> Result<Value, String> {
        let Some(reference) = reference.as_str() else {
            return Err(format!("`$ref` at {} must be a string", pointer(at)));
        };
        if self.expanding.iter().any(|r| r == reference) {
            return Err(format!("the recursive `$ref` {reference:?} cannot be inlined for Gemini"));
        }
        let Some(Value::Object(definition)) = self.definitions.get(reference).cloned() else {
            return Err(format!("the `$ref` {reference:?} at {} cannot be resolved", pointer(at)));
        };
        let mut merged = definition;
        for (key, value) in schema {
            if key != "$ref" {
                merged.insert(key.clone(), value.clone());
            }
        }
        self.expanding.push(reference.to_string());
        let converted = self.convert(&Value::Object(merged), at);
        self.expanding.pop();
        converted
    }
}

/// Adds `from`'s keywords that `into` does not have.
fn merge_missing(into: &mut Map<String, Value>, from: Value) {
    if let Value::Object(from) = from {
        for (key, value) in from {
            into.entry(key).or_insert(value);
        }
    }
}

fn pointer(at: &str) -> String {
    if at.is_empty() {
        "the root".to_string()
    } else {
        format!("`{at}`")
    }
}
