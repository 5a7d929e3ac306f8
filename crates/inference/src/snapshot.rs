//! The route snapshot: everything the request path needs (routes, upstreams with their opened
//! credentials, policies, keys, administrators), built from the store and swapped atomically.
//! Requests read the current snapshot without a lock or a database call; a control-plane change
//! rebuilds and swaps it before the change is acknowledged.

use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use axum::http::{HeaderName, HeaderValue};
use modelgate_domain::secret_box::{connection_secret_context, Keyring};
use modelgate_domain::timestamp::Micros;
use modelgate_domain::{
    IntegrationConnectionSpec, ModelSpec, PolicyLocation, PolicyMaxTokens, PolicySpec, PolicyType, RuntimeType, Scope,
};
use modelgate_providers::prices::{ModelPrice, PriceCatalogue};
use modelgate_providers::{descriptor, CredentialStyle, Family};
use modelgate_store::{
    ApiKeyRecord, ConfigChange, ConfigurationStore, ResourceKey, ResourceKind, ResourceRecord, StoreError,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The maps looked up on every request: hashbrown's seeded foldhash rather than SipHash.
type FastMap<K, V> = hashbrown::HashMap<K, V>;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// One provider endpoint a route can send to: a connection, ready to use.
#[derive(Debug)]
pub struct Upstream {
    /// The connection's name (for cooldowns and logs).
    pub connection: String,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// `base_url` parsed once, when it can serve as a base (no query, no fragment).
    pub parsed_base: Option<BaseUri>,
    /// The header carrying the provider credential, marked sensitive.
    pub credential: Option<(HeaderName, HeaderValue)>,
    /// The connection's non-secret config (`projectId`, `location`, `anthropicVersion`, ...).
    pub config: BTreeMap<String, String>,
    /// Whether the connection rests after a 429/5xx; shared by every upstream of the connection.
    pub cooldown: Arc<Cooldown>,
}

/// The instant cooldowns are counted from.
static COOLDOWN_EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since [`COOLDOWN_EPOCH`], from 1 (0 means "never rested").
fn cooldown_clock_ms() -> u64 {
    u64::try_from(COOLDOWN_EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// A connection's rest after a rate limit or a server error: read on every request without a
/// lock (one atomic load, and no clock read while it does not rest), set when a provider asks
/// for it. One per (workspace, connection), kept across snapshot rebuilds.
#[derive(Debug, Default)]
pub struct Cooldown {
    /// Milliseconds since [`COOLDOWN_EPOCH`] until which the connection rests; 0 = never rested.
    resting_until_ms: AtomicU64,
}

impl Cooldown {
    /// Whether the connection rests now.
    pub fn is_resting(&self) -> bool {
        let until = self.resting_until_ms.load(Ordering::Relaxed);
        until != 0 && until > cooldown_clock_ms()
    }

    /// Rests the connection for `duration` from now.
    pub fn rest_for(&self, duration: Duration) {
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let until = cooldown_clock_ms().saturating_add(duration_ms);
        self.resting_until_ms.store(until, Ordering::Relaxed);
    }
}

/// The cooldown of each (workspace, connection), so that a rebuilt snapshot's upstreams keep
/// resting where the old ones did. Touched only when upstreams are built, never per request.
#[derive(Debug, Default)]
pub struct Cooldowns {
    by_connection: Mutex<HashMap<(String, String), Arc<Cooldown>>>,
}

impl Cooldowns {
    fn of(&self, workspace: &str, connection: &str) -> Arc<Cooldown> {
        let mut by_connection = self.by_connection.lock().unwrap_or_else(|p| p.into_inner());
        by_connection.entry((workspace.to_string(), connection.to_string())).or_default().clone()
    }

    /// Forgets the cooldowns of connections no snapshot uses any more.
    fn keep_only(&self, connections: &HashMap<(String, String), ResourceRecord>) {
        let mut by_connection = self.by_connection.lock().unwrap_or_else(|p| p.into_inner());
        by_connection.retain(|key, _| connections.contains_key(key));
    }
}

/// A `maxToken` policy as the limiter applies it.
#[derive(Debug, Clone)]
pub struct TokenLimit {
    pub policy: String,
    pub limits: PolicyMaxTokens,
}

/// The model name a workspace-wide limit's windows are counted under: no model has it (names
/// are letters, digits and dashes), so they never share a window with one model's.
pub const WORKSPACE_WIDE: &str = "*";

impl TokenLimit {
    /// The budget per window in billionths of a dollar (`maxTokens.costUsd`), if one is set.
    pub fn budget(&self) -> Option<i64> {
        self.limits.cost_usd.map(modelgate_domain::usage::nano_usd).filter(|budget| *budget > 0)
    }

    /// Whether the limit counts every model of the workspace together (`maxTokens.workspaceWide`).
    pub fn is_workspace_wide(&self) -> bool {
        self.limits.workspace_wide == Some(true)
    }
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
    /// Usable upstreams in fallback order (shared by the routes of one connection).
    pub upstreams: Vec<Arc<Upstream>>,
    /// Why configured connections are unusable (e.g. credentials that cannot be opened).
    pub unusable: Vec<String>,
    pub token_limits: Vec<TokenLimit>,
    /// Allowed locations (union of the location policies); empty = anywhere.
    pub locations: Vec<PolicyLocation>,
    /// Why every request is refused: a stored spec this route depends on cannot be read, and
    /// serving without it could mean serving without its limits (fail closed).
    pub refusal: Option<String>,
    /// When the model endpoint was created, in seconds since the Unix epoch (OpenAI's `created`).
    pub created: i64,
    /// What its calls cost: `spec.price`, else the price catalogue's entry for `runtime.model`
    /// (resolved when the route is built, so a request reads it, never looks it up); `None`
    /// when unknown.
    pub price: Option<ModelPrice>,
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

/// Who may call: API keys by digest, and administrators.
#[derive(Debug, Default)]
struct Grants {
    keys: FastMap<String, KeyGrant>,
    /// Workspace -> its administrators.
    admins: HashMap<String, HashSet<String>>,
    platform_admins: HashSet<String>,
}

/// What routes are built from besides their model: connections (with sealed secrets) and
/// policies, by workspace and name. Kept so that one model can be rebuilt alone.
#[derive(Debug, Default)]
struct Sources {
    connections: HashMap<(String, String), ResourceRecord>,
    /// Each policy's spec, or why it cannot be read (its models then refuse requests).
    policies: HashMap<(String, String), Result<PolicySpec, String>>,
    /// Upstreams built so far from these connections, shared by every route that uses them
    /// (a connection change rebuilds everything, so they cannot go stale).
    upstreams: Mutex<UpstreamCache>,
    /// Per workspace, its maxToken policies with `workspaceWide`: limits of every model there.
    workspace_wide: HashMap<String, Vec<TokenLimit>>,
}

/// An immutable view of the configuration. Its parts are shared between successive snapshots,
/// so a change to one model copies only its workspace's route table.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: FastMap<String, Arc<RouteTable>>,
    grants: Arc<Grants>,
    sources: Arc<Sources>,
    /// When this snapshot was last built from scratch (changes to one model or to keys since
    /// then are applied on top).
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
        self.grants.keys.get(digest)
    }

    /// Whether the user `subject` administers `workspace`.
    pub fn administers(&self, subject: &str, workspace: &str) -> bool {
        self.grants.platform_admins.contains(subject)
            || self.grants.admins.get(workspace).is_some_and(|admins| admins.contains(subject))
    }

    /// Number of routes, for metrics.
    pub fn route_count(&self) -> usize {
        self.routes.values().map(|routes| routes.len()).sum()
    }

    /// This snapshot with the route of `workspace`/`name` replaced (or removed when `None`).
    fn with_route(&self, workspace: &str, name: &str, route: Option<Route>) -> Snapshot {
        let mut routes = self.routes.clone();
        let table = match routes.get(workspace) {
            Some(table) => table.with(name, route),
            None => RouteTable::default().with(name, route),
        };
        if table.is_empty() {
            routes.remove(workspace);
        } else {
            routes.insert(workspace.to_string(), Arc::new(table));
        }
        Snapshot { routes, grants: self.grants.clone(), sources: self.sources.clone(), built_at: self.built_at }
    }
}

/// Builds the upstream of one connection, or says why it cannot be used.
fn build_upstream(
    keyring: &Keyring,
    cooldowns: &Cooldowns,
    record: &ResourceRecord,
    runtime_type: RuntimeType,
    sandbox: bool,
) -> Result<Upstream, String> {
    let name = &record.key.name;
    let spec: IntegrationConnectionSpec = record.spec()?;
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
    let cooldown = cooldowns.of(&record.key.workspace, name);
    Ok(Upstream { connection: name.clone(), base_url, parsed_base, credential, config, cooldown })
}

/// A connection's base URL split once, so a request's URI is assembled without parsing a host.
#[derive(Debug, Clone)]
pub struct BaseUri {
    pub scheme: axum::http::uri::Scheme,
    pub authority: axum::http::uri::Authority,
    /// The base's path without a trailing slash (`""` for none).
    pub path: String,
}

/// Parses a base URL to which request paths are appended (`http` or `https`, no query).
pub fn parse_base(base_url: &str) -> Option<BaseUri> {
    let uri: axum::http::Uri = base_url.parse().ok()?;
    let parts = uri.into_parts();
    let scheme =
        parts.scheme.filter(|s| *s == axum::http::uri::Scheme::HTTP || *s == axum::http::uri::Scheme::HTTPS)?;
    let authority = parts.authority?;
    let path_and_query = parts.path_and_query;
    if path_and_query.as_ref().is_some_and(|pq| pq.query().is_some()) {
        return None;
    }
    let path = path_and_query.as_ref().map_or("", |pq| pq.path()).trim_end_matches('/').to_string();
    Some(BaseUri { scheme, authority, path })
}

/// Upstreams already built during one build, by workspace, connection, runtime type and sandbox:
/// a connection's secret is opened once, however many models use it.
type UpstreamCache = HashMap<(String, String, RuntimeType, bool), Result<Arc<Upstream>, String>>;

/// What building a route reads besides the model itself.
struct RouteInputs<'a> {
    sources: &'a Sources,
    prices: &'a PriceCatalogue,
    keyring: &'a Keyring,
    cooldowns: &'a Cooldowns,
}

/// The route of one model record, or `None` for a model without a runtime type. A model whose
/// spec, or one of whose policies, cannot be read gets a route that refuses every request.
fn build_route(record: &ResourceRecord, inputs: &RouteInputs<'_>, cache: &mut UpstreamCache) -> Option<Route> {
    let spec: ModelSpec = match record.spec() {
        Ok(spec) => spec,
        Err(reason) => return refusing_route(record, reason),
    };
    let workspace = &record.key.workspace;
    let runtime = spec.runtime.clone()?;
    let runtime_type = runtime.kind?;
    let sandbox = spec.sandbox.unwrap_or(false);
    let mut upstreams = Vec::new();
    let mut unusable = Vec::new();
    for name in spec.integration_connections.iter().flatten() {
        let key = (workspace.clone(), name.clone(), runtime_type, sandbox);
        let built = cache.entry(key).or_insert_with(|| {
            match inputs.sources.connections.get(&(workspace.clone(), name.clone())) {
                Some(connection) => {
                    build_upstream(inputs.keyring, inputs.cooldowns, connection, runtime_type, sandbox).map(Arc::new)
                }
                None => Err(format!("connection '{name}' does not exist")),
            }
        });
        match built {
            Ok(upstream) => upstreams.push(upstream.clone()),
            Err(reason) => unusable.push(reason.clone()),
        }
    }
    let mut token_limits = Vec::new();
    let mut locations = Vec::new();
    let mut refusal = None;
    for name in spec.policies.iter().flatten() {
        let policy = match inputs.sources.policies.get(&(workspace.clone(), name.clone())) {
            None => continue,
            Some(Err(reason)) => {
                refusal.get_or_insert_with(|| reason.clone());
                continue;
            }
            Some(Ok(policy)) => policy,
        };
        match policy.kind {
            // Workspace-wide limits are added below, once, whether attached or not.
            Some(PolicyType::MaxToken) => {
                if let Some(limits) = policy.max_tokens.as_ref().filter(|l| l.workspace_wide != Some(true)) {
                    token_limits.push(TokenLimit { policy: name.clone(), limits: limits.clone() });
                }
            }
            Some(PolicyType::Location) => locations.extend(policy.locations.iter().flatten().cloned()),
            _ => {}
        }
    }
    token_limits.extend(inputs.sources.workspace_wide.get(workspace).into_iter().flatten().cloned());
    if let Some(reason) = &refusal {
        tracing::error!(workspace = %workspace, model = %record.key.name, %reason, "model refuses requests");
    }
    let model = runtime.model.filter(|m| !m.is_empty());
    let price = match &spec.price {
        Some(own) => Some(ModelPrice::from(own)),
        None => model.as_deref().and_then(|model| inputs.prices.lookup(runtime_type, model)).copied(),
    };
    Some(Route {
        workspace: workspace.clone(),
        name: record.key.name.clone(),
        enabled: spec.enabled.unwrap_or(true),
        runtime_type,
        family: descriptor(runtime_type).family,
        model,
        organization: runtime.organization.filter(|o| !o.is_empty()),
        endpoint_name: runtime.endpoint_name.filter(|e| !e.is_empty()),
        upstreams,
        unusable,
        token_limits,
        locations,
        refusal,
        created: record.created_at / 1_000_000,
        price,
    })
}

/// The route of a model whose spec cannot be read: it refuses every request. Its provider comes
/// from the raw document; without one there is nothing to attribute requests to, and the model
/// is left out (its requests get `ROUTE_NOT_FOUND`, a refusal too).
fn refusing_route(record: &ResourceRecord, reason: String) -> Option<Route> {
    tracing::error!(workspace = %record.key.workspace, model = %record.key.name, %reason, "model refuses requests");
    let runtime_type = record.document.pointer("/spec/runtime/type").and_then(|t| RuntimeType::deserialize(t).ok())?;
    Some(Route {
        workspace: record.key.workspace.clone(),
        name: record.key.name.clone(),
        enabled: true,
        runtime_type,
        family: descriptor(runtime_type).family,
        model: None,
        organization: None,
        endpoint_name: None,
        upstreams: Vec::new(),
        unusable: Vec::new(),
        token_limits: Vec::new(),
        locations: Vec::new(),
        refusal: Some(reason),
        created: record.created_at / 1_000_000,
        price: None,
    })
}

fn sources_of(connections: Vec<ResourceRecord>, policies: &[ResourceRecord]) -> Sources {
    let connections = connections.into_iter().map(|r| ((r.key.workspace.clone(), r.key.name.clone()), r)).collect();
    let policies: HashMap<(String, String), Result<PolicySpec, String>> =
        policies.iter().map(|r| ((r.key.workspace.clone(), r.key.name.clone()), r.spec())).collect();
    let mut workspace_wide: HashMap<String, Vec<TokenLimit>> = HashMap::new();
    for ((workspace, name), spec) in &policies {
        let Ok(spec) = spec else { continue };
        let limits = spec.max_tokens.as_ref().filter(|l| l.workspace_wide == Some(true));
        if let (Some(PolicyType::MaxToken), Some(limits)) = (spec.kind, limits) {
            let limit = TokenLimit { policy: name.clone(), limits: limits.clone() };
            workspace_wide.entry(workspace.clone()).or_default().push(limit);
        }
    }
    // Every route of a workspace lists them in the same order.
    workspace_wide.values_mut().for_each(|limits| limits.sort_by(|a, b| a.policy.cmp(&b.policy)));
    Sources { connections, policies, upstreams: Default::default(), workspace_wide }
}

async fn load_grants(store: &dyn ConfigurationStore) -> Result<Grants, StoreError> {
    let (admins, platform_admins) = store.all_admins().await?;
    Ok(grants_of(store.all_api_keys().await?, admins, platform_admins))
}

fn grants_of(keys: Vec<ApiKeyRecord>, admins: Vec<(String, String)>, platform_admins: Vec<String>) -> Grants {
    let mut grants = Grants::default();
    for key in keys {
        let grant = KeyGrant {
            id: key.id,
            subject: key.subject,
            is_user: key.subject_type == "user",
            workspace: key.workspace,
            scopes: key.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            expires_at: key.expires_at,
        };
        grants.keys.insert(key.key_digest, grant);
    }
    for (workspace, subject) in admins {
        grants.admins.entry(workspace).or_default().insert(subject);
    }
    grants.platform_admins = platform_admins.into_iter().collect();
    grants
}

/// Reads everything from the store and builds a snapshot. Connections whose credentials
/// cannot be opened are left out of their routes (with the reason kept for error messages).
pub async fn build(
    store: &dyn ConfigurationStore,
    keyring: &Keyring,
    cooldowns: &Cooldowns,
    prices: &PriceCatalogue,
) -> Result<Snapshot, StoreError> {
    let configuration = store.configuration().await?;
    let mut sources = sources_of(configuration.connections, &configuration.policies);
    cooldowns.keep_only(&sources.connections);
    let mut cache = UpstreamCache::new();
    let mut routes: HashMap<String, Vec<(String, Arc<Route>)>> = HashMap::new();
    // Records are consumed as their routes are built, so the rows and the routes built from them
    // are not all held at once.
    let inputs = RouteInputs { sources: &sources, prices, keyring, cooldowns };
    for record in configuration.models {
        if let Some(route) = build_route(&record, &inputs, &mut cache) {
            routes.entry(record.key.workspace).or_default().push((record.key.name, Arc::new(route)));
        }
    }
    sources.upstreams = Mutex::new(cache);
    Ok(Snapshot {
        routes: routes
            .into_iter()
            .map(|(workspace, routes)| (workspace, Arc::new(RouteTable::from_routes(routes))))
            .collect(),
        grants: Arc::new(grants_of(configuration.api_keys, configuration.admins, configuration.platform_admins)),
        sources: Arc::new(sources),
        built_at: Some(SystemTime::now()),
    })
}

/// Routes from which a full rebuild runs beside requests rather than between them.
const BIG_CONFIGURATION: usize = 5_000;

/// [`build`], without holding up requests for long: a full build reads and decodes every row,
/// a second of CPU or more at 100,000 models. For a big configuration on a multi-thread runtime
/// it runs as a blocking section, so the runtime hands its other tasks (requests) to another
/// thread meanwhile instead of leaving them queued behind it. Small ones (milliseconds) stay on
/// the worker: the extra thread costs memory (its own malloc arena) for nothing.
async fn build_beside_requests(
    store: &dyn ConfigurationStore,
    keyring: &Keyring,
    cooldowns: &Cooldowns,
    prices: &PriceCatalogue,
    current_routes: usize,
) -> Result<Snapshot, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime)
            if current_routes >= BIG_CONFIGURATION
                && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
        {
            tokio::task::block_in_place(|| runtime.block_on(build(store, keyring, cooldowns, prices)))
        }
        _ => build(store, keyring, cooldowns, prices).await,
    }
}

/// The current snapshot and how to replace it.
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
    store: Arc<dyn ConfigurationStore>,
    keyring: Keyring,
    /// Connections' cooldowns, carried from one snapshot to the next.
    cooldowns: Cooldowns,
    /// The prices routes are built with; replaced by [`SnapshotHandle::set_prices`].
    prices: ArcSwap<PriceCatalogue>,
    /// Serializes rebuilds so a rebuild that starts after a write always sees it.
    rebuild: tokio::sync::Mutex<()>,
    /// An update failed since the last full build: the snapshot may lag the store.
    stale: std::sync::atomic::AtomicBool,
}

impl SnapshotHandle {
    /// Builds the first snapshot, its routes priced from `prices`.
    pub async fn load(
        store: Arc<dyn ConfigurationStore>,
        keyring: Keyring,
        prices: Arc<PriceCatalogue>,
    ) -> Result<SnapshotHandle, StoreError> {
        let cooldowns = Cooldowns::default();
        let snapshot = build(store.as_ref(), &keyring, &cooldowns, &prices).await?;
        Ok(SnapshotHandle {
            current: ArcSwap::from_pointee(snapshot),
            store,
            keyring,
            cooldowns,
            prices: ArcSwap::new(prices),
            rebuild: Default::default(),
            stale: Default::default(),
        })
    }

    /// The current snapshot (lock-free), for a short look that does not await.
    pub fn get(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot, held for as long as a request needs one consistent configuration.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Prices routes with `prices` from now on: the routes are rebuilt (from the store); if that
    /// fails, the new prices apply from the next rebuild and the error is returned.
    pub async fn set_prices(&self, prices: Arc<PriceCatalogue>) -> Result<(), StoreError> {
        self.prices.store(prices);
        self.reload().await
    }

    /// Rebuilds from the store and swaps; on a store error the old snapshot stays in use.
    pub async fn reload(&self) -> Result<(), StoreError> {
        self.apply(&ConfigChange::Everything).await
    }

    /// Brings the snapshot up to date with `change`, reading only what it touched: one model's
    /// row for a model change, the keys and administrators for a grants change, everything
    /// otherwise. On a store error the old snapshot stays in use.
    pub async fn apply(&self, change: &ConfigChange) -> Result<(), StoreError> {
        let _one_at_a_time = self.rebuild.lock().await;
        let applied = self.apply_now(change).await;
        match &applied {
            Err(_) => self.stale.store(true, Ordering::Relaxed),
            Ok(()) if *change == ConfigChange::Everything => self.stale.store(false, Ordering::Relaxed),
            Ok(()) => {}
        }
        applied
    }

    /// Whether an update failed since the last full build (the snapshot may lag the store).
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// Marks the snapshot as current without reading the store, for a node that saw every
    /// change applied (an embedded store written only through this process): its age, in
    /// metrics and readiness, counts from now.
    pub async fn confirm_current(&self) {
        let _one_at_a_time = self.rebuild.lock().await;
        let current = self.current.load_full();
        self.current.store(Arc::new(Snapshot {
            routes: current.routes.clone(),
            grants: current.grants.clone(),
            sources: current.sources.clone(),
            built_at: Some(SystemTime::now()),
        }));
    }

    async fn apply_now(&self, change: &ConfigChange) -> Result<(), StoreError> {
        let store = self.store.as_ref();
        let next = match change {
            ConfigChange::Everything => {
                let prices = self.prices.load();
                let routes = self.current.load().route_count();
                build_beside_requests(store, &self.keyring, &self.cooldowns, &prices, routes).await?
            }
            ConfigChange::Model { workspace, name } => {
                let record = store.get_resource(&ResourceKey::new(workspace, ResourceKind::Model, name)).await?;
                let current = self.current.load_full();
                let prices = self.prices.load();
                let route = record.as_ref().and_then(|record| {
                    let mut upstreams = current.sources.upstreams.lock().unwrap_or_else(|p| p.into_inner());
                    let inputs = RouteInputs {
                        sources: &current.sources,
                        prices: &prices,
                        keyring: &self.keyring,
                        cooldowns: &self.cooldowns,
                    };
                    build_route(record, &inputs, &mut upstreams)
                });
                current.with_route(workspace, name, route)
            }
            ConfigChange::Grants => {
                let grants = Arc::new(load_grants(store).await?);
                let current = self.current.load_full();
                Snapshot {
                    routes: current.routes.clone(),
                    grants,
                    sources: current.sources.clone(),
                    built_at: current.built_at,
                }
            }
        };
        self.current.store(Arc::new(next));
        Ok(())
    }

    /// The keyring (for verifying access tokens).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_limits::test_support::route;

    fn named(workspace: &str, name: &str) -> Route {
        Route { workspace: workspace.into(), name: name.into(), ..route(vec![]) }
    }

    fn snapshot_of(routes: &[(&str, &str)]) -> Snapshot {
        let mut by_workspace: HashMap<String, Vec<(String, Arc<Route>)>> = HashMap::new();
        for (workspace, name) in routes {
            by_workspace
                .entry(workspace.to_string())
                .or_default()
                .push((name.to_string(), Arc::new(named(workspace, name))));
        }
        let routes = by_workspace.into_iter().map(|(w, r)| (w, Arc::new(RouteTable::from_routes(r)))).collect();
        Snapshot { routes, ..Snapshot::default() }
    }

    #[test]
    fn a_model_change_copies_only_its_workspace() {
        let before = snapshot_of(&[("a", "m1"), ("a", "m2"), ("b", "m1")]);
        let after = before.with_route("a", "m3", Some(named("a", "m3")));
        assert_eq!(after.route_count(), 4);
        assert!(after.route("a", "m3").is_some() && before.route("a", "m3").is_none(), "the old snapshot is untouched");
        assert!(Arc::ptr_eq(&before.routes["b"], &after.routes["b"]), "other workspaces are shared");
        assert!(Arc::ptr_eq(before.route("a", "m1").unwrap(), after.route("a", "m1").unwrap()), "and other routes");
        assert!(Arc::ptr_eq(&before.grants, &after.grants) && Arc::ptr_eq(&before.sources, &after.sources));

        let replaced = after.with_route("a", "m1", Some(Route { enabled: false, ..named("a", "m1") }));
        assert!(!replaced.route("a", "m1").unwrap().enabled);
        let removed = replaced.with_route("b", "m1", None);
        assert!(removed.route("b", "m1").is_none());
        assert!(!removed.routes.contains_key("b"), "an empty workspace leaves the table");
        assert_eq!(
            removed.with_route("c", "gone", None).route_count(),
            3,
            "removing what is not there changes nothing"
        );
    }

    #[test]
    fn a_model_change_in_a_large_workspace_copies_one_shard() {
        let names: Vec<String> = (0..1000).map(|i| format!("model-{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|name| ("w", name.as_str())).collect();
        let before = snapshot_of(&pairs);
        let after = before.with_route("w", "model-7", Some(Route { enabled: false, ..named("w", "model-7") }));
        assert_eq!(after.route_count(), 1000);
        assert!(!after.route("w", "model-7").unwrap().enabled && before.route("w", "model-7").unwrap().enabled);
        let (old, new) = (&before.routes["w"], &after.routes["w"]);
        let copied = names.iter().filter(|name| !new.shares_shard_of(old, name)).count();
        assert!(!new.shares_shard_of(old, "model-7"), "the changed model's shard is new");
        assert!(copied < 100, "only one shard of 64 was copied: {copied} of 1000 routes");
        assert!(names.iter().all(|name| after.route("w", name).is_some()));
    }

    /// A store whose resources table can be taken away: reads of resources (the whole
    /// configuration, one model) fail meanwhile, as after `ALTER TABLE resources RENAME`; the
    /// configuration is otherwise empty.
    #[derive(Default)]
    struct ResourcesAway {
        away: std::sync::atomic::AtomicBool,
    }

    impl ResourcesAway {
        fn set_away(&self, away: bool) {
            self.away.store(away, Ordering::Relaxed);
        }

        fn read_resources(&self) -> Result<(), StoreError> {
            match self.away.load(Ordering::Relaxed) {
                true => Err(StoreError::Database("no such table: resources".into())),
                false => Ok(()),
            }
        }
    }

    #[async_trait::async_trait]
    impl ConfigurationStore for ResourcesAway {
        async fn configuration(&self) -> Result<modelgate_store::Configuration, StoreError> {
            self.read_resources()?;
            Ok(Default::default())
        }

        async fn get_resource(&self, _key: &ResourceKey) -> Result<Option<ResourceRecord>, StoreError> {
            self.read_resources()?;
            Ok(None)
        }

        async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
            Ok(Vec::new())
        }

        async fn all_admins(&self) -> Result<(Vec<(String, String)>, Vec<String>), StoreError> {
            Ok((Vec::new(), Vec::new()))
        }
    }

    /// An update that fails leaves the snapshot marked stale, so a sole writer's resync rebuilds
    /// it instead of only confirming it; the next full build clears the mark.
    #[tokio::test]
    async fn a_failed_update_marks_the_snapshot_stale_until_a_full_build() {
        let store = Arc::new(ResourcesAway::default());
        let keyring = Keyring::new(modelgate_domain::secret_box::MasterKey::from_bytes([7; 32]), vec![]);
        let handle = SnapshotHandle::load(store.clone(), keyring, Default::default()).await.unwrap();
        assert!(!handle.is_stale());

        store.set_away(true);
        let change = ConfigChange::Model { workspace: "default".into(), name: "m".into() };
        assert!(handle.apply(&change).await.is_err());
        assert!(handle.is_stale(), "a failed update marks the snapshot stale");
        assert!(handle.apply(&ConfigChange::Everything).await.is_err());
        assert!(handle.is_stale(), "a failed full build leaves it stale");

        store.set_away(false);
        handle.apply(&change).await.unwrap();
        assert!(handle.is_stale(), "one model read again does not make the rest current");
        handle.reload().await.unwrap();
        assert!(!handle.is_stale(), "a full build does");
    }
}
