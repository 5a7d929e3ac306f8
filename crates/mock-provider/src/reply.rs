//! What a provider handler answers, and how it becomes an HTTP response with the body-level
//! faults (mid-stream reset, slow drip) applied.

use axum::body::{Body, Bytes};
use axum::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use crate::faults::FaultPlan;
use crate::problem::Problem;
use crate::sse::{FrameStream, OpenStreams};

/// A handler's answer, before faults.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON document.
    Json { status: StatusCode, body: Value, headers: Vec<(&'static str, String)> },
    /// A streamed body made of prepared frames.
    Stream { content_type: &'static str, frames: Vec<Bytes>, headers: Vec<(&'static str, String)> },
    /// A status without a body.
    Empty { status: StatusCode },
}

impl Reply {
    /// A 200 JSON reply.
    pub(crate) fn ok(body: Value) -> Self {
        Self::Json { status: StatusCode::OK, body, headers: Vec::new() }
    }

    /// An error reply for `problem` with the provider's `body`; adds `retry-after` when due.
    pub(crate) fn error(problem: &Problem, body: Value) -> Self {
        let headers = problem.retry_after().map(|secs| ("retry-after", secs.to_string())).into_iter().collect();
        Self::Json { status: problem.status(), body, headers }
    }

    /// An SSE reply.
    pub(crate) fn sse(frames: Vec<Bytes>) -> Self {
        Self::Stream { content_type: "text/event-stream; charset=utf-8", frames, headers: Vec::new() }
    }

    /// Adds a response header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        match &mut self {
            Self::Json { headers, .. } | Self::Stream { headers, .. } => headers.push((name, value)),
            Self::Empty { .. } => {}
        }
        self
    }

    /// The HTTP response, following `plan`; streams are counted in `streams` while they last.
    pub(crate) fn into_response(self, plan: &FaultPlan, streams: &OpenStreams) -> Response {
        match self {
            Self::Json { status, body, headers } => {
                let bytes = Bytes::from(body.to_string());
                let body = match plan.reset_after_chunks {
                    // A JSON body is cut in two chunks: the client gets half, then the abort.
                    Some(_) => {
                        let half = bytes.len() / 2;
                        let frames = vec![bytes.slice(..half), bytes.slice(half..)];
                        Body::from_stream(FrameStream::new(frames, 0, Some(1), None))
                    }
                    None => Body::from(bytes),
                };
                respond(status, body, "application/json", headers)
            }
            Self::Stream { content_type, frames, headers } => {
                let stream =
                    FrameStream::new(frames, plan.chunk_delay_ms, plan.reset_after_chunks, Some(streams.open()));
                let mut response = respond(StatusCode::OK, Body::from_stream(stream), content_type, headers);
                response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
            Self::Empty { status } => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = status;
                response
            }
        }
    }
}

fn respond(
    status: StatusCode,
    body: Body,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            map.insert(name, value);
        }
    }
    response
}
