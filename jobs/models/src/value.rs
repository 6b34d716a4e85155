//! Each customer's future spend regressed directly on their purchase history: the
//! zero-inflated lognormal (ZILN) model of Wang, Liu & Miao (2019), with linear
//! predictors over RFM features, trained on the churn classifier's time split.
//!
//! # The model
//! A customer's spend `Y` in a window is 0 with probability `1 − p` and otherwise
//! lognormal, `ln Y ~ N(μ, σ²)`, with
//! `logit p = w₀ + w·z` and `μ = b₀ + b·z` on the standardised features `z` below, and
//! one `σ` for everybody. Its mean, the forecast, is `E[Y] = p · exp(μ + σ²/2)`. The
//! loss of a customer is the negative log-likelihood: `ln(1 + e^ℓ)` (with `ℓ = logit p`)
//! for one who spent nothing, and
//! `ln(1 + e^−ℓ) + ln y + ln σ + ½ ln 2π + (ln y − μ)² / (2σ²)` for one who spent
//! `y > 0`: the logistic part for P(spend > 0) and the lognormal part for the amount,
//! summed, as in the paper.
//!
//! # Training
//! 1. The window `w` and training cutoff `c0 = as_of − w` of the churn classifier's
//!    time split (by default half the history, at most `max_window_weeks`), so with
//!    the same settings the two are trained at the same cutoff and never see anything
//!    after `as_of`.
//! 2. Features of every customer known at `c0`, computed there; label = their spend in
//!    `(c0, as_of]`.
//! 3. Maximum likelihood with argmin's L-BFGS in the two stages of the other fits: the
//!    mean loss plus an L2 penalty `λ/2 · (|w|² + |b|²)` on the feature weights (not the
//!    intercepts or σ), `λ = 0.01` per customer by default, the classifier's penalty;
//!    and a prior on `σ` worth one more spender whose log spend lies one unit from its
//!    mean, `ln σ + 1/(2σ²)` on the summed loss (a scaled inverse-χ² prior on `σ²`
//!    with one degree of freedom and scale 1). Without it a shop with no more spenders
//!    than `μ` has terms (8), or with equal amounts, is fitted exactly and the
//!    likelihood grows without bound as `σ → 0`; with it `σ² = (R + 1)/(k + 1)` for `k`
//!    spenders with summed squared residual `R`, which on the CDNOW sample (578
//!    spenders) moves `σ` in the fourth digit. `σ` is in log units, so neither depends
//!    on the currency.
//! 4. Applied at `as_of` with the features computed there, the forecast for a horizon
//!    of `h` weeks is the window's `E[Y]` times `h / w`.
//!
//! A shop that cannot train it — fewer customers at `c0` than the model has coefficients
//! ([`MIN_TRAINING_CUSTOMERS`]), fewer than [`MIN_PER_CLASS`] customers who spent in the
//! window or who did not, or no room for the window — gets
//! [`ModelError::ValueTraining`], and the backtest reports it in its fallbacks.
//!
//! # Features
//! For frequency `x`, recency `t_x` and age `T` as in [`RfmSummary`], the mean repeat
//! spend `m̄` and the first purchase's spend `s₁`: `ln(1+x)`, `ln(1+t_x)`, `ln(1+T)`,
//! `ln(1+T−t_x)` (weeks since the last purchase), `ln(1+m̄)`, `ln(1+s₁)` and
//! `ln(1 + x·m̄/T)` (repeat spend per week). Logarithms only: the model is trained on
//! younger customers than it is applied to, and a linear term in `x` or `T` would
//! extrapolate exponentially in the forecast.

use chrono::NaiveDate;
use linfa::ParamGuard;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{BgNbd, FittedBgNbd};
use crate::churn::Standardizer;
use crate::error::{ModelError, positive};
use crate::history::{Cohort, CustomerHistory, RfmSummary, Transactions};
use crate::optim::{self, FitSettings, Likelihood, Objective};
use crate::split::TimeSplit;

/// The regression's inputs, in column order.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "ln_frequency",
    "ln_recency",
    "ln_age",
    "ln_weeks_since_last_purchase",
    "ln_monetary",
    "ln_first_spend",
    "ln_repeat_spend_per_week",
    "ln_expected_purchases",
    "p_alive",
];

pub const FEATURES: usize = 9;

/// Coefficients of one linear predictor: the intercept, then a weight per feature.
pub const TERMS: usize = FEATURES + 1;

/// The feature the log scale `ln σ` depends on: BG/NBD's expected purchases in the
/// window (a spend summed over more purchases varies less, relative to its mean).
const SCALE_FEATURE: usize = 7;

/// Coefficients of `ln σ`: its intercept and the weight of [`SCALE_FEATURE`].
const SCALE_TERMS: usize = 2;

/// Everything the fit estimates: the two linear predictors and the two of `ln σ`.
const PARAMETERS: usize = 2 * TERMS + SCALE_TERMS;

/// Position of the intercept of `ln σ` among the parameters; its weight follows.
const LN_SIGMA: usize = 2 * TERMS;

/// Pseudo-spenders of the prior on `σ`, and the squared residual of each (log units).
const SIGMA_PRIOR_WEIGHT: f64 = 1.0;
const SIGMA_PRIOR_SQUARED_RESIDUAL: f64 = 1.0;

/// Fewest customers at the training cutoff: one per coefficient.
pub const MIN_TRAINING_CUSTOMERS: usize = PARAMETERS;

/// Fewest customers on each side of "spent something in the window": with fewer the
/// logistic part has one class, or the lognormal part nothing to vary over.
pub const MIN_PER_CLASS: usize = 2;

/// `½ ln 2π`.
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// Rows per parallel block of the likelihood sum; blocks are summed in order, so the
/// value does not depend on the thread count.
const BLOCK: usize = 4096;

/// The features of a customer with this history and this summary at a cutoff, with
/// BG/NBD fitted at that cutoff and `if_alive` its expected purchases in the window if
/// the customer is alive ([`FittedBgNbd::expected_purchases_if_alive`]).
pub fn value_features(
    history: &CustomerHistory,
    s: &RfmSummary,
    bgnbd: &FittedBgNbd,
    if_alive: f64,
) -> [f64; FEATURES] {
    let first_spend = history.first_spend().unwrap_or(0.0);
    let spend_per_week = if s.age > 0.0 {
        s.frequency * s.monetary / s.age
    } else {
        0.0
    };
    let p_alive = bgnbd.p_alive(s);
    let expected = p_alive * if_alive;
    [
        s.frequency.ln_1p(),
        s.recency.ln_1p(),
        s.age.ln_1p(),
        s.weeks_since_last_purchase().max(0.0).ln_1p(),
        s.monetary.ln_1p(),
        first_spend.ln_1p(),
        spend_per_week.ln_1p(),
        expected.ln_1p(),
        p_alive,
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
        .map(|((history, s), if_alive)| value_features(history, s, bgnbd, if_alive))
        .collect();
    let mut matrix = Array2::zeros((rows.len(), FEATURES));
    for (mut row, values) in matrix.rows_mut().into_iter().zip(rows) {
        for (cell, value) in row.iter_mut().zip(values) {
            *cell = value;
        }
    }
    Ok(matrix)
}

/// Standardised feature rows.
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

/// Entry point: `ValueModel::params()…fit(&transactions, as_of)`.
pub struct ValueModel;

impl ValueModel {
    pub fn params() -> ValueParams {
        ValueParams::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueValidParams {
    window_weeks: Option<f64>,
    max_window_weeks: f64,
    l2_penalty: f64,
    max_iterations: u64,
    tolerance: f64,
    warm_start_sample: usize,
}

/// Unchecked settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueParams(ValueValidParams);

impl Default for ValueParams {
    fn default() -> Self {
        ValueParams(ValueValidParams {
            window_weeks: None,
            max_window_weeks: 52.0,
            l2_penalty: 1e-2,
            max_iterations: 500,
            tolerance: 1e-4,
            warm_start_sample: 50_000,
        })
    }
}

impl ValueParams {
    /// A fixed label window in weeks, instead of half the history.
    pub fn window_weeks(mut self, weeks: f64) -> Self {
        self.0.window_weeks = Some(weeks);
        self
    }

    /// Cap on the derived window (default 52 weeks), as for the churn classifier.
    pub fn max_window_weeks(mut self, weeks: f64) -> Self {
        self.0.max_window_weeks = weeks;
        self
    }

    /// L2 penalty on the feature weights of both parts, per training customer
    /// (default 1e-2): `λ/2 · (|w|² + |b|²)` is added to the mean loss.
    pub fn l2_penalty(mut self, penalty: f64) -> Self {
        self.0.l2_penalty = penalty;
        self
    }

    /// Most L-BFGS iterations per stage (default 500).
    pub fn max_iterations(mut self, iterations: u64) -> Self {
        self.0.max_iterations = iterations;
        self
    }

    /// Stop within about this many standard errors of the optimum (default 0.0001).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.0.tolerance = tolerance;
        self
    }

    /// With more training customers than four times this, the first stage of the fit
    /// runs on a systematic sample of this size (default 50 000; 0 disables).
    pub fn warm_start_sample(mut self, customers: usize) -> Self {
        self.0.warm_start_sample = customers;
        self
    }

    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedValueModel, ModelError> {
        self.check_ref()?.fit(transactions, as_of)
    }
}

impl ParamGuard for ValueParams {
    type Checked = ValueValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&ValueValidParams, ModelError> {
        let params = &self.0;
        if let Some(window) = params.window_weeks {
            positive("window_weeks", window)?;
        }
        positive("max_window_weeks", params.max_window_weeks)?;
        if !(params.l2_penalty.is_finite() && params.l2_penalty >= 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "l2_penalty",
                reason: format!("must be a non-negative number, got {}", params.l2_penalty),
            });
        }
        params.settings().check()?;
        Ok(params)
    }

    fn check(self) -> Result<ValueValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl ValueValidParams {
    fn settings(&self) -> FitSettings {
        FitSettings {
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            warm_start_sample: self.warm_start_sample,
        }
    }

    /// Trains on the time split described in the module header.
    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedValueModel, ModelError> {
        let split = TimeSplit::of(
            transactions,
            as_of,
            self.window_weeks,
            self.max_window_weeks,
            "value model",
            ModelError::ValueTraining,
        )?;
        let cohort = split.training_cohort(transactions);
        let spend: Vec<f64> = split
            .window_activity(&cohort)
            .iter()
            .map(|a| a.spend)
            .collect();
        let customers = spend.len();
        let cutoff = split.training_cutoff;
        if customers < MIN_TRAINING_CUSTOMERS {
            return Err(ModelError::ValueTraining(format!(
                "{customers} customers known at {cutoff}, fewer than the model's \
                 {MIN_TRAINING_CUSTOMERS} coefficients"
            )));
        }
        let spenders = spend.iter().filter(|&&y| y > 0.0).count();
        if spenders < MIN_PER_CLASS || customers - spenders < MIN_PER_CLASS {
            return Err(ModelError::ValueTraining(format!(
                "{spenders} of the {customers} customers known at {cutoff} spent something \
                 in the following {} days; at least {MIN_PER_CLASS} who did and \
                 {MIN_PER_CLASS} who did not are needed",
                split.window_days
            )));
        }
        let bgnbd = BgNbd::fit(&cohort.summaries)?;
        let features = feature_matrix(&cohort, &bgnbd, split.window_weeks())?;
        let scaler = Standardizer::fit(&features);
        let rows: Vec<Row> = rows_of(features, &scaler)
            .into_iter()
            .zip(&spend)
            .map(|(z, &y)| Row {
                z,
                ln_spend: (y > 0.0).then(|| y.ln()),
            })
            .collect();
        let mut range = [(f64::INFINITY, f64::NEG_INFINITY); FEATURES];
        for row in &rows {
            for ((low, high), z) in range.iter_mut().zip(row.z) {
                *low = low.min(z);
                *high = high.max(z);
            }
        }
        let start = initial_guess(&rows);
        let settings = self.settings();
        let likelihood = Ziln { rows };
        let objective = Penalised {
            inner: &likelihood,
            l2_penalty: self.l2_penalty,
        };
        let scout_likelihood =
            optim::systematic_sample(&likelihood.rows, settings.warm_start_sample)
                .map(|rows| Ziln { rows });
        let scout = scout_likelihood.as_ref().map(|inner| Penalised {
            inner,
            l2_penalty: self.l2_penalty,
        });
        let estimate = optim::maximise_likelihood(
            "value model",
            &objective,
            likelihood.total_weight(),
            scout.as_ref(),
            &start,
            settings.max_iterations,
            settings.tolerance,
        )?;
        let theta = &estimate.theta;
        let mut gradient = [0.0; PARAMETERS];
        let mean_loss = likelihood.value_and_gradient(theta, &mut gradient);
        let mut purchase = [0.0; TERMS];
        let mut ln_spend = [0.0; TERMS];
        purchase.copy_from_slice(&theta[..TERMS]);
        ln_spend.copy_from_slice(&theta[TERMS..LN_SIGMA]);
        let ln_sigma_slope = theta[LN_SIGMA + 1];
        Ok(FittedValueModel {
            window_weeks: split.window_weeks(),
            training_cutoff: cutoff,
            training_customers: customers,
            training_spender_rate: spenders as f64 / customers as f64,
            coefficients: ValueCoefficients {
                purchase,
                ln_spend,
                sigma: theta[LN_SIGMA].exp(),
                ln_sigma_slope,
            },
            log_likelihood: -mean_loss * customers as f64,
            iterations: estimate.iterations,
            scaler,
            range,
        })
    }
}

/// Where the optimiser starts: no feature weights, the share of spenders, and the mean
/// and spread of their log spend.
fn initial_guess(rows: &[Row]) -> [f64; PARAMETERS] {
    let logs: Vec<f64> = rows.iter().filter_map(|row| row.ln_spend).collect();
    let spenders = logs.len() as f64;
    let share = spenders / rows.len().max(1) as f64;
    let mean = logs.iter().sum::<f64>() / spenders.max(1.0);
    let variance = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / spenders.max(1.0);
    let mut start = [0.0; PARAMETERS];
    start[0] = (share / (1.0 - share)).ln();
    start[TERMS] = mean;
    start[LN_SIGMA] = variance.sqrt().max(0.1).ln();
    start
}

/// The fitted weights on the standardised features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueCoefficients {
    /// `logit P(spend > 0 in the window)`: the intercept, then one weight per feature
    /// in [`FEATURE_NAMES`] order.
    pub purchase: [f64; TERMS],
    /// `μ`, the mean log spend of a customer who spends: the intercept, then the weights.
    pub ln_spend: [f64; TERMS],
    /// The standard deviation of log spend around `μ` at the mean of the standardised
    /// the spread feature (BG/NBD's expected purchases in the window, in logarithms).
    pub sigma: f64,
    /// `ln σ = ln sigma + ln_sigma_slope · z`, with `z` that feature standardised.
    pub ln_sigma_slope: f64,
}

/// A trained spend regression; serialisable like the other fitted models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedValueModel {
    /// The window the regression was trained on; forecasts for other horizons are
    /// scaled from it.
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// Share of training customers who spent something in the window.
    pub training_spender_rate: f64,
    pub coefficients: ValueCoefficients,
    /// Summed over the training customers, without the penalty and the prior.
    pub log_likelihood: f64,
    pub iterations: u64,
    scaler: Standardizer,
    /// Each standardised feature's range over the training customers: forecasts clamp
    /// the features to it, so neither predictor extrapolates beyond what it was fitted
    /// on (in a small shop a feature that barely varied at the training cutoff, such as
    /// P(alive), can lie many of its standard deviations away at `as_of`).
    range: [(f64, f64); FEATURES],
}

impl FittedValueModel {
    /// Expected spend in the `weeks` after the cohort's cutoff, per member, with
    /// `bgnbd` fitted on the cohort's summaries: the window's `p · exp(μ + σ²/2)`
    /// times BG/NBD's ratio of the customer's expected purchases in `weeks` to those in
    /// the window (the count model's time shape, which for a shrinking cohort is less
    /// than `weeks / window_weeks`).
    pub fn expected_spend(
        &self,
        cohort: &Cohort<'_>,
        bgnbd: &FittedBgNbd,
        weeks: f64,
    ) -> Result<Vec<f64>, ModelError> {
        positive("weeks", weeks)?;
        let ValueCoefficients {
            purchase,
            ln_spend,
            sigma,
            ln_sigma_slope,
        } = self.coefficients;
        let window = self.window_weeks;
        let rows = rows_of(feature_matrix(cohort, bgnbd, window)?, &self.scaler);
        rows.par_iter()
            .zip(&cohort.summaries)
            .enumerate()
            .map(|(index, (z, s))| {
                let p = sigmoid(linear(&purchase, z));
                let mut z = *z;
                for (value, (low, high)) in z.iter_mut().zip(self.range) {
                    *value = value.clamp(low, high);
                }
                let z = &z;
                let sigma_i = sigma * (ln_sigma_slope * z[SCALE_FEATURE]).exp();
                let in_window = p * (linear(&ln_spend, z) + 0.5 * sigma_i * sigma_i).exp();
                let over_window = bgnbd.expected_purchases_if_alive(s.frequency, s.age, window)?;
                let over_weeks = bgnbd.expected_purchases_if_alive(s.frequency, s.age, weeks)?;
                let forecast = in_window * over_weeks / over_window;
                if forecast.is_finite() {
                    Ok(forecast)
                } else {
                    Err(ModelError::ValueTraining(format!(
                        "the forecast of customer #{index} is not finite"
                    )))
                }
            })
            .collect()
    }

    /// Feature weights on the standardised scale, by name: (name, in `logit p`, in `μ`).
    pub fn weights(&self) -> Vec<(&'static str, f64, f64)> {
        FEATURE_NAMES
            .iter()
            .zip(&self.coefficients.purchase[1..])
            .zip(&self.coefficients.ln_spend[1..])
            .map(|((name, w), b)| (*name, *w, *b))
            .collect()
    }
}

/// `c₀ + Σ cⱼ zⱼ`.
fn linear(coefficients: &[f64], z: &[f64; FEATURES]) -> f64 {
    coefficients.first().copied().unwrap_or(0.0)
        + coefficients
            .iter()
            .skip(1)
            .zip(z)
            .map(|(c, z)| c * z)
            .sum::<f64>()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + eˣ)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// One training customer: standardised features and the log of their window spend
/// (`None`: spent nothing).
#[derive(Debug, Clone, Copy)]
struct Row {
    z: [f64; FEATURES],
    ln_spend: Option<f64>,
}

/// The mean ZILN negative log-likelihood over parameters
/// `(w₀, w…, b₀, b…, ln σ)`.
struct Ziln {
    rows: Vec<Row>,
}

impl Ziln {
    /// The loss of one row; its gradient added to `gradient`.
    fn add_row(theta: &[f64], row: &Row, gradient: &mut [f64; PARAMETERS]) -> f64 {
        let logit = linear(&theta[..TERMS], &row.z);
        let (loss, d_logit) = match row.ln_spend {
            None => (softplus(logit), sigmoid(logit)),
            Some(ln_y) => {
                let ln_sigma = theta[LN_SIGMA] + theta[LN_SIGMA + 1] * row.z[SCALE_FEATURE];
                let inverse_variance = (-2.0 * ln_sigma).exp();
                let residual = ln_y - linear(&theta[TERMS..LN_SIGMA], &row.z);
                let scaled = residual * residual * inverse_variance;
                let d_mu = -residual * inverse_variance;
                gradient[TERMS] += d_mu;
                for (g, z) in gradient[TERMS + 1..LN_SIGMA].iter_mut().zip(&row.z) {
                    *g += d_mu * z;
                }
                gradient[LN_SIGMA] += 1.0 - scaled;
                gradient[LN_SIGMA + 1] += (1.0 - scaled) * row.z[SCALE_FEATURE];
                (
                    softplus(-logit) + ln_y + ln_sigma + HALF_LN_TWO_PI + 0.5 * scaled,
                    -sigmoid(-logit),
                )
            }
        };
        gradient[0] += d_logit;
        for (g, z) in gradient[1..TERMS].iter_mut().zip(&row.z) {
            *g += d_logit * z;
        }
        loss
    }
}

impl Likelihood for Ziln {
    fn total_weight(&self) -> f64 {
        self.rows.len() as f64
    }
}

impl Objective for Ziln {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let blocks: Vec<(f64, [f64; PARAMETERS])> = self
            .rows
            .par_chunks(BLOCK)
            .map(|block| {
                let mut sum = [0.0; PARAMETERS];
                let loss = block
                    .iter()
                    .map(|row| Ziln::add_row(theta, row, &mut sum))
                    .sum::<f64>();
                (loss, sum)
            })
            .collect();
        let scale = 1.0 / self.total_weight().max(1.0);
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
        loss * scale
    }
}

/// The mean loss with the L2 penalty `λ/2 · Σ` (feature weight)² (intercepts exempt)
/// and the prior on `σ` (see the module header): worth one more spender whose log spend
/// lies one unit from its mean, spread evenly over the spenders' own `σᵢ`, i.e.
/// `(1/k) Σ (ln σᵢ + 1/(2σᵢ²))` over the `k` spenders, divided by the number of
/// customers as the loss is. With one `σ` for everybody it is `ln σ + 1/(2σ²)`; with
/// `σᵢ` depending on a feature it keeps every `σᵢ` away from 0, where a spender fitted
/// exactly would make the likelihood unbounded.
struct Penalised<'a> {
    inner: &'a Ziln,
    l2_penalty: f64,
}

impl Objective for Penalised<'_> {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let mut value = self.inner.value_and_gradient(theta, gradient);
        let weights = (1..TERMS)
            .chain(TERMS + 1..LN_SIGMA)
            .chain(LN_SIGMA + 1..PARAMETERS);
        for i in weights {
            value += 0.5 * self.l2_penalty * theta[i] * theta[i];
            gradient[i] += self.l2_penalty * theta[i];
        }
        // ν (u + s²/(2e^(2u))) per unit of prior, u = ln σᵢ: derivative ν (1 − s² e^(−2u)).
        let spenders = self.inner.rows.iter().filter(|row| row.ln_spend.is_some());
        let k = spenders.clone().count().max(1) as f64;
        let per_spender = SIGMA_PRIOR_WEIGHT / (k * self.inner.total_weight().max(1.0));
        for row in spenders {
            let z = row.z[SCALE_FEATURE];
            let ln_sigma = theta[LN_SIGMA] + theta[LN_SIGMA + 1] * z;
            let scaled = SIGMA_PRIOR_SQUARED_RESIDUAL * (-2.0 * ln_sigma).exp();
            value += per_spender * (ln_sigma + 0.5 * scaled);
            let d = per_spender * (1.0 - scaled);
            gradient[LN_SIGMA] += d;
            gradient[LN_SIGMA + 1] += d * z;
        }
        value
    }
}

#[cfg(test)]
mod tests;
