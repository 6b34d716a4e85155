//! SES feedback: bounce and complaint notifications, delivered through SNS, suppress the
//! address for good.
//!
//! Both shapes SES publishes are read: identity notifications (`notificationType`) and
//! configuration-set events (`eventType`). Permanent bounces and complaints suppress
//! every recipient they name; transient and undetermined bounces, deliveries and sends
//! change nothing. A notification that cannot be read is logged and skipped — retrying
//! it could never succeed — while a store failure fails the invocation so that Lambda
//! retries it (suppressing is idempotent).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{Suppression, SuppressionCause, address_key};
use crate::store::{StoreError, SuppressionStore};

/// The SNS event Lambda receives.
#[derive(Debug, Deserialize)]
pub struct SnsEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<SnsRecord>,
}

#[derive(Debug, Deserialize)]
pub struct SnsRecord {
    #[serde(rename = "Sns")]
    pub sns: SnsMessage,
}

#[derive(Debug, Deserialize)]
pub struct SnsMessage {
    #[serde(rename = "Message")]
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// What one batch of notifications did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedbackOutcome {
    pub suppressed: usize,
    /// Notifications that suppress nothing (transient bounces, deliveries, sends).
    pub ignored: usize,
    /// Notifications that could not be read.
    pub unreadable: usize,
}

/// The suppressions one SES notification asks for (none for most kinds).
pub fn suppressions(message: &str, now: DateTime<Utc>) -> Result<Vec<Suppression>, String> {
    let n: Notification =
        serde_json::from_str(message).map_err(|e| format!("not an SES notification: {e}"))?;
    let kind = n
        .notification_type
        .or(n.event_type)
        .ok_or("neither notificationType nor eventType")?;
    let entries = |recipients: Vec<Recipient>, cause, detail: String, at: Option<DateTime<Utc>>| {
        recipients
            .into_iter()
            .map(|r| Suppression {
                address_key: address_key(&r.email_address),
                cause,
                detail: detail.clone(),
                at: at.unwrap_or(now),
            })
            .collect()
    };
    Ok(match kind.as_str() {
        "Bounce" => {
            let b = n.bounce.ok_or("a Bounce without `bounce`")?;
            if b.bounce_type == "Permanent" {
                let detail = format!("{} bounce", b.bounce_sub_type).trim().to_owned();
                entries(
                    b.bounced_recipients,
                    SuppressionCause::Bounce,
                    detail,
                    b.timestamp,
                )
            } else {
                Vec::new()
            }
        }
        "Complaint" => {
            let c = n.complaint.ok_or("a Complaint without `complaint`")?;
            let detail = c
                .complaint_feedback_type
                .unwrap_or_else(|| "complaint".into());
            entries(
                c.complained_recipients,
                SuppressionCause::Complaint,
                detail,
                c.timestamp,
            )
        }
        _ => Vec::new(),
    })
}

/// Records every suppression the batch asks for.
pub async fn handle<S: SuppressionStore + ?Sized>(
    store: &S,
    event: &SnsEvent,
    now: DateTime<Utc>,
) -> Result<FeedbackOutcome, StoreError> {
    let mut outcome = FeedbackOutcome::default();
    for record in &event.records {
        match suppressions(&record.sns.message, now) {
            Ok(found) if found.is_empty() => outcome.ignored += 1,
            Ok(found) => {
                for s in &found {
                    store.suppress(s).await?;
                    tracing::info!(cause = ?s.cause, address = %s.address_key, "address suppressed");
                }
                outcome.suppressed += found.len();
            }
            Err(reason) => {
                tracing::warn!(%reason, "skipping an unreadable SES notification");
                outcome.unreadable += 1;
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-20T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn permanent_bounces_and_complaints_suppress_transient_bounces_do_not() {
        let permanent = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent",
            "bounceSubType":"General","bouncedRecipients":[{"emailAddress":"Gone@Example.com"},
            {"emailAddress":"also@example.com"}],"timestamp":"2026-11-19T08:00:00.000Z"},"mail":{}}"#;
        let found = suppressions(permanent, now()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].address_key, address_key("gone@example.com"));
        assert_eq!(found[0].cause, SuppressionCause::Bounce);
        assert_eq!(found[0].detail, "General bounce");
        assert_eq!(
            found[0].at,
            "2026-11-19T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );

        let transient = permanent.replace("Permanent", "Transient");
        assert!(suppressions(&transient, now()).unwrap().is_empty());

        let complaint = r#"{"eventType":"Complaint","complaint":{"complainedRecipients":
            [{"emailAddress":"angry@example.com"}],"complaintFeedbackType":"abuse"}}"#;
        let found = suppressions(complaint, now()).unwrap();
        assert_eq!(found[0].cause, SuppressionCause::Complaint);
        assert_eq!(found[0].detail, "abuse");
        assert_eq!(found[0].at, now());

        let delivery = r#"{"notificationType":"Delivery","delivery":{}}"#;
        assert!(suppressions(delivery, now()).unwrap().is_empty());
    }

    #[test]
    fn unreadable_notifications_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"notificationType":"Bounce"}"#,
            r#"{"eventType":"Complaint","complaint":{}}"#,
        ] {
            assert!(suppressions(bad, now()).is_err(), "{bad}");
        }
    }
}
