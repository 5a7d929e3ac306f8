//! The web console's sessions, written once for both engines.

use crate::engine::Row;
use crate::statement::Statement;
use crate::SqlStore;
use async_trait::async_trait;
use modelgate_store::{ConsoleSessionRecord, ConsoleSessionStore, Micros, StoreError};

const COLUMNS: &str = "token_digest, credential_digest, client_id, created_at, last_seen_at, expires_at";

fn session(row: &dyn Row) -> Result<ConsoleSessionRecord, StoreError> {
    Ok(ConsoleSessionRecord {
        token_digest: row.text("token_digest")?,
        credential_digest: row.text("credential_digest")?,
        client_id: row.optional_text("client_id")?,
        created_at: row.integer("created_at")?,
        last_seen_at: row.integer("last_seen_at")?,
        expires_at: row.integer("expires_at")?,
    })
}

#[async_trait]
impl ConsoleSessionStore for SqlStore {
    async fn create_console_session(&self, record: &ConsoleSessionRecord) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        // Sessions past their absolute end go as new ones come: no sweeper task needed.
        tx.execute(Statement::new("DELETE FROM console_sessions WHERE expires_at <= $1").bind(record.created_at))
            .await?;
        let insert =
            Statement::new(format!("INSERT INTO console_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                .bind(&record.token_digest)
                .bind(&record.credential_digest)
                .bind(&record.client_id)
                .bind(record.created_at)
                .bind(record.last_seen_at)
                .bind(record.expires_at);
        tx.insert_new(insert).await?;
        tx.commit().await
    }

    async fn find_console_session(&self, token_digest: &str) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        let select = Statement::new(format!("SELECT {COLUMNS} FROM console_sessions WHERE token_digest = $1"));
        self.engine.fetch_optional(select.bind(token_digest), session).await
    }

    async fn touch_console_session(&self, token_digest: &str, at: Micros) -> Result<(), StoreError> {
        let update = Statement::new("UPDATE console_sessions SET last_seen_at = $1 WHERE token_digest = $2");
        self.engine.execute(update.bind(at).bind(token_digest)).await?;
        Ok(())
    }

    async fn delete_console_session(&self, token_digest: &str) -> Result<bool, StoreError> {
        let delete = Statement::new("DELETE FROM console_sessions WHERE token_digest = $1");
        Ok(self.engine.execute(delete.bind(token_digest)).await? > 0)
    }
}
