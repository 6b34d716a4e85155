//! The buyers the models are fitted on ([`Buyer`]): every buyer up to a capacity,
//! beyond it the `capacity` buyers whose customer ids hash lowest (a bottom-k sample,
//! [`BuyerSample`]).
//!
//! The hash is SHA-256 of the id, so the sample is a uniform draw that does not depend
//! on the order customers were scanned in, on how the scan was split, or on the order
//! the parts are merged in: the lowest `capacity` of a union are the lowest `capacity`
//! of the parts' lowest `capacity`. Each scan segment keeps at most `capacity` buyers,
//! and so does their merge, however large the shop. A customer stays in the sample from
//! run to run while the shop's size stays the same, so the fit moves with the shop's
//! history, not with the draw.

use chrono::NaiveDate;
use rapport_models::{CustomerHistory, EarlierDays};
use rapport_shared::domain::Profile;
use rapport_shared::domain::profile::SpendSpan;
use serde::{Deserialize, Serialize};

/// A customer's purchases as the models read them: what a scan segment passes on to
/// the fit, in minor units, fully refunded days left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Buyer {
    pub id: String,
    /// Net spend to date (the report's charts, the Pareto share).
    pub net_spend_minor: i64,
    /// The days the profile keeps one by one, those with net spend.
    pub days: Vec<(NaiveDate, i64)>,
    /// The older days the profile folded, those with net spend (`FoldedDays::spent`);
    /// absent for a customer whose history is not that long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<SpendSpan>,
}

impl Buyer {
    /// The buyer `profile` is; `None` for a customer without a purchase that counts.
    pub fn of(profile: &Profile) -> Option<Buyer> {
        let days: Vec<(NaiveDate, i64)> = profile
            .purchase_days
            .iter()
            .filter(|(_, net)| **net > 0)
            .map(|(day, net)| (*day, *net))
            .collect();
        let earlier = profile.earlier_days.and_then(|folded| folded.spent());
        (earlier.is_some() || !days.is_empty()).then(|| Buyer {
            id: profile.customer_id.as_str().to_owned(),
            net_spend_minor: profile.net_spend_minor,
            days,
            earlier,
        })
    }

    /// The buyer's history in major units; `None` if the models would refuse it.
    pub(super) fn history(&self, minor_per_major: f64) -> Option<CustomerHistory> {
        let major = |minor: i64| minor as f64 / minor_per_major;
        let days = (self.days.iter()).map(|(day, net)| (*day, major(*net)));
        let earlier = self.earlier.map(|span| EarlierDays {
            first: span.first_day,
            first_amount: major(span.first_minor),
            last: span.last_day,
            repeat_days: span.repeat_days,
            repeat_amount: major(span.repeat_minor),
        });
        CustomerHistory::with_earlier(&self.id, earlier, days).ok()
    }
}

/// A bottom-k sample of buyers, with how many it was drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuyerSample {
    /// The most buyers it keeps.
    pub capacity: usize,
    /// Buyers it was drawn from: every buyer of the parts merged into it.
    pub seen: usize,
    /// The buyers kept, ordered by their hash.
    pub buyers: Vec<Buyer>,
}

impl BuyerSample {
    /// The sample of at most `capacity` of `buyers`.
    pub fn new(capacity: usize, buyers: impl IntoIterator<Item = Buyer>) -> Self {
        Self::below(capacity, None, buyers)
    }

    /// The sample of at most `capacity` of those of `buyers` whose hash is below
    /// `threshold` (all of them with `None`; see [`threshold`]), drawn from all of them.
    pub fn below(
        capacity: usize,
        threshold: Option<u64>,
        buyers: impl IntoIterator<Item = Buyer>,
    ) -> Self {
        let mut seen = 0;
        let ranked: Vec<(u64, Buyer)> = (buyers.into_iter())
            .inspect(|_| seen += 1)
            .map(|b| (rank(&b.id), b))
            .filter(|(rank, _)| threshold.is_none_or(|t| *rank < t))
            .collect();
        let mut sample = BuyerSample {
            capacity: capacity.max(1),
            seen,
            buyers: Vec::new(),
        };
        sample.keep_lowest_ranked(ranked);
        sample
    }

    /// Adds another part's sample: the result is the sample of both parts' buyers
    /// (with the smaller of the two capacities).
    pub fn merge(&mut self, part: BuyerSample) {
        self.capacity = self.capacity.min(part.capacity);
        self.seen += part.seen;
        let mut buyers = std::mem::take(&mut self.buyers);
        buyers.extend(part.buyers);
        self.keep_lowest(buyers);
    }

    /// Whether it holds every buyer it was drawn from.
    pub fn is_whole(&self) -> bool {
        self.buyers.len() == self.seen
    }

    fn keep_lowest(&mut self, buyers: Vec<Buyer>) {
        self.keep_lowest_ranked(buyers.into_iter().map(|b| (rank(&b.id), b)).collect());
    }

    fn keep_lowest_ranked(&mut self, mut ranked: Vec<(u64, Buyer)>) {
        // Ids are unique among customers; the id breaks a tie of hashes all the same.
        let order =
            |x: &(u64, Buyer), y: &(u64, Buyer)| x.0.cmp(&y.0).then_with(|| x.1.id.cmp(&y.1.id));
        if ranked.len() > self.capacity {
            ranked.select_nth_unstable_by(self.capacity, order);
            ranked.truncate(self.capacity);
        }
        ranked.sort_unstable_by(order);
        self.buyers = ranked.into_iter().map(|(_, b)| b).collect();
    }
}

/// How many times a sample's capacity a run's [`threshold`] lets through, reckoned on
/// the buyers of the run before: room for the shop to grow by half between two runs
/// before its sample holds fewer than the capacity.
pub const THRESHOLD_MARGIN: f64 = 1.5;

/// The hash below which a run's segments keep buyers, so that what they store and the
/// fit reads stays near the sample's size, not each segment's: `None` (keep up to the
/// capacity) when the shop had no more than [`THRESHOLD_MARGIN`] × `capacity` buyers
/// at its last run, or no run is on record. The run's plan fixes it, so every segment
/// keeps by the same rule and the sample is still the same however the scan is split.
pub fn threshold(capacity: usize, buyers_last_run: Option<usize>) -> Option<u64> {
    let share = THRESHOLD_MARGIN * capacity.max(1) as f64 / buyers_last_run? as f64;
    (share < 1.0).then_some((share * u64::MAX as f64) as u64)
}

/// Where a customer id falls in the draw, as the models' own fit sample draws
/// (`rapport-score score --transactions --fit-sample`).
fn rank(id: &str) -> u64 {
    rapport_models::history::sample_rank(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(n: usize) -> Buyer {
        let day =
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(n as i64 % 300);
        Buyer {
            id: format!("c{n}"),
            net_spend_minor: 1_000 + n as i64,
            days: vec![(day, 1_000 + n as i64)],
            earlier: None,
        }
    }

    #[test]
    fn the_jobs_draw_and_default_size_are_the_models_own() {
        // `rapport-score score --transactions` fits a large shop on the same customers.
        assert_eq!(
            rapport_shared::config::DEFAULT_FIT_SAMPLE,
            rapport_models::shop::DEFAULT_FIT_SAMPLE
        );
        let all: Vec<Buyer> = (0..500).map(buyer).collect();
        let sample = BuyerSample::new(50, all.clone());
        let histories = all.iter().map(|b| {
            rapport_models::CustomerHistory::new(b.id.clone(), [(b.days[0].0, 1.0)]).unwrap()
        });
        let drawn = rapport_models::Transactions::new(histories.collect()).sample(50);
        let mut kept = ids(&sample);
        kept.sort_unstable();
        let mut models: Vec<&str> = drawn.customers().iter().map(|c| c.id()).collect();
        models.sort_unstable();
        assert_eq!(kept, models);
    }

    fn ids(sample: &BuyerSample) -> Vec<&str> {
        sample.buyers.iter().map(|b| b.id.as_str()).collect()
    }

    #[test]
    fn the_sample_is_the_same_however_the_buyers_are_split_and_merged() {
        let all: Vec<Buyer> = (0..1_000).map(buyer).collect();
        let whole = BuyerSample::new(100, all.clone());
        assert_eq!((whole.seen, whole.buyers.len()), (1_000, 100));
        assert!(!whole.is_whole());
        for parts in [2, 3, 8, 1_000] {
            // Parts as a scan's segments would give them, merged in reverse.
            let mut samples: Vec<BuyerSample> = (0..parts)
                .map(|p| {
                    BuyerSample::new(
                        100,
                        all.iter()
                            .filter(|b| rank(&b.id) % parts as u64 == p as u64)
                            .cloned(),
                    )
                })
                .collect();
            assert!(samples.iter().all(|s| s.buyers.len() <= 100));
            let mut merged = samples.pop().unwrap();
            while let Some(part) = samples.pop() {
                merged.merge(part);
            }
            assert_eq!(merged, whole, "{parts} parts");
        }
        // The kept buyers are those whose ids hash lowest, whole.
        let mut ranks: Vec<(u64, &str)> =
            all.iter().map(|b| (rank(&b.id), b.id.as_str())).collect();
        ranks.sort();
        let lowest: Vec<&str> = ranks[..100].iter().map(|r| r.1).collect();
        assert_eq!(ids(&whole), lowest);
        assert_eq!(
            whole.buyers[0],
            all[whole.buyers[0].id[1..].parse::<usize>().unwrap()]
        );
    }

    #[test]
    fn a_shop_within_the_capacity_is_kept_whole_and_a_sample_is_spread_evenly() {
        let small = BuyerSample::new(500, (0..300).map(buyer));
        assert!(small.is_whole());
        assert_eq!(small.buyers.len(), 300);
        // A tenth of 20,000 buyers: each fifth of the ids (by number) holds close to a
        // fifth of the sample, as a uniform draw would (the expected 400 ± 4 sd).
        let sample = BuyerSample::new(2_000, (0..20_000).map(buyer));
        let mut fifths = [0usize; 5];
        for b in &sample.buyers {
            fifths[b.id[1..].parse::<usize>().unwrap() / 4_000] += 1;
        }
        assert!(
            fifths.iter().all(|&n| (320..=480).contains(&n)),
            "{fifths:?}"
        );
        // Merging a sample of a smaller capacity keeps to it.
        let mut a = BuyerSample::new(50, (0..200).map(buyer));
        a.merge(BuyerSample::new(10, (200..400).map(buyer)));
        assert_eq!((a.capacity, a.seen, a.buyers.len()), (10, 400, 10));
        assert_eq!(a, BuyerSample::new(10, (0..400).map(buyer)));
    }

    #[test]
    fn a_threshold_from_the_last_run_keeps_fewer_per_part_and_the_same_sample() {
        assert_eq!(threshold(100, None), None);
        // Up to one and a half times the capacity, each part keeps up to the capacity.
        assert_eq!(threshold(100, Some(150)), None);
        let below = threshold(100, Some(1_000));
        let share = below.unwrap() as f64 / u64::MAX as f64;
        assert!((share - 0.15).abs() < 1e-9, "{share}");

        let all: Vec<Buyer> = (0..1_000).map(buyer).collect();
        let whole = BuyerSample::new(100, all.clone());
        let kept = BuyerSample::below(100, below, all.clone());
        assert_eq!(
            kept, whole,
            "150 expected below the threshold, the lowest 100 of them"
        );
        for parts in [4, 10] {
            let samples: Vec<BuyerSample> = (0..parts)
                .map(|p| {
                    let part = all.iter().skip(p).step_by(parts).cloned();
                    BuyerSample::below(100, below, part)
                })
                .collect();
            // Each part keeps only what is below the threshold: about 150 / parts.
            let stored: usize = samples.iter().map(|s| s.buyers.len()).sum();
            assert!(
                (100..=200).contains(&stored),
                "{stored} kept in {parts} parts"
            );
            let mut merged = samples.into_iter().reduce(|mut a, b| {
                a.merge(b);
                a
            });
            assert_eq!(merged.take(), Some(whole.clone()));
        }
        // A shop that shrank keeps fewer than the capacity, drawn from every buyer.
        let shrunk = BuyerSample::below(100, threshold(100, Some(5_000)), all);
        assert!(shrunk.buyers.len() < 100 && shrunk.seen == 1_000);
        assert!(!shrunk.is_whole());
    }
}
