//! `recent_rate`: each customer's purchase rate as it stands now, for shops whose
//! customers' rates drift more than they stop.
//!
//! # The model
//! BG/NBD takes a customer's purchase rate `λ` as fixed for life and learns it from all
//! their purchases alike, through the gamma heterogeneity `λ ~ Gamma(r, α)`: the
//! posterior mean is `(r + x) / (α + T)`. Regular shoppers (a grocer's households) rarely
//! stop, but their rates move — a household buys more as it grows, less as a competitor
//! opens — and last season's purchases then say less about next season than last
//! month's do. The Poisson-gamma local-level model (Smith and Miller, 1986; Harvey and
//! Fernandes, 1989) lets the rate drift by discounting old evidence: a purchase `a` weeks
//! before the cutoff counts `e^(−a/τ)`, and so does each week observed, so the posterior
//! of the current rate is
//!
//! `λ_now ~ Gamma(r + Σⱼ e^(−aⱼ/τ), α + τ·(1 − e^(−T/τ)))`
//!
//! over the customer's repeat purchase days `j` and age `T`, with the shop's BG/NBD
//! heterogeneity `(r, α)` as the prior. The forecast for the next `h` weeks is
//! `h · E[λ_now]`, times Gamma-Gamma's posterior spend per purchase for CLV. There is no
//! separate dropout process: a customer who stopped has purchases that are all old, so
//! little discounted evidence against a full discounted exposure, and their rate decays
//! towards `r / (α + τ)`. With `τ → ∞` it is BG/NBD's rate without dropout.
//!
//! # Training: the memory `τ`
//! Chosen from [`MEMORIES`] (4 weeks to a year) on the shop's own time split, the one the
//! churn classifier and the hybrid train on: BG/NBD fitted at the training cutoff gives
//! the prior, each `τ` forecasts every customer's purchase days in the window after it,
//! and the `τ` with the lowest Poisson deviance `2 Σ [y ln(y/μ) − (y − μ)]` of those
//! counts is kept (a proper score of count forecasts, not the backtest's ranking
//! measure; ties go to the shorter memory). Nothing after `as_of` is seen.
//!
//! It is a backtest candidate like the hybrid: it reads each customer's purchase days,
//! so it is fitted with the shop's histories, and a shop whose split leaves fewer than
//! [`MIN_TRAINING_CUSTOMERS`] customers, or fewer than [`MIN_BUYERS`] who bought in the
//! window, gets [`ModelError::RecentRateTraining`]. P(alive) and churn risk stay BG/NBD's
//! (or the classifier's): only the purchase forecast changes.

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{BgNbd, FittedBgNbd};
use crate::error::{ModelError, positive};
use crate::history::{Cohort, CustomerHistory, Transactions};
use crate::hybrid::CountModels;
use crate::split::TimeSplit;

/// The memories tried, in weeks: a month, two months, a quarter, half a year, a year.
pub const MEMORIES: [f64; 5] = [4.0, 8.0, 13.0, 26.0, 52.0];

/// Fewest customers at the training cutoff.
pub const MIN_TRAINING_CUSTOMERS: usize = 2;

/// Fewest customers who bought again in the window: with none, every memory forecasts
/// nothing equally well.
pub const MIN_BUYERS: usize = 2;

/// Settings: the split's window, as for the hybrid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentRateParams {
    window_weeks: Option<f64>,
    max_window_weeks: f64,
}

impl Default for RecentRateParams {
    fn default() -> Self {
        RecentRateParams {
            window_weeks: None,
            max_window_weeks: 52.0,
        }
    }
}

/// Entry point: `RecentRate::params()…fit(&transactions, as_of)`.
pub struct RecentRate;

impl RecentRate {
    pub fn params() -> RecentRateParams {
        RecentRateParams::default()
    }
}

impl RecentRateParams {
    /// A fixed window in weeks, instead of half the history.
    pub fn window_weeks(mut self, weeks: f64) -> Self {
        self.window_weeks = Some(weeks);
        self
    }

    /// Cap on the derived window (default 52 weeks).
    pub fn max_window_weeks(mut self, weeks: f64) -> Self {
        self.max_window_weeks = weeks;
        self
    }

    /// Chooses the memory on the time split described in the module header.
    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedRecentRate, ModelError> {
        if let Some(window) = self.window_weeks {
            positive("window_weeks", window)?;
        }
        positive("max_window_weeks", self.max_window_weeks)?;
        let split = TimeSplit::of(
            transactions,
            as_of,
            self.window_weeks,
            self.max_window_weeks,
            "recent_rate",
            ModelError::RecentRateTraining,
        )?;
        let cohort = split.training_cohort(transactions);
        let cutoff = split.training_cutoff;
        let customers = cohort.summaries.len();
        if customers < MIN_TRAINING_CUSTOMERS {
            return Err(ModelError::RecentRateTraining(format!(
                "{customers} customers known at {cutoff}; at least {MIN_TRAINING_CUSTOMERS} are needed"
            )));
        }
        let bought: Vec<f64> = split
            .window_activity(&cohort)
            .iter()
            .map(|a| f64::from(a.purchase_days))
            .collect();
        let buyers = bought.iter().filter(|&&y| y > 0.0).count();
        if buyers < MIN_BUYERS {
            return Err(ModelError::RecentRateTraining(format!(
                "{buyers} of the {customers} customers known at {cutoff} bought in the \
                 following {} days; at least {MIN_BUYERS} are needed",
                split.window_days
            )));
        }
        let window = split.window_weeks();
        let prior = BgNbd::fit(&cohort.summaries)?;
        let deviances: Vec<f64> = MEMORIES
            .iter()
            .map(|&memory| {
                let rates = rates(&cohort, &prior, memory);
                poisson_deviance(&bought, rates.iter().map(|rate| rate * window))
            })
            .collect();
        let best = (0..MEMORIES.len())
            .filter(|&i| deviances[i].is_finite())
            .min_by(|&i, &j| deviances[i].total_cmp(&deviances[j]))
            .ok_or_else(|| {
                ModelError::RecentRateTraining(format!(
                    "no memory forecast the window after {cutoff} with a finite deviance"
                ))
            })?;
        Ok(FittedRecentRate {
            memory_weeks: MEMORIES[best],
            window_weeks: window,
            training_cutoff: cutoff,
            training_customers: customers,
            deviances,
        })
    }
}

/// The chosen memory and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedRecentRate {
    /// `τ`, in weeks.
    pub memory_weeks: f64,
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// The window's Poisson deviance under each of [`MEMORIES`], in order.
    pub deviances: Vec<f64>,
}

impl FittedRecentRate {
    /// Each member's expected purchase days per week from the cohort's cutoff, with
    /// `bgnbd` fitted on the cohort's summaries as the prior.
    pub fn rates(&self, cohort: &Cohort<'_>, bgnbd: &FittedBgNbd) -> Vec<f64> {
        rates(cohort, bgnbd, self.memory_weeks)
    }

    /// Expected spend in the `weeks` after the cohort's cutoff, per member, with the
    /// count models fitted on the cohort's summaries.
    pub fn expected_spend(
        &self,
        cohort: &Cohort<'_>,
        models: CountModels<'_>,
        weeks: f64,
    ) -> Result<Vec<f64>, ModelError> {
        positive("weeks", weeks)?;
        self.rates(cohort, models.bgnbd)
            .iter()
            .zip(&cohort.summaries)
            .enumerate()
            .map(|(index, (rate, s))| {
                let spend = rate * weeks * models.gamma_gamma.expected_spend(s);
                if spend.is_finite() {
                    Ok(spend)
                } else {
                    Err(ModelError::RecentRateTraining(format!(
                        "the forecast of customer #{index} is not finite"
                    )))
                }
            })
            .collect()
    }
}

/// `E[λ_now]` of each member, per week.
fn rates(cohort: &Cohort<'_>, prior: &FittedBgNbd, memory: f64) -> Vec<f64> {
    let (r, alpha) = (prior.parameters.r, prior.parameters.alpha);
    cohort
        .members
        .par_iter()
        .map(|history| rate(history, cohort.cutoff, memory, r, alpha))
        .collect()
}

/// `(r + Σ e^(−aⱼ/τ)) / (α + τ(1 − e^(−T/τ)))`; the prior mean for a customer not yet
/// seen at `cutoff`.
fn rate(history: &CustomerHistory, cutoff: NaiveDate, memory: f64, r: f64, alpha: f64) -> f64 {
    let (repeats, exposure) = history
        .recent_repeat_days(cutoff, memory)
        .unwrap_or((0.0, 0.0));
    (r + repeats) / (alpha + exposure)
}

/// `2 Σ [y ln(y/μ) − (y − μ)]`, the `y ln(y/μ)` term 0 where `y = 0`.
fn poisson_deviance(actual: &[f64], forecast: impl Iterator<Item = f64>) -> f64 {
    actual
        .iter()
        .zip(forecast)
        .map(|(&y, mu)| {
            let log_term = if y > 0.0 { y * (y / mu).ln() } else { 0.0 };
            2.0 * (log_term - (y - mu))
        })
        .sum()
}

#[cfg(test)]
mod tests;
