//! Checks that keep the repository honest about itself: ARCHITECTURE.md's code map names what
//! exists, the declared minimum Rust version is what the locked dependencies need, and every
//! control-plane route requires its scope before anything else. Workspace-wide checks live here,
//! in the server's test binary, because it already links everything the scope check needs.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- ARCHITECTURE.md's code map ----

/// One row of the code map table: the crate, its path, and the backticked names of its job.
struct CodeMapRow {
    krate: String,
    path: String,
    named: Vec<String>,
}

/// The text between backticks, in order.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The rows of the table under `## Code map` (header and separator rows left out).
fn code_map_rows(document: &str) -> Vec<CodeMapRow> {
    let section =
        document.split("\n## Code map").nth(1).unwrap_or_else(|| panic!("ARCHITECTURE.md has no '## Code map'"));
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut rows = Vec::new();
    for line in section.lines().filter(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [krate, path, job, ..] = cells[..] else { continue };
        let (Some(krate), Some(path)) = (backticked(krate).pop(), backticked(path).pop()) else {
            continue; // the header or the separator
        };
        rows.push(CodeMapRow { krate, path, named: backticked(job) });
    }
    rows
}

/// `snapshot` or `sqlite::SqliteStore`: the module named (`snapshot`, `sqlite`), if the name is a
/// lower-case Rust path (type names, functions, URLs and variables are not modules).
fn module_named(name: &str) -> Option<&str> {
    let first = name.split("::").next()?;
    let is_module = first.starts_with(|c: char| c.is_ascii_lowercase())
        && first.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    is_module.then_some(first)
}

/// A module of the crate at `src`: `src/<name>.rs`, `src/<name>/`, or one level down (the
/// translation crate's `request`, `response`, `error` live in each provider's folder).
fn module_exists(src: &Path, name: &str) -> bool {
    let direct = src.join(format!("{name}.rs")).is_file() || src.join(name).is_dir();
    direct || subdirectories(src).iter().any(|dir| dir.join(format!("{name}.rs")).is_file())
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).map(|entries| entries.flatten().map(|e| e.path()).collect());
    entries.unwrap_or_else(|_: std::io::Error| Vec::new()).into_iter().filter(|p| p.is_dir()).collect()
}

/// A backticked name that reads as a file or folder of the repository (`server/src/serve.rs`,
/// `tests/sdk/`, `relay.rs`), not a URL path, header, template or module path.
fn is_repository_path(name: &str) -> bool {
    const FILE_TYPES: &[&str] = &[".rs", ".md", ".sh", ".yml", ".yaml", ".toml", ".conf", ".py"];
    let plain = !name.is_empty() && !name.contains([' ', '{', ':', '*', '=', '?', '(']) && !name.starts_with('/');
    plain && (name.contains('/') || FILE_TYPES.iter().any(|t| name.ends_with(t)))
}

/// Whether `name` exists: a path with a folder in it is tried from the root, from `crates/` and
/// from each crate (`migrations/sqlite`); a bare file or folder name anywhere in the repository.
fn repository_path_exists(root: &Path, name: &str) -> bool {
    let name = name.trim_end_matches('/');
    if name.split('/').any(|part| part == "..") {
        false // outside the repository
    } else if name.contains('/') {
        let mut bases = vec![root.to_path_buf(), root.join("crates")];
        bases.extend(subdirectories(&root.join("crates")));
        bases.iter().any(|base| base.join(name).exists())
    } else {
        found_anywhere(root, name)
    }
}

fn found_anywhere(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let file_name = entry.file_name();
        let skipped = matches!(file_name.to_str(), Some("target" | ".git" | "node_modules"));
        !skipped && (file_name == name || (entry.path().is_dir() && found_anywhere(&entry.path(), name)))
    })
}

/// ARCHITECTURE.md's code map is true: every crate it lists exists at its path and every
/// workspace crate is listed; every module a row names exists in that crate; every module of the
/// request path (`crates/inference/src/*.rs`) is named in the inference row; and every file or
/// folder the document names anywhere exists.
#[test]
fn the_architecture_code_map_names_what_exists() {
    let root = workspace_root();
    let document = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let rows = code_map_rows(&document);
    let mut missing = Vec::new();

    for row in &rows {
        if !root.join(&row.path).exists() {
            missing.push(format!("crate {}: its path {} does not exist", row.krate, row.path));
            continue;
        }
        let src = root.join(&row.path).join("src");
        for module in row.named.iter().filter_map(|name| module_named(name)) {
            if !module_exists(&src, module) {
                missing.push(format!(
                    "crate {}: module `{module}` is not {}/src/{module}.rs or src/{module}/",
                    row.krate, row.path
                ));
            }
        }
    }

    let listed: BTreeSet<&str> = rows.iter().map(|row| row.path.as_str()).collect();
    for krate in subdirectories(&root.join("crates")).iter().filter(|dir| dir.join("Cargo.toml").is_file()) {
        let path = format!("crates/{}", krate.file_name().unwrap().to_string_lossy());
        if !listed.contains(path.as_str()) {
            missing.push(format!("the crate at {path} has no row in the code map"));
        }
    }

    match rows.iter().find(|row| row.path == "crates/inference") {
        None => missing.push("the code map has no row for crates/inference".into()),
        Some(inference) => {
            let named: BTreeSet<&str> =
                inference.named.iter().map(|name| name.trim_end_matches(".rs")).filter_map(module_named).collect();
            for file in std::fs::read_dir(root.join("crates/inference/src")).unwrap().flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let Some(module) = file_name.strip_suffix(".rs") else { continue };
                if module != "lib" && !named.contains(module) {
                    missing.push(format!(
                        "the inference row does not name the request path's module `{module}` ({file_name})"
                    ));
                }
            }
        }
    }

    let prose = document.split("```").step_by(2).collect::<Vec<_>>().join("\n");
    for name in backticked(&prose).into_iter().filter(|name| is_repository_path(name)) {
        if !repository_path_exists(&root, &name) {
            missing.push(format!("ARCHITECTURE.md names `{name}`, which is not in the repository"));
        }
    }

    assert!(missing.is_empty(), "ARCHITECTURE.md is out of date:\n  {}", missing.join("\n  "));
}

// ---- the minimum Rust version ----

/// `1.88` or `1.88.0` as (major, minor, patch).
fn rust_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text.trim().split('.').map(|part| part.parse::<u32>().unwrap_or_else(|e| panic!("{text}: {e}")));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// `rust-version` of `[workspace.package]` in the root manifest.
fn declared_rust_version(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let section = manifest.split("\n[workspace.package]").nth(1).expect("a [workspace.package] section");
    let section = section.split("\n[").next().unwrap_or_default();
    let line = section.lines().find(|line| line.trim_start().starts_with("rust-version"));
    let value = line.and_then(|line| line.split('"').nth(1));
    value.expect("[workspace.package] declares rust-version").to_string()
}

/// The minimum Rust version is declared once, in `[workspace.package]`, every workspace crate
/// inherits it, and no locked dependency needs a newer Rust. Reads `cargo metadata` offline for
/// this machine's platform (the packages a build here has already downloaded).
#[test]
fn every_crate_builds_with_the_declared_rust_version() {
    let root = workspace_root();
    let declared = declared_rust_version(&root);
    let host = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-vV").output().unwrap();
    let host = String::from_utf8(host.stdout).unwrap();
    let host = host.lines().find_map(|line| line.strip_prefix("host: ")).expect("rustc -vV names its host");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", host])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let members: BTreeSet<&str> =
        metadata["workspace_members"].as_array().unwrap().iter().map(|id| id.as_str().unwrap()).collect();

    let mut wrong = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = format!("{} {}", package["name"].as_str().unwrap(), package["version"].as_str().unwrap());
        let needs = package["rust_version"].as_str();
        if members.contains(package["id"].as_str().unwrap()) {
            let manifest = std::fs::read_to_string(package["manifest_path"].as_str().unwrap()).unwrap();
            if !manifest.lines().any(|line| line.replace(' ', "") == "rust-version.workspace=true") {
                wrong.push(format!(
                    "{name} does not inherit the workspace's rust-version (rust-version.workspace = true)"
                ));
            }
        } else if let Some(needs) = needs.filter(|needs| rust_version(needs) > rust_version(&declared)) {
            wrong.push(format!("{name} needs Rust {needs}"));
        }
    }
    assert!(wrong.is_empty(), "the workspace declares rust-version {declared}, but:\n  {}", wrong.join("\n  "));
}

// ---- scopes before anything else ----

/// Operations that take no scope, each with its reason; the rest of the document must declare one.
const WITHOUT_SCOPE: &[(&str, &str, &str)] = &[
    ("get", "/health", "liveness probe, served without a credential"),
    ("get", "/ready", "readiness probe, served without a credential"),
    ("post", "/oauth/token", "the client credentials are the body itself: there is no caller before it"),
];

/// Every operation of the served OpenAPI document, called with a malformed JSON body and made-up
/// path parameters: by a key lacking the scope the document declares for it, it answers 403
/// (never the 400, 404 or 415 that would tell the caller something about the body or the
/// resource); by a key holding exactly that scope, it answers something else, so the check is on
/// the documented scope. Behavioural rather than a reading of the handlers' source, so it holds
/// whatever the handlers look like and covers every route the router really serves.
#[tokio::test]
async fn every_control_plane_route_requires_its_scope_before_reading_anything() {
    let server = TestServer::start().await;
    let document: Value = server.client.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let (_, no_scope) = service_account_key(&server, "default", Some(&["models:invoke"])).await;
    let mut scoped_keys = HashMap::new();
    let mut exempt_seen = BTreeSet::new();
    let mut wrong = Vec::new();

    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            if let Some((_, _, reason)) = WITHOUT_SCOPE.iter().find(|(m, p, _)| m == method && p == path) {
                exempt_seen.insert((method.clone(), path.clone()));
                assert!(operation.get("security").is_none(), "{method} {path} is listed as taking no scope ({reason})");
                continue;
            }
            let scopes = &operation["security"][0]["ApiKeyAuth"];
            let Some(scope) = scopes.get(0).and_then(Value::as_str) else {
                wrong.push(format!("{method} {path} declares no scope in its `security`"));
                continue;
            };
            let concrete = path.split('/').map(|part| if part.starts_with('{') { "nothing-here" } else { part });
            let url = server.url(&concrete.collect::<Vec<_>>().join("/"));
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let call = async |key: &str| {
                let request = server.client.request(method.clone(), &url).bearer_auth(key);
                let response =
                    request.header("content-type", "application/json").body("{\"metadata\": ").send().await.unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            };

            let (status, body) = call(&no_scope).await;
            if status != StatusCode::FORBIDDEN || body["code"] != json!(403) {
                wrong.push(format!("{method} {path} without '{scope}': {status} {body}, not 403"));
            }
            // Only a user's admin key has keys of its own: a service account is refused whatever it holds.
            if scope != "admin" {
                if !scoped_keys.contains_key(scope) {
                    let (_, key) = service_account_key(&server, "default", Some(&[scope])).await;
                    scoped_keys.insert(scope.to_string(), key);
                }
                let (status, body) = call(&scoped_keys[scope]).await;
                if status == StatusCode::FORBIDDEN {
                    wrong.push(format!(
                        "{method} {path} with '{scope}' alone: refused ({body}), so it needs another scope"
                    ));
                }
            }
        }
    }
    for (method, path, _) in WITHOUT_SCOPE {
        assert!(exempt_seen.contains(&(method.to_string(), path.to_string())), "{method} {path} is no longer served");
    }
    assert!(wrong.is_empty(), "scope checks:\n  {}", wrong.join("\n  "));
}
