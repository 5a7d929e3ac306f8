//! Micro-benchmarks of the pieces on the request path: `cargo bench -p modelgate-inference`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use futures_util::FutureExt;
use modelgate_domain::{api_key, PolicyMaxTokens, RuntimeType};
use modelgate_inference::limiter::Limiter;
use modelgate_inference::relay::BodyProcessor;
use modelgate_inference::snapshot::{Route, TokenLimit};
use modelgate_inference::upstream_request::prepare_body;
use modelgate_inference::usage_tap::{Usage, UsageTap};
use modelgate_providers::{descriptor, Family};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

fn main() {
    divan::main();
}

fn route(model: Option<&str>) -> Route {
    Route {
        workspace: "default".into(),
        name: "gpt".into(),
        enabled: true,
        runtime_type: RuntimeType::Openai,
        family: descriptor(RuntimeType::Openai).family,
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

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise technical assistant."},{"role":"user","content":"In one short paragraph, what are the main sources of latency a proxy adds per request?"}],"temperature":0.2,"max_tokens":256}"#;

/// Key verification: the digest of the presented key and the lookup among 1,000 keys.
#[divan::bench]
fn key_verification(bencher: divan::Bencher) {
    let keys: HashMap<String, usize> = (0..1000).map(|i| (api_key::digest(&format!("mgk_key_{i}")), i)).collect();
    let presented = api_key::generate();
    bencher.bench(|| keys.contains_key(&api_key::digest(divan::black_box(&presented))));
}

/// Route lookup among 1,000 models of a workspace.
#[divan::bench]
fn route_lookup(bencher: divan::Bencher) {
    let routes: HashMap<String, HashMap<String, usize>> =
        HashMap::from([("default".to_string(), (0..1000).map(|i| (format!("model-{i}"), i)).collect())]);
    bencher
        .bench(|| routes.get(divan::black_box("default")).and_then(|m| m.get(divan::black_box("model-500"))).copied());
}

/// maxToken admission and settlement on this node, as `request_filter` and `logging` do them:
/// for a route without a policy (returns before the body is looked at) and with one (the
/// estimate read from the body, the reservation checked and held, then settled).
#[divan::bench(args = ["no policy", "maxToken policy"])]
fn token_admission(bencher: divan::Bencher, case: &str) {
    let mut route = route(None);
    if case == "maxToken policy" {
        let limits = PolicyMaxTokens {
            granularity: Some("minute".into()),
            total: Some(1_000_000_000_000),
            ..Default::default()
        };
        route.token_limits = vec![TokenLimit { policy: "tpm".into(), limits }];
    }
    let (route, limiter) = (Arc::new(route), Limiter::local());
    let usage = Usage { input: 40, output: 200, total: 240, ..Usage::default() };
    bencher.bench(|| {
        let admitted = limiter.reserve(&route, "key", divan::black_box(BODY.as_bytes()), 1_700_000_000).now_or_never();
        let reservation = admitted.and_then(Result::ok).flatten();
        limiter.settle(&route, "key", reservation, usage, 1_700_000_001);
    });
}

/// The body when nothing changes (found by a byte scan) and when the model is rewritten.
#[divan::bench(args = ["unchanged", "model rewritten"])]
fn request_rewrite(bencher: divan::Bencher, case: &str) {
    let route = route(Some(if case == "unchanged" { "gpt-4o-mini" } else { "gpt-4.1" }));
    let body = Bytes::from_static(BODY.as_bytes());
    bencher.bench(|| prepare_body(&route, "/v1/chat/completions", divan::black_box(body.clone())));
}

fn openai_stream() -> Vec<Bytes> {
    let mut events: Vec<String> = (0..18)
        .map(|i| format!(r#"data: {{"id":"c","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"word{i} "}},"finish_reason":null}}],"usage":null}}"#) + "\n\n")
        .collect();
    events.push(r#"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":90,"completion_tokens":18,"total_tokens":108}}"#.to_string() + "\n\n");
    events.push("data: [DONE]\n\n".to_string());
    events.into_iter().map(Bytes::from).collect()
}

/// The usage tap over a 20-event OpenAI stream, passing it through or hiding the usage chunk.
#[divan::bench(args = [false, true])]
fn sse_usage_scan(bencher: divan::Bencher, strip_usage_chunk: bool) {
    let events = openai_stream();
    bencher.bench(|| {
        let mut tap = UsageTap::new(Family::OpenAiCompatible, true, strip_usage_chunk);
        let mut out = VecDeque::new();
        for event in &events {
            tap.feed(event.clone(), &mut out);
        }
        tap.finish(&mut out)
    });
}

/// Translation of one chat request to Anthropic's Messages API.
#[divan::bench]
fn translate_chat_request(bencher: divan::Bencher) {
    let request: modelgate_translate::openai::ChatRequest = serde_json::from_str(BODY).unwrap();
    let context = modelgate_translate::RequestContext { model: Some("claude-x".into()), default_max_tokens: 4096 };
    bencher.bench(|| {
        modelgate_translate::request(modelgate_translate::Provider::Anthropic, divan::black_box(&request), &context)
    });
}

/// Translation of one Anthropic stream event into an OpenAI chunk.
#[divan::bench]
fn translate_stream_chunk(bencher: divan::Bencher) {
    let context =
        modelgate_translate::ResponseContext { id: "c".into(), created: 0, model: "m".into(), include_usage: false };
    let mut stream = modelgate_translate::stream(modelgate_translate::Provider::Anthropic, context);
    stream
        .event(
            Some("message_start"),
            r#"{"type":"message_start","message":{"id":"m","model":"m","usage":{"input_tokens":9,"output_tokens":1}}}"#,
        )
        .unwrap();
    stream
        .event(
            Some("content_block_start"),
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        )
        .unwrap();
    let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}"#;
    bencher.bench_local(|| stream.event(Some("content_block_delta"), divan::black_box(delta)).unwrap());
}

const RESPONSES_BODY: &str = r#"{"model":"claude-x","instructions":"You are a concise technical assistant.","input":[{"role":"user","content":[{"type":"input_text","text":"In one short paragraph, what are the main sources of latency a proxy adds per request?"}]}],"temperature":0.2,"max_output_tokens":256,"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],"stream":true}"#;

/// Translation of one Responses request (as read from the body) into a chat request.
#[divan::bench]
fn translate_responses_request(bencher: divan::Bencher) {
    bencher.bench(|| {
        let request: modelgate_translate::responses::ResponsesRequest =
            serde_json::from_str(divan::black_box(RESPONSES_BODY)).unwrap();
        modelgate_translate::responses::request(&request).unwrap()
    });
}

/// One text event of a stream into a Responses `response.output_text.delta`: from a provider
/// that speaks chat completions (its chunk read, then turned), and from Anthropic (its event
/// translated to a chat chunk, then turned).
#[divan::bench(args = ["chat chunk", "anthropic event"])]
fn translate_responses_stream_event(bencher: divan::Bencher, source: &str) {
    let context = modelgate_translate::responses::Context {
        id: "resp_1".into(),
        created_at: 0,
        model: "m".into(),
        echo: Default::default(),
    };
    let mut responses = modelgate_translate::responses::Stream::new(context);
    let opening = r#"{"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#;
    responses.chunk(&modelgate_translate::responses::chat_chunk(opening).unwrap());
    if source == "chat chunk" {
        let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason":null}]}"#;
        bencher.bench_local(|| {
            let chunk = modelgate_translate::responses::chat_chunk(divan::black_box(chunk)).unwrap();
            responses.chunk(&chunk)
        });
        return;
    }
    let chat =
        modelgate_translate::ResponseContext { id: "c".into(), created: 0, model: "m".into(), include_usage: true };
    let mut anthropic = modelgate_translate::stream(modelgate_translate::Provider::Anthropic, chat);
    anthropic
        .event(
            Some("message_start"),
            r#"{"type":"message_start","message":{"id":"m","model":"m","usage":{"input_tokens":9,"output_tokens":1}}}"#,
        )
        .unwrap();
    let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}"#;
    bencher.bench_local(|| {
        let chunks = anthropic.event(Some("content_block_delta"), divan::black_box(delta)).unwrap();
        chunks.iter().flat_map(|chunk| responses.chunk(chunk)).count()
    });
}

/// An Anthropic Messages request as Claude Code sends one: system blocks, a tool, a tool round.
const MESSAGES_BODY: &str = r#"{"model":"my-gpt","max_tokens":1024,"stream":true,"system":[{"type":"text","text":"You are a concise coding assistant.","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"read_file","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}],"messages":[{"role":"user","content":[{"type":"text","text":"What does main.rs do?"}]},{"role":"assistant","content":[{"type":"text","text":"Let me read it."},{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path":"src/main.rs"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"fn main() { println!(\"hi\"); }"}]}]}"#;

/// Translation of one Anthropic Messages request into an OpenAI chat body (read, translated,
/// written), as sent to an OpenAI-compatible provider.
#[divan::bench]
fn translate_messages_request(bencher: divan::Bencher) {
    bencher.bench(|| {
        let request = modelgate_translate::messages::request(divan::black_box(MESSAGES_BODY.as_bytes())).unwrap();
        serde_json::to_vec(&request).unwrap()
    });
}

fn messages_context() -> modelgate_translate::ResponseContext {
    modelgate_translate::ResponseContext { id: "msg_1".into(), created: 0, model: "my-gpt".into(), include_usage: true }
}

/// Translation of one OpenAI chat chunk into an Anthropic stream event (read and written).
#[divan::bench]
fn translate_messages_stream_event(bencher: divan::Bencher) {
    let mut stream = modelgate_translate::messages::Stream::new(messages_context());
    let first = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#;
    stream.event(first).unwrap();
    let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason":null}]}"#;
    bencher.bench_local(|| {
        let events = stream.event(divan::black_box(chunk)).unwrap();
        serde_json::to_vec(&events[0]).unwrap()
    });
}

/// Translation of one Gemini stream event into an Anthropic stream event, through OpenAI chat.
#[divan::bench]
fn translate_messages_stream_event_from_gemini(bencher: divan::Bencher) {
    let mut gemini = modelgate_translate::stream(modelgate_translate::Provider::Gemini, messages_context());
    let mut stream = modelgate_translate::messages::Stream::new(messages_context());
    let event = r#"{"candidates":[{"content":{"parts":[{"text":"Hello there"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash","responseId":"r"}"#;
    for chunk in gemini.event(None, event).unwrap() {
        stream.chunk(&chunk);
    }
    bencher.bench_local(|| {
        let chunks = gemini.event(None, divan::black_box(event)).unwrap();
        let events = stream.chunk(&chunks[0]);
        serde_json::to_vec(&events[0]).unwrap()
    });
}
