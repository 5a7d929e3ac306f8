//! `modelgate rotate-master-key`: reseals every connection secret under the current master key.
//!
//! Rotation without downtime: (1) restart the nodes one by one with the new key in
//! `MODELGATE_MASTER_KEY` and the old one in `MODELGATE_PREVIOUS_MASTER_KEYS` (they open both);
//! (2) run this command with the same settings; (3) drop the old key from the settings.
//! Each secret is replaced only if it is still sealed with the key it was read with, so a
//! concurrent update is never overwritten.

use crate::config::ServeArgs;
use crate::master_key::load_keyring;
use anyhow::Context;

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub resealed: usize,
    pub already_current: usize,
}

/// Reseals every secret not yet under the current key; fails, changing nothing further, on a
/// secret no configured key can open.
pub async fn rotate_master_key(args: &ServeArgs) -> anyhow::Result<RotationReport> {
    let store = modelgate_store_sql::open(&args.database_url()?).await.context("cannot open the store")?;
    let keyring = load_keyring(args.master_key.as_deref(), &args.previous_master_keys, &args.data_dir)?;
    let mut report = RotationReport::default();
    for (key, sealed) in store.sealed_secrets().await? {
        if sealed.key_id == keyring.current().id() {
            report.already_current += 1;
            continue;
        }
        let context = modelgate_domain::secret_box::connection_secret_context(&key.workspace, &key.name);
        let plaintext = keyring.open(&sealed, &context).with_context(|| {
            format!(
                "cannot open the secret of connection '{}' in workspace '{}': add the key that sealed it ({}) to MODELGATE_PREVIOUS_MASTER_KEYS",
                key.name, key.workspace, sealed.key_id
            )
        })?;
        let resealed = keyring.seal(&plaintext, &context)?;
        if store.replace_sealed_secret(&key, &sealed.key_id, &resealed).await? {
            report.resealed += 1;
        }
    }
    store.close().await;
    Ok(report)
}
