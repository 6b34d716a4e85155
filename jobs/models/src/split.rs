//! The time split inside a shop's history that the trained models learn from: what was
//! known at a training cutoff, and what happened in the window after it.
//!
//! The window `w` is either fixed or half the history before `as_of` (counted from the
//! shop's first purchase), at most a cap, in whole days; the training cutoff is
//! `c0 = as_of − w`. Features are computed at `c0` and labels from `(c0, as_of]`, so a
//! model trained this way and applied at `as_of` has seen nothing after `as_of`. The
//! churn classifier ([`crate::churn`]) and the spend regression ([`crate::value`]) use
//! the same split, and with the same settings the same cutoff.

use chrono::{Duration, NaiveDate};

use crate::error::ModelError;
use crate::history::{Activity, Cohort, DAYS_PER_WEEK, Transactions};

/// A training cutoff and the label window after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeSplit {
    pub training_cutoff: NaiveDate,
    pub as_of: NaiveDate,
    pub window_days: i64,
}

impl TimeSplit {
    /// The split of a history starting on `first_purchase`: a window of `window_weeks`
    /// if given, else half the history, at most `max_window_weeks`. The reason when the
    /// window is empty or leaves no history before it.
    pub fn new(
        first_purchase: NaiveDate,
        as_of: NaiveDate,
        window_weeks: Option<f64>,
        max_window_weeks: f64,
    ) -> Result<TimeSplit, String> {
        let history_days = (as_of - first_purchase).num_days();
        let window_days = match window_weeks {
            Some(weeks) => (weeks * DAYS_PER_WEEK).round() as i64,
            None => ((max_window_weeks * DAYS_PER_WEEK).round() as i64).min(history_days / 2),
        };
        if window_days < 1 || window_days >= history_days {
            return Err(format!(
                "a {window_days}-day label window does not fit in {history_days} days of history before {as_of}"
            ));
        }
        Ok(TimeSplit {
            training_cutoff: as_of - Duration::days(window_days),
            as_of,
            window_days,
        })
    }

    /// The split of `transactions`' history as [`Self::new`] gives it, for the model
    /// named `model`: no customers is [`ModelError::NoCustomers`], a window that does
    /// not fit is the reason wrapped by `training` (the model's training error).
    pub fn of(
        transactions: &Transactions,
        as_of: NaiveDate,
        window_weeks: Option<f64>,
        max_window_weeks: f64,
        model: &'static str,
        training: fn(String) -> ModelError,
    ) -> Result<TimeSplit, ModelError> {
        let first_purchase = transactions
            .first_purchase()
            .ok_or(ModelError::NoCustomers { model, detail: "" })?;
        TimeSplit::new(first_purchase, as_of, window_weeks, max_window_weeks).map_err(training)
    }

    pub fn window_weeks(&self) -> f64 {
        self.window_days as f64 / DAYS_PER_WEEK
    }

    /// The customers known at the training cutoff, with their summaries there.
    pub fn training_cohort<'a>(&self, transactions: &'a Transactions) -> Cohort<'a> {
        transactions.cohort_at(self.training_cutoff)
    }

    /// What each member of the training cohort did in the window.
    pub fn window_activity(&self, cohort: &Cohort<'_>) -> Vec<Activity> {
        cohort.activity_until(self.as_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_window_is_half_the_history_at_most_the_cap() {
        let (first, as_of) = (date("1997-01-01"), date("1997-09-30"));
        let half = TimeSplit::new(first, as_of, None, 39.0).unwrap();
        assert_eq!(half.window_days, 136);
        assert_eq!(half.training_cutoff, date("1997-05-17"));
        let capped = TimeSplit::new(first, as_of, None, 4.0).unwrap();
        assert_eq!(capped.window_days, 28);
        let fixed = TimeSplit::new(first, as_of, Some(2.0), 4.0).unwrap();
        assert_eq!((fixed.window_days, fixed.window_weeks()), (14, 2.0));
        assert!(TimeSplit::new(first, as_of, Some(100.0), 4.0).is_err());
        assert!(TimeSplit::new(as_of, as_of, None, 4.0).is_err());
    }
}
