//! The stored form of a resource and its conversion to and from the wire types: what the
//! store keeps (writable metadata and the spec) and what every response fills in (read-only
//! metadata, events).

use crate::error::ApiError;
use modelgate_domain::timestamp::{now_micros, to_rfc3339};
use modelgate_domain::{CoreEvent, Labels, Metadata};
use modelgate_store::ResourceRecord;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The writable part of `metadata`, as stored.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Document<S> {
    metadata: StoredMetadata,
    spec: S,
}

/// The stored document of a resource: writable metadata and the spec. Read-only fields of
/// the input are not part of it.
pub fn to_document<S: Serialize>(metadata: &Metadata, spec: &S) -> Result<serde_json::Value, ApiError> {
    let stored = StoredMetadata {
        display_name: metadata.display_name.clone(),
        labels: metadata.labels.clone(),
        external_id: metadata.external_id.clone(),
    };
    serde_json::to_value(Document { metadata: stored, spec })
        .map_err(|e| ApiError::Internal(format!("cannot serialize document: {e}")))
}

/// The stored spec of a record; a 500 when it cannot be read.
pub fn spec_of<S: DeserializeOwned + Default>(record: &ResourceRecord) -> Result<S, ApiError> {
    record.spec().map_err(ApiError::Internal)
}

/// The full `metadata` of a stored record, read-only fields filled.
pub fn metadata_of(record: &ResourceRecord, url: Option<String>) -> Result<Metadata, ApiError> {
    let stored: StoredMetadata = record
        .document
        .get("metadata")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored metadata of '{}' is unreadable: {e}", record.key.name)))?
        .unwrap_or_default();
    Ok(Metadata {
        created_at: Some(to_rfc3339(record.created_at)),
        updated_at: Some(to_rfc3339(record.updated_at)),
        created_by: Some(record.created_by.clone()),
        updated_by: Some(record.updated_by.clone()),
        display_name: stored.display_name,
        external_id: stored.external_id,
        labels: stored.labels,
        name: record.key.name.clone(),
        plan: Some(PLAN.to_string()),
        url,
        workspace: Some(record.key.workspace.clone()),
    })
}

/// The plan every resource of a self-hosted gateway is on.
pub const PLAN: &str = "self-hosted";

/// The event history of a record.
pub fn events_of(record: &ResourceRecord) -> Vec<CoreEvent> {
    record.events.iter().filter_map(|e| serde_json::from_value(e.clone()).ok()).collect()
}

/// A deployment event, stamped now.
pub fn deployment_event(status: &str, message: impl Into<String>, revision: &str) -> serde_json::Value {
    serde_json::to_value(CoreEvent {
        canary_revision: None,
        message: Some(message.into()),
        revision: Some(revision.to_string()),
        status: Some(status.to_string()),
        time: Some(to_rfc3339(now_micros())),
        kind: Some("deployment".to_string()),
    })
    .unwrap_or_default()
}

/// A new revision id (`rev-` and 12 hex digits).
pub fn new_revision_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("rev-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
