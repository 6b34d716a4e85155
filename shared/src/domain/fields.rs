//! The smallest pieces of validation at the edge: the error that names a field by its
//! JSON path, and the helpers every event's `validate` uses to read its fields.

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

/// A field that failed validation at the edge. `field` is the JSON path the client sent
/// (`items[2].quantity`), so the error can name it.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize)]
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

/// How far from the server's clock an event's time may be. A time in the future would
/// count as the customer's latest purchase until it arrives (a far-future one freezes
/// the tier window for good); an old one rewrites history the shop has already acted
/// on. Importing older history means raising `max_age` for the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    /// Clock skew allowed ahead of the server.
    pub max_ahead: Duration,
    /// How far back an event may have happened.
    pub max_age: Duration,
}

impl Default for EventWindow {
    /// Five minutes ahead, three years back.
    fn default() -> Self {
        Self {
            max_ahead: Duration::minutes(5),
            max_age: Duration::days(3 * 365),
        }
    }
}

impl EventWindow {
    /// `at`, named `field`, is inside the window around `now`.
    pub fn check(
        &self,
        field: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), FieldError> {
        // A bound past the end of the calendar bounds nothing.
        if now
            .checked_add_signed(self.max_ahead)
            .is_some_and(|latest| at > latest)
        {
            return Err(FieldError::new(
                field,
                format!(
                    "is more than {} seconds ahead of the server's clock",
                    self.max_ahead.num_seconds()
                ),
            ));
        }
        if now
            .checked_sub_signed(self.max_age)
            .is_some_and(|earliest| at < earliest)
        {
            return Err(FieldError::new(
                field,
                format!("is more than {} days in the past", self.max_age.num_days()),
            ));
        }
        Ok(())
    }
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

    #[test]
    fn event_times_stay_near_the_clock() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        let window = EventWindow::default();
        let check = |at: DateTime<Utc>| window.check("occurred_at", at, now);
        assert!(check(now).is_ok());
        assert!(check(now + Duration::minutes(5)).is_ok(), "clock skew");
        assert!(check(now - Duration::days(3 * 365)).is_ok());
        let ahead = check(now + Duration::minutes(5) + Duration::seconds(1)).unwrap_err();
        assert_eq!(ahead.field, "occurred_at");
        assert!(ahead.reason.contains("300 seconds ahead"), "{ahead}");
        let old = check(now - Duration::days(3 * 365 + 1)).unwrap_err();
        assert!(old.reason.contains("1095 days"), "{old}");
        let imports = EventWindow {
            max_age: Duration::days(20 * 365),
            ..window
        };
        assert!(
            imports
                .check("occurred_at", now - Duration::days(10 * 365), now)
                .is_ok()
        );
    }
}
