//! `Path` and `Query` extractors whose refusals answer in the control plane's Error schema, like
//! every other failure (axum's own answer in plain text: "Failed to deserialize query string").

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Uri;
use serde::de::DeserializeOwned;

/// Path parameters, as `axum::extract::Path`.
pub struct Path<T>(pub T);

/// Query parameters, as `axum::extract::Query`.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            // A route declared without the parameters its handler reads: ours to fix.
            Err(rejection) if rejection.status().is_server_error() => Err(ApiError::Internal(rejection.body_text())),
            Err(rejection) => Err(ApiError::BadRequest(format!("path: {}", rejection.body_text()))),
        }
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        Query::try_from_uri(&parts.uri)
    }
}

impl<T: DeserializeOwned> Query<T> {
    /// The query string of `uri` (for handlers that read it only after their scope check).
    pub fn try_from_uri(uri: &Uri) -> Result<Query<T>, ApiError> {
        axum::extract::Query::<T>::try_from_uri(uri)
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::BadRequest(format!("query: {}", rejection.body_text())))
    }
}
