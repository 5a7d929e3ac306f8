//! Assembles a modelgate node: reads the configuration, opens the store, loads the master
//! key, bootstraps the first workspace and admin key, and runs both planes until shutdown.

mod bootstrap;
mod config;
mod master_key;
mod prices;
mod rotation;
mod serve;
mod starting;

pub use bootstrap::BOOTSTRAP_WORKSPACE;
pub use config::{LogFormat, Role, ServeArgs};
pub use rotation::rotate_master_key;

use anyhow::Context;
use modelgate_control_plane::{ConfigChange, ConfigListener, ControlPlane};
use modelgate_domain::secret_box::Keyring;
use modelgate_domain::usage::UsageRecord;
use modelgate_inference::{InferencePlane, NodeLocation, RedisState, SnapshotHandle, UsageSink};
use modelgate_store::{ChangeFeed, ChangeFeedStore, Store, StoreError, StoreHealth, UsageStore};
use modelgate_store::{UsageWriter, UsageWriterTask};
use prices::Prices;
use serve::Plane;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started node; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// Where the control plane listens (useful when started on port 0); on an inference node,
    /// where health and metrics are served.
    pub api_addr: SocketAddr,
    /// Where the inference plane listens; `None` on a control-plane node.
    pub run_addr: Option<SocketAddr>,
    /// The admin API key created on first start, to be shown once; `None` on later starts or
    /// when `MODELGATE_BOOTSTRAP_API_KEY` gave it (or printed by the node itself when the
    /// store answered only after `start` returned).
    pub bootstrap_api_key: Option<String>,
    stop: watch::Sender<bool>,
    /// Serves until stopped, then shuts the node down; ends early only if a start continued in
    /// the background fails for good.
    node: JoinHandle<anyhow::Result<()>>,
}

/// A started node's parts that shutdown needs.
struct Serving {
    /// The listeners: in-flight requests finish at shutdown.
    planes: Vec<JoinHandle<std::io::Result<()>>>,
    /// The snapshot's refresh, usage retention and the store's probe: ended at shutdown even in
    /// the middle of a query the store does not answer (packets dropped), which would otherwise
    /// hold the shutdown forever.
    background: Vec<JoinHandle<std::io::Result<()>>>,
    store: Arc<dyn Store>,
    usage_task: UsageWriterTask,
}

/// Longest wait for the store's connections to close at shutdown.
const STORE_CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Serving {
    /// Runs until `stop`, then lets in-flight requests finish and closes the store.
    async fn run_until(self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let _ = stop.wait_for(|stopped| *stopped).await;
        for plane in self.planes {
            plane.await.context("a listener task failed")?.context("a listener failed")?;
        }
        for task in self.background {
            task.abort();
            let _ = task.await;
        }
        // In-flight requests are done: write their usage before the store closes.
        self.usage_task.shutdown().await;
        if tokio::time::timeout(STORE_CLOSE_TIMEOUT, self.store.close()).await.is_err() {
            tracing::warn!("the store's connections did not close within 5 s; exiting without waiting for them");
        }
        Ok(())
    }
}

/// Rebuilds the inference plane's snapshot after a control-plane change.
/// Rebuilds this node's snapshot, then tells the other nodes sharing the database.
struct SnapshotReloader {
    snapshot: Arc<SnapshotHandle>,
    store: Arc<dyn ChangeFeedStore>,
}

#[async_trait::async_trait]
impl ConfigListener for SnapshotReloader {
    async fn changed(&self, change: ConfigChange) {
        apply(&self.snapshot, &change).await;
        if let Err(error) = self.store.announce_change(&change).await {
            tracing::warn!(%error, "other nodes could not be told of a change; they catch up at their next resync");
        }
    }
}

async fn apply(snapshot: &SnapshotHandle, change: &ConfigChange) {
    if let Err(error) = snapshot.apply(change).await {
        tracing::error!(%error, "the route snapshot could not be rebuilt; the previous one stays in use");
    }
}

/// First wait before reopening a change feed that could not be opened; it doubles on every failure
/// up to [`FEED_RETRY_MAX`]. A feed that breaks is reopened at once.
const FEED_RETRY_MIN: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest wait between two attempts to reopen the change feed (a database outage).
const FEED_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(8);

/// Whether this node hears of other nodes' changes, for readiness.
#[derive(Default)]
struct FeedStatus(std::sync::atomic::AtomicU8);

impl FeedStatus {
    /// The store has no change feed (an embedded store), or none was opened yet.
    const NONE: u8 = 0;
    /// The feed is open, and the snapshot caught up when it opened.
    const LISTENING: u8 = 1;
    /// The feed broke or could not be opened; it is being reopened.
    const REOPENING: u8 = 2;

    fn set(&self, status: u8) {
        self.0.store(status, std::sync::atomic::Ordering::Relaxed);
    }

    fn describe(&self) -> &'static str {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            FeedStatus::LISTENING => "listening",
            FeedStatus::REOPENING => "reopening",
            _ => "none",
        }
    }
}

/// What the change feed did.
enum FeedEvent {
    /// An attempt to open the feed ended (`None`: the engine has no feed).
    Opened(Result<Option<ChangeFeed>, StoreError>),
    /// The open feed delivered an announcement, or broke.
    Announced(Result<ConfigChange, StoreError>),
}

/// Keeps the snapshot current with changes made through other nodes: every announcement on the
/// store's change feed (PostgreSQL LISTEN) is applied, and a full resync runs every `every` as a
/// safety net (and is all an embedded store read by a separate inference process gets; one
/// written only through this process skips it unless an update failed). A feed that breaks (database restart,
/// network cut) is reopened, with a growing wait while that fails; announcements made while no
/// feed was open are lost, so each (re)opening is followed by a full rebuild.
fn spawn_refresh(
    snapshot: Arc<SnapshotHandle>,
    store: Arc<dyn ChangeFeedStore>,
    every: std::time::Duration,
    sole_writer: bool,
    status: Arc<FeedStatus>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    use tokio::time::Instant;
    tokio::spawn(async move {
        let mut feed: Option<ChangeFeed> = None;
        let mut engine_has_feed = true;
        let mut retry_at = Instant::now();
        let mut retry_wait = FEED_RETRY_MIN;
        let mut resync = tokio::time::interval(every);
        resync.tick().await;
        loop {
            let event = async {
                match feed.as_mut() {
                    Some(feed) => FeedEvent::Announced(feed.next().await),
                    None if engine_has_feed => {
                        tokio::time::sleep_until(retry_at).await;
                        FeedEvent::Opened(store.subscribe_changes().await)
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = async { stop.wait_for(|stopped| *stopped).await.map(|_| ()) } => return Ok(()),
                _ = resync.tick() => {
                    // An embedded store that only this process writes: every change was applied as
                    // it was made, so a full rebuild (all rows read, a second snapshot built beside
                    // the one serving) is only needed to repair an update that failed.
                    if sole_writer && !engine_has_feed && !snapshot.is_stale() {
                        snapshot.confirm_current().await;
                    } else {
                        apply(&snapshot, &ConfigChange::Everything).await;
                    }
                }
                event = event => match event {
                    FeedEvent::Announced(Ok(change)) => apply(&snapshot, &change).await,
                    FeedEvent::Announced(Err(error)) => {
                        tracing::warn!(%error, "the change feed broke; reopening it");
                        status.set(FeedStatus::REOPENING);
                        feed = None;
                        retry_at = Instant::now();
                        retry_wait = FEED_RETRY_MIN;
                    }
                    FeedEvent::Opened(Ok(Some(opened))) => {
                        feed = Some(opened);
                        retry_wait = FEED_RETRY_MIN;
                        // Catch up with what was announced while no feed was open.
                        apply(&snapshot, &ConfigChange::Everything).await;
                        status.set(FeedStatus::LISTENING);
                    }
                    FeedEvent::Opened(Ok(None)) => {
                        engine_has_feed = false;
                        status.set(FeedStatus::NONE);
                    }
                    FeedEvent::Opened(Err(error)) => {
                        status.set(FeedStatus::REOPENING);
                        tracing::warn!(
                            %error,
                            retry_in_seconds = retry_wait.as_secs(),
                            "cannot listen for configuration changes; retrying, and the periodic resync still runs"
                        );
                        retry_at = Instant::now() + retry_wait;
                        retry_wait = (retry_wait * 2).min(FEED_RETRY_MAX);
                    }
                },
            }
        }
    })
}

/// Usage records into the batch writer.
struct StoreUsage(UsageWriter);

impl UsageSink for StoreUsage {
    fn record(&self, record: UsageRecord) {
        self.0.record(record);
    }
}

impl RunningServer {
    /// Stops accepting connections, lets in-flight requests finish and closes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.node.await.context("the node's task failed")?
    }

    /// Completes only if the node stops by itself: its store did not answer at start, and when
    /// it did, the rest of the start failed (a migration, say). Not to be followed by
    /// [`RunningServer::shutdown`]: the node is already down.
    pub async fn failed(&mut self) -> anyhow::Error {
        match (&mut self.node).await {
            Ok(Err(error)) => error,
            Ok(Ok(())) => anyhow::anyhow!("the node stopped"),
            Err(error) => anyhow::Error::new(error).context("the node's task failed"),
        }
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the {what}"))
}

/// The deadlines of both planes' client connections.
fn connection_times(args: &ServeArgs) -> serve::ConnectionTimes {
    serve::ConnectionTimes {
        header_timeout: args.header_timeout(),
        drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
    }
}

fn spawn_plane(
    listener: TcpListener,
    plane: Plane,
    times: serve::ConnectionTimes,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tokio::spawn(serve::serve(listener, plane, times, stopped))
}

/// Deletes usage records older than the retention, at start and every hour, so the table does
/// not grow without bound.
fn spawn_usage_retention(
    store: Arc<dyn UsageStore>,
    days: u64,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        if days == 0 {
            return Ok(());
        }
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = async { stop.wait_for(|stopped| *stopped).await.map(|_| ()) } => return Ok(()),
                _ = hourly.tick() => {
                    let keep = i64::try_from(days).unwrap_or(i64::MAX / 86_400_000_000).saturating_mul(86_400_000_000);
                    let before = modelgate_domain::timestamp::now_micros().saturating_sub(keep);
                    match store.delete_usage_before(before).await {
                        Ok(0) => {}
                        Ok(deleted) => tracing::info!(deleted, days, "expired old usage records"),
                        Err(error) => tracing::warn!(%error, "usage retention could not run; retrying in an hour"),
                    }
                }
            }
        }
    })
}

/// What an inference node's API address serves: liveness, and readiness that reflects the
/// snapshot, the store (as its health probe last saw it: answered at once whatever the store
/// does), the change feed and the master key. A node keeps serving known routes through a store
/// outage, so readiness stays 200 (`"store": "unreachable"`, `"changeFeed": "reopening"`) until
/// its snapshot is older than ten resync intervals, then turns 503 (`"status": "stale"`). A
/// master key that opens none of the stored secrets is 503 (`"secrets"` says so).
fn inference_node_admin(
    store_health: Arc<StoreHealth>,
    not_ready_because: Option<String>,
    inference: Arc<InferencePlane>,
    feed: Arc<FeedStatus>,
    resync: std::time::Duration,
) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let ready = move || {
        let age = inference.snapshot.get().built_at.and_then(|t| t.elapsed().ok()).unwrap_or_default();
        let limits = match inference.limiter.redis_state() {
            RedisState::NotConfigured => "per node",
            RedisState::Up => "shared through Redis",
            RedisState::Down => "per node: Redis unreachable",
        };
        let fresh = age < resync * 10;
        let body = serde_json::json!({"status": if fresh { "ready" } else { "stale" },
            "snapshotAgeSeconds": age.as_secs_f64(), "store": if store_health.is_up() { "ok" } else { "unreachable" },
            "changeFeed": feed.describe(), "limits": limits,
            "secrets": not_ready_because.as_deref().unwrap_or("ok")});
        let status =
            if fresh && not_ready_because.is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        std::future::ready((status, axum::Json(body)))
    };
    axum::Router::new()
        .route("/v0/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/v0/ready", get(ready))
}

/// Opens the store, which applies any pending migrations (under PostgreSQL's advisory lock), and
/// closes it: `modelgate migrate`, for deployments that migrate before rolling nodes.
pub async fn migrate(args: &ServeArgs) -> anyhow::Result<()> {
    let store = modelgate_store_sql::open(&args.database_url()?).await.context("cannot open the store")?;
    store.close().await;
    Ok(())
}

/// Prints the admin API key created on first start, on stdout and never in the log: the only
/// time it is shown.
pub fn print_bootstrap_api_key(key: &str) {
    println!(
        "Created workspace '{BOOTSTRAP_WORKSPACE}' and an admin API key. It is shown only this once; store it now:"
    );
    println!();
    println!("    {key}");
    println!();
}

/// What the store gave a starting node.
struct Prepared {
    store: Arc<dyn Store>,
    bootstrap_api_key: Option<String>,
    snapshot: SnapshotHandle,
    /// A master key that opens none of the stored secrets.
    not_ready_because: Option<String>,
}

/// Opens the store, bootstraps it and builds the route snapshot.
async fn prepare(
    database_url: String,
    bootstrap_api_key: Option<String>,
    keyring: Keyring,
    prices: &Prices,
) -> anyhow::Result<Prepared> {
    let store = modelgate_store_sql::open(&database_url).await.context("cannot open the store")?;
    match prepare_opened(store.clone(), bootstrap_api_key, keyring, prices).await {
        Ok((bootstrap_api_key, snapshot, not_ready_because)) => {
            Ok(Prepared { store, bootstrap_api_key, snapshot, not_ready_because })
        }
        Err(error) => {
            store.close().await;
            Err(error)
        }
    }
}

/// [`prepare`] once the store is open.
async fn prepare_opened(
    store: Arc<dyn Store>,
    bootstrap_api_key: Option<String>,
    keyring: Keyring,
    prices: &Prices,
) -> anyhow::Result<(Option<String>, SnapshotHandle, Option<String>)> {
    let created_key = bootstrap::run(store.as_ref(), bootstrap_api_key.as_deref()).await?;
    let not_ready_because = match master_key::check_opens_stored_secrets(store.as_ref(), &keyring).await {
        Ok(reason) => reason,
        Err(error @ StoreError::Unavailable(_)) => return Err(error.into()),
        // A check that cannot run must not keep a node from serving what it can.
        Err(error) => {
            tracing::warn!(%error, "could not check that the master key opens the stored secrets");
            None
        }
    };
    let snapshot =
        SnapshotHandle::load(store, keyring, prices.current()?).await.context("cannot build the route snapshot")?;
    Ok((created_key, snapshot, not_ready_because))
}

/// Whether `error` is the store not answering, which waiting may cure (not a wrong URL, a
/// failed migration or a refused file).
fn store_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| matches!(cause.downcast_ref::<StoreError>(), Some(StoreError::Unavailable(_))))
}

/// The listeners of a starting node.
struct Listeners {
    api: TcpListener,
    run: Option<TcpListener>,
}

/// Starts a node with `args` and returns once its planes are listening. When the store does not
/// answer, it returns at once too: the node then answers health and readiness (503) and
/// retries in the background (see [`starting`]).
pub async fn start(args: ServeArgs) -> anyhow::Result<RunningServer> {
    let database_url = args.database_url()?;
    let keyring = master_key::load_keyring(args.master_key.as_deref(), &args.previous_master_keys, &args.data_dir)?;
    let redis = match &args.redis_url {
        Some(url) => Some(
            modelgate_inference::RedisCounters::new(url, &args.redis_prefix, args.redis_timeout())
                .context("invalid MODELGATE_REDIS_URL")?,
        ),
        None => None,
    };
    let listeners = Listeners {
        api: bind(args.api_addr, "control plane").await?,
        run: match args.role {
            Role::Control => None,
            Role::All | Role::Inference => Some(bind(args.run_addr, "inference plane").await?),
        },
    };
    let api_addr = listeners.api.local_addr()?;
    let run_addr = listeners.run.as_ref().map(TcpListener::local_addr).transpose()?;
    let (stop, stopped) = watch::channel(false);
    // A price file that cannot be used stops the start here, naming the file and the field.
    let prices = Arc::new(Prices::new(args.prices_file.clone())?);
    prices.current()?;
    prices::take_over_hangups();
    let prepared = prepare(database_url.clone(), args.bootstrap_api_key.clone(), keyring.clone(), &prices).await;
    let (node, bootstrap_api_key) = match prepared {
        Ok(mut prepared) => {
            let bootstrap_api_key = prepared.bootstrap_api_key.take();
            let serving = serve_node(&args, keyring, redis, prices, prepared, listeners, stopped.clone())?;
            (tokio::spawn(serving.run_until(stopped)), bootstrap_api_key)
        }
        Err(error) if store_unreachable(&error) => {
            tracing::error!(error = %format!("{error:#}"), "the store is unreachable; serving health and readiness (503) while retrying");
            let start = start_when_store_answers(database_url, args, keyring, redis, prices, listeners, stopped);
            (tokio::spawn(start), None)
        }
        Err(error) => return Err(error),
    };
    Ok(RunningServer { api_addr, run_addr, bootstrap_api_key, stop, node })
}

/// Serves the waiting answers and retries [`prepare`] with a growing wait while the store does
/// not answer; then serves the node until `stop`.
async fn start_when_store_answers(
    database_url: String,
    args: ServeArgs,
    keyring: Keyring,
    redis: Option<modelgate_inference::RedisCounters>,
    prices: Arc<Prices>,
    listeners: Listeners,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let waiting = starting::Waiting::new();
    let planes =
        starting::serve_while_waiting(&listeners.api, listeners.run.as_ref(), &waiting, connection_times(&args))?;
    let retrying =
        retry_prepare(database_url, args.bootstrap_api_key.clone(), keyring.clone(), &prices, waiting, stop.clone());
    let prepared = retrying.await;
    planes.stop().await?;
    let Some(prepared) = prepared else {
        return Ok(()); // stopped while waiting
    };
    let mut prepared = prepared?;
    tracing::info!("the store answers; the node starts serving");
    if let Some(key) = prepared.bootstrap_api_key.take() {
        print_bootstrap_api_key(&key);
    }
    let stopped = stop.clone();
    serve_node(&args, keyring, redis, prices, prepared, listeners, stopped)?.run_until(stop).await
}

/// [`prepare`] until it succeeds or fails for another reason than an unreachable store; `None`
/// if stopped first.
async fn retry_prepare(
    database_url: String,
    bootstrap_api_key: Option<String>,
    keyring: Keyring,
    prices: &Prices,
    waiting: starting::Waiting,
    mut stop: watch::Receiver<bool>,
) -> Option<anyhow::Result<Prepared>> {
    let mut wait = starting::RETRY_MIN;
    loop {
        waiting.retrying_in(wait);
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return None,
            () = tokio::time::sleep(wait) => {}
        }
        waiting.attempting();
        match prepare(database_url.clone(), bootstrap_api_key.clone(), keyring.clone(), prices).await {
            Err(error) if store_unreachable(&error) => {
                wait = (wait * 2).min(starting::RETRY_MAX);
                tracing::warn!(error = %format!("{error:#}"), retry_in_seconds = wait.as_secs(), "the store is still unreachable");
            }
            done => return Some(done),
        }
    }
}

/// Builds both planes on what [`prepare`] gave and serves them on `listeners` until `stopped`.
fn serve_node(
    args: &ServeArgs,
    keyring: Keyring,
    redis: Option<modelgate_inference::RedisCounters>,
    prices: Arc<Prices>,
    prepared: Prepared,
    listeners: Listeners,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<Serving> {
    let Prepared { store, snapshot, not_ready_because, .. } = prepared;
    let api_addr = listeners.api.local_addr()?;
    let run_addr = listeners.run.as_ref().map(TcpListener::local_addr).transpose()?;
    let public_run_url =
        args.public_run_url.clone().unwrap_or_else(|| format!("http://{}", run_addr.unwrap_or(args.run_addr)));

    let snapshot = Arc::new(snapshot);
    let (usage_writer, usage_task) = UsageWriter::spawn(store.clone(), args.usage_writer());
    let location = NodeLocation {
        country: args.location_country.clone(),
        continent: args.location_continent.clone(),
        location: args.location.clone(),
    };
    let usage_counters = usage_writer.clone();
    let mut inference =
        InferencePlane::new(snapshot.clone(), Arc::new(StoreUsage(usage_writer)), args.timeouts(), location);
    // One budget of body bytes for both planes: what a node holds of request bodies at once.
    let body_budget = modelgate_body::BodyBudget::new(args.max_inflight_body_bytes);
    inference.body_limits.timeout = args.body_timeout();
    inference.body_limits.budget = body_budget.clone();
    if let Some(clock) = &args.clock {
        inference.clock = clock.clone();
    }
    if let Some(counters) = redis {
        let fallbacks = inference.metrics.limit_local_fallbacks();
        inference.limiter = modelgate_inference::Limiter::shared(counters, fallbacks, inference.clock.clone());
        tracing::info!("maxToken and rate-limit windows are shared through Redis");
    }
    let console = match args.serves_console() {
        true => Some(
            modelgate_control_plane::Playground::new(
                &playground_run_url(run_addr, &public_run_url),
                price_of_route(snapshot.clone()),
            )
            .context("cannot build the console's HTTP client")?,
        ),
        false => None,
    };
    let store_health = Arc::new(StoreHealth::new(true));
    let feed_status = Arc::new(FeedStatus::default());
    let control_plane = Arc::new(ControlPlane {
        store: store.clone(),
        keyring,
        public_run_url,
        body_limits: modelgate_body::BodyLimits {
            max_bytes: args.max_body_bytes,
            timeout: args.body_timeout(),
            budget: body_budget,
        },
        token_ttl_seconds: args.access_token_ttl,
        auth_throttle: Default::default(),
        listener: Some(Arc::new(SnapshotReloader { snapshot: snapshot.clone(), store: store.clone() })),
        store_health: store_health.clone(),
        not_ready_because: not_ready_because.clone(),
        console,
    });
    let inference = Arc::new(inference);
    let metrics_source = inference.clone();
    // Prometheus scrapes the control-plane listener, which is meant to stay internal.
    let metrics = axum::routing::get(move || {
        let text = metrics_source.render_metrics(usage_counters.stats());
        async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text) }
    });
    let control_app = match args.role {
        Role::All | Role::Control => {
            let console = control_plane.console.is_some();
            let router = modelgate_control_plane::router(control_plane).route("/metrics", metrics);
            if console {
                router.merge(modelgate_console::router())
            } else {
                router
            }
        }
        Role::Inference => inference_node_admin(
            store_health.clone(),
            not_ready_because,
            inference.clone(),
            feed_status.clone(),
            args.resync_interval(),
        )
        .route("/metrics", metrics),
    };
    let panics_counted = inference.clone();
    let control_app = modelgate_control_plane::catch_panics(
        control_app,
        Arc::new(move || panics_counted.metrics.handler_panicked("control")),
    );
    let times = connection_times(args);
    let mut planes = vec![spawn_plane(listeners.api, Plane::Control(control_app), times, stopped.clone())];
    if let Some(run_listener) = listeners.run {
        let inference = Plane::Inference(modelgate_inference::app(inference));
        planes.push(spawn_plane(run_listener, inference, times, stopped.clone()));
    }
    let mut background = vec![spawn_store_health(store_health, store.clone(), stopped.clone())];
    if args.role != Role::Inference {
        background.push(spawn_usage_retention(store.clone(), args.usage_retention_days, stopped.clone()));
    }
    // With `--role all`, this process's control plane makes every change (on an embedded store).
    let sole_writer = args.role == Role::All;
    background.push(prices.spawn_reload(snapshot.clone(), stopped.clone()));
    background.push(spawn_refresh(snapshot, store.clone(), args.resync_interval(), sole_writer, feed_status, stopped));
    tracing::info!(%api_addr, ?run_addr, role = ?args.role, data_dir = %args.data_dir.display(), "modelgate is serving");
    Ok(Serving { planes, background, store, usage_task })
}

/// A model endpoint's price as its route has it (`spec.price`, else the catalogue's): what the
/// console's playground prices an answer with, as the usage record is.
fn price_of_route(snapshot: Arc<SnapshotHandle>) -> modelgate_control_plane::PriceOf {
    Arc::new(move |workspace, model| snapshot.get().route(workspace, model).and_then(|route| route.price))
}

/// Where the console's playground reaches the inference plane: this node's own listener when
/// it runs one (on loopback when it listens on every address), else the public run URL.
fn playground_run_url(run_addr: Option<SocketAddr>, public_run_url: &str) -> String {
    match run_addr {
        Some(mut addr) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{addr}")
        }
        None => public_run_url.to_string(),
    }
}

/// Keeps `health` current (see [`StoreHealth::watch`]) until `stop`.
fn spawn_store_health(
    health: Arc<StoreHealth>,
    store: Arc<dyn Store>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => {}
            () = health.watch(store.as_ref()) => {}
        }
        Ok(())
    })
}
