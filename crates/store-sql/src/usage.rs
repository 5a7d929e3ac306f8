//! Usage records: batch inserts in three statement shapes (a record whose id is stored already is
//! skipped), range queries and retention.

use crate::rows::{self, USAGE_COLUMNS};
use crate::statement::Statement;
use crate::SqlStore;
use async_trait::async_trait;
use modelgate_store::{Micros, StoreError, UsageQuery, UsageRecord, UsageStore};

/// Splits a usage batch into multi-row `INSERT`s of 100, 10 and 1 rows, so that whatever the
/// batch size only three statement shapes exist: each is prepared once per connection and
/// reused from the statement cache (one statement per batch size would be parsed and planned
/// anew for nearly every batch, and big ones cost more to parse than to run).
fn usage_statement_chunks(records: &[UsageRecord]) -> impl Iterator<Item = &[UsageRecord]> {
    let hundreds = records.len() / 100 * 100;
    let tens = hundreds + (records.len() - hundreds) / 10 * 10;
    records[..hundreds].chunks(100).chain(records[hundreds..tens].chunks(10)).chain(records[tens..].chunks(1))
}

/// The `INSERT` statements of 1, 10 and 100 usage records (the sizes of
/// [`usage_statement_chunks`]), written once per engine: formatting a statement's placeholders
/// per batch cost more than binding its values.
pub(crate) struct UsageInserts {
    one: String,
    ten: String,
    hundred: String,
    /// Values per row.
    arity: usize,
}

impl UsageInserts {
    /// The statements of the usage columns, with the `n`th (from 1) placeholder written by
    /// `placeholder`.
    pub(crate) fn new(placeholder: impl Fn(usize) -> String) -> UsageInserts {
        UsageInserts::of_columns(USAGE_COLUMNS, placeholder)
    }

    fn of_columns(columns: &str, placeholder: impl Fn(usize) -> String) -> UsageInserts {
        let arity = columns.split(',').count();
        let statement = |rows: usize| {
            let values: Vec<String> = (0..rows)
                .map(|row| {
                    let row: Vec<String> = (1..=arity).map(|column| placeholder(row * arity + column)).collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            // A record already stored (same id: a batch written again) is skipped.
            format!("INSERT INTO usage_records ({columns}) VALUES {} ON CONFLICT DO NOTHING", values.join(", "))
        };
        UsageInserts { one: statement(1), ten: statement(10), hundred: statement(100), arity }
    }

    /// The statement for a chunk of `rows` records (1, 10 or 100).
    fn for_rows(&self, rows: usize) -> &str {
        match rows {
            100 => &self.hundred,
            10 => &self.ten,
            _ => &self.one,
        }
    }

    /// The statement for `chunk`, its records' values bound in the order of the usage columns.
    fn bound<'a>(&'a self, chunk: &'a [UsageRecord]) -> Statement<'a> {
        let mut insert = Statement::with_capacity(self.for_rows(chunk.len()), chunk.len() * self.arity);
        for record in chunk {
            insert = insert
                .bind(record.at)
                .bind(record.workspace.as_str())
                .bind(record.model.as_str())
                .bind(record.subject.as_str())
                .bind(record.key_id.as_deref())
                .bind(record.provider.as_str())
                .bind(i32::from(record.status))
                .bind(record.input_tokens)
                .bind(record.output_tokens)
                .bind(record.total_tokens)
                .bind(record.latency_ms)
                .bind(record.ttfb_ms)
                .bind(record.id.as_ref().map(|id| id.as_bytes().as_slice()))
                .bind(record.cache_read_tokens)
                .bind(record.cache_write_tokens)
                .bind(record.cost_nano_usd);
        }
        insert
    }
}

#[async_trait]
impl UsageStore for SqlStore {
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let inserts = self.engine.usage_inserts();
        let mut tx = self.engine.begin().await?;
        for chunk in usage_statement_chunks(records) {
            tx.execute(inserts.bound(chunk)).await?;
        }
        tx.commit().await
    }

    async fn query_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
        let sql = format!("SELECT {USAGE_COLUMNS} FROM usage_records WHERE workspace = $1");
        let mut select = Statement::new(sql).bind(&query.workspace);
        if let Some(model) = &query.model {
            select.push(" AND model = ").push_bind(model);
        }
        select.push(" AND at >= ").push_bind(query.from).push(" AND at < ").push_bind(query.to);
        select.push(" ORDER BY at, id");
        self.engine.fetch_all(select, rows::usage).await
    }

    async fn delete_usage_before(&self, before: Micros) -> Result<u64, StoreError> {
        self.engine.execute(Statement::new("DELETE FROM usage_records WHERE at < $1").bind(before)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_batches_are_split_into_three_statement_shapes() {
        for (n, expected) in
            [(0, vec![]), (3, vec![1, 1, 1]), (10, vec![10]), (237, vec![100, 100, 10, 10, 10, 1, 1, 1, 1, 1, 1, 1])]
        {
            let records = vec![UsageRecord::default(); n];
            let sizes: Vec<usize> = usage_statement_chunks(&records).map(<[UsageRecord]>::len).collect();
            assert_eq!(sizes, expected, "{n}");
        }
    }

    #[test]
    fn usage_inserts_number_their_placeholders_across_rows() {
        let inserts = UsageInserts::of_columns("a, b", |n| format!("${n}"));
        assert_eq!(inserts.for_rows(1), "INSERT INTO usage_records (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING");
        assert!(inserts.for_rows(10).ends_with("($17, $18), ($19, $20) ON CONFLICT DO NOTHING"));
        assert_eq!(inserts.for_rows(100).matches('(').count(), 101);
        let sqlite = UsageInserts::of_columns("a, b", |_| "?".to_string());
        assert_eq!(sqlite.for_rows(1), "INSERT INTO usage_records (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING");
    }

    #[test]
    fn a_bound_chunk_has_a_value_for_every_placeholder() {
        let inserts = UsageInserts::new(|n| format!("${n}"));
        let records = vec![UsageRecord::default(); 10];
        let insert = inserts.bound(&records);
        assert_eq!(insert.params().len(), insert.sql().matches('$').count());
    }
}
