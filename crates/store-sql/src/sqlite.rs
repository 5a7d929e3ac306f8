//! SQLite, the embedded engine (WAL), for one node. Writes go through a one-connection pool so
//! they never race each other for SQLite's single writer lock; reads use a separate pool and run
//! beside them. The single writer serializes write transactions, so reads inside them take no
//! row locks; only one node uses the file, so there is no change feed.

use crate::engine::RowLock;
use crate::usage::UsageInserts;
use modelgate_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
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
/// embedded migrations.
pub(crate) async fn open(url: &str) -> Result<Pools, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(crate::engine::database)?
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
