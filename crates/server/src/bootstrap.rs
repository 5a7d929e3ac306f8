//! First start: the `default` workspace and an admin API key.

use anyhow::Context;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::{api_key, Scope};
use modelgate_store::{ApiKeyRecord, IdentityStore, StoreError};

/// The workspace every node creates on first start.
pub const BOOTSTRAP_WORKSPACE: &str = "default";
const ADMIN_SUBJECT: &str = "admin";
const MIN_BOOTSTRAP_KEY_LEN: usize = 20;

fn admin_key_record(key: &str, name: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: api_key::generate_id(),
        workspace: BOOTSTRAP_WORKSPACE.to_string(),
        name: name.to_string(),
        key_digest: api_key::digest(key),
        subject: ADMIN_SUBJECT.to_string(),
        subject_type: "user".to_string(),
        scopes: vec![Scope::Admin.as_str().to_string()],
        expires_in: None,
        expires_at: None,
        created_at: now_micros(),
        created_by: "bootstrap".to_string(),
    }
}

/// Creates the default workspace and the admin key on a fresh store. Returns the generated key
/// when one was made (to be shown once); a configured bootstrap key is ensured, never returned.
pub async fn run(store: &dyn IdentityStore, configured_key: Option<&str>) -> anyhow::Result<Option<String>> {
    let fresh = !store.is_initialized().await?;
    let at = now_micros();
    store.ensure_workspace(BOOTSTRAP_WORKSPACE, "bootstrap", at).await?;
    // The bootstrap admin administers every workspace, present and future.
    store.ensure_user(ADMIN_SUBJECT, true, at).await?;
    store.add_workspace_admin(BOOTSTRAP_WORKSPACE, ADMIN_SUBJECT, at).await?;
    if let Some(key) = configured_key {
        anyhow::ensure!(
            key.len() >= MIN_BOOTSTRAP_KEY_LEN && !key.chars().any(char::is_whitespace),
            "MODELGATE_BOOTSTRAP_API_KEY must be at least {MIN_BOOTSTRAP_KEY_LEN} characters without spaces"
        );
        if store.find_api_key(&api_key::digest(key)).await?.is_none() {
            match store
                .insert_api_key(&admin_key_record(key, "bootstrap admin key (MODELGATE_BOOTSTRAP_API_KEY)"))
                .await
            {
                Ok(()) => tracing::info!("admin API key from MODELGATE_BOOTSTRAP_API_KEY is registered"),
                // Another node starting at the same time registered it first.
                Err(StoreError::AlreadyExists) => {}
                Err(error) => return Err(anyhow::Error::new(error).context("cannot store the bootstrap API key")),
            }
        }
        return Ok(None);
    }
    if !fresh {
        return Ok(None);
    }
    let key = api_key::generate();
    store
        .insert_api_key(&admin_key_record(&key, "bootstrap admin key"))
        .await
        .context("cannot store the admin API key")?;
    Ok(Some(key))
}
