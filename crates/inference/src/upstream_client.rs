//! The pooled HTTP client that carries requests to providers: hyper's connection pool over
//! plain TCP or rustls (webpki roots), HTTP/1.1 or HTTP/2 as the provider's TLS offers. Requests
//! are built as `http::Request`s with a ready `Uri`, so nothing is parsed twice on the way out.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as _;
use std::time::Duration;

pub type UpstreamRequest = hyper::Request<Full<Bytes>>;
pub type UpstreamResponse = hyper::Response<Incoming>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per provider host.
const POOL_IDLE_PER_HOST: usize = 1024;

/// Why a request got no response.
#[derive(Debug)]
pub struct SendError {
    /// Connecting took longer than the connect timeout.
    pub timed_out: bool,
    /// The error and its causes, for the log.
    pub detail: String,
}

#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> UpstreamClient {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        UpstreamClient { client }
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, SendError> {
        self.client.request(request).await.map_err(|error| {
            let mut detail = error.to_string();
            let mut timed_out = false;
            let mut source = error.source();
            while let Some(cause) = source {
                detail.push_str(": ");
                detail.push_str(&cause.to_string());
                timed_out |=
                    cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
                source = cause.source();
            }
            SendError { timed_out, detail }
        })
    }
}
