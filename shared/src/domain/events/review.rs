//! Product reviews: verification against the customer's orders, one reward per
//! customer and product, the service-recovery flag for low ratings, and the
//! referral-ask mark for happy customers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fields::{parse_time, required};
use crate::domain::{
    CustomerId, EventId, FieldError, LedgerEntry, LedgerReason, Order, OrderId, Profile,
    ReviewRules, ServiceRecovery, Sku, Tier,
};

/// Longest title and body accepted, in characters (not bytes: scripts differ in width).
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 5_000;
/// How often one customer's review of one product may be replaced. Each replaced event
/// is remembered (erasure must find the stored answers echoing its text), so the review
/// item would otherwise grow with every revision until DynamoDB refuses it.
pub const MAX_REVISIONS: usize = 100;

/// The JSON body of `POST /v1/events/review` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReviewInput {
    pub event_id: Option<String>,
    pub customer_id: Option<String>,
    pub order_id: Option<String>,
    pub sku: Option<String>,
    pub rating: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub occurred_at: Option<String>,
}

/// A validated review event. Title and body are kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewEvent {
    pub event_id: EventId,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub sku: Sku,
    pub rating: u8,
    pub title: Option<String>,
    pub body: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    // Control characters other than line breaks and tabs have no place in a review and
    // break the e-mails and reports that show it.
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok((!value.trim().is_empty()).then_some(value))
}

impl ReviewInput {
    pub fn validate(self) -> Result<ReviewEvent, FieldError> {
        let rating = required("rating", self.rating)?;
        let rating = u8::try_from(rating)
            .ok()
            .filter(|r| (1..=5).contains(r))
            .ok_or_else(|| FieldError::new("rating", "must be an integer from 1 to 5"))?;
        Ok(ReviewEvent {
            event_id: EventId::parse("event_id", &required("event_id", self.event_id)?)?,
            customer_id: CustomerId::parse(
                "customer_id",
                &required("customer_id", self.customer_id)?,
            )?,
            order_id: OrderId::parse("order_id", &required("order_id", self.order_id)?)?,
            sku: Sku::parse("sku", &required("sku", self.sku)?)?,
            rating,
            title: text("title", self.title, MAX_TITLE_CHARS)?,
            body: text("body", self.body, MAX_BODY_CHARS)?,
            occurred_at: parse_time("occurred_at", &required("occurred_at", self.occurred_at)?)?,
        })
    }
}

/// The stored review of one product by one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub sku: Sku,
    pub order_id: OrderId,
    pub rating: u8,
    pub title: Option<String>,
    pub body: Option<String>,
    pub verified: bool,
    /// Points this customer+product review earned; at most once, ever.
    pub points_awarded: i64,
    pub event_id: EventId,
    /// Events whose reviews this one replaced. Their stored answers echo the text they
    /// carried, so erasure must find them.
    #[serde(default)]
    pub replaced_event_ids: Vec<EventId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewReceipt {
    pub event_id: EventId,
    pub duplicate: bool,
    pub customer_id: CustomerId,
    pub sku: Sku,
    pub rating: u8,
    pub verified: bool,
    /// True when this replaced an earlier review of the same product.
    pub replaced: bool,
    pub points_awarded: i64,
    pub points_balance: i64,
    pub tier: Tier,
    pub service_recovery: bool,
    pub referral_ask: bool,
    pub title: Option<String>,
    pub body: Option<String>,
}

impl ReviewReceipt {
    /// The receipt as answered to a delivery: `replayed` when it is the stored answer of
    /// an earlier delivery of the same event.
    pub fn replayed(mut self, replayed: bool) -> Self {
        self.duplicate = replayed;
        self
    }
}

/// Everything one review changes, for the store to write atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewOutcome {
    pub profile: Profile,
    pub review: Review,
    /// New ledger entries: released held rewards, then this review's reward.
    pub ledger: Vec<LedgerEntry>,
    /// Change to the product's review count and rating sum.
    pub product_delta: (i64, i64),
    /// This review opened the service-recovery flag: support must be told, once.
    pub raise_alert: bool,
    pub receipt: ReviewReceipt,
}

impl ReviewEvent {
    /// Whether the customer's review of the product (`existing`) may be replaced again.
    pub fn revisable(&self, existing: Option<&Review>) -> Result<(), FieldError> {
        match existing {
            Some(review)
                if review.event_id != self.event_id
                    && review.replaced_event_ids.len() >= MAX_REVISIONS =>
            {
                Err(FieldError::new(
                    "sku",
                    format!("this product's review was revised {MAX_REVISIONS} times; no more"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Applies the review to the customer's state. `order` is the order it names, if
    /// recorded for this customer; `existing` the customer's earlier review of the sku.
    pub fn apply(
        &self,
        profile: Option<Profile>,
        order: Option<&Order>,
        existing: Option<Review>,
        base_tier: &Tier,
        rules: &ReviewRules,
        now: DateTime<Utc>,
    ) -> ReviewOutcome {
        let mut profile = profile
            .unwrap_or_else(|| Profile::new(self.customer_id.clone(), base_tier.clone(), now));
        // An erased customer's rating still counts (points, product aggregate), but the
        // text they write is not kept, nor echoed in the stored answer.
        let (title, body) = if profile.is_erased() {
            (None, None)
        } else {
            (self.title.clone(), self.body.clone())
        };
        let verified = order.is_some_and(|o| o.items.iter().any(|i| i.sku == self.sku));
        let already_awarded = existing.as_ref().map_or(0, |r| r.points_awarded);
        let points = if verified && already_awarded == 0 {
            if body.is_some() {
                rules.body_points
            } else {
                rules.rating_points
            }
        } else {
            0
        };
        let mut ledger = profile.release_due(now);
        ledger.extend((points != 0).then(|| {
            profile.post(
                points,
                LedgerReason::Review,
                self.sku.to_string(),
                self.event_id.to_string(),
                now,
            )
        }));

        let product_delta = match &existing {
            Some(old) => (0, i64::from(self.rating) - i64::from(old.rating)),
            None => (1, i64::from(self.rating)),
        };
        let was_open = profile.service_recovery_open(now, rules.recovery_expiry_days);
        let raise_alert = self.rating <= 2 && !was_open;
        if raise_alert {
            profile.service_recovery = Some(ServiceRecovery {
                opened_at: now,
                sku: self.sku.clone(),
                order_id: self.order_id.clone(),
                rating: self.rating,
            });
        }
        if self.rating >= 4 {
            profile.referral_ask = true;
        }
        profile.reviewed_skus.insert(self.sku.clone());
        profile.updated_at = now;

        let review = Review {
            sku: self.sku.clone(),
            order_id: self.order_id.clone(),
            rating: self.rating,
            title: title.clone(),
            body: body.clone(),
            // Once verified, a replacement naming another order stays verified.
            verified: verified || existing.as_ref().is_some_and(|r| r.verified),
            points_awarded: already_awarded + points,
            event_id: self.event_id.clone(),
            replaced_event_ids: existing
                .as_ref()
                .map(|r| {
                    let mut ids = r.replaced_event_ids.clone();
                    if r.event_id != self.event_id && !ids.contains(&r.event_id) {
                        ids.push(r.event_id.clone());
                    }
                    ids
                })
                .unwrap_or_default(),
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
        };
        let receipt = ReviewReceipt {
            event_id: self.event_id.clone(),
            duplicate: false,
            customer_id: self.customer_id.clone(),
            sku: self.sku.clone(),
            rating: self.rating,
            verified: review.verified,
            replaced: existing.is_some(),
            points_awarded: points,
            points_balance: profile.points_balance,
            tier: profile.tier.clone(),
            service_recovery: profile.service_recovery_open(now, rules.recovery_expiry_days),
            referral_ask: profile.referral_ask,
            title,
            body,
        };
        ReviewOutcome {
            profile,
            review,
            ledger,
            product_delta,
            raise_alert,
            receipt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rating: i64) -> ReviewInput {
        ReviewInput {
            event_id: Some("e".into()),
            customer_id: Some("c".into()),
            order_id: Some("o".into()),
            sku: Some("s".into()),
            rating: Some(rating),
            occurred_at: Some("2026-11-01T10:00:00Z".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_review_is_revised_at_most_a_hundred_times() {
        let event = input(4).validate().unwrap();
        let now: DateTime<Utc> = "2026-11-02T10:00:00Z".parse().unwrap();
        let tier = Tier("bronze".into());
        let rules = ReviewRules::default();
        let mut review = event.apply(None, None, None, &tier, &rules, now).review;
        assert!(event.revisable(Some(&review)).is_ok());
        review.replaced_event_ids = (0..MAX_REVISIONS)
            .map(|n| EventId::parse("e", &format!("old-{n}")).unwrap())
            .collect();
        let next = ReviewInput {
            event_id: Some("next".into()),
            ..input(3)
        }
        .validate()
        .unwrap();
        assert_eq!(next.revisable(Some(&review)).unwrap_err().field, "sku");
        // The event that made it, delivered again, is still its own.
        assert!(event.revisable(Some(&review)).is_ok());
    }

    #[test]
    fn ratings_are_one_to_five() {
        for bad in [0, 6, -1] {
            assert_eq!(input(bad).validate().unwrap_err().field, "rating");
        }
        assert_eq!(input(5).validate().unwrap().rating, 5);
    }

    #[test]
    fn text_limits_count_characters_and_keep_bytes() {
        let hindi = "बहुत अच्छी चाय है";
        let r = ReviewInput {
            body: Some(hindi.into()),
            ..input(5)
        }
        .validate()
        .unwrap();
        assert_eq!(r.body.as_deref(), Some(hindi));
        let long = "अ".repeat(MAX_BODY_CHARS);
        assert!(
            ReviewInput {
                body: Some(long.clone()),
                ..input(5)
            }
            .validate()
            .is_ok()
        );
        let e = ReviewInput {
            body: Some(long + "अ"),
            ..input(5)
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "body");
        let e = ReviewInput {
            title: Some("a\u{0}b".into()),
            ..input(5)
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "title");
        let blank = ReviewInput {
            body: Some("   ".into()),
            ..input(5)
        }
        .validate()
        .unwrap();
        assert_eq!(blank.body, None);
    }
}
