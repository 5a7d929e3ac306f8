//! The operator's command line: `modelgate login`, `context`, `get`, `delete`, `usage` and
//! `keys`, a client of the control plane's REST API (`/v0`). The `modelgate` binary parses these
//! commands beside `serve` and calls [`run`].

pub mod client;
pub mod config;
pub mod keys;
pub mod kinds;
pub mod output;
pub mod usage;

use anyhow::{bail, Context as _};
use client::{Client, ConnectionArgs};
use config::Config;
use kinds::Kind;
use serde_json::Value;

/// The client commands.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Save a control plane's address and key as a named context (and make it current).
    Login(LoginArgs),
    /// List the saved contexts or choose the current one.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Show resources: models (ml), connections (ic), policies (pol), workspaces,
    /// service accounts, api keys.
    Get(GetArgs),
    /// Delete one resource.
    Delete(DeleteArgs),
    /// The workspace's connections, policies and models as one multi-document manifest, in the
    /// order they depend on each other; secrets become `${secrets.NAME}` placeholders.
    Export(ExportArgs),
    /// What the workspace used: totals, or per model or key (`--by`).
    Usage(usage::UsageArgs),
    /// Create, list and revoke API keys (yours, or a service account's).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The control plane's address, with or without `/v0`.
    #[arg(long, env = "MODELGATE_URL")]
    pub url: String,
    /// The API key; checked against the control plane, stored, never printed.
    #[arg(long, env = "MODELGATE_KEY", hide_env_values = true)]
    pub key: String,
    /// The workspace to act in (else the key's own).
    #[arg(long, env = "MODELGATE_WORKSPACE")]
    pub workspace: Option<String>,
    /// The context's name.
    #[arg(long, default_value = "default")]
    pub context: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum ContextCommand {
    /// The saved contexts; `*` marks the current one.
    List,
    /// Make NAME the current context.
    Use { name: String },
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// What to show: model(s)/ml, connection(s)/ic, policy/policies/pol, workspace(s),
    /// serviceaccount(s)/sa, apikey(s)/keys.
    pub kind: String,
    /// One resource by name (a service account also by client id, a key by id).
    pub name: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: output::Format,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The kind, as for `get`.
    pub kind: String,
    /// The resource's name (a service account also by client id, a key by id).
    pub name: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Runs a client command, printing its result on stdout.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Login(args) => login(args).await,
        ClientCommand::Context(ContextCommand::List) => {
            let config = Config::load()?;
            for (name, context) in &config.contexts {
                let mark = if config.current_context.as_deref() == Some(name.as_str()) { "*" } else { " " };
                let workspace = context.workspace.as_deref().unwrap_or("-");
                println!("{mark} {name}\t{}\t{workspace}", context.url);
            }
            Ok(())
        }
        ClientCommand::Context(ContextCommand::Use { name }) => {
            let mut config = Config::load()?;
            if !config.contexts.contains_key(&name) {
                bail!("no context '{name}': `modelgate context list` shows them");
            }
            config.current_context = Some(name.clone());
            config.save()?;
            println!("current context: {name}");
            Ok(())
        }
        ClientCommand::Get(args) => {
            let kind = Kind::parse(&args.kind)?;
            let client = Client::new(&args.connection)?;
            let items = match &args.name {
                Some(name) => vec![find(&client, kind, name).await?],
                None => list(&client, kind).await?,
            };
            print!("{}", output::render(kind, &items, args.output, args.name.is_some())?);
            Ok(())
        }
        ClientCommand::Export(args) => {
            let client = Client::new(&args.connection)?;
            let mut documents = Vec::new();
            // Connections and policies before the models that name them.
            for kind in [Kind::IntegrationConnection, Kind::Policy, Kind::Model] {
                for item in list(&client, kind).await? {
                    documents.push(serde_yaml_ng::to_string(&kind.exported(&item))?);
                }
            }
            println!(
                "# modelgate export: connections' secrets are ${{secrets.NAME}} placeholders; set them before applying"
            );
            print!("{}", documents.join("---\n"));
            Ok(())
        }
        ClientCommand::Usage(args) => usage::run(args).await,
        ClientCommand::Keys(command) => keys::run(command).await,
        ClientCommand::Delete(args) => {
            let kind = Kind::parse(&args.kind)?;
            let client = Client::new(&args.connection)?;
            let item = find(&client, kind, &args.name).await?;
            let path = format!("{}/{}", kind.collection(), client::segment(&kind.id_of(&item)));
            client.call(reqwest::Method::DELETE, &path).await?;
            println!("{}/{} deleted", kind.manifest_kind().to_ascii_lowercase(), args.name);
            Ok(())
        }
    }
}

/// Checks the key against the control plane before saving it: a typo is caught now.
async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let client = Client::with(&args.url, args.key.clone(), args.workspace.clone())?;
    client.get("/models").await.context("the control plane refused the key")?;
    let mut config = Config::load()?;
    let context = config::Context { url: args.url, key: args.key, workspace: args.workspace };
    config.contexts.insert(args.context.clone(), context);
    config.current_context = Some(args.context.clone());
    let path = config.save()?;
    println!("logged in: context '{}' saved in {} and made current", args.context, path.display());
    Ok(())
}

async fn list(client: &Client, kind: Kind) -> anyhow::Result<Vec<Value>> {
    match client.get(kind.collection()).await? {
        Value::Array(items) => Ok(items),
        other => bail!("the control plane answered a list that is not an array: {}", kind.without_secrets(&other)),
    }
}

/// One resource by the name a user gave.
pub(crate) async fn find(client: &Client, kind: Kind, name: &str) -> anyhow::Result<Value> {
    if kind.has_item_route() {
        return client.get(&format!("{}/{}", kind.collection(), client::segment(name))).await;
    }
    let items = list(client, kind).await?;
    items
        .into_iter()
        .find(|item| kind.matches(item, name))
        .ok_or_else(|| anyhow::anyhow!("{} '{name}' not found", kind.manifest_kind()))
}
