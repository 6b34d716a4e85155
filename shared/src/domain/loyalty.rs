//! The shop's programme rules: how many points a purchase earns and which tier a
//! customer is in ([`LoyaltyRules`]), what reviews earn ([`ReviewRules`]) and how
//! referrals are rewarded and capped ([`ReferralRules`]).
//!
//! Tiers follow trailing-12-month net spend (purchases minus refunds, by order date).
//! Promotion happens on the event that crosses a threshold; demotion happens when the
//! window slides past old spend, which is noticed on the customer's next event or by
//! the daily job. Points earned on an order use the multiplier of the tier the
//! customer held when the order was placed, so a promotion never re-prices history.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::fields::EventWindow;
use super::{Currency, FieldError};

/// A tier name, e.g. `bronze`. Names come from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tier(pub String);

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rung of the tier ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRule {
    pub tier: Tier,
    /// Trailing-12-month net spend, in minor units, from which the tier applies.
    pub min_spend_minor: i64,
    /// Points multiplier in percent (100 = ×1, 150 = ×1.5).
    pub multiplier_pct: i64,
}

/// The shop's loyalty programme, checked once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyRules {
    /// The shop's currency; events in another currency are refused rather than
    /// converted at a rate this system does not own.
    pub currency: Currency,
    /// Points per whole currency unit spent, before the tier multiplier.
    pub points_per_unit: i64,
    /// Sorted by `min_spend_minor`, the first starting at 0.
    tiers: Vec<TierRule>,
    /// What one point is worth when redeemed, in minor units.
    pub point_value_minor: i64,
    /// How long a redemption coupon stays valid.
    pub coupon_valid_days: i64,
    /// Which event times count: an event dated too far ahead or back is refused.
    pub events: EventWindow,
    /// The program version these rules come from (0: the deployment's settings),
    /// recorded on the ledger entries decided under them.
    pub program_version: u64,
}

impl LoyaltyRules {
    pub fn new(
        currency: Currency,
        points_per_unit: i64,
        mut tiers: Vec<TierRule>,
        point_value_minor: i64,
        coupon_valid_days: i64,
    ) -> Result<Self, FieldError> {
        tiers.sort_by_key(|t| t.min_spend_minor);
        let Some(first) = tiers.first() else {
            return Err(FieldError::new("RAPPORT_TIERS", "needs at least one tier"));
        };
        if first.min_spend_minor != 0 {
            return Err(FieldError::new(
                "RAPPORT_TIERS",
                "the lowest tier must start at 0 so every customer has a tier",
            ));
        }
        if tiers
            .windows(2)
            .any(|w| w[0].min_spend_minor == w[1].min_spend_minor || w[0].tier == w[1].tier)
        {
            return Err(FieldError::new(
                "RAPPORT_TIERS",
                "tier names and thresholds must be distinct",
            ));
        }
        if tiers.iter().any(|t| t.multiplier_pct <= 0) {
            return Err(FieldError::new(
                "RAPPORT_TIERS",
                "multipliers must be positive",
            ));
        }
        if points_per_unit < 0 || point_value_minor <= 0 || coupon_valid_days <= 0 {
            return Err(FieldError::new(
                "RAPPORT_POINTS",
                "earn rate must be >= 0, point value and coupon validity > 0",
            ));
        }
        Ok(Self {
            currency,
            points_per_unit,
            tiers,
            point_value_minor,
            coupon_valid_days,
            events: EventWindow::default(),
            program_version: 0,
        })
    }

    /// The same rules as program version `version` sets them.
    pub fn with_program_version(self, version: u64) -> Self {
        Self {
            program_version: version,
            ..self
        }
    }

    /// The same rules with event times accepted within `events`.
    pub fn with_event_window(self, events: EventWindow) -> Self {
        Self { events, ..self }
    }

    pub fn tiers(&self) -> &[TierRule] {
        &self.tiers
    }

    /// The entry tier every new customer starts in.
    pub fn base_tier(&self) -> &Tier {
        &self.tiers[0].tier
    }

    /// The tier for a trailing-12-month net spend.
    pub fn tier_for(&self, trailing_spend_minor: i64) -> &TierRule {
        self.tiers
            .iter()
            .rev()
            .find(|t| trailing_spend_minor >= t.min_spend_minor)
            .unwrap_or(&self.tiers[0])
    }

    fn multiplier_pct(&self, tier: &Tier) -> i64 {
        // A tier removed from configuration earns like the base tier.
        self.tiers
            .iter()
            .find(|t| &t.tier == tier)
            .map_or(100, |t| t.multiplier_pct)
    }

    /// Points earned by an order of `amount_minor` placed while in `tier`. Rounds down:
    /// a customer never earns a point they did not fully pay for.
    pub fn points_for(&self, amount_minor: i64, tier: &Tier) -> i64 {
        let numerator = i128::from(amount_minor)
            * i128::from(self.points_per_unit)
            * i128::from(self.multiplier_pct(tier));
        let denominator = i128::from(self.currency.minor_per_major()) * 100;
        i64::try_from(numerator / denominator).unwrap_or(i64::MAX)
    }
}

/// Points for reviews, and how long a service-recovery flag stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRules {
    /// For a verified rating without a written body.
    pub rating_points: i64,
    /// For a verified review with a written body.
    pub body_points: i64,
    pub recovery_expiry_days: i64,
}

impl Default for ReviewRules {
    fn default() -> Self {
        Self {
            rating_points: 10,
            body_points: 25,
            recovery_expiry_days: 30,
        }
    }
}

/// Why a referral is rejected when the referee's address is the referrer's mailbox —
/// at attribution, or at conversion when the referee's address is first known then.
pub const SELF_REFERRAL_BY_EMAIL: &str =
    "self-referral: the referee's email address is the referrer's";

/// Days over which the per-referrer cap counts attributions.
pub const REFERRAL_CAP_WINDOW_DAYS: i64 = 30;

/// How referrals convert and what they earn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRules {
    /// Smallest referee order, in minor units, that converts a referral.
    pub min_order_minor: i64,
    pub referrer_points: i64,
    pub referee_points: i64,
    /// Days rewards are held before they can be spent; 0 grants them at once.
    pub hold_days: i64,
    /// Most attributions one referrer may collect in [`REFERRAL_CAP_WINDOW_DAYS`].
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rules() -> LoyaltyRules {
        LoyaltyRules::new(
            Currency::parse("c", "USD").unwrap(),
            1,
            vec![
                TierRule {
                    tier: Tier("gold".into()),
                    min_spend_minor: 150_000,
                    multiplier_pct: 150,
                },
                TierRule {
                    tier: Tier("bronze".into()),
                    min_spend_minor: 0,
                    multiplier_pct: 100,
                },
                TierRule {
                    tier: Tier("silver".into()),
                    min_spend_minor: 50_000,
                    multiplier_pct: 125,
                },
            ],
            1,
            90,
        )
        .unwrap()
    }

    #[test]
    fn tier_thresholds_are_inclusive() {
        let r = rules();
        assert_eq!(r.tier_for(0).tier.0, "bronze");
        assert_eq!(r.tier_for(49_999).tier.0, "bronze");
        assert_eq!(r.tier_for(50_000).tier.0, "silver");
        assert_eq!(r.tier_for(150_000).tier.0, "gold");
        assert_eq!(r.tier_for(-10).tier.0, "bronze");
    }

    #[test]
    fn points_round_down_and_multiply() {
        let r = rules();
        assert_eq!(r.points_for(12_999, &Tier("bronze".into())), 129);
        assert_eq!(r.points_for(10_000, &Tier("silver".into())), 125);
        assert_eq!(r.points_for(10_000, &Tier("gold".into())), 150);
        assert_eq!(r.points_for(99, &Tier("gold".into())), 1);
        assert_eq!(r.points_for(10_000, &Tier("retired".into())), 100);
    }

    #[test]
    fn rejects_bad_ladders() {
        let usd = Currency::parse("c", "USD").unwrap();
        let t = |n: &str, m| TierRule {
            tier: Tier(n.into()),
            min_spend_minor: m,
            multiplier_pct: 100,
        };
        assert!(LoyaltyRules::new(usd, 1, vec![], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 10)], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 0), t("b", 0)], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 0)], 0, 90).is_err());
    }
}
