//! `modelgate keys create|list|revoke`: API keys of the caller, or of a service account named by
//! name or client id. A new key is printed once, alone on stdout, for scripts to capture.

use crate::client::{segment, Client, ConnectionArgs};
use crate::kinds::Kind;
use crate::output;
use serde_json::{json, Value};

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it (shown only now).
    Create(CreateArgs),
    /// The keys, without the keys themselves.
    List(ListArgs),
    /// Revoke a key by its id (`ak_...`).
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct Owner {
    /// A service account's keys (its name or client id) instead of your own.
    #[arg(long = "service-account")]
    pub service_account: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The key's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Scopes, comma-separated (`models:invoke,models:list`); default: every scope of the owner.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Lifetime: a number and a unit (`30d`, `24h`, `1w`); default: never expires.
    #[arg(long)]
    pub expires: Option<String>,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value_t)]
    pub output: output::Format,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The key's id (`ak_...`).
    pub id: String,
    #[command(flatten)]
    pub owner: Owner,
}

/// Where the owner's keys are: `/users/me/api_keys` or the service account's.
async fn keys_path(client: &Client, owner: &Owner) -> anyhow::Result<String> {
    Ok(match &owner.service_account {
        None => "/users/me/api_keys".to_string(),
        Some(name) => {
            let account = crate::find(client, Kind::ServiceAccount, name).await?;
            format!("/service_accounts/{}/api_keys", segment(&Kind::ServiceAccount.id_of(&account)))
        }
    })
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create(args) => {
            let client = Client::new(&args.owner.connection).await?;
            let path = keys_path(&client, &args.owner).await?;
            let mut body = json!({"name": args.name, "expires_in": args.expires});
            if !args.scopes.is_empty() {
                body["scopes"] = json!(args.scopes);
            }
            let created = client.send(reqwest::Method::POST, &path, Some(&body)).await?;
            let key = created.get("apiKey").and_then(Value::as_str).unwrap_or_default();
            let id = created.get("id").and_then(Value::as_str).unwrap_or_default();
            let expires = created.get("expires_at").and_then(Value::as_str).unwrap_or("never");
            eprintln!("created key {id} (expires: {expires}); it is shown only now:");
            println!("{key}");
            Ok(())
        }
        KeysCommand::List(args) => {
            let client = Client::new(&args.owner.connection).await?;
            let path = keys_path(&client, &args.owner).await?;
            let keys = match client.get(&path).await? {
                Value::Array(keys) => keys,
                other => anyhow::bail!("the control plane answered a list that is not an array: {other}"),
            };
            print!("{}", output::render(Kind::ApiKey, &keys, args.output, false)?);
            Ok(())
        }
        KeysCommand::Revoke(args) => {
            let client = Client::new(&args.owner.connection).await?;
            let path = keys_path(&client, &args.owner).await?;
            client.call(reqwest::Method::DELETE, &format!("{path}/{}", segment(&args.id))).await?;
            println!("key {} revoked", args.id);
            Ok(())
        }
    }
}
