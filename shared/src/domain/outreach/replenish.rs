//! Replenishment: products customers buy again and again at a steady rhythm (the
//! customers' own intervals between buying a product agree), and the reminder shortly
//! before a customer's own next time — their rhythm when they have one, the shop's
//! otherwise.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::domain::{Profile, Sku};

/// A product's purchases by one customer, as their profile keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuHistory {
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Distinct days it was bought on.
    pub days: u32,
    /// Its name as the latest order gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<crate::domain::ProductName>,
}

impl SkuHistory {
    /// Days between buying it, on average; none before the second time.
    pub fn interval_days(&self) -> Option<f64> {
        (self.days >= 2)
            .then(|| (self.last - self.first).num_days() as f64 / f64::from(self.days - 1))
    }
}

/// Customers who bought a product at least twice, fewest for a rhythm to count.
pub const MIN_REPEAT_BUYERS: usize = 5;
/// Largest spread of the customers' intervals (median absolute deviation over the
/// median) for a rhythm to be steady.
pub const MAX_SPREAD: f64 = 0.5;
/// Days before the due day the reminder may go, and after it.
pub const REMIND_BEFORE_DAYS: i64 = 3;
pub const REMIND_AFTER_DAYS: i64 = 3;

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Each product's intervals between buying it, one per customer who bought it at least
/// twice: what [`rhythms`] are found from, gathered per part of the customers (scan
/// segments) and merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervals(BTreeMap<Sku, Vec<f64>>);

impl Intervals {
    /// The intervals of `profiles`.
    pub fn from_profiles<'a>(profiles: impl Iterator<Item = &'a Profile>) -> Self {
        let mut intervals = Intervals::default();
        for p in profiles {
            for (sku, history) in &p.sku_history {
                if let Some(days) = history.interval_days().filter(|d| *d >= 1.0) {
                    intervals.0.entry(sku.clone()).or_default().push(days);
                }
            }
        }
        intervals
    }

    /// Adds `other`'s customers' intervals.
    pub fn merge(&mut self, other: Intervals) {
        for (sku, days) in other.0 {
            self.0.entry(sku).or_default().extend(days);
        }
    }

    /// The products with a steady rhythm across these customers, with their median
    /// interval in days.
    pub fn rhythms(self) -> BTreeMap<Sku, f64> {
        self.0
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_REPEAT_BUYERS)
            .filter_map(|(sku, mut v)| {
                let m = median(&mut v)?;
                let mut deviations: Vec<f64> = v.iter().map(|d| (d - m).abs()).collect();
                let spread = median(&mut deviations)? / m;
                (spread <= MAX_SPREAD).then_some((sku, m))
            })
            .collect()
    }
}

/// The products with a steady rhythm across the shop, with their median interval in
/// days.
pub fn rhythms<'a>(profiles: impl Iterator<Item = &'a Profile>) -> BTreeMap<Sku, f64> {
    Intervals::from_profiles(profiles).rhythms()
}

/// The product this customer is due to buy again around `today`, and the due day:
/// their own interval once they have bought it three times, the shop's before.
pub fn due(
    profile: &Profile,
    rhythms: &BTreeMap<Sku, f64>,
    today: NaiveDate,
) -> Option<(Sku, NaiveDate)> {
    profile
        .sku_history
        .iter()
        .filter_map(|(sku, history)| {
            let shop = *rhythms.get(sku)?;
            let own = history.interval_days().filter(|_| history.days >= 3);
            let due = history.last + Duration::days(own.unwrap_or(shop).round() as i64);
            let from = due - Duration::days(REMIND_BEFORE_DAYS);
            let until = due + Duration::days(REMIND_AFTER_DAYS);
            (from..=until).contains(&today).then(|| (sku.clone(), due))
        })
        .min_by_key(|(_, due)| *due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, Tier};

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn buyer(id: &str, sku: &str, first: &str, last: &str, days: u32) -> Profile {
        let mut p = Profile::new(
            CustomerId::parse("c", id).unwrap(),
            Tier("bronze".into()),
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        p.sku_history.insert(
            Sku::parse("s", sku).unwrap(),
            SkuHistory {
                first: day(first),
                last: day(last),
                days,
                name: None,
            },
        );
        p
    }

    #[test]
    fn a_steady_rhythm_reminds_before_the_customers_own_due_day() {
        let mut shop: Vec<Profile> = (0..6)
            .map(|n| {
                buyer(
                    &format!("c{n}"),
                    "TEA",
                    "2026-01-01",
                    &format!("2026-04-{:02}", 1 + n),
                    4,
                )
            })
            .collect();
        // A product bought twice by too few, and one bought at all sorts of intervals.
        shop.push(buyer("x1", "KETTLE", "2025-01-01", "2026-01-01", 2));
        for (n, last) in [
            "2026-01-03",
            "2026-06-01",
            "2026-12-01",
            "2026-01-20",
            "2026-09-01",
        ]
        .iter()
        .enumerate()
        {
            shop.push(buyer(&format!("y{n}"), "MUG", "2026-01-01", last, 2));
        }
        let rhythms = rhythms(shop.iter());
        assert_eq!(rhythms.keys().map(Sku::as_str).collect::<Vec<_>>(), ["TEA"]);
        let m = rhythms[&Sku::parse("s", "TEA").unwrap()];
        assert!((30.0..=32.0).contains(&m), "{m}");
        // Bought once on 1 March: the shop's rhythm (31 days), due 1 April.
        let once = buyer("new", "TEA", "2026-03-01", "2026-03-01", 1);
        assert_eq!(due(&once, &rhythms, day("2026-03-20")), None);
        let (sku, on) = due(&once, &rhythms, day("2026-03-29")).unwrap();
        assert_eq!((sku.as_str(), on), ("TEA", day("2026-04-01")));
        assert_eq!(
            due(&once, &rhythms, day("2026-04-05")),
            None,
            "the moment passed"
        );
        // Their own rhythm of a fortnight once they have one.
        let fast = buyer("fast", "TEA", "2026-02-01", "2026-03-01", 3);
        assert!(due(&fast, &rhythms, day("2026-03-15")).is_some());
        assert_eq!(due(&fast, &rhythms, day("2026-03-29")), None);
    }

    #[test]
    fn rhythms_found_from_merged_parts_are_the_rhythms_of_the_whole() {
        let shop: Vec<Profile> = (0..12)
            .map(|n| {
                let sku = if n % 3 == 0 { "MUG" } else { "TEA" };
                let last = format!("2026-0{}-{:02}", 3 + n % 2, 1 + n);
                buyer(&format!("c{n}"), sku, "2026-01-01", &last, 3 + n % 2)
            })
            .collect();
        let whole = rhythms(shop.iter());
        assert!(!whole.is_empty());
        let mut merged = Intervals::default();
        for part in shop.chunks(5) {
            let stored = serde_json::to_string(&Intervals::from_profiles(part.iter())).unwrap();
            merged.merge(serde_json::from_str(&stored).unwrap());
        }
        assert_eq!(merged.rhythms(), whole);
    }
}
