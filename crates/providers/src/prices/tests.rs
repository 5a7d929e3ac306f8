use std::path::PathBuf;
use std::time::{Duration, Instant};

use modelgate_domain::RuntimeType;

use super::*;

fn catalogue() -> PriceCatalogue {
    PriceCatalogue::embedded().unwrap()
}

/// `value` equals `expected` to a millionth of a cent.
#[track_caller]
fn assert_usd(value: f64, expected: f64) {
    assert!((value - expected).abs() < 1e-8, "{value} USD, expected {expected} USD");
}

fn price(input: f64, output: f64, cache_read: Option<f64>, cache_write: Option<f64>) -> ModelPrice {
    ModelPrice { input, output, cache_read, cache_write, ..ModelPrice::default() }
}

/// (runtime type, model as a route names it, the catalogue's entry it resolves to, its price).
#[test]
fn real_names_resolve_to_their_prices() {
    let catalogue = catalogue();
    let cases = [
        (RuntimeType::Openai, "gpt-4o-mini", "gpt-4o-mini", price(1.5e-7, 6e-7, Some(7.5e-8), None)),
        (RuntimeType::Openai, "gpt-4o-2024-05-13", "gpt-4o-2024-05-13", price(5e-6, 1.5e-5, None, None)),
        (RuntimeType::Openai, "text-embedding-3-small", "text-embedding-3-small", price(2e-8, 0.0, None, None)),
        (
            RuntimeType::Anthropic,
            "claude-sonnet-4-5",
            "claude-sonnet-4-5",
            price(3e-6, 1.5e-5, Some(3e-7), Some(3.75e-6)),
        ),
        (
            RuntimeType::Anthropic,
            "claude-haiku-4-5-20251001",
            "claude-haiku-4-5-20251001",
            price(1e-6, 5e-6, Some(1e-7), Some(1.25e-6)),
        ),
        (RuntimeType::Gemini, "gemini-2.5-pro", "gemini-2.5-pro", price(1.25e-6, 1e-5, Some(1.25e-7), None)),
        (RuntimeType::Gemini, "models/gemini-2.5-flash", "gemini-2.5-flash", price(3e-7, 2.5e-6, Some(3e-8), None)),
        (RuntimeType::Vertexai, "gemini-2.0-flash", "gemini-2.0-flash", price(1.5e-7, 6e-7, None, None)),
        (
            RuntimeType::Vertexai,
            "claude-3-5-sonnet@20240620",
            "claude-3-5-sonnet@20240620",
            price(3e-6, 1.5e-5, None, None),
        ),
        (RuntimeType::Mistral, "mistral-large-latest", "mistral-large-latest", price(5e-7, 1.5e-6, Some(5e-8), None)),
        (RuntimeType::Cohere, "command-a-03-2025", "command-a-03-2025", price(2.5e-6, 1e-5, None, None)),
        (RuntimeType::Cohere, "embed-v4.0", "embed-v4.0", price(1.2e-7, 0.0, None, None)),
        (RuntimeType::Groq, "openai/gpt-oss-120b", "openai/gpt-oss-120b", price(1.5e-7, 6e-7, Some(7.5e-8), None)),
        (RuntimeType::Deepseek, "deepseek-chat", "deepseek-chat", price(2.8e-7, 4.2e-7, Some(2.8e-8), None)),
        (RuntimeType::Xai, "grok-4.3", "grok-4.3", price(1.25e-6, 2.5e-6, Some(2e-7), None)),
        (RuntimeType::Cerebras, "gpt-oss-120b", "gpt-oss-120b", price(3.5e-7, 7.5e-7, None, None)),
        (RuntimeType::AzureOpenaiService, "gpt-4o", "gpt-4o", price(2.5e-6, 1e-5, Some(1.25e-6), None)),
        (RuntimeType::AzureAiInference, "Phi-4", "Phi-4", price(1.25e-7, 5e-7, None, None)),
    ];
    for (runtime_type, model, entry, expected) in cases {
        let resolved = catalogue.resolve(runtime_type, model);
        assert_eq!(resolved, Some((entry, &expected)), "{} {model}", runtime_type.as_str());
    }
    // Image models: per image (Imagen), or per image token as output (gpt-image-1).
    let imagen = catalogue.lookup(RuntimeType::Gemini, "imagen-3.0-generate-001").unwrap();
    assert_eq!((imagen.per_image, imagen.output), (0.04, 0.0));
    let gpt_image = catalogue.lookup(RuntimeType::Openai, "gpt-image-1").unwrap();
    assert_eq!((gpt_image.input, gpt_image.output, gpt_image.per_image), (5e-6, 4e-5, 0.0));
}

#[test]
fn snapshots_and_prefixed_names_resolve_to_their_base() {
    let catalogue = catalogue();
    let cases = [
        (RuntimeType::Openai, "gpt-4o-mini-2025-01-01", "gpt-4o-mini"),
        (RuntimeType::Openai, "openai/gpt-4o", "gpt-4o"),
        (RuntimeType::Openai, "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123", "ft:gpt-4o-mini-2024-07-18"),
        (RuntimeType::Anthropic, "claude-sonnet-4-6-20260217", "claude-sonnet-4-6"),
        (RuntimeType::Anthropic, "anthropic/claude-opus-4-5-20251101", "claude-opus-4-5-20251101"),
        (RuntimeType::Gemini, "models/gemini-2.5-pro", "gemini-2.5-pro"),
        (RuntimeType::Gemini, "gemini-2.5-flash-002", "gemini-2.5-flash"),
        (RuntimeType::Vertexai, "gemini-2.0-flash-001", "gemini-2.0-flash"),
        (
            RuntimeType::Vertexai,
            "projects/acme/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-6@20260217",
            "claude-sonnet-4-6",
        ),
        (RuntimeType::Vertexai, "claude-3-5-haiku@20241022", "claude-3-5-haiku@20241022"),
        (RuntimeType::AzureOpenaiService, "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
    ];
    for (runtime_type, model, entry) in cases {
        let resolved = catalogue.resolve(runtime_type, model).map(|(name, _)| name);
        assert_eq!(resolved, Some(entry), "{} {model}", runtime_type.as_str());
    }
    // A base the catalogue lacks is not guessed from another: the brief's `claude-3-5-sonnet`
    // example resolves once an entry for its base exists.
    let mut extended = catalogue.clone();
    extended.merge(
        PriceCatalogue::from_json(
            r#"{"prices":{"anthropic":{"claude-3-5-sonnet":{"input":3e-6,"output":1.5e-5}}}}"#,
            "test",
        )
        .unwrap(),
    );
    assert_eq!(catalogue.lookup(RuntimeType::Anthropic, "claude-3-5-sonnet-20241022"), None);
    assert_eq!(
        extended.resolve(RuntimeType::Anthropic, "claude-3-5-sonnet-20241022").map(|(name, _)| name),
        Some("claude-3-5-sonnet")
    );
}

#[test]
fn unknown_models_have_no_price() {
    let catalogue = catalogue();
    assert_eq!(catalogue.lookup(RuntimeType::Openai, "my-own-model"), None);
    assert_eq!(catalogue.lookup(RuntimeType::Openai, ""), None);
    // Prices are per runtime type: Anthropic's model is not priced on an OpenAI route, nor a
    // deployment whose name the customer chose.
    assert_eq!(catalogue.lookup(RuntimeType::Openai, "claude-sonnet-4-5"), None);
    assert_eq!(catalogue.lookup(RuntimeType::AzureOpenaiService, "prod-chat"), None);
    assert_eq!(catalogue.lookup(RuntimeType::Mcp, "gpt-4o"), None);
}

/// Costs to a millionth of a cent, one per family's cached-token convention.
#[test]
fn cost_follows_each_familys_cached_token_convention() {
    let catalogue = catalogue();

    // OpenAI: 1,000 prompt tokens of which 400 cached, 200 completion tokens on gpt-4o-mini:
    // 600 x 0.15/M + 400 x 0.075/M + 200 x 0.60/M = 0.00009 + 0.00003 + 0.00012.
    let gpt = catalogue.lookup(RuntimeType::Openai, "gpt-4o-mini").unwrap();
    assert_usd(cost(gpt, &TokenCounts::openai(1000, 200, 400)), 0.00024);

    // Anthropic: input_tokens 100 excludes 2,000 read and 1,000 written, 500 output on
    // claude-sonnet-4-5: 100 x 3/M + 2,000 x 0.30/M + 1,000 x 3.75/M + 500 x 15/M.
    let claude = catalogue.lookup(RuntimeType::Anthropic, "claude-sonnet-4-5").unwrap();
    let tokens = TokenCounts::anthropic(100, 500, 2000, 1000);
    assert_eq!(tokens.input, 3100);
    assert_usd(cost(claude, &tokens), 0.0003 + 0.0006 + 0.00375 + 0.0075);

    // Gemini: promptTokenCount 10,000 includes 8,000 cached, 1,000 output on gemini-2.5-pro:
    // 2,000 x 1.25/M + 8,000 x 0.125/M + 1,000 x 10/M = 0.0025 + 0.001 + 0.01.
    let gemini = catalogue.lookup(RuntimeType::Gemini, "gemini-2.5-pro").unwrap();
    assert_usd(cost(gemini, &TokenCounts::gemini(10_000, 1000, 8000)), 0.0135);

    // Cohere: no cache; 1,000,000 input and 1,000,000 output tokens on command-a: 2.50 + 10.
    let cohere = catalogue.lookup(RuntimeType::Cohere, "command-a-03-2025").unwrap();
    let tokens = TokenCounts { input: 1_000_000, output: 1_000_000, ..TokenCounts::default() };
    assert_usd(cost(cohere, &tokens), 12.5);
}

#[test]
fn cost_without_cache_prices_per_request_and_images() {
    // No cache prices: cached tokens cost what input costs.
    let plain = price(1e-6, 2e-6, None, None);
    assert_usd(cost(&plain, &TokenCounts::anthropic(10, 10, 20, 30)), 60e-6 + 20e-6);
    // Per request once, per image per image.
    let image = ModelPrice { per_request: 0.01, per_image: 0.04, ..ModelPrice::default() };
    assert_usd(cost(&image, &TokenCounts { images: 3, ..TokenCounts::default() }), 0.13);
    // Cache counts above the input (a provider's inconsistency) never make a negative cost.
    let odd = TokenCounts { input: 5, cache_read: 10, ..TokenCounts::default() };
    assert_usd(cost(&price(1e-6, 0.0, Some(1e-7), None), &odd), 1e-6);
    // Counts at the limit do not overflow.
    let huge = TokenCounts::anthropic(u64::MAX, 0, u64::MAX, 1);
    assert!(cost(&plain, &huge).is_finite());
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("modelgate-prices-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn an_override_file_replaces_entries_whole_and_adds_models() {
    let file = TempFile::new(
        "override.json",
        r#"{"prices": {
            "openai": {"gpt-4o-mini": {"input": 1e-7, "output": 4e-7}},
            "azure-openai-service": {"prod-chat": {"input": 2.5e-6, "output": 1e-5, "cacheRead": 1.25e-6}},
            "huggingface": {"meta-llama/Llama-3.3-70B-Instruct": {"perRequest": 0.001}}
        }}"#,
    );
    let embedded = catalogue();
    let merged = embedded.clone().with_overrides(&file.0).unwrap();

    // Replaced whole: the embedded cache price is gone with the rest of the entry.
    assert_eq!(merged.lookup(RuntimeType::Openai, "gpt-4o-mini"), Some(&price(1e-7, 4e-7, None, None)));
    // The override's names resolve like the embedded ones (a snapshot of the overridden base).
    assert_eq!(merged.lookup(RuntimeType::Openai, "gpt-4o-mini-2099-01-01"), Some(&price(1e-7, 4e-7, None, None)));
    // Added: an Azure deployment's own name, a model of a runtime type without prices.
    assert_eq!(
        merged.lookup(RuntimeType::AzureOpenaiService, "prod-chat"),
        Some(&price(2.5e-6, 1e-5, Some(1.25e-6), None))
    );
    assert_eq!(
        merged.lookup(RuntimeType::Huggingface, "meta-llama/Llama-3.3-70B-Instruct").unwrap().per_request,
        0.001
    );
    // Everything else unchanged, the header kept.
    assert_eq!(merged.lookup(RuntimeType::Openai, "gpt-4o"), embedded.lookup(RuntimeType::Openai, "gpt-4o"));
    assert_eq!(merged.len(), embedded.len() + 2);
    assert_eq!(merged.source(), embedded.source());
}

#[test]
fn a_bad_override_file_is_refused_naming_the_file_and_the_json_path() {
    let cases = [
        (
            r#"{"prices": {"openai": {"gpt-4o": {"input": "cheap"}}}}"#,
            r#"$.prices["openai"]["gpt-4o"].input: expected a non-negative number of USD, found "cheap""#,
        ),
        (
            r#"{"prices": {"openai": {"gpt-4o": {"input": -1}}}}"#,
            r#"$.prices["openai"]["gpt-4o"].input: expected a non-negative number of USD, found -1"#,
        ),
        (
            r#"{"prices": {"openai": {"gpt-4o": {"inputs": 1e-6}}}}"#,
            r#"$.prices["openai"]["gpt-4o"].inputs: unknown field"#,
        ),
        (r#"{"prices": {"openai": {"gpt-4o": {}}}}"#, r#"$.prices["openai"]["gpt-4o"]: no price given"#),
        (r#"{"prices": {"openai": {"gpt-4o": 1e-6}}}"#, r#"$.prices["openai"]["gpt-4o"]: expected an object"#),
        (r#"{"prices": {"open-ai": {}}}"#, r#"$.prices["open-ai"]: unknown runtime type"#),
        (r#"{"prices": {"openai": []}}"#, r#"$.prices["openai"]: expected an object of models"#),
        (r#"{"prices": {"openai": {"": {"input": 1}}}}"#, r#"$.prices["openai"][""]: empty model name"#),
        (r#"{"price": {}}"#, "$.price: unknown field"),
        (r#"{"source": {}}"#, "$: missing field `prices`"),
        (r#"{"source": {"version": 2}, "prices": {}}"#, "$.source.version: expected a string"),
        ("[]", "$: expected an object"),
        ("{\"prices\": {\n  \"openai\": {,}}}", "not valid JSON: key must be a string at line 2 column 14"),
    ];
    for (contents, expected) in cases {
        let file = TempFile::new("bad.json", contents);
        let error = PriceCatalogue::from_file(&file.0).unwrap_err().to_string();
        let prefix = format!("{}: ", file.0.display());
        assert!(error.starts_with(&prefix), "{error}");
        assert!(error[prefix.len()..].starts_with(expected), "{error}\nexpected: {expected}");
    }
    let missing = PathBuf::from("/nonexistent/modelgate-prices.json");
    let error = catalogue().with_overrides(&missing).unwrap_err().to_string();
    assert!(error.starts_with("/nonexistent/modelgate-prices.json: "), "{error}");
}

/// Tidy: the embedded file names its source, licence and version, covers the providers it
/// should, and stays small.
#[test]
fn the_embedded_file_names_its_source_and_licence() {
    let catalogue = catalogue();
    let source = catalogue.source().unwrap();
    assert!(source.name.contains("litellm") && source.name.contains("model_prices"), "{source:?}");
    assert!(source.licence.starts_with("MIT"), "{source:?}");
    assert!(!source.version.is_empty() && source.generated.len() == "YYYY-MM-DD".len(), "{source:?}");
    let notice = include_str!("../../../../NOTICE");
    assert!(notice.contains(&format!("litellm {}", source.version)), "NOTICE names another litellm version");
    for runtime_type in [
        RuntimeType::Openai,
        RuntimeType::Anthropic,
        RuntimeType::Gemini,
        RuntimeType::Vertexai,
        RuntimeType::Mistral,
        RuntimeType::Deepseek,
        RuntimeType::Cohere,
        RuntimeType::Cerebras,
        RuntimeType::Xai,
        RuntimeType::Groq,
        RuntimeType::AzureOpenaiService,
        RuntimeType::AzureAiInference,
    ] {
        assert!(catalogue.models.get(&runtime_type).is_some_and(|m| m.len() >= 5), "{}", runtime_type.as_str());
    }
    assert!(EMBEDDED.len() < 256 * 1024, "prices.json is {} bytes", EMBEDDED.len());
}

/// The parse's cost at start (`cargo test -p modelgate-providers parse_time -- --nocapture`);
/// printed, not asserted.
#[test]
fn parse_time() {
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let catalogue = catalogue();
            let elapsed = started.elapsed();
            assert!(!catalogue.is_empty());
            elapsed
        })
        .collect();
    times.sort();
    eprintln!(
        "prices.json: {} bytes, {} models; parse min {:?}, median {:?}, max {:?}",
        EMBEDDED.len(),
        catalogue().len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
