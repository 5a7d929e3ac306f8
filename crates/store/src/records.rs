//! The rows the store reads and writes, independent of the database engine.

use modelgate_domain::secret_box::SealedSecret;
use std::fmt;

pub use modelgate_domain::timestamp::Micros;
pub use modelgate_domain::usage::{UsageRecord, UsageRecordId};

/// The kinds of resources kept in the generic resource table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Model,
    IntegrationConnection,
    Policy,
}

impl ResourceKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Model => "model",
            ResourceKind::IntegrationConnection => "integration_connection",
            ResourceKind::Policy => "policy",
        }
    }

    /// A name for messages to users ("integration connection").
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Model => "model",
            ResourceKind::IntegrationConnection => "integration connection",
            ResourceKind::Policy => "policy",
        }
    }

    /// The kind a `kind` column value names.
    pub fn parse(text: &str) -> Option<ResourceKind> {
        [ResourceKind::Model, ResourceKind::IntegrationConnection, ResourceKind::Policy]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Identifies one resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    pub workspace: String,
    pub kind: ResourceKind,
    pub name: String,
}

impl ResourceKey {
    pub fn new(workspace: &str, kind: ResourceKind, name: &str) -> ResourceKey {
        ResourceKey { workspace: workspace.to_string(), kind, name: name.to_string() }
    }
}

/// A resource named by another one, within the same workspace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    pub kind: ResourceKind,
    pub name: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind.label(), self.name)
    }
}

/// A stored resource.
#[derive(Clone, Debug)]
pub struct ResourceRecord {
    pub key: ResourceKey,
    /// `{"metadata": {displayName, labels, externalId}, "spec": {...}}`, never a secret.
    pub document: serde_json::Value,
    pub status: Option<String>,
    /// The event history, oldest first.
    pub events: Vec<serde_json::Value>,
    pub sealed_secret: Option<SealedSecret>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub created_by: String,
    pub updated_by: String,
}

impl ResourceRecord {
    /// The stored `spec`, read in place. A document without one has the default spec; a spec
    /// that does not decode is an error naming the record, never the default (a policy read as
    /// "no limit" would fail open).
    pub fn spec<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, String> {
        match self.document.get("spec") {
            None | Some(serde_json::Value::Null) => Ok(T::default()),
            Some(spec) => T::deserialize(spec).map_err(|error| {
                format!("the stored spec of {} '{}' cannot be read ({error})", self.key.kind.label(), self.key.name)
            }),
        }
    }
}

/// A revision to record with a write.
#[derive(Clone, Debug)]
pub struct RevisionWrite {
    pub id: String,
    pub status: String,
}

/// A create or a replace of a resource.
#[derive(Clone, Debug)]
pub struct ResourceWrite {
    pub key: ResourceKey,
    pub document: serde_json::Value,
    /// Lower-cased text that `q` searches: name, display name, label keys and values.
    pub search_text: String,
    pub status: Option<String>,
    /// Events to append to the history.
    pub new_events: Vec<serde_json::Value>,
    pub sealed_secret: Option<SealedSecret>,
    /// Everything this resource names; each must exist.
    pub references: Vec<Reference>,
    pub revision: Option<RevisionWrite>,
    pub actor: String,
    pub at: Micros,
}

/// Most events kept per resource; older ones are dropped.
pub const MAX_EVENTS: usize = 50;

/// A stored revision.
#[derive(Clone, Debug)]
pub struct RevisionRecord {
    pub id: String,
    pub status: String,
    pub created_at: Micros,
    pub created_by: String,
}

/// Order of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    CreatedDesc,
    CreatedAsc,
    NameAsc,
    NameDesc,
}

/// Where the previous page ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub created_at: Micros,
    pub name: String,
}

/// Filters and paging of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub sort: SortOrder,
    /// Start after this position (keyset paging).
    pub after: Option<Position>,
    /// At most this many rows; `None` for all.
    pub limit: Option<i64>,
    /// Lower-cased substring to find in the search text.
    pub search: Option<String>,
    /// Keep only these statuses (empty: all).
    pub statuses: Vec<String>,
    /// Return the last page of the order instead of the first.
    pub tail: bool,
}

/// An API key record: who the key acts as, where, with which scopes.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: String,
    pub workspace: String,
    pub name: String,
    pub key_digest: String,
    pub subject: String,
    pub subject_type: String,
    pub scopes: Vec<String>,
    /// The lifetime asked for at creation (`30d`), as given.
    pub expires_in: Option<String>,
    pub expires_at: Option<Micros>,
    pub created_at: Micros,
    pub created_by: String,
}

/// A workspace. `document` holds its writable fields as JSON.
#[derive(Clone, Debug)]
pub struct WorkspaceRecord {
    pub name: String,
    pub document: serde_json::Value,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub created_by: String,
    pub updated_by: String,
}

/// A service account: a machine principal bound to one workspace.
#[derive(Clone, Debug)]
pub struct ServiceAccountRecord {
    pub client_id: String,
    pub workspace: String,
    pub name: String,
    pub description: Option<String>,
    pub secret_digest: String,
    pub scopes: Vec<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub created_by: String,
    pub updated_by: String,
}

/// A console sign-in: the session token's digest (the cookie holds the token), the credential it
/// was opened with, and its lifetime. The credential is re-read on every request, so a revoked
/// key or a deleted service account ends the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSessionRecord {
    /// SHA-256 of the session token, hex.
    pub token_digest: String,
    /// The API key's digest (as `api_keys.key_digest`), or the service account's secret digest.
    pub credential_digest: String,
    /// The service account's client id when signed in with client credentials; `None` for a key.
    pub client_id: Option<String>,
    pub created_at: Micros,
    /// Last request seen (updated at most once a minute), for the idle timeout.
    pub last_seen_at: Micros,
    /// Absolute end of the session.
    pub expires_at: Micros,
}

/// Key of [`StoreError::NotEmpty`] counts for user API keys whose home is the workspace.
pub const USER_KEYS_COUNT: &str = "userApiKeys";

/// Which usage records to read: one workspace (and optionally one model) over `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    pub workspace: String,
    /// Keep only this model's records; `None` for every model.
    pub model: Option<String>,
    /// First instant included.
    pub from: Micros,
    /// First instant excluded.
    pub to: Micros,
}
