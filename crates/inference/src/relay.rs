//! Relaying a provider's answer to the client chunk by chunk as it arrives, tapping it for
//! usage, enforcing the idle timeout between chunks, and recording the request when the body
//! ends, breaks, or the client goes away (dropping the relay drops the upstream request).

use crate::usage_tap::Usage;
use bytes::Bytes;
use futures_util::Stream;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Status recorded when the client went away before the end of the body (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;
/// Status recorded when the provider's stream broke after the headers were sent.
pub const UPSTREAM_BROKE: u16 = 502;
/// Status recorded when the provider went silent for longer than the idle timeout.
pub const UPSTREAM_IDLE: u16 = 504;

/// Looks at (and may rewrite) a response body as it passes: the usage tap, or a translation.
pub trait BodyProcessor: Send {
    /// Takes one chunk; pushes what the client should receive onto `out`.
    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>);
    /// The end of the body: pushes anything held back and returns the usage found.
    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage;
}

/// What happens when the body is over.
pub trait OnFinish: Send {
    /// `status` is the response status, or one of the codes above when the body did not end
    /// cleanly.
    fn finish(self: Box<Self>, status: u16, usage: Usage);
}

type UpstreamBody = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// The body stream sent to the client.
pub struct Relay {
    upstream: UpstreamBody,
    tap: Box<dyn BodyProcessor>,
    out: VecDeque<Bytes>,
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
    status: u16,
    on_finish: Option<Box<dyn OnFinish>>,
    ended: bool,
    /// The body's announced length, when the client gets it unchanged: the server stops polling
    /// once that much is sent, so the end is recognised by counting.
    expected_length: Option<u64>,
    received: u64,
}

impl Relay {
    pub fn new(
        upstream: UpstreamBody,
        tap: Box<dyn BodyProcessor>,
        idle_timeout: Duration,
        status: u16,
        expected_length: Option<u64>,
        on_finish: Box<dyn OnFinish>,
    ) -> Relay {
        Relay {
            upstream,
            tap,
            out: VecDeque::new(),
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            status,
            on_finish: Some(on_finish),
            ended: false,
            expected_length,
            received: 0,
        }
    }

    fn finish(&mut self, status: u16) {
        let usage = self.tap.finish(&mut self.out);
        if let Some(on_finish) = self.on_finish.take() {
            on_finish.finish(status, usage);
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let deadline = tokio::time::Instant::now() + this.idle_timeout;
                    this.idle.as_mut().reset(deadline);
                    this.received += chunk.len() as u64;
                    this.tap.feed(chunk, &mut this.out);
                    if this.expected_length.is_some_and(|length| this.received >= length) {
                        this.ended = true;
                        let status = this.status;
                        this.finish(status);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.ended = true;
                    this.out.clear();
                    this.finish(UPSTREAM_BROKE);
                    // An error ends the client's body abnormally: never a clean end.
                    return Poll::Ready(Some(Err(std::io::Error::other(format!(
                        "the provider's stream broke: {error}"
                    )))));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let status = this.status;
                    this.finish(status);
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        this.ended = true;
                        this.out.clear();
                        this.finish(UPSTREAM_IDLE);
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the provider sent nothing for longer than the idle timeout",
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.on_finish.is_some() {
            // An empty body of known length is complete without a single poll.
            let complete = self.expected_length.is_some_and(|length| self.received >= length);
            self.finish(if complete { self.status } else { CLIENT_CLOSED });
        }
    }
}
