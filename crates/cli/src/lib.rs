//! The operator's command line: `modelgate login`, `context`, `get`, `apply`, `delete`,
//! `export`, `usage` and `keys`, a client of the control plane's REST API (`/v0`). The `modelgate` binary parses these
//! commands beside `serve` and calls [`run`].

pub mod apply;
pub mod client;
pub mod config;
pub mod diff;
pub mod keys;
pub mod kinds;
pub mod manifest;
pub mod output;
pub mod usage;
pub mod variables;

use anyhow::{bail, Context as _};
use client::{Client, ConnectionArgs, Credential};
use config::Config;
use kinds::Kind;
use serde_json::Value;

/// The client commands.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Save a control plane's address and a key (or a service account's client id and secret)
    /// as a named context, and make it current.
    Login(LoginArgs),
    /// List the saved contexts or choose the current one.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Show resources: models (ml), connections (ic), policies (pol), workspaces,
    /// service accounts, api keys.
    Get(GetArgs),
    /// Create or update what manifests describe (Blaxel's `bl apply` format), in dependency
    /// order; `--dry-run` shows the changes.
    ///
    /// Documents (`---` between them) with `apiVersion: blaxel.ai/v1alpha1` and a `kind`:
    /// Workspace, ServiceAccount, IntegrationConnection, Policy, Model; applied in that order
    /// whatever the files' order. Variables are filled before parsing: `$NAME`, `${NAME}`,
    /// `${NAME:default}`, `${secrets.NAME}`, `$secrets.NAME` (`$$` is a `$`), from -s, then -e
    /// files, then the environment. Every document is read first: a problem anywhere (bad YAML,
    /// an unknown kind, a variable without a value) and nothing is written.
    ///
    /// Each resource prints one line: created, configured (updated), unchanged (its spec,
    /// display name and labels are as the manifest says), or, for a connection that exists and
    /// differs, skipped: its secrets are replaced only with --update-secrets. Secrets are never
    /// printed. A failure does not stop the other documents; the command then exits with 1.
    Apply(apply::ApplyArgs),
    /// Delete one resource, or those of manifests (-f).
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
    #[arg(long, env = "MODELGATE_KEY", hide_env_values = true, required_unless_present = "client_id")]
    pub key: Option<String>,
    /// Sign in as a service account instead (with --client-secret): the pair is checked at the
    /// token endpoint and stored; each command then fetches a fresh access token.
    #[arg(long, env = "MODELGATE_CLIENT_ID", requires = "client_secret")]
    pub client_id: Option<String>,
    /// The service account's client secret.
    #[arg(long, env = "MODELGATE_CLIENT_SECRET", hide_env_values = true, requires = "client_id")]
    pub client_secret: Option<String>,
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
    #[arg(required_unless_present = "filename", conflicts_with = "filename")]
    pub kind: Option<String>,
    /// The resource's name (a service account also by client id, a key by id).
    #[arg(required_unless_present = "filename")]
    pub name: Option<String>,
    /// Or: delete the resources of these manifests, models first; one that does not exist is
    /// reported `not found`.
    #[command(flatten)]
    pub files: apply::Files,
    #[command(flatten)]
    pub variables: apply::VariableArgs,
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
            let client = Client::new(&args.connection).await?;
            let items = match &args.name {
                Some(name) => vec![find(&client, kind, name).await?],
                None => list(&client, kind).await?,
            };
            print!("{}", output::render(kind, &items, args.output, args.name.is_some())?);
            Ok(())
        }
        ClientCommand::Export(args) => {
            let client = Client::new(&args.connection).await?;
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
        ClientCommand::Apply(args) => apply::apply(args).await,
        ClientCommand::Delete(args) => match (&args.kind, &args.name) {
            (Some(kind), Some(name)) => {
                let kind = Kind::parse(kind)?;
                let client = Client::new(&args.connection).await?;
                let item = find(&client, kind, name).await?;
                let path = format!("{}/{}", kind.collection(), client::segment(&kind.id_of(&item)));
                client.call(reqwest::Method::DELETE, &path).await?;
                println!("{}/{name} deleted", kind.manifest_kind().to_ascii_lowercase());
                Ok(())
            }
            _ => apply::delete(&args.files, &args.variables, &args.connection).await,
        },
    }
}

/// Checks the credential against the control plane before saving it: a typo is caught now.
async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let credential = Credential::given(args.key.as_ref(), args.client_id.as_ref(), args.client_secret.as_ref())
        .ok_or_else(|| anyhow::anyhow!("give --key, or --client-id and --client-secret"))?;
    let client = Client::connect(&args.url, &credential, args.workspace.clone()).await?;
    if let Credential::Key(_) = credential {
        client.get("/models").await.context("the control plane refused the key")?;
    }
    let mut config = Config::load()?;
    let (key, client_id, client_secret) = match credential {
        Credential::Key(key) => (Some(key), None, None),
        Credential::ClientCredentials { client_id, client_secret } => (None, Some(client_id), Some(client_secret)),
    };
    let context = config::Context { url: args.url, key, client_id, client_secret, workspace: args.workspace };
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
