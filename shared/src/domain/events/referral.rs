//! Referrals: shareable codes, attribution of a referee to a referrer with fraud checks,
//! conversion on the referee's first qualifying order, rewards held for a return window,
//! and ambassadors.
//!
//! The referee's profile carries the attribution; the referrer's carries the recent
//! attributions (for the 30-day cap) and the count of conversions (for ambassadors).
//! Held rewards sit in `pending_rewards` on each profile and move to the balance, with a
//! ledger entry, the next time that profile is written after their release time.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::codes::{REFERRAL_CODE_LEN, is_readable};
use crate::domain::fields::{parse_time, required};
use crate::domain::loyalty::{REFERRAL_CAP_WINDOW_DAYS, SELF_REFERRAL_BY_EMAIL};
use crate::domain::{
    Attribution, AttributionStatus, CustomerId, Email, EventId, FieldError, Profile, ReferralRules,
    ReferralStatus, Tier,
};

/// Normalises a referral code as typed by a person: case and surrounding blanks do not
/// matter.
pub fn normalise_code(field: &str, raw: &str) -> Result<String, FieldError> {
    let code = raw.trim().to_ascii_uppercase();
    let valid = code.len() == REFERRAL_CODE_LEN && is_readable(&code);
    if valid {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            format!("is not a referral code ({REFERRAL_CODE_LEN} letters and digits)"),
        ))
    }
}

/// The JSON body of `POST /v1/events/referral` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReferralInput {
    pub event_id: Option<String>,
    pub referral_code: Option<String>,
    pub referee_customer_id: Option<String>,
    pub referee_email: Option<String>,
    pub occurred_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferralEvent {
    pub event_id: EventId,
    pub code: String,
    pub referee: CustomerId,
    pub referee_email: Option<Email>,
    pub occurred_at: DateTime<Utc>,
}

impl ReferralInput {
    pub fn validate(self) -> Result<ReferralEvent, FieldError> {
        Ok(ReferralEvent {
            event_id: EventId::parse("event_id", &required("event_id", self.event_id)?)?,
            code: normalise_code(
                "referral_code",
                &required("referral_code", self.referral_code)?,
            )?,
            referee: CustomerId::parse(
                "referee_customer_id",
                &required("referee_customer_id", self.referee_customer_id)?,
            )?,
            referee_email: self
                .referee_email
                .map(|e| Email::parse("referee_email", &e))
                .transpose()?,
            occurred_at: parse_time("occurred_at", &required("occurred_at", self.occurred_at)?)?,
        })
    }
}

/// A stored referral as the referrer sees it, accepted or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRecord {
    pub event_id: EventId,
    pub referrer: CustomerId,
    pub referee: CustomerId,
    pub code: String,
    pub status: ReferralStatus,
    /// Why a referral was rejected, in words a person can act on.
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralReceipt {
    pub event_id: EventId,
    pub duplicate: bool,
    pub referral_code: String,
    pub referee_customer_id: CustomerId,
    pub status: ReferralStatus,
    pub reason: Option<String>,
}

impl ReferralReceipt {
    /// The receipt as answered to a delivery: `replayed` when it is the stored answer of
    /// an earlier delivery of the same event.
    pub fn replayed(mut self, replayed: bool) -> Self {
        self.duplicate = replayed;
        self
    }
}

/// What a referral event changes. A rejection writes only the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralOutcome {
    pub record: ReferralRecord,
    /// The new referee and referrer profiles, when the referral was accepted.
    pub profiles: Option<(Profile, Profile)>,
    pub receipt: ReferralReceipt,
}

impl ReferralEvent {
    fn rejection(&self, referrer: &Profile, referee: Option<&Profile>) -> Option<String> {
        if referrer.customer_id == self.referee {
            return Some("self-referral: the referee is the referrer".into());
        }
        let referee_emails = [
            self.referee_email.as_ref(),
            referee.and_then(|p| p.email.as_ref()),
        ];
        if let Some(referrer_email) = &referrer.email
            && referee_emails
                .into_iter()
                .flatten()
                .any(|e| e.same_mailbox(referrer_email))
        {
            // Checked again at conversion, when a referee attributed without an address
            // gives one with their first order.
            return Some(SELF_REFERRAL_BY_EMAIL.into());
        }
        if let Some(first) = referee.and_then(|p| p.first_purchase_at)
            && first <= self.occurred_at
        {
            return Some("the referee had already purchased before the referral".into());
        }
        if let Some(existing) = referee.and_then(|p| p.referred_by.as_ref()) {
            return Some(if existing.referrer == referrer.customer_id {
                "the referee is already attributed to this referrer".into()
            } else {
                "the referee is already attributed to another referrer".into()
            });
        }
        None
    }

    /// Decides the referral. `referrer` owns the code; `referee` is `None` for a
    /// customer not seen before.
    pub fn apply(
        &self,
        referrer: Profile,
        referee: Option<Profile>,
        base_tier: &Tier,
        rules: &ReferralRules,
        now: DateTime<Utc>,
    ) -> ReferralOutcome {
        let mut referrer = referrer;
        referrer
            .referral_log
            .retain(|t| *t > now - Duration::days(REFERRAL_CAP_WINDOW_DAYS));
        let reason = self.rejection(&referrer, referee.as_ref()).or_else(|| {
            (referrer.referral_log.len() >= rules.cap_per_30_days).then(|| {
                format!(
                    "the referrer reached the cap of {} referrals in {REFERRAL_CAP_WINDOW_DAYS} days",
                    rules.cap_per_30_days
                )
            })
        });
        let status = if reason.is_some() {
            ReferralStatus::Rejected
        } else {
            ReferralStatus::Pending
        };
        let record = ReferralRecord {
            event_id: self.event_id.clone(),
            referrer: referrer.customer_id.clone(),
            referee: self.referee.clone(),
            code: self.code.clone(),
            status,
            reason: reason.clone(),
            occurred_at: self.occurred_at,
            updated_at: now,
        };
        let profiles = reason.is_none().then(|| {
            let mut referee = referee
                .unwrap_or_else(|| Profile::new(self.referee.clone(), base_tier.clone(), now));
            if let Some(email) = &self.referee_email
                && referee.email.is_none()
                && !referee.is_erased()
            {
                referee.email = Some(email.clone());
            }
            referee.referred_by = Some(Attribution {
                referrer: referrer.customer_id.clone(),
                code: self.code.clone(),
                event_id: self.event_id.clone(),
                status: AttributionStatus::Pending,
                attributed_at: now,
                order_id: None,
                reason: None,
            });
            referee.updated_at = now;
            referrer.referral_log.push(now);
            referrer.updated_at = now;
            (referee, referrer)
        });
        let receipt = ReferralReceipt {
            event_id: self.event_id.clone(),
            duplicate: false,
            referral_code: self.code.clone(),
            referee_customer_id: self.referee.clone(),
            status,
            reason,
        };
        ReferralOutcome {
            record,
            profiles,
            receipt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_as_people_type_them() {
        assert_eq!(normalise_code("c", " ab3k9mnp ").unwrap(), "AB3K9MNP");
        assert!(normalise_code("c", "AB3K9MN").is_err());
        assert!(
            normalise_code("c", "AB3K9MN0").is_err(),
            "0 is not in the alphabet"
        );
        assert_eq!(
            normalise_code("referral_code", "AB-K9MNP")
                .unwrap_err()
                .field,
            "referral_code"
        );
    }
}
