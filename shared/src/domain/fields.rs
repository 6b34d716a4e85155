//! The smallest pieces of validation at the edge: the error that names a field by its
//! JSON path, and the helpers every event's `validate` uses to read its fields.

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A field that failed validation at the edge. `field` is the JSON path the client sent
/// (`items[2].quantity`), so the error can name it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The value of a field the request must carry.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::new(field, "is required"))
}

/// An RFC 3339 timestamp with its offset, as UTC.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 timestamp with offset"))
}

/// An optional field parsed with `parse` when present.
pub fn optional<T>(
    field: &str,
    raw: Option<&str>,
    parse: fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    raw.map(|r| parse(field, r)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        assert_eq!(required::<u8>("rating", None).unwrap_err().field, "rating");
        assert_eq!(
            parse_time("occurred_at", "yesterday").unwrap_err().field,
            "occurred_at"
        );
        let t = parse_time("t", "2026-11-30T12:00:00+05:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T06:30:00+00:00");
    }
}
