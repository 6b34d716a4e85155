//! `hybrid`: BG/NBD × Gamma-Gamma's forecast of each customer's spend, corrected by a
//! log-linear regression on the spend regression's features, trained on the shop's own
//! time split.
//!
//! # The model
//! For a window of `w` weeks after a cutoff, the count models forecast a customer's
//! spend as `A = E[purchases in w] · E[spend per purchase]` (BG/NBD's conditional
//! expectation with P(alive), Gamma-Gamma's posterior mean spend), both fitted at that
//! cutoff. The hybrid's forecast is `A · exp(c₀ + c·z)`, with `z` six standardised
//! features ([`FEATURE_NAMES`]): BG/NBD's expected purchases in the window (in
//! logarithms) and P(alive), the share `t_x / T` of the customer's time up to their last
//! purchase, and in logarithms the mean repeat spend, the first purchase's spend and the
//! repeat spend per week. None is measured in absolute time: when a shop's customers
//! arrived together (CDNOW, the Complete Journey), those at the training cutoff are all
//! younger than at the calibration end, and a weight on age, recency or the number of
//! purchases would be applied outside the range it was learnt on (with the spend
//! regression's nine features the correction overshot the Complete Journey's holdout by
//! 33 %). Standardised features are also clamped to their training range when
//! forecasting. With `c = 0` and `c₀ = 0`
//! it is the count models' forecast; the regression learns where that forecast is
//! systematically off in this shop — its level (BG/NBD alone falls 15-20 % short on
//! CDNOW), and who it ranks too high or too low — without losing what the count models
//! know: a lapsed heavy buyer's `A` is near 0 through P(alive), so no linear term in
//! the features can give them a large forecast, and a heavy buyer's forecast keeps its
//! scale (a regression of log spend on log features alone attenuates both ends).
//!
//! # Training
//! On the time split of the churn classifier and the spend regression (same window cap,
//! same cutoff `c0`): BG/NBD and Gamma-Gamma fitted on the customers known at `c0`,
//! features and `A` computed there, label = spend in `(c0, as_of]`. The loss is the
//! quasi-Poisson one of a log-linear mean, `Σ (μ − y ln μ)` over the training customers
//! (divided by their number and mean spend, which moves no optimum), plus an L2 penalty
//! `λ/2 · |c|²` on the feature weights (not the intercept), `λ = 0.01` per customer as
//! for the classifier. The loss is convex; its gradient in the intercept is
//! `Σ (μ − y)`, so at the optimum the forecast total on the training split equals the
//! actual total: the level is calibrated on the shop's own split, never on the holdout.
//!
//! # Forecast
//! At `as_of`, with BG/NBD and Gamma-Gamma fitted there, the forecast for `h` weeks is
//! `E[purchases in h] · E[spend per purchase] · exp(c₀ + c·z)`: the correction learnt
//! for the window, applied to the count models' forecast for the horizon (so the count
//! model's time shape, not a linear scaling of the window, carries it to `h`).
//!
//! Like the spend regression it needs each customer's history and the time split, so it
//! is a backtest candidate; a shop that cannot train it (fewer customers at `c0` than
//! [`MIN_TRAINING_CUSTOMERS`], fewer than [`MIN_SPENDERS`] who spent in the window, no
//! room for the window) gets [`ModelError::HybridTraining`].

use chrono::NaiveDate;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{BgNbd, FittedBgNbd};
use crate::churn::Standardizer;
use crate::error::{ModelError, positive};
use crate::gamma_gamma::{FittedGammaGamma, GammaGamma};
use crate::history::{Cohort, CustomerHistory, RfmSummary, Transactions};
use crate::optim::{self, Likelihood, Objective};
use crate::split::TimeSplit;
use crate::value;

/// The correction's inputs, in column order: none measured in absolute time (age,
/// recency, counts), whose range at the training cutoff does not cover the customers'
/// at the calibration end when a shop's customers arrived together.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "ln_expected_purchases",
    "p_alive",
    "recency_share",
    "ln_monetary",
    "ln_first_spend",
    "ln_repeat_spend_per_week",
];

pub const FEATURES: usize = 6;

/// The features of one customer at a cutoff with BG/NBD fitted there: those of
/// [`value::value_features`] that are not measured in absolute time, and the share of
/// the customer's time up to their last purchase, `t_x / T`.
fn hybrid_features(
    history: &CustomerHistory,
    s: &RfmSummary,
    bgnbd: &FittedBgNbd,
    if_alive: f64,
) -> [f64; FEATURES] {
    let [
        _frequency,
        _recency,
        _age,
        _since_last,
        ln_monetary,
        ln_first_spend,
        ln_spend_per_week,
        ln_expected,
        p_alive,
    ] = value::value_features(history, s, bgnbd, if_alive);
    let share = if s.age > 0.0 { s.recency / s.age } else { 0.0 };
    [
        ln_expected,
        p_alive,
        share,
        ln_monetary,
        ln_first_spend,
        ln_spend_per_week,
    ]
}

fn feature_matrix(
    cohort: &Cohort<'_>,
    bgnbd: &FittedBgNbd,
    window: f64,
) -> Result<Array2<f64>, ModelError> {
    let if_alive = bgnbd.expected_purchases_if_alive_each(&cohort.summaries, window)?;
    let rows: Vec<_> = cohort
        .members
        .par_iter()
        .zip(&cohort.summaries)
        .zip(if_alive)
        .map(|((history, s), if_alive)| hybrid_features(history, s, bgnbd, if_alive))
        .collect();
    let mut matrix = Array2::zeros((rows.len(), FEATURES));
    for (mut row, values) in matrix.rows_mut().into_iter().zip(rows) {
        for (cell, value) in row.iter_mut().zip(values) {
            *cell = value;
        }
    }
    Ok(matrix)
}

fn rows_of(features: Array2<f64>, scaler: &Standardizer) -> Vec<[f64; FEATURES]> {
    scaler
        .transform(features)
        .rows()
        .into_iter()
        .map(|row| {
            let mut z = [0.0; FEATURES];
            for (cell, value) in z.iter_mut().zip(row) {
                *cell = *value;
            }
            z
        })
        .collect()
}

/// The intercept and one weight per feature.
pub const TERMS: usize = FEATURES + 1;

/// Fewest customers at the training cutoff: one per coefficient.
pub const MIN_TRAINING_CUSTOMERS: usize = TERMS;

/// Fewest customers who spent something in the window.
pub const MIN_SPENDERS: usize = 2;

/// Keeps `ln A` finite for a customer the count models give nothing.
const ANCHOR_FLOOR: f64 = 1e-12;

/// Rows per parallel block of the loss; blocks are summed in order.
const BLOCK: usize = 4096;

/// The count models the correction multiplies, fitted at one cutoff.
#[derive(Debug, Clone, Copy)]
pub struct CountModels<'a> {
    pub bgnbd: &'a FittedBgNbd,
    pub gamma_gamma: &'a FittedGammaGamma,
}

/// Settings: the split's window (as for the spend regression) and the penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HybridParams {
    window_weeks: Option<f64>,
    max_window_weeks: f64,
    l2_penalty: f64,
    max_iterations: u64,
    tolerance: f64,
}

impl Default for HybridParams {
    fn default() -> Self {
        HybridParams {
            window_weeks: None,
            max_window_weeks: 52.0,
            l2_penalty: 1e-2,
            max_iterations: 500,
            tolerance: 1e-4,
        }
    }
}

/// Entry point: `Hybrid::params()…fit(&transactions, as_of)`.
pub struct Hybrid;

impl Hybrid {
    pub fn params() -> HybridParams {
        HybridParams::default()
    }
}

impl HybridParams {
    /// A fixed label window in weeks, instead of half the history.
    pub fn window_weeks(mut self, weeks: f64) -> Self {
        self.window_weeks = Some(weeks);
        self
    }

    /// Cap on the derived window (default 52 weeks), as for the spend regression.
    pub fn max_window_weeks(mut self, weeks: f64) -> Self {
        self.max_window_weeks = weeks;
        self
    }

    /// L2 penalty on the feature weights per training customer (default 1e-2).
    pub fn l2_penalty(mut self, penalty: f64) -> Self {
        self.l2_penalty = penalty;
        self
    }

    fn check(&self) -> Result<(), ModelError> {
        if let Some(window) = self.window_weeks {
            positive("window_weeks", window)?;
        }
        positive("max_window_weeks", self.max_window_weeks)?;
        if !(self.l2_penalty.is_finite() && self.l2_penalty >= 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "l2_penalty",
                reason: format!("must be a non-negative number, got {}", self.l2_penalty),
            });
        }
        Ok(())
    }

    /// Trains the correction on the time split described in the module header.
    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedHybrid, ModelError> {
        self.check()?;
        let split = TimeSplit::of(
            transactions,
            as_of,
            self.window_weeks,
            self.max_window_weeks,
            "hybrid",
            ModelError::HybridTraining,
        )?;
        let cohort = split.training_cohort(transactions);
        let cutoff = split.training_cutoff;
        let customers = cohort.summaries.len();
        if customers < MIN_TRAINING_CUSTOMERS {
            return Err(ModelError::HybridTraining(format!(
                "{customers} customers known at {cutoff}, fewer than the model's \
                 {MIN_TRAINING_CUSTOMERS} coefficients"
            )));
        }
        let spend: Vec<f64> = split
            .window_activity(&cohort)
            .iter()
            .map(|a| a.spend)
            .collect();
        let spenders = spend.iter().filter(|&&y| y > 0.0).count();
        if spenders < MIN_SPENDERS {
            return Err(ModelError::HybridTraining(format!(
                "{spenders} of the {customers} customers known at {cutoff} spent something in \
                 the following {} days; at least {MIN_SPENDERS} are needed",
                split.window_days
            )));
        }
        let window = split.window_weeks();
        let bgnbd = BgNbd::fit(&cohort.summaries)?;
        let gamma_gamma = GammaGamma::fit(&cohort.summaries)?;
        let models = CountModels {
            bgnbd: &bgnbd,
            gamma_gamma: &gamma_gamma,
        };
        let features = feature_matrix(&cohort, &bgnbd, window)?;
        let scaler = Standardizer::fit(&features);
        let anchors = ln_anchors(&cohort, models, window)?;
        let standardised = rows_of(features, &scaler);
        let mut range = [(f64::INFINITY, f64::NEG_INFINITY); FEATURES];
        for z in &standardised {
            for ((low, high), value) in range.iter_mut().zip(z) {
                *low = low.min(*value);
                *high = high.max(*value);
            }
        }
        let rows: Vec<Row> = standardised
            .into_iter()
            .zip(anchors)
            .zip(&spend)
            .map(|((z, ln_anchor), &y)| Row { z, ln_anchor, y })
            .collect();
        let mean_spend = spend.iter().sum::<f64>() / customers as f64;
        let loss = QuasiPoisson {
            rows,
            mean_spend,
            l2_penalty: self.l2_penalty,
        };
        // Start at the count models' forecast with its level set to the training total.
        let anchored: f64 = loss.rows.iter().map(|row| row.ln_anchor.exp()).sum();
        let mut start = [0.0; TERMS];
        if anchored > 0.0 {
            start[0] = (mean_spend * customers as f64 / anchored).ln();
        }
        let estimate = optim::maximise_likelihood(
            "hybrid",
            &loss,
            loss.total_weight(),
            None,
            &start,
            self.max_iterations,
            self.tolerance,
        )?;
        let mut coefficients = [0.0; TERMS];
        coefficients.copy_from_slice(&estimate.theta[..TERMS]);
        Ok(FittedHybrid {
            window_weeks: window,
            training_cutoff: cutoff,
            training_customers: customers,
            coefficients,
            iterations: estimate.iterations,
            scaler,
            range,
        })
    }
}

/// `ln(E[purchases in weeks] · E[spend per purchase])` per member, floored.
fn ln_anchors(
    cohort: &Cohort<'_>,
    models: CountModels<'_>,
    weeks: f64,
) -> Result<Vec<f64>, ModelError> {
    let if_alive = models
        .bgnbd
        .expected_purchases_if_alive_each(&cohort.summaries, weeks)?;
    Ok(cohort
        .summaries
        .par_iter()
        .zip(if_alive)
        .map(|(s, if_alive)| {
            let purchases = models.bgnbd.p_alive(s) * if_alive;
            let anchor = purchases * models.gamma_gamma.expected_spend(s);
            anchor.max(ANCHOR_FLOOR).ln()
        })
        .collect())
}

/// A trained correction; serialisable like the other fitted models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedHybrid {
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// `c₀`, then one weight per feature in [`FEATURE_NAMES`] order, on the standardised
    /// features: the forecast is the count models' times `exp(c₀ + c·z)`.
    pub coefficients: [f64; TERMS],
    pub iterations: u64,
    scaler: Standardizer,
    /// Each standardised feature's range over the training customers: features are
    /// clamped to it when forecasting, so the correction never extrapolates.
    range: [(f64, f64); FEATURES],
}

impl FittedHybrid {
    /// Expected spend in the `weeks` after the cohort's cutoff, per member, with the
    /// count models fitted on the cohort's summaries.
    pub fn expected_spend(
        &self,
        cohort: &Cohort<'_>,
        models: CountModels<'_>,
        weeks: f64,
    ) -> Result<Vec<f64>, ModelError> {
        positive("weeks", weeks)?;
        let factors = self.factors(cohort, models.bgnbd)?;
        let anchors = ln_anchors(cohort, models, weeks)?;
        factors
            .iter()
            .zip(anchors)
            .enumerate()
            .map(|(index, (factor, ln_anchor))| finite(index, ln_anchor.exp() * factor))
            .collect()
    }

    /// Each member's correction `exp(c₀ + c·z)`, the features clamped to their training
    /// range, with `bgnbd` fitted on the cohort's summaries: what the count models'
    /// forecast of the member's spend is multiplied by.
    pub fn factors(
        &self,
        cohort: &Cohort<'_>,
        bgnbd: &FittedBgNbd,
    ) -> Result<Vec<f64>, ModelError> {
        let features = feature_matrix(cohort, bgnbd, self.window_weeks)?;
        rows_of(features, &self.scaler)
            .iter()
            .enumerate()
            .map(|(index, z)| {
                let mut clamped = *z;
                for (value, (low, high)) in clamped.iter_mut().zip(self.range) {
                    *value = value.clamp(low, high);
                }
                finite(index, linear(&self.coefficients, &clamped).exp())
            })
            .collect()
    }

    /// The factor `exp(c)` per standard deviation of each feature, by name.
    pub fn weights(&self) -> Vec<(&'static str, f64)> {
        FEATURE_NAMES
            .iter()
            .zip(&self.coefficients[1..])
            .map(|(name, c)| (*name, *c))
            .collect()
    }
}

/// `value`, or an error naming the member whose forecast it is when it is not finite.
fn finite(index: usize, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ModelError::HybridTraining(format!(
            "the forecast of customer #{index} is not finite"
        )))
    }
}

/// `c₀ + Σ cⱼ zⱼ`.
fn linear(coefficients: &[f64; TERMS], z: &[f64; FEATURES]) -> f64 {
    coefficients[0]
        + coefficients[1..]
            .iter()
            .zip(z)
            .map(|(c, z)| c * z)
            .sum::<f64>()
}

/// One training customer: standardised features, `ln A`, and the window's spend.
#[derive(Debug, Clone, Copy)]
struct Row {
    z: [f64; FEATURES],
    ln_anchor: f64,
    y: f64,
}

/// The mean quasi-Poisson loss `(μ − y ln μ) / ȳ` with `ln μ = ln A + c₀ + c·z`, plus
/// `λ/2 · |c|²`.
struct QuasiPoisson {
    rows: Vec<Row>,
    mean_spend: f64,
    l2_penalty: f64,
}

impl Likelihood for QuasiPoisson {
    fn total_weight(&self) -> f64 {
        self.rows.len() as f64
    }
}

impl Objective for QuasiPoisson {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let mut coefficients = [0.0; TERMS];
        coefficients.copy_from_slice(&theta[..TERMS]);
        let blocks: Vec<(f64, [f64; TERMS])> = self
            .rows
            .par_chunks(BLOCK)
            .map(|block| {
                let mut sum = [0.0; TERMS];
                let loss = block
                    .iter()
                    .map(|row| {
                        let ln_mu = row.ln_anchor + linear(&coefficients, &row.z);
                        let mu = ln_mu.exp();
                        let d = mu - row.y;
                        sum[0] += d;
                        for (g, z) in sum[1..].iter_mut().zip(&row.z) {
                            *g += d * z;
                        }
                        mu - row.y * ln_mu
                    })
                    .sum::<f64>();
                (loss, sum)
            })
            .collect();
        let scale = 1.0 / (self.total_weight().max(1.0) * self.mean_spend.max(f64::MIN_POSITIVE));
        gradient.fill(0.0);
        let mut loss = 0.0;
        for (block_loss, block_gradient) in blocks {
            loss += block_loss;
            for (g, b) in gradient.iter_mut().zip(block_gradient) {
                *g += b;
            }
        }
        for g in gradient.iter_mut() {
            *g *= scale;
        }
        let mut value = loss * scale;
        for i in 1..TERMS {
            value += 0.5 * self.l2_penalty * theta[i] * theta[i];
            gradient[i] += self.l2_penalty * theta[i];
        }
        value
    }
}

#[cfg(test)]
mod tests;
