//! The price catalogue: what a provider charges, in USD, per model.
//!
//! # Where the prices come from
//! `data/prices.json` is embedded in the binary (`include_str!`) and parsed once at start; the
//! catalogue is never fetched over the network. It is built by `scripts/refresh-prices.py` from
//! litellm's MIT-licensed `model_prices_and_context_window_backup.json` (its header, [`PriceSource`],
//! names the version; NOTICE at the repository root names the licence). Per runtime type and
//! model it holds USD per input token, output token, cached input token read (`cacheRead`) and
//! written (`cacheWrite`), and, where the provider charges so, per request and per generated image.
//! litellm's tiered prices (above 200k tokens), batch, flex and priority prices are not kept: the
//! standard price applies.
//!
//! # Overrides
//! An operator file in the same format (the `source` header is optional there) replaces the
//! embedded entries per (runtime type, model), whole entries, not field by field:
//! [`PriceCatalogue::with_overrides`]. It is how a negotiated price, a model the catalogue lacks,
//! or an Azure deployment is priced: Azure OpenAI routes call *deployments*, whose names the
//! customer chooses, so a deployment named like the model it serves (`gpt-4o`) finds that model's
//! price and any other name needs an override entry under `azure-openai-service`.
//!
//! # How a model name is resolved
//! [`PriceCatalogue::lookup`] tries, within the runtime type's table, in order:
//! 1. the name exactly as the route sends it (case matters: `Phi-4`);
//! 2. the name without a provider prefix: a leading `models/` or everything up to the last
//!    `/models/` (Gemini's `models/gemini-2.5-pro`, Vertex's
//!    `projects/p/locations/l/publishers/google/models/...`),
//!    else a first path segment naming a provider (`openai/gpt-4o`, `gemini/...`, `vertex_ai/...`;
//!    see `names::PROVIDER_PREFIXES`). Other slashes are part of the name (Groq's
//!    `openai/gpt-oss-120b` is found at step 1);
//! 3. the base of a snapshot, one suffix cut from the name of step 2: a Vertex `@...` version
//!    (`claude-3-5-sonnet@20240620` -> `claude-3-5-sonnet`), an OpenAI date `-YYYY-MM-DD`
//!    (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`), an Anthropic date `-YYYYMMDD`
//!    (`claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`), a Gemini version `-NNN`
//!    (`gemini-2.0-flash-001` -> `gemini-2.0-flash`), or an OpenAI fine-tune's account part
//!    (`ft:gpt-4o-mini-2024-07-18:org::id` -> `ft:gpt-4o-mini-2024-07-18`).
//!
//! A snapshot the catalogue lists itself (`gpt-4o-2024-05-13`, priced above `gpt-4o`) keeps its
//! own price: step 1 finds it. A name none of this finds has no price (`None`), never 0.
//!
//! # Cost
//! [`cost`] multiplies a [`TokenCounts`] by a [`ModelPrice`]; the counts' convention (input
//! includes cached tokens) and how each provider family's usage maps to it are on [`TokenCounts`].

mod cost;
mod file;
mod names;

use std::collections::HashMap;
use std::path::Path;

use modelgate_domain::RuntimeType;

pub use cost::{cost, TokenCounts};
pub use file::PriceError;

/// The embedded catalogue, as `scripts/refresh-prices.py` wrote it.
const EMBEDDED: &str = include_str!("../data/prices.json");

/// What one model costs, in USD. Absent prices are 0, except the cache prices: absent, cached
/// tokens cost what other input tokens cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModelPrice {
    /// Per input token not read from or written to a cache.
    pub input: f64,
    /// Per output token (reasoning tokens included; an image model's image tokens).
    pub output: f64,
    /// Per input token read from the provider's prompt cache.
    pub cache_read: Option<f64>,
    /// Per input token written to the provider's prompt cache (Anthropic's cache creation).
    pub cache_write: Option<f64>,
    /// Per request, whatever its tokens.
    pub per_request: f64,
    /// Per generated image.
    pub per_image: f64,
}

impl From<&modelgate_domain::ModelPrice> for ModelPrice {
    /// A model endpoint's own price (`spec.price`); absent fields as in a price file.
    fn from(spec: &modelgate_domain::ModelPrice) -> ModelPrice {
        ModelPrice {
            input: spec.input.unwrap_or(0.0),
            output: spec.output.unwrap_or(0.0),
            cache_read: spec.cache_read,
            cache_write: spec.cache_write,
            per_request: spec.per_request.unwrap_or(0.0),
            per_image: spec.per_image.unwrap_or(0.0),
        }
    }
}

/// Where a catalogue's prices come from: the header of the embedded file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceSource {
    /// What the prices were taken from (`litellm model_prices_and_context_window_backup.json`).
    pub name: String,
    /// The source's version (litellm's package version).
    pub version: String,
    /// The source's licence.
    pub licence: String,
    /// When the file was generated (`YYYY-MM-DD`).
    pub generated: String,
}

/// Prices per runtime type and model name.
#[derive(Clone, Debug, Default)]
pub struct PriceCatalogue {
    source: Option<PriceSource>,
    models: HashMap<RuntimeType, HashMap<Box<str>, ModelPrice>>,
}

impl PriceCatalogue {
    /// The catalogue embedded in the binary. Parse it once at start and keep it: it takes a few
    /// milliseconds. An error here is a bug of the build (the file is tested), not of the operator.
    pub fn embedded() -> Result<PriceCatalogue, PriceError> {
        PriceCatalogue::from_json(EMBEDDED, "embedded prices.json")
    }

    /// Parses a catalogue; `origin` names it in errors (a file's path).
    pub fn from_json(text: &str, origin: &str) -> Result<PriceCatalogue, PriceError> {
        file::parse(text, origin)
    }

    /// Reads and parses an operator's price file (blocking file I/O: call it at start or on the
    /// blocking pool). Errors name the file and, for a wrong value, its JSON path.
    pub fn from_file(path: &Path) -> Result<PriceCatalogue, PriceError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PriceError::Read { path: path.to_owned(), source })?;
        PriceCatalogue::from_json(&text, &path.display().to_string())
    }

    /// This catalogue with the entries of the price file at `path` replacing its own: what the
    /// server computes at start and again when the file changes (from the embedded catalogue it
    /// kept). On error, keep serving the previous catalogue.
    pub fn with_overrides(mut self, path: &Path) -> Result<PriceCatalogue, PriceError> {
        self.merge(PriceCatalogue::from_file(path)?);
        Ok(self)
    }

    /// Puts every entry of `other` in this catalogue, replacing an entry of the same runtime
    /// type and model name whole. This catalogue's source header stays.
    pub fn merge(&mut self, other: PriceCatalogue) {
        for (runtime_type, models) in other.models {
            self.models.entry(runtime_type).or_default().extend(models);
        }
    }

    /// The price of `model` on a route of `runtime_type`, the name resolved as the module
    /// documentation says; `None` when it has no known price.
    pub fn lookup(&self, runtime_type: RuntimeType, model: &str) -> Option<&ModelPrice> {
        self.resolve(runtime_type, model).map(|(_, price)| price)
    }

    /// Like [`lookup`](Self::lookup), with the catalogue's name of the entry found (`gpt-4o-mini`
    /// for `gpt-4o-mini-2024-07-18`), for logs and diagnostics.
    pub fn resolve(&self, runtime_type: RuntimeType, model: &str) -> Option<(&str, &ModelPrice)> {
        let models = self.models.get(&runtime_type)?;
        names::candidates(model).find_map(|name| models.get_key_value(name)).map(|(name, price)| (&**name, price))
    }

    /// The source header, if the file had one (the embedded one does).
    pub fn source(&self) -> Option<&PriceSource> {
        self.source.as_ref()
    }

    /// How many (runtime type, model) entries the catalogue holds.
    pub fn len(&self) -> usize {
        self.models.values().map(HashMap::len).sum()
    }

    /// Whether the catalogue holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
