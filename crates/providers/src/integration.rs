//! The `Integration` descriptor served by `GET /integrations/{integrationName}`, shaped as in
//! the reference: the endpoints the gateway proxies and where usage is found in their answers.

use crate::catalogue::{descriptor, CredentialStyle, Family};
use modelgate_domain::RuntimeType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where token counts are found in a response (dotted JSON paths).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntegrationEndpointToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
}

/// One provider endpoint the gateway proxies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub ignore_models: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub models: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_token: Option<IntegrationEndpointToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<IntegrationEndpointToken>,
}

/// A provider descriptor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub additional_infos: BTreeMap<String, String>,
    pub endpoints: BTreeMap<String, IntegrationEndpoint>,
    pub headers: BTreeMap<String, String>,
    pub name: String,
    #[schema(value_type = Vec<Object>)]
    pub organizations: Vec<serde_json::Value>,
    pub params: BTreeMap<String, String>,
    #[schema(value_type = Vec<Object>)]
    pub repositories: Vec<serde_json::Value>,
}

fn token(sent: &str, received: &str, total: Option<&str>) -> IntegrationEndpointToken {
    IntegrationEndpointToken {
        sent: Some(sent.to_string()),
        received: Some(received.to_string()),
        total: total.map(str::to_string),
    }
}

fn endpoint(
    method: &str,
    usage: Option<IntegrationEndpointToken>,
    stream_usage: Option<IntegrationEndpointToken>,
) -> IntegrationEndpoint {
    IntegrationEndpoint {
        method: Some(method.to_string()),
        stream_key: stream_usage.as_ref().map(|_| "data".to_string()),
        stream_token: stream_usage,
        token: usage,
        ..IntegrationEndpoint::default()
    }
}

fn endpoints(family: Family) -> BTreeMap<String, IntegrationEndpoint> {
    let mut map = BTreeMap::new();
    let mut add = |path: &str, e: IntegrationEndpoint| {
        map.insert(path.to_string(), e);
    };
    match family {
        Family::OpenAiCompatible | Family::AzureOpenAi => {
            let usage = token("usage.prompt_tokens", "usage.completion_tokens", Some("usage.total_tokens"));
            let prefix = if family == Family::AzureOpenAi { "/openai/deployments/{deployment}" } else { "/v1" };
            add(&format!("{prefix}/chat/completions"), endpoint("POST", Some(usage.clone()), Some(usage.clone())));
            add(&format!("{prefix}/completions"), endpoint("POST", Some(usage.clone()), Some(usage.clone())));
            add(&format!("{prefix}/embeddings"), endpoint("POST", Some(usage), None));
            if family == Family::OpenAiCompatible {
                add("/v1/models", endpoint("GET", None, None));
            }
        }
        Family::Anthropic => {
            let usage = token("usage.input_tokens", "usage.output_tokens", None);
            add(
                "/v1/messages",
                endpoint("POST", Some(usage), Some(token("message.usage.input_tokens", "usage.output_tokens", None))),
            );
            add("/v1/messages/count_tokens", endpoint("POST", None, None));
            add("/v1/models", endpoint("GET", None, None));
        }
        Family::Gemini | Family::VertexAi => {
            let usage = token(
                "usageMetadata.promptTokenCount",
                "usageMetadata.candidatesTokenCount",
                Some("usageMetadata.totalTokenCount"),
            );
            let prefix = if family == Family::Gemini {
                "/v1beta/models/{model}"
            } else {
                "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
            };
            add(&format!("{prefix}:generateContent"), endpoint("POST", Some(usage.clone()), None));
            add(&format!("{prefix}:streamGenerateContent"), endpoint("POST", None, Some(usage)));
            add(&format!("{prefix}:countTokens"), endpoint("POST", None, None));
            if family == Family::Gemini {
                add("/v1beta/models/{model}:embedContent", endpoint("POST", None, None));
            }
        }
        Family::Cohere => {
            let usage = token("usage.tokens.input_tokens", "usage.tokens.output_tokens", None);
            add(
                "/v2/chat",
                endpoint(
                    "POST",
                    Some(usage.clone()),
                    Some(token("delta.usage.tokens.input_tokens", "delta.usage.tokens.output_tokens", None)),
                ),
            );
            add("/v2/embed", endpoint("POST", None, None));
            add("/v2/rerank", endpoint("POST", None, None));
        }
        Family::Mcp => {
            add("/mcp", endpoint("POST", None, None));
        }
    }
    map
}

/// The descriptor of the integration `name` (an integration's name is its runtime type).
pub fn integration(name: &str) -> Option<Integration> {
    let runtime_type = RuntimeType::parse(name)?;
    let provider = descriptor(runtime_type);
    let mut headers: BTreeMap<String, String> =
        provider.default_headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match provider.credential {
        CredentialStyle::Bearer => headers.insert("Authorization".into(), "Bearer {apiKey}".into()),
        CredentialStyle::Header(name) => headers.insert(name.into(), "{apiKey}".into()),
    };
    let params = provider.default_params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut infos = BTreeMap::from([
        ("displayName".to_string(), provider.display_name.to_string()),
        ("protocol".to_string(), provider.family.as_str().to_string()),
        ("docsUrl".to_string(), provider.docs_url.to_string()),
        ("secrets".to_string(), provider.required_secrets.join(",")),
    ]);
    match provider.default_base_url {
        Some(url) => infos.insert("baseUrl".into(), url.into()),
        None => infos.insert("baseUrl".into(), "required: set the connection's spec.config.url".into()),
    };
    Some(Integration {
        additional_infos: infos,
        endpoints: endpoints(provider.family),
        headers,
        name: runtime_type.as_str().to_string(),
        organizations: Vec::new(),
        params,
        repositories: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_type_has_an_integration_with_endpoints() {
        for runtime_type in RuntimeType::ALL {
            let found = integration(runtime_type.as_str()).unwrap();
            assert_eq!(found.name, runtime_type.as_str());
            assert!(!found.endpoints.is_empty());
        }
        assert!(integration("github").is_none());
    }

    #[test]
    fn openai_offers_a_completions_endpoint_with_usage_paths() {
        let openai = integration("openai").unwrap();
        let chat = &openai.endpoints["/v1/chat/completions"];
        assert_eq!(chat.token.as_ref().unwrap().sent.as_deref(), Some("usage.prompt_tokens"));
        assert_eq!(openai.headers["Authorization"], "Bearer {apiKey}");
    }
}
