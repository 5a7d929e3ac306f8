//! modelgate's persistent store. The [`Store`] trait is the only way the rest of modelgate
//! reaches the database; [`sqlite::SqliteStore`] is the embedded default.
//!
//! Invariants: secrets arrive already sealed and leave sealed; every write that touches
//! references (a model naming connections and policies) checks and records them in the same
//! transaction, so a delete can never leave a model pointing at nothing.

mod records;
pub mod sqlite;

pub use records::*;

use async_trait::async_trait;

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
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// The persistence interface of modelgate.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a workspace unless it exists; returns whether it was created.
    async fn ensure_workspace(&self, name: &str, actor: &str, at: Micros) -> Result<bool, StoreError>;
    /// Whether a workspace exists.
    async fn workspace_exists(&self, name: &str) -> Result<bool, StoreError>;
    /// Whether any workspace exists yet (false on a fresh database).
    async fn is_initialized(&self) -> Result<bool, StoreError>;

    /// Stores a new API key record (its digest, never the key).
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Finds the key whose digest is `digest`.
    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

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
}
