//! Reads a request body whole, as both planes do before acting on it, within three bounds:
//!
//! - **size**: a body declared (`Content-Length`) or found larger than the plane's limit is
//!   refused, a declared one before any of it is read;
//! - **time**: the whole body must arrive within the body timeout, counted from when reading
//!   starts, so a client that sends headers and then nothing (or a byte a second) cannot hold a
//!   connection and its memory for ever;
//! - **memory**: every body being read or held counts against one [`BodyBudget`] of bytes shared
//!   by all connections of the node (both planes); a body that does not fit is refused at once
//!   (the caller answers 503 with `Retry-After`) instead of growing the process without bound.
//!
//! A declared length is reserved whole before reading; a body without one (chunked) reserves
//! each chunk as it arrives. The reservation is released when the [`Body`] is dropped.

use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default of [`BodyLimits::timeout`]: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default size of a node's [`BodyBudget`]: 256 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 256 * 1024 * 1024;

/// The bytes of request bodies a node holds at once, across all its connections.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    in_use: Arc<AtomicUsize>,
    total: usize,
}

impl BodyBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> BodyBudget {
        BodyBudget { in_use: Arc::new(AtomicUsize::new(0)), total }
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Reserves `bytes` if they fit; never waits.
    fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
                in_use.checked_add(bytes).filter(|&after| after <= self.total)
            })
            .ok()?;
        Some(Reservation { budget: self.clone(), bytes })
    }
}

/// Bytes held against a [`BodyBudget`], given back when dropped.
#[derive(Debug)]
struct Reservation {
    budget: BodyBudget,
    bytes: usize,
}

impl Reservation {
    /// Adds `bytes` to this reservation if they fit.
    fn grow(&mut self, bytes: usize) -> bool {
        match self.budget.try_reserve(bytes) {
            Some(mut more) => {
                self.bytes += std::mem::take(&mut more.bytes);
                true
            }
            None => false,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.in_use.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// The bounds a plane reads its request bodies within.
#[derive(Clone, Debug)]
pub struct BodyLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Longest time the whole body may take to arrive; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// The node's budget of body bytes held at once.
    pub budget: BodyBudget,
}

impl BodyLimits {
    /// Limits with a budget of their own (tests and single-plane uses).
    pub fn new(max_bytes: usize, timeout: Option<Duration>, budget_bytes: usize) -> BodyLimits {
        BodyLimits { max_bytes, timeout, budget: BodyBudget::new(budget_bytes) }
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than [`BodyLimits::max_bytes`] (declared or found).
    TooLarge { limit: usize },
    /// Did not arrive whole within [`BodyLimits::timeout`].
    TimedOut { after: Duration },
    /// The node holds too many body bytes already; worth retrying shortly.
    OverBudget,
    /// The connection failed while the body was being read (the client went away).
    Broken,
}

/// What each plane tells the client, in its own error shape.
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "the request body exceeds the limit of {limit} bytes"),
            BodyError::TimedOut { after } => {
                write!(f, "the request body did not arrive within {} s", after.as_secs())
            }
            BodyError::OverBudget => {
                f.write_str("this node is reading as many request bodies as its memory budget allows; retry shortly")
            }
            BodyError::Broken => f.write_str("the request body could not be read: the connection failed"),
        }
    }
}

impl std::error::Error for BodyError {}

/// `Retry-After` seconds for [`BodyError::OverBudget`].
pub const OVER_BUDGET_RETRY_AFTER: u64 = 1;

/// A body read whole, holding its bytes' reservation in the node's budget until dropped.
#[derive(Debug)]
pub struct Body {
    bytes: Bytes,
    _reservation: Option<Reservation>,
}

impl Body {
    /// The body's bytes (cheap to clone; the reservation stays with `self`).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes, giving the reservation back now.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

/// Reads `body` whole within `limits`; `declared` is the request's `Content-Length`, if any.
pub async fn read<B>(body: B, declared: Option<u64>, limits: &BodyLimits) -> Result<Body, BodyError>
where
    B: http_body_util::BodyExt<Data = Bytes> + Unpin,
{
    let limit = limits.max_bytes;
    let mut reservation = match declared {
        Some(length) if length > limit as u64 => return Err(BodyError::TooLarge { limit }),
        Some(0) => None,
        Some(length) => Some(limits.budget.try_reserve(length as usize).ok_or(BodyError::OverBudget)?),
        None => None,
    };
    let collect = collect(body, limit, declared, &limits.budget, &mut reservation);
    let bytes = match limits.timeout {
        Some(after) => tokio::time::timeout(after, collect).await.map_err(|_| BodyError::TimedOut { after })??,
        None => collect.await?,
    };
    Ok(Body { bytes, _reservation: reservation })
}

/// Reads the frames of `body`: one data frame is kept as it is, several are joined into one
/// buffer of the declared length (no reallocation on the way). Without a declared length, each
/// frame is reserved as it arrives.
async fn collect<B>(
    mut body: B,
    limit: usize,
    declared: Option<u64>,
    budget: &BodyBudget,
    reservation: &mut Option<Reservation>,
) -> Result<Bytes, BodyError>
where
    B: http_body_util::BodyExt<Data = Bytes> + Unpin,
{
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        length = length.saturating_add(data.len());
        if length > limit {
            return Err(BodyError::TooLarge { limit });
        }
        if declared.is_none() {
            let reserved = match reservation {
                Some(held) => held.grow(data.len()),
                None => budget.try_reserve(data.len()).map(|held| *reservation = Some(held)).is_some(),
            };
            if !reserved {
                return Err(BodyError::OverBudget);
            }
        }
        match (&mut joined, first.take()) {
            (Some(buffer), _) => buffer.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(earlier)) => {
                let expected = declared.map_or(0, |declared| usize::try_from(declared).unwrap_or(limit).min(limit));
                let mut buffer = BytesMut::with_capacity(length.max(expected));
                buffer.extend_from_slice(&earlier);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(match joined {
        Some(buffer) => buffer.freeze(),
        None => first.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::channel::Channel;
    use http_body_util::Full;

    const MIB: usize = 1024 * 1024;

    fn limits(max_bytes: usize, budget: usize) -> BodyLimits {
        BodyLimits::new(max_bytes, Some(Duration::from_secs(30)), budget)
    }

    #[tokio::test]
    async fn a_body_in_one_chunk_is_kept_as_it_is_and_reserved_until_dropped() {
        let limits = limits(MIB, MIB);
        let sent = Bytes::from_static(b"{\"model\":\"m\"}");
        let body = read(Full::new(sent.clone()), Some(sent.len() as u64), &limits).await.unwrap();
        assert_eq!(body.bytes().as_ptr(), sent.as_ptr(), "not copied");
        assert_eq!(limits.budget.in_use(), sent.len());
        drop(body);
        assert_eq!(limits.budget.in_use(), 0);
    }

    #[tokio::test]
    async fn chunks_are_joined_and_reserved_as_they_arrive() {
        let limits = limits(MIB, MIB);
        let (mut sender, channel) = Channel::<Bytes>::new(4);
        for part in ["ab", "", "cd", "e"] {
            sender.send_data(Bytes::from_static(part.as_bytes())).await.unwrap();
        }
        drop(sender);
        let body = read(channel, None, &limits).await.unwrap();
        assert_eq!(body.bytes().as_ref(), b"abcde");
        assert_eq!(limits.budget.in_use(), 5);
        assert_eq!(body.into_bytes().as_ref(), b"abcde");
        assert_eq!(limits.budget.in_use(), 0);
    }

    #[tokio::test]
    async fn too_large_declared_or_found() {
        let limits = limits(4, MIB);
        let declared = read(Full::new(Bytes::from_static(b"12345")), Some(5), &limits).await;
        assert_eq!(declared.unwrap_err(), BodyError::TooLarge { limit: 4 });
        let (mut sender, channel) = Channel::<Bytes>::new(4);
        sender.send_data(Bytes::from_static(b"123")).await.unwrap();
        sender.send_data(Bytes::from_static(b"45")).await.unwrap();
        drop(sender);
        assert_eq!(read(channel, None, &limits).await.unwrap_err(), BodyError::TooLarge { limit: 4 });
        assert_eq!(limits.budget.in_use(), 0, "nothing stays reserved");
    }

    #[tokio::test]
    async fn over_the_budget_is_refused_and_the_budget_comes_back() {
        let limits = limits(MIB, 10);
        let first = read(Full::new(Bytes::from_static(b"12345678")), Some(8), &limits).await.unwrap();
        let refused = read(Full::new(Bytes::from_static(b"123")), Some(3), &limits).await;
        assert_eq!(refused.unwrap_err(), BodyError::OverBudget);
        let (mut sender, channel) = Channel::<Bytes>::new(4);
        sender.send_data(Bytes::from_static(b"1")).await.unwrap();
        sender.send_data(Bytes::from_static(b"234")).await.unwrap();
        drop(sender);
        assert_eq!(read(channel, None, &limits).await.unwrap_err(), BodyError::OverBudget);
        assert_eq!(limits.budget.in_use(), 8, "the refused chunked body gave back what it had");
        drop(first);
        assert!(read(Full::new(Bytes::from_static(b"123")), Some(3), &limits).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_times_out() {
        let limits = BodyLimits::new(MIB, Some(Duration::from_secs(30)), MIB);
        let (mut sender, channel) = Channel::<Bytes>::new(4);
        sender.send_data(Bytes::from_static(b"{")).await.unwrap();
        let error = read(channel, Some(1000), &limits).await.unwrap_err();
        assert_eq!(error, BodyError::TimedOut { after: Duration::from_secs(30) });
        assert_eq!(limits.budget.in_use(), 0);
        drop(sender);
    }

    #[tokio::test]
    async fn a_client_that_goes_away_is_a_broken_body() {
        let limits = limits(MIB, MIB);
        let (mut sender, channel) = Channel::<Bytes, std::io::Error>::new(4);
        sender.send_data(Bytes::from_static(b"{")).await.unwrap();
        sender.abort(std::io::Error::other("reset"));
        assert_eq!(read(channel, Some(10), &limits).await.unwrap_err(), BodyError::Broken);
    }
}
