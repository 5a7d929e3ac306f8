//! modelgate's store on SQL: one implementation of the [`modelgate_store`] traits for SQLite
//! (embedded, one node) and PostgreSQL (nodes sharing a database). [`open`] picks the engine by
//! URL and runs its migrations (`migrations/sqlite`, `migrations/postgres`).
//!
//! Every behaviour is written once (`resources.rs`, `identity.rs`, `usage.rs`, `usage_report.rs`,
//! `console_sessions.rs`) as statements with `$n` placeholders, which both engines read; what
//! differs between the engines lives in one dialect module each (`sqlite.rs`, `postgres.rs`: pools, pragmas and migrations, the
//! consistent read, row locks, the change feed, the usage statements' placeholders), reached
//! through `engine.rs`, which also binds values and reads rows for either.

mod console_sessions;
mod engine;
mod identity;
mod latency_bins;
mod postgres;
mod resources;
mod rows;
mod sqlite;
mod statement;
mod usage;
mod usage_report;

use async_trait::async_trait;
use engine::Engine;
use modelgate_store::{ChangeFeed, ChangeFeedStore, ConfigChange, Store, StoreError};
use statement::Statement;
use std::sync::Arc;

/// Opens the store a database URL names: SQLite for `sqlite:` URLs, PostgreSQL for
/// `postgres:` and `postgresql:` URLs. Runs the engine's embedded migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::open(url).await?))
}

/// The store on one SQLite file or PostgreSQL database.
pub struct SqlStore {
    engine: Engine,
    /// The connection [`Store::probe`] pings, opened on first use and after a failed probe.
    probe: tokio::sync::Mutex<Option<engine::ProbeConnection>>,
}

impl SqlStore {
    /// Opens the database `url` names (see [`open`]).
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        Ok(SqlStore { engine: Engine::open(url).await?, probe: tokio::sync::Mutex::new(None) })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.engine.reader().await?.execute(Statement::new("SELECT 1")).await?;
        Ok(())
    }

    async fn probe(&self) -> Result<(), StoreError> {
        use sqlx::Connection;
        let mut slot = self.probe.lock().await;
        // Out of its slot while in use: a probe that fails, or is dropped by a timeout, drops
        // the connection with it, and the next probe connects afresh.
        let mut connection = match slot.take() {
            Some(connection) => connection,
            None => self.engine.connect_alone().await?,
        };
        match &mut connection {
            engine::ProbeConnection::Sqlite(connection) => connection.ping().await,
            engine::ProbeConnection::Postgres(connection) => connection.ping().await,
        }
        .map_err(engine::database)?;
        *slot = Some(connection);
        Ok(())
    }

    async fn close(&self) {
        self.probe.lock().await.take();
        self.engine.close().await;
    }
}

#[async_trait]
impl ChangeFeedStore for SqlStore {
    async fn announce_change(&self, change: &ConfigChange) -> Result<(), StoreError> {
        self.engine.announce(change).await
    }

    async fn subscribe_changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        self.engine.subscribe().await
    }
}
