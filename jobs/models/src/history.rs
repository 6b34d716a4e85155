//! Purchase histories and the RFM summaries the models read.
//!
//! Purchases are bucketed by calendar day: several orders on one day are one purchase
//! with the amounts summed, because the models count purchase occasions, and a split
//! basket is not a second visit. Time is measured in weeks.
//!
//! A history may start with its oldest days folded into one aggregate ([`EarlierDays`]),
//! as a store that bounds what it keeps per customer hands them over; see
//! [`CustomerHistory::with_earlier`] for what is exact then.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

mod earlier;
mod sample;

pub use earlier::EarlierDays;
pub use sample::sample_rank;

pub const DAYS_PER_WEEK: f64 = 7.0;

/// What the models know about one customer at a cutoff, in lifetimes' convention.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmSummary {
    /// `x`: purchase days after the first one (repeat purchases).
    pub frequency: f64,
    /// `t_x`: weeks from the first to the last purchase day.
    pub recency: f64,
    /// `T`: weeks from the first purchase day to the cutoff.
    #[serde(rename = "T")]
    pub age: f64,
    /// Mean spend per repeat purchase day (the first purchase excluded); 0 without repeats.
    #[serde(rename = "monetary_value")]
    pub monetary: f64,
}

impl RfmSummary {
    pub fn new(frequency: f64, recency: f64, age: f64, monetary: f64) -> Self {
        RfmSummary {
            frequency,
            recency,
            age,
            monetary,
        }
    }

    /// Weeks since the last purchase day.
    pub fn weeks_since_last_purchase(&self) -> f64 {
        self.age - self.recency
    }

    /// Checks the summary could come from a purchase history; the reason when not.
    pub fn validate(&self) -> Result<(), String> {
        let RfmSummary {
            frequency,
            recency,
            age,
            monetary,
        } = *self;
        let finite_non_negative = |name: &str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be a finite non-negative number, got {value}"
                ))
            }
        };
        finite_non_negative("frequency", frequency)?;
        finite_non_negative("recency", recency)?;
        finite_non_negative("T", age)?;
        finite_non_negative("monetary_value", monetary)?;
        if frequency.fract() != 0.0 {
            return Err(format!(
                "frequency counts purchases and must be whole, got {frequency}"
            ));
        }
        // A little slack: exports often round recency and T independently.
        if recency > age + 1e-6 {
            return Err(format!("recency {recency} is after the cutoff (T = {age})"));
        }
        if frequency == 0.0 && recency != 0.0 {
            return Err(format!(
                "recency must be 0 without repeat purchases, got {recency}"
            ));
        }
        Ok(())
    }
}

/// Checks every summary, naming the first bad one.
pub(crate) fn validate_all(summaries: &[RfmSummary]) -> Result<(), ModelError> {
    match summaries
        .par_iter()
        .position_first(|s| s.validate().is_err())
    {
        None => Ok(()),
        Some(index) => Err(ModelError::InvalidSummary {
            index,
            reason: summaries[index].validate().err().unwrap_or_default(),
        }),
    }
}

/// One purchase day of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PurchaseDay {
    /// Days since 0001-01-01 (chrono's `num_days_from_ce`), kept as an integer so window
    /// arithmetic is exact.
    pub day: i32,
    /// Total spend that day.
    pub amount: f64,
}

impl PurchaseDay {
    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(self.day)
    }
}

/// Purchases and spend inside a window of days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub purchase_days: u32,
    pub spend: f64,
}

/// One customer's purchases, bucketed by day and sorted, the oldest possibly folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerHistory {
    id: String,
    /// Days before the listed ones, folded together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    earlier: Option<EarlierDays>,
    /// The days listed one by one, all after the folded ones.
    days: Vec<PurchaseDay>,
}

/// The summary of a customer first buying on `first`, last on `last`, with `repeats`
/// purchase days after the first that spent `repeat_spend`, at the end of `cutoff`.
fn summary(first: i32, last: i32, cutoff: i32, repeats: usize, repeat_spend: f64) -> RfmSummary {
    RfmSummary {
        frequency: repeats as f64,
        recency: f64::from(last - first) / DAYS_PER_WEEK,
        age: f64::from(cutoff - first) / DAYS_PER_WEEK,
        monetary: if repeats == 0 {
            0.0
        } else {
            repeat_spend / repeats as f64
        },
    }
}

/// The summary of the days `seen` (sorted) at the end of `cutoff`.
fn summary_of(seen: &[PurchaseDay], cutoff: i32) -> Option<RfmSummary> {
    let (first, last) = (seen.first()?, seen.last()?);
    let repeats = &seen[1..];
    let spend = repeats.iter().map(|p| p.amount).sum();
    Some(summary(first.day, last.day, cutoff, repeats.len(), spend))
}

impl CustomerHistory {
    /// Buckets `purchases` (date, amount) by day. Amounts must be finite and not
    /// negative: refunds belong netted into the day they refund.
    pub fn new(
        id: impl Into<String>,
        purchases: impl IntoIterator<Item = (NaiveDate, f64)>,
    ) -> Result<Self, ModelError> {
        let id = id.into();
        let mut days = Vec::new();
        for (date, amount) in purchases {
            if !(amount.is_finite() && amount >= 0.0) {
                return Err(ModelError::InvalidPurchase {
                    customer: id,
                    reason: format!(
                        "amount {amount} on {date} is not a finite non-negative number"
                    ),
                });
            }
            days.push(PurchaseDay {
                day: date.num_days_from_ce(),
                amount,
            });
        }
        days.sort_unstable_by_key(|p| p.day);
        days.dedup_by(|later, earlier| {
            let same_day = later.day == earlier.day;
            if same_day {
                earlier.amount += later.amount;
            }
            same_day
        });
        Ok(CustomerHistory {
            id,
            earlier: None,
            days,
        })
    }

    /// A history whose days before `purchases` are folded into `earlier`; `purchases`
    /// are bucketed as by [`Self::new`] and must all come after `earlier.last`.
    ///
    /// [`Self::summary_at`] is exact at every cutoff on or after the folded span's last
    /// day, and so are [`Self::first_purchase`] and [`Self::first_spend`]. Whatever
    /// needs single days inside the span reads its repeat days as evenly spread over it
    /// ([`EarlierDays::spread`]): a summary at a cutoff inside it, the gaps inside it
    /// ([`Self::gaps_at`]: still `x` gaps summing to `t_x`), activity and the next
    /// purchase after a date inside it. [`Self::purchase_days`] lists only the days
    /// after it.
    pub fn with_earlier(
        id: impl Into<String>,
        earlier: Option<EarlierDays>,
        purchases: impl IntoIterator<Item = (NaiveDate, f64)>,
    ) -> Result<Self, ModelError> {
        let mut history = Self::new(id, purchases)?;
        if let Some(earlier) = earlier {
            earlier.check(&history.id)?;
            if let Some(inside) = (history.days.first()).filter(|p| p.day <= earlier.last_day()) {
                return Err(ModelError::InvalidPurchase {
                    customer: history.id,
                    reason: format!(
                        "a purchase listed on {} is not after the folded days (to {})",
                        inside
                            .date()
                            .map_or_else(|| inside.day.to_string(), |d| d.to_string()),
                        earlier.last
                    ),
                });
            }
            history.earlier = Some(earlier);
        }
        Ok(history)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The purchase days listed one by one: all of them, or with a folded span
    /// ([`Self::earlier`]) those after it.
    pub fn purchase_days(&self) -> &[PurchaseDay] {
        &self.days
    }

    /// The purchase days folded before the listed ones, if any.
    pub fn earlier(&self) -> Option<&EarlierDays> {
        self.earlier.as_ref()
    }

    pub fn first_purchase(&self) -> Option<NaiveDate> {
        match &self.earlier {
            Some(earlier) => Some(earlier.first),
            None => self.days.first().and_then(PurchaseDay::date),
        }
    }

    /// Spend on the first purchase day.
    pub fn first_spend(&self) -> Option<f64> {
        match &self.earlier {
            Some(earlier) => Some(earlier.first_amount),
            None => self.days.first().map(|p| p.amount),
        }
    }

    /// Every purchase day, the folded ones as [`EarlierDays::spread`] gives them.
    fn all_days(&self) -> impl Iterator<Item = PurchaseDay> + '_ {
        (self.earlier.into_iter().flat_map(EarlierDays::spread)).chain(self.days.iter().copied())
    }

    /// The listed days up to the end of `cutoff`.
    fn listed_until(&self, cutoff: i32) -> &[PurchaseDay] {
        &self.days[..self.days.partition_point(|p| p.day <= cutoff)]
    }

    /// The summary at the end of `cutoff` (purchases on the cutoff day count), or `None`
    /// if the customer had not bought by then.
    pub fn summary_at(&self, cutoff: NaiveDate) -> Option<RfmSummary> {
        let cutoff = cutoff.num_days_from_ce();
        match &self.earlier {
            None => summary_of(self.listed_until(cutoff), cutoff),
            Some(earlier) if cutoff >= earlier.last_day() => {
                let seen = self.listed_until(cutoff);
                let last = seen.last().map_or(earlier.last_day(), |p| p.day);
                let repeats = earlier.repeat_days as usize + seen.len();
                let spend = earlier.repeat_amount + seen.iter().map(|p| p.amount).sum::<f64>();
                Some(summary(earlier.first_day(), last, cutoff, repeats, spend))
            }
            Some(earlier) => {
                let seen: Vec<PurchaseDay> =
                    (earlier.spread()).take_while(|p| p.day <= cutoff).collect();
                summary_of(&seen, cutoff)
            }
        }
    }

    /// Weeks between consecutive purchase days up to the end of `cutoff`, oldest first:
    /// `x` gaps summing to `t_x`; empty for a one-time buyer. Inside a folded span the
    /// gaps are those of its days evenly spread.
    pub fn gaps_at(&self, cutoff: NaiveDate) -> Vec<f64> {
        let cutoff = cutoff.num_days_from_ce();
        let seen = self
            .all_days()
            .take_while(|p| p.day <= cutoff)
            .map(|p| p.day);
        let mut gaps = Vec::new();
        let mut previous = None;
        for day in seen {
            if let Some(previous) = previous {
                gaps.push(f64::from(day - previous) / DAYS_PER_WEEK);
            }
            previous = Some(day);
        }
        gaps
    }

    /// The repeat purchase days up to the end of `cutoff` and the weeks observed, each
    /// weighted by `e^(−age/memory)` (age in weeks before `cutoff`): `(Σ e^(−aⱼ/τ),
    /// τ·(1 − e^(−T/τ)))` for repeat days `j` and customer age `T`; `None` if the
    /// customer had not bought by then. With an infinite memory it is `(x, T)`. Inside a
    /// folded span the days are taken as evenly spread.
    pub fn recent_repeat_days(&self, cutoff: NaiveDate, memory_weeks: f64) -> Option<(f64, f64)> {
        let first = self.first_purchase()?;
        let cutoff_day = cutoff.num_days_from_ce();
        let age = f64::from(cutoff_day - first.num_days_from_ce()) / DAYS_PER_WEEK;
        if age < 0.0 {
            return None;
        }
        let weight = |day: i32| (-f64::from(cutoff_day - day) / DAYS_PER_WEEK / memory_weeks).exp();
        let repeats: f64 = self
            .all_days()
            .skip(1)
            .take_while(|p| p.day <= cutoff_day)
            .map(|p| weight(p.day))
            .sum();
        let exposure = if memory_weeks.is_finite() {
            -memory_weeks * (-age / memory_weeks).exp_m1()
        } else {
            age
        };
        Some((repeats, exposure))
    }

    /// Days from the end of `after` to the first purchase day after it, up to the end of
    /// `until` (at least 1); `None` without a purchase in that window. After a date
    /// inside a folded span, its days are taken as evenly spread.
    pub fn days_to_next_purchase(&self, after: NaiveDate, until: NaiveDate) -> Option<u32> {
        let (after, until) = (after.num_days_from_ce(), until.num_days_from_ce());
        let next = match &self.earlier {
            Some(earlier) if after < earlier.last_day() => {
                earlier.spread().find(|p| p.day > after)?
            }
            _ => *self
                .days
                .get(self.days.partition_point(|p| p.day <= after))?,
        };
        (next.day <= until).then(|| (next.day - after).unsigned_abs())
    }

    /// Purchase days and spend after the end of `after` up to the end of `until`. From a
    /// date inside a folded span, its days are taken as evenly spread.
    pub fn activity_between(&self, after: NaiveDate, until: NaiveDate) -> Activity {
        let (after, until) = (after.num_days_from_ce(), until.num_days_from_ce());
        let start = self.days.partition_point(|p| p.day <= after);
        let end = self.days.partition_point(|p| p.day <= until);
        let window = &self.days[start..end.max(start)];
        let mut activity = Activity {
            purchase_days: window.len() as u32,
            spend: window.iter().map(|p| p.amount).sum(),
        };
        if let Some(earlier) = self.earlier.filter(|e| after < e.last_day()) {
            for p in earlier.spread().filter(|p| p.day > after && p.day <= until) {
                activity.purchase_days += 1;
                activity.spend += p.amount;
            }
        }
        activity
    }
}

/// A shop's purchase histories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transactions {
    customers: Vec<CustomerHistory>,
}

impl Transactions {
    pub fn new(customers: Vec<CustomerHistory>) -> Self {
        Transactions { customers }
    }

    /// Groups (customer id, date, amount) rows by customer, keeping the order in which
    /// customers first appear.
    pub fn from_purchases<I, S>(rows: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = (S, NaiveDate, f64)>,
        S: AsRef<str>,
    {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut grouped: Vec<(String, Vec<(NaiveDate, f64)>)> = Vec::new();
        for (id, date, amount) in rows {
            let id = id.as_ref();
            let slot = match index.get(id) {
                Some(&slot) => slot,
                None => {
                    index.insert(id.to_owned(), grouped.len());
                    grouped.push((id.to_owned(), Vec::new()));
                    grouped.len() - 1
                }
            };
            grouped[slot].1.push((date, amount));
        }
        let customers = grouped
            .into_iter()
            .map(|(id, purchases)| CustomerHistory::new(id, purchases))
            .collect::<Result<_, _>>()?;
        Ok(Transactions { customers })
    }

    pub fn customers(&self) -> &[CustomerHistory] {
        &self.customers
    }

    pub fn len(&self) -> usize {
        self.customers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// The earliest purchase day in the data.
    pub fn first_purchase(&self) -> Option<NaiveDate> {
        self.customers
            .iter()
            .filter_map(CustomerHistory::first_purchase)
            .min()
    }

    /// The latest purchase day in the data.
    pub fn last_purchase(&self) -> Option<NaiveDate> {
        self.customers
            .iter()
            .filter_map(|c| c.purchase_days().last()?.date())
            .max()
    }

    /// The customers who had bought by the end of `cutoff`, with their summaries there.
    pub fn cohort_at(&self, cutoff: NaiveDate) -> Cohort<'_> {
        let (members, summaries) = self
            .customers
            .iter()
            .filter_map(|customer| {
                customer
                    .summary_at(cutoff)
                    .map(|summary| (customer, summary))
            })
            .unzip();
        Cohort {
            cutoff,
            members,
            summaries,
        }
    }
}

/// The customers known at a cutoff, aligned with their summaries.
#[derive(Debug, Clone)]
pub struct Cohort<'a> {
    pub cutoff: NaiveDate,
    pub members: Vec<&'a CustomerHistory>,
    pub summaries: Vec<RfmSummary>,
}

impl Cohort<'_> {
    /// Each member's activity after the cutoff up to the end of `until`.
    pub fn activity_until(&self, until: NaiveDate) -> Vec<Activity> {
        self.members
            .iter()
            .map(|customer| customer.activity_between(self.cutoff, until))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn same_day_purchases_are_one_purchase_with_summed_amounts() {
        let history = CustomerHistory::new(
            "c1",
            [
                (date("1997-01-08"), 5.0),
                (date("1997-01-01"), 10.0),
                (date("1997-01-01"), 2.5),
            ],
        )
        .unwrap();
        let days = history.purchase_days();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].amount, 12.5);
        assert_eq!(days[0].date(), Some(date("1997-01-01")));
    }

    #[test]
    fn summary_follows_the_lifetimes_convention() {
        let history = CustomerHistory::new(
            "c1",
            [
                (date("1997-01-01"), 29.33),
                (date("1997-01-18"), 29.73),
                (date("1997-08-02"), 14.96),
                (date("1997-12-12"), 26.48),
            ],
        )
        .unwrap();
        let summary = history.summary_at(date("1997-09-30")).unwrap();
        assert_eq!(summary.frequency, 2.0);
        assert!((summary.recency - 213.0 / 7.0).abs() < 1e-12);
        assert!((summary.age - 272.0 / 7.0).abs() < 1e-12);
        assert!((summary.monetary - (29.73 + 14.96) / 2.0).abs() < 1e-12);
        let holdout = history.activity_between(date("1997-09-30"), date("1998-06-30"));
        assert_eq!(
            holdout,
            Activity {
                purchase_days: 1,
                spend: 26.48
            }
        );
        assert!(history.summary_at(date("1996-12-31")).is_none());
        let gaps = history.gaps_at(date("1997-09-30"));
        assert_eq!(gaps.len(), 2);
        assert!((gaps.iter().sum::<f64>() - summary.recency).abs() < 1e-12);
        assert!((gaps[0] - 17.0 / 7.0).abs() < 1e-12);
        assert!(history.gaps_at(date("1997-01-17")).is_empty());
        assert_eq!(
            history.days_to_next_purchase(date("1997-09-30"), date("1998-06-30")),
            Some(73)
        );
        assert_eq!(
            history.days_to_next_purchase(date("1997-09-30"), date("1997-12-11")),
            None
        );
        assert_eq!(
            history.days_to_next_purchase(date("1997-08-01"), date("1997-12-31")),
            Some(1)
        );
    }

    #[test]
    fn cutoff_day_purchases_count_in_the_calibration_period() {
        let history =
            CustomerHistory::new("c", [(date("2024-03-01"), 1.0), (date("2024-03-05"), 2.0)])
                .unwrap();
        let summary = history.summary_at(date("2024-03-05")).unwrap();
        assert_eq!(summary.frequency, 1.0);
        assert_eq!(
            history
                .activity_between(date("2024-03-05"), date("2024-04-01"))
                .purchase_days,
            0
        );
    }

    #[test]
    fn negative_amounts_are_refused() {
        let error = CustomerHistory::new("c", [(date("2024-03-01"), -1.0)]).unwrap_err();
        assert!(
            error.to_string().contains("not a finite non-negative"),
            "{error}"
        );
    }

    #[test]
    fn transactions_group_by_customer_in_order_of_appearance() {
        let rows = [
            ("b", date("2024-01-02"), 1.0),
            ("a", date("2024-01-01"), 2.0),
            ("b", date("2024-01-03"), 3.0),
        ];
        let transactions = Transactions::from_purchases(rows).unwrap();
        let ids: Vec<_> = transactions
            .customers()
            .iter()
            .map(CustomerHistory::id)
            .collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(transactions.first_purchase(), Some(date("2024-01-01")));
        assert_eq!(transactions.last_purchase(), Some(date("2024-01-03")));
        assert_eq!(Transactions::new(Vec::new()).last_purchase(), None);
        let cohort = transactions.cohort_at(date("2024-01-01"));
        assert_eq!(cohort.members.len(), 1);
        assert_eq!(
            cohort.activity_until(date("2024-01-31"))[0].purchase_days,
            0
        );
    }

    #[test]
    fn invalid_summaries_are_explained() {
        assert!(RfmSummary::new(1.0, 2.0, 3.0, 4.0).validate().is_ok());
        assert!(
            RfmSummary::new(1.5, 2.0, 3.0, 4.0)
                .validate()
                .unwrap_err()
                .contains("whole")
        );
        assert!(
            RfmSummary::new(1.0, 4.0, 3.0, 4.0)
                .validate()
                .unwrap_err()
                .contains("after the cutoff")
        );
        assert!(
            RfmSummary::new(0.0, 1.0, 3.0, 0.0)
                .validate()
                .unwrap_err()
                .contains("without repeat")
        );
        assert!(
            RfmSummary::new(1.0, 1.0, f64::NAN, 0.0)
                .validate()
                .unwrap_err()
                .contains("T must be")
        );
    }
}
