//! The route snapshot: everything the request path needs (routes, upstreams with their opened
//! credentials, policies, keys, administrators), built from the store and swapped atomically.
//! Requests read the current snapshot without a lock or a database call; a control-plane change
//! rebuilds and swaps it before the change is acknowledged.

use arc_swap::ArcSwap;
use axum::http::{HeaderName, HeaderValue};
use modelgate_domain::secret_box::{connection_secret_context, Keyring};
use modelgate_domain::timestamp::Micros;
use modelgate_domain::{
    IntegrationConnectionSpec, ModelSpec, PolicyLocation, PolicyMaxTokens, PolicySpec, PolicyType, RuntimeType, Scope,
};
use modelgate_providers::{descriptor, CredentialStyle, Family};
use modelgate_store::{ResourceKind, ResourceRecord, Store, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

/// One provider endpoint a route can send to: a connection, ready to use.
#[derive(Debug)]
pub struct Upstream {
    /// The connection's name (for cooldowns and logs).
    pub connection: String,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// `base_url` parsed once, when it can serve as a base (no query, no fragment).
    pub parsed_base: Option<reqwest::Url>,
    /// The header carrying the provider credential, marked sensitive.
    pub credential: Option<(HeaderName, HeaderValue)>,
    /// The connection's non-secret config (`projectId`, `location`, `anthropicVersion`, ...).
    pub config: BTreeMap<String, String>,
}

/// A `maxToken` policy as the limiter applies it.
#[derive(Debug, Clone)]
pub struct TokenLimit {
    pub policy: String,
    pub limits: PolicyMaxTokens,
}

/// A model endpoint, ready to serve.
#[derive(Debug)]
pub struct Route {
    pub workspace: String,
    pub name: String,
    pub enabled: bool,
    pub runtime_type: RuntimeType,
    pub family: Family,
    /// `spec.runtime.model`, applied to the request where the provider takes a model.
    pub model: Option<String>,
    pub organization: Option<String>,
    pub endpoint_name: Option<String>,
    /// Usable upstreams in fallback order.
    pub upstreams: Vec<Upstream>,
    /// Why configured connections are unusable (e.g. credentials that cannot be opened).
    pub unusable: Vec<String>,
    pub token_limits: Vec<TokenLimit>,
    /// Allowed locations (union of the location policies); empty = anywhere.
    pub locations: Vec<PolicyLocation>,
}

/// What an API key grants, by the key's digest.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    pub id: String,
    pub subject: String,
    pub is_user: bool,
    pub workspace: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Micros>,
}

/// An immutable view of the configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: HashMap<String, HashMap<String, Arc<Route>>>,
    keys: HashMap<String, KeyGrant>,
    admins: HashSet<(String, String)>,
    platform_admins: HashSet<String>,
    /// When this snapshot was built.
    pub built_at: Option<SystemTime>,
}

impl Snapshot {
    /// The route of `model` in `workspace`.
    pub fn route(&self, workspace: &str, model: &str) -> Option<&Arc<Route>> {
        self.routes.get(workspace)?.get(model)
    }

    /// The routes of a workspace, by name.
    pub fn routes_in(&self, workspace: &str) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.get(workspace).into_iter().flat_map(|m| m.values())
    }

    /// The grant of the API key whose digest is `digest`.
    pub fn key(&self, digest: &str) -> Option<&KeyGrant> {
        self.keys.get(digest)
    }

    /// Whether the user `subject` administers `workspace`.
    pub fn administers(&self, subject: &str, workspace: &str) -> bool {
        self.platform_admins.contains(subject) || self.admins.contains(&(workspace.to_string(), subject.to_string()))
    }

    /// Number of routes, for metrics.
    pub fn route_count(&self) -> usize {
        self.routes.values().map(HashMap::len).sum()
    }
}

fn spec_of<T: serde::de::DeserializeOwned + Default>(record: &ResourceRecord) -> T {
    // Read in place: cloning every document's spec first doubled a rebuild's transient memory.
    record.document.get("spec").and_then(|v| T::deserialize(v).ok()).unwrap_or_default()
}

/// Builds the upstream of one connection, or says why it cannot be used.
fn build_upstream(
    keyring: &Keyring,
    record: &ResourceRecord,
    runtime_type: RuntimeType,
    sandbox: bool,
) -> Result<Upstream, String> {
    let name = &record.key.name;
    let spec: IntegrationConnectionSpec = spec_of(record);
    let config = spec.config.unwrap_or_default();
    let provider = descriptor(runtime_type);
    let base_url = config
        .get("url")
        .map(String::as_str)
        .or(provider.default_base_url)
        .ok_or_else(|| format!("connection '{name}' has no spec.config.url"))?
        .trim_end_matches('/')
        .to_string();
    let secrets: BTreeMap<String, String> = match &record.sealed_secret {
        None => BTreeMap::new(),
        Some(sealed) => {
            let plaintext = keyring
                .open(sealed, &connection_secret_context(&record.key.workspace, name))
                .map_err(|e| format!("credentials of connection '{name}' cannot be opened: {e}"))?;
            serde_json::from_slice(&plaintext)
                .map_err(|_| format!("credentials of connection '{name}' are unreadable"))?
        }
    };
    // A sandbox model uses the connection's sandbox key, or a connection that is itself a sandbox.
    let key = if sandbox {
        secrets.get("sandboxApiKey").or_else(|| if spec.sandbox == Some(true) { secrets.get("apiKey") } else { None })
    } else {
        secrets.get("apiKey")
    };
    if sandbox && key.is_none() {
        return Err(format!("connection '{name}' has no sandbox credentials (secret sandboxApiKey)"));
    }
    let credential = match key {
        None => None,
        Some(key) => {
            let (header, value) = match provider.credential {
                CredentialStyle::Bearer => (HeaderName::from_static("authorization"), format!("Bearer {key}")),
                CredentialStyle::Header(header) => (HeaderName::from_static(header), key.clone()),
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| format!("the API key of connection '{name}' is not valid in a header"))?;
            value.set_sensitive(true);
            Some((header, value))
        }
    };
    let parsed_base = parse_base(&base_url);
    Ok(Upstream { connection: name.clone(), base_url, parsed_base, credential, config })
}

/// Parses a base URL to which request paths are appended.
pub fn parse_base(base_url: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(base_url)
        .ok()
        .filter(|url| !url.cannot_be_a_base() && url.query().is_none() && url.fragment().is_none())
}

/// Reads everything from the store and builds a snapshot. Connections whose credentials
/// cannot be opened are left out of their routes (with the reason kept for error messages).
pub async fn build(store: &dyn Store, keyring: &Keyring) -> Result<Snapshot, StoreError> {
    let connections: HashMap<(String, String), ResourceRecord> = store
        .all_resources(ResourceKind::IntegrationConnection)
        .await?
        .into_iter()
        .map(|r| ((r.key.workspace.clone(), r.key.name.clone()), r))
        .collect();
    let policies: HashMap<(String, String), PolicySpec> = store
        .all_resources(ResourceKind::Policy)
        .await?
        .iter()
        .map(|r| ((r.key.workspace.clone(), r.key.name.clone()), spec_of(r)))
        .collect();
    let mut snapshot = Snapshot { built_at: Some(SystemTime::now()), ..Snapshot::default() };
    for record in store.all_resources(ResourceKind::Model).await? {
        let spec: ModelSpec = spec_of(&record);
        let workspace = &record.key.workspace;
        let Some(runtime) = spec.runtime.clone() else { continue };
        let Some(runtime_type) = runtime.kind else { continue };
        let sandbox = spec.sandbox.unwrap_or(false);
        let mut upstreams = Vec::new();
        let mut unusable = Vec::new();
        for name in spec.integration_connections.iter().flatten() {
            match connections.get(&(workspace.clone(), name.clone())) {
                Some(connection) => match build_upstream(keyring, connection, runtime_type, sandbox) {
                    Ok(upstream) => upstreams.push(upstream),
                    Err(reason) => unusable.push(reason),
                },
                None => unusable.push(format!("connection '{name}' does not exist")),
            }
        }
        let mut token_limits = Vec::new();
        let mut locations = Vec::new();
        for name in spec.policies.iter().flatten() {
            let Some(policy) = policies.get(&(workspace.clone(), name.clone())) else { continue };
            match policy.kind {
                Some(PolicyType::MaxToken) => {
                    if let Some(limits) = &policy.max_tokens {
                        token_limits.push(TokenLimit { policy: name.clone(), limits: limits.clone() });
                    }
                }
                Some(PolicyType::Location) => locations.extend(policy.locations.iter().flatten().cloned()),
                _ => {}
            }
        }
        let route = Route {
            workspace: workspace.clone(),
            name: record.key.name.clone(),
            enabled: spec.enabled.unwrap_or(true),
            runtime_type,
            family: descriptor(runtime_type).family,
            model: runtime.model.filter(|m| !m.is_empty()),
            organization: runtime.organization.filter(|o| !o.is_empty()),
            endpoint_name: runtime.endpoint_name.filter(|e| !e.is_empty()),
            upstreams,
            unusable,
            token_limits,
            locations,
        };
        snapshot.routes.entry(workspace.clone()).or_default().insert(record.key.name.clone(), Arc::new(route));
    }
    for key in store.all_api_keys().await? {
        let grant = KeyGrant {
            id: key.id,
            subject: key.subject,
            is_user: key.subject_type == "user",
            workspace: key.workspace,
            scopes: key.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            expires_at: key.expires_at,
        };
        snapshot.keys.insert(key.key_digest, grant);
    }
    let (admins, platform_admins) = store.all_admins().await?;
    snapshot.admins = admins.into_iter().collect();
    snapshot.platform_admins = platform_admins.into_iter().collect();
    Ok(snapshot)
}

/// The current snapshot and how to replace it.
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
    store: Arc<dyn Store>,
    keyring: Keyring,
    /// Serializes rebuilds so a rebuild that starts after a write always sees it.
    rebuild: tokio::sync::Mutex<()>,
}

impl SnapshotHandle {
    /// Builds the first snapshot.
    pub async fn load(store: Arc<dyn Store>, keyring: Keyring) -> Result<SnapshotHandle, StoreError> {
        let snapshot = build(store.as_ref(), &keyring).await?;
        Ok(SnapshotHandle { current: ArcSwap::from_pointee(snapshot), store, keyring, rebuild: Default::default() })
    }

    /// The current snapshot (lock-free).
    pub fn get(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Rebuilds from the store and swaps; on a store error the old snapshot stays in use.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.rebuild.lock().await;
        let snapshot = build(self.store.as_ref(), &self.keyring).await?;
        self.current.store(Arc::new(snapshot));
        Ok(())
    }

    /// The keyring (for verifying access tokens).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}
