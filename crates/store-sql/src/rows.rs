//! The tables' column lists and the records read from their rows, for both engines.

use crate::engine::Row;
use modelgate_domain::secret_box::SealedSecret;
use modelgate_store::*;

pub(crate) const RESOURCE_COLUMNS: &str = "workspace, kind, name, status, document, events, secret_key_id, \
     secret_sealed, created_at, updated_at, created_by, updated_by";
pub(crate) const API_KEY_COLUMNS: &str =
    "id, workspace, name, key_digest, subject, subject_type, scopes, expires_in, expires_at, created_at, created_by";
pub(crate) const WORKSPACE_COLUMNS: &str = "name, document, created_at, updated_at, created_by, updated_by";
pub(crate) const SERVICE_ACCOUNT_COLUMNS: &str =
    "client_id, workspace, name, description, secret_digest, scopes, created_at, updated_at, created_by, updated_by";
pub(crate) const USAGE_COLUMNS: &str = "at, workspace, model, subject, key_id, provider, status, input_tokens, \
     output_tokens, total_tokens, latency_ms, ttfb_ms, record_id, cache_read_tokens, cache_write_tokens, cost_nano_usd";

/// Stored data that cannot be read back.
pub(crate) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// A JSON value stored as text, as the type `T` it holds.
fn json_column<T: serde::de::DeserializeOwned>(row: &dyn Row, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(&row.text(column)?).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn kind_column(row: &dyn Row, column: &str) -> Result<ResourceKind, StoreError> {
    let text = row.text(column)?;
    ResourceKind::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown kind {text}")))
}

/// The key of a row with `workspace`, `kind` and `name` columns.
pub(crate) fn resource_key(row: &dyn Row) -> Result<ResourceKey, StoreError> {
    Ok(ResourceKey { workspace: row.text("workspace")?, kind: kind_column(row, "kind")?, name: row.text("name")? })
}

/// A row of [`RESOURCE_COLUMNS`].
pub(crate) fn resource(row: &dyn Row) -> Result<ResourceRecord, StoreError> {
    let key_id = row.optional_text("secret_key_id")?;
    let sealed = row.optional_bytes("secret_sealed")?;
    Ok(ResourceRecord {
        key: resource_key(row)?,
        document: serde_json::from_str(&row.text("document")?).map_err(corrupt)?,
        status: row.optional_text("status")?,
        events: serde_json::from_str(&row.text("events")?).map_err(corrupt)?,
        sealed_secret: key_id.zip(sealed).map(|(key_id, bytes)| SealedSecret { key_id, bytes }),
        created_at: row.integer("created_at")?,
        updated_at: row.integer("updated_at")?,
        created_by: row.text("created_by")?,
        updated_by: row.text("updated_by")?,
    })
}

/// A row of `from_kind` and `from_name`: a resource that references another.
pub(crate) fn referrer(row: &dyn Row) -> Result<Reference, StoreError> {
    Ok(Reference { kind: kind_column(row, "from_kind")?, name: row.text("from_name")? })
}

/// A row of [`API_KEY_COLUMNS`].
pub(crate) fn api_key(row: &dyn Row) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.text("id")?,
        workspace: row.text("workspace")?,
        name: row.text("name")?,
        key_digest: row.text("key_digest")?,
        subject: row.text("subject")?,
        subject_type: row.text("subject_type")?,
        scopes: json_column(row, "scopes")?,
        expires_in: row.optional_text("expires_in")?,
        expires_at: row.optional_integer("expires_at")?,
        created_at: row.integer("created_at")?,
        created_by: row.text("created_by")?,
    })
}

/// A row of [`WORKSPACE_COLUMNS`].
pub(crate) fn workspace(row: &dyn Row) -> Result<WorkspaceRecord, StoreError> {
    Ok(WorkspaceRecord {
        name: row.text("name")?,
        document: json_column(row, "document")?,
        created_at: row.integer("created_at")?,
        updated_at: row.integer("updated_at")?,
        created_by: row.text("created_by")?,
        updated_by: row.text("updated_by")?,
    })
}

/// A row of [`SERVICE_ACCOUNT_COLUMNS`].
pub(crate) fn service_account(row: &dyn Row) -> Result<ServiceAccountRecord, StoreError> {
    Ok(ServiceAccountRecord {
        client_id: row.text("client_id")?,
        workspace: row.text("workspace")?,
        name: row.text("name")?,
        description: row.optional_text("description")?,
        secret_digest: row.text("secret_digest")?,
        scopes: json_column(row, "scopes")?,
        created_at: row.integer("created_at")?,
        updated_at: row.integer("updated_at")?,
        created_by: row.text("created_by")?,
        updated_by: row.text("updated_by")?,
    })
}

/// A row of [`USAGE_COLUMNS`].
pub(crate) fn usage(row: &dyn Row) -> Result<UsageRecord, StoreError> {
    let status = row.integer32("status")?;
    let id = match row.optional_bytes("record_id")? {
        Some(bytes) => Some(UsageRecordId::from_bytes(&bytes).ok_or_else(|| corrupt("usage record id"))?),
        None => None,
    };
    Ok(UsageRecord {
        id,
        at: row.integer("at")?,
        workspace: row.text("workspace")?,
        model: row.text("model")?,
        subject: row.text("subject")?,
        key_id: row.optional_text("key_id")?,
        provider: row.text("provider")?,
        status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("usage status {status}")))?,
        input_tokens: row.integer("input_tokens")?,
        output_tokens: row.integer("output_tokens")?,
        total_tokens: row.integer("total_tokens")?,
        cache_read_tokens: row.integer("cache_read_tokens")?,
        cache_write_tokens: row.integer("cache_write_tokens")?,
        cost_nano_usd: row.optional_integer("cost_nano_usd")?,
        latency_ms: row.integer("latency_ms")?,
        ttfb_ms: row.optional_integer("ttfb_ms")?,
    })
}
