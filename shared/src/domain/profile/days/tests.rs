use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::*;
use crate::domain::loyalty::{Basis, Qualification, TierPerks, Window};
use crate::domain::{Currency, CustomerId, LoyaltyRules, Tier, TierRule};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn plus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap()
}

fn minus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap()
}

fn now() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

fn customer() -> Profile {
    Profile::new(
        CustomerId::parse("c", "c1").unwrap(),
        Tier("bronze".into()),
        now(),
    )
}

/// A profile holding every day as given, never folded: what the figures must match.
fn unfolded(days: &BTreeMap<NaiveDate, i64>) -> Profile {
    let mut p = customer();
    p.purchase_days = days.clone();
    p.net_spend_minor = days.values().sum();
    p.repeat_spend_minor = p.net_spend_minor - days.values().next().copied().unwrap_or(0);
    p
}

/// The days with net spend as the models read them: the first and its spend, how many
/// after it and their spend, and the last.
type Spent = (NaiveDate, i64, usize, i64, NaiveDate);

fn spent_of_all(days: &BTreeMap<NaiveDate, i64>) -> Option<Spent> {
    let with_spend: Vec<(NaiveDate, i64)> = (days.iter())
        .filter(|(_, net)| **net > 0)
        .map(|(d, net)| (*d, *net))
        .collect();
    let (first, last) = (with_spend.first()?, with_spend.last()?);
    let repeats = &with_spend[1..];
    Some((
        first.0,
        first.1,
        repeats.len(),
        repeats.iter().map(|(_, net)| net).sum(),
        last.0,
    ))
}

fn spent_of_folded(p: &Profile) -> Option<Spent> {
    let kept = spent_of_all(&p.purchase_days);
    let Some(span) = p.earlier_days.and_then(|f| f.spent()) else {
        return kept;
    };
    let (count, sum, last) = match kept {
        Some((_, amount, repeats, spend, last)) => (1 + repeats, amount + spend, last),
        None => (0, 0, span.last_day),
    };
    Some((
        span.first_day,
        span.first_minor,
        span.repeat_days as usize + count,
        span.repeat_minor + sum,
        last,
    ))
}

fn ladder(window: Window, grace_days: i64) -> LoyaltyRules {
    let rung = |name: &str, threshold: i64| TierRule {
        tier: Tier(name.into()),
        threshold,
        multiplier_pct: 100,
        perks: TierPerks::default(),
    };
    let qualification = Qualification {
        basis: Basis::Spend,
        window,
        grace_days,
    };
    LoyaltyRules::new(
        Currency::parse("c", "USD").unwrap(),
        1,
        vec![
            rung("bronze", 0),
            rung("silver", 100_000),
            rung("gold", 250_000),
        ],
        1,
        90,
    )
    .unwrap()
    .with_earning(Default::default(), qualification)
}

/// A small, seeded generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn days_fold_once_they_are_more_than_the_kept_days_before_the_latest() {
    let latest = day("2030-06-15");
    let edge = minus(latest, PURCHASE_DAYS_KEPT);
    let mut p = customer();
    p.add_to_day(minus(edge, 1), 50);
    p.add_to_day(edge, 100);
    assert_eq!(p.earlier_days, None, "nothing is old yet");
    p.add_to_day(latest, 10);
    assert_eq!(
        p.purchase_days.keys().copied().collect::<Vec<_>>(),
        [edge, latest]
    );
    assert_eq!(
        p.earlier_days,
        Some(FoldedDays {
            first_day: minus(edge, 1),
            first_minor: 50,
            last_day: minus(edge, 1),
            repeat_days: 0,
            repeat_minor: 0,
            refunded_days: 0,
            first_spent: None,
        })
    );
    // One day later the edge day goes too.
    p.add_to_day(plus(latest, 1), 5);
    assert_eq!(p.purchase_days.len(), 2);
    let folded = p.earlier_days.unwrap();
    assert_eq!(
        (folded.last_day, folded.repeat_days, folded.repeat_minor),
        (edge, 1, 100)
    );
    assert_eq!(p.purchase_day_count(), 4);
    assert_eq!(p.net_spend_minor, 165);
    assert_eq!(p.repeat_spend_minor, 115);
}

/// Purchases and refunds at random, compared with a reference that keeps every day:
/// the profile's figures, the models' view, and the tier and spend-gift answers.
/// `old_refunds`: refunds may take from orders of any age, folded ones included (the
/// models' view is then only compared when no refund reached a folded day).
fn random_history(seed: u64, old_refunds: bool) {
    let mut rng = Rng(seed);
    let mut p = customer();
    let mut all: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    // Orders: (day, total, refunded).
    let mut orders: Vec<(NaiveDate, i64, i64)> = Vec::new();
    let mut cursor = day("2014-01-01");
    let mut refunded_folded = false;
    for step in 0..900 {
        let latest = all.keys().next_back().copied().unwrap_or(cursor);
        if orders.is_empty() || rng.below(10) < 7 {
            cursor = plus(cursor, rng.below(12));
            // One in ten arrives late, up to 40 days.
            let d = if rng.below(10) == 0 {
                minus(cursor, rng.below(40))
            } else {
                cursor
            };
            // Now and then a free order: a day without net spend.
            let total = if rng.below(25) == 0 {
                0
            } else {
                1 + rng.below(9_000) as i64
            };
            orders.push((d, total, 0));
            p.add_to_day(d, total);
            *all.entry(d).or_insert(0) += total;
        } else {
            let candidates: Vec<usize> = (0..orders.len())
                .filter(|&i| orders[i].1 > orders[i].2)
                .filter(|&i| old_refunds || orders[i].0 >= minus(latest, 60))
                .collect();
            let Some(&i) = candidates.get(rng.below(candidates.len().max(1) as u64) as usize)
            else {
                continue;
            };
            let refundable = orders[i].1 - orders[i].2;
            let amount = if rng.below(2) == 0 {
                refundable
            } else {
                1 + rng.below(refundable as u64) as i64
            };
            orders[i].2 += amount;
            let d = orders[i].0;
            refunded_folded |= p.earlier_days.is_some_and(|f| d <= f.last_day);
            p.add_to_day(d, -amount);
            *all.entry(d).or_insert(0) -= amount;
        }

        let reference = unfolded(&all);
        assert_eq!(p.net_spend_minor, reference.net_spend_minor, "step {step}");
        assert_eq!(
            p.repeat_spend_minor, reference.repeat_spend_minor,
            "step {step}"
        );
        assert_eq!(p.purchase_day_count(), all.len(), "step {step}");
        assert!(p.purchase_days.len() as u64 <= PURCHASE_DAYS_KEPT + 1);
        if let Some(f) = p.earlier_days {
            assert_eq!(f.first_day, *all.keys().next().unwrap());
            let kept_from = *p.purchase_days.keys().next().unwrap();
            assert!(f.last_day < kept_from);
            assert_eq!(all.range(kept_from..).count(), p.purchase_days.len());
        }
        if !refunded_folded {
            let (mine, theirs) = (spent_of_folded(&p), spent_of_all(&all));
            let has_kept_spend = p.purchase_days.values().any(|net| *net > 0);
            match (mine, theirs) {
                // Without a kept day with spend, the span's last day stands for its
                // last with spend.
                (Some(m), Some(t)) if !has_kept_spend => {
                    assert_eq!((m.0, m.1, m.2, m.3), (t.0, t.1, t.2, t.3), "step {step}")
                }
                (m, t) => assert_eq!(m, t, "step {step}"),
            }
        }
    }

    // The windows read the same days: every tier and spend-gift answer is unchanged.
    assert!(p.earlier_days.is_some(), "a long history folds");
    let reference = unfolded(&all);
    let latest = *all.keys().next_back().unwrap();
    for window in [
        Window::Rolling12Months,
        Window::CalendarYear,
        Window::Lifetime,
    ] {
        for offset in (0..400).step_by(9) {
            let today = plus(latest, offset);
            let spend = Qualification {
                window,
                ..Qualification::default()
            };
            assert_eq!(
                p.qualifying(&spend, today),
                reference.qualifying(&spend, today),
                "{window:?} on {today}"
            );
            assert_eq!(
                p.spend_in_window(window, today),
                reference.spend_in_window(window, today),
                "{window:?} on {today}"
            );
        }
        // Held above what they reach: the grace looks back a year more.
        let rules = ladder(window, MAX_GRACE_DAYS as i64);
        let (mut folded, mut full) = (p.clone(), reference.clone());
        for offset in (0..400).step_by(37) {
            let today = plus(latest, offset);
            folded.tier = Tier("gold".into());
            full.tier = Tier("gold".into());
            assert_eq!(
                folded.settled_tier(&rules, today).tier,
                full.settled_tier(&rules, today).tier,
                "{window:?} on {today}"
            );
        }
    }
}

#[test]
fn random_purchases_and_recent_refunds_keep_every_figure_exact() {
    for seed in 1..=6 {
        random_history(seed, false);
    }
}

#[test]
fn refunds_of_any_age_keep_the_profiles_figures_exact() {
    for seed in 11..=14 {
        random_history(seed, true);
    }
}

/// Ten years of a purchase every 30 days, the first on 2020-01-01.
fn long_customer() -> Profile {
    let mut p = customer();
    let start = day("2020-01-01");
    for n in 0..122 {
        p.add_to_day(plus(start, 30 * n), 1_000 + n as i64);
    }
    p
}

#[test]
fn a_refund_on_a_folded_day_takes_from_the_right_spend() {
    let mut p = long_customer();
    let before = p.earlier_days.unwrap();
    assert_eq!(before.first_day, day("2020-01-01"));
    p.add_to_day(day("2020-01-01"), -400);
    let after = p.earlier_days.unwrap();
    assert_eq!(after.first_minor, 600);
    assert_eq!(after.repeat_minor, before.repeat_minor);
    assert_eq!(p.repeat_spend_minor, p.net_spend_minor - 600);
    p.add_to_day(day("2020-01-31"), -1_001);
    let after = p.earlier_days.unwrap();
    assert_eq!(after.repeat_minor, before.repeat_minor - 1_001);
    assert_eq!(
        after.repeat_days, before.repeat_days,
        "a refund adds no day"
    );
    assert_eq!(p.purchase_day_count(), 122);
    assert_eq!(p.repeat_spend_minor, p.net_spend_minor - 600);
}

#[test]
fn late_purchases_on_folded_days_fold_in() {
    let mut p = long_customer();
    let before = p.earlier_days.unwrap();
    let net = p.net_spend_minor;
    // Before the first day: the new first, the old first one of the repeats.
    p.add_to_day(day("2019-06-01"), 700);
    let f = p.earlier_days.unwrap();
    assert_eq!((f.first_day, f.first_minor), (day("2019-06-01"), 700));
    assert_eq!(f.repeat_days, before.repeat_days + 1);
    assert_eq!(f.repeat_minor, before.repeat_minor + before.first_minor);
    assert_eq!(p.net_spend_minor, net + 700);
    assert_eq!(p.repeat_spend_minor, p.net_spend_minor - 700);
    assert_eq!(p.purchase_day_count(), 123);
    // A new day inside the span, then one more on its last day.
    p.add_to_day(day("2020-01-15"), 300);
    assert_eq!(p.purchase_day_count(), 124);
    p.add_to_day(f.last_day, 50);
    assert_eq!(
        p.purchase_day_count(),
        124,
        "the last folded day is no new day"
    );
    assert_eq!(p.earlier_days.unwrap().repeat_minor, f.repeat_minor + 350);
    assert_eq!(p.net_spend_minor, net + 1_050);
}

#[test]
fn days_refunded_in_full_count_for_the_profile_but_not_for_the_models() {
    let mut p = customer();
    // The first order refunded in full, then one with spend, one refunded, one with.
    for (d, total, refund) in [
        ("2020-01-01", 500, 500),
        ("2020-02-01", 800, 0),
        ("2020-03-01", 300, 300),
        ("2020-04-01", 200, 50),
    ] {
        p.add_to_day(day(d), total);
        p.add_to_day(day(d), -refund);
    }
    p.add_to_day(day("2025-01-01"), 1_000);
    let f = p.earlier_days.unwrap();
    assert_eq!((f.first_day, f.first_minor), (day("2020-01-01"), 0));
    assert_eq!((f.repeat_days, f.refunded_days), (3, 1));
    assert_eq!(p.purchase_day_count(), 5);
    assert_eq!(p.repeat_spend_minor, 1_950);
    assert_eq!(
        f.spent(),
        Some(SpendSpan {
            first_day: day("2020-02-01"),
            first_minor: 800,
            last_day: day("2020-04-01"),
            repeat_days: 1,
            repeat_minor: 150,
        })
    );
    // A late purchase on the first day gives it spend: it is the models' first again.
    p.add_to_day(day("2020-01-01"), 100);
    let span = p.earlier_days.unwrap().spent().unwrap();
    assert_eq!((span.first_day, span.first_minor), (day("2020-01-01"), 100));
    assert_eq!((span.repeat_days, span.repeat_minor), (2, 950));
}

#[test]
fn a_profile_stored_before_folding_reads_unchanged_and_folds_when_it_next_changes() {
    let mut p = customer();
    for n in 0..200u64 {
        p.purchase_days.insert(plus(day("2018-01-01"), 14 * n), 100);
    }
    p.net_spend_minor = 20_000;
    p.repeat_spend_minor = 19_900;
    let mut stored = serde_json::to_value(&p).unwrap();
    assert!(stored.get("earlier_days").is_none(), "absent, not null");
    stored.as_object_mut().unwrap().remove("earlier_days");
    let read: Profile = serde_json::from_value(stored).unwrap();
    assert_eq!(read, p);

    let mut p = read;
    p.add_to_day(plus(day("2018-01-01"), 14 * 200), 100);
    assert!(p.purchase_days.len() as u64 <= PURCHASE_DAYS_KEPT + 1);
    assert_eq!(p.purchase_day_count(), 201);
    assert_eq!((p.net_spend_minor, p.repeat_spend_minor), (20_100, 20_000));
    let again: Profile = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn a_tier_held_through_its_grace_on_the_year_before_last_is_unchanged_by_folding() {
    // Gold on 2024's spend alone; whether they still hold it years later may depend,
    // through the grace, on the calendar year before last.
    let big = day("2024-01-05");
    for grace in [60, MAX_GRACE_DAYS as i64] {
        let rules = ladder(Window::CalendarYear, grace);
        for gap in (700..1_100).step_by(3) {
            let latest = plus(big, gap);
            let mut p = customer();
            p.add_to_day(big, 300_000);
            p.add_to_day(latest, 10);
            let mut all = BTreeMap::from([(big, 300_000)]);
            all.insert(latest, 10);
            let mut full = unfolded(&all);
            p.tier = Tier("gold".into());
            full.tier = Tier("gold".into());
            for offset in [0, 30, 200] {
                let today = plus(latest, offset);
                assert_eq!(
                    p.settled_tier(&rules, today).tier,
                    full.settled_tier(&rules, today).tier,
                    "grace {grace}, latest {latest}, on {today}"
                );
            }
        }
    }
}
