//! The command line's config file: named contexts (a control plane's URL, a key, a workspace)
//! and the current one, in `$XDG_CONFIG_HOME/modelgate/config.yaml` (else
//! `~/.config/modelgate/config.yaml`), readable by its owner only since it holds keys.

use crate::client::Credential;
use anyhow::{anyhow, Context as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// A control plane and how to sign in to it: a key, or a service account's client id and
/// secret (traded for a fresh access token at each run).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl Context {
    pub fn credential(&self) -> Option<Credential> {
        Credential::given(self.key.as_ref(), self.client_id.as_ref(), self.client_secret.as_ref())
    }
}

/// Where the config file lives.
pub fn path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty());
            PathBuf::from(home.ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?).join(".config")
        }
    };
    Ok(base.join("modelgate").join("config.yaml"))
}

impl Config {
    /// The config file's contents; an empty config when there is none yet.
    pub fn load() -> anyhow::Result<Config> {
        let path = path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml_ng::from_str(&text).with_context(|| format!("cannot read {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file, created with mode 0600 (and made so if it existed).
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_yaml_ng::to_string(self)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        use std::io::Write;
        let mut file = options.open(&path).with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The current context, if one is set and exists.
    pub fn current(&self) -> Option<&Context> {
        self.current_context.as_ref().and_then(|name| self.contexts.get(name))
    }
}
