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
use super::{Currency, FieldError, LineItem};

/// A tier name, e.g. `bronze`. Names come from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tier(pub String);

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rung of the tier ladder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierRule {
    pub tier: Tier,
    /// From where the tier holds, in the ladder's basis: net spend in minor units, or
    /// points earned, over the qualification window.
    pub threshold: i64,
    /// Points multiplier in percent (100 = ×1, 150 = ×1.5).
    pub multiplier_pct: i64,
    pub perks: TierPerks,
}

/// What members of a tier get besides the multiplier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPerks {
    /// Birthday points instead of the program's (`messages.birthday.points`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_points: Option<i64>,
    /// Members ship free: shown on the customer's profile for the storefront to apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub free_shipping: bool,
    /// Points given once when a customer first reaches the tier.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub welcome_points: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What a tier's threshold is measured in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Net spend: purchases less refunds, by order date.
    #[default]
    Spend,
    /// Points earned (orders, reviews, referrals, gifts) less points taken back by
    /// refunds; redeeming or expiring points does not lower it.
    Points,
}

/// Over which time the basis is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The 365 days up to today.
    #[default]
    #[serde(rename = "rolling_12_months")]
    Rolling12Months,
    /// This calendar year or the last, whichever is more: a tier reached in a year
    /// holds through the next.
    CalendarYear,
    /// Since the first order: nobody is ever demoted.
    Lifetime,
}

/// How customers qualify for tiers, and how long a tier outlives its qualification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qualification {
    #[serde(default)]
    pub basis: Basis,
    #[serde(default)]
    pub window: Window,
    /// Days a customer keeps a tier after they last qualified for it.
    #[serde(default)]
    pub grace_days: i64,
}

/// How points are rounded from an order's earning basis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Never a point not fully paid for.
    #[default]
    Down,
    Nearest,
    Up,
}

/// What earns points and how they are rounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarningRules {
    pub rounding: Rounding,
    /// Orders below this total (in minor units) earn nothing.
    pub min_order_minor: i64,
    /// SKUs that earn nothing (gift cards, donations): exact, or a prefix ending in `*`.
    pub excluded_skus: Vec<String>,
}

impl EarningRules {
    /// Whether `sku` earns nothing.
    pub fn excludes(&self, sku: &str) -> bool {
        self.excluded_skus
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => sku.starts_with(prefix),
                None => sku == pattern,
            })
    }
}

/// The shop's loyalty programme, checked once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyRules {
    /// The shop's currency; events in another currency are refused rather than
    /// converted at a rate this system does not own.
    pub currency: Currency,
    /// Points per whole currency unit spent, before the tier multiplier.
    pub points_per_unit: i64,
    /// Sorted by `threshold`, the first starting at 0.
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
    pub earning: EarningRules,
    pub qualification: Qualification,
}

impl LoyaltyRules {
    pub fn new(
        currency: Currency,
        points_per_unit: i64,
        mut tiers: Vec<TierRule>,
        point_value_minor: i64,
        coupon_valid_days: i64,
    ) -> Result<Self, FieldError> {
        tiers.sort_by_key(|t| t.threshold);
        let Some(first) = tiers.first() else {
            return Err(FieldError::new("RAPPORT_TIERS", "needs at least one tier"));
        };
        if first.threshold != 0 {
            return Err(FieldError::new(
                "RAPPORT_TIERS",
                "the lowest tier must start at 0 so every customer has a tier",
            ));
        }
        if tiers
            .windows(2)
            .any(|w| w[0].threshold == w[1].threshold || w[0].tier == w[1].tier)
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
            earning: EarningRules::default(),
            qualification: Qualification::default(),
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

    /// The same rules earning and qualifying as given.
    pub fn with_earning(self, earning: EarningRules, qualification: Qualification) -> Self {
        Self {
            earning,
            qualification,
            ..self
        }
    }

    pub fn tiers(&self) -> &[TierRule] {
        &self.tiers
    }

    /// The entry tier every new customer starts in.
    pub fn base_tier(&self) -> &Tier {
        &self.tiers[0].tier
    }

    /// The tier for an amount in the ladder's basis.
    pub fn tier_for(&self, amount: i64) -> &TierRule {
        self.tiers
            .iter()
            .rev()
            .find(|t| amount >= t.threshold)
            .unwrap_or(&self.tiers[0])
    }

    /// The rung of `tier`; none for a tier no longer on the ladder.
    pub fn rung(&self, tier: &Tier) -> Option<&TierRule> {
        self.tiers.iter().find(|t| &t.tier == tier)
    }

    fn multiplier_pct(&self, tier: &Tier) -> i64 {
        // A tier removed from configuration earns like the base tier.
        self.rung(tier).map_or(100, |t| t.multiplier_pct)
    }

    /// Points earned by an order of `amount_minor` placed while in `tier`, rounded as
    /// the program says (down unless it says otherwise).
    pub fn points_for(&self, amount_minor: i64, tier: &Tier) -> i64 {
        let numerator = i128::from(amount_minor)
            * i128::from(self.points_per_unit)
            * i128::from(self.multiplier_pct(tier));
        let denominator = i128::from(self.currency.minor_per_major()) * 100;
        let points = match self.earning.rounding {
            Rounding::Down => numerator.div_euclid(denominator),
            Rounding::Up => (numerator + denominator - 1).div_euclid(denominator),
            Rounding::Nearest => (2 * numerator + denominator).div_euclid(2 * denominator),
        };
        i64::try_from(points).unwrap_or(i64::MAX)
    }

    /// Points an order earns: its total less what excluded SKUs cost, nothing below the
    /// program's minimum order.
    pub fn points_for_order(&self, total_minor: i64, items: &[LineItem], tier: &Tier) -> i64 {
        if total_minor < self.earning.min_order_minor {
            return 0;
        }
        let excluded: i64 = items
            .iter()
            .filter(|i| self.earning.excludes(i.sku.as_str()))
            .map(|i| i64::from(i.quantity).saturating_mul(i.unit_price_minor))
            .fold(0, i64::saturating_add);
        self.points_for((total_minor - excluded).max(0), tier)
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
                    threshold: 150_000,
                    multiplier_pct: 150,
                    ..TierRule::default()
                },
                TierRule {
                    tier: Tier("bronze".into()),
                    threshold: 0,
                    multiplier_pct: 100,
                    ..TierRule::default()
                },
                TierRule {
                    tier: Tier("silver".into()),
                    threshold: 50_000,
                    multiplier_pct: 125,
                    ..TierRule::default()
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
    fn rounding_exclusions_and_the_minimum_order_shape_what_an_order_earns() {
        let bronze = Tier("bronze".into());
        let item = |sku: &str, price: i64| LineItem {
            sku: crate::domain::Sku::parse("sku", sku).unwrap(),
            quantity: 1,
            unit_price_minor: price,
            name: None,
        };
        let with = |rounding, min_order_minor, excluded: &[&str]| {
            rules().with_earning(
                EarningRules {
                    rounding,
                    min_order_minor,
                    excluded_skus: excluded.iter().map(|s| (*s).to_owned()).collect(),
                },
                Qualification::default(),
            )
        };
        let order = [
            item("TEA-1", 1_250),
            item("GIFT-25", 2_500),
            item("DONATE", 100),
        ];
        let plain = with(Rounding::Down, 0, &[]);
        assert_eq!(plain.points_for_order(3_850, &order, &bronze), 38);
        let up = with(Rounding::Up, 0, &[]);
        assert_eq!(up.points_for_order(3_850, &order, &bronze), 39);
        let nearest = with(Rounding::Nearest, 0, &[]);
        assert_eq!(nearest.points_for_order(3_850, &order, &bronze), 39);
        assert_eq!(nearest.points_for(3_849, &bronze), 38);
        // Gift cards by prefix and a donation by SKU earn nothing.
        let excluding = with(Rounding::Down, 0, &["GIFT-*", "DONATE"]);
        assert_eq!(excluding.points_for_order(3_850, &order, &bronze), 12);
        assert!(!excluding.earning.excludes("GIF"));
        let minimum = with(Rounding::Down, 4_000, &[]);
        assert_eq!(minimum.points_for_order(3_850, &order, &bronze), 0);
        assert_eq!(
            minimum.points_for_order(4_000, &[item("TEA-1", 4_000)], &bronze),
            40
        );
    }

    #[test]
    fn rejects_bad_ladders() {
        let usd = Currency::parse("c", "USD").unwrap();
        let t = |n: &str, m| TierRule {
            tier: Tier(n.into()),
            threshold: m,
            multiplier_pct: 100,
            ..TierRule::default()
        };
        assert!(LoyaltyRules::new(usd, 1, vec![], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 10)], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 0), t("b", 0)], 1, 90).is_err());
        assert!(LoyaltyRules::new(usd, 1, vec![t("a", 0)], 0, 90).is_err());
    }
}
