//! Which tier a customer holds: the amount they qualify with (spend or points, over a
//! rolling year, this calendar year or the last, or their lifetime), promotion as soon
//! as they reach a rung, demotion only once the grace period since they last qualified
//! for their tier has passed, and the tier's welcome points the first time they reach it.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};

use super::loyalty::{Basis, Qualification, Window};
use super::{LedgerEntry, LedgerReason, LoyaltyRules, Profile, TierRule};

/// Days of earned points a profile keeps: enough for a rolling year and for this
/// calendar year and the last, seen from any day of the longest grace (as purchase
/// days, `profile::days::PURCHASE_DAYS_KEPT`).
const EARNED_DAYS_KEPT: u64 = 2 * 366 + super::profile::MAX_GRACE_DAYS;

impl Profile {
    /// Notes points the customer earned (orders, reviews, referrals; a refund takes
    /// its share back) on `day`, for a ladder on points.
    pub(crate) fn note_earned(&mut self, day: NaiveDate, points: i64) {
        *self.earned_days.entry(day).or_insert(0) += points;
        self.earned_points += points;
        if let Some(oldest) = day.checked_sub_days(Days::new(EARNED_DAYS_KEPT)) {
            self.earned_days.retain(|d, _| *d > oldest);
        }
    }

    /// What the customer qualifies with on `as_of` under `rule`.
    pub fn qualifying(&self, rule: &Qualification, as_of: NaiveDate) -> i64 {
        let days = match rule.basis {
            Basis::Spend => &self.purchase_days,
            Basis::Points => &self.earned_days,
        };
        let between = |from: NaiveDate, to: NaiveDate| -> i64 {
            days.range(from..=to).map(|(_, v)| *v).sum()
        };
        match rule.window {
            Window::Lifetime => match rule.basis {
                Basis::Spend => self.net_spend_minor,
                Basis::Points => self.earned_points,
            },
            Window::Rolling12Months => between(
                as_of
                    .checked_sub_days(Days::new(super::profile::TIER_WINDOW_DAYS - 1))
                    .unwrap_or(NaiveDate::MIN),
                as_of,
            ),
            Window::CalendarYear => {
                let year = |y: i32| match (
                    NaiveDate::from_ymd_opt(y, 1, 1),
                    NaiveDate::from_ymd_opt(y, 12, 31),
                ) {
                    (Some(from), Some(to)) => between(from, to.min(as_of)),
                    _ => 0,
                };
                year(as_of.year()).max(year(as_of.year() - 1))
            }
        }
    }

    /// Brings the tier up to date on `as_of` (the day the decision is about) under
    /// `rules`; the welcome points of a tier reached for the first time, if it gives any.
    /// The rung the customer holds on `as_of`: the one they reach, or above it the one
    /// they hold while the grace since they last qualified for it lasts.
    pub fn settled_tier<'r>(&self, rules: &'r LoyaltyRules, as_of: NaiveDate) -> &'r TierRule {
        let rule = &rules.qualification;
        let tiers = rules.tiers();
        let rank = |name: &super::Tier| tiers.iter().position(|t| &t.tier == name);
        let reached = rules.tier_for(self.qualifying(rule, as_of));
        match rank(&self.tier) {
            // Below the tier held: it holds while they qualified for it in the grace.
            Some(held) if rank(&reached.tier).is_some_and(|r| r < held) => {
                let best_in_grace = (1..=rule.grace_days.max(0) as u64)
                    .filter_map(|back| as_of.checked_sub_days(Days::new(back)))
                    .filter_map(|day| rank(&rules.tier_for(self.qualifying(rule, day)).tier))
                    .max()
                    .unwrap_or(0);
                &tiers[best_in_grace.clamp(rank(&reached.tier).unwrap_or(0), held)]
            }
            _ => reached,
        }
    }

    /// Moves the customer to their [`Self::settled_tier`]; the welcome points of a tier
    /// reached for the first time, if it gives any.
    pub fn settle_tier(
        &mut self,
        rules: &LoyaltyRules,
        as_of: NaiveDate,
        source: &str,
        now: DateTime<Utc>,
    ) -> Option<LedgerEntry> {
        let rank = |name: &super::Tier| rules.tiers().iter().position(|t| &t.tier == name);
        let next = self.settled_tier(rules, as_of);
        if next.tier == self.tier {
            return None;
        }
        let promoted = rank(&next.tier) > rank(&self.tier);
        self.tier = next.tier.clone();
        self.tier_changed_at = Some(now);
        let welcome = next.perks.welcome_points;
        if !promoted || welcome <= 0 || !self.tiers_welcomed.insert(next.tier.clone()) {
            return None;
        }
        Some(self.post(
            welcome,
            LedgerReason::Reward,
            format!("tier:{}", next.tier),
            source.to_owned(),
            now,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::loyalty::TierPerks;
    use crate::domain::{Currency, CustomerId, Tier, TierRule};

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn ladder(qualification: Qualification) -> LoyaltyRules {
        let rung = |name: &str, threshold: i64, welcome_points: i64| TierRule {
            tier: Tier(name.into()),
            threshold,
            multiplier_pct: 100,
            perks: TierPerks {
                welcome_points,
                ..TierPerks::default()
            },
        };
        LoyaltyRules::new(
            Currency::parse("c", "USD").unwrap(),
            1,
            vec![
                rung("bronze", 0, 0),
                rung("silver", 500, 50),
                rung("gold", 1_000, 200),
            ],
            1,
            90,
        )
        .unwrap()
        .with_earning(Default::default(), qualification)
    }

    fn customer() -> Profile {
        Profile::new(
            CustomerId::parse("c", "asha").unwrap(),
            Tier("bronze".into()),
            "2024-01-01T00:00:00Z".parse().unwrap(),
        )
    }

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn windows_count_a_rolling_year_the_better_of_two_calendar_years_or_everything() {
        let mut p = customer();
        p.add_to_day(day("2025-03-01"), 800);
        p.add_to_day(day("2026-02-01"), 300);
        let spend = |window| Qualification {
            window,
            ..Qualification::default()
        };
        assert_eq!(
            p.qualifying(&spend(Window::Rolling12Months), day("2026-06-01")),
            300
        );
        assert_eq!(
            p.qualifying(&spend(Window::CalendarYear), day("2026-06-01")),
            800
        );
        assert_eq!(
            p.qualifying(&spend(Window::CalendarYear), day("2027-06-01")),
            300
        );
        assert_eq!(
            p.qualifying(&spend(Window::CalendarYear), day("2028-01-01")),
            0
        );
        assert_eq!(
            p.qualifying(&spend(Window::Lifetime), day("2030-01-01")),
            1_100
        );
        p.note_earned(day("2026-05-01"), 120);
        p.note_earned(day("2026-05-02"), -20);
        let points = Qualification {
            basis: Basis::Points,
            ..Qualification::default()
        };
        assert_eq!(p.qualifying(&points, day("2026-06-01")), 100);
    }

    #[test]
    fn promotion_is_at_once_with_its_welcome_once_and_demotion_waits_for_the_grace() {
        let rules = ladder(Qualification {
            grace_days: 30,
            ..Qualification::default()
        });
        let mut p = customer();
        p.add_to_day(day("2025-06-10"), 1_200);
        let welcome = p
            .settle_tier(&rules, day("2025-06-10"), "e1", now())
            .unwrap();
        assert_eq!((p.tier.0.as_str(), welcome.delta), ("gold", 200));
        // The order leaves the rolling year on 2026-06-10; gold holds for 30 days more.
        assert_eq!(p.settle_tier(&rules, day("2026-06-10"), "job", now()), None);
        assert_eq!(p.tier.0, "gold");
        assert_eq!(p.settle_tier(&rules, day("2026-07-09"), "job", now()), None);
        assert_eq!(p.tier.0, "gold", "29 days after the last day it qualified");
        assert_eq!(p.settle_tier(&rules, day("2026-07-10"), "job", now()), None);
        assert_eq!(p.tier.0, "bronze");
        // Back to gold: no second welcome.
        p.add_to_day(day("2026-07-11"), 1_000);
        assert_eq!(p.settle_tier(&rules, day("2026-07-11"), "e2", now()), None);
        assert_eq!(p.tier.0, "gold");
        assert_eq!(p.points_balance, 200);
    }

    #[test]
    fn a_points_tier_held_through_its_grace_on_the_year_before_last_keeps_its_points() {
        // Gold on points earned early in 2024 alone, then a few points now and then:
        // whether gold still holds may depend, through the grace, on the calendar year
        // before last, so those points must still be there.
        let big = day("2024-01-05");
        let grace = super::super::profile::MAX_GRACE_DAYS as i64;
        let rules = ladder(Qualification {
            basis: Basis::Points,
            window: Window::CalendarYear,
            grace_days: grace,
        });
        for gap in (700..1_100).step_by(7) {
            let latest = big + chrono::Duration::days(gap);
            let mut p = customer();
            p.note_earned(big, 1_500);
            p.note_earned(latest, 10);
            let mut full = customer();
            full.earned_days = [(big, 1_500), (latest, 10)].into();
            full.earned_points = 1_510;
            p.tier = Tier("gold".into());
            full.tier = Tier("gold".into());
            for offset in [0, 30, 200] {
                let today = latest + chrono::Duration::days(offset);
                assert_eq!(
                    p.settled_tier(&rules, today).tier,
                    full.settled_tier(&rules, today).tier,
                    "latest {latest}, on {today}"
                );
            }
        }
    }

    #[test]
    fn a_lifetime_ladder_never_demotes() {
        let rules = ladder(Qualification {
            window: Window::Lifetime,
            ..Qualification::default()
        });
        let mut p = customer();
        p.add_to_day(day("2020-01-01"), 600);
        p.settle_tier(&rules, day("2020-01-01"), "e1", now());
        assert_eq!(p.settle_tier(&rules, day("2030-01-01"), "job", now()), None);
        assert_eq!(p.tier.0, "silver");
    }
}
