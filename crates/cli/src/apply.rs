//! `modelgate apply -f` and `modelgate delete -f`: make the control plane hold what manifests
//! say. Every document is read and its variables filled first (a problem anywhere and nothing is
//! written); then each resource, in dependency order whatever the files' order, is compared with
//! what the control plane has and created, updated or left alone, one kubectl-style line each.
//! A failure does not stop the documents after it; the command fails at the end.

use crate::client::{segment, Client, ConnectionArgs};
use crate::diff::{self, Change};
use crate::kinds::Kind;
use crate::manifest::{self, Document, Strictness};
use crate::variables::Variables;
use anyhow::bail;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Where manifests come from.
#[derive(clap::Args, Debug)]
pub struct Files {
    /// A manifest file, a directory of .yaml/.yml files (in name order), or `-` for stdin; repeatable
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub filename: Vec<String>,
    /// Also read the subdirectories of a directory given to -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Values for `$NAME`, `${NAME}`, `${NAME:default}`, `${secrets.NAME}`, `$secrets.NAME`.
#[derive(clap::Args, Debug)]
pub struct VariableArgs {
    /// NAME=value for $NAME and ${secrets.NAME}; repeatable. Precedence: -s, then -e files, then the environment
    #[arg(short = 's', long = "secrets", value_name = "NAME=value")]
    pub secrets: Vec<String>,
    /// A file of NAME=value lines (`#` comments, `export` allowed); repeatable, a later file wins
    #[arg(short = 'e', long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
}

/// `modelgate apply`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub files: Files,
    #[command(flatten)]
    pub variables: VariableArgs,
    /// Print what would change, as a diff of fields, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the secrets of connections that exist (without it an existing connection is left as it is)
    #[arg(long)]
    pub update_secrets: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// What applying one document does.
enum Action {
    Create,
    Configure,
    Unchanged,
    /// An existing connection whose manifest differs, left alone without `--update-secrets`.
    Skip,
}

struct Plan {
    action: Action,
    changes: Vec<Change>,
    /// Whether the write sends the connection's secrets (which must then all have values).
    sends_secrets: bool,
    /// The resource as the control plane has it.
    current: Option<Value>,
}

/// Applies the manifests `args` names, printing a line per resource.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    if args.files.filename.is_empty() {
        bail!("give the manifests with -f FILE|DIR|- (repeatable)");
    }
    let variables = Variables::new(&args.variables.secrets, &args.variables.env_file)?;
    let documents = read(&args.files, &variables, Strictness::Apply)?;
    let client = Client::new(&args.connection).await?;

    // Read what exists first: a secret that would be written without a value stops everything.
    let mut plans = Vec::new();
    let mut unset = Vec::new();
    for document in &documents {
        let plan = match current(&client, document).await {
            Ok(current) => decide(document, current, args.update_secrets),
            Err(error) => Err(format!("{error:#}")),
        };
        if let Ok(Plan { sends_secrets: true, .. }) = &plan {
            unset.extend(document.unset_secrets.iter());
        }
        plans.push(plan);
    }
    if !unset.is_empty() {
        for problem in &unset {
            eprintln!("error: {problem}");
        }
        bail!("nothing done: {} secret(s) without a value", unset.len());
    }

    let mut failed = 0;
    for (document, plan) in documents.iter().zip(plans) {
        let result = match plan {
            Ok(plan) if args.dry_run => Ok(plan),
            Ok(plan) => write(&client, document, plan).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(plan) => report(document, &plan, args.dry_run),
            Err(error) => {
                failed += 1;
                print_failure(document, error);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} resource(s) failed; the others are as printed", documents.len());
    }
    Ok(())
}

/// The manifests' documents in dependency order (file order within a kind), or every problem
/// printed and an error.
fn read(files: &Files, variables: &Variables, strictness: Strictness) -> anyhow::Result<Vec<Document>> {
    let sources = manifest::read_sources(&files.filename, files.recursive)?;
    let mut documents = match manifest::load(&sources, variables, strictness) {
        Ok(documents) => documents,
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            bail!("nothing done: {} problem(s) in the manifests", problems.len());
        }
    };
    documents.sort_by_key(|d| Kind::APPLY_ORDER.iter().position(|k| *k == d.kind));
    Ok(documents)
}

/// `model/my-gpt`.
fn resource(document: &Document) -> String {
    format!("{}/{}", document.kind.manifest_kind().to_ascii_lowercase(), document.name)
}

/// A document's failure, with its file and index: `error: a.yaml, document 2 (line 9): model/x: ...`.
fn print_failure(document: &Document, error: impl std::fmt::Display) {
    eprintln!("error: {}: {}: {error}", document.origin, resource(document));
}

/// The resource as the control plane has it, if it does.
async fn current(client: &Client, document: &Document) -> anyhow::Result<Option<Value>> {
    let kind = document.kind;
    if kind.has_item_route() {
        return client.get_if_exists(&format!("{}/{}", kind.collection(), segment(&document.name))).await;
    }
    let items = client.get(kind.collection()).await?;
    Ok(items.as_array().and_then(|items| items.iter().find(|item| kind.name_of(item) == document.name)).cloned())
}

/// The fields compared: `metadata` (name, display name, labels) and `spec`, as `get -o yaml`
/// shows them, without nulls (an empty field is an absent one).
fn comparable(kind: Kind, api_object: &Value) -> Value {
    let manifest = kind.manifest(api_object);
    without_nulls(json!({"metadata": manifest["metadata"], "spec": manifest["spec"]}))
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect(),
        ),
        other => other,
    }
}

/// Fields the control plane fills when a manifest leaves them out: not a change.
fn fill_server_defaults(kind: Kind, desired: &mut Value, current: &Value) {
    let Some(spec) = desired.get_mut("spec").and_then(Value::as_object_mut) else { return };
    match kind {
        Kind::Model => {
            spec.entry("enabled").or_insert(Value::Bool(true));
        }
        Kind::ServiceAccount => {
            if let Some(scopes) = current.get("scopes") {
                spec.entry("scopes").or_insert(scopes.clone());
            }
        }
        _ => {}
    }
}

/// What to do with `document` given what exists.
fn decide(document: &Document, current: Option<Value>, update_secrets: bool) -> Result<Plan, String> {
    let kind = document.kind;
    let body = kind.request_body(&document.manifest);
    let mut desired = comparable(kind, &body);
    let secret = body.pointer("/spec/secret").filter(|_| kind == Kind::IntegrationConnection).cloned();
    let secret_changes = |secret: &Option<Value>| {
        secret.as_ref().map(|s| diff::changes(&json!({}), &json!({"spec": {"secret": s}}))).unwrap_or_default()
    };
    let Some(current) = current else {
        let mut changes = diff::changes(&json!({}), &desired);
        changes.extend(secret_changes(&secret));
        let sends_secrets = secret.is_some();
        return Ok(Plan { action: Action::Create, changes, sends_secrets, current: None });
    };
    fill_server_defaults(kind, &mut desired, &current);
    let mut changes = diff::changes(&comparable(kind, &current), &desired);
    let action = match kind {
        Kind::IntegrationConnection if update_secrets && secret.is_some() => {
            changes.extend(secret_changes(&secret));
            return Ok(Plan { action: Action::Configure, changes, sends_secrets: true, current: Some(current) });
        }
        Kind::IntegrationConnection if !update_secrets && !changes.is_empty() => Action::Skip,
        Kind::ServiceAccount if changes.iter().any(|c| c.field().starts_with("spec.scopes")) => {
            return Err("spec.scopes: a service account's scopes cannot change; delete it and apply again".into());
        }
        _ if changes.is_empty() => Action::Unchanged,
        _ => Action::Configure,
    };
    Ok(Plan { action, changes, sends_secrets: false, current: Some(current) })
}

/// Carries out `plan` for `document`.
async fn write(client: &Client, document: &Document, plan: Plan) -> Result<Plan, String> {
    let kind = document.kind;
    let mut body = kind.request_body(&document.manifest);
    let written = match (&plan.action, &plan.current) {
        (Action::Create, _) => client.send(Method::POST, kind.collection(), Some(&body)).await,
        (Action::Configure, Some(current)) => {
            if kind == Kind::ServiceAccount {
                // Fixed at creation; the update takes the name and description only.
                body.as_object_mut().map(|b| b.remove("scopes"));
            }
            let path = format!("{}/{}", kind.collection(), segment(&kind.id_of(current)));
            client.send(Method::PUT, &path, Some(&body)).await
        }
        _ => return Ok(plan),
    };
    let written = written.map_err(|e| format!("{e:#}"))?;
    if let (Action::Create, Some(secret)) = (&plan.action, written.get("client_secret").and_then(Value::as_str)) {
        let id = written.get("client_id").and_then(Value::as_str).unwrap_or_default();
        eprintln!("{}: client id {id}; client secret (shown only now): {secret}", resource(document));
    }
    Ok(plan)
}

/// The line (and with `--dry-run` the changed fields) for one applied document.
fn report(document: &Document, plan: &Plan, dry_run: bool) {
    let outcome = match plan.action {
        Action::Create => "created",
        Action::Configure => "configured",
        Action::Unchanged => "unchanged",
        Action::Skip => "skipped (exists; --update-secrets to replace)",
    };
    let suffix = if dry_run { " (dry run)" } else { "" };
    println!("{} {outcome}{suffix}", resource(document));
    if dry_run && !matches!(plan.action, Action::Unchanged) {
        for change in &plan.changes {
            println!("  {change}");
        }
    }
}

/// Deletes the manifests' resources, models first (the reverse of `apply`'s order); one that
/// does not exist is reported `not found`, which is no failure.
pub async fn delete(files: &Files, variables: &VariableArgs, connection: &ConnectionArgs) -> anyhow::Result<()> {
    let variables = Variables::new(&variables.secrets, &variables.env_file)?;
    let mut documents = read(files, &variables, Strictness::NamesOnly)?;
    documents.reverse();
    let client = Client::new(connection).await?;
    let mut failed = 0;
    for document in &documents {
        let deleted = match current(&client, document).await {
            Ok(None) => Ok(false),
            Ok(Some(item)) => {
                let path = format!("{}/{}", document.kind.collection(), segment(&document.kind.id_of(&item)));
                client.call(Method::DELETE, &path).await.map(|_| true)
            }
            Err(error) => Err(error),
        };
        match deleted {
            Ok(true) => println!("{} deleted", resource(document)),
            Ok(false) => println!("{} not found", resource(document)),
            Err(error) => {
                failed += 1;
                print_failure(document, format!("{error:#}"));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} resource(s) could not be deleted", documents.len());
    }
    Ok(())
}
