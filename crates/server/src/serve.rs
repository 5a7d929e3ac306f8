//! The accept loop of both planes: each connection served by hyper (HTTP/1.1, or HTTP/2 when the
//! client opens with its preface), with Nagle's algorithm off and a deadline for a request's
//! headers, until the stop signal; then in-flight requests finish and idle connections close.
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

/// What a listener serves.
pub(crate) enum Plane {
    /// The control plane (or an inference node's admin routes); handlers see the peer address
    /// (`ConnectInfo`) for the per-address throttle of failed authentications.
    Control(axum::Router),
    Inference(modelgate_inference::InferenceApp),
}

/// Serves `plane` on `listener` until `stopped` completes, then waits for in-flight requests.
/// `header_timeout`: longest wait for a request's headers (hyper's header read timeout, which
/// runs from the end of the previous response on a kept-alive connection, so it also closes idle
/// connections); `None` waits forever.
pub(crate) async fn serve(
    listener: TcpListener,
    plane: Plane,
    header_timeout: Option<Duration>,
    stopped: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let connections = GracefulShutdown::new();
    let mut listener = listener;
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
        let io = TokioIo::new(tcp);
        match &plane {
            Plane::Control(router) => {
                let service = TowerToHyperService::new(WithPeer { router: router.clone(), remote });
                spawn_connection(connections.watch(builder.serve_connection(io, service).into_owned()));
            }
            Plane::Inference(app) => {
                let service = TowerToHyperService::new(IncomingBody(app.clone()));
                spawn_connection(connections.watch(builder.serve_connection(io, service).into_owned()));
            }
        }
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

fn spawn_connection<E: std::fmt::Display>(connection: impl Future<Output = Result<(), E>> + Send + 'static) {
    tokio::spawn(async move {
        // A client that goes away mid-request, or misses the header deadline, ends up here.
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection closed with an error");
        }
    });
}

/// The control plane's router, with the peer address put where axum's `ConnectInfo` finds it.
#[derive(Clone)]
struct WithPeer {
    router: axum::Router,
    remote: SocketAddr,
}

impl Service<hyper::Request<Incoming>> for WithPeer {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = <axum::Router as Service<axum::extract::Request>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        Service::<axum::extract::Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        self.router.call(request)
    }
}

/// The inference plane's service, taking hyper's body as axum's.
#[derive(Clone)]
struct IncomingBody(modelgate_inference::InferenceApp);

impl Service<hyper::Request<Incoming>> for IncomingBody {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = <modelgate_inference::InferenceApp as Service<axum::extract::Request>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        self.0.call(request.map(axum::body::Body::new))
    }
}
