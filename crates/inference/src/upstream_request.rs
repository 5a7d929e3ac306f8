//! Building the request a provider receives: its URL (base URL, the provider's path for what
//! the client asked, query and default parameters), its headers (the client's minus hop-by-hop
//! and every client credential, plus the connection's credential and the provider's defaults)
//! and its body (`runtime.model` applied, usage asked for on OpenAI-style streams).

use crate::caller::CREDENTIAL_HEADERS;
use crate::gateway_error::{ErrorSource, GatewayError};
use crate::snapshot::{Route, Upstream};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use bytes::Bytes;
use memchr::memmem::Finder;
use modelgate_domain::RuntimeType;
use modelgate_providers::{descriptor, stream_usage, Family, StreamUsage};
use std::sync::LazyLock;

/// Headers that describe one connection, not the message; never forwarded.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Client headers that are modelgate's business, not the provider's.
const GATEWAY_HEADERS: [&str; 3] = ["x-blaxel-workspace", "cookie", "accept-encoding"];

/// The body to send, prepared once per request (the same for every fallback upstream).
#[derive(Debug, Clone)]
pub struct PreparedBody {
    pub bytes: Bytes,
    /// The caller did not ask for stream usage; modelgate did, and removes the usage chunk.
    pub strip_usage_chunk: bool,
}

fn is_chat_or_completion(path: &str) -> bool {
    path.ends_with("/chat/completions") || path.ends_with("/completions")
}

/// Whether `rest` (what follows a JSON key) is `: "value"`, allowing spaces around the colon.
fn string_value_is(rest: &[u8], value: &str) -> bool {
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b":") else { return false };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"\"") else { return false };
    rest.strip_prefix(value.as_bytes()).is_some_and(|after| after.first() == Some(&b'"'))
}

/// Whether a byte scan proves the body needs no change (the common case), so it is not parsed:
/// the model is already `runtime.model`, and the request does not stream or asks for usage (for a
/// provider that refuses `stream_options`, carries none).
fn surely_unchanged(route: &Route, path: &str, body: &[u8], takes_model_in_body: bool, openai_style: bool) -> bool {
    // Searchers built once: building one costs more than a search through a small body.
    static MODEL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\""));
    static STREAM: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"stream\""));
    static USAGE_ASKED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"include_usage\":true"));
    static USAGE_ASKED_SPACED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"include_usage\": true"));
    let find = |finder: &Finder<'_>| finder.find(body);
    let model_ok = match (takes_model_in_body, &route.model) {
        (true, Some(model)) => {
            let mut keys = MODEL.find_iter(body);
            match (keys.next(), keys.next()) {
                (Some(at), None) => string_value_is(&body[at + b"\"model\"".len()..], model),
                _ => false,
            }
        }
        _ => true,
    };
    static STREAM_OPTIONS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"stream_options\""));
    let stream_ok = !(openai_style && is_chat_or_completion(path))
        || match stream_usage(route.runtime_type) {
            StreamUsage::OnRequest => {
                find(&STREAM).is_none() || find(&USAGE_ASKED).is_some() || find(&USAGE_ASKED_SPACED).is_some()
            }
            StreamUsage::InLastChunk => find(&STREAM_OPTIONS).is_none(),
        };
    model_ok && stream_ok
}

/// Applies `runtime.model` to the body where the provider takes the model there, and asks
/// OpenAI-style streams for their usage. Bodies that need no change are passed as they came.
pub fn prepare_body(route: &Route, path: &str, body: Bytes) -> PreparedBody {
    let unchanged = |bytes| PreparedBody { bytes, strip_usage_chunk: false };
    let takes_model_in_body = matches!(route.family, Family::OpenAiCompatible | Family::Anthropic | Family::Cohere);
    let openai_style = matches!(route.family, Family::OpenAiCompatible | Family::AzureOpenAi);
    if body.is_empty()
        || !(takes_model_in_body || openai_style)
        || surely_unchanged(route, path, &body, takes_model_in_body, openai_style)
    {
        return unchanged(body);
    }
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return unchanged(body);
    };
    let mut changed = false;
    if let (true, Some(model)) = (takes_model_in_body, &route.model) {
        if object.get("model").and_then(|m| m.as_str()) != Some(model.as_str()) {
            object.insert("model".into(), serde_json::Value::String(model.clone()));
            changed = true;
        }
    }
    let mut strip_usage_chunk = false;
    let streaming = object.get("stream").and_then(|s| s.as_bool()) == Some(true);
    let chat = openai_style && is_chat_or_completion(path);
    if chat && stream_usage(route.runtime_type) == StreamUsage::InLastChunk {
        // The provider reports usage unasked and refuses the field: never sent, even from the client.
        changed |= object.remove("stream_options").is_some();
    } else if chat && streaming {
        let asked = object.get("stream_options").and_then(|o| o.get("include_usage")).and_then(|v| v.as_bool());
        if asked != Some(true) {
            let options = object.entry("stream_options").or_insert_with(|| serde_json::json!({}));
            if let Some(options) = options.as_object_mut() {
                options.insert("include_usage".into(), serde_json::Value::Bool(true));
                strip_usage_chunk = true;
                changed = true;
            }
        }
    }
    if !changed {
        return unchanged(body);
    }
    match serde_json::to_vec(&object) {
        Ok(bytes) => PreparedBody { bytes: Bytes::from(bytes), strip_usage_chunk },
        Err(_) => unchanged(body),
    }
}

/// Replaces the model segment of a Google-style path (`.../models/{model}:method`).
fn with_model_in_path(path: &str, model: Option<&str>) -> String {
    let (Some(model), Some(start)) = (model, path.find("/models/")) else { return path.to_string() };
    let segment_start = start + "/models/".len();
    let rest = &path[segment_start..];
    let segment_end = rest.find([':', '/']).map_or(path.len(), |i| segment_start + i);
    format!("{}{}{}", &path[..segment_start], model, &path[segment_end..])
}

fn strip_v1(path: &str) -> &str {
    path.strip_prefix("/v1").filter(|rest| rest.is_empty() || rest.starts_with('/')).unwrap_or(path)
}

/// The provider's base URL and path for a client path.
pub fn upstream_url_parts(route: &Route, upstream: &Upstream, path: &str) -> Result<(String, String), GatewayError> {
    let base = upstream.base_url.clone();
    let path = match route.family {
        Family::OpenAiCompatible => {
            // Azure AI inference has no `/v1`; a base URL that ends in `/v1` has it already.
            if route.runtime_type == RuntimeType::AzureAiInference || base.ends_with("/v1") {
                strip_v1(path).to_string()
            } else if !path.starts_with("/v1/")
                && ["/chat/", "/completions", "/embeddings", "/models", "/responses"]
                    .iter()
                    .any(|p| path.starts_with(p))
            {
                format!("/v1{path}")
            } else {
                path.to_string()
            }
        }
        Family::AzureOpenAi => {
            let deployment = route.endpoint_name.as_deref().or(route.model.as_deref());
            if let (Some(rest), Some(deployment)) = (path.strip_prefix("/openai/deployments/"), deployment) {
                // The route's deployment, whichever the client's path names: a model endpoint
                // reaches its own deployment, at its own price, never another of the resource.
                let after = rest.find('/').map_or("", |at| &rest[at..]);
                format!("/openai/deployments/{deployment}{after}")
            } else if path.starts_with("/openai/") {
                path.to_string()
            } else {
                let deployment = deployment.ok_or_else(|| {
                    GatewayError::bad_request("this Azure OpenAI model has no spec.runtime.model (its deployment name)")
                        .from_source(ErrorSource::Gateway)
                })?;
                format!("/openai/deployments/{deployment}{}", strip_v1(path))
            }
        }
        Family::Anthropic => {
            if path.starts_with("/messages") {
                format!("/v1{path}")
            } else {
                path.to_string()
            }
        }
        Family::Gemini => with_model_in_path(path, route.model.as_deref()),
        Family::VertexAi => {
            if path.starts_with("/v1/projects/") || path.starts_with("/v1beta1/projects/") {
                with_model_in_path(path, route.model.as_deref())
            } else {
                // A Gemini-style path (`/v1beta/models/{m}:generateContent`) on Vertex's layout.
                let method = path.rsplit_once(':').map(|(_, m)| m).unwrap_or("generateContent");
                let model = route
                    .model
                    .clone()
                    .or_else(|| path.split("/models/").nth(1).and_then(|s| s.split(':').next()).map(str::to_string))
                    .ok_or_else(|| GatewayError::bad_request("name the model in the path or in spec.runtime.model"))?;
                let project = upstream.config.get("projectId").ok_or_else(|| {
                    GatewayError::upstream_unavailable(format!(
                        "connection '{}' needs spec.config.projectId for Vertex AI",
                        upstream.connection
                    ))
                    .from_source(ErrorSource::Gateway)
                })?;
                let location = upstream.config.get("location").map(String::as_str).unwrap_or("us-central1");
                format!("/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}")
            }
        }
        Family::Cohere | Family::Mcp => path.to_string(),
    };
    let base =
        if route.family == Family::VertexAi && Some(base.as_str()) == descriptor(route.runtime_type).default_base_url {
            match upstream.config.get("location").map(String::as_str) {
                Some(location) if location != "global" => format!("https://{location}-aiplatform.googleapis.com"),
                _ => base,
            }
        } else {
            base
        };
    Ok((base, path))
}

/// The provider's URI for `base` (from [`upstream_url_parts`]), `path` and `query`. When `base`
/// is the connection's own base URL, its scheme and host were parsed when the snapshot was
/// built and only the path and query are checked here; otherwise the whole URL is parsed.
/// `None`: the pieces do not make a valid URI (a connection's config with characters a URI
/// cannot carry).
pub fn upstream_uri(base: &str, upstream: &Upstream, path: &str, query: &str) -> Option<Uri> {
    let Some(parsed) = upstream.parsed_base.as_ref().filter(|_| base == upstream.base_url) else {
        let whole = if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") };
        return Uri::try_from(whole).ok();
    };
    let mut target = String::with_capacity(parsed.path.len() + path.len() + query.len() + 1);
    target.push_str(&parsed.path);
    target.push_str(path);
    if !query.is_empty() {
        target.push('?');
        target.push_str(query);
    }
    let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target)).ok()?;
    Uri::builder()
        .scheme(parsed.scheme.clone())
        .authority(parsed.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()
}

/// The query string to send: the client's without `key` (a modelgate key sent the Gemini way),
/// plus the provider's default parameters the client did not give.
pub fn upstream_query(route: &Route, query: Option<&str>) -> String {
    let mut parts: Vec<String> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("key="))
        .map(str::to_string)
        .collect();
    for (name, value) in descriptor(route.runtime_type).default_params {
        if !parts.iter().any(|p| p.split('=').next() == Some(name)) {
            parts.push(format!("{name}={value}"));
        }
    }
    parts.join("&")
}

/// The headers to send: the client's, cleaned, with the connection's credential and the
/// provider's defaults.
pub fn upstream_headers(route: &Route, upstream: &Upstream, client: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<String> = client
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    let mut headers = HeaderMap::with_capacity(client.len() + 4);
    for (name, value) in client {
        let name_str = name.as_str();
        let dropped = HOP_BY_HOP.contains(&name_str)
            || GATEWAY_HEADERS.contains(&name_str)
            || CREDENTIAL_HEADERS.contains(&name_str)
            || named_by_connection.iter().any(|n| n == name_str);
        if !dropped {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some((name, value)) = &upstream.credential {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in descriptor(route.runtime_type).default_headers {
        let configured = match *name {
            "anthropic-version" => upstream.config.get("anthropicVersion"),
            _ => None,
        };
        if !headers.contains_key(*name) {
            if let Ok(value) = HeaderValue::from_str(configured.map(String::as_str).unwrap_or(value)) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    if let (RuntimeType::Openai, Some(organization)) = (route.runtime_type, &route.organization) {
        if let Ok(value) = HeaderValue::from_str(organization) {
            headers.insert(HeaderName::from_static("openai-organization"), value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn route(runtime_type: RuntimeType, model: Option<&str>) -> Route {
        Route {
            workspace: "default".into(),
            name: "m".into(),
            enabled: true,
            runtime_type,
            family: descriptor(runtime_type).family,
            model: model.map(str::to_string),
            organization: None,
            endpoint_name: None,
            upstreams: Vec::new(),
            unusable: Vec::new(),
            token_limits: Vec::new(),
            locations: Vec::new(),
            refusal: None,
            created: 0,
            price: None,
        }
    }

    fn upstream(base: &str, config: &[(&str, &str)]) -> Upstream {
        Upstream {
            connection: "c".into(),
            base_url: base.into(),
            parsed_base: crate::snapshot::parse_base(base),
            credential: None,
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            cooldown: Default::default(),
        }
    }

    #[test]
    fn urls_per_provider() {
        // (runtime type, runtime.model, base URL, connection config, client path, expected URL)
        type Case<'a> = (RuntimeType, Option<&'a str>, &'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (RuntimeType::Openai, None, "https://api.openai.com", &[], "/v1/chat/completions", "https://api.openai.com/v1/chat/completions"),
            (RuntimeType::Openai, None, "https://api.openai.com", &[], "/chat/completions", "https://api.openai.com/v1/chat/completions"),
            (RuntimeType::Groq, None, "https://api.groq.com/openai", &[], "/v1/chat/completions", "https://api.groq.com/openai/v1/chat/completions"),
            (RuntimeType::Openai, None, "http://vllm:8000/v1", &[], "/v1/chat/completions", "http://vllm:8000/v1/chat/completions"),
            (RuntimeType::AzureAiInference, None, "https://x.services.ai.azure.com/models", &[], "/v1/chat/completions", "https://x.services.ai.azure.com/models/chat/completions"),
            (RuntimeType::AzureOpenaiService, Some("gpt4o-prod"), "https://x.openai.azure.com", &[], "/v1/chat/completions", "https://x.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions"),
            (RuntimeType::AzureOpenaiService, Some("d"), "https://x.openai.azure.com", &[], "/openai/deployments/other/embeddings", "https://x.openai.azure.com/openai/deployments/d/embeddings"),
            (RuntimeType::Anthropic, None, "https://api.anthropic.com", &[], "/v1/messages", "https://api.anthropic.com/v1/messages"),
            (RuntimeType::Anthropic, None, "https://api.anthropic.com", &[], "/messages", "https://api.anthropic.com/v1/messages"),
            (RuntimeType::Gemini, Some("gemini-2.0-flash"), "https://g", &[], "/v1beta/models/anything:streamGenerateContent", "https://g/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
            (RuntimeType::Gemini, None, "https://g", &[], "/v1beta/models/gemini-pro:generateContent", "https://g/v1beta/models/gemini-pro:generateContent"),
            (RuntimeType::Vertexai, Some("gemini-2.0-flash"), "https://aiplatform.googleapis.com", &[("projectId", "p1"), ("location", "europe-west4")], "/v1beta/models/x:generateContent", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"),
            (RuntimeType::Vertexai, Some("m2"), "http://mock", &[], "/v1/projects/p/locations/l/publishers/google/models/m1:generateContent", "http://mock/v1/projects/p/locations/l/publishers/google/models/m2:generateContent"),
            (RuntimeType::Cohere, None, "https://api.cohere.com", &[], "/v2/chat", "https://api.cohere.com/v2/chat"),
            (RuntimeType::Mcp, None, "http://mcp", &[], "/mcp", "http://mcp/mcp"),
        ];
        for (runtime_type, model, base, config, path, expected) in cases {
            let up = upstream(base, config);
            let (base, path) = upstream_url_parts(&route(runtime_type, model), &up, path).unwrap();
            assert_eq!(format!("{base}{path}"), expected, "{runtime_type:?}");
            // The prebuilt base (or, for a rewritten base, the parsed whole) gives the URL, with or
            // without a query.
            for query in ["", "alt=sse&api-version=2024-10-21"] {
                let whole = if query.is_empty() { expected.to_string() } else { format!("{expected}?{query}") };
                let built = upstream_uri(&base, &up, &path, query).unwrap();
                assert_eq!(built.to_string(), whole, "{runtime_type:?}");
            }
        }
        let up = upstream("http://mock:9000/v1/", &[]);
        let uri = upstream_uri("http://mock:9000/v1/", &up, "/chat/completions", "a=1").unwrap();
        assert_eq!(uri.to_string(), "http://mock:9000/v1/chat/completions?a=1", "a trailing slash is not doubled");
        let uri = upstream_uri("https://elsewhere", &up, "/v1", "").unwrap();
        assert_eq!(uri.to_string(), "https://elsewhere/v1", "a rewritten base is parsed whole");
        let bad = upstream("https://g", &[]);
        assert!(upstream_uri("https://g", &bad, "/v1/projects/a b/x", "").is_none(), "a space is no URI");
        assert!(
            crate::snapshot::parse_base("ftp://files").is_none()
                && crate::snapshot::parse_base("https://h?q=1").is_none()
        );
    }

    #[test]
    fn queries_drop_the_key_and_add_defaults() {
        assert_eq!(upstream_query(&route(RuntimeType::Gemini, None), Some("alt=sse&key=mgk_x")), "alt=sse");
        assert_eq!(upstream_query(&route(RuntimeType::AzureOpenaiService, None), None), "api-version=2024-10-21");
        assert_eq!(
            upstream_query(&route(RuntimeType::AzureOpenaiService, None), Some("api-version=2025-01-01")),
            "api-version=2025-01-01"
        );
    }

    #[test]
    fn bodies_get_the_model_and_a_usage_request() {
        let openai = route(RuntimeType::Openai, Some("gpt-4.1"));
        let body = Bytes::from_static(br#"{"model":"whatever","stream":true,"messages":[]}"#);
        let prepared = prepare_body(&openai, "/v1/chat/completions", body);
        let value: serde_json::Value = serde_json::from_slice(&prepared.bytes).unwrap();
        assert_eq!(value["model"], "gpt-4.1");
        assert_eq!(value["stream_options"]["include_usage"], true);
        assert!(prepared.strip_usage_chunk);

        let asked = Bytes::from_static(br#"{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true}}"#);
        let prepared = prepare_body(&openai, "/v1/chat/completions", asked.clone());
        assert_eq!(prepared.bytes, asked, "nothing to change: the body is passed as it came");
        assert!(!prepared.strip_usage_chunk);

        let anthropic = route(RuntimeType::Anthropic, Some("claude-x"));
        let prepared = prepare_body(&anthropic, "/v1/messages", Bytes::from_static(br#"{"model":"a","stream":true}"#));
        let value: serde_json::Value = serde_json::from_slice(&prepared.bytes).unwrap();
        assert_eq!(value["model"], "claude-x");
        assert!(value.get("stream_options").is_none());

        // The byte scan sees spaced JSON and a model that only starts like the wanted one.
        let spaced = Bytes::from_static(br#"{"model" : "gpt-4.1", "messages": []}"#);
        assert_eq!(prepare_body(&openai, "/v1/chat/completions", spaced.clone()).bytes, spaced);
        let longer = prepare_body(&openai, "/v1/chat/completions", Bytes::from_static(br#"{"model":"gpt-4.1-mini"}"#));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&longer.bytes).unwrap()["model"], "gpt-4.1");

        let not_json = Bytes::from_static(b"\x00binary");
        assert_eq!(prepare_body(&openai, "/v1/audio/transcriptions", not_json.clone()).bytes, not_json);
    }

    #[test]
    fn headers_lose_client_credentials_and_gain_the_providers() {
        let anthropic = route(RuntimeType::Anthropic, None);
        let mut up = upstream("https://api.anthropic.com", &[]);
        up.credential = Some((HeaderName::from_static("x-api-key"), HeaderValue::from_static("sk-ant-provider")));
        let mut client = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer mgk_client"),
            ("x-blaxel-authorization", "Bearer mgk_client"),
            ("x-api-key", "mgk_client"),
            ("x-goog-api-key", "mgk_client"),
            ("api-key", "mgk_client"),
            ("x-blaxel-workspace", "default"),
            ("connection", "keep-alive, x-custom-hop"),
            ("x-custom-hop", "1"),
            ("anthropic-beta", "tools-2024"),
            ("content-type", "application/json"),
            ("host", "gateway"),
        ] {
            client.append(name, HeaderValue::from_static(value));
        }
        let headers = upstream_headers(&anthropic, &up, &client);
        assert_eq!(headers["x-api-key"], "sk-ant-provider");
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        assert_eq!(headers["anthropic-beta"], "tools-2024");
        assert_eq!(headers["content-type"], "application/json");
        for gone in [
            "authorization",
            "x-blaxel-authorization",
            "x-goog-api-key",
            "api-key",
            "x-blaxel-workspace",
            "connection",
            "x-custom-hop",
            "host",
        ] {
            assert!(!headers.contains_key(gone), "{gone}");
        }
        assert!(!format!("{headers:?}").contains("mgk_client"));
    }
}
