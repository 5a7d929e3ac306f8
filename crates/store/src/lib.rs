//! modelgate's persistent store. The [`Store`] trait is the only way the rest of modelgate
//! reaches the database; [`sqlite::SqliteStore`] is the embedded default and
//! [`postgres::PostgresStore`] serves nodes that share a database. [`open`] picks one by URL.
//!
//! Invariants: secrets arrive already sealed and leave sealed; every write that touches
//! references (a model naming connections and policies) checks and records them in the same
//! transaction, so a delete can never leave a model pointing at nothing. Usage records reach
//! the store in batches through [`UsageWriter`], so a request never waits for the database to
//! meter itself.

pub mod postgres;
mod records;
pub mod sqlite;
mod usage_writer;

pub use records::*;
pub use usage_writer::{UsageWriter, UsageWriterTask};

use async_trait::async_trait;
use modelgate_domain::secret_box::SealedSecret;
use std::sync::Arc;

/// Opens the store a database URL names: SQLite for `sqlite:` URLs, PostgreSQL for
/// `postgres:` and `postgresql:` URLs. Runs the engine's embedded migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PostgresStore::open(url).await?)),
        // Only the scheme: the rest of a URL may hold a password.
        _ => Err(StoreError::UnsupportedUrl(scheme.to_string())),
    }
}

/// Announcements of configuration changes made by any node.
pub struct ChangeFeed {
    listener: sqlx::postgres::PgListener,
}

impl ChangeFeed {
    /// Waits for the next announcement. An error means the connection broke: subscribe again,
    /// and rebuild everything, as announcements made meanwhile are lost. (The listener is not
    /// left to reconnect by itself, which would lose them silently.)
    pub async fn next(&mut self) -> Result<ConfigChange, StoreError> {
        match self.listener.try_recv().await? {
            Some(notification) => Ok(ConfigChange::from_payload(notification.payload())),
            None => Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the connection listening for changes was lost",
            )))),
        }
    }
}

/// The configuration as one consistent read: see [`Store::configuration`].
#[derive(Debug, Default)]
pub struct Configuration {
    pub connections: Vec<ResourceRecord>,
    pub policies: Vec<ResourceRecord>,
    pub models: Vec<ResourceRecord>,
    pub api_keys: Vec<ApiKeyRecord>,
    /// (workspace, subject) pairs.
    pub admins: Vec<(String, String)>,
    pub platform_admins: Vec<String>,
}

/// What a configuration change touched, so that nodes rebuild only that part of their route
/// snapshot: a model write costs one row read, not a read of every model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum ConfigChange {
    /// Anything (connections, policies, workspaces): rebuild from scratch.
    Everything,
    /// One model endpoint was created, updated or deleted.
    Model { workspace: String, name: String },
    /// API keys, service accounts or administrators: who may call, not what is served.
    Grants,
}

impl ConfigChange {
    /// The `NOTIFY` payload (well under PostgreSQL's 8,000-byte limit: names are short).
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a payload; anything unreadable (an older node's empty payload) means everything.
    pub fn from_payload(payload: &str) -> ConfigChange {
        serde_json::from_str(payload).unwrap_or(ConfigChange::Everything)
    }
}

/// Splits a usage batch into multi-row `INSERT`s of 100, 10 and 1 rows, so that whatever the
/// batch size only three statement shapes exist: each is prepared once per connection and
/// reused from the statement cache (one statement per batch size would be parsed and planned
/// anew for nearly every batch, and big ones cost more to parse than to run).
pub(crate) fn usage_statement_chunks(records: &[UsageRecord]) -> impl Iterator<Item = &[UsageRecord]> {
    let hundreds = records.len() / 100 * 100;
    let tens = hundreds + (records.len() - hundreds) / 10 * 10;
    records[..hundreds].chunks(100).chain(records[hundreds..tens].chunks(10)).chain(records[tens..].chunks(1))
}

/// The `INSERT` statements of 1, 10 and 100 usage records (the sizes of
/// [`usage_statement_chunks`]), written once: formatting a statement's placeholders per batch
/// cost more than binding its values.
pub(crate) struct UsageInserts {
    one: String,
    ten: String,
    hundred: String,
}

impl UsageInserts {
    /// The statements with the `n`th (from 1) placeholder written by `placeholder`.
    pub(crate) fn new(columns: &str, placeholder: impl Fn(usize) -> String) -> UsageInserts {
        let arity = columns.split(',').count();
        let statement = |rows: usize| {
            let values: Vec<String> = (0..rows)
                .map(|row| {
                    let row: Vec<String> = (1..=arity).map(|column| placeholder(row * arity + column)).collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            format!("INSERT INTO usage_records ({columns}) VALUES {}", values.join(", "))
        };
        UsageInserts { one: statement(1), ten: statement(10), hundred: statement(100) }
    }

    /// The statement for a chunk of `rows` records (1, 10 or 100).
    pub(crate) fn for_rows(&self, rows: usize) -> &str {
        match rows {
            100 => &self.hundred,
            10 => &self.ten,
            _ => &self.one,
        }
    }
}

/// `query` with the values of `record` bound in the order of the usage columns.
pub(crate) fn bind_usage<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    record: &'q UsageRecord,
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(record.at)
        .bind(record.workspace.as_str())
        .bind(record.model.as_str())
        .bind(record.subject.as_str())
        .bind(record.key_id.as_deref())
        .bind(record.provider.as_str())
        .bind(i32::from(record.status))
        .bind(record.input_tokens)
        .bind(record.output_tokens)
        .bind(record.total_tokens)
        .bind(record.latency_ms)
        .bind(record.ttfb_ms)
}

/// The PostgreSQL channel configuration changes are announced on.
pub const CHANGE_CHANNEL: &str = "modelgate_config";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("{0} does not exist")]
    MissingReference(Reference),
    #[error("still referenced")]
    InUse(Vec<Reference>),
    /// A workspace still holds these (counts by kind).
    #[error("not empty")]
    NotEmpty(std::collections::BTreeMap<String, i64>),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A database URL of no supported engine (the scheme it has).
    #[error("unsupported database URL scheme '{0}': use sqlite://path/to/file.db or postgres://user@host/db")]
    UnsupportedUrl(String),
}

/// The persistence interface of modelgate.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the store's connections, waiting for running queries; later calls fail.
    async fn close(&self) {}

    /// Deletes usage records older than `before` (retention); returns how many went.
    async fn delete_usage_before(&self, before: Micros) -> Result<u64, StoreError>;

    /// Everything the route snapshot is built from, read in one consistent view (one read
    /// transaction), so that a rebuild never sees a model without the connection created
    /// just before it.
    async fn configuration(&self) -> Result<Configuration, StoreError>;

    /// Tells every node sharing this database that the configuration changed (PostgreSQL:
    /// `NOTIFY`). A no-op for an embedded store, which only one node uses.
    async fn announce_change(&self, _change: &ConfigChange) -> Result<(), StoreError> {
        Ok(())
    }

    /// A feed of other nodes' announcements, if this engine has one (PostgreSQL: `LISTEN`).
    async fn subscribe_changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        Ok(None)
    }

    /// Creates a workspace unless it exists; returns whether it was created.
    async fn ensure_workspace(&self, name: &str, actor: &str, at: Micros) -> Result<bool, StoreError>;
    /// Whether a workspace exists.
    async fn workspace_exists(&self, name: &str) -> Result<bool, StoreError>;
    /// Whether any workspace exists yet (false on a fresh database).
    async fn is_initialized(&self) -> Result<bool, StoreError>;
    /// Creates a workspace and makes `admin` (if any) its administrator; `AlreadyExists` if taken.
    async fn create_workspace(&self, workspace: &WorkspaceRecord, admin: Option<&str>) -> Result<(), StoreError>;
    /// Reads one workspace.
    async fn get_workspace(&self, name: &str) -> Result<Option<WorkspaceRecord>, StoreError>;
    /// Every workspace, or those `admin` administers, by name.
    async fn list_workspaces(&self, admin: Option<&str>) -> Result<Vec<WorkspaceRecord>, StoreError>;
    /// Replaces a workspace's writable fields; `NotFound` if it does not exist.
    async fn update_workspace(&self, workspace: &WorkspaceRecord) -> Result<(), StoreError>;
    /// Deletes a workspace. Without `force`, `NotEmpty` if it holds anything; with `force`,
    /// everything in it goes, secrets included. Always `NotEmpty` while it is the home of a
    /// user's API key (deleting it would lock that user out).
    async fn delete_workspace(&self, name: &str, force: bool) -> Result<WorkspaceRecord, StoreError>;
    /// What a workspace holds, counted by kind (`models`, `integrationconnections`, ...).
    async fn count_workspace_contents(&self, name: &str)
        -> Result<std::collections::BTreeMap<String, i64>, StoreError>;

    /// Records a human principal; `platform_admin` is only ever raised, never lowered.
    async fn ensure_user(&self, subject: &str, platform_admin: bool, at: Micros) -> Result<(), StoreError>;
    /// Whether `subject` administers every workspace.
    async fn is_platform_admin(&self, subject: &str) -> Result<bool, StoreError>;
    /// Whether `subject` administers `workspace`.
    async fn is_workspace_admin(&self, workspace: &str, subject: &str) -> Result<bool, StoreError>;
    /// Makes `subject` an administrator of `workspace`.
    async fn add_workspace_admin(&self, workspace: &str, subject: &str, at: Micros) -> Result<(), StoreError>;

    /// Stores a new service account.
    async fn create_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError>;
    /// Reads one service account by client id.
    async fn get_service_account(&self, client_id: &str) -> Result<Option<ServiceAccountRecord>, StoreError>;
    /// The service accounts of a workspace, oldest first.
    async fn list_service_accounts(&self, workspace: &str) -> Result<Vec<ServiceAccountRecord>, StoreError>;
    /// Replaces a service account's name and description.
    async fn update_service_account(&self, account: &ServiceAccountRecord) -> Result<(), StoreError>;
    /// Deletes a service account and every API key it holds.
    async fn delete_service_account(&self, client_id: &str) -> Result<ServiceAccountRecord, StoreError>;

    /// Stores a new API key record (its digest, never the key).
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Finds the key whose digest is `digest`.
    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// The API keys of a principal, oldest first.
    async fn list_api_keys(&self, subject: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes (deletes) the key `id` of `subject`; `NotFound` if it has no such key.
    async fn delete_api_key(&self, subject: &str, id: &str) -> Result<ApiKeyRecord, StoreError>;

    /// Every resource of one kind in every workspace (for the inference plane's snapshot).
    async fn all_resources(&self, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError>;
    /// Every API key record (for the inference plane's snapshot).
    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Every (workspace, subject) administration, and the platform admins' subjects.
    async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError>;

    /// Every sealed connection secret (for master-key rotation).
    async fn sealed_secrets(&self) -> Result<Vec<(ResourceKey, SealedSecret)>, StoreError>;
    /// Replaces a sealed secret if it is still sealed with `old_key_id`; returns whether it was.
    async fn replace_sealed_secret(
        &self,
        key: &ResourceKey,
        old_key_id: &str,
        sealed: &SealedSecret,
    ) -> Result<bool, StoreError>;

    /// Creates a resource; `AlreadyExists` if the name is taken, `MissingReference` if it names
    /// a resource that does not exist.
    async fn create_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError>;
    /// Replaces an existing resource; `NotFound` if it does not exist.
    async fn update_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError>;
    /// Deletes a resource and its revisions; `InUse` if another resource references it.
    async fn delete_resource(&self, key: &ResourceKey) -> Result<ResourceRecord, StoreError>;
    /// Reads one resource.
    async fn get_resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError>;
    /// Reads a page of resources of one kind in a workspace.
    async fn list_resources(
        &self,
        workspace: &str,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Vec<ResourceRecord>, StoreError>;
    /// Counts the resources of one kind in a workspace, ignoring filters.
    async fn count_resources(&self, workspace: &str, kind: ResourceKind) -> Result<i64, StoreError>;
    /// The resources that reference `key`.
    async fn referrers(&self, key: &ResourceKey) -> Result<Vec<Reference>, StoreError>;
    /// The revisions of a resource, newest first.
    async fn list_revisions(&self, key: &ResourceKey) -> Result<Vec<RevisionRecord>, StoreError>;

    /// Appends usage records, all or none (one transaction). Usage is history: it outlives the
    /// model it names, and goes only with its workspace.
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError>;
    /// The usage records of a workspace (or one of its models) in `[from, to)`, oldest first.
    async fn query_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_notify_payloads() {
        let model = ConfigChange::Model { workspace: "w".into(), name: "m".into() };
        assert_eq!(model.to_payload(), r#"{"change":"model","workspace":"w","name":"m"}"#);
        for change in [model, ConfigChange::Grants, ConfigChange::Everything] {
            assert_eq!(ConfigChange::from_payload(&change.to_payload()), change);
        }
        assert_eq!(ConfigChange::from_payload(""), ConfigChange::Everything, "an older node's empty payload");
        assert_eq!(ConfigChange::from_payload(r#"{"change":"future"}"#), ConfigChange::Everything);
    }

    #[test]
    fn usage_batches_are_split_into_three_statement_shapes() {
        for (n, expected) in
            [(0, vec![]), (3, vec![1, 1, 1]), (10, vec![10]), (237, vec![100, 100, 10, 10, 10, 1, 1, 1, 1, 1, 1, 1])]
        {
            let records = vec![UsageRecord::default(); n];
            let sizes: Vec<usize> = usage_statement_chunks(&records).map(<[UsageRecord]>::len).collect();
            assert_eq!(sizes, expected, "{n}");
        }
    }

    #[test]
    fn usage_inserts_number_their_placeholders_across_rows() {
        let inserts = UsageInserts::new("a, b", |n| format!("${n}"));
        assert_eq!(inserts.for_rows(1), "INSERT INTO usage_records (a, b) VALUES ($1, $2)");
        assert!(inserts.for_rows(10).ends_with("($17, $18), ($19, $20)"));
        assert_eq!(inserts.for_rows(100).matches('(').count(), 101);
        let sqlite = UsageInserts::new("a, b", |_| "?".to_string());
        assert_eq!(sqlite.for_rows(1), "INSERT INTO usage_records (a, b) VALUES (?, ?)");
    }
}
