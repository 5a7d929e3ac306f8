//! OpenAI's `/v1/embeddings` for providers with another embeddings API: Gemini
//! (`embedContent` / `batchEmbedContents`, Vertex AI alike) and Cohere (`/v2/embed`). Anthropic
//! has no embeddings API: refused.
//!
//! Refused with a 400 naming the parameter: token-array `input`, `encoding_format: "base64"`.
//! Documented drops: `user`. Gemini reports no token usage for embeddings: usage is 0 there.

use crate::{Provider, ProviderRequest, TranslateError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// An OpenAI embeddings request.
#[derive(Clone, Debug, Deserialize)]
pub struct EmbeddingRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub input: Value,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u64>,
}

/// One vector of an OpenAI embeddings answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: Vec<f64>,
}

/// An OpenAI embeddings answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// The texts to embed: a string or an array of strings.
fn texts(request: &EmbeddingRequest) -> Result<Vec<String>, TranslateError> {
    match &request.input {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    TranslateError::param(
                        "input",
                        "only strings can be embedded through this provider (not token arrays)",
                    )
                })
            })
            .collect(),
        _ => Err(TranslateError::param("input", "give a string or a non-empty array of strings")),
    }
}

fn model_of(request: &EmbeddingRequest, model: Option<&str>) -> Result<String, TranslateError> {
    model
        .map(str::to_string)
        .or_else(|| request.model.clone())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TranslateError::param("model", "name the embedding model"))
}

/// Translates an embeddings request for `provider`; `model` is `spec.runtime.model`.
pub fn request(
    provider: Provider,
    request: &EmbeddingRequest,
    model: Option<&str>,
) -> Result<ProviderRequest, TranslateError> {
    if request.encoding_format.as_deref().is_some_and(|f| f != "float") {
        return Err(TranslateError::param("encoding_format", "only \"float\" embeddings are translated"));
    }
    let texts = texts(request)?;
    let model = model_of(request, model)?;
    match provider {
        Provider::Anthropic => Err(TranslateError::other("Anthropic has no embeddings API")),
        Provider::Gemini => {
            let content = |text: &String| json!({"parts": [{"text": text}]});
            let mut single = json!({"content": content(&texts[0])});
            if let Some(dimensions) = request.dimensions {
                single["outputDimensionality"] = json!(dimensions);
            }
            if texts.len() == 1 {
                return Ok(ProviderRequest {
                    path: format!("/v1beta/models/{model}:embedContent"),
                    query: None,
                    body: single,
                });
            }
            let requests: Vec<Value> = texts
                .iter()
                .map(|text| {
                    let mut one = json!({"model": format!("models/{model}"), "content": content(text)});
                    if let Some(dimensions) = request.dimensions {
                        one["outputDimensionality"] = json!(dimensions);
                    }
                    one
                })
                .collect();
            Ok(ProviderRequest {
                path: format!("/v1beta/models/{model}:batchEmbedContents"),
                query: None,
                body: json!({"requests": requests}),
            })
        }
        Provider::Cohere => {
            let mut body =
                json!({"model": model, "texts": texts, "input_type": "search_document", "embedding_types": ["float"]});
            if let Some(dimensions) = request.dimensions {
                body["output_dimension"] = json!(dimensions);
            }
            Ok(ProviderRequest { path: "/v2/embed".into(), query: None, body })
        }
    }
}

fn vector(value: &Value) -> Result<Vec<f64>, TranslateError> {
    value
        .as_array()
        .ok_or_else(|| TranslateError::other("the provider's embedding is not an array"))?
        .iter()
        .map(|v| v.as_f64().ok_or_else(|| TranslateError::other("the provider's embedding holds a non-number")))
        .collect()
}

/// Translates a provider's embeddings answer into OpenAI's list.
pub fn response(provider: Provider, body: &Value, model: &str) -> Result<EmbeddingList, TranslateError> {
    let (vectors, usage) = match provider {
        Provider::Anthropic => return Err(TranslateError::other("Anthropic has no embeddings API")),
        Provider::Gemini => {
            let vectors = match (body.get("embedding"), body.get("embeddings")) {
                (Some(one), _) => vec![vector(&one["values"])?],
                (None, Some(Value::Array(many))) => {
                    many.iter().map(|e| vector(&e["values"])).collect::<Result<_, _>>()?
                }
                _ => return Err(TranslateError::other("the provider's answer has no embeddings")),
            };
            (vectors, EmbeddingUsage::default())
        }
        Provider::Cohere => {
            let floats = body
                .pointer("/embeddings/float")
                .and_then(Value::as_array)
                .ok_or_else(|| TranslateError::other("the provider's answer has no float embeddings"))?;
            let vectors = floats.iter().map(vector).collect::<Result<_, _>>()?;
            let tokens = body.pointer("/meta/billed_units/input_tokens").and_then(Value::as_u64).unwrap_or(0);
            (vectors, EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens })
        }
    };
    Ok(EmbeddingList {
        object: "list",
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| Embedding { object: "embedding", index, embedding })
            .collect(),
        model: model.to_string(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> EmbeddingRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn requests() {
        let cases = vec![
            (
                Provider::Gemini,
                json!({"model": "x", "input": "hello"}),
                Some("text-embedding-004"),
                Ok((
                    "/v1beta/models/text-embedding-004:embedContent",
                    json!({"content": {"parts": [{"text": "hello"}]}}),
                )),
            ),
            (
                Provider::Gemini,
                json!({"input": ["a", "b"], "dimensions": 8}),
                Some("e"),
                Ok((
                    "/v1beta/models/e:batchEmbedContents",
                    json!({"requests": [
                 {"model": "models/e", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
                 {"model": "models/e", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}]}),
                )),
            ),
            (
                Provider::Cohere,
                json!({"model": "embed-v4.0", "input": ["a"]}),
                None,
                Ok((
                    "/v2/embed",
                    json!({"model": "embed-v4.0", "texts": ["a"], "input_type": "search_document", "embedding_types": ["float"]}),
                )),
            ),
            (Provider::Cohere, json!({"input": [1, 2]}), Some("m"), Err(Some("input"))),
            (
                Provider::Gemini,
                json!({"input": "a", "encoding_format": "base64"}),
                Some("m"),
                Err(Some("encoding_format")),
            ),
            (Provider::Gemini, json!({"input": "a"}), None, Err(Some("model"))),
            (Provider::Anthropic, json!({"input": "a"}), Some("m"), Err(None)),
        ];
        for (provider, input, model, expected) in cases {
            let got = request(provider, &parse(input.clone()), model);
            match expected {
                Ok((path, body)) => {
                    let got = got.unwrap();
                    assert_eq!((got.path.as_str(), got.body), (path, body), "{input}");
                }
                Err(param) => assert_eq!(got.unwrap_err().param.as_deref(), param, "{input}"),
            }
        }
    }

    #[test]
    fn responses() {
        let gemini = response(Provider::Gemini, &json!({"embedding": {"values": [0.5, -0.5]}}), "e").unwrap();
        assert_eq!(
            serde_json::to_value(&gemini).unwrap(),
            json!({"object": "list", "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}], "usage": {"prompt_tokens": 0, "total_tokens": 0}})
        );
        let batch =
            response(Provider::Gemini, &json!({"embeddings": [{"values": [1.0]}, {"values": [2.0]}]}), "e").unwrap();
        assert_eq!(batch.data[1].index, 1);
        let cohere = response(
            Provider::Cohere,
            &json!({"embeddings": {"float": [[0.1], [0.2]]}, "meta": {"billed_units": {"input_tokens": 7}}}),
            "c",
        )
        .unwrap();
        assert_eq!(cohere.data.len(), 2);
        assert_eq!(cohere.usage, EmbeddingUsage { prompt_tokens: 7, total_tokens: 7 });
        assert!(response(Provider::Cohere, &json!({"embeddings": {}}), "c").is_err());
    }
}
