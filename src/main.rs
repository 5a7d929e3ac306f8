//! The `modelgate` binary: parses the command line and hands over to `modelgate-server`.

use clap::{Parser, Subcommand};
use modelgate_server::{LogFormat, ServeArgs, BOOTSTRAP_WORKSPACE};
use tracing_subscriber::EnvFilter;

/// Self-hosted LLM model gateway with a Blaxel-compatible control plane.
#[derive(Parser)]
#[command(name = "modelgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane and the inference plane.
    Serve(ServeArgs),
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("MODELGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let server = modelgate_server::start(args).await?;
            if let Some(key) = &server.bootstrap_api_key {
                // Printed on stdout, once, and never logged.
                println!("Created workspace '{BOOTSTRAP_WORKSPACE}' and an admin API key. It is shown only this once; store it now:");
                println!();
                println!("    {key}");
                println!();
            }
            println!("control plane:   http://{}/v0", server.api_addr);
            println!("inference plane: http://{}", server.run_addr);
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            server.shutdown().await?;
            Ok(())
        }
    }
}
