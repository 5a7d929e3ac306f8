//! The prices a node meters with: the catalogue embedded in the binary, with the operator's
//! price file (`MODELGATE_PRICES_FILE`) merged over it. The file is read at start (a file that
//! cannot be used stops the start, naming the file and the field) and again whenever it changes
//! (its modification time or size, checked every [`POLL_INTERVAL`]) or the process receives
//! SIGHUP; a changed file that cannot be used is logged and the prices in use stay. New prices
//! reach the routes by a rebuild of the route snapshot, so requests keep reading a route's price,
//! never looking one up.

use anyhow::Context;
use modelgate_inference::SnapshotHandle;
use modelgate_providers::prices::PriceCatalogue;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the price file is checked for a change.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The embedded catalogue and, when given, the operator's file merged over it.
pub struct Prices {
    embedded: Arc<PriceCatalogue>,
    file: Option<PathBuf>,
}

impl Prices {
    /// Parses the embedded catalogue (once per process).
    pub fn new(file: Option<PathBuf>) -> anyhow::Result<Prices> {
        let embedded = PriceCatalogue::embedded().context("the embedded price catalogue cannot be read")?;
        Ok(Prices { embedded: Arc::new(embedded), file })
    }

    /// The prices to meter with now: blocking file I/O, run at start or on the blocking pool.
    pub fn current(&self) -> anyhow::Result<Arc<PriceCatalogue>> {
        let Some(path) = &self.file else { return Ok(self.embedded.clone()) };
        let merged = PriceCatalogue::clone(&self.embedded)
            .with_overrides(path)
            .with_context(|| format!("the price file {} cannot be used", path.display()))?;
        Ok(Arc::new(merged))
    }

    /// Watches the price file until `stop`, re-pricing `snapshot`'s routes when it changes or
    /// on SIGHUP (which, without a price file, is logged and otherwise ignored rather than ending
    /// the process).
    pub fn spawn_reload(
        self: Arc<Prices>,
        snapshot: Arc<SnapshotHandle>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<std::io::Result<()>> {
        tokio::spawn(async move {
            let Some(path) = self.file.clone() else {
                let mut hangups = hangups();
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
                        Some(()) = next_hangup(&mut hangups) => {
                            tracing::info!("SIGHUP: no price file to reload (MODELGATE_PRICES_FILE is not set)");
                        }
                    }
                }
            };
            let mut seen = file_version(&path).await;
            let mut hangups = hangups();
            let mut poll = tokio::time::interval(POLL_INTERVAL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let asked = tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
                    _ = poll.tick() => false,
                    Some(()) = next_hangup(&mut hangups) => true,
                };
                let version = file_version(&path).await;
                if !asked && version == seen {
                    continue;
                }
                seen = version;
                self.reload(&snapshot).await;
            }
        })
    }

    async fn reload(self: &Arc<Prices>, snapshot: &SnapshotHandle) {
        let prices = self.clone();
        let loaded = tokio::task::spawn_blocking(move || prices.current()).await;
        let catalogue = match loaded {
            Ok(Ok(catalogue)) => catalogue,
            Ok(Err(error)) => {
                return tracing::error!(error = %format!("{error:#}"), "prices not reloaded; the previous prices stay in use");
            }
            Err(error) => return tracing::error!(%error, "prices not reloaded"),
        };
        let entries = catalogue.len();
        match snapshot.set_prices(catalogue).await {
            Ok(()) => tracing::info!(entries, "prices reloaded"),
            Err(error) => {
                tracing::warn!(%error, "prices reloaded; routes take them at the next snapshot rebuild (the store did not answer)")
            }
        }
    }
}

/// What tells a file's versions apart without reading it: modification time and size (`None`
/// while it cannot be read, so its return counts as a change).
async fn file_version(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Takes SIGHUP over from its default action (ending the process) from the start, before the
/// node serves (while it waits for its store, say): tokio keeps a signal's handler installed
/// for the life of the process, and [`Prices::spawn_reload`] listens once the node serves.
pub fn take_over_hangups() {
    drop(hangups());
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .inspect_err(|error| tracing::warn!(%error, "SIGHUP cannot be listened to; the price file is still polled"))
        .ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

/// The next SIGHUP; never, without a listener.
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangups {
        return signal.recv().await;
    }
    let _ = hangups;
    std::future::pending().await
}
