//! Azure OpenAI: `/openai/deployments/{deployment}/...` with the `api-key` header and a required
//! `api-version` query parameter. Service-level failures use Azure's `{"error": {code, message}}`;
//! request-body failures are OpenAI's (Azure passes the model's validation through).

use serde_json::{json, Value};

use crate::call::Call;
use crate::openai;
use crate::problem::Problem;
use crate::reply::Reply;

/// `POST /openai/deployments/{deployment}/chat/completions`.
pub(crate) fn chat(call: &Call, deployment: &str) -> Reply {
    answer(call, |body| openai::chat_reply(call, body, deployment))
}

/// `POST /openai/deployments/{deployment}/embeddings`.
pub(crate) fn embeddings(call: &Call, deployment: &str) -> Reply {
    answer(call, |body| openai::embeddings_reply(body, deployment))
}

fn answer(call: &Call, build: impl FnOnce(&Value) -> Result<Reply, Problem>) -> Reply {
    if let Err(problem) = call.injected().and_then(|()| call.header_auth("api-key")) {
        return error(&problem);
    }
    match call.request.query_param("api-version") {
        None => return error(&Problem::NotFound("Resource not found".into())),
        Some(version) if !is_api_version(&version) => {
            return Reply::error(
                &Problem::Invalid(String::new()),
                json!({"error": {"code": "BadRequest", "message": "API version not supported"}}),
            )
        }
        Some(_) => {}
    }
    let reply = call.json().and_then(|body| build(&body)).unwrap_or_else(|p| openai::error(&p));
    reply.with_header("apim-request-id", format!("mock-{}", call.seq))
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`.
fn is_api_version(version: &str) -> bool {
    let date = version.strip_suffix("-preview").unwrap_or(version);
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Azure's service error `{"error": {"code": "<status>", "message": ...}}`.
fn error(problem: &Problem) -> Reply {
    let message = match problem {
        Problem::MissingCredential | Problem::InvalidCredential { .. } => {
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key \
             for an active subscription and use a correct regional API endpoint for your resource."
                .to_owned()
        }
        Problem::Injected { status, .. } if status.as_u16() == 429 => {
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded call rate limit \
             of your current pricing tier (injected by the mock provider). Please retry after 1 second."
                .to_owned()
        }
        Problem::Injected { status, .. } => Problem::injected_message(*status),
        Problem::NotFound(message) | Problem::Invalid(message) | Problem::MalformedJson(message) => message.clone(),
        Problem::MissingField(field) => format!("Missing required parameter: '{field}'."),
    };
    Reply::error(problem, json!({"error": {"code": problem.status().as_u16().to_string(), "message": message}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        for ok in ["2024-02-01", "2024-10-21", "2025-01-01-preview"] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in ["", "latest", "2024-2-01", "2024-02-01-beta", "v1"] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }
}
