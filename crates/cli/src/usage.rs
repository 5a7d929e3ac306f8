//! `modelgate usage`: what the workspace used and spent over a recent range, as a table of
//! totals or of groups (by model, by key, or by workspace across those the caller can act in),
//! from `GET /v0/usage`.

use crate::client::{Client, ConnectionArgs};
use crate::output::{cell, table};
use anyhow::{bail, Context as _};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct UsageArgs {
    /// Only this model endpoint.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this credential: an API key id (`ak_...`), or a service account's client id
    /// (`--key` is the credential the command itself uses, as everywhere).
    #[arg(long = "for-key")]
    pub for_key: Option<String>,
    /// How far back: a number and a unit s, m, h, d or w (`30m`, `24h`, `7d`).
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// One row per model, per key or per workspace instead of the totals.
    #[arg(long, value_enum)]
    pub by: Option<GroupBy>,
    /// Print the API's answer as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum GroupBy {
    Model,
    Key,
    Workspace,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Key => "key",
            GroupBy::Workspace => "workspace",
        }
    }
}

/// Seconds in `text` (`90s`, `30m`, `24h`, `7d`, `2w`).
pub fn seconds(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 =
        number.parse().with_context(|| format!("--since '{text}': give a number and a unit, e.g. 24h"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("--since '{text}': the unit is s, m, h, d or w"),
    };
    number.checked_mul(unit).filter(|s| *s > 0).with_context(|| format!("--since '{text}' is out of range"))
}

pub async fn run(args: UsageArgs) -> anyhow::Result<()> {
    let since = seconds(&args.since)?;
    let from = time::OffsetDateTime::now_utc() - time::Duration::seconds(since);
    let from = from.format(&time::format_description::well_known::Rfc3339)?;
    let mut query = vec![("from", from)];
    query.extend(args.model.clone().map(|m| ("model", m)));
    query.extend(args.for_key.clone().map(|k| ("key", k)));
    if let Some(by) = args.by {
        query.push(("groupBy", by.as_str().to_string()));
    }
    let query: Vec<String> =
        query.iter().map(|(name, value)| format!("{name}={}", crate::client::segment(value))).collect();
    let client = Client::new(&args.connection).await?;
    let report = client.get(&format!("/usage?{}", query.join("&"))).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print!("{}", render(&report, args.by));
    Ok(())
}

const SUMS: [(&str, &str); 7] = [
    ("REQUESTS", "/requests"),
    ("ERRORS", "/errors"),
    ("INPUT", "/inputTokens"),
    ("CACHED", "/cacheReadTokens"),
    ("OUTPUT", "/outputTokens"),
    ("TOTAL", "/totalTokens"),
    (COST, "/costUsd"),
];

/// The spend column: US dollars, `-` where no request was priced.
const COST: &str = "COST USD";

/// The report as a table: its totals, or one row per group.
pub fn render(report: &Value, by: Option<GroupBy>) -> String {
    let (mut columns, rows): (Vec<(&str, &str)>, Vec<&Value>) = match by {
        None => {
            let mut columns = SUMS.to_vec();
            columns.extend([("P50 MS", "/latencyMs/p50"), ("P99 MS", "/latencyMs/p99")]);
            (columns, report.get("totals").into_iter().collect())
        }
        Some(by) => {
            let first: Vec<(&str, &str)> = match by {
                GroupBy::Model => vec![("MODEL", "/model")],
                GroupBy::Key => vec![("KEY", "/key"), ("SUBJECT", "/subject")],
                GroupBy::Workspace => vec![("WORKSPACE", "/workspace")],
            };
            let groups = report.get("groups").and_then(Value::as_array).map(|g| g.iter().collect()).unwrap_or_default();
            (first, groups)
        }
    };
    if by.is_some() {
        columns.extend(SUMS);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(header, pointer)| match *header {
                    COST => dollars(row.pointer(pointer)),
                    _ => cell(row.pointer(pointer)),
                })
                .collect()
        })
        .collect();
    table(&columns.iter().map(|(header, _)| *header).collect::<Vec<_>>(), &cells)
}

/// A cost in US dollars to the ten-thousandth of a cent (a request often costs less than a
/// cent); `-` when unknown (`null`: no request of the row has a known price).
fn dollars(value: Option<&Value>) -> String {
    match value.and_then(Value::as_f64) {
        Some(usd) => format!("{usd:.6}"),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_a_number_and_a_unit() {
        assert_eq!(seconds("90s").unwrap(), 90);
        assert_eq!(seconds("24h").unwrap(), 86_400);
        assert_eq!(seconds("2w").unwrap(), 1_209_600);
        for bad in ["", "h", "24", "24y", "-1h", "0m", "99999999999999999w"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn costs_are_dollars_and_unknown_ones_a_dash() {
        let report = serde_json::json!({"groups": [
            {"model": "gpt", "requests": 2, "costUsd": 0.0001234},
            {"model": "own", "requests": 1, "costUsd": null},
        ]});
        let table = render(&report, Some(GroupBy::Model));
        let lines: Vec<Vec<&str>> = table.lines().map(|line| line.split_whitespace().collect()).collect();
        assert_eq!(lines[0].last(), Some(&"USD"), "{table}");
        assert_eq!(lines[1].last(), Some(&"0.000123"), "{table}");
        assert_eq!(lines[2].last(), Some(&"-"), "{table}");
    }
}
