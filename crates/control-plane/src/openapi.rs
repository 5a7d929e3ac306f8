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
    document
}
