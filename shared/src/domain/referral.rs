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

use super::purchase::{parse_time, required};
use super::{CustomerId, Email, EventId, FieldError, LedgerEntry, OrderId, Profile};

/// Length of a referral code: 8 characters of a 29-letter alphabet, about 5·10^11 codes.
pub const CODE_LEN: usize = 8;

/// Days over which the per-referrer cap counts attributions.
pub const CAP_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRules {
    /// Smallest referee order, in minor units, that converts a referral.
    pub min_order_minor: i64,
    pub referrer_points: i64,
    pub referee_points: i64,
    /// Days rewards are held before they can be spent; 0 grants them at once.
    pub hold_days: i64,
    /// Most attributions one referrer may collect in 30 days.
    pub cap_per_30_days: usize,
    /// Converted referrals that make a referrer an ambassador.
    pub ambassador_after: u32,
}

impl Default for ReferralRules {
    fn default() -> Self {
        Self {
            min_order_minor: 2_000,
            referrer_points: 500,
            referee_points: 250,
            hold_days: 30,
            cap_per_30_days: 10,
            ambassador_after: 5,
        }
    }
}

/// Normalises a referral code as typed by a person: case and surrounding blanks do not
/// matter.
pub fn normalise_code(field: &str, raw: &str) -> Result<String, FieldError> {
    let code = raw.trim().to_ascii_uppercase();
    let valid = code.len() == CODE_LEN
        && code
            .bytes()
            .all(|b| super::redemption::CODE_ALPHABET.contains(&b));
    if valid {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            format!("is not a referral code ({CODE_LEN} letters and digits)"),
        ))
    }
}

/// An address reduced to the mailbox it delivers to, to catch self-referrals made with
/// `+tags` or, at Gmail, dots.
pub fn normalised_email(email: &Email) -> String {
    let lower = email.as_str().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let local = local.split('+').next().unwrap_or(local);
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_owned(), domain),
    };
    format!("{local}@{domain}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionStatus {
    Pending,
    Converted,
    Cancelled,
}

/// On the referee's profile: who referred them and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub referrer: CustomerId,
    pub code: String,
    pub event_id: EventId,
    pub status: AttributionStatus,
    pub attributed_at: DateTime<Utc>,
    /// The order that converted the referral.
    pub order_id: Option<OrderId>,
}

/// Points granted but held until `release_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReward {
    pub points: i64,
    pub release_at: DateTime<Utc>,
    /// The order the reward depends on: a refund of it inside the window cancels it.
    pub order_id: OrderId,
    /// The event that granted it.
    pub source: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Pending,
    Rejected,
    Converted,
    Cancelled,
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
        let referrer_email = referrer.email.as_ref().map(normalised_email);
        let referee_emails = [
            self.referee_email.as_ref(),
            referee.and_then(|p| p.email.as_ref()),
        ];
        if referrer_email.is_some()
            && referee_emails
                .into_iter()
                .flatten()
                .any(|e| Some(normalised_email(e)) == referrer_email)
        {
            return Some("self-referral: the referee's email address is the referrer's".into());
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
        base_tier: &super::Tier,
        rules: &ReferralRules,
        now: DateTime<Utc>,
    ) -> ReferralOutcome {
        let mut referrer = referrer;
        referrer
            .referral_log
            .retain(|t| *t > now - Duration::days(CAP_WINDOW_DAYS));
        let reason = self.rejection(&referrer, referee.as_ref()).or_else(|| {
            (referrer.referral_log.len() >= rules.cap_per_30_days).then(|| {
                format!(
                    "the referrer reached the cap of {} referrals in {CAP_WINDOW_DAYS} days",
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

impl Profile {
    /// Grants `points` for `order` now (with a ledger entry) or, with a hold, as pending.
    pub(crate) fn grant_referral_reward(
        &mut self,
        points: i64,
        order: &OrderId,
        source: &EventId,
        hold_days: i64,
        now: DateTime<Utc>,
    ) -> Option<LedgerEntry> {
        if points == 0 {
            return None;
        }
        if hold_days == 0 {
            return Some(self.post(
                points,
                super::LedgerReason::Referral,
                order.to_string(),
                source.to_string(),
                now,
            ));
        }
        self.pending_rewards.push(PendingReward {
            points,
            release_at: now + Duration::days(hold_days),
            order_id: order.clone(),
            source: source.to_string(),
        });
        self.points_pending += points;
        None
    }

    /// Moves every held reward whose time has come to the balance.
    pub fn release_due(&mut self, now: DateTime<Utc>) -> Vec<LedgerEntry> {
        let (due, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_rewards)
            .into_iter()
            .partition(|r| r.release_at <= now);
        self.pending_rewards = held;
        due.into_iter()
            .map(|r| {
                self.points_pending -= r.points;
                self.post(
                    r.points,
                    super::LedgerReason::Referral,
                    r.order_id.to_string(),
                    r.source,
                    now,
                )
            })
            .collect()
    }

    /// Drops held rewards that depend on `order`; true if any were held.
    pub(crate) fn cancel_pending_for(&mut self, order: &OrderId) -> bool {
        let before = self.pending_rewards.len();
        self.pending_rewards.retain(|r| &r.order_id != order);
        self.points_pending = self.pending_rewards.iter().map(|r| r.points).sum();
        self.pending_rewards.len() != before
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

    #[test]
    fn emails_normalise_tags_case_and_gmail_dots() {
        let n = |s: &str| normalised_email(&Email::parse("e", s).unwrap());
        assert_eq!(n("Asha.Rao+promo@GMail.com"), "asharao@gmail.com");
        assert_eq!(n("asharao@googlemail.com"), "asharao@gmail.com");
        assert_eq!(n("a.b+x@example.com"), "a.b@example.com");
        assert_ne!(n("a.b@example.com"), n("ab@example.com"));
    }
}
