//! The reward catalogue: what customers can redeem points for, at what price and on
//! which terms, and the rules a catalogue must keep.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{MAX_DAYS, MAX_MINOR, MAX_NAME, Program};
use crate::domain::{CouponTerms, FieldError, Sku, Tier};

/// A reward of the catalogue: what it gives, its price in points and its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// Named by redemptions: letters, digits, `-`, `_`.
    pub id: String,
    /// As the customer sees it ("Free shipping").
    pub name: String,
    pub offer: RewardOffer,
    /// Its price in points.
    pub points: i64,
    /// The least an order must spend on goods to use its coupon (0: any).
    #[serde(default)]
    pub min_order_minor: i64,
    /// How long its coupon stays valid.
    pub valid_days: i64,
    /// How often one customer may redeem it; none: without limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_per_customer: Option<u32>,
    /// The tiers whose members may redeem it; empty: every tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// When it can be redeemed; open-ended where absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_until: Option<DateTime<Utc>>,
}

/// What a reward's coupon gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardOffer {
    AmountOff { value_minor: i64 },
    PercentOff { percent: u32, max_value_minor: i64 },
    FreeShipping,
    FreeProduct { sku: String },
}

/// Most rewards one catalogue holds.
pub const MAX_REWARDS: usize = 50;

impl Reward {
    /// The coupon terms of its offer.
    pub fn terms(&self) -> Result<CouponTerms, FieldError> {
        Ok(match &self.offer {
            RewardOffer::AmountOff { value_minor } => CouponTerms::AmountOff {
                value_minor: *value_minor,
            },
            RewardOffer::PercentOff {
                percent,
                max_value_minor,
            } => CouponTerms::PercentOff {
                percent: *percent,
                max_value_minor: *max_value_minor,
            },
            RewardOffer::FreeShipping => CouponTerms::FreeShipping,
            RewardOffer::FreeProduct { sku } => CouponTerms::FreeProduct {
                sku: Sku::parse("offer.sku", sku)?,
            },
        })
    }

    /// Why a customer in `tier` may not redeem it at `now`, having redeemed it `times`.
    pub fn refusal(&self, tier: &Tier, times: u32, now: DateTime<Utc>) -> Option<&'static str> {
        if self.active_from.is_some_and(|from| now < from)
            || self.active_until.is_some_and(|until| now >= until)
        {
            return Some("is not on offer now");
        }
        if !self.tiers.is_empty() && !self.tiers.contains(&tier.0) {
            return Some("is not offered to the customer's tier");
        }
        if self.limit_per_customer.is_some_and(|limit| times >= limit) {
            return Some("was redeemed as often as one customer may");
        }
        None
    }
}

/// A spend gift: the catalogue's reward, free, for spending at least `min_spend_minor`
/// within the program's qualification window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendGift {
    /// Lower-case letters, digits, `-`, `_`.
    pub id: String,
    pub min_spend_minor: i64,
    /// The reward of the catalogue it grants.
    pub reward_id: String,
}

/// Most spend gifts a program holds.
pub const MAX_SPEND_GIFTS: usize = 10;

impl Program {
    /// The spend gifts' rules: ids, thresholds, rewards of the catalogue.
    pub(super) fn gift_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.spend_gifts.len() > MAX_SPEND_GIFTS {
            problems.push(FieldError::new(
                "spend_gifts",
                format!("must list at most {MAX_SPEND_GIFTS} gifts"),
            ));
        }
        for (n, gift) in self.spend_gifts.iter().enumerate() {
            let at = |field: &str| format!("spend_gifts[{n}].{field}");
            if !super::is_activity_id(&gift.id) {
                problems.push(FieldError::new(
                    at("id"),
                    "must be 1 to 40 lower-case letters, digits, '-' or '_'",
                ));
            }
            if self.spend_gifts[..n].iter().any(|g| g.id == gift.id) {
                problems.push(FieldError::new(at("id"), "is the id of an earlier gift"));
            }
            if !(1..=MAX_MINOR).contains(&gift.min_spend_minor) {
                problems.push(FieldError::new(
                    at("min_spend_minor"),
                    format!("must be between 1 and {MAX_MINOR}"),
                ));
            }
            if !self.rewards.iter().any(|r| r.id == gift.reward_id) {
                problems.push(FieldError::new(
                    at("reward_id"),
                    "is not a reward of the catalogue",
                ));
            }
        }
        problems
    }

    /// The catalogue's rules: ids, prices, offers, tiers of the ladder, dates.
    pub(super) fn catalogue_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.rewards.len() > MAX_REWARDS {
            problems.push(FieldError::new(
                "rewards",
                format!("must list at most {MAX_REWARDS} rewards"),
            ));
        }
        for (n, reward) in self.rewards.iter().enumerate() {
            let at = |field: &str| format!("rewards[{n}].{field}");
            let mut problem =
                |field: &str, reason: String| problems.push(FieldError::new(at(field), reason));
            let id_sound = (1..=MAX_NAME).contains(&reward.id.len())
                && reward
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_sound {
                problem(
                    "id",
                    format!("must be 1 to {MAX_NAME} letters, digits, '-' or '_'"),
                );
            }
            if self.rewards[..n].iter().any(|r| r.id == reward.id) {
                problem("id", "is the id of an earlier reward".into());
            }
            if reward.name.trim().is_empty() || reward.name.chars().count() > 80 {
                problem("name", "must be 1 to 80 characters".into());
            }
            if !(1..=1_000_000).contains(&reward.points) {
                problem("points", "must be between 1 and 1000000".into());
            }
            if !(0..=MAX_MINOR).contains(&reward.min_order_minor) {
                problem(
                    "min_order_minor",
                    format!("must be between 0 and {MAX_MINOR}"),
                );
            }
            if !(1..=MAX_DAYS).contains(&reward.valid_days) {
                problem("valid_days", format!("must be between 1 and {MAX_DAYS}"));
            }
            if reward.limit_per_customer == Some(0) {
                problem(
                    "limit_per_customer",
                    "must be at least 1 (or absent)".into(),
                );
            }
            match &reward.offer {
                RewardOffer::AmountOff { value_minor }
                    if !(1..=MAX_MINOR).contains(value_minor) =>
                {
                    problem(
                        "offer.value_minor",
                        format!("must be between 1 and {MAX_MINOR}"),
                    )
                }
                RewardOffer::PercentOff { percent, .. } if !(1..=100).contains(percent) => {
                    problem("offer.percent", "must be between 1 and 100".into())
                }
                RewardOffer::PercentOff {
                    max_value_minor, ..
                } if !(1..=MAX_MINOR).contains(max_value_minor) => problem(
                    "offer.max_value_minor",
                    format!("must be between 1 and {MAX_MINOR}"),
                ),
                RewardOffer::FreeProduct { sku } if Sku::parse("sku", sku).is_err() => {
                    problem("offer.sku", "is not a valid SKU".into())
                }
                _ => {}
            }
            for (t, tier) in reward.tiers.iter().enumerate() {
                if !self.tiers.iter().any(|level| level.name == *tier) {
                    problems.push(FieldError::new(
                        format!("rewards[{n}].tiers[{t}]"),
                        "is not a tier of the ladder",
                    ));
                }
            }
            if let (Some(from), Some(until)) = (reward.active_from, reward.active_until)
                && until <= from
            {
                problems.push(FieldError::new(
                    at("active_until"),
                    "must be after active_from",
                ));
            }
        }
        problems
    }
}
