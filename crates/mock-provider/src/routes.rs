//! The route table: which provider endpoint a method and path name, and the dispatch to it.

use serde_json::json;

use crate::call::Call;
use crate::gemini::{Action, GoogleApi};
use crate::problem::Problem;
use crate::reply::Reply;
use crate::{anthropic, azure, cohere, gemini, mcp, openai, responses};

/// A provider endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    OpenAiChat,
    /// OpenAI's Responses API.
    OpenAiResponses,
    /// Mistral's chat completions, at `/mistral/v1/chat/completions` (a connection's URL ending
    /// in `/mistral` reaches it): OpenAI's format, but unknown fields are refused and streams
    /// carry their usage in the last chunk unasked.
    MistralChat,
    OpenAiEmbeddings,
    OpenAiModels,
    AzureChat {
        deployment: String,
    },
    AzureEmbeddings {
        deployment: String,
    },
    AnthropicMessages,
    AnthropicCountTokens,
    Google {
        api: GoogleApi,
        model: String,
        action: Action,
    },
    CohereChat,
    CohereEmbed,
    Mcp,
}

/// Why no endpoint matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    NotFound,
    MethodNotAllowed,
}

/// The endpoint for `method` and `path`.
pub(crate) fn route(method: &str, path: &str) -> Result<Endpoint, Miss> {
    let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
    let (endpoint, expected) = match segments.as_slice() {
        ["v1", "chat", "completions"] | ["chat", "completions"] => (Endpoint::OpenAiChat, "POST"),
        ["v1", "responses"] | ["responses"] => (Endpoint::OpenAiResponses, "POST"),
        ["mistral", "v1", "chat", "completions"] => (Endpoint::MistralChat, "POST"),
        ["v1", "embeddings"] | ["embeddings"] => (Endpoint::OpenAiEmbeddings, "POST"),
        ["v1", "models"] | ["models"] => (Endpoint::OpenAiModels, "GET"),
        ["openai", "deployments", deployment, "chat", "completions"] => {
            (Endpoint::AzureChat { deployment: (*deployment).to_owned() }, "POST")
        }
        ["openai", "deployments", deployment, "embeddings"] => {
            (Endpoint::AzureEmbeddings { deployment: (*deployment).to_owned() }, "POST")
        }
        ["v1", "messages"] => (Endpoint::AnthropicMessages, "POST"),
        ["v1", "messages", "count_tokens"] => (Endpoint::AnthropicCountTokens, "POST"),
        ["v1beta" | "v1", "models", model_action] => (google(GoogleApi::Gemini, model_action)?, "POST"),
        ["v1" | "v1beta1", "projects", _, "locations", _, "publishers", "google", "models", model_action] => {
            (google(GoogleApi::Vertex, model_action)?, "POST")
        }
        ["v2", "chat"] => (Endpoint::CohereChat, "POST"),
        ["v2", "embed"] => (Endpoint::CohereEmbed, "POST"),
        ["mcp"] => (Endpoint::Mcp, "POST"),
        _ => return Err(Miss::NotFound),
    };
    if method.eq_ignore_ascii_case(expected) {
        Ok(endpoint)
    } else {
        Err(Miss::MethodNotAllowed)
    }
}

/// `{model}:{action}` (the colon may arrive percent-encoded).
fn google(api: GoogleApi, model_action: &str) -> Result<Endpoint, Miss> {
    let (model, action) = model_action
        .split_once(':')
        .or_else(|| model_action.split_once("%3A"))
        .or_else(|| model_action.split_once("%3a"))
        .ok_or(Miss::NotFound)?;
    let action = Action::parse(action).ok_or(Miss::NotFound)?;
    Ok(Endpoint::Google { api, model: model.to_owned(), action })
}

/// Answers `call`.
pub(crate) fn dispatch(call: &Call) -> Reply {
    match route(&call.request.method, &call.request.path) {
        Ok(Endpoint::OpenAiChat) => openai::chat(call),
        Ok(Endpoint::OpenAiResponses) => responses::create(call),
        Ok(Endpoint::MistralChat) => openai::mistral_chat(call),
        Ok(Endpoint::OpenAiEmbeddings) => openai::embeddings(call),
        Ok(Endpoint::OpenAiModels) => openai::models(call),
        Ok(Endpoint::AzureChat { deployment }) => azure::chat(call, &deployment),
        Ok(Endpoint::AzureEmbeddings { deployment }) => azure::embeddings(call, &deployment),
        Ok(Endpoint::AnthropicMessages) => anthropic::messages(call),
        Ok(Endpoint::AnthropicCountTokens) => anthropic::count_tokens(call),
        Ok(Endpoint::Google { api, model, action }) => gemini::handle(call, api, &model, action),
        Ok(Endpoint::CohereChat) => cohere::chat(call),
        Ok(Endpoint::CohereEmbed) => cohere::embed(call),
        Ok(Endpoint::Mcp) => mcp::handle(call),
        Err(Miss::NotFound) => openai::error(&Problem::NotFound(format!(
            "Unknown request URL: {} {}. Please check the URL for typos.",
            call.request.method, call.request.path
        ))),
        Err(Miss::MethodNotAllowed) => Reply::Json {
            status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
            body: json!({"error": {"message": format!("Method {} not allowed for {}", call.request.method, call.request.path)}}),
            headers: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let gemini = |model: &str, action| Endpoint::Google { api: GoogleApi::Gemini, model: model.into(), action };
        let cases = [
            ("POST", "/v1/chat/completions", Ok(Endpoint::OpenAiChat)),
            ("POST", "/chat/completions", Ok(Endpoint::OpenAiChat)),
            ("POST", "/v1/responses", Ok(Endpoint::OpenAiResponses)),
            ("GET", "/v1/chat/completions", Err(Miss::MethodNotAllowed)),
            ("POST", "/v1/embeddings", Ok(Endpoint::OpenAiEmbeddings)),
            ("GET", "/v1/models", Ok(Endpoint::OpenAiModels)),
            (
                "POST",
                "/openai/deployments/gpt4/chat/completions",
                Ok(Endpoint::AzureChat { deployment: "gpt4".into() }),
            ),
            ("POST", "/openai/deployments/emb/embeddings", Ok(Endpoint::AzureEmbeddings { deployment: "emb".into() })),
            ("POST", "/v1/messages", Ok(Endpoint::AnthropicMessages)),
            ("POST", "/v1/messages/count_tokens", Ok(Endpoint::AnthropicCountTokens)),
            (
                "POST",
                "/v1beta/models/gemini-2.0-flash:generateContent",
                Ok(gemini("gemini-2.0-flash", Action::Generate)),
            ),
            ("POST", "/v1beta/models/g:streamGenerateContent", Ok(gemini("g", Action::StreamGenerate))),
            ("POST", "/v1beta/models/g%3AembedContent", Ok(gemini("g", Action::Embed))),
            ("POST", "/v1beta/models/g:unknown", Err(Miss::NotFound)),
            (
                "POST",
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-pro:generateContent",
                Ok(Endpoint::Google { api: GoogleApi::Vertex, model: "gemini-pro".into(), action: Action::Generate }),
            ),
            ("POST", "/v2/chat", Ok(Endpoint::CohereChat)),
            ("POST", "/v2/embed", Ok(Endpoint::CohereEmbed)),
            ("POST", "/mcp", Ok(Endpoint::Mcp)),
            ("POST", "/nope", Err(Miss::NotFound)),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route(method, path), expected, "{method} {path}");
        }
    }
}
