//! Relaying a provider's answer to the client chunk by chunk as it arrives, tapping it for
//! usage, enforcing the idle timeout between chunks, and recording the request when the body
//! ends, breaks, or the client goes away (dropping the relay drops the upstream request).

use crate::usage_tap::Usage;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Body;
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
    /// Whether the answer told the client of a failure its status does not show (a translated
    /// stream ended by an error event, an answer that could not be translated): the request is
    /// recorded as a 502.
    fn failed(&self) -> bool {
        false
    }
    /// The provider's body broke off (`message` says how): pushes what tells the client so in
    /// its API (a translated stream's error event, after which the body ends as that API ends a
    /// failed stream). Nothing by default: a passed-through body then ends abnormally, so the
    /// client cannot take it for a whole answer.
    fn abort(&mut self, _message: &str, _out: &mut VecDeque<Bytes>) {}
}

/// What happens when the body is over.
pub trait OnFinish: Send {
    /// `status` is the response status, or one of the codes above when the body did not end
    /// cleanly.
    fn finish(self: Box<Self>, status: u16, usage: Usage);
}

/// The provider's response body (boxed: tests feed their own).
pub type UpstreamBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The body stream sent to the client.
pub struct Relay {
    upstream: UpstreamBody,
    tap: Box<dyn BodyProcessor>,
    out: VecDeque<Bytes>,
    /// Fires at the idle deadline it was last armed for; see [`Relay::idle_expired`].
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
    /// When the provider last sent bytes (the idle deadline runs from here).
    last_chunk: tokio::time::Instant,
    status: u16,
    on_finish: Option<Box<dyn OnFinish>>,
    ended: bool,
    /// Why the provider's body broke off, when the processor had nothing to tell the client:
    /// the client's body ends with this error.
    broken: Option<std::io::Error>,
    /// The body's announced length, when the client gets it unchanged: the server stops polling
    /// once that much is sent, so the end is recognised by counting.
    expected_length: Option<u64>,
    received: u64,
    /// Whether the last poll received bytes from the provider (see [`Relay::hold_for_more`]).
    fresh: bool,
    /// Rounds yielded since the client was last written to.
    rounds_held: u8,
    /// Rounds in a row that brought no bytes.
    quiet_rounds: u8,
}

/// Rounds without new bytes after which what is held is written.
const QUIET_ROUNDS_BEFORE_WRITE: u8 = 2;
/// Scheduler rounds a burst may be held for before it is written anyway.
const MAX_ROUNDS_HELD: u8 = 16;
/// Bytes a burst may grow to before it is written anyway.
const MAX_BYTES_HELD: usize = 64 * 1024;

impl Relay {
    pub fn new(
        upstream: UpstreamBody,
        tap: Box<dyn BodyProcessor>,
        idle_timeout: Duration,
        status: u16,
        expected_length: Option<u64>,
        on_finish: Box<dyn OnFinish>,
    ) -> Relay {
        let now = tokio::time::Instant::now();
        Relay {
            upstream,
            tap,
            out: VecDeque::new(),
            idle: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
            idle_timeout,
            last_chunk: now,
            status,
            on_finish: Some(on_finish),
            ended: false,
            broken: None,
            expected_length,
            received: 0,
            fresh: false,
            rounds_held: 0,
            quiet_rounds: 0,
        }
    }

    /// Whether to hold what is ready for one more scheduler round instead of writing it now.
    /// The provider connection's task hands over one HTTP chunk (one SSE event, as providers
    /// send them) every round or two, and the server writes to the client whenever the body has
    /// nothing ready: without holding, a burst of 20 events costs 20 socket writes. Holding
    /// stops after two rounds that brought nothing (measured: the next chunk of a burst comes
    /// the second round), so what has arrived never waits for bytes the provider has yet to send.
    fn hold_for_more(&mut self) -> bool {
        self.quiet_rounds = if self.fresh { 0 } else { self.quiet_rounds + 1 };
        self.fresh = false;
        let hold = self.quiet_rounds < QUIET_ROUNDS_BEFORE_WRITE
            && self.rounds_held < MAX_ROUNDS_HELD
            && self.out.iter().map(Bytes::len).sum::<usize>() < MAX_BYTES_HELD;
        self.rounds_held = if hold { self.rounds_held + 1 } else { 0 };
        hold
    }

    /// Whether the provider has been silent for the idle timeout. The timer is not moved on
    /// every chunk (a timer-wheel update per SSE event): it stays armed for the deadline it was
    /// set to, and when it fires after newer chunks it is re-armed from the last one, so the
    /// timeout still counts from the last byte received.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last_chunk + self.idle_timeout;
            if deadline <= tokio::time::Instant::now() {
                return true;
            }
            self.idle.as_mut().reset(deadline);
        }
    }

    /// The provider's body broke off with `error`: what is held is dropped (part of an event
    /// would corrupt the stream); the processor says it in the client's API, and the body ends
    /// after that event (an error after it could cost the event itself: the server drops the
    /// connection at once, with what it had yet to write), or, with nothing to say, abnormally.
    fn break_off(&mut self, error: std::io::Error) {
        self.ended = true;
        self.out.clear();
        self.tap.abort(&error.to_string(), &mut self.out);
        if self.out.is_empty() {
            self.broken = Some(error);
        }
    }

    /// Everything ready, as one chunk for one write.
    fn take_ready(&mut self) -> Option<Bytes> {
        if self.out.len() <= 1 {
            return self.out.pop_front();
        }
        let mut joined = BytesMut::with_capacity(self.out.iter().map(Bytes::len).sum());
        for chunk in self.out.drain(..) {
            joined.extend_from_slice(&chunk);
        }
        Some(joined.freeze())
    }

    fn finish(&mut self, status: u16) {
        let usage = self.tap.finish(&mut self.out);
        let status = if status < 400 && self.tap.failed() { 502 } else { status };
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
            if this.ended {
                if let Some(ready) = this.take_ready() {
                    return Poll::Ready(Some(Ok(ready)));
                }
                // An error ends the client's body abnormally: never a clean end.
                return Poll::Ready(this.broken.take().map(Err));
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers carry no body bytes; nothing to relay.
                    let Ok(chunk) = frame.into_data() else { continue };
                    this.last_chunk = tokio::time::Instant::now();
                    this.received += chunk.len() as u64;
                    this.fresh = true;
                    this.tap.feed(chunk, &mut this.out);
                    if this.expected_length.is_some_and(|length| this.received >= length) {
                        this.ended = true;
                        let status = this.status;
                        this.finish(status);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.break_off(std::io::Error::other(format!("the provider's stream broke: {error}")));
                    this.finish(UPSTREAM_BROKE);
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let status = this.status;
                    this.finish(status);
                }
                Poll::Pending => {
                    if this.idle_expired(cx) {
                        this.break_off(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the provider sent nothing for longer than the idle timeout",
                        ));
                        this.finish(UPSTREAM_IDLE);
                        continue;
                    }
                    if this.out.is_empty() {
                        this.fresh = false;
                        this.quiet_rounds = 0;
                        return Poll::Pending;
                    }
                    if this.hold_for_more() {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(this.take_ready().map(Ok));
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use std::sync::{Arc, Mutex};

    struct Passthrough;
    impl BodyProcessor for Passthrough {
        fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
            out.push_back(chunk);
        }
        fn finish(&mut self, _: &mut VecDeque<Bytes>) -> Usage {
            Usage::default()
        }
    }

    struct Recorded(Arc<Mutex<Option<u16>>>);
    impl OnFinish for Recorded {
        fn finish(self: Box<Self>, status: u16, _: Usage) {
            *self.0.lock().unwrap() = Some(status);
        }
    }

    /// A provider body fed from a channel, as the provider connection's task feeds hyper's.
    fn relay_fed_by(capacity: usize) -> (tokio::sync::mpsc::Sender<Bytes>, Relay, Arc<Mutex<Option<u16>>>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(capacity);
        let frames = futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|chunk| chunk.map(|c| Ok::<_, std::io::Error>(Frame::data(c))))
        });
        let body = StreamBody::new(frames).map_err(Into::into).boxed_unsync();
        let status = Arc::new(Mutex::new(None));
        let relay = Relay::new(
            body,
            Box::new(Passthrough),
            Duration::from_secs(5),
            200,
            None,
            Box::new(Recorded(status.clone())),
        );
        (tx, relay, status)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_burst_handed_over_one_chunk_per_round_is_written_as_one() {
        let (tx, relay, status) = relay_fed_by(1);
        let events: Vec<Bytes> = (0..20).map(|i| Bytes::from(format!("data: {{\"n\":{i}}}\n\n"))).collect();
        let expected: Vec<u8> = events.iter().flat_map(|e| e.to_vec()).collect();
        tokio::spawn(async move {
            for event in events {
                tx.send(event).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let written: Vec<Bytes> = relay.map(Result::unwrap).collect().await;
        assert_eq!(written.concat(), expected, "every byte, in order");
        assert!(written.len() <= 2, "20 events ready within a few rounds took {} writes", written.len());
        assert_eq!(*status.lock().unwrap(), Some(200));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn what_has_arrived_never_waits_for_what_is_still_to_come() {
        let (tx, mut relay, _) = relay_fed_by(1);
        tx.send(Bytes::from_static(b"data: first\n\n")).await.unwrap();
        let first = tokio::time::timeout(Duration::from_millis(500), relay.next()).await;
        assert_eq!(first.unwrap().unwrap().unwrap(), Bytes::from_static(b"data: first\n\n"));
        tx.send(Bytes::from_static(b"data: second\n\n")).await.unwrap();
        drop(tx);
        assert_eq!(relay.next().await.unwrap().unwrap(), Bytes::from_static(b"data: second\n\n"));
        assert!(relay.next().await.is_none());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn steady_chunks_keep_the_stream_alive_and_silence_ends_it_one_idle_timeout_after_the_last() {
        let (tx, mut relay, status) = relay_fed_by(1);
        // Five chunks 3 s apart: the stream outlives the first deadline (5 s) but is never idle.
        for i in 0..5 {
            tx.send(Bytes::from(format!("data: {i}\n\n"))).await.unwrap();
            let chunk = relay.next().await.unwrap().unwrap();
            assert_eq!(chunk, Bytes::from(format!("data: {i}\n\n")));
            if i < 4 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
        let last_chunk = tokio::time::Instant::now();
        // Then silence, with the provider's connection still open.
        let error = relay.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(tokio::time::Instant::now() - last_chunk, Duration::from_secs(5), "counted from the last chunk");
        assert_eq!(*status.lock().unwrap(), Some(UPSTREAM_IDLE));
        assert!(relay.next().await.is_none());
        drop(tx);
    }
}
