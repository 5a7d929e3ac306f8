//! The OpenAPI document: the base (info, servers, security schemes) that the handlers'
//! annotations are merged into, and the list envelopes that only the document names.

use modelgate_domain::{Model, Policy};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, ServerBuilder};
use utoipa::ToSchema;

/// Cursor-paginated list of models (Blaxel-Version 2026-04-28 and later).
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    /// Page of models.
    pub data: Vec<Model>,
    pub meta: crate::listing::PaginationMeta,
}

/// Cursor-paginated list of policies (Blaxel-Version 2026-04-28 and later).
#[derive(Serialize, ToSchema)]
pub struct PolicyList {
    /// Page of policies.
    pub data: Vec<Policy>,
    pub meta: crate::listing::PaginationMeta,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "modelgate control plane",
        description = "Blaxel-compatible control plane of the modelgate LLM gateway."
    ),
    components(schemas(crate::error::Error, modelgate_domain::CoreEvent, modelgate_domain::Status))
)]
struct BaseDocument;

/// The document the routes are added to.
pub fn base_document() -> OpenApi {
    <BaseDocument as utoipa::OpenApi>::openapi()
}

/// Adds what the handlers cannot say: the server prefix and the security scheme.
pub fn finish(mut document: OpenApi) -> OpenApi {
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    document.servers = Some(vec![ServerBuilder::new().url("/v0").description(Some("modelgate control plane")).build()]);
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "ApiKeyAuth",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("API Key")
                .description(Some("modelgate API key in Authorization or X-Blaxel-Authorization"))
                .build(),
        ),
    );
    describe_list_shapes(&mut document);
    describe_body_errors(&mut document);
    document
}

/// The list routes whose answer depends on `Blaxel-Version`: (path, item schema, envelope schema).
const VERSIONED_LISTS: [(&str, &str, &str); 2] =
    [("/models", "Model", "ModelList"), ("/policies", "Policy", "PolicyList")];

/// A versioned list answers a bare array of items before Blaxel-Version 2026-04-28 and the
/// `{data, meta}` envelope from it: the 200 answer is documented as one of the two.
fn describe_list_shapes(document: &mut OpenApi) {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
    use utoipa::openapi::{Ref, RefOr};
    for (path, item, envelope) in VERSIONED_LISTS {
        let Some(operation) = document.paths.paths.get_mut(path).and_then(|item| item.get.as_mut()) else { continue };
        let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else { continue };
        let shapes = OneOfBuilder::new()
            .item(ArrayBuilder::new().items(Ref::from_schema_name(item)))
            .item(Ref::from_schema_name(envelope))
            .description(Some(format!(
                "A bare array of {item} without Blaxel-Version or before {}; {envelope} ({{data, meta}}) from it",
                crate::listing::PAGINATED_VERSION
            )))
            .build();
        let shapes: utoipa::openapi::Schema = shapes.into();
        for content in ok.content.values_mut() {
            content.schema = Some(RefOr::T(shapes.clone()));
        }
    }
}

/// Every operation that reads a body can also answer 408 (not received in time), 413 (too
/// large), 415 (not JSON) and 503 (the node's body budget is full), in the Error schema.
fn describe_body_errors(document: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let answers = [
        ("408", "The request body did not arrive within the body timeout"),
        ("413", "The request body is larger than the limit"),
        ("415", "The request body is not JSON (Content-Type: application/json)"),
        ("503", "This node holds as many request bodies as its memory budget allows; retry after Retry-After"),
    ];
    for item in document.paths.paths.values_mut() {
        for operation in [&mut item.post, &mut item.put, &mut item.patch].into_iter().flatten() {
            if operation.request_body.is_none() {
                continue;
            }
            for (status, description) in answers {
                operation.responses.responses.entry(status.to_string()).or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build(),
                        )
                        .build()
                        .into()
                });
            }
        }
    }
}
