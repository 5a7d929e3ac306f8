//! PostgreSQL, for several nodes sharing one database (the schema is the connection's
//! `search_path`). Where SQLite relies on its single writer, reads inside a write transaction
//! lock the rows they read ([`row_lock`]); the configuration is read in a `REPEATABLE READ`
//! transaction; changes are announced with `NOTIFY` and heard with `LISTEN`.
//!
//! Migrations run at open under sqlx's migrator lock, a session-level `pg_advisory_lock` keyed
//! by the database name, on a connection of their own (a pool of one) that is closed afterwards: nodes that
//! start together migrate one at a time, and the lock is released even if a migration fails.

use crate::engine::{database, RowLock};
use crate::usage::UsageInserts;
use async_trait::async_trait;
use modelgate_store::{ChangeFeed, ChangeSource, ConfigChange, StoreError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

/// Most connections one node keeps to the database.
const MAX_CONNECTIONS: u32 = 10;

/// Longest wait for a pooled connection (or a new one); beyond it the store is unavailable and
/// the control plane answers 503, within the 2 s it promises.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for the first connection at open: a database behind a network partition
/// accepts nothing and answers nothing, and a node starting then retries instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The channel configuration changes are announced on.
const CHANGE_CHANNEL: &str = "modelgate_config";

/// Connects to `url` (`postgres://user:password@host:5432/db?sslmode=require`) and runs the
/// embedded migrations. A schema other than `public` is chosen with
/// `?options=-c%20search_path%3Dname`.
pub(crate) async fn open(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(database)?;
    // The migration's own session, in a pool of one (sqlx's migrator holds one connection for
    // its whole run; on a `&mut PgConnection` its future is not `Send` for every lifetime, and a
    // server retrying its start spawns this).
    let connecting =
        PgPoolOptions::new().max_connections(1).acquire_timeout(CONNECT_TIMEOUT).connect_with(options.clone());
    let session = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| no_answer_within(CONNECT_TIMEOUT))?
        .map_err(database)?;
    let migrated = sqlx::migrate!("migrations/postgres").run(&session).await;
    // Closing the session releases the advisory lock, whatever the migration did.
    session.close().await;
    migrated.map_err(|e| StoreError::Migration(Box::new(e)))?;
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(database)
}

fn no_answer_within(wait: Duration) -> StoreError {
    let message = format!("PostgreSQL did not answer within {} s", wait.as_secs());
    StoreError::Unavailable(Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))
}

/// A read-only transaction whose reads all see one snapshot of the database.
pub(crate) async fn begin_consistent_read(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut read = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *read).await?;
    Ok(read)
}

/// Set in the usage API's reads: no JIT compilation, which took about 0.4 s per aggregate (its
/// bin expression), more than evaluating it over a million records.
pub(crate) const USAGE_READ_SETTINGS: &[&str] = &["SET LOCAL jit = off"];

/// `FOR UPDATE` or `FOR SHARE`, held until the transaction ends.
pub(crate) fn row_lock(lock: RowLock) -> &'static str {
    match lock {
        RowLock::Update => " FOR UPDATE",
        RowLock::Share => " FOR SHARE",
    }
}

/// Numbered `$n` placeholders, the only kind PostgreSQL has.
pub(crate) static USAGE_INSERTS: LazyLock<UsageInserts> = LazyLock::new(|| UsageInserts::new(|n| format!("${n}")));

/// `NOTIFY` with the change as payload.
pub(crate) async fn announce(pool: &PgPool, change: &ConfigChange) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGE_CHANNEL)
        .bind(change.to_payload())
        .execute(pool)
        .await
        .map_err(database)?;
    Ok(())
}

/// `LISTEN` on a connection of its own.
pub(crate) async fn subscribe(pool: &PgPool) -> Result<ChangeFeed, StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(database)?;
    // A lost connection ends the feed (see `ChangeFeed::next`) instead of being reopened here.
    listener.eager_reconnect(false);
    listener.listen(CHANGE_CHANNEL).await.map_err(database)?;
    Ok(ChangeFeed::new(Listening(listener)))
}

/// A `LISTEN`ing connection.
struct Listening(PgListener);

#[async_trait]
impl ChangeSource for Listening {
    async fn next(&mut self) -> Result<ConfigChange, StoreError> {
        match self.0.try_recv().await.map_err(database)? {
            Some(notification) => Ok(ConfigChange::from_payload(notification.payload())),
            None => Err(database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the connection listening for changes was lost",
            )))),
        }
    }
}
