//! Mock LLM providers for tests, benchmarks and the offline quickstart.
//!
//! One HTTP server answers every provider family in its real wire format, JSON and streaming:
//! OpenAI (chat completions and the Responses API; and Azure OpenAI), Anthropic Messages, Gemini (and Vertex AI), Cohere v2, and a small
//! MCP endpoint. Credentials are checked the provider's way against [`MockConfig::api_key`], and
//! failures answer the provider's own error body. Replies are deterministic: the text is
//! "Hello from the mock {provider} provider." followed by filler words, one per stream delta.
//!
//! Faults come from [`MockConfig::fault`] / [`MockProvider::set_fault`], or per request from
//! headers (any of them replaces the configured fault for that request):
//!
//! | header | effect |
//! |---|---|
//! | `x-mock-status: 503` (+ `x-mock-retry-after: 2`) | the provider's error body with that status (429 always has `retry-after`) |
//! | `x-mock-delay-ms: 200` | wait before the response headers |
//! | `x-mock-fault: reset-before-headers` | close the connection without answering |
//! | `x-mock-fault: reset-mid-stream` (+ `x-mock-after-chunks: 2`) | abort the body after that many chunks |
//! | `x-mock-fault: none` | no fault, whatever is configured |
//! | `x-mock-chunk-delay-ms: 50` | sleep between streamed events |
//! | `x-mock-chunks: 8` | content deltas in a reply (default 5; not a fault, always honoured) |
//!
//! Every request is recorded (see [`MockProvider::requests`]) before any fault applies.

mod anthropic;
mod azure;
mod call;
mod cohere;
mod completion;
mod embedding;
mod faults;
mod gemini;
mod mcp;
mod openai;
mod problem;
mod record;
pub mod relay;
mod reply;
mod responses;
mod routes;
mod server;
mod sse;
pub mod test_services;
mod tools;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::Fault;
pub use record::ReceivedRequest;

use server::Shared;

/// The key every mock endpoint accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "sk-mock-upstream-key";

/// Requests kept for [`MockProvider::requests`] by default.
pub const DEFAULT_MAX_RECORDED_REQUESTS: usize = 10_000;

/// How the mock behaves.
#[derive(Clone)]
pub struct MockConfig {
    /// The only credential the mock accepts (Bearer, `x-api-key`, `api-key`, `x-goog-api-key`, `?key=`).
    pub api_key: String,
    /// A fault applied to every request that carries no `x-mock-*` fault header.
    pub fault: Option<Fault>,
    /// Content deltas per reply when the request has no `x-mock-chunks` header.
    pub chunks: usize,
    /// How many of the most recent requests [`MockProvider::requests`] keeps (0: none).
    pub max_recorded_requests: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_owned(),
            fault: None,
            chunks: completion::DEFAULT_CHUNKS,
            max_recorded_requests: DEFAULT_MAX_RECORDED_REQUESTS,
        }
    }
}

impl std::fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs, even mock ones.
        f.debug_struct("MockConfig")
            .field("api_key", &"********")
            .field("fault", &self.fault)
            .field("chunks", &self.chunks)
            .field("max_recorded_requests", &self.max_recorded_requests)
            .finish()
    }
}

impl MockConfig {
    fn into_shared(self) -> Arc<Shared> {
        Arc::new(Shared {
            api_key: self.api_key,
            chunks: self.chunks.clamp(1, completion::MAX_CHUNKS),
            fault: Mutex::new(self.fault),
            recorder: record::Recorder::new(self.max_recorded_requests),
            open_streams: sse::OpenStreams::default(),
        })
    }
}

/// A running mock provider; dropping it stops the server too.
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockProvider {
    /// Starts a mock on an ephemeral loopback port.
    pub async fn start(config: MockConfig) -> std::io::Result<MockProvider> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a mock on `addr`.
    pub async fn start_on(addr: SocketAddr, config: MockConfig) -> std::io::Result<MockProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = config.into_shared();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, shared.clone(), async {
            // A send or a dropped sender both mean stop.
            let _ = stopped.await;
        }));
        Ok(MockProvider { addr, shared, stop: Some(stop), task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, the base URL to configure as the provider's endpoint.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order (the most recent
    /// [`MockConfig::max_recorded_requests`]).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.recorder.all()
    }

    /// How many requests were received (all of them, recorded or not).
    pub fn request_count(&self) -> usize {
        self.shared.recorder.count()
    }

    /// Replaces the configured fault for the following requests.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.set_fault(fault);
    }

    /// Streamed responses currently being sent (drops when a stream ends or its client leaves).
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.get()
    }

    /// Stops accepting, lets responses in flight finish briefly, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "mock provider: server task failed");
            }
        }
    }
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Serves the mock on `addr` until `shutdown` resolves (for the `modelgate mock-provider` command).
pub async fn run(
    addr: SocketAddr,
    config: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "mock provider listening");
    server::serve(listener, config.into_shared(), shutdown).await;
    Ok(())
}
