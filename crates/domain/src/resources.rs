//! The resources of the control plane, shaped exactly as Blaxel's reference
//! (`crates/server/tests/fixtures/blaxel-controlplane-subset.yml`): `metadata` / `spec` /
//! `status` / `events`.
//!
//! The same types are read from requests and written to responses. Read-only fields are
//! accepted on input but always discarded (see [`read_only`]); the control plane fills them.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::ToSchema;

/// Deserializes any value into `None`: read-only fields are ignored on input, whatever they hold.
pub(crate) fn read_only<'de, D: Deserializer<'de>, T>(deserializer: D) -> Result<Option<T>, D::Error> {
    // Read as a value and dropped (not skipped as `IgnoredAny`, which a body reader that refuses
    // unknown fields would take for one).
    serde_json::Value::deserialize(deserializer)?;
    Ok(None)
}

/// Key-value pairs for organizing and filtering resources.
pub type Labels = BTreeMap<String, String>;

/// Common metadata of every resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The date and time when the resource was created
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub created_at: Option<String>,
    /// The date and time when the resource was updated
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub updated_at: Option<String>,
    /// The user or service account who created the resource
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub created_by: Option<String>,
    /// The user or service account who updated the resource
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub updated_by: Option<String>,
    /// Human-readable name for display in the UI, max 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "My Resource")]
    pub display_name: Option<String>,
    /// Caller-owned identifier for external lookups. Max 64 chars, alphanumeric + dash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Key-value pairs for organizing and filtering resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)] // not a component named after the alias
    pub labels: Option<Labels>,
    /// Unique identifier within the workspace: lowercase alphanumeric with hyphens, max 49
    /// characters. Immutable after creation.
    #[schema(example = "my-resource")]
    pub name: String,
    /// Billing plan tier applied to this resource
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub plan: Option<String>,
    /// Endpoint URL of this resource (for models: its inference URL on this gateway)
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub url: Option<String>,
    /// Name of the workspace this resource belongs to
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub workspace: Option<String>,
}

/// Deployment status of a resource (read-only: the control plane sets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Deleting,
    Terminated,
    Failed,
    Deactivated,
    Deactivating,
    Uploading,
    Building,
    Deploying,
    Deployed,
    Built,
}

impl Status {
    /// Every status, in the reference's order.
    pub const ALL: [Status; 10] = [
        Status::Deleting,
        Status::Terminated,
        Status::Failed,
        Status::Deactivated,
        Status::Deactivating,
        Status::Uploading,
        Status::Building,
        Status::Deploying,
        Status::Deployed,
        Status::Built,
    ];

    /// The wire name (`DEPLOYED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Deleting => "DELETING",
            Status::Terminated => "TERMINATED",
            Status::Failed => "FAILED",
            Status::Deactivated => "DEACTIVATED",
            Status::Deactivating => "DEACTIVATING",
            Status::Uploading => "UPLOADING",
            Status::Building => "BUILDING",
            Status::Deploying => "DEPLOYING",
            Status::Deployed => "DEPLOYED",
            Status::Built => "BUILT",
        }
    }

    /// Parses a wire name, ignoring case.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// Written by hand because the derive cannot mark an enum `readOnly`, as the reference does.
impl utoipa::PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Deployment status of a resource."))
            .enum_values(Some(Status::ALL.map(Status::as_str)))
            .read_only(Some(true))
            .into()
    }
}

impl ToSchema for Status {
    fn name() -> std::borrow::Cow<'static, str> {
        "Status".into()
    }
}

/// The schema of `Model.events`: a read-only, nullable array of [`CoreEvent`]. utoipa 5 drops
/// `#[schema(read_only)]` on array fields (its `Array` has no such field), so `readOnly` is put
/// in the array's extension map, which is written beside its other keywords as is.
fn read_only_events() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(Ref::from_schema_name(CoreEvent::name()))
        .description(Some("Events of this resource (read-only)"))
        .extensions(Some([("readOnly", true)].into_iter().collect()))
        .build()
}

/// One event in a resource's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoreEvent {
    /// Canary revisionID link to the event
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// Event message
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RevisionID link to the event
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Event status
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Event time (RFC 3339)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Event type
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Hardware type of a flavor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlavorType {
    Cpu,
    Gpu,
}

/// A type of hardware available for deployments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Flavor {
    /// Flavor name (e.g. t4)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Flavor type (cpu or gpu)
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<FlavorType>,
}

/// LLM provider type determining the API protocol and authentication method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum RuntimeType {
    #[serde(rename = "hf_private_endpoint")]
    HfPrivateEndpoint,
    #[serde(rename = "hf_public_endpoint")]
    HfPublicEndpoint,
    #[serde(rename = "huggingface")]
    Huggingface,
    #[serde(rename = "public_model")]
    PublicModel,
    #[serde(rename = "mcp")]
    Mcp,
    #[serde(rename = "openai")]
    Openai,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "gemini")]
    Gemini,
    #[serde(rename = "mistral")]
    Mistral,
    #[serde(rename = "deepseek")]
    Deepseek,
    #[serde(rename = "cohere")]
    Cohere,
    #[serde(rename = "cerebras")]
    Cerebras,
    #[serde(rename = "xai")]
    Xai,
    #[serde(rename = "vertexai")]
    Vertexai,
    #[serde(rename = "azure-openai-service")]
    AzureOpenaiService,
    #[serde(rename = "azure-ai-inference")]
    AzureAiInference,
    #[serde(rename = "azure-marketplace")]
    AzureMarketplace,
    #[serde(rename = "groq")]
    Groq,
}

impl RuntimeType {
    /// All 18 runtime types, in the reference's order.
    pub const ALL: [RuntimeType; 18] = [
        RuntimeType::HfPrivateEndpoint,
        RuntimeType::HfPublicEndpoint,
        RuntimeType::Huggingface,
        RuntimeType::PublicModel,
        RuntimeType::Mcp,
        RuntimeType::Openai,
        RuntimeType::Anthropic,
        RuntimeType::Gemini,
        RuntimeType::Mistral,
        RuntimeType::Deepseek,
        RuntimeType::Cohere,
        RuntimeType::Cerebras,
        RuntimeType::Xai,
        RuntimeType::Vertexai,
        RuntimeType::AzureOpenaiService,
        RuntimeType::AzureAiInference,
        RuntimeType::AzureMarketplace,
        RuntimeType::Groq,
    ];

    /// The wire name (`azure-openai-service`), which is also the integration's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeType::HfPrivateEndpoint => "hf_private_endpoint",
            RuntimeType::HfPublicEndpoint => "hf_public_endpoint",
            RuntimeType::Huggingface => "huggingface",
            RuntimeType::PublicModel => "public_model",
            RuntimeType::Mcp => "mcp",
            RuntimeType::Openai => "openai",
            RuntimeType::Anthropic => "anthropic",
            RuntimeType::Gemini => "gemini",
            RuntimeType::Mistral => "mistral",
            RuntimeType::Deepseek => "deepseek",
            RuntimeType::Cohere => "cohere",
            RuntimeType::Cerebras => "cerebras",
            RuntimeType::Xai => "xai",
            RuntimeType::Vertexai => "vertexai",
            RuntimeType::AzureOpenaiService => "azure-openai-service",
            RuntimeType::AzureAiInference => "azure-ai-inference",
            RuntimeType::AzureMarketplace => "azure-marketplace",
            RuntimeType::Groq => "groq",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<RuntimeType> {
        RuntimeType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Infrastructure generation of a model endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    Mk3,
    Mk2,
}

/// Which external LLM provider and model an endpoint proxies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelRuntime {
    /// Provider-specific endpoint name (e.g., HuggingFace Inference Endpoints name)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// Infrastructure generation
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    /// Model identifier at the provider (free text, passed on as given)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "gpt-4.1")]
    pub model: Option<String>,
    /// Organization or account identifier at the provider
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// LLM provider type determining the API protocol and authentication method
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuntimeType>,
}

/// A model's price in US dollars, as in a price file's entry (modelgate extension): per token
/// for `input` (not read from or written to a cache), `output`, `cacheRead` and `cacheWrite`
/// (absent: as `input`), per request and per generated image. Absent fields cost 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPrice {
    /// USD per input token
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 2.5e-6)]
    pub input: Option<f64>,
    /// USD per output token
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 1e-5)]
    pub output: Option<f64>,
    /// USD per input token read from the provider's prompt cache
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// USD per input token written to the provider's prompt cache
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// USD per request
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request: Option<f64>,
    /// USD per generated image
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image: Option<f64>,
}

/// Configuration of a model endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// When false, the endpoint refuses inference requests (default true)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(default = true)]
    pub enabled: Option<bool>,
    /// Hardware flavors
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavors: Option<Vec<Flavor>>,
    /// Names of the integration connections, in fallback order
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_connections: Option<Vec<String>>,
    /// Names of the policies applied to this endpoint
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    /// Provider and model
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<ModelRuntime>,
    /// What this endpoint's calls cost, replacing the price catalogue's entry for its model
    /// (modelgate extension)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<ModelPrice>,
    /// When true, uses the connection's sandbox/test credentials
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
}

/// A model endpoint: a route on the inference plane to an external LLM provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Model {
    /// Events of this resource (read-only)
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = read_only_events)]
    pub events: Option<Vec<CoreEvent>>,
    pub metadata: Metadata,
    pub spec: ModelSpec,
    /// Deployment status (read-only)
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// Integration connection specification: provider, non-secret config and write-only secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntegrationConnectionSpec {
    /// Non-sensitive configuration (e.g. `url` to override the provider's base URL)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// Integration provider type (e.g. openai, anthropic)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "openai")]
    pub integration: Option<String>,
    /// Whether this connection uses sandbox/test credentials
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
    /// Credentials (e.g. `apiKey`): write-only, encrypted at rest, masked on read
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<BTreeMap<String, String>>,
}

/// A provider's credentials and settings, used by model endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntegrationConnection {
    pub metadata: Metadata,
    pub spec: IntegrationConnectionSpec,
}

/// What a policy governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PolicyType {
    #[serde(rename = "location")]
    Location,
    #[serde(rename = "flavor")]
    Flavor,
    #[serde(rename = "maxToken")]
    MaxToken,
}

/// A kind of resource a policy may target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyResourceType {
    Model,
    Function,
    Agent,
    Sandbox,
    Application,
}

/// Kind of a policy location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLocationType {
    Location,
    Country,
    Continent,
}

/// An allowed location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyLocation {
    /// Location name (e.g. EU)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "EU")]
    pub name: Option<String>,
    /// Location type
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PolicyLocationType>,
}

/// Token limits over a window of `step` x `granularity`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMaxTokens {
    /// Window unit: minute, hour, day or month
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "minute")]
    pub granularity: Option<String>,
    /// Input tokens allowed per window (0 = not evaluated)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<i64>,
    /// Output tokens allowed per window (0 = not evaluated)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<i64>,
    /// Ratio of input over output tokens
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_input_over_output: Option<i64>,
    /// Number of granularity units in the window
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    /// Requests allowed per window (modelgate extension: a rate limit; 0 = not evaluated)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
    /// Count each calling key separately instead of the model as a whole (modelgate extension)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_key: Option<bool>,
    /// Spend allowed per window, in US dollars, priced as the usage records are (modelgate
    /// extension: a budget; 0 = not evaluated). Requests to a model with no known price count
    /// nothing towards it
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 25.0)]
    pub cost_usd: Option<f64>,
    /// Apply to every model of the workspace, attached or not, counting their requests together
    /// (modelgate extension: a workspace-wide limit or budget; with `perKey`, per key across
    /// the workspace's models)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_wide: Option<bool>,
    /// Total tokens allowed per window (0 = not evaluated)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// Policy specification.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// Allowed flavors (type flavor)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavors: Option<Vec<Flavor>>,
    /// Allowed locations (type location)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<PolicyLocation>>,
    /// Token limits (type maxToken)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<PolicyMaxTokens>,
    /// Resource kinds this policy may target
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_types: Option<Vec<PolicyResourceType>>,
    /// Sandbox mode
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
    /// Policy type: location, flavor or maxToken
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PolicyType>,
}

/// How many resources of each kind reference a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyUsageCounts {
    pub agents: i64,
    pub functions: i64,
    pub jobs: i64,
    pub models: i64,
    pub sandboxes: i64,
}

/// A governance rule applied to model endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    pub metadata: Metadata,
    pub spec: PolicySpec,
    /// Resources referencing this policy (read-only)
    #[serde(default, deserialize_with = "read_only", skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub usage: Option<PolicyUsageCounts>,
}

/// Resources currently referencing a policy: one object (`{"name": ...}`) per resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyUsages {
    #[schema(value_type = Vec<Object>)]
    pub agents: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub functions: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub jobs: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub sandboxes: Vec<serde_json::Value>,
}

/// One revision of a model: every create and update makes one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionMetadata {
    /// Is the revision active
    pub active: bool,
    /// Is the revision canary
    pub canary: bool,
    /// Revision created at
    #[schema(read_only)]
    pub created_at: String,
    /// Revision created by
    #[schema(read_only)]
    pub created_by: String,
    /// Revision ID
    #[schema(read_only)]
    pub id: String,
    /// Is the revision previous active
    pub previous_active: bool,
    /// Status of the revision
    #[schema(read_only)]
    pub status: String,
    /// Percent of traffic to the revision
    pub traffic_percent: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_fields_are_dropped_on_input() {
        let model: Model = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "m", "workspace": "other", "url": 3, "createdBy": "mallory"},
            "spec": {"runtime": {"type": "azure-openai-service"}},
            "status": "NOT-A-STATUS",
            "events": [{"type": "x"}]
        }))
        .unwrap();
        assert_eq!(model.metadata.workspace, None);
        assert_eq!(model.metadata.url, None);
        assert_eq!(model.metadata.created_by, None);
        assert_eq!(model.status, None);
        assert_eq!(model.events, None);
        assert_eq!(model.spec.runtime.unwrap().kind, Some(RuntimeType::AzureOpenaiService));
    }

    #[test]
    fn wire_names_match_serde() {
        for t in RuntimeType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
        }
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(Status::parse("deployed"), Some(Status::Deployed));
    }
}
