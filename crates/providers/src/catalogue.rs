//! One descriptor per runtime type.

use modelgate_domain::RuntimeType;

/// The wire protocol a provider speaks; one adapter per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's `/v1/chat/completions` API (OpenAI, Mistral, DeepSeek, Groq, Hugging Face, ...).
    OpenAiCompatible,
    /// Azure OpenAI: deployment URLs, `api-key` header, `api-version` query parameter.
    AzureOpenAi,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini API (`generateContent`).
    Gemini,
    /// Google Vertex AI (`projects/.../locations/.../publishers/google/models/...`).
    VertexAi,
    /// Cohere v2 chat.
    Cohere,
    /// Model Context Protocol server over streamable HTTP.
    Mcp,
}

impl Family {
    /// Short name of the family, shown in the integration descriptor.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::OpenAiCompatible => "openai-compatible",
            Family::AzureOpenAi => "azure-openai",
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::VertexAi => "vertexai",
            Family::Cohere => "cohere",
            Family::Mcp => "mcp",
        }
    }
}

/// How the connection's credential travels to the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialStyle {
    /// `Authorization: Bearer {apiKey}`
    Bearer,
    /// The key alone in the named header (`x-api-key: {apiKey}`).
    Header(&'static str),
}

/// What modelgate knows about one runtime type.
#[derive(Debug)]
pub struct ProviderDescriptor {
    pub runtime_type: RuntimeType,
    pub display_name: &'static str,
    pub family: Family,
    /// Base URL used when the connection's `config.url` does not override it. `None`: the
    /// provider has no global endpoint (Azure resources, dedicated endpoints, MCP servers), so the
    /// connection must give `config.url`.
    pub default_base_url: Option<&'static str>,
    pub credential: CredentialStyle,
    /// Headers always added upstream (e.g. `anthropic-version`), overridable by the client.
    pub default_headers: &'static [(&'static str, &'static str)],
    /// Query parameters always added upstream (e.g. Azure's `api-version`).
    pub default_params: &'static [(&'static str, &'static str)],
    /// Secret names the connection must hold (`apiKey`).
    pub required_secrets: &'static [&'static str],
    /// Link to the provider's API documentation.
    pub docs_url: &'static str,
}

impl ProviderDescriptor {
    /// Whether a connection of `integration` can serve a model of this runtime type: the same
    /// name, or a Hugging Face connection for the Hugging Face endpoint types.
    pub fn accepts_integration(&self, integration: &str) -> bool {
        integration == self.runtime_type.as_str()
            || (integration == RuntimeType::Huggingface.as_str()
                && matches!(
                    self.runtime_type,
                    RuntimeType::HfPrivateEndpoint | RuntimeType::HfPublicEndpoint | RuntimeType::PublicModel
                ))
    }
}

const API_KEY: &[&str] = &["apiKey"];

macro_rules! provider {
    ($rt:ident, $name:literal, $family:ident, $url:expr, $cred:expr, $headers:expr, $params:expr, $secrets:expr, $docs:literal) => {
        ProviderDescriptor {
            runtime_type: RuntimeType::$rt,
            display_name: $name,
            family: Family::$family,
            default_base_url: $url,
            credential: $cred,
            default_headers: $headers,
            default_params: $params,
            required_secrets: $secrets,
            docs_url: $docs,
        }
    };
}

use CredentialStyle::{Bearer, Header};

static CATALOGUE: [ProviderDescriptor; 18] = [
    provider!(
        HfPrivateEndpoint,
        "Hugging Face private Inference Endpoint",
        OpenAiCompatible,
        None,
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://huggingface.co/docs/inference-endpoints"
    ),
    provider!(
        HfPublicEndpoint,
        "Hugging Face public Inference Endpoint",
        OpenAiCompatible,
        None,
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://huggingface.co/docs/inference-endpoints"
    ),
    provider!(
        Huggingface,
        "Hugging Face Inference Providers",
        OpenAiCompatible,
        Some("https://router.huggingface.co"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://huggingface.co/docs/inference-providers"
    ),
    provider!(
        PublicModel,
        "Public model (Hugging Face router)",
        OpenAiCompatible,
        Some("https://router.huggingface.co"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://huggingface.co/docs/inference-providers"
    ),
    provider!(
        Mcp,
        "MCP server (streamable HTTP)",
        Mcp,
        None,
        Bearer,
        &[],
        &[],
        &[],
        "https://modelcontextprotocol.io/specification"
    ),
    provider!(
        Openai,
        "OpenAI",
        OpenAiCompatible,
        Some("https://api.openai.com"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://platform.openai.com/docs/api-reference"
    ),
    provider!(
        Anthropic,
        "Anthropic",
        Anthropic,
        Some("https://api.anthropic.com"),
        Header("x-api-key"),
        &[("anthropic-version", "2023-06-01")],
        &[],
        API_KEY,
        "https://docs.anthropic.com/en/api/messages"
    ),
    provider!(
        Gemini,
        "Google Gemini",
        Gemini,
        Some("https://generativelanguage.googleapis.com"),
        Header("x-goog-api-key"),
        &[],
        &[],
        API_KEY,
        "https://ai.google.dev/api"
    ),
    provider!(
        Mistral,
        "Mistral AI",
        OpenAiCompatible,
        Some("https://api.mistral.ai"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://docs.mistral.ai/api"
    ),
    provider!(
        Deepseek,
        "DeepSeek",
        OpenAiCompatible,
        Some("https://api.deepseek.com"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://api-docs.deepseek.com"
    ),
    provider!(
        Cohere,
        "Cohere",
        Cohere,
        Some("https://api.cohere.com"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://docs.cohere.com/reference/chat"
    ),
    provider!(
        Cerebras,
        "Cerebras",
        OpenAiCompatible,
        Some("https://api.cerebras.ai"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://inference-docs.cerebras.ai/api-reference"
    ),
    provider!(
        Xai,
        "xAI",
        OpenAiCompatible,
        Some("https://api.x.ai"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://docs.x.ai/api"
    ),
    provider!(
        Vertexai,
        "Google Vertex AI",
        VertexAi,
        Some("https://aiplatform.googleapis.com"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://cloud.google.com/vertex-ai/docs/reference/rest"
    ),
    provider!(
        AzureOpenaiService,
        "Azure OpenAI Service",
        AzureOpenAi,
        None,
        Header("api-key"),
        &[],
        &[("api-version", "2024-10-21")],
        API_KEY,
        "https://learn.microsoft.com/azure/ai-services/openai/reference"
    ),
    provider!(
        AzureAiInference,
        "Azure AI Foundry inference",
        OpenAiCompatible,
        None,
        Header("api-key"),
        &[],
        &[("api-version", "2024-05-01-preview")],
        API_KEY,
        "https://learn.microsoft.com/azure/ai-foundry/model-inference/reference/reference-model-inference-api"
    ),
    provider!(
        AzureMarketplace,
        "Azure Marketplace (serverless API)",
        OpenAiCompatible,
        None,
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://learn.microsoft.com/azure/ai-foundry/how-to/deploy-models-serverless"
    ),
    provider!(
        Groq,
        "Groq",
        OpenAiCompatible,
        Some("https://api.groq.com/openai"),
        Bearer,
        &[],
        &[],
        API_KEY,
        "https://console.groq.com/docs/api-reference"
    ),
];

/// The descriptor of a runtime type.
/// How an OpenAI-compatible provider reports a stream's usage: what modelgate may add to a
/// streamed request, and where it reads the usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamUsage {
    /// Only when asked (`stream_options: {"include_usage": true}`), in an extra last chunk with no
    /// choices: OpenAI and the compatible APIs that copy it.
    OnRequest,
    /// Always, in the last chunk beside its `finish_reason`; `stream_options` is an unknown field
    /// the API refuses (422), so it is never sent: Mistral.
    InLastChunk,
}

/// The stream-usage capability of `runtime_type` (meaningful for OpenAI-style families).
pub fn stream_usage(runtime_type: RuntimeType) -> StreamUsage {
    match runtime_type {
        RuntimeType::Mistral => StreamUsage::InLastChunk,
        _ => StreamUsage::OnRequest,
    }
}

pub fn descriptor(runtime_type: RuntimeType) -> &'static ProviderDescriptor {
    // The catalogue lists the types in `RuntimeType::ALL` order; the fallback search keeps this
    // total even if someone reorders one of them.
    let index = RuntimeType::ALL.iter().position(|t| *t == runtime_type).unwrap_or(0);
    let by_index = &CATALOGUE[index];
    if by_index.runtime_type == runtime_type {
        return by_index;
    }
    CATALOGUE.iter().find(|d| d.runtime_type == runtime_type).unwrap_or(by_index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_type_has_its_own_descriptor() {
        for runtime_type in RuntimeType::ALL {
            assert_eq!(descriptor(runtime_type).runtime_type, runtime_type);
        }
    }

    #[test]
    fn huggingface_connections_serve_endpoint_types() {
        assert!(descriptor(RuntimeType::HfPrivateEndpoint).accepts_integration("huggingface"));
        assert!(descriptor(RuntimeType::Openai).accepts_integration("openai"));
        assert!(!descriptor(RuntimeType::Openai).accepts_integration("anthropic"));
    }
}
