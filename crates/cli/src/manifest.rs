//! Reading manifests: files, directories (their `.yaml`/`.yml` files in name order; `-R` goes
//! into subdirectories) and stdin (`-`); the documents of each (`---` between them), their
//! variables filled ([`crate::variables`]) and parsed into the resource they describe. Each
//! document is known by its file and its 1-based index among the file's non-empty documents.

use crate::kinds::Kind;
use crate::variables::{self, Missing, Variables};
use anyhow::Context as _;
use serde_json::{Map, Value};
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Where a document comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file as named (a directory's files as found in it), or `<stdin>`.
    pub file: String,
    /// 1-based among the file's non-empty documents.
    pub index: usize,
    /// The document's first line in the file.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {} (line {})", self.file, self.index, self.line)
    }
}

/// A document that cannot be applied: where, which field (a YAML path such as
/// `spec.maxTokens.step`), and why.
#[derive(Debug)]
pub struct Problem {
    pub origin: Origin,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}, {field}: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// One resource as a manifest describes it.
#[derive(Debug)]
pub struct Document {
    pub origin: Origin,
    pub kind: Kind,
    pub name: String,
    /// The document as read (`apiVersion`, `kind`, `metadata`, `spec`, ...).
    pub manifest: Value,
    /// Secrets of an IntegrationConnection that no variable gave: needed only if the connection
    /// is written with its secrets (created, or `--update-secrets`); each as a problem to report then.
    pub unset_secrets: Vec<Problem>,
}

/// How missing variables count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Every reference must have a value (apply), except a connection's secrets, checked when
    /// they are written.
    Apply,
    /// Only the kind and the name matter (delete).
    NamesOnly,
}

/// A manifest's text and what it is called.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// The sources named by `-f` (a file, a directory, or `-` for stdin), in order.
pub fn read_sources(paths: &[String], recursive: bool) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    for path in paths {
        if path == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the manifest from stdin")?;
            sources.push(Source { name: "<stdin>".into(), text });
            continue;
        }
        let path = PathBuf::from(path);
        let files = if path.is_dir() { manifest_files(&path, recursive)? } else { vec![path] };
        for file in files {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            sources.push(Source { name: file.display().to_string(), text });
        }
    }
    Ok(sources)
}

/// The `.yaml`/`.yml` files of `dir` in name order (and of its subdirectories, after its own
/// files, when `recursive`).
fn manifest_files(dir: &Path, recursive: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    entries.sort();
    let is_manifest = |p: &Path| p.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let mut files: Vec<PathBuf> = entries.iter().filter(|p| p.is_file() && is_manifest(p)).cloned().collect();
    if recursive {
        for sub in entries.iter().filter(|p| p.is_dir()) {
            files.extend(manifest_files(sub, true)?);
        }
    }
    Ok(files)
}

/// The non-empty documents of `text`: each one's first line (1-based) and text.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    let is_blank = |doc: &str| doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let separator = line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        let end = line.trim_end() == "...";
        if separator || end {
            if !is_blank(&current) {
                documents.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = number + 2;
            // `--- {a: 1}`: the document starts on the separator's line.
            if separator && !line[3..].trim().is_empty() && !line[3..].trim_start().starts_with('#') {
                current.push_str(&line[3..]);
                start = number + 1;
            }
            continue;
        }
        current.push_str(line);
    }
    if !is_blank(&current) {
        documents.push((start, current));
    }
    documents
}

/// Every document of `sources`, parsed; or every problem found (nothing is applied then).
pub fn load(sources: &[Source], variables: &Variables, strictness: Strictness) -> Result<Vec<Document>, Vec<Problem>> {
    let mut documents = Vec::new();
    let mut problems = Vec::new();
    for source in sources {
        for (index, (line, raw)) in split_documents(&source.text).into_iter().enumerate() {
            let origin = Origin { file: source.name.clone(), index: index + 1, line };
            match document(origin, &raw, variables, strictness) {
                Ok(document) => documents.push(document),
                Err(mut found) => problems.append(&mut found),
            }
        }
    }
    if problems.is_empty() {
        Ok(documents)
    } else {
        Err(problems)
    }
}

fn document(
    origin: Origin,
    raw: &str,
    variables: &Variables,
    strictness: Strictness,
) -> Result<Document, Vec<Problem>> {
    let substituted = variables::substitute(raw, variables);
    let problem = |field: Option<String>, message: String| Problem { origin: origin.clone(), field, message };
    let value: Value = serde_yaml_ng::from_str(&substituted.text).map_err(|e| {
        let field = e.location().and_then(|at| field_at_line(raw, at.line()));
        vec![problem(field, yaml_error(&e, origin.line))]
    })?;
    let object = value.as_object().ok_or_else(|| {
        vec![problem(None, "a manifest document is a mapping (apiVersion, kind, metadata, spec)".into())]
    })?;
    let kind = manifest_kind(object).map_err(|message| vec![problem(Some("kind".into()), message)])?;
    let name = match object.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(vec![problem(Some("metadata.name".into()), "is required (a string)".into())]),
    };

    let mut unset_secrets = Vec::new();
    let mut problems = Vec::new();
    for missing in &substituted.missing {
        let field = field_of(raw, missing);
        let deferred = kind == Kind::IntegrationConnection
            && missing.secret
            && field.as_deref().is_some_and(|f| f.starts_with("spec.secret."));
        let matters = match strictness {
            Strictness::Apply => true,
            Strictness::NamesOnly => field.as_deref().is_none_or(|f| f == "kind" || f == "metadata.name"),
        };
        if deferred && strictness == Strictness::Apply {
            unset_secrets.push(problem(field, unset_message(missing, origin.line)));
        } else if matters {
            problems.push(problem(field, unset_message(missing, origin.line)));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Document { origin, kind, name, manifest: value, unset_secrets })
}

/// What a variable without a value is told as.
fn unset_message(missing: &Missing, first_line: usize) -> String {
    let what = if missing.secret { "secret" } else { "variable" };
    format!(
        "{what} {} is not set ({} at line {}, column {}): give -s {}=VALUE, an -e file or the environment",
        missing.name,
        missing.reference,
        first_line + missing.line - 1,
        missing.column,
        missing.name
    )
}

/// The kinds `apply` knows, matched by `kind` as Blaxel's CLI does (`apiVersion` is not checked).
fn manifest_kind(object: &Map<String, Value>) -> Result<Kind, String> {
    let known: Vec<&str> = Kind::APPLY_ORDER.iter().map(|k| k.manifest_kind()).collect();
    match object.get("kind") {
        Some(Value::String(kind)) => Kind::APPLY_ORDER
            .into_iter()
            .find(|k| k.manifest_kind() == kind)
            .ok_or_else(|| format!("unknown kind '{kind}': manifests hold {}", known.join(", "))),
        _ => Err(format!("is required: one of {}", known.join(", "))),
    }
}

/// A YAML error with the lines it names counted in the file, not the document.
fn yaml_error(error: &serde_yaml_ng::Error, first_line: usize) -> String {
    let text = error.to_string();
    let mut shifted = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        shifted.push_str(before);
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        match after[..digits].parse::<usize>() {
            Ok(line) => shifted.push_str(&(first_line + line - 1).to_string()),
            Err(_) => shifted.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    shifted.push_str(rest);
    format!("invalid YAML: {shifted}")
}

/// The field a line of a document belongs to, from the keys above it and their indentation
/// (`spec.runtime` for `  runtime: {model: x`): where a YAML error is, since the document
/// cannot be parsed to know it.
fn field_at_line(raw: &str, line: usize) -> Option<String> {
    let mut keys: Vec<(usize, String)> = Vec::new();
    for text in raw.lines().take(line) {
        let content = text.trim_start();
        let indent = text.len() - content.len();
        let item = content.trim_start_matches("- ");
        let Some((key, _)) = item.split_once(':') else { continue };
        if content.starts_with('#') || key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        let indent = indent + (content.len() - item.len());
        keys.retain(|(level, _)| *level < indent);
        keys.push((indent, key.trim_matches(['"', '\'']).to_string()));
    }
    (!keys.is_empty()).then(|| keys.iter().map(|(_, key)| key.as_str()).collect::<Vec<_>>().join("."))
}

/// The field (`spec.maxTokens.step`, `spec.integrationConnections[0]`) whose value or key holds
/// a reference, found in the document as written; `None` when the written text is not YAML.
fn field_of(raw: &str, missing: &Missing) -> Option<String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(raw).ok()?;
    find_reference(&value, &missing.reference, String::new())
}

fn find_reference(value: &serde_yaml_ng::Value, reference: &str, path: String) -> Option<String> {
    use serde_yaml_ng::Value as Yaml;
    let key_text = |key: &Yaml| match key {
        Yaml::String(text) => text.clone(),
        other => serde_yaml_ng::to_string(other).unwrap_or_default().trim().to_string(),
    };
    match value {
        Yaml::String(text) if text.contains(reference) => Some(path),
        Yaml::Mapping(mapping) => mapping.iter().find_map(|(key, item)| {
            let key = key_text(key);
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains(reference) {
                return Some(here);
            }
            find_reference(item, reference, here)
        }),
        Yaml::Sequence(items) => {
            items.iter().enumerate().find_map(|(i, item)| find_reference(item, reference, format!("{path}[{i}]")))
        }
        Yaml::Tagged(tagged) => find_reference(&tagged.value, reference, path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_on_separators_and_numbered_without_empty_ones() {
        let text = "---\n# only a comment\n---\na: 1\n---\nb: 2\n...\n--- {c: 3}\n";
        let documents = split_documents(text);
        assert_eq!(documents, [(4, "a: 1\n".to_string()), (6, "b: 2\n".to_string()), (8, " {c: 3}\n".to_string())]);
        assert_eq!(split_documents("a: 1\n---x: 2\n"), [(1, "a: 1\n---x: 2\n".to_string())]);
    }

    #[test]
    fn a_yaml_error_names_the_field_above_it_and_lines_in_the_file() {
        let raw = "kind: Model\nmetadata:\n  name: b\nspec:\n  - flavors: x\n    runtime: {model: x\n";
        let error = serde_yaml_ng::from_str::<Value>(raw).unwrap_err();
        let line = error.location().unwrap().line();
        assert_eq!(field_at_line(raw, line).as_deref(), Some("spec.runtime"));
        assert_eq!(field_at_line(raw, 3).as_deref(), Some("metadata.name"));
        let message = yaml_error(&error, 10);
        assert!(message.starts_with("invalid YAML: ") && message.contains("line 16"), "{message}");
    }

    #[test]
    fn a_reference_is_located_by_its_field() {
        let raw = "kind: Policy\nspec:\n  maxTokens:\n    step: ${STEP}\n  resourceTypes: [model, $T]\n";
        let missing = |reference: &str| Missing {
            reference: reference.into(),
            name: String::new(),
            secret: false,
            line: 1,
            column: 1,
        };
        assert_eq!(field_of(raw, &missing("${STEP}")).as_deref(), Some("spec.maxTokens.step"));
        assert_eq!(field_of(raw, &missing("$T")).as_deref(), Some("spec.resourceTypes[1]"));
        assert_eq!(field_of("a: [\n", &missing("$T")), None);
    }
}
