//! A fresh PostgreSQL schema per test, in the database `test_services` finds (the one
//! `MODELGATE_TEST_POSTGRES_URL` names, else the default loopback one), so tests run in parallel
//! without seeing each other's rows. Where PostgreSQL does not answer, a test is skipped with a
//! visible line, or fails under `CI=true` (the rule of `modelgate_mock_provider::test_services`).
//!
//! Shared by the store's suite, the server's tests, the multi-process tests and the benchmarks
//! (`#[path]`), so all follow the same rule.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};

/// A schema made for one test, dropped (with everything in it) when this is dropped.
pub struct TestSchema {
    /// The URL to open a store with: the base URL with `search_path` set to the schema.
    pub url: String,
    base: String,
    name: String,
}

impl TestSchema {
    /// Creates a schema for the test `test`; `None` (after saying so) when it is to be skipped.
    /// Panics when PostgreSQL is needed but absent (`CI=true`) or refuses the schema.
    pub async fn create(test: &str) -> Option<TestSchema> {
        let base = modelgate_mock_provider::test_services::postgres_url(test)?;
        let name = unique_name();
        // The URL is not printed: it may hold a password.
        let mut connection = PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot connect to the test database: {e}"));
        sqlx::raw_sql(&format!("CREATE SCHEMA {name}")).execute(&mut connection).await.unwrap();
        connection.close().await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Some(TestSchema { url, base, name })
    }
}

/// `test_{pid}_{nanos}_{n}`: unique across the test binaries running at once.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("test_{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Drop for TestSchema {
    /// Drops the schema on a thread of its own, as `Drop` cannot await (and runs on panics too).
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&base).await?;
                sqlx::raw_sql(&format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut connection)
                    .await?;
                connection.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop the test schema {}: {error}", self.name);
        }
    }
}
