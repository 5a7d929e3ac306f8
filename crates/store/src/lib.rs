//! modelgate's persistence interface, independent of any database engine: the store's traits,
//! split by concern so each caller depends on what it uses ([`ConfigurationStore`] for the
//! inference plane's snapshot, [`UsageStore`] for the usage writer, [`UsageReportStore`] for the
//! usage API, [`Store`] for the control plane and the server), the records they read and write,
//! [`StoreError`], [`ConfigChange`] and the [`ChangeFeed`] nodes hear each other's changes on.
//! `modelgate-store-sql` implements them on SQLite and PostgreSQL.
//!
//! Invariants: secrets arrive already sealed and leave sealed; every write that touches
//! references (a model naming connections and policies) checks and records them in the same
//! transaction, so a delete can never leave a model pointing at nothing. Usage records reach
//! the store in batches through [`UsageWriter`], so a request never waits for the database to
//! meter itself.

mod change;
mod health;
mod records;
mod usage_report;
mod usage_spool;
mod usage_writer;

pub use change::{ChangeFeed, ChangeSource, ConfigChange};
pub use health::StoreHealth;
pub use records::*;
pub use usage_report::*;
pub use usage_spool::SPOOL_FILE;
pub use usage_writer::{
    UsageWriter, UsageWriterSettings, UsageWriterStats, UsageWriterTask, SHUTDOWN_BUDGET, WRITE_TIMEOUT,
};

use async_trait::async_trait;
use modelgate_domain::secret_box::SealedSecret;
use std::collections::BTreeMap;

/// The configuration as one consistent read: see [`ConfigurationStore::configuration`].
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

/// The engine's own error behind a [`StoreError`], kept whole for the log.
pub type DatabaseError = Box<dyn std::error::Error + Send + Sync>;

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
    NotEmpty(BTreeMap<String, i64>),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached. Its message may name tables and columns:
    /// for the log, never for a client.
    #[error("database error: {0}")]
    Database(DatabaseError),
    /// The database cannot be reached now (refused, cut, or no answer in time): worth retrying
    /// later, unlike [`StoreError::Database`].
    #[error("database unreachable: {0}")]
    Unavailable(DatabaseError),
    #[error("migration failed: {0}")]
    Migration(DatabaseError),
    /// A database URL of no supported engine (the scheme it has).
    #[error("unsupported database URL scheme '{0}': use sqlite://path/to/file.db or postgres://user@host/db")]
    UnsupportedUrl(String),
}

/// The reads a node serves from: the inference plane builds its route snapshot from the whole
/// configuration and updates it one model or the grants at a time.
#[async_trait]
pub trait ConfigurationStore: Send + Sync + 'static {
    /// Everything the route snapshot is built from, read in one consistent view (one read
    /// transaction), so that a rebuild never sees a model without the connection created
    /// just before it.
    async fn configuration(&self) -> Result<Configuration, StoreError>;
    /// Reads one resource.
    async fn get_resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError>;
    /// Every API key record (for the inference plane's snapshot).
    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Every (workspace, subject) administration, and the platform admins' subjects.
    async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError>;
}

/// Models, integration connections and policies: their writes (with references and
/// revisions), listings, and the sealed secrets that master-key rotation reseals.
#[async_trait]
pub trait ResourceStore: Send + Sync + 'static {
    /// Creates a resource; `AlreadyExists` if the name is taken, `MissingReference` if it names
    /// a resource that does not exist.
    async fn create_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError>;
    /// Replaces an existing resource; `NotFound` if it does not exist.
    async fn update_resource(&self, write: &ResourceWrite) -> Result<ResourceRecord, StoreError>;
    /// Deletes a resource and its revisions; `InUse` if another resource references it.
    async fn delete_resource(&self, key: &ResourceKey) -> Result<ResourceRecord, StoreError>;
    /// Reads a page of resources of one kind in a workspace.
    async fn list_resources(
        &self,
        workspace: &str,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Vec<ResourceRecord>, StoreError>;
    /// Counts the resources of one kind in a workspace, ignoring filters.
    async fn count_resources(&self, workspace: &str, kind: ResourceKind) -> Result<i64, StoreError>;
    /// Every resource of one kind in every workspace.
    async fn all_resources(&self, kind: ResourceKind) -> Result<Vec<ResourceRecord>, StoreError>;
    /// The resources that reference `key`.
    async fn referrers(&self, key: &ResourceKey) -> Result<Vec<Reference>, StoreError>;
    /// The revisions of a resource, newest first.
    async fn list_revisions(&self, key: &ResourceKey) -> Result<Vec<RevisionRecord>, StoreError>;

    /// Every sealed connection secret (for master-key rotation).
    async fn sealed_secrets(&self) -> Result<Vec<(ResourceKey, SealedSecret)>, StoreError>;
    /// Replaces a sealed secret if it is still sealed with `old_key_id`; returns whether it was.
    async fn replace_sealed_secret(
        &self,
        key: &ResourceKey,
        old_key_id: &str,
        sealed: &SealedSecret,
    ) -> Result<bool, StoreError>;
}

/// Who is who: workspaces, users and administrators, service accounts and API keys.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
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
    /// everything in it goes, secrets and usage included. Always `NotEmpty` while it is the
    /// home of a user's API key (deleting it would lock that user out).
    async fn delete_workspace(&self, name: &str, force: bool) -> Result<WorkspaceRecord, StoreError>;
    /// What a workspace holds, counted by kind (`models`, `integrationconnections`, ...).
    async fn count_workspace_contents(&self, name: &str) -> Result<BTreeMap<String, i64>, StoreError>;

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
    /// Revokes (deletes) the key `id` of `subject`; `NotFound` if it has no such key. Of two
    /// concurrent revocations, only one gets the record.
    async fn delete_api_key(&self, subject: &str, id: &str) -> Result<ApiKeyRecord, StoreError>;
}

/// The web console's sessions, shared by every control node on the database.
#[async_trait]
pub trait ConsoleSessionStore: Send + Sync + 'static {
    /// Stores a new session, and deletes sessions that ended before `session.created_at`.
    async fn create_console_session(&self, session: &ConsoleSessionRecord) -> Result<(), StoreError>;
    /// The session whose token digest is `token_digest`.
    async fn find_console_session(&self, token_digest: &str) -> Result<Option<ConsoleSessionRecord>, StoreError>;
    /// Records activity on a session (for its idle timeout).
    async fn touch_console_session(&self, token_digest: &str, at: Micros) -> Result<(), StoreError>;
    /// Ends a session; returns whether it existed.
    async fn delete_console_session(&self, token_digest: &str) -> Result<bool, StoreError>;
}

/// Metered requests. Usage is history: it outlives the model it names, and goes only with its
/// workspace.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Appends usage records, all or none (one transaction).
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError>;
    /// The usage records of a workspace (or one of its models) in `[from, to)`, oldest first.
    async fn query_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError>;
    /// Deletes usage records older than `before` (retention); returns how many went.
    async fn delete_usage_before(&self, before: Micros) -> Result<u64, StoreError>;
}

/// How nodes sharing a database hear of each other's configuration changes.
#[async_trait]
pub trait ChangeFeedStore: Send + Sync + 'static {
    /// Tells every node sharing this database that the configuration changed. A no-op for an
    /// embedded store, which only one node uses.
    async fn announce_change(&self, _change: &ConfigChange) -> Result<(), StoreError> {
        Ok(())
    }

    /// A feed of other nodes' announcements, if this engine has one.
    async fn subscribe_changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        Ok(None)
    }
}

/// The whole store, for the control plane and the server: every concern, plus the connection.
#[async_trait]
pub trait Store:
    ConfigurationStore
    + ResourceStore
    + IdentityStore
    + UsageStore
    + UsageReportStore
    + ChangeFeedStore
    + ConsoleSessionStore
{
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Checks that the database answers on a connection kept for this alone, so that a pool
    /// busy with long queries does not look like an outage ([`StoreHealth`] calls it). A
    /// probe dropped before it ends (a timeout) leaves nothing half-done behind.
    async fn probe(&self) -> Result<(), StoreError> {
        self.ping().await
    }

    /// Closes the store's connections, waiting for running queries; later calls fail.
    async fn close(&self) {}
}
