//! The embedded SQLite store (WAL). Writes go through a one-connection pool so they never race
//! each other for SQLite's single writer lock; reads use a separate pool and run beside them.

use crate::*;
use modelgate_domain::secret_box::SealedSecret;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// A store on one SQLite database file.
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

/// Page cache of each connection, in KiB.
const CACHE_KIB_PER_CONNECTION: u32 = 512;
/// Reading connections: reads are control-plane requests and snapshot rebuilds, never the hot path.
const READERS: u32 = 2;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db`) and runs
    /// the embedded migrations.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // SQLite's default page cache is 2 MiB per connection, filled by snapshot rebuilds and
            // usage batches; the OS caches the file anyway, so a small one costs little and keeps
            // the node's memory down.
            .pragma("cache_size", format!("-{CACHE_KIB_PER_CONNECTION}"));
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(READERS).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { reader, writer })
    }

    /// Closes both pools, waiting for running queries.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

fn map_unique(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::Database(error),
    }
}

fn resource_from_row(row: &SqliteRow) -> Result<ResourceRecord, StoreError> {
    let kind_text: String = row.try_get("kind")?;
    let kind =
        ResourceKind::parse(&kind_text).ok_or_else(|| StoreError::Corrupt(format!("unknown kind {kind_text}")))?;
    let document: String = row.try_get("document")?;
    let events: String = row.try_get("events")?;
    let key_id: Option<String> = row.try_get("secret_key_id")?;
    let sealed: Option<Vec<u8>> = row.try_get("secret_sealed")?;
    Ok(ResourceRecord {
        key: ResourceKey { workspace: row.try_get("workspace")?, kind, name: row.try_get("name")? },
        document: serde_json::from_str(&document).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: row.try_get("status")?,
        events: serde_json::from_str(&events).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        sealed_secret: key_id.zip(sealed).map(|(key_id, bytes)| SealedSecret { key_id, bytes }),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
    })
}

const RESOURCE_COLUMNS: &str = "workspace, kind, name, status, document, events, secret_key_id, secret_sealed, \
     created_at, updated_at, created_by, updated_by";

async fn fetch_resource(
    tx: &mut Transaction<'_, Sqlite>,
    key: &ResourceKey,
) -> Result<Option<ResourceRecord>, StoreError> {
    let row =
        sqlx::query(&format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = ? AND kind = ? AND name = ?"))
            .bind(&key.workspace)
            .bind(key.kind.as_str())
            .bind(&key.name)
            .fetch_optional(&mut **tx)
            .await?;
    row.as_ref().map(resource_from_row).transpose()
}

/// Checks that every reference exists and records them as the resource's references.
async fn replace_references(tx: &mut Transaction<'_, Sqlite>, write: &ResourceWrite) -> Result<(), StoreError> {
    let key = &write.key;
    sqlx::query("DELETE FROM resource_refs WHERE workspace = ? AND from_kind = ? AND from_name = ?")
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .execute(&mut **tx)
        .await?;
    for reference in &write.references {
        let exists = sqlx::query("SELECT 1 FROM resources WHERE workspace = ? AND kind = ? AND name = ?")
            .bind(&key.workspace)
            .bind(reference.kind.as_str())
            .bind(&reference.name)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::MissingReference(reference.clone()));
        }
        sqlx::query("INSERT OR IGNORE INTO resource_refs (workspace, from_kind, from_name, to_kind, to_name) VALUES (?, ?, ?, ?, ?)")
            .bind(&key.workspace)
            .bind(key.kind.as_str())
            .bind(&key.name)
            .bind(reference.kind.as_str())
            .bind(&reference.name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_revision(tx: &mut Transaction<'_, Sqlite>, write: &ResourceWrite) -> Result<(), StoreError> {
    let Some(revision) = &write.revision else { return Ok(()) };
    let key = &write.key;
    sqlx::query(
        "INSERT INTO revisions (workspace, kind, name, id, seq, status, document, created_at, created_by) \
         VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM revisions WHERE workspace = ? AND kind = ? AND name = ?), ?, ?, ?, ?)",
    )
    .bind(&key.workspace)
    .bind(key.kind.as_str())
    .bind(&key.name)
    .bind(&revision.id)
    .bind(&key.workspace)
    .bind(key.kind.as_str())
    .bind(&key.name)
    .bind(&revision.status)
    .bind(write.document.to_string())
    .bind(write.at)
    .bind(&write.actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn appended_events(existing: &[serde_json::Value], new: &[serde_json::Value]) -> String {
    let all: Vec<&serde_json::Value> = existing.iter().chain(new).collect();
    let start = all.len().saturating_sub(MAX_EVENTS);
    serde_json::Value::Array(all[start..].iter().map(|e| (*e).clone()).collect()).to_string()
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn ensure_workspace(&self, name: &str, actor: &str, at: Micros) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT OR IGNORE INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) \
             VALUES (?, '{}', ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(at)
        .bind(at)
        .bind(actor)
        .bind(actor)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn workspace_exists(&self, name: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM workspaces WHERE name = ?").bind(name).fetch_optional(&self.reader).await?;
        Ok(row.is_some())
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM workspaces LIMIT 1").fetch_optional(&self.reader).await?;
        Ok(row.is_some())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, workspace, name, key_digest, subject, subject_type, scopes, expires_in, expires_at, \
             created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.workspace)
        .bind(&key.name)
        .bind(&key.key_digest)
        .bind(&key.subject)
        .bind(&key.subject_type)
        .bind(serde_json::to_string(&key.scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(&key.expires_in)
        .bind(key.expires_at)
        .bind(key.created_at)
        .bind(&key.created_by)
        .execute(&self.writer)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_digest = ?"))
            .bind(digest)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(&self, subject: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = ? ORDER BY created_at, id"))
                .bind(subject)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn delete_api_key(&self, subject: &str, id: &str) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = ? AND id = ?"))
            .bind(subject)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let record = row.as_ref().map(api_key_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM api_keys WHERE id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn create_workspace(&self, workspace: &WorkspaceRecord, admin: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&workspace.name)
        .bind(workspace.document.to_string())
        .bind(workspace.created_at)
        .bind(workspace.updated_at)
        .bind(&workspace.created_by)
        .bind(&workspace.updated_by)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        if let Some(admin) = admin {
            sqlx::query("INSERT OR IGNORE INTO workspace_admins (workspace, subject, created_at) VALUES (?, ?, ?)")
                .bind(&workspace.name)
                .bind(admin)
                .bind(workspace.created_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_workspace(&self, name: &str) -> Result<Option<WorkspaceRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(workspace_from_row).transpose()
    }

    async fn list_workspaces(&self, admin: Option<&str>) -> Result<Vec<WorkspaceRecord>, StoreError> {
        let rows = match admin {
            None => {
                sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY name"))
                    .fetch_all(&self.reader)
                    .await?
            }
            Some(subject) => {
                sqlx::query(&format!(
                    "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name IN \
                     (SELECT workspace FROM workspace_admins WHERE subject = ?) ORDER BY name"
                ))
                .bind(subject)
                .fetch_all(&self.reader)
                .await?
            }
        };
        rows.iter().map(workspace_from_row).collect()
    }

    async fn update_workspace(&self, workspace: &WorkspaceRecord) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE workspaces SET document = ?, updated_at = ?, updated_by = ? WHERE name = ?")
            .bind(workspace.document.to_string())
            .bind(workspace.updated_at)
            .bind(&workspace.updated_by)
            .bind(&workspace.name)
            .execute(&self.writer)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_workspace(&self, name: &str, force: bool) -> Result<WorkspaceRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = ?"))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let record = row.as_ref().map(workspace_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        let counts = count_contents(&mut tx, name).await?;
        let user_keys = counts.get(USER_KEYS_COUNT).copied().unwrap_or(0);
        if user_keys > 0 || (!force && counts.values().any(|n| *n > 0)) {
            return Err(StoreError::NotEmpty(counts));
        }
        // Resources, service accounts, keys and admins go by cascade; these tables have no
        // foreign key to the workspace. Usage goes too: it is history of the workspace only.
        for table in ["resource_refs", "revisions", "api_keys", "usage_records"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE workspace = ?")).bind(name).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM workspaces WHERE name = ?").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn count_workspace_contents(&self, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut tx = self.reader.begin().await?;
        let counts = count_contents(&mut tx, name).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn ensure_user(&self, subject: &str, platform_admin: bool, at: Micros) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (subject, platform_admin, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (subject) DO UPDATE SET platform_admin = MAX(platform_admin, excluded.platform_admin)",
        )
        .bind(subject)
        .bind(platform_admin)
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn is_platform_admin(&self, subject: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM users WHERE subject = ? AND platform_admin = 1")
            .bind(subject)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    async fn is_workspace_admin(&self, workspace: &str, subject: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM workspace_admins WHERE workspace = ? AND subject = ?")
            .bind(workspace)
            .bind(subject)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    async fn add_workspace_admin(&self, workspace: &str, subject: &str, at: Micros) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO workspace_admins (workspace, subject, created_at) VALUES (?, ?, ?)")
            .bind(workspace)
            .bind(subject)
            .bind(at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn create_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO service_accounts (client_id, workspace, name, description, secret_digest, scopes, created_at, \
             updated_at, created_by, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&account.client_id)
        .bind(&account.workspace)
        .bind(&account.name)
        .bind(&account.description)
        .bind(&account.secret_digest)
        .bind(serde_json::to_string(&account.scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(account.created_at)
        .bind(account.updated_at)
        .bind(&account.created_by)
        .bind(&account.updated_by)
        .execute(&self.writer)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn get_service_account(&self, client_id: &str) -> Result<Option<ServiceAccountRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = ?"))
            .bind(client_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(service_account_from_row).transpose()
    }

    async fn list_service_accounts(&self, workspace: &str) -> Result<Vec<ServiceAccountRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE workspace = ? ORDER BY created_at, client_id"
        ))
        .bind(workspace)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(service_account_from_row).collect()
    }

    async fn update_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE service_accounts SET name = ?, description = ?, updated_at = ?, updated_by = ? WHERE client_id = ?",
        )
        .bind(&account.name)
        .bind(&account.description)
        .bind(account.updated_at)
        .bind(&account.updated_by)
        .bind(&account.client_id)
        .execute(&self.writer)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_service_account(&self, client_id: &str) -> Result<ServiceAccountRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = ?"))
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
        let record = row.as_ref().map(service_account_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM api_keys WHERE subject = ?").bind(client_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM service_accounts WHERE client_id = ?").bind(client_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn all_resources(&self, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError> {
        read_resources(&self.reader, kind).await
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        read_api_keys(&self.reader).await
    }

    async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError> {
        Ok((read_admins(&self.reader).await?, read_platform_admins(&self.reader).await?))
    }

    async fn configuration(&self) -> Result<Configuration, StoreError> {
        let mut read = self.reader.begin().await?;
        let configuration = Configuration {
            connections: read_resources(&mut *read, ResourceKind::IntegrationConnection).await?,
            policies: read_resources(&mut *read, ResourceKind::Policy).await?,
            models: read_resources(&mut *read, ResourceKind::Model).await?,
            api_keys: read_api_keys(&mut *read).await?,
            admins: read_admins(&mut *read).await?,
            platform_admins: read_platform_admins(&mut *read).await?,
        };
        read.commit().await?;
        Ok(configuration)
    }

    async fn delete_usage_before(&self, before: Micros) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM usage_records WHERE at < ?").bind(before).execute(&self.writer).await?;
        Ok(result.rows_affected())
    }

    async fn sealed_secrets(&self) -> Result<Vec<(ResourceKey, SealedSecret)>, StoreError> {
        let rows = sqlx::query(
            "SELECT workspace, kind, name, secret_key_id, secret_sealed FROM resources WHERE secret_sealed IS NOT NULL",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let kind =
                    ResourceKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown kind {kind}")))?;
                let key = ResourceKey { workspace: row.try_get("workspace")?, kind, name: row.try_get("name")? };
                Ok((key, SealedSecret { key_id: row.try_get("secret_key_id")?, bytes: row.try_get("secret_sealed")? }))
            })
            .collect()
    }

    async fn replace_sealed_secret(
        &self,
        key: &ResourceKey,
        old_key_id: &str,
        sealed: &SealedSecret,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE resources SET secret_key_id = ?, secret_sealed = ? \
             WHERE workspace = ? AND kind = ? AND name = ? AND secret_key_id = ?",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .bind(old_key_id)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let key = &write.key;
        let (key_id, sealed) = match &write.sealed_secret {
            Some(s) => (Some(&s.key_id), Some(&s.bytes)),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO resources (workspace, kind, name, search_text, status, document, events, secret_key_id, secret_sealed, \
             created_at, updated_at, created_by, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .bind(&write.search_text)
        .bind(&write.status)
        .bind(write.document.to_string())
        .bind(appended_events(&[], &write.new_events))
        .bind(key_id)
        .bind(sealed)
        .bind(write.at)
        .bind(write.at)
        .bind(&write.actor)
        .bind(&write.actor)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        // A resource deleted earlier may have left revisions under the same name.
        sqlx::query("DELETE FROM revisions WHERE workspace = ? AND kind = ? AND name = ?")
            .bind(&key.workspace)
            .bind(key.kind.as_str())
            .bind(&key.name)
            .execute(&mut *tx)
            .await?;
        replace_references(&mut tx, write).await?;
        insert_revision(&mut tx, write).await?;
        let record = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn update_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let key = &write.key;
        let existing = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let (key_id, sealed) = match &write.sealed_secret {
            Some(s) => (Some(&s.key_id), Some(&s.bytes)),
            None => (None, None),
        };
        sqlx::query(
            "UPDATE resources SET search_text = ?, status = ?, document = ?, events = ?, secret_key_id = ?, secret_sealed = ?, \
             updated_at = ?, updated_by = ? WHERE workspace = ? AND kind = ? AND name = ?",
        )
        .bind(&write.search_text)
        .bind(&write.status)
        .bind(write.document.to_string())
        .bind(appended_events(&existing.events, &write.new_events))
        .bind(key_id)
        .bind(sealed)
        .bind(write.at)
        .bind(&write.actor)
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .execute(&mut *tx)
        .await?;
        replace_references(&mut tx, write).await?;
        insert_revision(&mut tx, write).await?;
        let record = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn delete_resource(&self, key: &ResourceKey) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let existing = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let referrers = sqlx::query(
            "SELECT from_kind, from_name FROM resource_refs WHERE workspace = ? AND to_kind = ? AND to_name = ? ORDER BY from_name",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&mut *tx)
        .await?;
        if !referrers.is_empty() {
            return Err(StoreError::InUse(references_from_rows(&referrers)?));
        }
        for table in ["DELETE FROM resources", "DELETE FROM revisions"] {
            sqlx::query(&format!("{table} WHERE workspace = ? AND kind = ? AND name = ?"))
                .bind(&key.workspace)
                .bind(key.kind.as_str())
                .bind(&key.name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM resource_refs WHERE workspace = ? AND from_kind = ? AND from_name = ?")
            .bind(&key.workspace)
            .bind(key.kind.as_str())
            .bind(&key.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(existing)
    }

    async fn get_resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = ? AND kind = ? AND name = ?"
        ))
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn list_resources(
        &self,
        workspace: &str,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = "));
        sql.push_bind(workspace).push(" AND kind = ").push_bind(kind.as_str());
        if let Some(search) = &query.search {
            let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            sql.push(" AND search_text LIKE ").push_bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
        }
        if !query.statuses.is_empty() {
            sql.push(" AND status IN (");
            let mut list = sql.separated(", ");
            for status in &query.statuses {
                list.push_bind(status);
            }
            sql.push(")");
        }
        // The tail of an order is the head of the reverse order, read back to front.
        let descending = matches!(query.sort, SortOrder::CreatedDesc | SortOrder::NameDesc) != query.tail;
        let by_name = matches!(query.sort, SortOrder::NameAsc | SortOrder::NameDesc);
        if let Some(after) = &query.after {
            let op = if descending { " < " } else { " > " };
            if by_name {
                sql.push(" AND name").push(op).push_bind(&after.name);
            } else {
                sql.push(" AND (created_at, name)").push(op).push("(");
                sql.push_bind(after.created_at).push(", ").push_bind(&after.name).push(")");
            }
        }
        let direction = if descending { "DESC" } else { "ASC" };
        if by_name {
            sql.push(format!(" ORDER BY name {direction}"));
        } else {
            sql.push(format!(" ORDER BY created_at {direction}, name {direction}"));
        }
        if let Some(limit) = query.limit {
            sql.push(" LIMIT ").push_bind(limit);
        }
        let rows = sql.build().fetch_all(&self.reader).await?;
        let mut records = rows.iter().map(resource_from_row).collect::<Result<Vec<_>, _>>()?;
        if query.tail {
            records.reverse();
        }
        Ok(records)
    }

    async fn count_resources(&self, workspace: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM resources WHERE workspace = ? AND kind = ?")
            .bind(workspace)
            .bind(kind.as_str())
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn referrers(&self, key: &ResourceKey) -> Result<Vec<Reference>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_kind, from_name FROM resource_refs WHERE workspace = ? AND to_kind = ? AND to_name = ? ORDER BY from_name",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&self.reader)
        .await?;
        references_from_rows(&rows)
    }

    async fn list_revisions(&self, key: &ResourceKey) -> Result<Vec<RevisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, created_at, created_by FROM revisions WHERE workspace = ? AND kind = ? AND name = ? ORDER BY seq DESC",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RevisionRecord {
                    id: row.try_get("id")?,
                    status: row.try_get("status")?,
                    created_at: row.try_get("created_at")?,
                    created_by: row.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for chunk in crate::usage_statement_chunks(records) {
            let mut insert = sqlx::query(USAGE_INSERTS.for_rows(chunk.len()));
            for record in chunk {
                insert = crate::bind_usage(insert, record);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn query_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {USAGE_COLUMNS} FROM usage_records WHERE workspace = "));
        sql.push_bind(&query.workspace);
        if let Some(model) = &query.model {
            sql.push(" AND model = ").push_bind(model);
        }
        sql.push(" AND at >= ").push_bind(query.from).push(" AND at < ").push_bind(query.to);
        sql.push(" ORDER BY at, id");
        let rows = sql.build().fetch_all(&self.reader).await?;
        rows.iter().map(usage_from_row).collect()
    }
}

const USAGE_COLUMNS: &str = "at, workspace, model, subject, key_id, provider, status, input_tokens, output_tokens, \
     total_tokens, latency_ms, ttfb_ms";
static USAGE_INSERTS: std::sync::LazyLock<crate::UsageInserts> =
    std::sync::LazyLock::new(|| crate::UsageInserts::new(USAGE_COLUMNS, |_| "?".to_string()));

fn usage_from_row(row: &SqliteRow) -> Result<UsageRecord, StoreError> {
    let status: i64 = row.try_get("status")?;
    Ok(UsageRecord {
        at: row.try_get("at")?,
        workspace: row.try_get("workspace")?,
        model: row.try_get("model")?,
        subject: row.try_get("subject")?,
        key_id: row.try_get("key_id")?,
        provider: row.try_get("provider")?,
        status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("usage status {status}")))?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        latency_ms: row.try_get("latency_ms")?,
        ttfb_ms: row.try_get("ttfb_ms")?,
    })
}

const API_KEY_COLUMNS: &str =
    "id, workspace, name, key_digest, subject, subject_type, scopes, expires_in, expires_at, created_at, created_by";
const WORKSPACE_COLUMNS: &str = "name, document, created_at, updated_at, created_by, updated_by";
const SERVICE_ACCOUNT_COLUMNS: &str =
    "client_id, workspace, name, description, secret_digest, scopes, created_at, updated_at, created_by, updated_by";

fn json_column<T: serde::de::DeserializeOwned>(row: &SqliteRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn api_key_from_row(row: &SqliteRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        workspace: row.try_get("workspace")?,
        name: row.try_get("name")?,
        key_digest: row.try_get("key_digest")?,
        subject: row.try_get("subject")?,
        subject_type: row.try_get("subject_type")?,
        scopes: json_column(row, "scopes")?,
        expires_in: row.try_get("expires_in")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

fn workspace_from_row(row: &SqliteRow) -> Result<WorkspaceRecord, StoreError> {
    Ok(WorkspaceRecord {
        name: row.try_get("name")?,
        document: json_column(row, "document")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn service_account_from_row(row: &SqliteRow) -> Result<ServiceAccountRecord, StoreError> {
    Ok(ServiceAccountRecord {
        client_id: row.try_get("client_id")?,
        workspace: row.try_get("workspace")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        secret_digest: row.try_get("secret_digest")?,
        scopes: json_column(row, "scopes")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// Counts what a workspace holds, by the names Blaxel's `resourceCounts` uses.
async fn count_contents(tx: &mut Transaction<'_, Sqlite>, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut counts = BTreeMap::new();
    for (label, kind) in [
        ("models", ResourceKind::Model),
        ("integrationconnections", ResourceKind::IntegrationConnection),
        ("policies", ResourceKind::Policy),
    ] {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM resources WHERE workspace = ? AND kind = ?")
            .bind(name)
            .bind(kind.as_str())
            .fetch_one(&mut **tx)
            .await?;
        counts.insert(label.to_string(), row.try_get("n")?);
    }
    let row = sqlx::query("SELECT COUNT(*) AS n FROM service_accounts WHERE workspace = ?")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    counts.insert("serviceaccounts".to_string(), row.try_get("n")?);
    let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE workspace = ? AND subject_type = 'user'")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    counts.insert(USER_KEYS_COUNT.to_string(), row.try_get("n")?);
    Ok(counts)
}

fn references_from_rows(rows: &[SqliteRow]) -> Result<Vec<Reference>, StoreError> {
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("from_kind")?;
            Ok(Reference {
                kind: ResourceKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown kind {kind}")))?,
                name: row.try_get("from_name")?,
            })
        })
        .collect()
}

async fn read_resources<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    kind: ResourceKind,
) -> Result<Vec<ResourceRecord>, StoreError> {
    let rows =
        sqlx::query(&format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE kind = ? ORDER BY workspace, name"))
            .bind(kind.as_str())
            .fetch_all(executor)
            .await?;
    rows.iter().map(resource_from_row).collect()
}

async fn read_api_keys<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys")).fetch_all(executor).await?;
    rows.iter().map(api_key_from_row).collect()
}

async fn read_admins<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query("SELECT workspace, subject FROM workspace_admins").fetch_all(executor).await?;
    rows.iter().map(|row| Ok((row.try_get("workspace")?, row.try_get("subject")?))).collect()
}

async fn read_platform_admins<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT subject FROM users WHERE platform_admin = 1").fetch_all(executor).await?;
    Ok(rows.iter().map(|row| row.try_get("subject")).collect::<Result<Vec<String>, _>>()?)
}
