//! The two engines behind one interface: where a statement runs (a pooled connection or a
//! transaction, on the reading or the writing side), how its values are bound and how its rows
//! are read. What each engine does its own way is in its dialect module (`sqlite.rs`,
//! `postgres.rs`); the SQL of every behaviour is written once, by the callers.

use crate::statement::{Param, Statement};
use crate::usage::UsageInserts;
use crate::{postgres, sqlite};
use futures_util::TryStreamExt;
use modelgate_store::{ChangeFeed, ConfigChange, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Arguments, ColumnIndex, Database, Decode, Encode, IntoArguments, Postgres, Sqlite, Transaction, Type};

/// An open database of either engine.
pub(crate) enum Engine {
    Sqlite(sqlite::Pools),
    Postgres(sqlx::PgPool),
}

/// A lock a read inside a write transaction takes on the rows it reads, until the transaction
/// ends. PostgreSQL takes them; SQLite's single writer already serializes writes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RowLock {
    /// The row is about to change: concurrent writes of it queue up instead of losing each other.
    Update,
    /// The row must stay: a concurrent delete of it waits until this transaction ends.
    Share,
}

/// A database error, kept whole for the log. One that says the database cannot be reached now
/// is [`StoreError::Unavailable`], which the control plane answers with 503 and `Retry-After`
/// and a starting node retries: no connection within the pool's acquire timeout, a refused or
/// broken connection (a connection closed mid-handshake reads as a protocol error), a closed
/// pool, or PostgreSQL saying so (SQLSTATE class 08, connection exceptions; 57P, shutting down
/// or starting up; 53300, too many connections).
pub(crate) fn database(error: sqlx::Error) -> StoreError {
    let unreachable = match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => {
            error.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300")
        }
        _ => false,
    };
    if unreachable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Database(Box::new(error))
    }
}

/// A connection of either engine outside the pools, kept by [`Engine::probe`].
pub(crate) enum ProbeConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Engine {
    /// Opens the database `url` names (by its scheme) and runs its engine's migrations.
    pub(crate) async fn open(url: &str) -> Result<Engine, StoreError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Engine::Sqlite(sqlite::open(url).await?)),
            "postgres" | "postgresql" => Ok(Engine::Postgres(postgres::open(url).await?)),
            // Only the scheme: the rest of a URL may hold a password.
            _ => Err(StoreError::UnsupportedUrl(scheme.to_string())),
        }
    }

    /// A connection for reads.
    pub(crate) async fn reader(&self) -> Result<Session, StoreError> {
        match self {
            Engine::Sqlite(pools) => pools.reader.acquire().await.map(|c| Session::Sqlite(Held::Pooled(c))),
            Engine::Postgres(pool) => pool.acquire().await.map(|c| Session::Postgres(Held::Pooled(c))),
        }
        .map_err(database)
    }

    /// A connection for a write made of one statement.
    pub(crate) async fn writer(&self) -> Result<Session, StoreError> {
        match self {
            Engine::Sqlite(pools) => pools.writer.acquire().await.map(|c| Session::Sqlite(Held::Pooled(c))),
            Engine::Postgres(pool) => pool.acquire().await.map(|c| Session::Postgres(Held::Pooled(c))),
        }
        .map_err(database)
    }

    /// A write transaction: [`Session::commit`] it, or drop it to roll back.
    pub(crate) async fn begin(&self) -> Result<Session, StoreError> {
        match self {
            Engine::Sqlite(pools) => pools.writer.begin().await.map(|t| Session::Sqlite(Held::Transaction(t))),
            Engine::Postgres(pool) => pool.begin().await.map(|t| Session::Postgres(Held::Transaction(t))),
        }
        .map_err(database)
    }

    /// A read transaction whose reads all see one snapshot of the database.
    pub(crate) async fn begin_consistent_read(&self) -> Result<Session, StoreError> {
        match self {
            Engine::Sqlite(pools) => {
                sqlite::begin_consistent_read(pools).await.map(|t| Session::Sqlite(Held::Transaction(t)))
            }
            Engine::Postgres(pool) => {
                postgres::begin_consistent_read(pool).await.map(|t| Session::Postgres(Held::Transaction(t)))
            }
        }
        .map_err(database)
    }

    /// A new connection outside the pools, for [`crate::SqlStore`]'s probe.
    pub(crate) async fn connect_alone(&self) -> Result<ProbeConnection, StoreError> {
        use sqlx::ConnectOptions;
        match self {
            Engine::Sqlite(pools) => pools.reader.connect_options().connect().await.map(ProbeConnection::Sqlite),
            Engine::Postgres(pool) => pool.connect_options().connect().await.map(ProbeConnection::Postgres),
        }
        .map_err(database)
    }

    /// A consistent read for the usage API's aggregates, with the engine's settings for them.
    pub(crate) async fn begin_usage_read(&self) -> Result<Session, StoreError> {
        let mut read = self.begin_consistent_read().await?;
        let settings = match self {
            Engine::Sqlite(_) => sqlite::USAGE_READ_SETTINGS,
            Engine::Postgres(_) => postgres::USAGE_READ_SETTINGS,
        };
        for setting in settings {
            read.execute(Statement::new(*setting)).await?;
        }
        Ok(read)
    }

    /// Closes the engine's pools, waiting for running queries.
    pub(crate) async fn close(&self) {
        match self {
            Engine::Sqlite(pools) => pools.close().await,
            Engine::Postgres(pool) => pool.close().await,
        }
    }

    /// Tells the other nodes sharing the database that the configuration changed.
    pub(crate) async fn announce(&self, change: &ConfigChange) -> Result<(), StoreError> {
        match self {
            // Only one node uses an SQLite file: nobody to tell.
            Engine::Sqlite(_) => Ok(()),
            Engine::Postgres(pool) => postgres::announce(pool, change).await,
        }
    }

    /// A feed of the other nodes' announcements, if the engine has one.
    pub(crate) async fn subscribe(&self) -> Result<Option<ChangeFeed>, StoreError> {
        match self {
            Engine::Sqlite(_) => Ok(None),
            Engine::Postgres(pool) => postgres::subscribe(pool).await.map(Some),
        }
    }

    /// The engine's usage `INSERT` statements.
    pub(crate) fn usage_inserts(&self) -> &'static UsageInserts {
        match self {
            Engine::Sqlite(_) => &sqlite::USAGE_INSERTS,
            Engine::Postgres(_) => &postgres::USAGE_INSERTS,
        }
    }

    /// Reads at most one row on a reading connection.
    pub(crate) async fn fetch_optional<T>(
        &self,
        statement: Statement<'_>,
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.reader().await?.fetch_optional(statement, read).await
    }

    /// Reads every row on a reading connection.
    pub(crate) async fn fetch_all<T>(
        &self,
        statement: Statement<'_>,
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.reader().await?.fetch_all(statement, read).await
    }

    /// Runs one writing statement; returns how many rows it changed.
    pub(crate) async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        self.writer().await?.execute(statement).await
    }

    /// Runs one `INSERT` of something new: a unique violation is `AlreadyExists`.
    pub(crate) async fn insert_new(&self, statement: Statement<'_>) -> Result<(), StoreError> {
        self.writer().await?.insert_new(statement).await
    }
}

/// A connection of either engine, pooled or in a transaction.
pub(crate) enum Session {
    Sqlite(Held<Sqlite>),
    Postgres(Held<Postgres>),
}

/// A connection taken from a pool, alone or with a transaction open on it.
pub(crate) enum Held<DB: Database> {
    Pooled(PoolConnection<DB>),
    Transaction(Transaction<'static, DB>),
}

impl<DB: Database> Held<DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        match self {
            Held::Pooled(connection) => connection,
            Held::Transaction(transaction) => transaction,
        }
    }
}

/// Runs `$body` with `$connection` bound to the session's connection, whatever its engine: the
/// same code, typed once per engine.
macro_rules! on_connection {
    ($session:expr, |$connection:ident| $body:expr) => {
        match $session {
            Session::Sqlite(held) => {
                let $connection = held.connection();
                $body
            }
            Session::Postgres(held) => {
                let $connection = held.connection();
                $body
            }
        }
    };
}

impl Session {
    /// The clause that takes `lock` on the rows a `SELECT` reads ("" where the engine needs none).
    pub(crate) fn lock(&self, lock: RowLock) -> &'static str {
        match self {
            Session::Sqlite(_) => sqlite::row_lock(lock),
            Session::Postgres(_) => postgres::row_lock(lock),
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement<'_>) -> Result<u64, StoreError> {
        on_connection!(self, |connection| {
            let done = bound(&statement)?.execute(&mut *connection).await.map_err(database)?;
            Ok(done.rows_affected())
        })
    }

    /// Runs an `INSERT` of something new: a unique violation is `AlreadyExists`.
    pub(crate) async fn insert_new(&mut self, statement: Statement<'_>) -> Result<(), StoreError> {
        let inserted = on_connection!(self, |connection| {
            bound(&statement)?.execute(&mut *connection).await.map(|done| done.rows_affected())
        });
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(StoreError::AlreadyExists),
            Err(error) => Err(database(error)),
        }
    }

    /// Reads at most one row.
    pub(crate) async fn fetch_optional<T>(
        &mut self,
        statement: Statement<'_>,
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        on_connection!(self, |connection| {
            let row = bound(&statement)?.fetch_optional(&mut *connection).await.map_err(database)?;
            row.as_ref().map(|row| read(row)).transpose()
        })
    }

    /// Reads exactly one row.
    pub(crate) async fn fetch_one<T>(
        &mut self,
        statement: Statement<'_>,
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        on_connection!(self, |connection| {
            let row = bound(&statement)?.fetch_one(&mut *connection).await.map_err(database)?;
            read(&row)
        })
    }

    /// Reads every row.
    pub(crate) async fn fetch_all<T>(
        &mut self,
        statement: Statement<'_>,
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        on_connection!(self, |connection| {
            let rows = bound(&statement)?.fetch_all(&mut *connection).await.map_err(database)?;
            rows.iter().map(|row| read(row)).collect()
        })
    }

    /// Reads the rows one at a time as they arrive, handing each to `each`: memory stays that of
    /// one row however many there are.
    pub(crate) async fn fetch_each(
        &mut self,
        statement: Statement<'_>,
        mut each: impl FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        on_connection!(self, |connection| {
            let mut rows = bound(&statement)?.fetch(&mut *connection);
            while let Some(row) = rows.try_next().await.map_err(database)? {
                each(&row)?;
            }
            Ok(())
        })
    }

    /// Commits the session's transaction (a session without one has nothing to commit).
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Session::Sqlite(Held::Transaction(transaction)) => transaction.commit().await.map_err(database),
            Session::Postgres(Held::Transaction(transaction)) => transaction.commit().await.map_err(database),
            Session::Sqlite(Held::Pooled(_)) | Session::Postgres(Held::Pooled(_)) => Ok(()),
        }
    }
}

/// `statement` as an sqlx query of the engine `DB`, its values bound in order (into arguments
/// sized once: a usage batch binds 1,200 values per statement).
fn bound<'q, DB: Database>(statement: &'q Statement<'_>) -> Result<Query<'q, DB, DB::Arguments<'q>>, StoreError>
where
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let params = statement.params();
    let mut arguments = DB::Arguments::default();
    arguments.reserve(params.len(), params.len() * std::mem::size_of::<i64>());
    for param in params {
        match param {
            Param::Text(text) => arguments.add(text.as_deref()),
            Param::Integer(value) => arguments.add(*value),
            Param::Integer32(value) => arguments.add(*value),
            Param::Boolean(value) => arguments.add(*value),
            Param::Bytes(bytes) => arguments.add(*bytes),
        }
        .map_err(|error| database(sqlx::Error::Encode(error)))?;
    }
    Ok(sqlx::query_with(statement.sql(), arguments))
}

/// A row of either engine, read by column name. A value of the wrong type or a missing column
/// is a database error.
pub(crate) trait Row {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn integer(&self, column: &str) -> Result<i64, StoreError>;
    fn optional_integer(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A column PostgreSQL declares `INTEGER` (32 bits; SQLite reads its integers as 32 bits too).
    fn integer32(&self, column: &str) -> Result<i32, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn optional_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl<R> Row for R
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn integer(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn optional_integer(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn integer32(&self, column: &str) -> Result<i32, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.try_get(column).map_err(database)
    }

    fn optional_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(column).map_err(database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_say_the_database_cannot_be_reached_are_unavailable() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let cases: [(sqlx::Error, bool); 7] = [
            (sqlx::Error::PoolTimedOut, true),
            (sqlx::Error::PoolClosed, true),
            (sqlx::Error::Io(io()), true),
            (sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into()), true),
            (sqlx::Error::WorkerCrashed, true),
            (sqlx::Error::RowNotFound, false),
            (sqlx::Error::ColumnNotFound("name".into()), false),
        ];
        for (error, unavailable) in cases {
            let text = error.to_string();
            let mapped = database(error);
            assert_eq!(matches!(mapped, StoreError::Unavailable(_)), unavailable, "{text}: {mapped:?}");
            assert!(matches!(mapped, StoreError::Unavailable(_) | StoreError::Database(_)), "{text}");
        }
    }
}
