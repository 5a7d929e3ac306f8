//! Wire types of workspaces, service accounts, API keys and OAuth2 tokens, shaped as in
//! Blaxel's reference (note its mix of camelCase and snake_case, kept for compatibility).

use crate::resources::{read_only, Labels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Runtime settings of a workspace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceRuntime {
    /// Default generation for new deployments
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// Sandbox settings
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<serde_json::Value>,
}

/// A tenant: every model, connection, policy, service account and key belongs to one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub updated_by: Option<String>,
    /// Account the workspace belongs to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Human-readable name
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Identity-provider group mappings
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_mappings: Option<Vec<serde_json::Value>>,
    /// HIPAA settings
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hipaa_info: Option<serde_json::Value>,
    /// Workspace id
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)] // not a component named after the alias
    pub labels: Option<Labels>,
    /// Unique name: lowercase alphanumeric with hyphens, max 49 characters
    pub name: String,
    /// Region of the workspace
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Resources by kind; filled when `?countResources=true`
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only, value_type = Option<Object>)]
    pub resource_counts: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<WorkspaceRuntime>,
    /// `ready` once created
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub status_reason: Option<String>,
}

/// Body of `POST /service_accounts`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct CreateServiceAccount {
    /// Service account name
    pub name: String,
    /// Service account description
    #[serde(default)]
    pub description: Option<String>,
    /// Scopes of the account's access tokens (modelgate extension); default: every scope in the
    /// workspace
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// Body of `PUT /service_accounts/{clientId}`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct UpdateServiceAccount {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A service account; `client_secret` only in the creation response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServiceAccount {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub workspace: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of `POST .../api_keys`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct CreateApiKey {
    /// Name for the API key
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime: `30d`, `24h`, `1w` (also `s`, `m`); empty or absent = never expires
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Scopes of the key (modelgate extension); default: every scope in its workspace
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// An API key; `apiKey` (the key itself) only in the creation response.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    #[schema(read_only)]
    pub created_at: String,
    #[schema(read_only)]
    pub updated_at: String,
    #[schema(read_only)]
    pub created_by: String,
    #[schema(read_only)]
    pub updated_by: String,
    /// The key: shown only once, at creation
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub api_key: Option<String>,
    #[serde(rename = "expires_in", skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// When the key expires (RFC 3339), if ever
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[schema(read_only, example = "ak_abc123def456")]
    pub id: String,
    pub name: String,
    /// Scopes the key carries
    pub scopes: Vec<String>,
    #[schema(read_only)]
    pub sub: String,
    #[serde(rename = "sub_type")]
    pub sub_type: String,
    /// Workspace the key acts in
    pub workspace: String,
}

/// Body of `POST /oauth/token` (JSON or form-encoded).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// A successful token response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Lifetime in seconds
    pub expires_in: i64,
    /// Space-separated scopes of the token
    pub scope: String,
}
