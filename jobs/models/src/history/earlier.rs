//! A customer's earlier purchase days folded into one aggregate, as a store that bounds
//! what it keeps per customer hands them over: the first day and its spend, the last
//! folded day, and how many days came after the first with their spend.
//!
//! A summary at a cutoff on or after the folded span's last day needs no more than that,
//! and is exact ([`super::CustomerHistory::summary_at`]). What needs single days inside
//! the span — the gaps between them, activity or a summary at a date inside it — reads
//! its repeat days as evenly spread over the span, each with an equal share of their
//! spend ([`EarlierDays::spread`]).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::PurchaseDay;
use crate::error::ModelError;

/// Purchase days before the ones a history lists, folded together (amounts in major
/// units, like the listed days').
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlierDays {
    /// The customer's first purchase day, and its spend.
    pub first: NaiveDate,
    pub first_amount: f64,
    /// The last folded day: the first when there are no repeat days.
    pub last: NaiveDate,
    /// Folded purchase days after the first, and their spend.
    pub repeat_days: u32,
    pub repeat_amount: f64,
}

impl EarlierDays {
    pub(super) fn first_day(&self) -> i32 {
        self.first.num_days_from_ce()
    }

    pub(super) fn last_day(&self) -> i32 {
        self.last.num_days_from_ce()
    }

    /// Checks the aggregate could come from distinct purchase days; the reason when not.
    pub(super) fn check(&self, customer: &str) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidPurchase {
            customer: customer.to_owned(),
            reason,
        };
        for (name, amount) in [
            ("first amount", self.first_amount),
            ("repeat amount", self.repeat_amount),
        ] {
            if !(amount.is_finite() && amount >= 0.0) {
                return Err(invalid(format!(
                    "earlier days' {name} {amount} is not a finite non-negative number"
                )));
            }
        }
        let span = i64::from(self.last_day() - self.first_day());
        if span < 0 || i64::from(self.repeat_days) > span || (span > 0) != (self.repeat_days > 0) {
            return Err(invalid(format!(
                "{} earlier repeat days do not fit from {} to {}",
                self.repeat_days, self.first, self.last
            )));
        }
        Ok(())
    }

    /// The folded days as single days: the first, then the repeat days evenly spread
    /// after it up to the last, each with an equal share of their spend. Their count,
    /// first, last and total are the aggregate's; the days in between stand in for ones
    /// that are not kept.
    pub fn spread(self) -> impl Iterator<Item = PurchaseDay> {
        let (first, n) = (self.first_day(), i64::from(self.repeat_days));
        let span = i64::from(self.last_day() - first);
        let share = if n == 0 {
            0.0
        } else {
            self.repeat_amount / n as f64
        };
        let repeats = (1..=n).map(move |i| PurchaseDay {
            // At most `span`, which is an `i32` difference.
            day: first + (span * i / n) as i32,
            amount: share,
        });
        std::iter::once(PurchaseDay {
            day: first,
            amount: self.first_amount,
        })
        .chain(repeats)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Activity, CustomerHistory};
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Five years of a purchase every 9 to 16 days, with varying spend.
    fn full() -> Vec<(NaiveDate, f64)> {
        let mut day = date("2019-03-02");
        (0..150)
            .map(|n| {
                day += chrono::Duration::days(9 + (n * 7) % 8);
                (day, 10.0 + (n % 13) as f64 * 2.5)
            })
            .collect()
    }

    /// The same history with the days up to `fold_until` folded.
    fn folded(fold_until: NaiveDate) -> CustomerHistory {
        let days = full();
        let (old, kept): (Vec<_>, Vec<_>) = days.into_iter().partition(|(d, _)| *d <= fold_until);
        let earlier = EarlierDays {
            first: old[0].0,
            first_amount: old[0].1,
            last: old[old.len() - 1].0,
            repeat_days: old.len() as u32 - 1,
            repeat_amount: old[1..].iter().map(|(_, a)| a).sum(),
        };
        CustomerHistory::with_earlier("c", Some(earlier), kept).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(1.0)
    }

    #[test]
    fn summaries_after_the_fold_are_the_full_historys() {
        let whole = CustomerHistory::new("c", full()).unwrap();
        let history = folded(date("2021-06-30"));
        let last = history.earlier().unwrap().last;
        assert!(last <= date("2021-06-30") && last > date("2021-06-01"));
        assert_eq!(history.first_purchase(), whole.first_purchase());
        assert_eq!(history.first_spend(), whole.first_spend());
        let mut cutoff = last;
        while cutoff < date("2025-01-01") {
            let (a, b) = (
                history.summary_at(cutoff).unwrap(),
                whole.summary_at(cutoff).unwrap(),
            );
            assert_eq!(
                (a.frequency, a.recency, a.age),
                (b.frequency, b.recency, b.age)
            );
            assert!(close(a.monetary, b.monetary), "{cutoff}: {a:?} {b:?}");
            // Activity and the next purchase after the fold are the listed days'.
            let until = cutoff + chrono::Duration::days(90);
            let (x, y) = (
                history.activity_between(cutoff, until),
                whole.activity_between(cutoff, until),
            );
            assert_eq!(x.purchase_days, y.purchase_days);
            assert!(close(x.spend, y.spend));
            assert_eq!(
                history.days_to_next_purchase(cutoff, until),
                whole.days_to_next_purchase(cutoff, until)
            );
            // As many gaps, adding up to the same recency; the ones after the fold
            // are the same.
            let (g, h) = (history.gaps_at(cutoff), whole.gaps_at(cutoff));
            assert_eq!(g.len(), h.len());
            assert!(close(g.iter().sum::<f64>(), a.recency));
            let after = g.len()
                - history
                    .purchase_days()
                    .partition_point(|p| p.date() <= Some(cutoff));
            assert_eq!(g[after..], h[after..]);
            cutoff += chrono::Duration::days(11);
        }
    }

    #[test]
    fn inside_the_fold_the_repeat_days_read_as_evenly_spread() {
        let history = folded(date("2021-06-30"));
        let earlier = *history.earlier().unwrap();
        assert_eq!(history.summary_at(date("2019-03-01")), None);
        let at_first = history.summary_at(earlier.first).unwrap();
        assert_eq!((at_first.frequency, at_first.age), (0.0, 0.0));
        // Halfway through the span, about half its repeat days.
        let middle = earlier.first + (earlier.last - earlier.first) / 2;
        let s = history.summary_at(middle).unwrap();
        assert!((s.frequency - f64::from(earlier.repeat_days) / 2.0).abs() <= 1.0);
        assert!(close(
            s.monetary,
            earlier.repeat_amount / f64::from(earlier.repeat_days)
        ));
        assert!(s.recency <= s.age && s.validate().is_ok());
        let whole = history.activity_between(earlier.first, earlier.last);
        assert_eq!(
            whole.purchase_days, earlier.repeat_days,
            "every repeat day falls after the first and on or before the last"
        );
        assert!(close(whole.spend, earlier.repeat_amount));
        let next = history
            .days_to_next_purchase(earlier.first, earlier.last)
            .unwrap();
        let gap = (earlier.last - earlier.first).num_days() / i64::from(earlier.repeat_days);
        assert!(i64::from(next) == gap || i64::from(next) == gap + 1);
        // Activity from inside the span to after it: the rest of the span and the days
        // listed.
        let later = history.activity_between(middle, date("2030-01-01"));
        let listed = history.purchase_days().len() as u32;
        assert_eq!(
            later.purchase_days,
            earlier.repeat_days - s.frequency as u32 + listed
        );
    }

    #[test]
    fn a_fold_of_one_day_or_without_listed_days_is_a_history() {
        let one = EarlierDays {
            first: date("2020-01-01"),
            first_amount: 12.0,
            last: date("2020-01-01"),
            repeat_days: 0,
            repeat_amount: 0.0,
        };
        let history = CustomerHistory::with_earlier("c", Some(one), []).unwrap();
        let s = history.summary_at(date("2020-01-15")).unwrap();
        assert_eq!(
            (s.frequency, s.recency, s.age, s.monetary),
            (0.0, 0.0, 2.0, 0.0)
        );
        assert!(history.gaps_at(date("2021-01-01")).is_empty());
        assert_eq!(
            history.activity_between(date("2019-12-31"), date("2020-01-01")),
            Activity {
                purchase_days: 1,
                spend: 12.0
            }
        );
        assert_eq!(history.first_spend(), Some(12.0));
    }

    #[test]
    fn aggregates_that_cannot_be_are_refused() {
        let earlier = EarlierDays {
            first: date("2020-01-01"),
            first_amount: 12.0,
            last: date("2020-01-05"),
            repeat_days: 4,
            repeat_amount: 8.0,
        };
        assert!(CustomerHistory::with_earlier("c", Some(earlier), []).is_ok());
        let bad = [
            EarlierDays {
                repeat_days: 5,
                ..earlier
            },
            EarlierDays {
                repeat_days: 0,
                ..earlier
            },
            EarlierDays {
                last: date("2019-12-31"),
                ..earlier
            },
            EarlierDays {
                repeat_amount: -1.0,
                ..earlier
            },
        ];
        for e in bad {
            assert!(
                CustomerHistory::with_earlier("c", Some(e), []).is_err(),
                "{e:?}"
            );
        }
        let listed_inside = [(date("2020-01-05"), 1.0)];
        let error = CustomerHistory::with_earlier("c", Some(earlier), listed_inside).unwrap_err();
        assert!(error.to_string().contains("folded"), "{error}");
    }
}
