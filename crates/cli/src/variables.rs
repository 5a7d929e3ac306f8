//! Variables in manifests, filled in a document's text before it is parsed (as `bl apply`
//! does, so `step: ${STEP}` reads as a number): `$VAR`, `${VAR}`, `${VAR:default}` (also
//! `${VAR:-default}`), `${secrets.NAME}` and `$secrets.NAME` (looked up as `NAME`); `$$` is a
//! literal `$`. Values come from `-s NAME=value`, then `-e` files (the last file first), then
//! the environment. Comments are left as they are.
//!
//! A value is written so that YAML reads it back as it is: inside quotes it is escaped; a value
//! that is a whole unquoted scalar and would not read back as itself (`a: b`, `#x`, `*x`, an
//! empty value) is written as a double-quoted string, and so is every secret (a key of digits
//! is still a string). Other values are written as they are, typed by YAML.

use anyhow::{anyhow, Context as _};
use std::collections::BTreeMap;
use std::path::Path;

/// Where variables are looked up.
pub struct Variables {
    /// `-s` over `-e` files.
    given: BTreeMap<String, String>,
    environment: fn(&str) -> Option<String>,
}

/// A reference with no value: left in the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// As written: `${secrets.OPENAI_API_KEY}`.
    pub reference: String,
    /// The variable looked up: `OPENAI_API_KEY`.
    pub name: String,
    pub secret: bool,
    /// 1-based, in the text given to [`substitute`].
    pub line: usize,
    pub column: usize,
}

/// A text with its references filled, and those that could not be.
#[derive(Debug)]
pub struct Substituted {
    pub text: String,
    pub missing: Vec<Missing>,
}

impl Variables {
    /// From `-s NAME=value` (`secrets.NAME=value` too), `-e` files and the environment.
    pub fn new(set: &[String], env_files: &[impl AsRef<Path>]) -> anyhow::Result<Variables> {
        let mut given = BTreeMap::new();
        for file in env_files {
            let file = file.as_ref();
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            given.extend(parse_env_file(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?);
        }
        for pair in set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("-s {pair}: expected NAME=value (the value of ${{secrets.NAME}} or $NAME)"))?;
            let name = name.trim();
            given.insert(name.strip_prefix("secrets.").unwrap_or(name).to_string(), value.to_string());
        }
        Ok(Variables { given, environment: |name| std::env::var(name).ok() })
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.given.get(name).cloned().or_else(|| (self.environment)(name))
    }
}

/// `NAME=value` lines; blank lines, `#` comments and a leading `export` are skipped, a value in
/// matching quotes is taken without them.
fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (name, value) = line.split_once('=').ok_or_else(|| format!("line {}: expected NAME=value", number + 1))?;
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)).filter(|_| value.len() >= 2));
        pairs.push((name.trim().to_string(), unquoted.unwrap_or(value).to_string()));
    }
    Ok(pairs)
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// A reference found at the start of `text` (which starts with `$`): its length, the variable,
/// whether it is a secret, and its default.
fn reference(text: &str) -> Option<(usize, &str, bool, Option<&str>)> {
    let is_name = |name: &str| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    fn split_secret(name: &str) -> (&str, bool) {
        match name.strip_prefix("secrets.") {
            Some(secret) => (secret, true),
            None => (name, false),
        }
    }
    let rest = &text[1..];
    if let Some(braced) = rest.strip_prefix('{') {
        let end = braced.find('}')?;
        let inside = &braced[..end];
        let (name, default) = match inside.split_once(':') {
            Some((name, default)) => (name, Some(default.strip_prefix('-').unwrap_or(default))),
            None => (inside, None),
        };
        let (name, secret) = split_secret(name);
        return is_name(name).then_some((end + 3, name, secret, default));
    }
    let name_length = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    let length = name_length(rest);
    if !is_name(&rest[..length]) {
        return None;
    }
    if &rest[..length] == "secrets" && rest[length..].starts_with('.') {
        let secret = &rest[length + 1..];
        let secret_length = name_length(secret);
        if is_name(&secret[..secret_length]) {
            return Some((1 + length + 1 + secret_length, &secret[..secret_length], true, None));
        }
    }
    Some((1 + length, &rest[..length], false, None))
}

/// Whether the text around a reference makes it a whole plain scalar (`key: $X`, `- $X`,
/// `[$X, ...]`), not part of one (`url: https://$HOST/v1`) or a key.
fn is_whole_scalar(before: &str, after: &str) -> bool {
    let trimmed = before.trim_end();
    let spaced = trimmed.len() < before.len();
    let starts = trimmed.is_empty()
        || (spaced && (trimmed.ends_with(':') || trimmed.ends_with('-')))
        || trimmed.ends_with('[')
        || trimmed.ends_with(',');
    let rest = after.trim_start();
    let ends = rest.is_empty()
        || (rest.starts_with('#') && rest.len() < after.len())
        || rest.starts_with(',')
        || rest.starts_with(']')
        || rest.starts_with('}');
    starts && ends
}

/// Whether YAML reads `value`, written as a plain scalar, back as the same text (or as the
/// number, boolean or null it spells).
fn reads_back(value: &str) -> bool {
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(value) {
        Ok(serde_yaml_ng::Value::String(read)) => read == value,
        Ok(serde_yaml_ng::Value::Number(_) | serde_yaml_ng::Value::Bool(_)) => true,
        Ok(serde_yaml_ng::Value::Null) => !value.is_empty(),
        _ => false,
    }
}

/// `value` as it is written at a reference's place.
fn written(value: &str, quote: Quote, whole: bool, secret: bool) -> String {
    match quote {
        Quote::Double => {
            let json = serde_json::Value::String(value.to_string()).to_string();
            json.strip_prefix('"').and_then(|j| j.strip_suffix('"')).unwrap_or(&json).to_string()
        }
        Quote::Single => value.replace('\'', "''"),
        Quote::None if whole && (secret || !reads_back(value)) => {
            serde_json::Value::String(value.to_string()).to_string()
        }
        Quote::None => value.to_string(),
    }
}

/// Fills the references in `text`, leaving comments and unknown references as they are.
pub fn substitute(text: &str, variables: &Variables) -> Substituted {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let mut quote = Quote::None;
        let mut previous: Option<char> = None;
        let mut index = 0;
        while index < line.len() {
            let rest = &line[index..];
            let Some(c) = rest.chars().next() else { break };
            let after_space = previous.is_none_or(|p| p.is_whitespace());
            match (quote, c) {
                (Quote::None, '#') if after_space => {
                    out.push_str(rest);
                    break;
                }
                (Quote::None, '"' | '\'') if previous.is_none_or(|p| p.is_whitespace() || "[{,".contains(p)) => {
                    quote = if c == '"' { Quote::Double } else { Quote::Single };
                }
                (Quote::Double, '\\') if rest.len() > 1 => {
                    let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
                    out.push_str(&rest[..1 + escaped]);
                    index += 1 + escaped;
                    previous = rest[1..].chars().next();
                    continue;
                }
                (Quote::Double, '"') => quote = Quote::None,
                (Quote::Single, '\'') if rest[1..].starts_with('\'') => {
                    out.push_str("''");
                    index += 2;
                    continue;
                }
                (Quote::Single, '\'') => quote = Quote::None,
                (_, '$') if rest[1..].starts_with('$') => {
                    out.push('$');
                    index += 2;
                    previous = Some('$');
                    continue;
                }
                (_, '$') => {
                    if let Some((length, name, secret, default)) = reference(rest) {
                        let written_as = &rest[..length];
                        match variables.lookup(name).or_else(|| default.map(str::to_string)) {
                            Some(value) => {
                                let whole = is_whole_scalar(&line[..index], &rest[length..]);
                                out.push_str(&written(&value, quote, whole, secret));
                            }
                            None => {
                                missing.push(Missing {
                                    reference: written_as.to_string(),
                                    name: name.to_string(),
                                    secret,
                                    line: number + 1,
                                    column: line[..index].chars().count() + 1,
                                });
                                out.push_str(written_as);
                            }
                        }
                        index += length;
                        previous = written_as.chars().last();
                        continue;
                    }
                }
                _ => {}
            }
            out.push(c);
            index += c.len_utf8();
            previous = Some(c);
        }
    }
    Substituted { text: out, missing }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(given: &[(&str, &str)]) -> Variables {
        Variables {
            given: given.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            environment: |name| (name == "FROM_ENV").then(|| "env-value".to_string()),
        }
    }

    fn filled(text: &str, given: &[(&str, &str)]) -> String {
        let result = substitute(text, &variables(given));
        assert!(result.missing.is_empty(), "{:?}", result.missing);
        result.text
    }

    #[test]
    fn every_reference_form_is_filled() {
        let given = [("MODEL", "gpt-4o"), ("KEY", "sk-1")];
        for (text, expected) in [
            ("model: $MODEL\n", "model: gpt-4o\n"),
            ("model: ${MODEL}\n", "model: gpt-4o\n"),
            ("model: ${MISSING:gpt-4o-mini}\n", "model: gpt-4o-mini\n"),
            ("model: ${MISSING:-gpt-4o-mini}\n", "model: gpt-4o-mini\n"),
            ("model: ${MODEL:other}\n", "model: gpt-4o\n"),
            ("apiKey: ${secrets.KEY}\n", "apiKey: \"sk-1\"\n"),
            ("apiKey: $secrets.KEY\n", "apiKey: \"sk-1\"\n"),
            ("url: https://$MODEL.example/v1\n", "url: https://gpt-4o.example/v1\n"),
            ("name: ${MODEL}-mini\n", "name: gpt-4o-mini\n"),
            ("x: $FROM_ENV\n", "x: env-value\n"),
            ("price: $$5 and $$MODEL\n", "price: $5 and $MODEL\n"),
            ("list: [$MODEL, b]\n", "list: [gpt-4o, b]\n"),
            ("cost: 5$ or $1\n", "cost: 5$ or $1\n"),
        ] {
            assert_eq!(filled(text, &given), expected, "{text}");
        }
    }

    #[test]
    fn a_whole_scalar_keeps_its_yaml_type_unless_it_would_read_as_something_else() {
        let given =
            [("STEP", "1"), ("ON", "true"), ("ODD", "a: b #c"), ("EMPTY", ""), ("STAR", "*x"), ("DIGITS", "123")];
        assert_eq!(filled("step: ${STEP}\nenabled: $ON\n", &given), "step: 1\nenabled: true\n");
        assert_eq!(filled("v: $ODD\n", &given), "v: \"a: b #c\"\n");
        assert_eq!(filled("v: ${EMPTY}\n", &given), "v: \"\"\n");
        assert_eq!(filled("- $STAR\n", &given), "- \"*x\"\n");
        // A secret is always a string.
        assert_eq!(filled("apiKey: ${secrets.DIGITS}\n", &given), "apiKey: \"123\"\n");
        // Inside quotes, a value is escaped for them.
        assert_eq!(filled("a: \"x ${ODD} \\\"$STEP\\\"\"\n", &given), "a: \"x a: b #c \\\"1\\\"\"\n");
        assert_eq!(filled("a: 'it''s $ODD'\n", &[("ODD", "o'k")]), "a: 'it''s o''k'\n");
        assert_eq!(filled("a: \"$Q\"\n", &[("Q", "say \"hi\"\n")]), "a: \"say \\\"hi\\\"\\n\"\n");
    }

    #[test]
    fn comments_are_not_filled() {
        assert_eq!(
            filled("# needs ${secrets.KEY}\nmodel: x # $NOPE\n", &[]),
            "# needs ${secrets.KEY}\nmodel: x # $NOPE\n"
        );
        assert_eq!(filled("tag: a#$M\n", &[("M", "1")]), "tag: a#1\n");
    }

    #[test]
    fn a_missing_reference_is_left_and_located() {
        let result = substitute("a: 1\nspec:\n  step: ${STEP}\n  key: $secrets.KEY\n", &variables(&[]));
        assert_eq!(result.text, "a: 1\nspec:\n  step: ${STEP}\n  key: $secrets.KEY\n");
        assert_eq!(
            result.missing,
            [
                Missing { reference: "${STEP}".into(), name: "STEP".into(), secret: false, line: 3, column: 9 },
                Missing { reference: "$secrets.KEY".into(), name: "KEY".into(), secret: true, line: 4, column: 8 },
            ]
        );
    }

    #[test]
    fn set_values_win_over_env_files_and_env_files_over_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, "# comment\nexport A=from-file\nB=\"quoted value\"\nFROM_ENV=file\n").unwrap();
        let mut variables = Variables::new(&["A=from-set".to_string(), "secrets.C=c=1".to_string()], &[&file]).unwrap();
        variables.environment = |_| Some("env".to_string());
        assert_eq!(variables.lookup("A").as_deref(), Some("from-set"));
        assert_eq!(variables.lookup("B").as_deref(), Some("quoted value"));
        assert_eq!(variables.lookup("C").as_deref(), Some("c=1"));
        assert_eq!(variables.lookup("FROM_ENV").as_deref(), Some("file"));
        assert_eq!(variables.lookup("OTHER").as_deref(), Some("env"));
        assert!(Variables::new(&["NOEQUALS".to_string()], &[] as &[&Path]).is_err());
        std::fs::write(&file, "not a pair\n").unwrap();
        let error = Variables::new(&[], &[&file]).err().unwrap().to_string();
        assert!(error.contains("line 1"), "{error}");
    }
}
