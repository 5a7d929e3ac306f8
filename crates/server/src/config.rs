//! `modelgate serve` configuration: every flag also reads a `MODELGATE_*` environment variable.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which planes a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Both planes (one machine, or every node alike).
    All,
    /// Only the control plane (REST API, /metrics).
    Control,
    /// Only the inference plane; the API address then serves only /v0/health, /v0/ready and
    /// /metrics, for load balancers and Prometheus.
    Inference,
}

/// Flags of `modelgate serve`. Not `Debug`: it holds the master key.
#[derive(Clone, clap::Args)]
pub struct ServeArgs {
    /// Which planes this node runs: all, control or inference.
    #[arg(long, env = "MODELGATE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Address of the control plane (REST API under /v0).
    #[arg(long, env = "MODELGATE_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    /// Address of the inference plane.
    #[arg(long, env = "MODELGATE_RUN_ADDR", default_value = "127.0.0.1:8081")]
    pub run_addr: SocketAddr,
    /// Directory for the embedded database (unless a database URL is given) and the generated
    /// master key file.
    #[arg(long, env = "MODELGATE_DATA_DIR", default_value = "./modelgate-data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://path/to/file.db` or `postgres://user:password@host:5432/db`;
    /// default `sqlite://{data dir}/modelgate.db`.
    #[arg(long, env = "MODELGATE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Public base URL of the inference plane, used for models' `metadata.url`; default
    /// `http://{run addr}`.
    #[arg(long, env = "MODELGATE_PUBLIC_RUN_URL")]
    pub public_run_url: Option<String>,
    /// 32-byte key (64 hex digits or base64) that seals provider credentials; shared by every
    /// node. Default: a key file created in the data directory on first start.
    #[arg(long, env = "MODELGATE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Earlier master keys, comma-separated, still accepted for opening secrets and verifying
    /// tokens while `modelgate rotate-master-key` reseals everything under the current key.
    #[arg(long, env = "MODELGATE_PREVIOUS_MASTER_KEYS", hide_env_values = true, value_delimiter = ',')]
    pub previous_master_keys: Vec<String>,
    /// Admin API key to ensure at start, instead of printing a generated one on first start.
    #[arg(long, env = "MODELGATE_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// Log format.
    #[arg(long, env = "MODELGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Largest control-plane request body, in bytes.
    #[arg(long, env = "MODELGATE_MAX_BODY_BYTES", default_value_t = modelgate_control_plane::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Lifetime of access tokens issued by /v0/oauth/token, in seconds.
    #[arg(long, env = "MODELGATE_ACCESS_TOKEN_TTL", default_value_t = modelgate_control_plane::DEFAULT_TOKEN_TTL_SECONDS)]
    pub access_token_ttl: i64,
    /// Seconds to wait for a connection to a provider.
    #[arg(long, env = "MODELGATE_CONNECT_TIMEOUT", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds to wait for a provider's response headers (non-streamed answers arrive whole).
    #[arg(long, env = "MODELGATE_FIRST_BYTE_TIMEOUT", default_value_t = 300)]
    pub first_byte_timeout: u64,
    /// Seconds a provider may stay silent between two chunks of a response.
    #[arg(long, env = "MODELGATE_IDLE_TIMEOUT", default_value_t = 120)]
    pub idle_timeout: u64,
    /// Seconds a client connection may wait for its next request's headers: an idle keep-alive
    /// connection, or a client that has not finished sending its headers, is closed after this
    /// long (both planes; 0: never). Behind a load balancer, set it above the balancer's idle
    /// timeout for its connections to modelgate.
    #[arg(long, env = "MODELGATE_HEADER_TIMEOUT", default_value_t = 75)]
    pub header_timeout: u64,
    /// Seconds a request's body may take to arrive once its headers have (both planes): a client
    /// that sends headers and then nothing, or trickles its body, gets 408 (0: never).
    #[arg(long, env = "MODELGATE_BODY_TIMEOUT", default_value_t = 30)]
    pub body_timeout: u64,
    /// Bytes of request bodies this node reads and holds at once, across all connections of both
    /// planes; a body that does not fit is answered 503 with `Retry-After`.
    #[arg(long, env = "MODELGATE_MAX_INFLIGHT_BODY_BYTES", default_value_t = modelgate_body::DEFAULT_BUDGET_BYTES)]
    pub max_inflight_body_bytes: usize,
    /// Seconds a stopping node waits for open requests and streams to finish (after SIGTERM or
    /// SIGINT); then it ends them, records their usage and writes its usage queue before exiting.
    #[arg(long, env = "MODELGATE_DRAIN_TIMEOUT", default_value_t = 30)]
    pub drain_timeout: u64,
    /// This node's country (e.g. us), for location policies.
    #[arg(long, env = "MODELGATE_LOCATION_COUNTRY")]
    pub location_country: Option<String>,
    /// This node's continent (e.g. eu, na), for location policies.
    #[arg(long, env = "MODELGATE_LOCATION_CONTINENT")]
    pub location_continent: Option<String>,
    /// This node's location name (e.g. us-east-1), for location policies.
    #[arg(long, env = "MODELGATE_LOCATION")]
    pub location: Option<String>,
    /// Seconds between full rebuilds of the route snapshot from the store (a safety net beside
    /// the change feed that nodes sharing PostgreSQL listen to).
    #[arg(long, env = "MODELGATE_RESYNC_INTERVAL", default_value_t = 30)]
    pub resync_interval: u64,
    /// Days usage records are kept; older ones are deleted hourly by control-plane nodes
    /// (0 keeps them forever).
    #[arg(long, env = "MODELGATE_USAGE_RETENTION_DAYS", default_value_t = 90)]
    pub usage_retention_days: u64,
    /// Usage records held in memory before they are written (or spooled); a record that finds
    /// the queue full is dropped. Hold at least a few seconds of requests.
    #[arg(long, env = "MODELGATE_USAGE_QUEUE_SIZE", default_value_t = modelgate_store::UsageWriter::DEFAULT_CAPACITY)]
    pub usage_queue_size: usize,
    /// Directory of the usage spool (`usage-spool.jsonl`), where usage records wait while the
    /// database cannot take them; default: the data directory. One node per directory.
    #[arg(long, env = "MODELGATE_USAGE_SPOOL_DIR")]
    pub usage_spool_dir: Option<PathBuf>,
    /// Largest size of the usage spool, in bytes; records beyond are dropped (counted and logged).
    #[arg(long, env = "MODELGATE_USAGE_SPOOL_MAX_BYTES", default_value_t = modelgate_store::UsageWriter::DEFAULT_SPOOL_MAX_BYTES)]
    pub usage_spool_max_bytes: u64,
    /// Redis (or Valkey) URL, `redis://[:password@]host:6379[/db]` or `rediss://` for TLS: with it,
    /// maxToken and rate-limit windows are counted there and hold across nodes. Without it, or
    /// while it does not answer, each node counts its own.
    #[arg(long, env = "MODELGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// A price file (the embedded catalogue's JSON format, see the README's "Spend") whose entries
    /// replace the embedded ones per runtime type and model; re-read when it changes or on SIGHUP.
    #[arg(long, env = "MODELGATE_PRICES_FILE")]
    pub prices_file: Option<PathBuf>,
    /// Prefix of modelgate's keys in Redis (deployments sharing one Redis use different ones).
    #[arg(long, env = "MODELGATE_REDIS_PREFIX", default_value = "modelgate")]
    pub redis_prefix: String,
    /// Milliseconds a request waits for Redis before counting its limits on this node.
    #[arg(long, env = "MODELGATE_REDIS_TIMEOUT_MS", default_value_t = 200)]
    pub redis_timeout_ms: u64,
    /// Serve no web console at `/` of the control-plane address (the API is unchanged).
    #[arg(long = "no-console")]
    pub no_console: bool,
    /// Whether the control-plane address serves the web console at `/` (`false` turns it off,
    /// as `--no-console` does). Inference-role nodes never serve it.
    #[arg(long = "console", env = "MODELGATE_CONSOLE", default_value_t = true, action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(), hide = true)]
    pub console: bool,
    /// The clock of token windows (tests replace it).
    #[arg(skip)]
    pub clock: Option<std::sync::Arc<dyn modelgate_inference::Clock>>,
}

impl ServeArgs {
    /// Defaults for a node whose data lives in `data_dir`, listening on ephemeral loopback ports.
    pub fn ephemeral(data_dir: PathBuf) -> ServeArgs {
        ServeArgs {
            role: Role::All,
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            run_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database_url: None,
            public_run_url: None,
            master_key: None,
            previous_master_keys: Vec::new(),
            bootstrap_api_key: None,
            log_format: LogFormat::Text,
            max_body_bytes: modelgate_control_plane::DEFAULT_MAX_BODY_BYTES,
            access_token_ttl: modelgate_control_plane::DEFAULT_TOKEN_TTL_SECONDS,
            connect_timeout: 10,
            first_byte_timeout: 300,
            idle_timeout: 120,
            header_timeout: 75,
            body_timeout: 30,
            max_inflight_body_bytes: modelgate_body::DEFAULT_BUDGET_BYTES,
            drain_timeout: 30,
            location_country: None,
            location_continent: None,
            location: None,
            resync_interval: 30,
            usage_retention_days: 90,
            usage_queue_size: modelgate_store::UsageWriter::DEFAULT_CAPACITY,
            usage_spool_dir: None,
            usage_spool_max_bytes: modelgate_store::UsageWriter::DEFAULT_SPOOL_MAX_BYTES,
            redis_url: None,
            redis_prefix: "modelgate".to_string(),
            prices_file: None,
            redis_timeout_ms: 200,
            no_console: false,
            console: true,
            clock: None,
        }
    }

    /// Whether this node serves the web console: a control-plane node, unless turned off.
    pub fn serves_console(&self) -> bool {
        self.role != Role::Inference && self.console && !self.no_console
    }

    /// The deadline for a request's headers; `None` (0) waits forever.
    pub fn header_timeout(&self) -> Option<std::time::Duration> {
        (self.header_timeout > 0).then(|| std::time::Duration::from_secs(self.header_timeout))
    }

    /// The interval of full snapshot resyncs.
    pub fn resync_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.resync_interval.max(1))
    }

    /// How long a request waits for Redis.
    pub fn redis_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.redis_timeout_ms.max(1))
    }

    /// How long a request body may take to arrive; `None` waits for ever.
    pub fn body_timeout(&self) -> Option<std::time::Duration> {
        (self.body_timeout > 0).then(|| std::time::Duration::from_secs(self.body_timeout))
    }

    /// The timeouts of upstream calls.
    pub fn timeouts(&self) -> modelgate_inference::Timeouts {
        use std::time::Duration;
        modelgate_inference::Timeouts {
            connect: Duration::from_secs(self.connect_timeout.max(1)),
            first_byte: Duration::from_secs(self.first_byte_timeout.max(1)),
            idle: Duration::from_secs(self.idle_timeout.max(1)),
        }
    }

    /// How usage records are queued and where they are spooled: nodes that run the inference
    /// plane (the only ones recording usage) spool to the spool directory, by default the data
    /// directory; a control node has no spool (it would replay another process's).
    pub fn usage_writer(&self) -> modelgate_store::UsageWriterSettings {
        let spool_dir = match self.role {
            Role::Control => None,
            Role::All | Role::Inference => Some(self.usage_spool_dir.clone().unwrap_or_else(|| self.data_dir.clone())),
        };
        modelgate_store::UsageWriterSettings {
            capacity: self.usage_queue_size,
            spool_dir,
            spool_max_bytes: self.usage_spool_max_bytes,
            ..modelgate_store::UsageWriterSettings::default()
        }
    }

    /// The database URL to open: `sqlite:` or `postgres:`/`postgresql:` as given, else the
    /// default SQLite file in the data directory (created if needed). The data directory still
    /// holds the master key file with PostgreSQL.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) if ["sqlite:", "postgres:", "postgresql:"].iter().any(|scheme| url.starts_with(scheme)) => {
                Ok(url.clone())
            }
            // Only the scheme: the rest of a URL may hold a password.
            Some(other) => anyhow::bail!(
                "unsupported database URL scheme '{}': use sqlite://path/to/modelgate.db or postgres://user@host:5432/db",
                other.split_once(':').map_or("", |(scheme, _)| scheme)
            ),
            None => {
                create_private_dir(&self.data_dir)?;
                Ok(format!("sqlite://{}", self.data_dir.join("modelgate.db").display()))
            }
        }
    }
}

/// Creates a directory readable only by its owner (it holds the key file and the database).
pub(crate) fn create_private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).with_context(|| format!("cannot create data directory {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<String> {
        let mut args = ServeArgs::ephemeral(dir.join("data"));
        args.database_url = url.map(str::to_string);
        args.database_url()
    }

    #[test]
    fn database_urls_of_both_engines_are_taken_as_given() {
        let dir = tempfile::tempdir().unwrap();
        for url in
            ["sqlite:///tmp/x.db", "postgres://u:p@db:5432/modelgate", "postgresql://db/modelgate?sslmode=require"]
        {
            assert_eq!(with_url(dir.path(), Some(url)).unwrap(), url);
        }
        assert!(!dir.path().join("data").exists(), "a given URL needs no data directory yet");
        let default = with_url(dir.path(), None).unwrap();
        assert_eq!(default, format!("sqlite://{}", dir.path().join("data").join("modelgate.db").display()));
        assert!(dir.path().join("data").is_dir(), "the default creates the data directory");
    }

    #[test]
    fn usage_spools_in_the_data_directory_unless_told_and_never_on_a_control_node() {
        let mut args = ServeArgs::ephemeral(PathBuf::from("/var/lib/modelgate"));
        let settings = args.usage_writer();
        assert_eq!(settings.spool_dir.as_deref(), Some(std::path::Path::new("/var/lib/modelgate")));
        assert_eq!((settings.capacity, settings.spool_max_bytes), (10_000, 1 << 30));
        args.usage_spool_dir = Some(PathBuf::from("/spool"));
        args.usage_queue_size = 50;
        let settings = args.usage_writer();
        assert_eq!((settings.spool_dir.as_deref(), settings.capacity), (Some(std::path::Path::new("/spool")), 50));
        args.role = Role::Control;
        assert_eq!(args.usage_writer().spool_dir, None);
    }

    #[test]
    fn the_console_is_served_by_control_nodes_unless_turned_off() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parse = |flags: &[&str]| {
            let argv = std::iter::once("modelgate").chain(flags.iter().copied());
            <Cli as clap::Parser>::try_parse_from(argv).unwrap().serve.serves_console()
        };
        assert!(parse(&[]));
        assert!(parse(&["--role", "control"]));
        assert!(!parse(&["--no-console"]));
        // MODELGATE_CONSOLE=false sets this hidden flag's value.
        assert!(!parse(&["--console", "false"]));
        assert!(!parse(&["--role", "inference"]), "inference nodes never serve it");
    }

    #[test]
    fn other_schemes_are_refused_without_echoing_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let error = with_url(dir.path(), Some("mysql://root:hunter2@db/x")).unwrap_err().to_string();
        assert!(error.contains("'mysql'"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
