//! Workspaces, users and administrators, service accounts and API keys.

use crate::engine::{RowLock, Session};
use crate::rows::{self, corrupt, API_KEY_COLUMNS, SERVICE_ACCOUNT_COLUMNS, WORKSPACE_COLUMNS};
use crate::statement::Statement;
use crate::SqlStore;
use async_trait::async_trait;
use modelgate_store::*;
use std::collections::BTreeMap;

/// Counts what a workspace holds, by the names Blaxel's `resourceCounts` uses. One statement,
/// so every count comes from the same snapshot.
async fn count_contents(session: &mut Session, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
    let count = Statement::new(
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
    .bind(ResourceKind::Policy.as_str());
    session
        .fetch_one(count, |row| {
            let mut counts = BTreeMap::new();
            for label in ["models", "integrationconnections", "policies", "serviceaccounts"] {
                counts.insert(label.to_string(), row.integer(label)?);
            }
            counts.insert(USER_KEYS_COUNT.to_string(), row.integer("user_keys")?);
            Ok(counts)
        })
        .await
}

/// Scopes as stored: a JSON array.
fn scopes_column(scopes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(scopes).map_err(corrupt)
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn ensure_workspace(&self, name: &str, actor: &str, at: Micros) -> Result<bool, StoreError> {
        let insert = Statement::new(
            "INSERT INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, '{}', $2, $2, $3, $3) ON CONFLICT DO NOTHING",
        );
        Ok(self.engine.execute(insert.bind(name).bind(at).bind(actor)).await? == 1)
    }

    async fn workspace_exists(&self, name: &str) -> Result<bool, StoreError> {
        let select = Statement::new("SELECT 1 FROM workspaces WHERE name = $1").bind(name);
        Ok(self.engine.fetch_optional(select, |_| Ok(())).await?.is_some())
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let select = Statement::new("SELECT 1 FROM workspaces LIMIT 1");
        Ok(self.engine.fetch_optional(select, |_| Ok(())).await?.is_some())
    }

    async fn create_workspace(&self, workspace: &WorkspaceRecord, admin: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let insert = Statement::new(
            "INSERT INTO workspaces (name, document, created_at, updated_at, created_by, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&workspace.name)
        .bind(workspace.document.to_string())
        .bind(workspace.created_at)
        .bind(workspace.updated_at)
        .bind(&workspace.created_by)
        .bind(&workspace.updated_by);
        tx.insert_new(insert).await?;
        if let Some(admin) = admin {
            let grant = Statement::new(
                "INSERT INTO workspace_admins (workspace, subject, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            );
            tx.execute(grant.bind(&workspace.name).bind(admin).bind(workspace.created_at)).await?;
        }
        tx.commit().await
    }

    async fn get_workspace(&self, name: &str) -> Result<Option<WorkspaceRecord>, StoreError> {
        let select = Statement::new(format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = $1")).bind(name);
        self.engine.fetch_optional(select, rows::workspace).await
    }

    async fn list_workspaces(&self, admin: Option<&str>) -> Result<Vec<WorkspaceRecord>, StoreError> {
        let select = match admin {
            None => Statement::new(format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY name")),
            Some(subject) => Statement::new(format!(
                "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name IN \
                 (SELECT workspace FROM workspace_admins WHERE subject = $1) ORDER BY name"
            ))
            .bind(subject),
        };
        self.engine.fetch_all(select, rows::workspace).await
    }

    async fn update_workspace(&self, workspace: &WorkspaceRecord) -> Result<(), StoreError> {
        let update =
            Statement::new("UPDATE workspaces SET document = $1, updated_at = $2, updated_by = $3 WHERE name = $4")
                .bind(workspace.document.to_string())
                .bind(workspace.updated_at)
                .bind(&workspace.updated_by)
                .bind(&workspace.name);
        if self.engine.execute(update).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_workspace(&self, name: &str, force: bool) -> Result<WorkspaceRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        // On PostgreSQL the row lock makes writes into the workspace (their foreign key checks
        // share-lock this row) wait until the delete is done, so nothing is added after the count
        // below; on SQLite the single writer does.
        let lock = tx.lock(RowLock::Update);
        let select = Statement::new(format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE name = $1{lock}"));
        let record = tx.fetch_optional(select.bind(name), rows::workspace).await?.ok_or(StoreError::NotFound)?;
        let counts = count_contents(&mut tx, name).await?;
        let user_keys = counts.get(USER_KEYS_COUNT).copied().unwrap_or(0);
        if user_keys > 0 || (!force && counts.values().any(|n| *n > 0)) {
            return Err(StoreError::NotEmpty(counts));
        }
        // Resources, service accounts, keys and admins go by cascade; these tables have no
        // foreign key to the workspace. Usage goes too: it is history of the workspace only.
        for table in ["resource_refs", "revisions", "api_keys", "usage_records"] {
            tx.execute(Statement::new(format!("DELETE FROM {table} WHERE workspace = $1")).bind(name)).await?;
        }
        tx.execute(Statement::new("DELETE FROM workspaces WHERE name = $1").bind(name)).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn count_workspace_contents(&self, name: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        count_contents(&mut self.engine.reader().await?, name).await
    }

    async fn ensure_user(&self, subject: &str, platform_admin: bool, at: Micros) -> Result<(), StoreError> {
        let upsert = Statement::new(
            "INSERT INTO users (subject, platform_admin, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subject) DO UPDATE SET platform_admin = users.platform_admin OR excluded.platform_admin",
        );
        self.engine.execute(upsert.bind(subject).bind(platform_admin).bind(at)).await?;
        Ok(())
    }

    async fn is_platform_admin(&self, subject: &str) -> Result<bool, StoreError> {
        let select = Statement::new("SELECT 1 FROM users WHERE subject = $1 AND platform_admin").bind(subject);
        Ok(self.engine.fetch_optional(select, |_| Ok(())).await?.is_some())
    }

    async fn is_workspace_admin(&self, workspace: &str, subject: &str) -> Result<bool, StoreError> {
        let select = Statement::new("SELECT 1 FROM workspace_admins WHERE workspace = $1 AND subject = $2");
        Ok(self.engine.fetch_optional(select.bind(workspace).bind(subject), |_| Ok(())).await?.is_some())
    }

    async fn add_workspace_admin(&self, workspace: &str, subject: &str, at: Micros) -> Result<(), StoreError> {
        let insert = Statement::new(
            "INSERT INTO workspace_admins (workspace, subject, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        );
        self.engine.execute(insert.bind(workspace).bind(subject).bind(at)).await?;
        Ok(())
    }

    async fn create_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        let insert = Statement::new(
            "INSERT INTO service_accounts (client_id, workspace, name, description, secret_digest, scopes, created_at, \
             updated_at, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&account.client_id)
        .bind(&account.workspace)
        .bind(&account.name)
        .bind(&account.description)
        .bind(&account.secret_digest)
        .bind(scopes_column(&account.scopes)?)
        .bind(account.created_at)
        .bind(account.updated_at)
        .bind(&account.created_by)
        .bind(&account.updated_by);
        self.engine.insert_new(insert).await
    }

    async fn get_service_account(&self, client_id: &str) -> Result<Option<ServiceAccountRecord>, StoreError> {
        let sql = format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = $1");
        self.engine.fetch_optional(Statement::new(sql).bind(client_id), rows::service_account).await
    }

    async fn list_service_accounts(&self, workspace: &str) -> Result<Vec<ServiceAccountRecord>, StoreError> {
        let sql = format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE workspace = $1 ORDER BY created_at, client_id"
        );
        self.engine.fetch_all(Statement::new(sql).bind(workspace), rows::service_account).await
    }

    async fn update_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError> {
        let update = Statement::new(
            "UPDATE service_accounts SET name = $1, description = $2, updated_at = $3, updated_by = $4 WHERE client_id = $5",
        )
        .bind(&account.name)
        .bind(&account.description)
        .bind(account.updated_at)
        .bind(&account.updated_by)
        .bind(&account.client_id);
        if self.engine.execute(update).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_service_account(&self, client_id: &str) -> Result<ServiceAccountRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        let lock = tx.lock(RowLock::Update);
        let select = format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE client_id = $1{lock}");
        let record = tx
            .fetch_optional(Statement::new(select).bind(client_id), rows::service_account)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.execute(Statement::new("DELETE FROM api_keys WHERE subject = $1").bind(client_id)).await?;
        tx.execute(Statement::new("DELETE FROM service_accounts WHERE client_id = $1").bind(client_id)).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let insert = Statement::new(
            "INSERT INTO api_keys (id, workspace, name, key_digest, subject, subject_type, scopes, expires_in, expires_at, \
             created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&key.id)
        .bind(&key.workspace)
        .bind(&key.name)
        .bind(&key.key_digest)
        .bind(&key.subject)
        .bind(&key.subject_type)
        .bind(scopes_column(&key.scopes)?)
        .bind(&key.expires_in)
        .bind(key.expires_at)
        .bind(key.created_at)
        .bind(&key.created_by);
        self.engine.insert_new(insert).await
    }

    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_digest = $1");
        self.engine.fetch_optional(Statement::new(sql).bind(digest), rows::api_key).await
    }

    async fn list_api_keys(&self, subject: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = $1 ORDER BY created_at, id");
        self.engine.fetch_all(Statement::new(sql).bind(subject), rows::api_key).await
    }

    async fn delete_api_key(&self, subject: &str, id: &str) -> Result<ApiKeyRecord, StoreError> {
        // One statement: of two concurrent revocations, only one gets the record.
        let sql = format!("DELETE FROM api_keys WHERE subject = $1 AND id = $2 RETURNING {API_KEY_COLUMNS}");
        let mut writer = self.engine.writer().await?;
        writer
            .fetch_optional(Statement::new(sql).bind(subject).bind(id), rows::api_key)
            .await?
            .ok_or(StoreError::NotFound)
    }
}
