//! Model names as providers spell them -> the names the catalogue lists (see the module doc of
//! `prices`). Every candidate is a slice of the name given: resolving allocates nothing.

/// First path segments that name a provider rather than being part of a model's name: the
/// runtime types' wire names and litellm's spellings of them.
const PROVIDER_PREFIXES: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "google",
    "vertex_ai",
    "vertexai",
    "mistral",
    "deepseek",
    "cohere",
    "cohere_chat",
    "cerebras",
    "xai",
    "groq",
    "azure",
    "azure_ai",
    "azure-openai-service",
    "azure-ai-inference",
    "huggingface",
];

/// The names to try for `model`, in order: as given, without a provider prefix, and that
/// name's snapshot base. Consecutive candidates may be equal; a repeated lookup is harmless.
pub(super) fn candidates(model: &str) -> impl Iterator<Item = &str> {
    let unprefixed = without_provider_prefix(model);
    [Some(model), Some(unprefixed), snapshot_base(unprefixed)].into_iter().flatten()
}

/// `models/gemini-2.5-pro` -> `gemini-2.5-pro`; `openai/gpt-4o` -> `gpt-4o`; other names as given.
fn without_provider_prefix(model: &str) -> &str {
    if let Some(name) = model.strip_prefix("models/") {
        return name;
    }
    if let Some(at) = model.rfind("/models/") {
        return &model[at + "/models/".len()..];
    }
    match model.split_once('/') {
        Some((head, rest)) if PROVIDER_PREFIXES.contains(&head) => rest,
        _ => model,
    }
}

/// The base of a snapshot name, one suffix cut: `@version` (Vertex), `-YYYY-MM-DD` (OpenAI),
/// `-YYYYMMDD` (Anthropic), `-NNN` (Gemini), or a fine-tune's `:org::id` (OpenAI `ft:`).
fn snapshot_base(name: &str) -> Option<&str> {
    if let Some((base, _)) = name.split_once('@') {
        return Some(base);
    }
    if let Some(tuned) = name.strip_prefix("ft:") {
        return tuned.find(':').map(|at| &name[.."ft:".len() + at]);
    }
    let cut = |suffix_len: usize, shape: fn(&[u8]) -> bool| {
        let at = name.len().checked_sub(suffix_len)?;
        let suffix = name.as_bytes().get(at..)?;
        (at > 0 && suffix[0] == b'-' && shape(&suffix[1..])).then(|| &name[..at])
    };
    cut(11, |d| d[4] == b'-' && d[7] == b'-' && digits(&d[..4]) && digits(&d[5..7]) && digits(&d[8..]))
        .or_else(|| cut(9, |d| digits(d) && d.starts_with(b"20")))
        .or_else(|| cut(4, digits))
}

fn digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_in_order() {
        let cases: &[(&str, &[&str])] = &[
            ("gpt-4o", &["gpt-4o", "gpt-4o"]),
            ("gpt-4o-mini-2024-07-18", &["gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"]),
            ("openai/gpt-4o-2024-08-06", &["openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "gpt-4o"]),
            (
                "claude-sonnet-4-5-20250929",
                &["claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
            ),
            (
                "claude-3-5-sonnet@20240620",
                &["claude-3-5-sonnet@20240620", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"],
            ),
            ("models/gemini-1.5-pro-002", &["models/gemini-1.5-pro-002", "gemini-1.5-pro-002", "gemini-1.5-pro"]),
            (
                "projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001",
                &[
                    "projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001",
                    "gemini-2.0-flash-001",
                    "gemini-2.0-flash",
                ],
            ),
            (
                "ft:gpt-4o-mini-2024-07-18:acme::abc123",
                &[
                    "ft:gpt-4o-mini-2024-07-18:acme::abc123",
                    "ft:gpt-4o-mini-2024-07-18:acme::abc123",
                    "ft:gpt-4o-mini-2024-07-18",
                ],
            ),
            // A slash that is part of the name stays; so do numbers that are not a snapshot.
            ("meta-llama/llama-3.3-70b", &["meta-llama/llama-3.3-70b", "meta-llama/llama-3.3-70b"]),
            ("acme/custom-models/gpt-4o", &["acme/custom-models/gpt-4o", "acme/custom-models/gpt-4o"]),
            ("gpt-4-0613", &["gpt-4-0613", "gpt-4-0613"]),
            ("mistral-large-2411", &["mistral-large-2411", "mistral-large-2411"]),
            ("-001", &["-001", "-001"]),
            ("", &["", ""]),
            ("@", &["@", "@", ""]),
            ("ft:", &["ft:", "ft:"]),
        ];
        for (model, expected) in cases {
            assert_eq!(candidates(model).collect::<Vec<_>>(), *expected, "{model}");
        }
    }

    #[test]
    fn no_panic_on_odd_names() {
        for model in ["é-2024-07-18", "x-2024-07-1é", "ab€", "models/", "openai/", "€€€€€€€€€€€", "-é00"]
        {
            let _ = candidates(model).count();
        }
    }
}
