//! Which endpoint of the inference plane a request path names, read straight from the path:
//! these shapes do not need a router, and skipping one saves, per request, the route match, the
//! extracted parameters and their extension map (about a tenth of the plane's instructions).
//!
//! - `/{workspace}/models/{model}` and `/{workspace}/models/{model}/{path...}`: a model endpoint;
//!   the rest of the path goes upstream as the client wrote it (not percent-decoded).
//! - `/{workspace}/v1/chat/completions`, `/{workspace}/v1/embeddings` and
//!   `/{workspace}/v1/responses` (POST): the workspace-level OpenAI endpoints, the model
//!   endpoint named in the body's `model`.
//! - `/{workspace}/v1/messages` and `/{workspace}/v1/messages/count_tokens` (POST): Anthropic's
//!   Messages API for the workspace, the model endpoint named in the body's `model`.
//! - `/{workspace}/v1/models` (GET): the workspace's models; `/{workspace}/v1/models/{id}` one.
//!
//! The workspace and model segments are percent-decoded, as a router would.

use crate::gateway_error::GatewayError;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// A model endpoint; `path` is empty or starts with `/`.
    Model {
        workspace: Cow<'a, str>,
        model: Cow<'a, str>,
        path: &'a str,
    },
    WorkspaceChat {
        workspace: Cow<'a, str>,
    },
    WorkspaceEmbeddings {
        workspace: Cow<'a, str>,
    },
    WorkspaceResponses {
        workspace: Cow<'a, str>,
    },
    /// Anthropic's Messages API; `path` is `/v1/messages` or `/v1/messages/count_tokens`.
    WorkspaceMessages {
        workspace: Cow<'a, str>,
        path: &'static str,
    },
    ListModels {
        workspace: Cow<'a, str>,
    },
    GetModel {
        workspace: Cow<'a, str>,
        id: Cow<'a, str>,
    },
}

/// The endpoint `path` names: `None` if it names none, an error if a segment does not decode.
pub fn endpoint(path: &str) -> Option<Result<Endpoint<'_>, GatewayError>> {
    let rest = path.strip_prefix('/')?;
    let (workspace, rest) = rest.split_once('/')?;
    if workspace.is_empty() {
        return None;
    }
    if let Some(rest) = rest.strip_prefix("models/") {
        let (model, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        // A trailing slash names no provider path.
        if model.is_empty() || path == "/" {
            return None;
        }
        return Some(
            decoded(workspace).and_then(|workspace| Ok(Endpoint::Model { workspace, model: decoded(model)?, path })),
        );
    }
    match rest {
        "v1/chat/completions" => Some(decoded(workspace).map(|workspace| Endpoint::WorkspaceChat { workspace })),
        "v1/embeddings" => Some(decoded(workspace).map(|workspace| Endpoint::WorkspaceEmbeddings { workspace })),
        "v1/responses" => Some(decoded(workspace).map(|workspace| Endpoint::WorkspaceResponses { workspace })),
        "v1/messages" | "v1/messages/count_tokens" => {
            let path = if rest.ends_with("count_tokens") { "/v1/messages/count_tokens" } else { "/v1/messages" };
            Some(decoded(workspace).map(|workspace| Endpoint::WorkspaceMessages { workspace, path }))
        }
        "v1/models" => Some(decoded(workspace).map(|workspace| Endpoint::ListModels { workspace })),
        _ => {
            let id = rest.strip_prefix("v1/models/").filter(|id| !id.is_empty() && !id.contains('/'))?;
            Some(decoded(workspace).and_then(|workspace| Ok(Endpoint::GetModel { workspace, id: decoded(id)? })))
        }
    }
}

fn decoded(segment: &str) -> Result<Cow<'_, str>, GatewayError> {
    percent_decode_str(segment).decode_utf8().map_err(|_| {
        GatewayError::bad_request(format!("the path segment '{segment}' is not valid percent-encoded UTF-8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endpoint, or the error's status.
    fn read(path: &str) -> Option<Result<Endpoint<'_>, u16>> {
        endpoint(path).map(|read| read.map_err(|e| e.status.as_u16()))
    }

    fn model<'a>(workspace: &'a str, model: &'a str, path: &'a str) -> Endpoint<'a> {
        Endpoint::Model { workspace: workspace.into(), model: model.into(), path }
    }

    #[test]
    fn model_endpoints_keep_the_provider_path_as_written() {
        assert_eq!(read("/w/models/m"), Some(Ok(model("w", "m", ""))));
        assert_eq!(read("/w/models/m/v1/chat/completions"), Some(Ok(model("w", "m", "/v1/chat/completions"))));
        assert_eq!(
            read("/w/models/m/v1beta/models/a%2Fb:generateContent"),
            Some(Ok(model("w", "m", "/v1beta/models/a%2Fb:generateContent")))
        );
        assert_eq!(read("/w/models/m//x"), Some(Ok(model("w", "m", "//x"))));
    }

    #[test]
    fn workspace_and_model_are_percent_decoded() {
        assert_eq!(read("/my%2Dws/models/gpt%2D4/v1/x"), Some(Ok(model("my-ws", "gpt-4", "/v1/x"))));
        assert_eq!(read("/w/models/%FF/v1/x"), Some(Err(400)));
    }

    #[test]
    fn workspace_endpoints() {
        assert_eq!(read("/w/v1/chat/completions"), Some(Ok(Endpoint::WorkspaceChat { workspace: "w".into() })));
        assert_eq!(read("/w/v1/models"), Some(Ok(Endpoint::ListModels { workspace: "w".into() })));
        assert_eq!(read("/w/v1/embeddings"), Some(Ok(Endpoint::WorkspaceEmbeddings { workspace: "w".into() })));
        assert_eq!(read("/w/v1/responses"), Some(Ok(Endpoint::WorkspaceResponses { workspace: "w".into() })));
        assert_eq!(
            read("/w/v1/messages"),
            Some(Ok(Endpoint::WorkspaceMessages { workspace: "w".into(), path: "/v1/messages" }))
        );
        assert_eq!(
            read("/w/v1/messages/count_tokens"),
            Some(Ok(Endpoint::WorkspaceMessages { workspace: "w".into(), path: "/v1/messages/count_tokens" }))
        );
        assert_eq!(
            read("/w/v1/models/my%2Dgpt"),
            Some(Ok(Endpoint::GetModel { workspace: "w".into(), id: "my-gpt".into() }))
        );
    }

    #[test]
    fn other_paths_name_no_endpoint() {
        for path in [
            "",
            "/",
            "/w",
            "/w/",
            "//models/m",
            "/w/models",
            "/w/models/",
            "/w/models//v1",
            "/w/models/m/",
            "/w/v1/chat/completions/x",
            "/w/v1/embeddings/x",
            "/w/v1/responses/resp_1",
            "/w/v1/messages/x",
            "/w/v1/messages/",
            "/w/v1/models/",
            "/w/v1/models/a/b",
            "/w/model/m",
        ] {
            assert_eq!(read(path), None, "{path}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    use proptest::prelude::*;

    const PATHS: [&str; 7] = [
        "/w/models/m/v1/chat/completions",
        "/my%2Dws/models/gpt%2D4/v1beta/models/a%2Fb:generateContent?alt=sse",
        "/w/v1/chat/completions",
        "/w/v1/responses",
        "/w/v1/models",
        "/w/models/%E6%97%A5",
        "/w/v1/messages/count_tokens",
    ];

    proptest! {
        #![proptest_config(config(1000))]

        /// Any path names an endpoint, none, or is refused with a 400; a model endpoint's
        /// provider path is the rest of the path as written.
        #[test]
        fn any_path_is_read_or_refused(path in prop_oneof![
            any::<String>(),
            near(&PATHS).prop_map(|p| String::from_utf8_lossy(&p).into_owned()),
        ]) {
            match endpoint(&path) {
                Some(Ok(Endpoint::Model { path: rest, .. })) => {
                    prop_assert!(path.ends_with(rest) && (rest.is_empty() || rest.starts_with('/')));
                }
                Some(Err(error)) => prop_assert_eq!(error.status.as_u16(), 400),
                _ => {}
            }
        }

        /// Workspace and model names, percent-encoded in any way, read back as they were.
        #[test]
        fn encoded_names_read_back(
            workspace in ".+",
            model in ".+",
            rest in "(/[a-z0-9:%.]{1,8}){0,3}",
        ) {
            let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
            let path = format!("/{}/models/{}{rest}", encode(&workspace), encode(&model));
            let expected = Endpoint::Model { workspace: workspace.as_str().into(), model: model.as_str().into(), path: &rest };
            prop_assert_eq!(endpoint(&path).map(|e| e.map_err(|e| e.status)), Some(Ok(expected)));
        }
    }
}
