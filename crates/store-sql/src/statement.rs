//! A statement and the values bound to it, engine-neutral: SQL written once with `$n`
//! placeholders (PostgreSQL's, which SQLite reads too), bound by [`crate::engine`] for whichever
//! engine runs it.

use std::borrow::Cow;
use std::fmt::Write;

/// A value bound to a placeholder. Every nullable form is an `Option`: a `Some` binds exactly as
/// the plain value does.
#[derive(Debug)]
pub(crate) enum Param<'a> {
    Text(Option<Cow<'a, str>>),
    Integer(Option<i64>),
    /// A 32-bit integer, for columns PostgreSQL declares `INTEGER` (the usage status).
    Integer32(i32),
    Boolean(bool),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Param<'a> {
        Param::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(text: &'a String) -> Param<'a> {
        Param::Text(Some(Cow::Borrowed(text)))
    }
}

impl From<String> for Param<'_> {
    fn from(text: String) -> Self {
        Param::Text(Some(Cow::Owned(text)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(text: Option<&'a str>) -> Param<'a> {
        Param::Text(text.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(text: &'a Option<String>) -> Param<'a> {
        Param::Text(text.as_deref().map(Cow::Borrowed))
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Integer(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Param::Integer(value)
    }
}

impl From<i32> for Param<'_> {
    fn from(value: i32) -> Self {
        Param::Integer32(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Boolean(value)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(bytes: &'a [u8]) -> Param<'a> {
        Param::Bytes(Some(bytes))
    }
}

impl<'a> From<Option<&'a [u8]>> for Param<'a> {
    fn from(bytes: Option<&'a [u8]>) -> Param<'a> {
        Param::Bytes(bytes)
    }
}

/// SQL text and its values, in placeholder order.
#[derive(Debug)]
pub(crate) struct Statement<'a> {
    sql: Cow<'a, str>,
    params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    /// A statement whose placeholders are bound, in order, by [`Statement::bind`].
    pub(crate) fn new(sql: impl Into<Cow<'a, str>>) -> Statement<'a> {
        Statement { sql: sql.into(), params: Vec::new() }
    }

    /// A statement with room for `params` values (a large multi-row `INSERT`).
    pub(crate) fn with_capacity(sql: &'a str, params: usize) -> Statement<'a> {
        Statement { sql: Cow::Borrowed(sql), params: Vec::with_capacity(params) }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Param<'a>>) -> Statement<'a> {
        self.params.push(value.into());
        self
    }

    /// Appends SQL text (for statements assembled from optional parts).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Statement<'a> {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends the next placeholder (`$n`) and binds `value` to it.
    pub(crate) fn push_bind(&mut self, value: impl Into<Param<'a>>) -> &mut Statement<'a> {
        self.params.push(value.into());
        let _ = write!(self.sql.to_mut(), "${}", self.params.len());
        self
    }

    /// The SQL text.
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound values, in placeholder order.
    pub(crate) fn params(&self) -> &[Param<'a>] {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_placeholders_are_numbered_after_the_bound_ones() {
        let mut statement = Statement::new("SELECT 1 WHERE a = $1").bind("x");
        statement.push(" AND b IN (").push_bind(2_i64).push(", ").push_bind(3_i64).push(")");
        assert_eq!(statement.sql(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(statement.params().len(), 3);
    }
}
