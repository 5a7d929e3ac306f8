//! Timestamps: stored as microseconds since the Unix epoch, shown as RFC 3339 in UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Microseconds since the Unix epoch, the unit every stored timestamp uses.
pub type Micros = i64;

/// The current time in microseconds.
pub fn now_micros() -> Micros {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as Micros
}

/// Formats stored microseconds as an RFC 3339 string (`2026-01-15T10:30:00.123456Z`).
pub fn to_rfc3339(micros: Micros) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_fraction() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(to_rfc3339(1_500_000), "1970-01-01T00:00:01.5Z");
    }
}
