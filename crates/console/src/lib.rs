//! modelgate's web console, served by the control-plane listener at `/`: one HTML page whose
//! ES modules call the same `/v0` API as every other client, signed in through the control
//! plane's session endpoints (`/console/api/session`).
//!
//! API boundary: [`router`]. Invariants: every answer carries a strict Content-Security-Policy
//! (scripts, styles and connections from this origin only, no inline script, no framing),
//! `nosniff` and `no-referrer`; the page's assets live under a prefix named after their digest
//! and are cached as immutable; the page itself is revalidated on every load.

mod assets;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The console's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Headers on every answer of the console.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (HeaderName::from_static("content-security-policy"), CONTENT_SECURITY_POLICY),
    (HeaderName::from_static("x-content-type-options"), "nosniff"),
    (HeaderName::from_static("referrer-policy"), "no-referrer"),
    (HeaderName::from_static("x-frame-options"), "DENY"),
];

/// What the routes share: the page with its assets' prefix filled in.
struct Console {
    version: String,
    index: String,
}

/// The console's routes: `/` (the page) and `/assets/{version}/...` (its files). Merge it into
/// the control plane's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let version = assets::version();
    let index = assets::INDEX_HTML.replace("{{ASSETS}}", &format!("/assets/{version}"));
    let console = Arc::new(Console { version, index });
    let page = console.clone();
    axum::Router::new()
        .route("/", get(move |headers: HeaderMap| std::future::ready(index_page(&page, &headers))))
        .route(
            "/assets/{version}/{*path}",
            get(move |Path((version, path)): Path<(String, String)>, headers: HeaderMap| {
                std::future::ready(asset(&console, &version, &path, &headers))
            }),
        )
}

fn with_security_headers(mut response: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(name, HeaderValue::from_static(value));
    }
    response
}

fn etag_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect::<String>())
}

/// 304 when the browser already holds `etag`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent.split(',').any(|t| t.trim() == etag))
}

fn index_page(console: &Console, headers: &HeaderMap) -> Response {
    let etag = etag_of(console.index.as_bytes());
    let response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, "text/html; charset=utf-8")], console.index.clone()).into_response()
    };
    with_headers(response, &etag, "no-cache")
}

fn asset(console: &Console, version: &str, path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = assets::find(path).filter(|_| version == console.version) else {
        let body = r#"{"code":404,"error":"not_found","message":"no such console file; reload the page"}"#;
        let response = (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "application/json")], body).into_response();
        return with_security_headers(response);
    };
    let etag = etag_of(asset.bytes);
    let response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    with_headers(response, &etag, "public, max-age=31536000, immutable")
}

fn with_headers(mut response: Response, etag: &str, cache: &'static str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    with_security_headers(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::collections::BTreeSet;
    use tower_service::Service;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(etag) = if_none_match {
            request = request.header(IF_NONE_MATCH, etag);
        }
        router::<()>().call(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    fn web_files(dir: &std::path::Path, prefix: &str, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                web_files(&entry.path(), &format!("{name}/"), found);
            } else if name != "index.html" {
                found.insert(name);
            }
        }
    }

    #[test]
    fn every_file_of_the_page_is_embedded_and_every_import_resolves() {
        let mut files = BTreeSet::new();
        web_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web"), "", &mut files);
        let embedded: BTreeSet<String> = assets::ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(files, embedded, "web/ and the ASSETS table must list the same files");
        for asset in assets::ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            let dir = asset.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line.rsplit_once(" from '").map(|(_, t)| t.trim_end_matches("';")).unwrap();
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => _ = parts.pop(),
                        other => parts.push(other),
                    }
                }
                let resolved = parts.join("/");
                assert!(embedded.contains(&resolved), "{} imports {target}, which is not embedded", asset.path);
            }
            assert!(!text.contains("innerHTML"), "{}: values are set as text, never as HTML", asset.path);
        }
    }

    #[tokio::test]
    async fn the_page_is_served_with_a_strict_policy_and_revalidated() {
        let response = get("/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        let prefix = format!("/assets/{}/", assets::version());
        assert!(page.contains(&format!("{prefix}js/main.js")), "{page}");
        assert!(!page.contains("{{ASSETS}}"));
        let etag = headers[ETAG].to_str().unwrap();
        assert_eq!(get("/", Some(etag)).await.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn assets_are_immutable_under_their_version_and_typed() {
        let version = assets::version();
        let response = get(&format!("/assets/{version}/js/main.js"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let etag = response.headers()[ETAG].to_str().unwrap().to_string();
        assert_eq!(get(&format!("/assets/{version}/js/main.js"), Some(&etag)).await.status(), StatusCode::NOT_MODIFIED);
        let css = get(&format!("/assets/{version}/console.css"), None).await;
        assert_eq!(css.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(get("/assets/0000/js/main.js", None).await.status(), StatusCode::NOT_FOUND, "an old version");
        assert_eq!(get(&format!("/assets/{version}/js/nope.js"), None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&format!("/assets/{version}/../Cargo.toml"), None).await.status(), StatusCode::NOT_FOUND);
    }
}
