//! Fault injection: the configured [`Fault`] and the per-request `x-mock-*` headers, resolved into
//! one [`FaultPlan`] that the server and the response writer follow.

use crate::record::ReceivedRequest;

/// How many events a reset-mid-stream fault lets through when `x-mock-after-chunks` is absent.
const DEFAULT_AFTER_CHUNKS: usize = 2;

/// A misbehaviour the mock applies to every request (unless the request's headers choose another).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with the provider's own error body (429 always carries `retry-after`).
    Status {
        /// HTTP status, 400..=599.
        status: u16,
        /// Seconds for the `retry-after` header (429 defaults to 1).
        retry_after: Option<u64>,
    },
    /// Wait this long before sending the response headers.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Close the connection before any response header is written.
    ResetBeforeHeaders,
    /// Send this many body chunks (SSE events; half of a JSON body), then abort the connection.
    ResetMidStream {
        /// Chunks sent before the abort.
        after_chunks: usize,
    },
    /// Sleep between streamed events.
    SlowDrip {
        /// Milliseconds between two events.
        chunk_delay_ms: u64,
    },
}

/// The faults to apply to one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    /// Injected error status and optional `retry-after` seconds.
    pub status: Option<(u16, Option<u64>)>,
    /// Delay before the response headers.
    pub delay_ms: u64,
    /// Close the connection instead of answering.
    pub reset_before_headers: bool,
    /// Abort the body after this many chunks.
    pub reset_after_chunks: Option<usize>,
    /// Pause between streamed events.
    pub chunk_delay_ms: u64,
}

impl FaultPlan {
    fn from_fault(fault: Option<&Fault>) -> Self {
        let none = Self::default();
        match fault {
            None => none,
            Some(Fault::Status { status, retry_after }) => Self { status: Some((*status, *retry_after)), ..none },
            Some(Fault::Delay { ms }) => Self { delay_ms: *ms, ..none },
            Some(Fault::ResetBeforeHeaders) => Self { reset_before_headers: true, ..none },
            Some(Fault::ResetMidStream { after_chunks }) => Self { reset_after_chunks: Some(*after_chunks), ..none },
            Some(Fault::SlowDrip { chunk_delay_ms }) => Self { chunk_delay_ms: *chunk_delay_ms, ..none },
        }
    }

    /// The plan for `request`: any `x-mock-*` fault header replaces the configured fault entirely
    /// (several headers combine); `x-mock-fault: none` turns the configured fault off.
    pub(crate) fn resolve(configured: Option<&Fault>, request: &ReceivedRequest) -> Self {
        const FAULT_HEADERS: [&str; 4] = ["x-mock-status", "x-mock-delay-ms", "x-mock-fault", "x-mock-chunk-delay-ms"];
        if !FAULT_HEADERS.iter().any(|name| request.header(name).is_some()) {
            return Self::from_fault(configured);
        }
        let number = |name: &str| request.header(name).and_then(|v| v.trim().parse::<u64>().ok());
        let status = number("x-mock-status")
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (400..=599).contains(s))
            .map(|s| (s, number("x-mock-retry-after")));
        let mut reset_before_headers = false;
        let mut reset_after_chunks = None;
        match request.header("x-mock-fault").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("reset-before-headers") => reset_before_headers = true,
            Some("reset-mid-stream") => {
                let after = number("x-mock-after-chunks").and_then(|n| usize::try_from(n).ok());
                reset_after_chunks = Some(after.unwrap_or(DEFAULT_AFTER_CHUNKS));
            }
            Some("none") | None => {}
            Some(other) => tracing::warn!(fault = other, "mock provider: unknown x-mock-fault value, ignored"),
        }
        Self {
            status,
            delay_ms: number("x-mock-delay-ms").unwrap_or(0),
            reset_before_headers,
            reset_after_chunks,
            chunk_delay_ms: number("x-mock-chunk-delay-ms").unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> ReceivedRequest {
        ReceivedRequest {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            query: None,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: Vec::new(),
        }
    }

    /// Configured fault, request headers, expected plan.
    type Case<'a> = (Option<&'a Fault>, Vec<(&'a str, &'a str)>, FaultPlan);

    #[test]
    fn resolution_table() {
        let configured = Fault::Delay { ms: 30 };
        let cases: Vec<Case> = vec![
            (None, vec![], FaultPlan::default()),
            (Some(&configured), vec![], FaultPlan { delay_ms: 30, ..FaultPlan::default() }),
            (Some(&configured), vec![("x-mock-fault", "none")], FaultPlan::default()),
            (
                Some(&configured),
                vec![("x-mock-status", "429"), ("x-mock-retry-after", "2")],
                FaultPlan { status: Some((429, Some(2))), ..FaultPlan::default() },
            ),
            (None, vec![("x-mock-status", "200")], FaultPlan::default()),
            (None, vec![("x-mock-status", "abc")], FaultPlan::default()),
            (
                None,
                vec![("x-mock-fault", "Reset-Mid-Stream")],
                FaultPlan { reset_after_chunks: Some(DEFAULT_AFTER_CHUNKS), ..FaultPlan::default() },
            ),
            (
                None,
                vec![("x-mock-fault", "reset-mid-stream"), ("x-mock-after-chunks", "0")],
                FaultPlan { reset_after_chunks: Some(0), ..FaultPlan::default() },
            ),
            (
                None,
                vec![("x-mock-fault", "reset-before-headers")],
                FaultPlan { reset_before_headers: true, ..FaultPlan::default() },
            ),
            (
                None,
                vec![("x-mock-delay-ms", "5"), ("x-mock-chunk-delay-ms", "7")],
                FaultPlan { delay_ms: 5, chunk_delay_ms: 7, ..FaultPlan::default() },
            ),
            (
                Some(&Fault::Status { status: 503, retry_after: None }),
                vec![],
                FaultPlan { status: Some((503, None)), ..FaultPlan::default() },
            ),
            (
                Some(&Fault::SlowDrip { chunk_delay_ms: 9 }),
                vec![],
                FaultPlan { chunk_delay_ms: 9, ..FaultPlan::default() },
            ),
        ];
        for (configured, headers, expected) in cases {
            assert_eq!(FaultPlan::resolve(configured, &request(&headers)), expected, "{configured:?} {headers:?}");
        }
    }
}
