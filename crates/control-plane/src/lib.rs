//! modelgate's control plane: the Blaxel-compatible REST API under `/v0` for models,
//! integration connections and policies (plus modelgate's usage API), with its OpenAPI document
//! generated from the handlers.
//!
//! API boundary: [`router`] returns the whole `/v0` application; everything else is internal.
//! Invariants: every failure is the `Error` schema (see [`error`]); every handler declares its
//! scope through [`auth::Caller::require`]; secrets are sealed before they reach the store and
//! never leave it in a response.

mod api_keys;
mod auth;
mod body;
mod connections;
mod console_playground;
mod console_session;
mod document;
pub mod error;
mod extract;
mod health;
mod integrations;
mod listing;
mod models;
mod oauth;
mod openapi;
mod outage;
mod policies;
#[cfg(test)]
mod properties;
mod service_accounts;
mod throttle;
mod usage;
mod workspaces;

use axum::extract::{OriginalUri, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::ApiError;
use modelgate_domain::secret_box::Keyring;
use modelgate_store::Store;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

pub use console_playground::{Playground, PriceOf};
pub use console_session::{CSRF_HEADER, SESSION_COOKIE, SESSION_IDLE_TIMEOUT, SESSION_LIFETIME};
pub use listing::ApiVersion;
pub use throttle::AuthThrottle;

/// Told after every successful change, before the change is acknowledged to the client, so
/// that the next request anywhere sees it (the inference plane rebuilds its snapshot).
#[async_trait::async_trait]
pub trait ConfigListener: Send + Sync {
    async fn changed(&self, change: ConfigChange);
}

pub use modelgate_store::ConfigChange;

/// Marks a response with what its write changed, for [`ConfigListener`]; a write without a mark
/// counts as [`ConfigChange::Everything`].
pub(crate) fn changed(change: ConfigChange) -> axum::Extension<ConfigChange> {
    axum::Extension(change)
}

/// Everything the control plane's handlers share.
pub struct ControlPlane {
    pub store: Arc<dyn Store>,
    /// Seals connection secrets and signs access tokens.
    pub keyring: Keyring,
    /// Base of `metadata.url`: a model's URL is `{public_run_url}/{workspace}/models/{name}`.
    pub public_run_url: String,
    /// How request bodies are read: size limit, time limit, the node's budget of body bytes.
    pub body_limits: modelgate_body::BodyLimits,
    /// Lifetime of access tokens from `/oauth/token`, in seconds.
    pub token_ttl_seconds: i64,
    /// Failed authentications per client address.
    pub auth_throttle: throttle::AuthThrottle,
    /// Who hears about changes (the inference plane's snapshot).
    pub listener: Option<Arc<dyn ConfigListener>>,
    /// Whether the store answers (kept current by the server's probe): readiness, and 503 at
    /// once while it does not.
    pub store_health: Arc<modelgate_store::StoreHealth>,
    /// Why this node cannot serve although its store answers (a master key that opens none of
    /// the stored secrets): readiness says it and answers 503.
    pub not_ready_because: Option<String>,
    /// The web console's API (sign-in sessions under `/console/api`, the playground's route to
    /// the inference plane); `None` on a node that serves no console, where session cookies
    /// are ignored.
    pub console: Option<Playground>,
}

/// Default for [`ControlPlane::token_ttl_seconds`]: two hours, as Blaxel's tokens.
pub const DEFAULT_TOKEN_TTL_SECONDS: i64 = 2 * 3600;

/// Default size limit of [`ControlPlane::body_limits`].
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

fn api_routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .merge(health::routes())
        .merge(models::routes())
        .merge(connections::routes())
        .merge(integrations::routes())
        .merge(policies::routes())
        .merge(workspaces::routes())
        .merge(service_accounts::routes().layer(axum::middleware::map_response(grants_changed)))
        .merge(api_keys::routes().layer(axum::middleware::map_response(grants_changed)))
        .merge(oauth::routes())
        .merge(usage::routes())
}

/// Writes to keys and service accounts change who may call, not what is served.
async fn grants_changed(mut response: Response) -> Response {
    response.extensions_mut().insert(ConfigChange::Grants);
    response
}

/// The control-plane application: every route under `/v0`, `GET /v0/openapi.json`, and the
/// `Error` schema for unknown routes and methods.
pub fn router(state: Arc<ControlPlane>) -> Router {
    let (api, document) = api_routes().split_for_parts();
    let document = Arc::new(openapi::finish(document));
    let api = api
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), outage::fail_fast))
        .layer(axum::middleware::from_fn(check_api_version))
        .layer(axum::middleware::from_fn_with_state(state.clone(), announce_changes));
    let mut router = Router::new().nest("/v0", api);
    if state.console.is_some() {
        router = router.nest("/console/api", console_routes(state.clone()));
    }
    router.fallback(route_not_found).layer(axum::middleware::from_fn(not_stored)).with_state(state)
}

/// Every answer of the API is about one caller at one moment: no cache along the way (a proxy
/// in front, the browser's) keeps it, unless a handler says otherwise.
async fn not_stored(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// The console's own API, beside `/v0` (not part of the Blaxel contract or its OpenAPI
/// document): the session and the playground.
fn console_routes(state: Arc<ControlPlane>) -> Router<Arc<ControlPlane>> {
    console_session::routes()
        .merge(console_playground::routes())
        .route("/connections/{connectionName}/models", axum::routing::get(connections::models_using_connection))
        .layer(axum::middleware::from_fn_with_state(state, outage::fail_fast))
}

/// `router` with every handler's panic (a bug) answered 500 in the `Error` schema, logged and
/// counted by `on_panic`, instead of a connection dropped without an answer.
pub fn catch_panics(router: Router, on_panic: Arc<dyn Fn() + Send + Sync>) -> Router {
    router.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
        let on_panic = on_panic.clone();
        async move {
            use futures_util::FutureExt;
            match std::panic::AssertUnwindSafe(next.run(request)).catch_unwind().await {
                Ok(response) => response,
                Err(_) => {
                    on_panic();
                    // The panic hook has already logged the message and where it happened.
                    ApiError::Internal("a control-plane handler panicked".into()).into_response()
                }
            }
        }
    }))
}

/// The OpenAPI document of what this server implements.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, document) = api_routes().split_for_parts();
    openapi::finish(document)
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {method} {}; the control plane serves /v0/models, /v0/integrations and /v0/policies (see /v0/openapi.json)",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not accept {method}; see /v0/openapi.json for its methods", uri.path()))
}

/// After a successful write, tells the listener before answering: a change is visible to the
/// next request on the inference plane.
async fn announce_changes(
    axum::extract::State(state): axum::extract::State<Arc<ControlPlane>>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !request.uri().path().ends_with("/oauth/token");
    let mut response = next.run(request).await;
    if writes && response.status().is_success() {
        let change = response.extensions_mut().remove::<ConfigChange>().unwrap_or(ConfigChange::Everything);
        if let Some(listener) = &state.listener {
            listener.changed(change).await;
        }
    }
    response
}

/// Rejects a malformed `Blaxel-Version` on every route, as Blaxel does.
async fn check_api_version(request: Request, next: Next) -> Response {
    if let Some(value) = request.headers().get("blaxel-version") {
        if value.to_str().ok().and_then(ApiVersion::parse).is_none() {
            return ApiError::InvalidApiVersion(format!(
                "Blaxel-Version '{}' is not a version: use YYYY-MM-DD, e.g. {}",
                String::from_utf8_lossy(value.as_bytes()),
                listing::PAGINATED_VERSION
            ))
            .into_response();
        }
    }
    let response = next.run(request).await;
    // axum answers some extractor failures itself with a plain-text body; keep the Error schema.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && response.headers().get("content-type").is_none() {
        return ApiError::MethodNotAllowed("this route does not accept that method".into()).into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_error_schema_and_is_counted() {
        let panics = Arc::new(AtomicU64::new(0));
        let counted = panics.clone();
        #[allow(clippy::panic)]
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let router = Router::new().route("/v0/boom", axum::routing::get(boom));
        let router = catch_panics(router, Arc::new(move || _ = counted.fetch_add(1, Ordering::Relaxed)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });

        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /v0/boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!((body["code"].as_u64(), body["error"].as_str()), (Some(500), Some("internal_error")));
        assert!(!body["message"].as_str().unwrap().contains("a bug"), "the panic's message stays in the log");
        assert_eq!(panics.load(Ordering::Relaxed), 1);
    }
}
