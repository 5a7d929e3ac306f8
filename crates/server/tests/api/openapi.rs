//! The OpenAPI document the server really serves, checked against Blaxel's published reference
//! (`tests/fixtures/blaxel-controlplane-subset.yml`) for every schema and path we implement:
//! same property names, required, enums, read-only flags and JSON types.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The reference schemas this server implements.
const SCHEMAS: &[&str] = &[
    "Model",
    "ModelSpec",
    "ModelRuntime",
    "Metadata",
    "Status",
    "CoreEvent",
    "Flavor",
    "Error",
    "IntegrationConnection",
    "IntegrationConnectionSpec",
    "Policy",
    "PolicySpec",
    "PolicyMaxTokens",
    "PolicyLocation",
    "PolicyUsageCounts",
    "PolicyUsages",
    "RevisionMetadata",
    "Integration",
    "IntegrationEndpoint",
    "IntegrationEndpointToken",
    "PaginationMeta",
    "ModelList",
    "PolicyList",
];

/// The reference paths this server implements.
const PATHS: &[&str] = &[
    "/models",
    "/models/{modelName}",
    "/models/{modelName}/revisions",
    "/integrations/connections",
    "/integrations/connections/{connectionName}",
    "/integrations/{integrationName}",
    "/policies",
    "/policies/{policyName}",
    "/policies/{policyName}/usages",
];

/// Intentional differences, each with its reason. An entry silences the mismatches whose
/// message starts with it (`Schema.property: check`); an entry that silences nothing fails.
const ALLOWED: &[(&str, &str)] = &[
    ("PolicyMaxTokens.requests", "modelgate extension: requests per window (rate limit)"),
    ("PolicyMaxTokens.perKey", "modelgate extension: count per calling key"),
    ("PolicyMaxTokens.costUsd", "modelgate extension: a budget in US dollars per window"),
    ("PolicyMaxTokens.workspaceWide", "modelgate extension: a limit over every model of the workspace"),
    ("ModelSpec.price", "modelgate extension: the endpoint's own price, replacing the catalogue's"),
];

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blaxel-controlplane-subset.yml")
}

fn load_reference() -> Value {
    let path = reference_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the Blaxel reference must be at {}: {e}", path.display()));
    serde_yaml_ng::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

async fn served_document() -> Value {
    let mut server = TestServer::start().await;
    let (status, document) = server.get("/openapi.json").await;
    server.stop().await;
    assert_eq!(status, StatusCode::OK, "{document}");
    document
}

/// One OpenAPI document, to resolve `$ref`s in.
struct Doc<'a> {
    label: &'static str,
    root: &'a Value,
}

/// What a schema accepts once `$ref`s are followed, `allOf` merged and the 3.1 nullable forms
/// (`type: [X, "null"]`, `oneOf: [{type: null}, X]`) unwrapped. Nullability is dropped.
#[derive(Debug, Default)]
struct Flat {
    types: BTreeSet<String>,
    read_only: bool,
    enum_values: Option<BTreeSet<String>>,
    properties: BTreeMap<String, Value>,
    required: BTreeSet<String>,
    items: Option<Value>,
}

impl Doc<'_> {
    fn schema(&self, name: &str) -> Option<&Value> {
        self.root.pointer("/components/schemas")?.get(name)
    }

    fn flatten(&self, schema: &Value) -> Flat {
        let mut flat = Flat::default();
        self.merge(schema, &mut flat, 0);
        flat
    }

    fn merge(&self, schema: &Value, flat: &mut Flat, depth: usize) {
        assert!(depth < 32, "{}: schema nested too deep: {schema}", self.label);
        if schema.get("readOnly") == Some(&Value::Bool(true)) {
            flat.read_only = true;
        }
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{}: unsupported $ref {target}", self.label));
            let resolved = self.schema(name).unwrap_or_else(|| panic!("{}: dangling $ref {target}", self.label));
            self.merge(resolved, flat, depth + 1);
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for part in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                if !is_null_schema(part) {
                    self.merge(part, flat, depth + 1);
                }
            }
        }
        match schema.get("type") {
            Some(Value::String(kind)) => {
                flat.types.insert(kind.clone());
            }
            Some(Value::Array(kinds)) => flat.types.extend(kinds.iter().filter_map(Value::as_str).map(str::to_string)),
            _ => {}
        }
        flat.types.remove("null");
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let values = values.iter().filter(|v| !v.is_null()).map(enum_text);
            flat.enum_values.get_or_insert_with(BTreeSet::new).extend(values);
        }
        for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            flat.properties.entry(name.clone()).or_insert_with(|| property.clone());
        }
        let required = schema.get("required").and_then(Value::as_array).into_iter().flatten();
        flat.required.extend(required.filter_map(Value::as_str).map(str::to_string));
        if let Some(items) = schema.get("items") {
            flat.items.get_or_insert_with(|| items.clone());
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

fn enum_text(value: &Value) -> String {
    value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())
}

fn show<T: std::fmt::Debug>(set: &BTreeSet<T>) -> String {
    format!("{:?}", set.iter().collect::<Vec<_>>())
}

/// A schema of one side, with the document it lives in.
struct Side<'a> {
    doc: &'a Doc<'a>,
    schema: &'a Value,
}

/// Every difference between our schema `name` and the reference's.
fn check_schema(name: &str, ours: Side<'_>, reference: Side<'_>) -> Vec<String> {
    let mut mismatches = Vec::new();
    let our = ours.doc.flatten(ours.schema);
    let theirs = reference.doc.flatten(reference.schema);
    compare_value(&format!("{name}: schema"), &our, &theirs, ours.doc, reference.doc, &mut mismatches);

    let our_names: BTreeSet<&String> = our.properties.keys().collect();
    let their_names: BTreeSet<&String> = theirs.properties.keys().collect();
    for missing in their_names.difference(&our_names) {
        mismatches.push(format!("{name}.{missing}: property: missing in ours"));
    }
    for extra in our_names.difference(&their_names) {
        mismatches.push(format!("{name}.{extra}: property: ours has it, the reference does not"));
    }
    for required in theirs.required.difference(&our.required) {
        mismatches.push(format!("{name}.{required}: required: the reference requires it, ours does not"));
    }
    for property in their_names.intersection(&our_names) {
        let our_property = ours.doc.flatten(&our.properties[*property]);
        let their_property = reference.doc.flatten(&theirs.properties[*property]);
        let at = format!("{name}.{property}");
        if their_property.read_only && !our_property.read_only {
            mismatches.push(format!("{at}: readOnly: the reference marks it readOnly, ours does not"));
        }
        compare_value(&at, &our_property, &their_property, ours.doc, reference.doc, &mut mismatches);
    }
    mismatches
}

/// Compares JSON types and enums of one value, and of its array items.
fn compare_value(at: &str, ours: &Flat, theirs: &Flat, our_doc: &Doc, their_doc: &Doc, out: &mut Vec<String>) {
    if ours.types != theirs.types {
        out.push(format!("{at}: type: ours {}, reference {}", show(&ours.types), show(&theirs.types)));
    }
    if ours.enum_values != theirs.enum_values {
        let list = |values: &Option<BTreeSet<String>>| values.as_ref().map_or("no enum".to_string(), show);
        out.push(format!("{at}: enum: ours {}, reference {}", list(&ours.enum_values), list(&theirs.enum_values)));
    }
    if let (Some(our_items), Some(their_items)) = (&ours.items, &theirs.items) {
        let our_items = our_doc.flatten(our_items);
        let their_items = their_doc.flatten(their_items);
        if our_items.types != their_items.types {
            let (o, t) = (show(&our_items.types), show(&their_items.types));
            out.push(format!("{at}: items type: ours {o}, reference {t}"));
        }
        if our_items.enum_values != their_items.enum_values {
            let list = |values: &Option<BTreeSet<String>>| values.as_ref().map_or("no enum".to_string(), show);
            let (o, t) = (list(&our_items.enum_values), list(&their_items.enum_values));
            out.push(format!("{at}: items enum: ours {o}, reference {t}"));
        }
    }
}

/// Finds our schema for the reference schema `name`: by name, or else by following, in our
/// document, the property of a parent schema that refers to `name` in the reference.
fn locate<'a>(name: &str, ours: &'a Doc<'a>, reference: &Doc<'_>, depth: usize) -> Option<Value> {
    if let Some(schema) = ours.schema(name) {
        return Some(schema.clone());
    }
    if depth > 4 {
        return None;
    }
    for parent in SCHEMAS.iter().filter(|p| **p != name) {
        let Some(their_parent) = reference.schema(parent) else { continue };
        for (property, their_property) in reference.flatten(their_parent).properties {
            let (refers, via_items) = refers_to(&their_property, name, reference);
            if !refers {
                continue;
            }
            let Some(our_parent) = locate(parent, ours, reference, depth + 1) else { continue };
            let Some(our_property) = ours.flatten(&our_parent).properties.remove(&property) else { continue };
            if !via_items {
                return Some(our_property);
            }
            if let Some(items) = ours.flatten(&our_property).items {
                return Some(items);
            }
        }
    }
    None
}

/// Whether a reference property is `name` (`$ref`), or an array of it (directly or via a
/// named array schema such as `CoreEvents`); the second flag says it is the array's items.
fn refers_to(property: &Value, name: &str, reference: &Doc<'_>) -> (bool, bool) {
    fn target(schema: &Value) -> Option<&str> {
        schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
    }
    if target(property) == Some(name) {
        return (true, false);
    }
    if let Some(items) = reference.flatten(property).items {
        if target(&items) == Some(name) {
            return (true, true);
        }
    }
    (false, false)
}

/// The `(method, operationId)` pairs of one path item.
fn operations(document: &Value, path: &str) -> Option<BTreeSet<(String, String)>> {
    let item = document.get("paths")?.get(path)?.as_object()?;
    let operations = item
        .iter()
        .filter(|(method, _)| HTTP_METHODS.contains(&method.as_str()))
        .map(|(method, operation)| {
            let id = operation.get("operationId").and_then(Value::as_str).unwrap_or("(no operationId)");
            (method.clone(), id.to_string())
        })
        .collect();
    Some(operations)
}

fn check_paths(ours: &Value, reference: &Value) -> Vec<String> {
    let mut mismatches = Vec::new();
    for path in PATHS {
        let theirs = operations(reference, path).unwrap_or_else(|| panic!("the reference has no path {path}"));
        match operations(ours, path) {
            None => mismatches.push(format!("path {path}: missing in ours")),
            Some(our) if our != theirs => {
                mismatches.push(format!("path {path}: operations: ours {}, reference {}", show(&our), show(&theirs)))
            }
            Some(_) => {}
        }
    }
    mismatches
}

/// Removes the allowed mismatches, and reports allow-list entries that no longer match.
fn apply_allow_list(mismatches: Vec<String>) -> Vec<String> {
    let mut used = BTreeSet::new();
    let mut remaining: Vec<String> = mismatches
        .into_iter()
        .filter(|mismatch| match ALLOWED.iter().position(|(key, _)| mismatch.starts_with(key)) {
            Some(index) => {
                used.insert(index);
                false
            }
            None => true,
        })
        .collect();
    for (index, (key, reason)) in ALLOWED.iter().enumerate() {
        if !used.contains(&index) {
            remaining.push(format!("allow-list entry '{key}' ({reason}) matches no mismatch: remove it"));
        }
    }
    remaining
}

/// Rust names that must never become schema names (a type alias or `serde_json::Value` leaking).
const RUST_TYPE_NAMES: &[&str] = &["BTreeMap", "HashMap", "Vec", "Option", "Value", "String"];

/// Every difference between our document and the reference, before the allow-list.
fn all_mismatches(served: &Value, reference_root: &Value) -> Vec<String> {
    let ours = Doc { label: "ours", root: served };
    let reference = Doc { label: "reference", root: reference_root };
    let mut mismatches = check_paths(served, reference_root);
    for name in SCHEMAS {
        let their_schema =
            reference.schema(name).unwrap_or_else(|| panic!("the reference has no schema {name}")).clone();
        let Some(our_schema) = locate(name, &ours, &reference, 0) else {
            mismatches.push(format!("{name}: schema: not found in ours, by name or through a parent's property"));
            continue;
        };
        let found = check_schema(
            name,
            Side { doc: &ours, schema: &our_schema },
            Side { doc: &reference, schema: &their_schema },
        );
        mismatches.extend(found);
    }
    let our_names = served.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten();
    for (name, _) in our_names.filter(|(name, _)| RUST_TYPE_NAMES.contains(&name.as_str())) {
        mismatches.push(format!("{name}: schema name: a Rust type name, not a reference schema name"));
    }
    mismatches
}

#[tokio::test]
async fn served_document_matches_the_blaxel_reference() {
    let reference_root = load_reference();
    let served = served_document().await;

    let expected = serde_json::to_value(modelgate_control_plane::openapi_document()).unwrap();
    assert_eq!(served, expected, "the served document is not openapi_document()");
    assert_eq!(served.pointer("/servers/0/url"), Some(&Value::from("/v0")), "servers: {}", served["servers"]);
    assert!(served["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "openapi: {}", served["openapi"]);

    let mismatches = apply_allow_list(all_mismatches(&served, &reference_root));
    assert!(
        mismatches.is_empty(),
        "{} mismatches between the served OpenAPI document and {}:\n  {}",
        mismatches.len(),
        reference_path().display(),
        mismatches.join("\n  ")
    );
}

/// Replaces every `$ref` to the component `name` by the schema itself, and removes the component.
fn inline_component(document: &mut Value, name: &str) {
    fn replace(value: &mut Value, target: &str, schema: &Value) {
        if value.get("$ref").and_then(Value::as_str) == Some(target) {
            *value = schema.clone();
            return;
        }
        match value {
            Value::Object(map) => map.values_mut().for_each(|v| replace(v, target, schema)),
            Value::Array(items) => items.iter_mut().for_each(|v| replace(v, target, schema)),
            _ => {}
        }
    }
    let schema = document["components"]["schemas"].as_object_mut().unwrap().remove(name).unwrap();
    replace(document, &format!("#/components/schemas/{name}"), &schema);
}

/// The checker itself: a document broken in each way the checks cover yields each mismatch,
/// and schemas inlined under a parent's property (plain or as array items) are still found.
#[test]
fn checker_reports_every_kind_of_mismatch() {
    let reference = load_reference();
    let mut broken = serde_json::to_value(modelgate_control_plane::openapi_document()).unwrap();
    inline_component(&mut broken, "PolicyLocation");
    inline_component(&mut broken, "IntegrationEndpointToken");
    let schemas = broken.pointer_mut("/components/schemas").unwrap();
    for property in ["token", "streamToken"] {
        let token = schemas.pointer_mut(&format!("/IntegrationEndpoint/properties/{property}/oneOf/1")).unwrap();
        token["properties"]["extra"] = serde_json::json!({"type": "string"});
    }
    schemas["Status"]["enum"].as_array_mut().unwrap().retain(|v| v != "BUILT");
    schemas["Metadata"]["properties"]["url"].as_object_mut().unwrap().remove("readOnly");
    schemas["Metadata"]["required"] = serde_json::json!([]);
    schemas["PaginationMeta"]["properties"]["total"]["type"] = Value::from("string");
    schemas["Flavor"]["properties"]["extra"] = serde_json::json!({"type": "string"});
    schemas["PolicySpec"]["properties"].as_object_mut().unwrap().remove("sandbox");
    schemas["PolicyUsages"]["properties"]["jobs"]["items"] = serde_json::json!({});
    schemas["BTreeMap"] = serde_json::json!({"type": "object"});
    broken["paths"]["/models/{modelName}"].as_object_mut().unwrap().remove("delete");
    broken["paths"]["/policies"]["get"]["operationId"] = Value::from("listPolicies");

    // The allow-listed extensions are real mismatches too; this test counts only the breakage.
    let mismatches: Vec<String> = all_mismatches(&broken, &reference)
        .into_iter()
        .filter(|m| !ALLOWED.iter().any(|(key, _)| m.starts_with(key)))
        .collect();
    let expected = [
        "Status: schema: enum:",
        "Model.status: enum:",
        "Metadata.url: readOnly:",
        "Metadata.name: required:",
        "PaginationMeta.total: type:",
        "Flavor.extra: property:",
        "IntegrationEndpointToken.extra: property:",
        "PolicySpec.sandbox: property:",
        "PolicyUsages.jobs: items type:",
        "BTreeMap: schema name:",
        "path /models/{modelName}: operations:",
        "path /policies: operations:",
    ];
    for prefix in expected {
        assert!(
            mismatches.iter().any(|m| m.starts_with(prefix)),
            "no mismatch '{prefix}...' among:\n  {}",
            mismatches.join("\n  ")
        );
    }
    assert_eq!(mismatches.len(), expected.len(), "unexpected extra mismatches:\n  {}", mismatches.join("\n  "));
}

#[tokio::test]
async fn list_shapes_and_body_errors_are_documented() {
    let document = served_document().await;
    for (path, item, envelope) in [("/models", "Model", "ModelList"), ("/policies", "Policy", "PolicyList")] {
        let schema = &document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        let shapes = schema["oneOf"].as_array().unwrap_or_else(|| panic!("{path}: {schema}"));
        assert_eq!(shapes[0]["type"], "array", "{path}: {schema}");
        assert_eq!(shapes[0]["items"]["$ref"], format!("#/components/schemas/{item}"), "{path}: {schema}");
        assert_eq!(shapes[1]["$ref"], format!("#/components/schemas/{envelope}"), "{path}: {schema}");
    }
    let mut with_body = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                continue;
            }
            with_body += 1;
            for status in ["408", "413", "415", "503"] {
                let answer = &operation["responses"][status];
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path}: {status}"
                );
            }
        }
    }
    assert!(with_body >= 10, "{with_body} operations with a body");
}
