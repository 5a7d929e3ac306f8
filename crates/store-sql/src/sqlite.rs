//! SQLite, the embedded engine (WAL), for one node. Writes go through a one-connection pool so
//! they never race each other for SQLite's single writer lock; reads use a separate pool and run
//! beside them. The single writer serializes write transactions, so reads inside them take no
//! row locks; only one node uses the file, so there is no change feed.

use crate::engine::RowLock;
use crate::usage::UsageInserts;
use modelgate_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

/// Page cache of each connection, in KiB.
const CACHE_KIB_PER_CONNECTION: u32 = 512;
/// Reading connections: reads are control-plane requests and snapshot rebuilds, never the hot path.
const READERS: u32 = 2;

/// The pools of one SQLite database file.
pub(crate) struct Pools {
    pub(crate) reader: SqlitePool,
    /// One connection: SQLite has a single writer.
    pub(crate) writer: SqlitePool,
}

impl Pools {
    /// Closes both pools, waiting for running queries.
    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db`) and runs the
/// embedded migrations. Every failure to open names the file.
pub(crate) async fn open(url: &str) -> Result<Pools, StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(crate::engine::database)?;
    let path = options.get_filename().to_path_buf();
    let in_memory = path.as_os_str().is_empty() || path.starts_with(":memory:") || url.contains("mode=memory");
    if !in_memory {
        create_private(&path)?;
        // SQLite creates the log beside the database when the first connection opens; made here,
        // a directory that refuses it is reported with the OS's reason, not SQLite's
        // "unable to open database file".
        let mut log = path.clone().into_os_string();
        log.push("-wal");
        create_private(Path::new(&log))?;
    }
    // A file that cannot be opened now will not open by waiting: never `Unavailable` (retried).
    open_pools(options).await.map_err(|error| match error {
        StoreError::Database(error) | StoreError::Unavailable(error) => at_path(&path, error),
        other => other,
    })
}

/// Creates `path`, if missing, readable and writable by this user alone. SQLite gives the log and
/// shared-memory files it creates beside a database the database file's mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|error| at_path(path, Box::new(error)))
}

/// `error` prefixed with the file it is about (said once: SQLite's own messages name no path).
fn at_path(path: &Path, error: modelgate_store::DatabaseError) -> StoreError {
    StoreError::Database(format!("SQLite database {}: {error}", path.display()).into())
}

async fn open_pools(options: SqliteConnectOptions) -> Result<Pools, StoreError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // SQLite's default page cache is 2 MiB per connection, filled by snapshot rebuilds and
        // usage batches; the OS caches the file anyway, so a small one costs little and keeps
        // the node's memory down.
        .pragma("cache_size", format!("-{CACHE_KIB_PER_CONNECTION}"));
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(crate::engine::database)?;
    sqlx::migrate!("migrations/sqlite").run(&writer).await.map_err(|e| StoreError::Migration(Box::new(e)))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        .connect_with(options.read_only(true))
        .await
        .map_err(crate::engine::database)?;
    Ok(Pools { reader, writer })
}

/// A read transaction: in WAL mode its first read fixes the snapshot every later read sees.
pub(crate) async fn begin_consistent_read(pools: &Pools) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pools.reader.begin().await
}

/// Nothing to set for the usage API's reads.
pub(crate) const USAGE_READ_SETTINGS: &[&str] = &[];

/// No clause: the single writer already keeps concurrent writes apart.
pub(crate) fn row_lock(_lock: RowLock) -> &'static str {
    ""
}

/// Anonymous `?` placeholders: SQLite looks a numbered `$n` up by name on every bind, a cost
/// that grows with the square of a 1,200-value statement.
pub(crate) static USAGE_INSERTS: LazyLock<UsageInserts> = LazyLock::new(|| UsageInserts::new(|_| "?".to_string()));
