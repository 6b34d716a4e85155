//! Data rights: everything stored about a customer as one document, and the erasure of
//! the personal data in it.
//!
//! Erasure keeps what accounting needs — orders, the points ledger, redemptions, the
//! referral graph and the profile's points and spend aggregates, all under the
//! storefront's customer id — and removes what identifies or describes the person:
//! email, birthday, locale, time zone, review text and anything else stored with them.
//! The address survives only as a hash in the suppression list, so it is never mailed
//! again, and the profile is marked erased so later events cannot bring contact data
//! back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

mod pages;

pub use pages::{ExportCursor, ExportError, export_page};

use super::outreach::MessageRecord;
use super::{
    Consent, Currency, CustomerId, JobState, LedgerEntry, LedgerReason, Order, Profile, Redemption,
    ReferralRecord, Review, Sku, Suppression, SuppressionCause, TombstoneKey,
};

/// Names the shape of the export document; bumped if the shape changes.
pub const EXPORT_FORMAT: &str = "rapport.customer-export.v1";

/// Where an erased profile's consent says it came from.
pub const ERASURE_SOURCE: &str = "erasure";

/// Everything stored about one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerData {
    /// The profile: points, tier, aggregates, consent (with time and source), contact
    /// data and the referral attribution.
    pub profile: Profile,
    pub orders: Vec<Order>,
    /// The points ledger, oldest first.
    pub ledger: Vec<LedgerEntry>,
    /// Points spent on coupons.
    pub redemptions: Vec<Redemption>,
    pub reviews: Vec<Review>,
    /// Referrals this customer made, accepted or rejected.
    pub referrals_made: Vec<ReferralRecord>,
    /// The referral that brought this customer, as the referrer's record shows it.
    pub referral_received: Option<ReferralRecord>,
    /// Messages decided for this customer: what, when, why, with coupon and status.
    pub messages: Vec<MessageRecord>,
    /// The scoring job's latest scores and message history.
    pub job_state: Option<JobState>,
    /// Whether the profile's address is on the suppression list, and why.
    pub suppression: Option<Suppression>,
    /// The audit record of an erasure, once erased.
    pub erasure: Option<ErasureRecord>,
}

/// `GET /v1/customers/{id}/export`.
#[derive(Debug, Serialize)]
pub struct CustomerExport<'a> {
    pub format: &'static str,
    pub customer_id: &'a CustomerId,
    pub exported_at: DateTime<Utc>,
    /// The currency of every minor-unit amount in the document.
    pub currency: Currency,
    #[serde(flatten)]
    pub data: &'a CustomerData,
}

impl<'a> CustomerExport<'a> {
    pub fn new(data: &'a CustomerData, currency: Currency, now: DateTime<Utc>) -> Self {
        Self {
            format: EXPORT_FORMAT,
            customer_id: &data.profile.customer_id,
            exported_at: now,
            currency,
            data,
        }
    }
}

/// What became of the customer's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressOutcome {
    /// Its hash was added to the suppression list.
    Suppressed,
    /// It was on the suppression list already (a bounce, a complaint).
    AlreadySuppressed,
    /// The profile held no address.
    NoAddress,
}

/// The audit record of an erasure, and the receipt `DELETE /v1/customers/{id}` answers,
/// the first time and every time after. It holds no personal data: only which kinds of
/// data were removed, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub receipt_id: String,
    pub customer_id: CustomerId,
    pub erased_at: DateTime<Utc>,
    /// Profile fields that held data and were cleared.
    pub profile_fields: Vec<String>,
    /// Reviews whose title and body were removed.
    pub reviews_redacted: u32,
    /// Message records whose provider error text (which may quote the address) was removed.
    pub messages_redacted: u32,
    /// Stored answers of earlier review events whose echoed text was removed.
    pub event_records_redacted: u32,
    /// Whether the scoring job's state (scores, message history) was deleted.
    pub job_state_deleted: bool,
    pub address: AddressOutcome,
    /// What is kept, anonymised, for accounting.
    pub retained: Vec<String>,
}

/// The accounting records an erasure keeps.
pub const RETAINED: &[&str] = &[
    "orders",
    "ledger",
    "redemptions",
    "referrals",
    "points_and_spend_aggregates",
    "review_ratings",
];

/// A stored answer of an earlier event to rewrite without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedAnswer {
    /// The idempotency key (the event id).
    pub key: String,
    pub response: String,
}

/// The profile change at the heart of an erasure, written atomically with its audit
/// record and the address's tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureMark {
    /// The profile version the plan was made from.
    pub expected_version: u64,
    /// The profile without personal data, marked erased.
    pub profile: Profile,
    pub record: ErasureRecord,
    /// The address's suppression, unless it was suppressed already.
    pub tombstone: Option<Suppression>,
}

/// Everything an erasure writes. Applying a plan twice changes nothing the second time.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasurePlan {
    pub customer: CustomerId,
    /// `None` when the profile is erased already and only leftovers remain.
    pub mark: Option<ErasureMark>,
    /// Reviews (by sku) to strip of title and body.
    pub reviews: Vec<Sku>,
    /// Message records with their error text removed.
    pub messages: Vec<MessageRecord>,
    pub answers: Vec<RedactedAnswer>,
    pub drop_job_state: bool,
}

impl ErasurePlan {
    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.mark.is_none()
            && self.reviews.is_empty()
            && self.messages.is_empty()
            && self.answers.is_empty()
            && !self.drop_job_state
    }
}

/// Keys of the stored answers that may echo this customer's review text: every review
/// event, including those of replaced reviews, and those named by review ledger entries.
pub fn review_event_keys(data: &CustomerData) -> BTreeSet<String> {
    let reviews = data.reviews.iter().flat_map(|r| {
        std::iter::once(r.event_id.to_string())
            .chain(r.replaced_event_ids.iter().map(ToString::to_string))
    });
    let ledger = data
        .ledger
        .iter()
        .filter(|e| e.reason == LedgerReason::Review)
        .map(|e| e.source.clone());
    reviews.chain(ledger).collect()
}

/// Fields of stored answers that carry what a customer wrote or who they are.
const PERSONAL_ANSWER_FIELDS: &[&str] = &["title", "body", "email", "referee_email"];

/// The stored answer `response` with personal fields set to `null`; `None` if it has
/// none (or is not a JSON object, which Rapport never stores).
pub fn redact_answer(response: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(response).ok()?;
    let object = value.as_object_mut()?;
    let mut changed = false;
    for field in PERSONAL_ANSWER_FIELDS {
        if let Some(v) = object.get_mut(*field)
            && !v.is_null()
        {
            *v = serde_json::Value::Null;
            changed = true;
        }
    }
    changed.then(|| value.to_string())
}

/// Clears the profile's personal data and marks it erased; returns the names of the
/// fields that held something.
pub fn scrub_profile(profile: &mut Profile, now: DateTime<Utc>) -> Vec<String> {
    let mut cleared = Vec::new();
    let mut clear = |name: &str, had: bool| {
        if had {
            cleared.push(name.to_owned());
        }
    };
    clear("email", profile.email.take().is_some());
    clear("first_name", profile.first_name.take().is_some());
    clear("birthday", profile.birthday.take().is_some());
    profile.birthday_set_at = None;
    clear("locale", profile.locale.take().is_some());
    clear("timezone", profile.timezone.take().is_some());
    clear(
        "service_recovery",
        profile.service_recovery.take().is_some(),
    );
    clear("referral_ask", std::mem::take(&mut profile.referral_ask));
    // The decision history (when and where consent was given) goes; what stays records
    // only that marketing is off because of the erasure.
    clear("consent", profile.consent.is_some());
    profile.consent = Some(Consent {
        marketing: false,
        updated_at: now,
        source: ERASURE_SOURCE.into(),
    });
    profile.erased_at = Some(now);
    profile.updated_at = now;
    cleared
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Plans the erasure of `data` (read at profile version `version`). `answers` are the
/// stored answers found under [`review_event_keys`], as (key, response) pairs.
/// `receipt_id` names a new erasure; an erased customer keeps the receipt it has. The
/// address's tombstone is keyed with `tombstones`.
///
/// Returns the plan and the receipt to answer.
pub fn plan_erasure(
    data: &CustomerData,
    version: u64,
    answers: &[(String, String)],
    receipt_id: String,
    tombstones: &TombstoneKey,
    now: DateTime<Utc>,
) -> (ErasurePlan, ErasureRecord) {
    let reviews: Vec<Sku> = data
        .reviews
        .iter()
        .filter(|r| r.title.is_some() || r.body.is_some())
        .map(|r| r.sku.clone())
        .collect();
    let messages: Vec<MessageRecord> = data
        .messages
        .iter()
        .filter(|m| m.error.is_some())
        .map(|m| MessageRecord {
            error: None,
            ..m.clone()
        })
        .collect();
    let answers: Vec<RedactedAnswer> = answers
        .iter()
        .filter_map(|(key, response)| {
            redact_answer(response).map(|response| RedactedAnswer {
                key: key.clone(),
                response,
            })
        })
        .collect();
    let drop_job_state = data.job_state.is_some();

    let (mark, receipt) = match &data.erasure {
        Some(done) => (None, done.clone()),
        None => {
            let mut profile = data.profile.clone();
            let address = profile.email.as_ref().map(|e| tombstones.tombstone(e));
            let profile_fields = scrub_profile(&mut profile, now);
            let (tombstone, outcome) = match address {
                None => (None, AddressOutcome::NoAddress),
                Some(_) if data.suppression.is_some() => (None, AddressOutcome::AlreadySuppressed),
                Some(address_key) => (
                    Some(Suppression {
                        address_key,
                        cause: SuppressionCause::Erased,
                        detail: format!("erasure {receipt_id}"),
                        at: now,
                    }),
                    AddressOutcome::Suppressed,
                ),
            };
            let record = ErasureRecord {
                receipt_id,
                customer_id: data.profile.customer_id.clone(),
                erased_at: now,
                profile_fields,
                reviews_redacted: count(reviews.len()),
                messages_redacted: count(messages.len()),
                event_records_redacted: count(answers.len()),
                job_state_deleted: drop_job_state,
                address: outcome,
                retained: RETAINED.iter().map(|s| (*s).to_owned()).collect(),
            };
            let mark = ErasureMark {
                expected_version: version,
                profile,
                record: record.clone(),
                tombstone,
            };
            (Some(mark), record)
        }
    };
    let plan = ErasurePlan {
        customer: data.profile.customer_id.clone(),
        mark,
        reviews,
        messages,
        answers,
        drop_job_state,
    };
    (plan, receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Birthday, Email, EventId, Locale, OrderId, Tier};

    fn id(s: &str) -> CustomerId {
        CustomerId::parse("id", s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn review(sku: &str, event: &str, replaced: &[&str], text: bool) -> Review {
        Review {
            sku: Sku::parse("sku", sku).unwrap(),
            order_id: OrderId::parse("o", "o1").unwrap(),
            rating: 5,
            title: text.then(|| "Lovely".to_owned()),
            body: text.then(|| "Asha here, the tea is great".to_owned()),
            verified: true,
            points_awarded: 25,
            event_id: EventId::parse("e", event).unwrap(),
            replaced_event_ids: replaced
                .iter()
                .map(|e| EventId::parse("e", e).unwrap())
                .collect(),
            created_at: now(),
            updated_at: now(),
        }
    }

    fn data() -> CustomerData {
        let mut profile = Profile::new(id("c1"), Tier("bronze".into()), now());
        profile.email = Some(Email::parse("email", "Asha@example.com").unwrap());
        profile.birthday = Some(Birthday::parse("b", "07-31").unwrap());
        profile.birthday_set_at = Some(now());
        profile.locale = Some(Locale::parse("l", "hi-IN").unwrap());
        profile.timezone = Some("Asia/Kolkata".into());
        profile.set_marketing_consent(true, "purchase:e1".into(), now());
        profile.points_balance = 140;
        profile.net_spend_minor = 12_000;
        CustomerData {
            profile,
            orders: Vec::new(),
            ledger: Vec::new(),
            redemptions: Vec::new(),
            reviews: vec![
                review("TEA", "r2", &["r1"], true),
                review("MUG", "r3", &[], false),
            ],
            referrals_made: Vec::new(),
            referral_received: None,
            messages: Vec::new(),
            job_state: None,
            suppression: None,
            erasure: None,
        }
    }

    #[test]
    fn scrubbing_clears_contact_data_and_keeps_the_accounts() {
        let mut p = data().profile;
        let cleared = scrub_profile(&mut p, now());
        assert_eq!(
            cleared,
            ["email", "birthday", "locale", "timezone", "consent"]
        );
        assert!(p.email.is_none() && p.birthday.is_none() && p.birthday_set_at.is_none());
        assert!(p.locale.is_none() && p.timezone.is_none());
        assert!(p.is_erased() && !p.marketing_allowed());
        assert_eq!(
            p.consent.as_ref().map(|c| c.source.as_str()),
            Some("erasure")
        );
        assert_eq!((p.points_balance, p.net_spend_minor), (140, 12_000));
    }

    #[test]
    fn a_plan_marks_redacts_and_suppresses_the_address() {
        let data = data();
        let answers = vec![
            (
                "r1".to_owned(),
                r#"{"event_id":"r1","title":"Old","body":"old text","rating":4}"#.to_owned(),
            ),
            (
                "r3".to_owned(),
                r#"{"event_id":"r3","title":null}"#.to_owned(),
            ),
        ];
        let key = TombstoneKey::new(b"tombstone secret 0001");
        let (plan, receipt) = plan_erasure(&data, 7, &answers, "erasure-1".into(), &key, now());
        let mark = plan.mark.as_ref().unwrap();
        assert_eq!(mark.expected_version, 7);
        assert!(mark.profile.email.is_none());
        let tombstone = mark.tombstone.as_ref().unwrap();
        let asha = crate::domain::Email::parse("email", "asha@example.com").unwrap();
        assert_eq!(tombstone.address_key, key.tombstone(&asha));
        assert_ne!(
            tombstone.address_key,
            crate::domain::address_key("asha@example.com"),
            "keyed, not the bare hash anyone can compute"
        );
        assert_eq!(tombstone.cause, SuppressionCause::Erased);
        assert_eq!(plan.reviews, [Sku::parse("sku", "TEA").unwrap()]);
        assert_eq!(plan.answers.len(), 1);
        let redacted: serde_json::Value = serde_json::from_str(&plan.answers[0].response).unwrap();
        assert_eq!(
            redacted,
            serde_json::json!({"event_id":"r1","title":null,"body":null,"rating":4})
        );
        assert_eq!(receipt, mark.record);
        assert_eq!(receipt.address, AddressOutcome::Suppressed);
        assert_eq!(
            (receipt.reviews_redacted, receipt.event_records_redacted),
            (1, 1)
        );
        let text = serde_json::to_string(&receipt).unwrap();
        assert!(!text.to_lowercase().contains("asha"), "{text}");
    }

    #[test]
    fn an_erased_customer_keeps_the_first_receipt_and_needs_nothing_more() {
        let data = data();
        let key = TombstoneKey::unset();
        let (plan, receipt) = plan_erasure(&data, 1, &[], "erasure-1".into(), &key, now());
        let mut after = data.clone();
        after.profile = plan.mark.unwrap().profile;
        after.reviews = after
            .reviews
            .into_iter()
            .map(|r| Review {
                title: None,
                body: None,
                ..r
            })
            .collect();
        after.erasure = Some(receipt.clone());
        let (again, same) = plan_erasure(&after, 2, &[], "erasure-2".into(), &key, now());
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(same, receipt);
    }

    #[test]
    fn an_address_suppressed_before_is_not_suppressed_twice() {
        let mut data = data();
        data.suppression = Some(Suppression {
            address_key: crate::domain::address_key("asha@example.com"),
            cause: SuppressionCause::Bounce,
            detail: "General".into(),
            at: now(),
        });
        let key = TombstoneKey::new(b"tombstone secret 0001");
        let (plan, receipt) = plan_erasure(&data, 1, &[], "erasure-1".into(), &key, now());
        assert!(plan.mark.unwrap().tombstone.is_none());
        assert_eq!(receipt.address, AddressOutcome::AlreadySuppressed);
    }

    #[test]
    fn review_keys_include_replaced_reviews_and_review_ledger_sources() {
        let mut data = data();
        data.ledger.push(LedgerEntry {
            seq: 1,
            delta: 25,
            reason: LedgerReason::Review,
            reference: "TEA".into(),
            source: "r0".into(),
            balance_after: 25,
            at: now(),
            program_version: None,
        });
        let keys: Vec<String> = review_event_keys(&data).into_iter().collect();
        assert_eq!(keys, ["r0", "r1", "r2", "r3"]);
    }

    #[test]
    fn answers_without_personal_fields_are_left_alone() {
        assert_eq!(redact_answer(r#"{"points_delta":5}"#), None);
        assert_eq!(redact_answer("not json"), None);
        assert_eq!(
            redact_answer(r#"{"email":"a@b.co"}"#).as_deref(),
            Some(r#"{"email":null}"#)
        );
    }

    fn erased() -> Profile {
        let mut p = data().profile;
        scrub_profile(&mut p, now());
        p
    }

    #[test]
    fn a_review_by_an_erased_customer_keeps_the_rating_not_the_text() {
        use crate::domain::{ReviewInput, ReviewRules};
        let event = ReviewInput {
            event_id: Some("r9".into()),
            customer_id: Some("c1".into()),
            order_id: Some("o1".into()),
            sku: Some("TEA".into()),
            rating: Some(4),
            title: Some("Asha again".into()),
            body: Some("Written by Asha".into()),
            occurred_at: Some("2026-11-30T12:00:00Z".into()),
        }
        .validate()
        .unwrap();
        let outcome = event.apply(
            Some(erased()),
            None,
            None,
            &Tier("bronze".into()),
            &ReviewRules::default(),
            now(),
        );
        assert_eq!(outcome.review.rating, 4);
        assert_eq!((outcome.review.title, outcome.review.body), (None, None));
        assert_eq!((outcome.receipt.title, outcome.receipt.body), (None, None));
    }

    #[test]
    fn a_referral_does_not_give_an_erased_referee_an_address() {
        use crate::domain::{ReferralInput, ReferralRules};
        let referrer = Profile::new(id("ref"), Tier("bronze".into()), now());
        let mut referee = erased();
        referee.first_purchase_at = None;
        let event = ReferralInput {
            event_id: Some("x1".into()),
            referral_code: Some("ABCDEFGH".into()),
            referee_customer_id: Some("c1".into()),
            referee_email: Some("asha@example.com".into()),
            occurred_at: Some("2026-11-30T12:00:00Z".into()),
        }
        .validate()
        .unwrap();
        let outcome = event.apply(
            referrer,
            Some(referee),
            &Tier("bronze".into()),
            &ReferralRules::default(),
            now(),
        );
        let (referee, _) = outcome.profiles.unwrap();
        assert!(referee.email.is_none());
    }

    fn rules() -> crate::domain::LoyaltyRules {
        let usd = Currency::parse("currency", "USD").unwrap();
        let tiers = vec![crate::domain::TierRule {
            tier: Tier("bronze".into()),
            threshold: 0,
            multiplier_pct: 100,
            ..crate::domain::TierRule::default()
        }];
        crate::domain::LoyaltyRules::new(usd, 1, tiers, 1, 30).unwrap()
    }

    fn order(event: &str, email: Option<&str>) -> crate::domain::PurchaseEvent {
        let mut body = serde_json::json!({
            "event_id": event, "kind": "purchase", "customer_id": "c1", "order_id": event,
            "occurred_at": "2026-11-30T12:00:00Z", "currency": "USD", "total_minor": 1000,
            "items": [{"sku": "TEA", "quantity": 1, "unit_price_minor": 1000}],
            "birthday": "07-31", "locale": "en", "timezone": "Europe/London",
            "marketing_consent": true,
        });
        if let Some(email) = email {
            body["email"] = email.into();
        }
        serde_json::from_value::<crate::domain::PurchaseInput>(body)
            .unwrap()
            .validate()
            .unwrap()
    }

    #[test]
    fn a_purchase_for_an_erased_customer_counts_but_stores_no_contact_data() {
        let outcome = order("p9", Some("asha@example.com"))
            .apply(
                Some(erased()),
                None,
                None,
                &rules(),
                &crate::domain::ReferralRules::default(),
                now(),
            )
            .unwrap();
        let p = &outcome.profile;
        assert_eq!(p.points_balance, 150, "the order still earns points");
        assert!(p.email.is_none() && p.birthday.is_none() && p.locale.is_none());
        assert!(p.timezone.is_none() && !p.marketing_allowed() && p.is_erased());
    }
}
