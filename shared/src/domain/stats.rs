//! The program's figures for the merchant and their accountant, computed by the
//! scheduled job from the customer profiles it reads anyway (never by scanning on
//! request): members by tier, the points outstanding and what they are worth (the
//! liability), points earned and redeemed in the last 30 days, how many members
//! redeemed, and how referrals ended.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{AttributionStatus, Currency, LoyaltyRules, Profile};

/// The window of the activity figures.
pub const STATS_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramStats {
    pub computed_at: DateTime<Utc>,
    /// The program version the figures were computed under.
    pub program_version: u64,
    pub currency: Currency,
    /// Customers with a profile (erased ones included: their points still count).
    pub members: u64,
    /// The ladder's tiers, lowest first, each with its members (0 included).
    #[serde(default)]
    pub tiers: Vec<String>,
    pub members_by_tier: BTreeMap<String, u64>,
    /// Points on balances, and what redeeming them would take off orders.
    pub points_outstanding: i64,
    pub liability_minor: i64,
    /// Points granted but held (return windows); not yet a liability.
    pub points_pending: i64,
    /// Over the last 30 days: points credited, points spent on coupons, and the members
    /// who spent any.
    pub points_earned_30d: i64,
    pub points_redeemed_30d: i64,
    /// Points that lapsed under the program's expiry in the window.
    pub points_expired_30d: i64,
    pub redeemers_30d: u64,
    /// Members with a balance or a redemption in the window who redeemed in it.
    pub redemption_rate: Option<f64>,
    /// Referred customers by how their referral ended.
    pub referrals: BTreeMap<String, u64>,
    /// Converted among referrals that ended (converted, rejected or cancelled).
    pub referral_conversion_rate: Option<f64>,
}

/// Adds up profiles into [`ProgramStats`]; tallies of parts of the customers (scan
/// segments) merge into the tally of all of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsTally {
    stats: ProgramStats,
    point_value_minor: i64,
    /// Members with points or a redemption in the window.
    active: u64,
}

impl StatsTally {
    /// A tally of the program `rules` set (version `program_version`).
    pub fn new(now: DateTime<Utc>, program_version: u64, rules: &LoyaltyRules) -> Self {
        let tiers: Vec<String> = rules.tiers().iter().map(|t| t.tier.0.clone()).collect();
        Self {
            stats: ProgramStats {
                computed_at: now,
                program_version,
                currency: rules.currency,
                members: 0,
                members_by_tier: tiers.iter().map(|t| (t.clone(), 0)).collect(),
                tiers,
                points_outstanding: 0,
                liability_minor: 0,
                points_pending: 0,
                points_earned_30d: 0,
                points_redeemed_30d: 0,
                points_expired_30d: 0,
                redeemers_30d: 0,
                redemption_rate: None,
                referrals: BTreeMap::new(),
                referral_conversion_rate: None,
            },
            point_value_minor: rules.point_value_minor,
            active: 0,
        }
    }

    pub fn add(&mut self, profile: &Profile) {
        let s = &mut self.stats;
        s.members += 1;
        *s.members_by_tier.entry(profile.tier.0.clone()).or_default() += 1;
        s.points_outstanding += profile.points_balance;
        s.points_pending += profile.points_pending;
        let since = (s.computed_at - Duration::days(STATS_WINDOW_DAYS)).date_naive();
        let (earned, redeemed, expired) = profile
            .recent_points
            .range(since..)
            .fold((0, 0, 0), |(e, r, x), (_, day)| {
                (e + day.earned, r + day.redeemed, x + day.expired)
            });
        s.points_earned_30d += earned;
        s.points_redeemed_30d += redeemed;
        s.points_expired_30d += expired;
        if redeemed > 0 {
            s.redeemers_30d += 1;
        }
        if profile.points_balance > 0 || redeemed > 0 {
            self.active += 1;
        }
        if let Some(attribution) = &profile.referred_by {
            let status = match attribution.status {
                AttributionStatus::Pending => "pending",
                AttributionStatus::Converted => "converted",
                AttributionStatus::Cancelled => "cancelled",
                AttributionStatus::Rejected => "rejected",
            };
            *s.referrals.entry(status.to_owned()).or_default() += 1;
        }
    }

    /// Adds `other`'s profiles (a tally under the same program) to this one.
    pub fn merge(&mut self, other: StatsTally) {
        let (s, o) = (&mut self.stats, other.stats);
        s.members += o.members;
        for (tier, n) in o.members_by_tier {
            *s.members_by_tier.entry(tier).or_default() += n;
        }
        s.points_outstanding += o.points_outstanding;
        s.points_pending += o.points_pending;
        s.points_earned_30d += o.points_earned_30d;
        s.points_redeemed_30d += o.points_redeemed_30d;
        s.points_expired_30d += o.points_expired_30d;
        s.redeemers_30d += o.redeemers_30d;
        for (status, n) in o.referrals {
            *s.referrals.entry(status).or_default() += n;
        }
        self.active += other.active;
    }

    pub fn finish(mut self) -> ProgramStats {
        let s = &mut self.stats;
        s.liability_minor = s.points_outstanding.saturating_mul(self.point_value_minor);
        s.redemption_rate = (self.active > 0).then(|| s.redeemers_30d as f64 / self.active as f64);
        let count = |status: &str| s.referrals.get(status).copied().unwrap_or(0);
        let ended = count("converted") + count("rejected") + count("cancelled");
        s.referral_conversion_rate = (ended > 0).then(|| count("converted") as f64 / ended as f64);
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::DayPoints;
    use crate::domain::{CustomerId, Tier};

    #[test]
    fn tallies_of_parts_merge_into_the_tally_of_the_whole() {
        let rules = crate::domain::loyalty::tests::rules();
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop: Vec<Profile> = (0..9)
            .map(|n| {
                let tier = if n % 3 == 0 { "gold" } else { "bronze" };
                let mut p = Profile::new(
                    CustomerId::parse("c", &format!("c{n}")).unwrap(),
                    Tier(tier.into()),
                    "2026-01-01T00:00:00Z".parse().unwrap(),
                );
                p.points_balance = 100 * n;
                let redeemed = if n % 2 == 0 { 50 } else { 0 };
                p.recent_points.insert(
                    "2026-05-20".parse().unwrap(),
                    DayPoints {
                        earned: 10 * n,
                        redeemed,
                        expired: 0,
                    },
                );
                p
            })
            .collect();
        let mut whole = StatsTally::new(now, 3, &rules);
        shop.iter().for_each(|p| whole.add(p));
        let mut merged = StatsTally::new(now, 3, &rules);
        for part in shop.chunks(4) {
            let mut tally = StatsTally::new(now, 3, &rules);
            part.iter().for_each(|p| tally.add(p));
            let stored = serde_json::to_string(&tally).unwrap();
            merged.merge(serde_json::from_str(&stored).unwrap());
        }
        let (whole, merged) = (whole.finish(), merged.finish());
        assert_eq!(merged, whole);
        assert_eq!((whole.members, whole.redeemers_30d), (9, 5));
        assert!(whole.redemption_rate.is_some());
    }
}
