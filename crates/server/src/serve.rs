//! The accept loop of both planes: each connection served by hyper (HTTP/1.1, or HTTP/2 when the
//! client opens with its preface), with Nagle's algorithm off and a deadline for a request's
//! headers, until the stop signal; then in-flight requests finish and idle connections close,
//! for at most the drain timeout, after which the connections still open are ended (their
//! streams' usage is recorded as the relay is dropped).
//!
//! axum's own `serve` sets no timer on hyper's connections, so hyper's header read timeout is
//! off there: a client could hold a connection forever by never finishing its headers, and idle
//! connections were never closed.

use axum::extract::connect_info::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_service::Service;

/// What a listener serves: the control plane (or an inference node's admin routes), whose
/// handlers see the peer address (`ConnectInfo`) for the per-address throttle of failed
/// authentications, or the inference plane, which needs no peer address.
pub(crate) enum Plane {
    Control(axum::Router),
    Inference(modelgate_inference::InferenceApp),
}

/// How long connections may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionTimes {
    /// Longest wait for a request's headers (hyper's header read timeout, which runs from the
    /// end of the previous response on a kept-alive connection, so it also closes idle
    /// connections); `None` waits forever.
    pub header_timeout: Option<Duration>,
    /// Longest wait, once stopping, for in-flight requests and streams to finish.
    pub drain_timeout: Duration,
}

/// Serves `plane` on `listener` until `stopped` completes, then waits for in-flight requests
/// (at most `times.drain_timeout`).
pub(crate) async fn serve(
    listener: TcpListener,
    plane: Plane,
    times: ConnectionTimes,
    stopped: impl Future<Output = ()>,
) -> std::io::Result<()> {
    match plane {
        Plane::Control(router) => accept_loop(listener, router, true, times, stopped).await,
        Plane::Inference(app) => accept_loop(listener, app, false, times, stopped).await,
    }
}

async fn accept_loop<S>(
    mut listener: TcpListener,
    service: S,
    with_peer: bool,
    times: ConnectionTimes,
    stopped: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(times.header_timeout);
    let connections = GracefulShutdown::new();
    // The connections' tasks, to end those still open when the drain timeout passes.
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(stopped);
    loop {
        // `Listener::accept` retries what fails for one connection and backs off when the process
        // is out of file descriptors, as axum's `serve` does.
        let (tcp, remote) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut stopped => break,
        };
        // Nagle's algorithm delays small writes by tens of milliseconds: never on a proxy.
        let _ = tcp.set_nodelay(true);
        let peer = with_peer.then_some(remote);
        let service = TowerToHyperService::new(FromHyper { service: service.clone(), peer });
        let connection = connections.watch(builder.serve_connection(TokioIo::new(tcp), service).into_owned());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            // A client that goes away mid-request, or misses the header deadline, ends up here.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(times.drain_timeout, connections.shutdown()).await.is_err() {
        tracing::warn!(
            open = tasks.len(),
            drain_timeout_seconds = times.drain_timeout.as_secs(),
            "connections still open after the drain timeout are ended"
        );
        tasks.abort_all();
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// An axum service taking hyper's requests: the body as axum's, and the peer address, when
/// given, where axum's `ConnectInfo` finds it.
#[derive(Clone)]
struct FromHyper<S> {
    service: S,
    peer: Option<SocketAddr>,
}

impl<S: Service<axum::extract::Request>> Service<hyper::Request<Incoming>> for FromHyper<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        self.service.call(request)
    }
}
