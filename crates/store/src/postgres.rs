//! The PostgreSQL store, for several nodes sharing one database. Same schema, semantics and
//! error mapping as [`crate::sqlite::SqliteStore`]; where SQLite relies on its single writer,
//! this store takes row locks instead (see [`fetch_resource`] and [`replace_references`]).
//!
//! Migrations run at open under sqlx's migrator lock, a session-level `pg_advisory_lock` keyed
//! by the database name, on a connection of their own that is closed afterwards: nodes that
//! start together migrate one at a time, and the lock is released even if a migration fails.

use crate::*;
use modelgate_domain::secret_box::SealedSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// Most connections one node keeps to the database.
const MAX_CONNECTIONS: u32 = 10;

/// A store on one PostgreSQL database (the schema is the connection's `search_path`).
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:5432/db?sslmode=require`) and runs the
    /// embedded migrations. A schema other than `public` is chosen with
    /// `?options=-c%20search_path%3Dname`.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let mut connection = PgConnection::connect_with(&options).await?;
        let migrated = sqlx::migrate!("migrations/postgres").run(&mut connection).await;
        // Closing the session releases the advisory lock, whatever the migration did.
        if let Err(error) = connection.close().await {
            tracing::debug!(%error, "closing the migration connection failed");
        }
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// Closes the pool, waiting for running queries.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A read-only transaction whose reads all see one snapshot of the database.
    async fn begin_consistent_read(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut read = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *read).await?;
        Ok(read)
    }
}

fn map_unique(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::Database(error),
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn parse_kind(text: &str) -> Result<ResourceKind, StoreError> {
    ResourceKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown kind {text}")))
}

fn resource_from_row(row: &PgRow) -> Result<ResourceRecord, StoreError> {
    let kind_text: String = row.try_get("kind")?;
    let document: String = row.try_get("document")?;
    let events: String = row.try_get("events")?;
    let key_id: Option<String> = row.try_get("secret_key_id")?;
    let sealed: Option<Vec<u8>> = row.try_get("secret_sealed")?;
    Ok(ResourceRecord {
        key: ResourceKey {
            workspace: row.try_get("workspace")?,
            kind: parse_kind(&kind_text)?,
            name: row.try_get("name")?,
        },
        document: serde_json::from_str(&document).map_err(corrupt)?,
        status: row.try_get("status")?,
        events: serde_json::from_str(&events).map_err(corrupt)?,
        sealed_secret: key_id.zip(sealed).map(|(key_id, bytes)| SealedSecret { key_id, bytes }),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
    })
}

const RESOURCE_COLUMNS: &str = "workspace, kind, name, status, document, events, secret_key_id, secret_sealed, \
     created_at, updated_at, created_by, updated_by";

/// Reads a resource inside a write and locks its row until the transaction ends (`FOR UPDATE`):
/// concurrent writes of one resource queue up instead of losing each other's events, and a
/// delete waits for writes that are about to reference it.
async fn fetch_resource(
    tx: &mut Transaction<'_, Postgres>,
    key: &ResourceKey,
) -> Result<Option<ResourceRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3 FOR UPDATE"
    ))
    .bind(&key.workspace)
    .bind(key.kind.as_str())
    .bind(&key.name)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(resource_from_row).transpose()
}

/// Checks that every reference exists and records them as the resource's references. Each
/// referenced row is share-locked until the transaction ends, so a concurrent delete of it
/// either finishes first (then it is missing here) or waits and sees the new reference.
async fn replace_references(tx: &mut Transaction<'_, Postgres>, write: &ResourceWrite) -> Result<(), StoreError> {
    let key = &write.key;
    sqlx::query("DELETE FROM resource_refs WHERE workspace = $1 AND from_kind = $2 AND from_name = $3")
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .execute(&mut **tx)
        .await?;
    for reference in &write.references {
        let exists = sqlx::query("SELECT 1 FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3 FOR SHARE")
            .bind(&key.workspace)
            .bind(reference.kind.as_str())
            .bind(&reference.name)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::MissingReference(reference.clone()));
        }
        sqlx::query(
            "INSERT INTO resource_refs (workspace, from_kind, from_name, to_kind, to_name) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
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

/// Records the write's revision; the resource row is locked, so `seq` cannot be taken twice.
async fn insert_revision(tx: &mut Transaction<'_, Postgres>, write: &ResourceWrite) -> Result<(), StoreError> {
    let Some(revision) = &write.revision else { return Ok(()) };
    let key = &write.key;
    sqlx::query(
        "INSERT INTO revisions (workspace, kind, name, id, seq, status, document, created_at, created_by) \
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3), \
         $5, $6, $7, $8)",
    )
    .bind(&key.workspace)
    .bind(key.kind.as_str())
    .bind(&key.name)
    .bind(&revision.id)
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

fn sealed_parts(secret: &Option<SealedSecret>) -> (Option<&String>, Option<&Vec<u8>>) {
    match secret {
        Some(s) => (Some(&s.key_id), Some(&s.bytes)),
        None => (None, None),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn announce_change(&self, change: &ConfigChange) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGE_CHANNEL)
            .bind(change.to_payload())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn subscribe_changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        // A lost connection ends the feed (see ChangeFeed::next) instead of being reopened here.
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(Some(ChangeFeed { listener }))
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }

    async fn ensure_workspace(&self, name: &str, actor: &str, at: Micros) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, '{}', $2, $2, $3, $3) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(at)
        .bind(actor)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn workspace_exists(&self, name: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM workspaces WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM workspaces LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, workspace, name, key_digest, subject, subject_type, scopes, expires_in, expires_at, \
             created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&key.id)
        .bind(&key.workspace)
        .bind(&key.name)
        .bind(&key.key_digest)
        .bind(&key.subject)
        .bind(&key.subject_type)
        .bind(serde_json::to_string(&key.scopes).map_err(corrupt)?)
        .bind(&key.expires_in)
        .bind(key.expires_at)
        .bind(key.created_at)
        .bind(&key.created_by)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_digest = $1"))
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(&self, subject: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = $1 ORDER BY created_at, id"))
                .bind(subject)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn delete_api_key(&self, subject: &str, id: &str) -> Result<ApiKeyRecord, StoreError> {
        // One statement: of two concurrent revocations, only one gets the record.
        let row =
            sqlx::query(&format!("DELETE FROM api_keys WHERE subject = $1 AND id = $2 RETURNING {API_KEY_COLUMNS}"))
                .bind(subject)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(api_key_from_row).transpose()?.ok_or(StoreError::NotFound)
    }

    async fn create_workspace(&self, workspace: &WorkspaceRecord, admin: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            sqlx::query(
                "INSERT INTO workspace_admins (workspace, subject, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
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
        let row = sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workspace_from_row).transpose()
    }

    async fn list_workspaces(&self, admin: Option<&str>) -> Result<Vec<WorkspaceRecord>, StoreError> {
        let rows = match admin {
            None => {
                sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY name"))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(subject) => {
                sqlx::query(&format!(
                    "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name IN \
                     (SELECT workspace FROM workspace_admins WHERE subject = $1) ORDER BY name"
                ))
                .bind(subject)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(workspace_from_row).collect()
    }

    async fn update_workspace(&self, workspace: &WorkspaceRecord) -> Result<(), StoreError> {
        let result =
            sqlx::query("UPDATE workspaces SET document = $1, updated_at = $2, updated_by = $3 WHERE name = $4")
                .bind(workspace.document.to_string())
                .bind(workspace.updated_at)
                .bind(&workspace.updated_by)
                .bind(&workspace.name)
                .execute(&self.pool)
                .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_workspace(&self, name: &str, force: bool) -> Result<WorkspaceRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row lock makes writes into the workspace (their foreign key checks share-lock this
        // row) wait until the delete is done, so nothing is added after the count below.
        let row = sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = $1 FOR UPDATE"))
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
            sqlx::query(&format!("DELETE FROM {table} WHERE workspace = $1")).bind(name).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM workspaces WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn count_workspace_contents(&self, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        count_contents(&mut connection, name).await
    }

    async fn ensure_user(&self, subject: &str, platform_admin: bool, at: Micros) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (subject, platform_admin, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subject) DO UPDATE SET platform_admin = users.platform_admin OR excluded.platform_admin",
        )
        .bind(subject)
        .bind(platform_admin)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_platform_admin(&self, subject: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM users WHERE subject = $1 AND platform_admin")
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn is_workspace_admin(&self, workspace: &str, subject: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM workspace_admins WHERE workspace = $1 AND subject = $2")
            .bind(workspace)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn add_workspace_admin(&self, workspace: &str, subject: &str, at: Micros) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workspace_admins (workspace, subject, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(subject)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO service_accounts (client_id, workspace, name, description, secret_digest, scopes, created_at, \
             updated_at, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&account.client_id)
        .bind(&account.workspace)
        .bind(&account.name)
        .bind(&account.description)
        .bind(&account.secret_digest)
        .bind(serde_json::to_string(&account.scopes).map_err(corrupt)?)
        .bind(account.created_at)
        .bind(account.updated_at)
        .bind(&account.created_by)
        .bind(&account.updated_by)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn get_service_account(&self, client_id: &str) -> Result<Option<ServiceAccountRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(service_account_from_row).transpose()
    }

    async fn list_service_accounts(&self, workspace: &str) -> Result<Vec<ServiceAccountRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE workspace = $1 ORDER BY created_at, client_id"
        ))
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(service_account_from_row).collect()
    }

    async fn update_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE service_accounts SET name = $1, description = $2, updated_at = $3, updated_by = $4 WHERE client_id = $5",
        )
        .bind(&account.name)
        .bind(&account.description)
        .bind(account.updated_at)
        .bind(&account.updated_by)
        .bind(&account.client_id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_service_account(&self, client_id: &str) -> Result<ServiceAccountRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = $1 FOR UPDATE"
        ))
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let record = row.as_ref().map(service_account_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM api_keys WHERE subject = $1").bind(client_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM service_accounts WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn all_resources(&self, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError> {
        read_resources(&self.pool, kind).await
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        read_api_keys(&self.pool).await
    }

    async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError> {
        Ok((read_admins(&self.pool).await?, read_platform_admins(&self.pool).await?))
    }

    async fn configuration(&self) -> Result<Configuration, StoreError> {
        let mut read = self.begin_consistent_read().await?;
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
        let result = sqlx::query("DELETE FROM usage_records WHERE at < $1").bind(before).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    async fn sealed_secrets(&self) -> Result<Vec<(ResourceKey, SealedSecret)>, StoreError> {
        let rows = sqlx::query(
            "SELECT workspace, kind, name, secret_key_id, secret_sealed FROM resources WHERE secret_sealed IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let key = ResourceKey {
                    workspace: row.try_get("workspace")?,
                    kind: parse_kind(&kind)?,
                    name: row.try_get("name")?,
                };
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
        // Compare-and-set in one statement: a concurrent update of the secret wins.
        let result = sqlx::query(
            "UPDATE resources SET secret_key_id = $1, secret_sealed = $2 \
             WHERE workspace = $3 AND kind = $4 AND name = $5 AND secret_key_id = $6",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .bind(old_key_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let key = &write.key;
        let (key_id, sealed) = sealed_parts(&write.sealed_secret);
        sqlx::query(
            "INSERT INTO resources (workspace, kind, name, search_text, status, document, events, secret_key_id, \
             secret_sealed, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $11)",
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
        .bind(&write.actor)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        // A resource deleted earlier may have left revisions under the same name.
        sqlx::query("DELETE FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3")
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
        let mut tx = self.pool.begin().await?;
        let key = &write.key;
        let existing = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let (key_id, sealed) = sealed_parts(&write.sealed_secret);
        sqlx::query(
            "UPDATE resources SET search_text = $1, status = $2, document = $3, events = $4, secret_key_id = $5, \
             secret_sealed = $6, updated_at = $7, updated_by = $8 WHERE workspace = $9 AND kind = $10 AND name = $11",
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
        let mut tx = self.pool.begin().await?;
        let existing = fetch_resource(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let referrers = sqlx::query(
            "SELECT from_kind, from_name FROM resource_refs WHERE workspace = $1 AND to_kind = $2 AND to_name = $3 \
             ORDER BY from_name",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&mut *tx)
        .await?;
        if !referrers.is_empty() {
            return Err(StoreError::InUse(references_from_rows(&referrers)?));
        }
        for statement in [
            "DELETE FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3",
            "DELETE FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3",
            "DELETE FROM resource_refs WHERE workspace = $1 AND from_kind = $2 AND from_name = $3",
        ] {
            sqlx::query(statement)
                .bind(&key.workspace)
                .bind(key.kind.as_str())
                .bind(&key.name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(existing)
    }

    async fn get_resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3"
        ))
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_optional(&self.pool)
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
            QueryBuilder::<Postgres>::new(format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = "));
        sql.push_bind(workspace).push(" AND kind = ").push_bind(kind.as_str());
        if let Some(search) = &query.search {
            let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            sql.push(" AND search_text LIKE ").push_bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
        }
        if !query.statuses.is_empty() {
            sql.push(" AND status = ANY(").push_bind(&query.statuses).push(")");
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
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut records = rows.iter().map(resource_from_row).collect::<Result<Vec<_>, _>>()?;
        if query.tail {
            records.reverse();
        }
        Ok(records)
    }

    async fn count_resources(&self, workspace: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM resources WHERE workspace = $1 AND kind = $2")
            .bind(workspace)
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn referrers(&self, key: &ResourceKey) -> Result<Vec<Reference>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_kind, from_name FROM resource_refs WHERE workspace = $1 AND to_kind = $2 AND to_name = $3 \
             ORDER BY from_name",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&self.pool)
        .await?;
        references_from_rows(&rows)
    }

    async fn list_revisions(&self, key: &ResourceKey) -> Result<Vec<RevisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, created_at, created_by FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3 \
             ORDER BY seq DESC",
        )
        .bind(&key.workspace)
        .bind(key.kind.as_str())
        .bind(&key.name)
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
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
            QueryBuilder::<Postgres>::new(format!("SELECT {USAGE_COLUMNS} FROM usage_records WHERE workspace = "));
        sql.push_bind(&query.workspace);
        if let Some(model) = &query.model {
            sql.push(" AND model = ").push_bind(model);
        }
        sql.push(" AND at >= ").push_bind(query.from).push(" AND at < ").push_bind(query.to);
        sql.push(" ORDER BY at, id");
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(usage_from_row).collect()
    }
}

const USAGE_COLUMNS: &str = "at, workspace, model, subject, key_id, provider, status, input_tokens, output_tokens, \
     total_tokens, latency_ms, ttfb_ms";
static USAGE_INSERTS: std::sync::LazyLock<crate::UsageInserts> =
    std::sync::LazyLock::new(|| crate::UsageInserts::new(USAGE_COLUMNS, |n| format!("${n}")));

fn usage_from_row(row: &PgRow) -> Result<UsageRecord, StoreError> {
    let status: i32 = row.try_get("status")?;
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

fn json_column<T: serde::de::DeserializeOwned>(row: &PgRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn api_key_from_row(row: &PgRow) -> Result<ApiKeyRecord, StoreError> {
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

fn workspace_from_row(row: &PgRow) -> Result<WorkspaceRecord, StoreError> {
    Ok(WorkspaceRecord {
        name: row.try_get("name")?,
        document: json_column(row, "document")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn service_account_from_row(row: &PgRow) -> Result<ServiceAccountRecord, StoreError> {
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

/// Counts what a workspace holds, by the names Blaxel's `resourceCounts` uses. One statement,
/// so every count comes from the same snapshot.
async fn count_contents(connection: &mut PgConnection, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
    let row = sqlx::query(
        "SELECT \
         (SELECT COUNT(*) FROM resources WHERE workspace = $1 AND kind = $2) AS models, \
         (SELECT COUNT(*) FROM resources WHERE workspace = $1 AND kind = $3) AS integrationconnections, \
         (SELECT COUNT(*) FROM resources WHERE workspace = $1 AND kind = $4) AS policies, \
         (SELECT COUNT(*) FROM service_accounts WHERE workspace = $1) AS serviceaccounts, \
         (SELECT COUNT(*) FROM api_keys WHERE workspace = $1 AND subject_type = 'user') AS user_keys",
    )
    .bind(name)
    .bind(ResourceKind::Model.as_str())
    .bind(ResourceKind::IntegrationConnection.as_str())
    .bind(ResourceKind::Policy.as_str())
    .fetch_one(&mut *connection)
    .await?;
    let mut counts = BTreeMap::new();
    for label in ["models", "integrationconnections", "policies", "serviceaccounts"] {
        counts.insert(label.to_string(), row.try_get(label)?);
    }
    counts.insert(USER_KEYS_COUNT.to_string(), row.try_get("user_keys")?);
    Ok(counts)
}

fn references_from_rows(rows: &[PgRow]) -> Result<Vec<Reference>, StoreError> {
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("from_kind")?;
            Ok(Reference { kind: parse_kind(&kind)?, name: row.try_get("from_name")? })
        })
        .collect()
}

async fn read_resources<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    kind: ResourceKind,
) -> Result<Vec<ResourceRecord>, StoreError> {
    let rows =
        sqlx::query(&format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE kind = $1 ORDER BY workspace, name"))
            .bind(kind.as_str())
            .fetch_all(executor)
            .await?;
    rows.iter().map(resource_from_row).collect()
}

async fn read_api_keys<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys")).fetch_all(executor).await?;
    rows.iter().map(api_key_from_row).collect()
}

async fn read_admins<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query("SELECT workspace, subject FROM workspace_admins").fetch_all(executor).await?;
    rows.iter().map(|row| Ok((row.try_get("workspace")?, row.try_get("subject")?))).collect()
}

async fn read_platform_admins<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT subject FROM users WHERE platform_admin").fetch_all(executor).await?;
    Ok(rows.iter().map(|row| row.try_get("subject")).collect::<Result<Vec<String>, _>>()?)
}
