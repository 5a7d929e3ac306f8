//! Runs the mock provider until Ctrl-C: `cargo run -p modelgate-mock-provider --example serve -- 127.0.0.1:9000`.

use std::net::SocketAddr;

use modelgate_mock_provider::{run, MockConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9000".to_owned()).parse() {
        Ok(addr) => addr,
        Err(error) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, error)),
    };
    let config = MockConfig::default();
    println!("mock provider on http://{addr} (key: {})", config.api_key);
    run(addr, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
