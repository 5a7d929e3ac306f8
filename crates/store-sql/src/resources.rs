//! Resources (models, integration connections, policies), their references and revisions, the
//! configuration read nodes serve from, and sealed secrets.

use crate::engine::{Row, RowLock, Session};
use crate::rows::{self, RESOURCE_COLUMNS};
use crate::statement::Statement;
use crate::SqlStore;
use async_trait::async_trait;
use modelgate_domain::secret_box::SealedSecret;
use modelgate_store::*;

/// `sql` with `$1`, `$2`, `$3` bound to the workspace, kind and name of `key`.
fn keyed<'a>(sql: impl Into<std::borrow::Cow<'a, str>>, key: &'a ResourceKey) -> Statement<'a> {
    Statement::new(sql).bind(&key.workspace).bind(key.kind.as_str()).bind(&key.name)
}

/// Reads a resource inside a write and locks its row until the transaction ends: concurrent
/// writes of one resource queue up instead of losing each other's events, and a delete waits
/// for writes that are about to reference it.
async fn fetch_for_update(tx: &mut Session, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError> {
    let lock = tx.lock(RowLock::Update);
    let sql =
        format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3{lock}");
    tx.fetch_optional(keyed(sql, key), rows::resource).await
}

/// Checks that every reference exists and records them as the resource's references. Each
/// referenced row is share-locked until the transaction ends, so a concurrent delete of it
/// either finishes first (then it is missing here) or waits and sees the new reference.
async fn replace_references(tx: &mut Session, write: &ResourceWrite) -> Result<(), StoreError> {
    let key = &write.key;
    tx.execute(keyed("DELETE FROM resource_refs WHERE workspace = $1 AND from_kind = $2 AND from_name = $3", key))
        .await?;
    let exists =
        format!("SELECT 1 FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3{}", tx.lock(RowLock::Share));
    for reference in &write.references {
        let target =
            Statement::new(exists.as_str()).bind(&key.workspace).bind(reference.kind.as_str()).bind(&reference.name);
        if tx.fetch_optional(target, |_| Ok(())).await?.is_none() {
            return Err(StoreError::MissingReference(reference.clone()));
        }
        let record = keyed(
            "INSERT INTO resource_refs (workspace, from_kind, from_name, to_kind, to_name) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            key,
        );
        tx.execute(record.bind(reference.kind.as_str()).bind(&reference.name)).await?;
    }
    Ok(())
}

/// Records the write's revision; the resource row is locked (or the writer single), so `seq`
/// cannot be taken twice.
async fn insert_revision(tx: &mut Session, write: &ResourceWrite) -> Result<(), StoreError> {
    let Some(revision) = &write.revision else { return Ok(()) };
    let insert = keyed(
        "INSERT INTO revisions (workspace, kind, name, id, seq, status, document, created_at, created_by) \
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM revisions \
         WHERE workspace = $1 AND kind = $2 AND name = $3), $5, $6, $7, $8)",
        &write.key,
    );
    let insert = insert
        .bind(&revision.id)
        .bind(&revision.status)
        .bind(write.document.to_string())
        .bind(write.at)
        .bind(&write.actor);
    tx.execute(insert).await?;
    Ok(())
}

/// The references and revision of a write, then the resource as stored; commits.
async fn finish_write(mut tx: Session, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
    replace_references(&mut tx, write).await?;
    insert_revision(&mut tx, write).await?;
    let record = fetch_for_update(&mut tx, &write.key).await?.ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(record)
}

/// The event history after appending `new`, capped at [`MAX_EVENTS`], as stored.
fn appended_events(existing: &[serde_json::Value], new: &[serde_json::Value]) -> String {
    let all: Vec<&serde_json::Value> = existing.iter().chain(new).collect();
    let start = all.len().saturating_sub(MAX_EVENTS);
    serde_json::Value::Array(all[start..].iter().map(|e| (*e).clone()).collect()).to_string()
}

/// The key id and sealed bytes of a secret, as their two nullable columns.
fn sealed_parts(secret: &Option<SealedSecret>) -> (Option<&str>, Option<&[u8]>) {
    match secret {
        Some(s) => (Some(&s.key_id), Some(&s.bytes)),
        None => (None, None),
    }
}

/// Every resource of `kind`, by workspace and name.
async fn read_resources(session: &mut Session, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError> {
    let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE kind = $1 ORDER BY workspace, name");
    session.fetch_all(Statement::new(sql).bind(kind.as_str()), rows::resource).await
}

async fn read_api_keys(session: &mut Session) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql = format!("SELECT {} FROM api_keys", rows::API_KEY_COLUMNS);
    session.fetch_all(Statement::new(sql), rows::api_key).await
}

async fn read_admins(session: &mut Session) -> Result<Vec<(String, String)>, StoreError> {
    let statement = Statement::new("SELECT workspace, subject FROM workspace_admins");
    session.fetch_all(statement, |row| Ok((row.text("workspace")?, row.text("subject")?))).await
}

async fn read_platform_admins(session: &mut Session) -> Result<Vec<String>, StoreError> {
    let statement = Statement::new("SELECT subject FROM users WHERE platform_admin");
    session.fetch_all(statement, |row| row.text("subject")).await
}

#[async_trait]
impl ConfigurationStore for SqlStore {
    async fn configuration(&self) -> Result<Configuration, StoreError> {
        let mut read = self.engine.begin_consistent_read().await?;
        let configuration = Configuration {
            connections: read_resources(&mut read, ResourceKind::IntegrationConnection).await?,
            policies: read_resources(&mut read, ResourceKind::Policy).await?,
            models: read_resources(&mut read, ResourceKind::Model).await?,
            api_keys: read_api_keys(&mut read).await?,
            admins: read_admins(&mut read).await?,
            platform_admins: read_platform_admins(&mut read).await?,
        };
        read.commit().await?;
        Ok(configuration)
    }

    async fn get_resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError> {
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3");
        self.engine.fetch_optional(keyed(sql, key), rows::resource).await
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        read_api_keys(&mut self.engine.reader().await?).await
    }

    async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError> {
        let mut read = self.engine.reader().await?;
        Ok((read_admins(&mut read).await?, read_platform_admins(&mut read).await?))
    }
}

#[async_trait]
impl ResourceStore for SqlStore {
    async fn create_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        let key = &write.key;
        let (key_id, sealed) = sealed_parts(&write.sealed_secret);
        let insert = keyed(
            "INSERT INTO resources (workspace, kind, name, search_text, status, document, events, secret_key_id, \
             secret_sealed, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $11)",
            key,
        )
        .bind(&write.search_text)
        .bind(&write.status)
        .bind(write.document.to_string())
        .bind(appended_events(&[], &write.new_events))
        .bind(key_id)
        .bind(sealed)
        .bind(write.at)
        .bind(&write.actor);
        tx.insert_new(insert).await?;
        // A resource deleted earlier may have left revisions under the same name.
        tx.execute(keyed("DELETE FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3", key)).await?;
        finish_write(tx, write).await
    }

    async fn update_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        let key = &write.key;
        let existing = fetch_for_update(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let (key_id, sealed) = sealed_parts(&write.sealed_secret);
        let update = keyed(
            "UPDATE resources SET search_text = $4, status = $5, document = $6, events = $7, secret_key_id = $8, \
             secret_sealed = $9, updated_at = $10, updated_by = $11 WHERE workspace = $1 AND kind = $2 AND name = $3",
            key,
        )
        .bind(&write.search_text)
        .bind(&write.status)
        .bind(write.document.to_string())
        .bind(appended_events(&existing.events, &write.new_events))
        .bind(key_id)
        .bind(sealed)
        .bind(write.at)
        .bind(&write.actor);
        tx.execute(update).await?;
        finish_write(tx, write).await
    }

    async fn delete_resource(&self, key: &ResourceKey) -> Result<ResourceRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        let existing = fetch_for_update(&mut tx, key).await?.ok_or(StoreError::NotFound)?;
        let referrers = tx.fetch_all(keyed(REFERRERS, key), rows::referrer).await?;
        if !referrers.is_empty() {
            return Err(StoreError::InUse(referrers));
        }
        for statement in [
            "DELETE FROM resources WHERE workspace = $1 AND kind = $2 AND name = $3",
            "DELETE FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3",
            "DELETE FROM resource_refs WHERE workspace = $1 AND from_kind = $2 AND from_name = $3",
        ] {
            tx.execute(keyed(statement, key)).await?;
        }
        tx.commit().await?;
        Ok(existing)
    }

    async fn list_resources(
        &self,
        workspace: &str,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE workspace = $1 AND kind = $2");
        let mut select = Statement::new(sql).bind(workspace).bind(kind.as_str());
        if let Some(search) = &query.search {
            let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            select.push(" AND search_text LIKE ").push_bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
        }
        if !query.statuses.is_empty() {
            select.push(" AND status IN (");
            for (i, status) in query.statuses.iter().enumerate() {
                select.push(if i == 0 { "" } else { ", " }).push_bind(status);
            }
            select.push(")");
        }
        // The tail of an order is the head of the reverse order, read back to front.
        let descending = matches!(query.sort, SortOrder::CreatedDesc | SortOrder::NameDesc) != query.tail;
        let by_name = matches!(query.sort, SortOrder::NameAsc | SortOrder::NameDesc);
        if let Some(after) = &query.after {
            let op = if descending { " < " } else { " > " };
            if by_name {
                select.push(" AND name").push(op).push_bind(&after.name);
            } else {
                select.push(" AND (created_at, name)").push(op).push("(");
                select.push_bind(after.created_at).push(", ").push_bind(&after.name).push(")");
            }
        }
        let direction = if descending { "DESC" } else { "ASC" };
        if by_name {
            select.push(&format!(" ORDER BY name {direction}"));
        } else {
            select.push(&format!(" ORDER BY created_at {direction}, name {direction}"));
        }
        if let Some(limit) = query.limit {
            select.push(" LIMIT ").push_bind(limit);
        }
        let mut records = self.engine.fetch_all(select, rows::resource).await?;
        if query.tail {
            records.reverse();
        }
        Ok(records)
    }

    async fn count_resources(&self, workspace: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let count = Statement::new("SELECT COUNT(*) AS n FROM resources WHERE workspace = $1 AND kind = $2")
            .bind(workspace)
            .bind(kind.as_str());
        self.engine.reader().await?.fetch_one(count, |row| row.integer("n")).await
    }

    async fn all_resources(&self, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError> {
        read_resources(&mut self.engine.reader().await?, kind).await
    }

    async fn referrers(&self, key: &ResourceKey) -> Result<Vec<Reference>, StoreError> {
        self.engine.fetch_all(keyed(REFERRERS, key), rows::referrer).await
    }

    async fn list_revisions(&self, key: &ResourceKey) -> Result<Vec<RevisionRecord>, StoreError> {
        let select = keyed(
            "SELECT id, status, created_at, created_by FROM revisions WHERE workspace = $1 AND kind = $2 AND name = $3 \
             ORDER BY seq DESC",
            key,
        );
        let revision = |row: &dyn Row| {
            Ok(RevisionRecord {
                id: row.text("id")?,
                status: row.text("status")?,
                created_at: row.integer("created_at")?,
                created_by: row.text("created_by")?,
            })
        };
        self.engine.fetch_all(select, revision).await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(ResourceKey, SealedSecret)>, StoreError> {
        let select = Statement::new(
            "SELECT workspace, kind, name, secret_key_id, secret_sealed FROM resources WHERE secret_sealed IS NOT NULL",
        );
        let secret = |row: &dyn Row| {
            let sealed = SealedSecret { key_id: row.text("secret_key_id")?, bytes: row.bytes("secret_sealed")? };
            Ok((rows::resource_key(row)?, sealed))
        };
        self.engine.fetch_all(select, secret).await
    }

    async fn replace_sealed_secret(
        &self,
        key: &ResourceKey,
        old_key_id: &str,
        sealed: &SealedSecret,
    ) -> Result<bool, StoreError> {
        // Compare-and-set in one statement: a concurrent update of the secret wins.
        let update = keyed(
            "UPDATE resources SET secret_key_id = $4, secret_sealed = $5 \
             WHERE workspace = $1 AND kind = $2 AND name = $3 AND secret_key_id = $6",
            key,
        );
        let replaced = self.engine.execute(update.bind(&sealed.key_id).bind(sealed.bytes.as_slice()).bind(old_key_id));
        Ok(replaced.await? == 1)
    }
}

/// The resources that reference the one keyed `$1`, `$2`, `$3`, by name.
const REFERRERS: &str = "SELECT from_kind, from_name FROM resource_refs \
     WHERE workspace = $1 AND to_kind = $2 AND to_name = $3 ORDER BY from_name";
