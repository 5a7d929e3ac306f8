//! The master key that seals provider credentials: `MODELGATE_MASTER_KEY`, else a key file in
//! the data directory, created with mode 0600 on first start.

use anyhow::Context;
use modelgate_domain::secret_box::{connection_secret_context, Keyring, MasterKey};
use modelgate_store::{Store, StoreError};
use std::io::Write;
use std::path::Path;

const KEY_FILE: &str = "master.key";

/// The keyring: the current key (see [`load`]) and the previous keys still accepted.
pub fn load_keyring(configured: Option<&str>, previous: &[String], data_dir: &Path) -> anyhow::Result<Keyring> {
    let current = load(configured, data_dir)?;
    let previous = previous
        .iter()
        .filter(|text| !text.trim().is_empty())
        .map(|text| MasterKey::parse(text).context("MODELGATE_PREVIOUS_MASTER_KEYS holds a key that is not usable"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Keyring::new(current, previous))
}

/// Loads the master key from `configured`, else from (or into) the data directory's key file.
pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Some(text) = configured {
        return MasterKey::parse(text).context("MODELGATE_MASTER_KEY is not usable");
    }
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::parse(&text).with_context(|| format!("the key file {} is not usable", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            crate::config::create_private_dir(data_dir)?;
            let text = MasterKey::generate_hex();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).with_context(|| format!("cannot create key file {}", path.display()))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "created a master key file; back it up: without it, stored credentials cannot be opened");
            MasterKey::parse(&text).context("generated master key is not usable")
        }
        Err(error) => Err(error).with_context(|| format!("cannot read key file {}", path.display())),
    }
}

/// Whether the keyring opens the stored connection secrets. `Some(reason)` when there are some
/// and none opens (a wrong `MODELGATE_MASTER_KEY`, or a lost key file replaced by a new one):
/// every call through them would fail, so the node reports it (logged at error level, and in
/// readiness, which answers 503) instead of looking healthy. Some opening and others not is
/// logged as a warning only: those connections' models are `FAILED`.
pub async fn check_opens_stored_secrets(store: &dyn Store, keyring: &Keyring) -> Result<Option<String>, StoreError> {
    let sealed = store.sealed_secrets().await?;
    let opened = sealed
        .iter()
        .filter(|(key, secret)| keyring.open(secret, &connection_secret_context(&key.workspace, &key.name)).is_ok())
        .count();
    let stored = sealed.len();
    if stored > 0 && opened == 0 {
        let reason = format!("none of {stored} stored secrets opens with the configured master key");
        tracing::error!(
            "{reason}: every model using them fails; start with the key that sealed them (MODELGATE_MASTER_KEY, or MODELGATE_PREVIOUS_MASTER_KEYS during a rotation)"
        );
        return Ok(Some(reason));
    }
    if opened < stored {
        tracing::warn!(stored, opened, "some stored secrets do not open with the configured master keys");
    }
    Ok(None)
}
