//! The `modelgate` binary: parses the command line and hands over to `modelgate-server` (the
//! node's commands) or to `modelgate-cli` (the client commands).

use clap::{Parser, Subcommand};
use modelgate_server::{LogFormat, ServeArgs};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Reseal every stored provider secret under the current master key (MODELGATE_MASTER_KEY),
    /// opening old ones with MODELGATE_PREVIOUS_MASTER_KEYS. Safe while nodes are running.
    RotateMasterKey(ServeArgs),
    /// Apply the store's pending migrations and exit (nodes also do it at start).
    Migrate(ServeArgs),
    /// Run a mock LLM provider (OpenAI, Anthropic, Gemini, Cohere, Azure, Vertex wire formats)
    /// for offline trials, tests and benchmarks.
    MockProvider(MockProviderArgs),
    #[command(flatten)]
    Client(modelgate_cli::ClientCommand),
    /// Print a shell completion script: `source <(modelgate completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct MockProviderArgs {
    /// Address to listen on.
    #[arg(long, env = "MODELGATE_MOCK_ADDR", default_value = "127.0.0.1:9000")]
    addr: std::net::SocketAddr,
    /// The provider API key the mock accepts.
    #[arg(long, env = "MODELGATE_MOCK_API_KEY", default_value = modelgate_mock_provider::DEFAULT_API_KEY)]
    api_key: String,
}

/// The command line with `--help` listing the node's commands apart from the client's (clap
/// gives all subcommands one heading).
fn command_line() -> clap::Command {
    use clap::{CommandFactory, Subcommand as _};
    let mut command = Cli::command();
    command.build();
    let client = modelgate_cli::ClientCommand::augment_subcommands(clap::Command::new("client"));
    let is_client = |name: &str| client.get_subcommands().any(|c| c.get_name() == name);
    let width = command.get_subcommands().map(|c| c.get_name().len()).max().unwrap_or(0);
    let list = |keep: &dyn Fn(&str) -> bool| -> String {
        command
            .get_subcommands()
            .filter(|c| keep(c.get_name()))
            .map(|c| {
                format!("  {:<width$}  {}\n", c.get_name(), c.get_about().map(ToString::to_string).unwrap_or_default())
            })
            .collect()
    };
    let other = |name: &str| name == "completions" || name == "help";
    let template = format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\nNode commands:\n{}\n\
         Client commands (a control plane's API: --url or MODELGATE_URL, --key or MODELGATE_KEY, else the current context):\n{}\n\
         Other commands:\n{}\nOptions:\n{{options}}{{after-help}}",
        list(&|name| !is_client(name) && !other(name)),
        list(&is_client),
        list(&other),
    );
    command.help_template(template)
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
    let cli = {
        use clap::FromArgMatches as _;
        Cli::from_arg_matches(&command_line().get_matches()).unwrap_or_else(|error| error.exit())
    };
    match cli.command {
        Command::Client(command) => {
            // The API's message, without a backtrace or a debug form: an operator reads it.
            if let Err(error) = modelgate_cli::run(command).await {
                eprintln!("error: {error:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "modelgate", &mut std::io::stdout());
            Ok(())
        }
        Command::Serve(args) => {
            init_logging(args.log_format);
            let mut server = modelgate_server::start(args).await?;
            if let Some(key) = &server.bootstrap_api_key {
                modelgate_server::print_bootstrap_api_key(key);
            }
            println!("control plane:   http://{}/v0", server.api_addr);
            if let Some(run_addr) = server.run_addr {
                println!("inference plane: http://{run_addr}");
            }
            // A node whose store answered only after the start fails here if the rest of its start
            // does (a migration): it is already down.
            if let Some(error) = tokio::select! {
                () = shutdown_signal() => None,
                error = server.failed() => Some(error),
            } {
                return Err(error);
            }
            tracing::info!("shutting down: finishing in-flight requests");
            server.shutdown().await?;
            Ok(())
        }
        Command::Migrate(args) => {
            init_logging(args.log_format);
            modelgate_server::migrate(&args).await?;
            println!("the store's schema is up to date");
            Ok(())
        }
        Command::MockProvider(args) => {
            init_logging(LogFormat::Text);
            let config = modelgate_mock_provider::MockConfig { api_key: args.api_key, ..Default::default() };
            println!("mock provider: http://{} (accepts the key given by --api-key)", args.addr);
            modelgate_mock_provider::run(args.addr, config, shutdown_signal()).await?;
            Ok(())
        }
        Command::RotateMasterKey(args) => {
            init_logging(args.log_format);
            let report = modelgate_server::rotate_master_key(&args).await?;
            println!(
                "resealed {} secret(s) under the current master key ({} already were); the previous keys can now be removed",
                report.resealed, report.already_current
            );
            Ok(())
        }
    }
}
