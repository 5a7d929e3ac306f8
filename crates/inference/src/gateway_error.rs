//! Errors the gateway itself answers on the inference plane (as opposed to a provider's errors,
//! which pass through): `{"error": {code, message, type, retryable}}` with a header that says the
//! gateway answered, as Blaxel's run plane does.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Header marking a response made by the gateway, not the provider.
pub const SOURCE_HEADER: &str = "x-blaxel-source";
/// Header carrying the gateway's error code.
pub const ERROR_CODE_HEADER: &str = "x-blaxel-error-code";

/// An error made by the gateway.
#[derive(Debug)]
pub struct GatewayError {
    status: StatusCode,
    code: &'static str,
    kind: &'static str,
    message: String,
    retryable: bool,
}

impl GatewayError {
    /// 404 `ROUTE_NOT_FOUND`.
    pub fn route_not_found(message: String) -> GatewayError {
        GatewayError {
            status: StatusCode::NOT_FOUND,
            code: "ROUTE_NOT_FOUND",
            kind: "not_found",
            message,
            retryable: false,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "type": self.kind,
                "retryable": self.retryable,
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(SOURCE_HEADER, HeaderValue::from_static("platform"));
        headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(self.code));
        response
    }
}
