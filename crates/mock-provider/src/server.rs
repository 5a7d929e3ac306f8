//! The HTTP server: an accept loop serving each connection with hyper's HTTP/1 connection, so a
//! request can end its connection before any response header (the reset-before-headers fault).
//! Each request is read whole, recorded, then the fault plan is followed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::call::Call;
use crate::faults::{Fault, FaultPlan};
use crate::record::{ReceivedRequest, Recorder};
use crate::routes;
use crate::sse::OpenStreams;

/// Largest request body the mock reads.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// How long in-flight responses may run after shutdown is asked before connections are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// State shared by every connection.
pub(crate) struct Shared {
    pub api_key: String,
    pub chunks: usize,
    pub fault: Mutex<Option<Fault>>,
    pub recorder: Recorder,
    pub open_streams: OpenStreams,
}

impl Shared {
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.fault.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }
}

/// The service's way to make hyper drop the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock provider fault: reset before headers")
    }
}

impl std::error::Error for DropConnection {}

/// Serves `listener` until `shutdown` resolves, then lets responses in flight finish (bounded by
/// [`SHUTDOWN_GRACE`]).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, shared.clone(), stop_rx.clone()));
                }
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "mock provider: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::debug!("mock provider: dropping connections still open after the shutdown grace period");
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(shared.clone(), request));
    let connection = http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let stop_requested = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop_requested => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Expected for injected resets and for clients that leave mid-stream.
        tracing::debug!(%peer, %error, "mock provider: connection ended with an error");
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response, DropConnection> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            tracing::debug!(%error, "mock provider: request body unreadable or too large");
            let mut response = Response::new(Body::from("request body unreadable or too large"));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        }
    };
    let received = ReceivedRequest::from_parts(&parts, body.to_vec());
    let plan = FaultPlan::resolve(shared.fault().as_ref(), &received);
    let seq = shared.recorder.push(received.clone());
    if plan.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    }
    if plan.reset_before_headers {
        return Err(DropConnection);
    }
    let call = Call::new(&received, &plan, &shared.api_key, shared.chunks, seq);
    Ok(routes::dispatch(&call).into_response(&plan, &shared.open_streams))
}
