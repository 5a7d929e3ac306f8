//! Server-sent events: frame encoding, and the body stream that paces frames and injects
//! mid-stream resets.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;
use tokio::time::Sleep;

/// Pause before a reset, so hyper flushes what was already written and the client sees the
/// events that came before the abort.
const PRE_RESET_PAUSE: Duration = Duration::from_millis(10);

/// `event: NAME` + `data: JSON` (Anthropic, Cohere).
pub(crate) fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// `data: JSON` (OpenAI).
pub(crate) fn data(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// `data: JSON` with CRLF line ends, as Google's endpoints write them.
pub(crate) fn data_crlf(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\r\n\r\n"))
}

/// OpenAI's end-of-stream marker.
pub(crate) fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// Counts response streams in progress.
#[derive(Clone, Default)]
pub(crate) struct OpenStreams(Arc<AtomicUsize>);

impl OpenStreams {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn open(&self) -> StreamGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.0.clone())
    }
}

/// One open stream; dropping it (stream finished or client gone) decrements the count.
pub(crate) struct StreamGuard(Arc<AtomicUsize>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that yields prepared frames, sleeping between them and optionally ending in
/// an error (which makes hyper abort the connection without the chunked terminator).
pub(crate) struct FrameStream {
    frames: std::vec::IntoIter<Bytes>,
    sent: usize,
    reset_after: Option<usize>,
    chunk_delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    guard: Option<StreamGuard>,
    resetting: bool,
}

impl FrameStream {
    pub(crate) fn new(
        frames: Vec<Bytes>,
        chunk_delay_ms: u64,
        reset_after: Option<usize>,
        guard: Option<StreamGuard>,
    ) -> Self {
        Self {
            frames: frames.into_iter(),
            sent: 0,
            reset_after,
            chunk_delay: Duration::from_millis(chunk_delay_ms),
            sleep: None,
            guard,
            resetting: false,
        }
    }

    fn finish(&mut self) -> Poll<Option<io::Result<Bytes>>> {
        self.guard = None;
        self.frames = Vec::new().into_iter();
        self.reset_after = None;
        Poll::Ready(None)
    }
}

impl futures_core::Stream for FrameStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
            }
            if this.resetting {
                this.resetting = false;
                let _ = this.finish();
                let reset = io::Error::new(io::ErrorKind::ConnectionReset, "mock provider fault: reset mid-stream");
                return Poll::Ready(Some(Err(reset)));
            }
            let reset_due =
                this.reset_after.is_some_and(|after| this.sent >= after || this.frames.as_slice().is_empty());
            if reset_due {
                this.resetting = true;
                this.sleep = Some(Box::pin(tokio::time::sleep(PRE_RESET_PAUSE)));
                continue;
            }
            return match this.frames.next() {
                Some(frame) => {
                    this.sent += 1;
                    let more = !this.frames.as_slice().is_empty() || this.reset_after.is_some();
                    if more && !this.chunk_delay.is_zero() {
                        this.sleep = Some(Box::pin(tokio::time::sleep(this.chunk_delay)));
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                None => this.finish(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    async fn next(stream: &mut FrameStream) -> Option<io::Result<Bytes>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *stream), cx)).await
    }

    #[test]
    fn frames_are_encoded() {
        let value = serde_json::json!({"a": 1});
        assert_eq!(event("ping", &value), Bytes::from("event: ping\ndata: {\"a\":1}\n\n"));
        assert_eq!(data(&value), Bytes::from("data: {\"a\":1}\n\n"));
        assert_eq!(data_crlf(&value), Bytes::from("data: {\"a\":1}\r\n\r\n"));
        assert_eq!(done(), Bytes::from("data: [DONE]\n\n"));
    }

    #[tokio::test]
    async fn plain_stream_yields_all_frames_and_releases_the_guard() {
        let open = OpenStreams::default();
        let mut stream = FrameStream::new(vec![Bytes::from("a"), Bytes::from("b")], 0, None, Some(open.open()));
        assert_eq!(open.get(), 1);
        assert_eq!(next(&mut stream).await.unwrap().unwrap(), "a");
        assert_eq!(next(&mut stream).await.unwrap().unwrap(), "b");
        assert!(next(&mut stream).await.is_none());
        assert_eq!(open.get(), 0);
    }

    #[tokio::test]
    async fn reset_yields_an_error_after_n_frames() {
        for (after, frames) in [(1, 1), (0, 0), (5, 3)] {
            let mut stream =
                FrameStream::new(vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")], 0, Some(after), None);
            for _ in 0..frames {
                assert!(next(&mut stream).await.unwrap().is_ok());
            }
            assert!(next(&mut stream).await.unwrap().is_err(), "after {after}");
            assert!(next(&mut stream).await.is_none());
        }
    }

    #[tokio::test]
    async fn dropping_the_stream_releases_the_guard() {
        let open = OpenStreams::default();
        let stream = FrameStream::new(vec![Bytes::from("a")], 0, None, Some(open.open()));
        assert_eq!(open.get(), 1);
        drop(stream);
        assert_eq!(open.get(), 0);
    }
}
