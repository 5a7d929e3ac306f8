//! `bare-proxy [LISTEN]`: a reverse proxy with nothing but modelgate's HTTP machinery (hyper-util's
//! auto server, its pooled legacy client, mimalloc) in front of the bench's mock on
//! 127.0.0.1:19080. `/{workspace}/models/{model}/REST` goes upstream as `/REST` with the mock's
//! credential, streamed back as it comes. No authentication, policy, usage or metrics: what it
//! costs per request is the floor of any gateway built this way.

use http_body_util::{Either, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const UPSTREAM: &str = "127.0.0.1:19080";
/// The mock's credential, as OpenAI's `Authorization` and as Anthropic's `x-api-key`.
const UPSTREAM_KEY: &str = "sk-mock-upstream-key";
const UPSTREAM_BEARER: &str = "Bearer sk-mock-upstream-key";

type Upstream = Client<HttpConnector, Incoming>;
type Answer = Response<Either<Incoming, Empty<Bytes>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:19185".into());
    let upstream: Upstream = Client::builder(TokioExecutor::new()).build_http();
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        // Stops on SIGINT as modelgate does, so the perf tools stop both the same way.
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        stream.set_nodelay(true)?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| forward(upstream.clone(), request));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(upstream: Upstream, mut request: Request<Incoming>) -> Result<Answer, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    // "/ws/models/name/v1/chat/completions" -> "v1/chat/completions"
    let rest = path.splitn(5, '/').nth(4).unwrap_or("");
    let Ok(uri) = format!("http://{UPSTREAM}/{rest}").parse::<Uri>() else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.remove(HOST);
    headers.insert(AUTHORIZATION, HeaderValue::from_static(UPSTREAM_BEARER));
    headers.insert(HeaderName::from_static("x-api-key"), HeaderValue::from_static(UPSTREAM_KEY));
    Ok(match upstream.request(request).await {
        Ok(response) => response.map(Either::Left),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    })
}

fn status(code: StatusCode) -> Answer {
    let mut answer = Response::new(Either::Right(Empty::new()));
    *answer.status_mut() = code;
    answer
}
