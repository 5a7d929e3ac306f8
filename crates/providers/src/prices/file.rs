//! The price file format, shared by the embedded catalogue and operators' override files:
//!
//! ```json
//! {"source": {"name": "...", "version": "...", "licence": "...", "generated": "YYYY-MM-DD"},
//!  "prices": {"openai": {"gpt-4o-mini": {"input": 1.5e-7, "output": 6e-7, "cacheRead": 7.5e-8}}}}
//! ```
//!
//! `source` is optional (and may carry more strings); `prices` maps a runtime type's wire name to
//! models, each with at least one of `input`, `output`, `cacheRead`, `cacheWrite` (USD per token),
//! `perRequest`, `perImage` (USD). Anything else is refused with the file and the JSON path, so
//! a misspelt field never leaves a price silently unchanged.

use modelgate_domain::validation::{MAX_PRICE_PER_CALL, MAX_PRICE_PER_TOKEN};
use std::collections::HashMap;
use std::path::PathBuf;

use modelgate_domain::RuntimeType;
use serde_json::Value;

use super::{ModelPrice, PriceCatalogue, PriceSource};

/// Why a price file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not JSON (serde_json's message gives the line and column).
    #[error("{origin}: not valid JSON: {source}")]
    Syntax { origin: String, source: serde_json::Error },
    /// The JSON is not a price file: `at` is the JSON path of the offending value.
    #[error("{origin}: {at}: {message}")]
    Invalid { origin: String, at: String, message: String },
}

const PRICE_FIELDS: &str = "input, output, cacheRead, cacheWrite, perRequest, perImage";

pub(super) fn parse(text: &str, origin: &str) -> Result<PriceCatalogue, PriceError> {
    let document: Value =
        serde_json::from_str(text).map_err(|source| PriceError::Syntax { origin: origin.to_owned(), source })?;
    let invalid = |at: String, message: String| PriceError::Invalid { origin: origin.to_owned(), at, message };

    let root = document.as_object().ok_or_else(|| invalid("$".into(), "expected an object".into()))?;
    let mut catalogue = PriceCatalogue::default();
    let mut prices = None;
    for (key, value) in root {
        match key.as_str() {
            "source" => catalogue.source = Some(source(value).map_err(|(at, m)| invalid(format!("$.source{at}"), m))?),
            "prices" => prices = Some(value),
            _ => return Err(invalid(format!("$.{key}"), "unknown field (expected source, prices)".into())),
        }
    }
    let prices = prices.ok_or_else(|| invalid("$".into(), "missing field `prices`".into()))?;
    let prices = prices.as_object().ok_or_else(|| invalid("$.prices".into(), "expected an object".into()))?;
    for (type_name, models) in prices {
        let at = format!("$.prices[{}]", quoted(type_name));
        let runtime_type =
            RuntimeType::parse(type_name).ok_or_else(|| invalid(at.clone(), "unknown runtime type".into()))?;
        let models = models.as_object().ok_or_else(|| invalid(at.clone(), "expected an object of models".into()))?;
        let table: &mut HashMap<Box<str>, ModelPrice> = catalogue.models.entry(runtime_type).or_default();
        table.reserve(models.len());
        for (name, entry) in models {
            let at = format!("{at}[{}]", quoted(name));
            if name.is_empty() {
                return Err(invalid(at, "empty model name".into()));
            }
            let price = model_price(entry).map_err(|(field, message)| invalid(format!("{at}{field}"), message))?;
            table.insert(name.as_str().into(), price);
        }
    }
    Ok(catalogue)
}

/// One model's entry; an error is (the path below the entry, message).
fn model_price(entry: &Value) -> Result<ModelPrice, (String, String)> {
    let fields = entry.as_object().ok_or_else(|| (String::new(), format!("expected an object with {PRICE_FIELDS}")))?;
    if fields.is_empty() {
        return Err((String::new(), format!("no price given (expected {PRICE_FIELDS})")));
    }
    let mut price = ModelPrice::default();
    for (field, value) in fields {
        let usd = value
            .as_f64()
            .filter(|usd| usd.is_finite() && *usd >= 0.0)
            .ok_or_else(|| (format!(".{field}"), format!("expected a non-negative number of USD, found {value}")))?;
        let (most, per) = match field.as_str() {
            "perRequest" => (MAX_PRICE_PER_CALL, "request"),
            "perImage" => (MAX_PRICE_PER_CALL, "image"),
            _ => (MAX_PRICE_PER_TOKEN, "token"),
        };
        if usd > most {
            return Err((format!(".{field}"), format!("expected at most {most} USD per {per}, found {value}")));
        }
        match field.as_str() {
            "input" => price.input = usd,
            "output" => price.output = usd,
            "cacheRead" => price.cache_read = Some(usd),
            "cacheWrite" => price.cache_write = Some(usd),
            "perRequest" => price.per_request = usd,
            "perImage" => price.per_image = usd,
            _ => return Err((format!(".{field}"), format!("unknown field (expected {PRICE_FIELDS})"))),
        }
    }
    Ok(price)
}

/// The header; its strings are kept, unknown ones ignored.
fn source(value: &Value) -> Result<PriceSource, (String, String)> {
    let fields = value.as_object().ok_or_else(|| (String::new(), "expected an object".into()))?;
    let text = |key: &str| match fields.get(key) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err((format!(".{key}"), "expected a string".to_owned())),
    };
    Ok(PriceSource {
        name: text("name")?,
        version: text("version")?,
        licence: text("licence")?,
        generated: text("generated")?,
    })
}

/// A key as a JSON string, for paths: `["gpt-4o"]`.
fn quoted(key: &str) -> String {
    Value::String(key.to_owned()).to_string()
}
