//! The resource kinds the command line knows: the names a user may type (Blaxel's short
//! names too), where each lives in the API, its table columns and its manifest form.

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    IntegrationConnection,
    Policy,
    Workspace,
    ServiceAccount,
    ApiKey,
}

/// The manifests' `apiVersion`, Blaxel's.
pub const API_VERSION: &str = "blaxel.ai/v1alpha1";

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Model, Kind::IntegrationConnection, Kind::Policy, Kind::Workspace, Kind::ServiceAccount, Kind::ApiKey];

    /// The kinds a manifest may hold, in the order `apply` writes them: each before the kinds
    /// that name it (a model names connections and policies).
    pub const APPLY_ORDER: [Kind; 5] =
        [Kind::Workspace, Kind::ServiceAccount, Kind::IntegrationConnection, Kind::Policy, Kind::Model];

    /// Every name a user may type for this kind (lower case).
    fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Model => &["model", "models", "ml"],
            Kind::IntegrationConnection => {
                &["integrationconnection", "integrationconnections", "connection", "connections", "ic"]
            }
            Kind::Policy => &["policy", "policies", "pol"],
            Kind::Workspace => &["workspace", "workspaces", "ws"],
            Kind::ServiceAccount => &["serviceaccount", "serviceaccounts", "service-account", "service-accounts", "sa"],
            Kind::ApiKey => &["apikey", "apikeys", "api-key", "api-keys", "key", "keys"],
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Kind> {
        let lower = name.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|kind| kind.names().contains(&lower.as_str())).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.names()[1]).collect();
            anyhow::anyhow!("unknown kind '{name}': use one of {}", known.join(", "))
        })
    }

    /// The manifest's `kind`.
    pub fn manifest_kind(self) -> &'static str {
        match self {
            Kind::Model => "Model",
            Kind::IntegrationConnection => "IntegrationConnection",
            Kind::Policy => "Policy",
            Kind::Workspace => "Workspace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ApiKey => "ApiKey",
        }
    }

    /// The collection's path under `/v0`.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Model => "/models",
            Kind::IntegrationConnection => "/integrations/connections",
            Kind::Policy => "/policies",
            Kind::Workspace => "/workspaces",
            Kind::ServiceAccount => "/service_accounts",
            Kind::ApiKey => "/users/me/api_keys",
        }
    }

    /// Whether one resource can be fetched by name (service accounts and keys are found in
    /// their list).
    pub fn has_item_route(self) -> bool {
        !matches!(self, Kind::ServiceAccount | Kind::ApiKey)
    }

    /// The name a user gives for one resource.
    pub fn name_of(self, item: &Value) -> String {
        let name = match self {
            Kind::Model | Kind::IntegrationConnection | Kind::Policy => &item["metadata"]["name"],
            Kind::ApiKey => &item["id"],
            Kind::Workspace | Kind::ServiceAccount => &item["name"],
        };
        name.as_str().unwrap_or_default().to_string()
    }

    /// The identifier in the item's path (a service account's client id, a key's id).
    pub fn id_of(self, item: &Value) -> String {
        match self {
            Kind::ServiceAccount => item["client_id"].as_str().unwrap_or_default().to_string(),
            _ => self.name_of(item),
        }
    }

    /// Whether `item` is the one a user named (a service account by name or client id).
    pub fn matches(self, item: &Value, name: &str) -> bool {
        self.name_of(item) == name || self.id_of(item) == name
    }

    /// The table's columns: header and the value's JSON pointer.
    pub fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Model => &[
                ("NAME", "/metadata/name"),
                ("RUNTIME", "/spec/runtime/type"),
                ("MODEL", "/spec/runtime/model"),
                ("STATUS", "/status"),
            ],
            Kind::IntegrationConnection => &[("NAME", "/metadata/name"), ("INTEGRATION", "/spec/integration")],
            Kind::Policy => &[("NAME", "/metadata/name"), ("TYPE", "/spec/type")],
            Kind::Workspace => &[("NAME", "/name"), ("DISPLAY NAME", "/displayName"), ("STATUS", "/status")],
            Kind::ServiceAccount => &[("NAME", "/name"), ("CLIENT ID", "/client_id"), ("SCOPES", "/scopes")],
            Kind::ApiKey => &[("ID", "/id"), ("NAME", "/name"), ("SCOPES", "/scopes"), ("EXPIRES", "/expiresAt")],
        }
    }

    /// `item` as a manifest: `apiVersion`, `kind`, `metadata` (what a user sets: name, display
    /// name, labels), `spec`; no status, events or secrets.
    pub fn manifest(self, item: &Value) -> Value {
        let (metadata, spec) = match self {
            Kind::Model | Kind::IntegrationConnection | Kind::Policy => {
                let metadata = pick(&item["metadata"], &["name", "displayName", "labels"]);
                let mut spec = item["spec"].clone();
                if let Some(spec) = spec.as_object_mut() {
                    spec.remove("secret");
                }
                (metadata, spec)
            }
            Kind::Workspace => (pick(item, &["name", "displayName", "labels"]), pick(item, &["region"])),
            Kind::ServiceAccount => (pick(item, &["name"]), pick(item, &["description", "scopes"])),
            Kind::ApiKey => {
                (pick(item, &["id", "name"]), pick(item, &["scopes", "expiresIn", "expiresAt", "sub", "subType"]))
            }
        };
        json!({"apiVersion": API_VERSION, "kind": self.manifest_kind(), "metadata": metadata, "spec": spec})
    }

    /// A manifest as the API's request body: `metadata` and `spec` for models, connections and
    /// policies; the fields of both, side by side, for workspaces and service accounts.
    pub fn request_body(self, manifest: &Value) -> Value {
        let part = |name: &str| manifest.get(name).and_then(Value::as_object).cloned().unwrap_or_default();
        match self {
            Kind::Workspace | Kind::ServiceAccount | Kind::ApiKey => {
                let mut body = part("metadata");
                body.extend(part("spec"));
                Value::Object(body)
            }
            Kind::Model | Kind::IntegrationConnection | Kind::Policy => {
                json!({"metadata": manifest.get("metadata"), "spec": manifest.get("spec")})
            }
        }
    }

    /// `item` as a manifest for `export`: a connection's secrets, which are never read back,
    /// become `${secrets.CONNECTION_NAME}` placeholders (`my-openai`'s `apiKey`:
    /// `${secrets.MY_OPENAI_APIKEY}`), filled from the environment when the file is applied.
    pub fn exported(self, item: &Value) -> Value {
        let mut manifest = self.manifest(item);
        if self == Kind::IntegrationConnection {
            if let Some(secret) = item.pointer("/spec/secret").and_then(Value::as_object) {
                let connection = self.name_of(item);
                let placeholders: Map<String, Value> = secret
                    .keys()
                    .map(|name| (name.clone(), json!(format!("${{secrets.{}}}", placeholder(&connection, name)))))
                    .collect();
                manifest["spec"]["secret"] = Value::Object(placeholders);
            }
        }
        manifest
    }

    /// `item` as the API answered it, without any secret (for `-o json`).
    pub fn without_secrets(self, item: &Value) -> Value {
        let mut item = item.clone();
        if let Some(spec) = item.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("secret");
        }
        if let Some(object) = item.as_object_mut() {
            object.remove("client_secret");
            object.remove("apiKey");
        }
        item
    }
}

/// The variable a connection's secret is read from: `MY_OPENAI_APIKEY` for `my-openai`'s `apiKey`.
fn placeholder(connection: &str, secret: &str) -> String {
    let upper = |text: &str| {
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect::<String>()
    };
    format!("{}_{}", upper(connection), upper(secret))
}

/// The fields of `object` named in `fields` that are set.
fn pick(object: &Value, fields: &[&str]) -> Value {
    let mut picked = Map::new();
    for field in fields {
        if let Some(value) = object.get(*field).filter(|v| !v.is_null()) {
            picked.insert((*field).to_string(), value.clone());
        }
    }
    Value::Object(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_and_plurals_name_the_same_kind() {
        for (typed, kind) in [
            ("ml", Kind::Model),
            ("Models", Kind::Model),
            ("ic", Kind::IntegrationConnection),
            ("connections", Kind::IntegrationConnection),
            ("pol", Kind::Policy),
            ("service-accounts", Kind::ServiceAccount),
            ("apikeys", Kind::ApiKey),
        ] {
            assert_eq!(Kind::parse(typed).ok(), Some(kind), "{typed}");
        }
        assert!(Kind::parse("agents").is_err());
    }

    #[test]
    fn an_exported_connection_names_its_secrets_as_placeholders() {
        let item = json!({"metadata": {"name": "my-openai"},
            "spec": {"integration": "openai", "secret": {"apiKey": "********", "sandboxApiKey": "********"}}});
        let manifest = Kind::IntegrationConnection.exported(&item);
        assert_eq!(
            manifest["spec"]["secret"],
            json!({"apiKey": "${secrets.MY_OPENAI_APIKEY}", "sandboxApiKey": "${secrets.MY_OPENAI_SANDBOXAPIKEY}"})
        );
        assert_eq!(Kind::Model.exported(&json!({"metadata": {"name": "m"}, "spec": {}}))["kind"], "Model");
    }

    #[test]
    fn a_manifest_has_no_status_events_or_secret() {
        let item = json!({"metadata": {"name": "c", "workspace": "default", "createdAt": "x"},
            "spec": {"integration": "openai", "secret": {"apiKey": "sk"}}, "status": "DEPLOYED", "events": []});
        let manifest = Kind::IntegrationConnection.manifest(&item);
        assert_eq!(
            manifest,
            json!({"apiVersion": API_VERSION, "kind": "IntegrationConnection", "metadata": {"name": "c"},
                "spec": {"integration": "openai"}})
        );
    }
}
