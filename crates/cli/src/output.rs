//! Printing resources: a table (`-o table`, the default), manifests (`-o yaml`, one document
//! each) or JSON (`-o json`, the API's objects); never a secret.

use crate::kinds::Kind;
use serde_json::Value;

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default)]
pub enum Format {
    #[default]
    Table,
    Yaml,
    Json,
}

/// `items` in `format`; `single` when one resource was asked for by name.
pub fn render(kind: Kind, items: &[Value], format: Format, single: bool) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => resources_table(kind, items),
        Format::Yaml => {
            let mut text = String::new();
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    text.push_str("---\n");
                }
                text.push_str(&serde_yaml_ng::to_string(&kind.manifest(item))?);
            }
            text
        }
        Format::Json => {
            let clean: Vec<Value> = items.iter().map(|item| kind.without_secrets(item)).collect();
            let value = match (single, clean.as_slice()) {
                (true, [one]) => one.clone(),
                _ => Value::Array(clean),
            };
            serde_json::to_string_pretty(&value)? + "\n"
        }
    })
}

/// A value as a table cell (arrays comma-separated, absent and null empty).
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items.iter().map(|v| cell(Some(v))).collect::<Vec<_>>().join(","),
        Some(other) => other.to_string(),
    }
}

fn resources_table(kind: Kind, items: &[Value]) -> String {
    let columns = kind.columns();
    let rows: Vec<Vec<String>> =
        items.iter().map(|item| columns.iter().map(|(_, pointer)| cell(item.pointer(pointer))).collect()).collect();
    table(&columns.iter().map(|(header, _)| *header).collect::<Vec<_>>(), &rows)
}

/// `rows` under `headers`, in columns as wide as their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| rows.iter().map(|row| row[i].chars().count()).chain([header.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        padded.join("   ").trim_end().to_string() + "\n"
    };
    let mut text = line(headers.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}
