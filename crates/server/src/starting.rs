//! A node whose store does not answer at start: instead of exiting, it serves liveness (200) and
//! readiness (503, "store unreachable: retrying, next attempt in N s") on its API address, 503 on
//! every other route of both planes, and retries with a growing wait (1 s doubling to 30 s,
//! logged each time) until the store answers; then the normal start continues on the same
//! listeners. An inference node restarted during a database outage thus comes back by itself.

use crate::serve::{self, Plane};
use axum::response::IntoResponse;
use modelgate_control_plane::error::{ApiError, STORE_RETRY_AFTER_SECONDS};
use modelgate_inference::GatewayError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// First wait before the next attempt to open the store; it doubles up to [`RETRY_MAX`].
pub(crate) const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);

/// When the next attempt to open the store comes (`None`: one is running), for readiness.
#[derive(Clone)]
pub(crate) struct Waiting(Arc<watch::Sender<Option<Instant>>>);

impl Waiting {
    pub(crate) fn new() -> Waiting {
        Waiting(Arc::new(watch::Sender::new(None)))
    }

    /// Records that the next attempt comes in `wait`.
    pub(crate) fn retrying_in(&self, wait: Duration) {
        self.0.send_replace(Some(Instant::now() + wait));
    }

    /// Records that an attempt is running.
    pub(crate) fn attempting(&self) {
        self.0.send_replace(None);
    }

    fn detail(&self) -> String {
        match *self.0.borrow() {
            Some(at) => {
                let seconds = at.saturating_duration_since(Instant::now()).as_secs_f64().ceil();
                format!("store unreachable: retrying, next attempt in {seconds} s")
            }
            None => "store unreachable: retrying, an attempt is running".to_string(),
        }
    }
}

/// The waiting answers being served; [`WaitingPlanes::stop`] ends them.
pub(crate) struct WaitingPlanes {
    stop: watch::Sender<bool>,
    planes: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Serves the waiting answers on a second handle of each listener; the listeners themselves stay
/// open (and queue new connections) for the planes that follow.
pub(crate) fn serve_while_waiting(
    api: &TcpListener,
    run: Option<&TcpListener>,
    waiting: &Waiting,
    times: serve::ConnectionTimes,
) -> std::io::Result<WaitingPlanes> {
    let (stop, _) = watch::channel(false);
    let mut planes = vec![tokio::spawn(serve::serve(
        second_handle(api)?,
        Plane::Control(api_router(waiting.clone())),
        times,
        stopped(stop.subscribe()),
    ))];
    if let Some(run) = run {
        planes.push(tokio::spawn(serve::serve(
            second_handle(run)?,
            Plane::Control(run_router(waiting.clone())),
            times,
            stopped(stop.subscribe()),
        )));
    }
    Ok(WaitingPlanes { stop, planes })
}

impl WaitingPlanes {
    /// Stops accepting through the second handles and waits for the answers in flight; idle
    /// connections are closed.
    pub(crate) async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        for plane in self.planes {
            plane.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Liveness, readiness (503 with why) and 503 for every other route, in the control plane's
/// `Error` schema.
fn api_router(waiting: Waiting) -> axum::Router {
    use axum::routing::get;
    let ready = waiting.clone();
    axum::Router::new()
        .route("/v0/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route(
            "/v0/ready",
            get(move || async move { ApiError::Unavailable(ready.detail(), STORE_RETRY_AFTER_SECONDS) }),
        )
        .fallback(move || async move {
            ApiError::Unavailable(format!("the node is starting: {}", waiting.detail()), STORE_RETRY_AFTER_SECONDS)
        })
}

/// The inference plane's 503, in its own error shape.
fn run_router(waiting: Waiting) -> axum::Router {
    axum::Router::new().fallback(move || async move {
        let message = format!("the node is starting: {}", waiting.detail());
        GatewayError::node_not_ready(message, STORE_RETRY_AFTER_SECONDS).into_response()
    })
}

/// A second handle on the listening socket (`dup`): connections are accepted through it while
/// waiting, and through the original afterwards, with no moment where the port is closed.
fn second_handle(listener: &TcpListener) -> std::io::Result<TcpListener> {
    #[cfg(unix)]
    let socket = std::net::TcpListener::from(std::os::fd::AsFd::as_fd(listener).try_clone_to_owned()?);
    #[cfg(windows)]
    let socket = std::net::TcpListener::from(std::os::windows::io::AsSocket::as_socket(listener).try_clone_to_owned()?);
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket)
}
