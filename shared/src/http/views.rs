//! Response shapes that are views of stored state rather than receipts.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::CustomerScores;
use crate::domain::program::ProgramRules;
use crate::domain::{
    AttributionStatus, Birthday, Currency, CustomerId, Email, FirstName, Locale, Profile, Tier,
};

/// `GET /v1/customers/{id}`.
#[derive(Debug, Serialize)]
pub struct ProfileView {
    pub customer_id: CustomerId,
    pub points_balance: i64,
    pub points_pending: i64,
    pub tier: Tier,
    pub orders: u64,
    pub net_spend_minor: i64,
    pub repeat_spend_minor: i64,
    pub currency: Currency,
    pub purchase_days: usize,
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    pub email: Option<Email>,
    pub first_name: Option<FirstName>,
    pub locale: Option<Locale>,
    pub birthday: Option<Birthday>,
    /// An open service-recovery flag: support is following up; no promotions.
    pub service_recovery: bool,
    pub referral_ask: bool,
    pub referral_code: Option<String>,
    /// How this customer's own referral went: pending, converted, cancelled or
    /// rejected.
    pub referred: Option<AttributionStatus>,
    /// Why it was rejected at conversion.
    pub referred_reason: Option<String>,
    pub referrals_converted: u32,
    pub ambassador: bool,
    /// The latest marketing consent; `null` when never given.
    pub marketing_consent: Option<bool>,
    /// The scoring job's latest conclusions; `null` until it has run.
    pub scores: Option<CustomerScores>,
    /// What the customer's tier gives under the program in force (multiplier, free
    /// shipping, birthday points): for the storefront to show and apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perks: Option<PerksView>,
    /// When the balance lapses unless the customer orders first; absent when points
    /// never expire or there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_expire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tier's perks as the profile shows them.
#[derive(Debug, Serialize)]
pub struct PerksView {
    pub multiplier_pct: i64,
    pub free_shipping: bool,
    pub birthday_points: i64,
}

impl ProfileView {
    pub fn with_scores(self, scores: Option<CustomerScores>) -> Self {
        Self { scores, ..self }
    }

    /// With what the program in force says of `p`: the tier's perks, when points lapse.
    pub fn under_program(self, p: &Profile, rules: &ProgramRules) -> Self {
        let perks = rules.loyalty.rung(&p.tier).map(|rung| PerksView {
            multiplier_pct: rung.multiplier_pct,
            free_shipping: rung.perks.free_shipping,
            birthday_points: rung
                .perks
                .birthday_points
                .unwrap_or(rules.outreach.birthday_points),
        });
        let points_expire_at = rules
            .outreach
            .expiry_months
            .filter(|_| p.points_balance > 0)
            .and_then(|months| p.points_expire_at(months));
        Self {
            perks,
            points_expire_at,
            ..self
        }
    }

    /// The view of `p`, money in `currency`, a service-recovery flag lapsing after
    /// `recovery_expiry_days`.
    pub fn new(
        p: &Profile,
        currency: Currency,
        recovery_expiry_days: i64,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            customer_id: p.customer_id.clone(),
            points_balance: p.points_balance,
            points_pending: p.points_pending,
            tier: p.tier.clone(),
            orders: p.orders,
            net_spend_minor: p.net_spend_minor,
            repeat_spend_minor: p.repeat_spend_minor,
            currency,
            purchase_days: p.purchase_day_count(),
            first_purchase_at: p.first_purchase_at,
            last_purchase_at: p.last_purchase_at,
            email: p.email.clone(),
            first_name: p.first_name.clone(),
            locale: p.locale.clone(),
            birthday: p.birthday,
            service_recovery: p.service_recovery_open(now, recovery_expiry_days),
            referral_ask: p.referral_ask,
            referral_code: p.referral_code.clone(),
            referred: p.referred_by.as_ref().map(|a| a.status),
            referred_reason: p.referred_by.as_ref().and_then(|a| a.reason.clone()),
            referrals_converted: p.referrals_converted,
            ambassador: p.ambassador,
            marketing_consent: p.consent.as_ref().map(|c| c.marketing),
            scores: None,
            perks: None,
            points_expire_at: None,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}
