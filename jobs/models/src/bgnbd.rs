//! The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers
//! the easy way"): while alive a customer buys at a Poisson rate λ ~ Gamma(r, α), and
//! after each repeat purchase drops out for good with probability p ~ Beta(a, b).
//!
//! Fitted by maximum likelihood over `ln(r, α, a, b)` with argmin's L-BFGS and the
//! analytic gradient, in two stages (a rough fit, then a preconditioned polish on all the
//! data; see `optim`), with standard errors from the observed information. The log-likelihood is the sum over customers of the full per-customer
//! likelihood of the paper (nothing dropped), with time in weeks: −9582.43 on the CDNOW
//! sample. (lifetimes optimises the same function on time rescaled by 10 / max T and
//! divided by the number of customers; its `_negative_log_likelihood_` is therefore not
//! this number, but its parameters are the same.)

use linfa::ParamGuard;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::distinct::Distinct;
use crate::error::ModelError;
use crate::estimation::Estimation;
use crate::history::{RfmSummary, validate_all};
use crate::optim::{FitSettings, Likelihood, LogScale, Objective};
use crate::special::{digamma, ln_gamma, logistic};

const MODEL: &str = "bg/nbd";

/// The four population parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdCoefficients {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale (in weeks) of the purchase-rate distribution.
    pub alpha: f64,
    /// First shape of the dropout-probability distribution.
    pub a: f64,
    /// Second shape of the dropout-probability distribution.
    pub b: f64,
}

impl LogScale<4> for BgNbdCoefficients {
    /// r, a and b; α is a time scale.
    const SHAPES: &'static [usize] = &[0, 2, 3];

    fn to_array(self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }

    fn from_array([r, alpha, a, b]: [f64; 4]) -> Self {
        BgNbdCoefficients { r, alpha, a, b }
    }
}

/// Entry point: `BgNbd::fit(&summaries)` with defaults, or `BgNbd::params()` to adjust.
pub struct BgNbd;

impl BgNbd {
    pub fn params() -> BgNbdParams {
        BgNbdParams::default()
    }

    pub fn fit(summaries: &[RfmSummary]) -> Result<FittedBgNbd, ModelError> {
        BgNbd::params().fit(summaries)
    }
}

/// Checked fitting settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdValidParams {
    max_iterations: u64,
    tolerance: f64,
    initial: Option<BgNbdCoefficients>,
    warm_start_sample: usize,
}

/// Unchecked fitting settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams(BgNbdValidParams);

impl Default for BgNbdParams {
    fn default() -> Self {
        BgNbdParams(BgNbdValidParams {
            max_iterations: 500,
            tolerance: 1e-4,
            initial: None,
            warm_start_sample: 50_000,
        })
    }
}

impl BgNbdParams {
    /// Most L-BFGS iterations (default 500).
    pub fn max_iterations(mut self, iterations: u64) -> Self {
        self.0.max_iterations = iterations;
        self
    }

    /// Stop within about this many standard errors of the maximum (default 0.0001); see
    /// the two-stage fit in the module header.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.0.tolerance = tolerance;
        self
    }

    /// Where the optimiser starts (default: a guess from the data).
    pub fn initial(mut self, parameters: BgNbdCoefficients) -> Self {
        self.0.initial = Some(parameters);
        self
    }

    /// With more customers than four times this, the first stage of the fit runs on a
    /// systematic sample of this size (default 50 000; 0 disables). The full data still
    /// decides the result; the sample only saves passes over all of it.
    pub fn warm_start_sample(mut self, customers: usize) -> Self {
        self.0.warm_start_sample = customers;
        self
    }

    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedBgNbd, ModelError> {
        self.check_ref()?.fit(summaries)
    }
}

impl ParamGuard for BgNbdParams {
    type Checked = BgNbdValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&BgNbdValidParams, ModelError> {
        let params = &self.0;
        params.settings().check()?;
        if let Some(initial) = params.initial
            && !initial.all_positive()
        {
            return Err(ModelError::InvalidParameter {
                name: "initial",
                reason: format!("r, alpha, a and b must be positive, got {initial:?}"),
            });
        }
        Ok(params)
    }

    fn check(self) -> Result<BgNbdValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl BgNbdValidParams {
    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedBgNbd, ModelError> {
        validate_all(summaries)?;
        self.fit_valid(summaries)
    }

    /// [`Self::fit`] on summaries already validated.
    pub(crate) fn fit_valid(&self, summaries: &[RfmSummary]) -> Result<FittedBgNbd, ModelError> {
        let fitted = fit_family(
            MODEL,
            summaries,
            BgNbdObjective::new,
            self.initial,
            self.settings(),
        )?;
        Ok(match fitted {
            FamilyFit::Fitted(fit) => FittedBgNbd {
                parameters: fit.coefficients,
                standard_errors: fit.standard_errors,
                log_likelihood: fit.log_likelihood,
                customers: summaries.len(),
                iterations: fit.iterations,
                estimation: Estimation::MaximumLikelihood,
            },
            FamilyFit::FellBack(reason) => fallback(summaries, reason),
        })
    }

    /// The start the settings ask for, if any.
    pub(crate) fn initial(&self) -> Option<BgNbdCoefficients> {
        self.initial
    }

    pub(crate) fn settings(&self) -> FitSettings {
        FitSettings {
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            warm_start_sample: self.warm_start_sample,
        }
    }
}

/// The fallback of [`crate::estimation`]: the pooled repeat-purchase rate (with half a
/// purchase added), exponential rates and a uniform dropout probability.
fn fallback(summaries: &[RfmSummary], reason: String) -> FittedBgNbd {
    let (purchases, weeks) = summaries
        .iter()
        .fold((0.0, 0.0), |(x, t), s| (x + s.frequency, t + s.age));
    let parameters = BgNbdCoefficients {
        r: 1.0,
        alpha: (weeks / (purchases + 0.5)).max(1e-3),
        a: 1.0,
        b: 1.0,
    };
    let mut model = FittedBgNbd::from_parameters(parameters);
    model.customers = summaries.len();
    model.log_likelihood = model.log_likelihood_of(summaries);
    model.estimation = Estimation::Fallback { reason };
    model
}

/// r = 1 with α matching the observed repeat rate, and a uniform dropout prior.
pub(crate) fn initial_guess(summaries: &[RfmSummary]) -> BgNbdCoefficients {
    let (purchases, weeks) = summaries
        .iter()
        .fold((0.0, 0.0), |(x, t), s| (x + s.frequency, t + s.age));
    let alpha = (weeks / purchases.max(1.0)).clamp(1e-3, 1e6);
    BgNbdCoefficients {
        r: 1.0,
        alpha,
        a: 1.0,
        b: 1.0,
    }
}

/// A fitted BG/NBD model: population parameters plus the per-customer forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedBgNbd {
    pub parameters: BgNbdCoefficients,
    /// From the observed information at the optimum; `None` if it was singular.
    pub standard_errors: Option<BgNbdCoefficients>,
    /// Sum over the customers fitted on (see the module header for the convention).
    pub log_likelihood: f64,
    pub customers: usize,
    pub iterations: u64,
    /// Maximum likelihood, or the small-shop fallback and why.
    #[serde(default)]
    pub estimation: Estimation,
}

impl FittedBgNbd {
    /// The model with known parameters (`customers` is 0: nothing was fitted).
    pub fn from_parameters(parameters: BgNbdCoefficients) -> Self {
        FittedBgNbd {
            parameters,
            standard_errors: None,
            log_likelihood: 0.0,
            customers: 0,
            iterations: 0,
            estimation: Estimation::MaximumLikelihood,
        }
    }

    /// Log-likelihood of `summaries` under this model (summed, weeks).
    pub fn log_likelihood_of(&self, summaries: &[RfmSummary]) -> f64 {
        let objective = BgNbdObjective::new(summaries);
        let mut gradient = [0.0; 4];
        -objective.value_and_gradient(&self.parameters.to_log(), &mut gradient)
            * objective.total_weight()
    }

    /// P(alive at T | x, t_x, T). One-time buyers are always alive under BG/NBD: dropout
    /// happens only right after a repeat purchase.
    pub fn p_alive(&self, s: &RfmSummary) -> f64 {
        if s.frequency == 0.0 {
            return 1.0;
        }
        let BgNbdCoefficients { r, alpha, a, b } = self.parameters;
        let x = s.frequency;
        let ln_odds_dead = a.ln() - (b + x - 1.0).ln()
            + (r + x) * ((alpha + s.age).ln() - (alpha + s.recency).ln());
        logistic(-ln_odds_dead)
    }

    /// E[purchases in the next `horizon` weeks | x, t_x, T].
    pub fn expected_purchases(&self, s: &RfmSummary, horizon: f64) -> Result<f64, ModelError> {
        Ok(self.p_alive(s) * self.expected_purchases_if_alive(s.frequency, s.age, horizon)?)
    }

    /// P(no purchase in the next `horizon` weeks | x, t_x, T): dead, or alive with a rate
    /// (posterior Gamma(r + x, α + T)) that yields nothing in the window. An alive customer
    /// cannot drop out without buying first, so the window adds no dropout risk.
    pub fn prob_no_purchase(&self, s: &RfmSummary, horizon: f64) -> f64 {
        let p_alive = self.p_alive(s);
        no_purchase_probability(
            p_alive,
            self.prob_no_purchase_if_alive(s.frequency, s.age, horizon),
        )
    }
}

/// P(no purchase in a window) from P(alive) and the alive customer's chance of buying
/// nothing in it.
pub fn no_purchase_probability(p_alive: f64, no_purchase_if_alive: f64) -> f64 {
    1.0 - p_alive + p_alive * no_purchase_if_alive
}

/// Customers with the same (x, t_x, T) contribute identical terms, so the likelihood runs
/// over distinct rows with weights. The Gamma-function terms depend on `x` alone and are
/// computed once per distinct `x` and evaluation; `ln(α + t)` and `1/(α + t)` once per
/// distinct time (with day-resolution data a few hundred, however many customers), so a
/// row costs one exponential and one logarithm.
pub(crate) struct BgNbdObjective {
    dropout: Dropout,
    groups: Vec<FrequencyGroup>,
    rows: Vec<WeightedRow>,
    /// Distinct values of recency and T, ascending.
    times: Vec<f64>,
    total_weight: f64,
}

struct FrequencyGroup {
    frequency: f64,
    weight: f64,
}

struct WeightedRow {
    weight: f64,
    /// Indices into `times`.
    recency: u32,
    age: u32,
    group: u32,
}

/// Per-group constants of one evaluation.
#[derive(Clone, Copy)]
struct GroupTerms {
    r_plus_x: f64,
    repeat: bool,
    /// ln a - ln(b + x - 1): the dropout branch's constant.
    ln_dropout: f64,
    /// d(ln_dropout)/db.
    d_ln_dropout_db: f64,
}

/// Rows per parallel task: large enough that scheduling costs nothing.
const CHUNK: usize = 8192;

/// When a customer may drop out. The two models share their likelihood's structure, so
/// one objective serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropout {
    /// BG/NBD: right after each repeat purchase; one-time buyers are alive.
    AfterRepeatPurchases,
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007): right after every purchase, the
    /// first one included, so a one-time buyer may already be gone.
    AfterEveryPurchase,
}

impl BgNbdObjective {
    fn new(summaries: &[RfmSummary]) -> Self {
        Self::with_dropout(summaries, Dropout::AfterRepeatPurchases)
    }

    pub(crate) fn with_dropout(summaries: &[RfmSummary], dropout: Dropout) -> Self {
        let frequencies = Distinct::new(summaries, |s| [s.frequency]);
        let times = Distinct::new(summaries, |s| [s.recency, s.age]);
        // (frequency, recency, T) positions packed in one integer: sorting brings equal
        // customers together and orders rows by frequency.
        let mut keys: Vec<u128> = summaries
            .par_iter()
            .map(|s| {
                u128::from(frequencies.position(s.frequency)) << 64
                    | u128::from(times.position(s.recency)) << 32
                    | u128::from(times.position(s.age))
            })
            .collect();
        keys.par_sort_unstable();
        let mut groups: Vec<FrequencyGroup> = frequencies
            .values
            .iter()
            .map(|&frequency| FrequencyGroup {
                frequency,
                weight: 0.0,
            })
            .collect();
        let mut rows: Vec<WeightedRow> = Vec::new();
        let mut previous = None;
        for key in keys {
            let group = (key >> 64) as u32;
            if previous == Some(key) {
                if let Some(last) = rows.last_mut() {
                    last.weight += 1.0;
                }
            } else {
                rows.push(WeightedRow {
                    weight: 1.0,
                    recency: (key >> 32) as u32,
                    age: key as u32,
                    group,
                });
            }
            groups[group as usize].weight += 1.0;
            previous = Some(key);
        }
        BgNbdObjective {
            dropout,
            groups,
            rows,
            times: times.values,
            total_weight: summaries.len() as f64,
        }
    }
}

impl Likelihood for BgNbdObjective {
    fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

impl Objective for BgNbdObjective {
    /// Mean negative log-likelihood over customers and its gradient in log-parameters.
    ///
    /// MBG/NBD's likelihood is BG/NBD's with one more dropout opportunity per customer:
    /// `B(a, b+x+1)` for `B(a, b+x)` and the dropout branch `a/(b+x)` for `a/(b+x−1)`,
    /// present for one-time buyers too (with `t_x = 0`). `shift` is that one.
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let BgNbdCoefficients { r, alpha, a, b } = BgNbdCoefficients::from_log(theta);
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));

        let (shift, dropout_at_first) = match self.dropout {
            Dropout::AfterRepeatPurchases => (0.0, false),
            Dropout::AfterEveryPurchase => (1.0, true),
        };
        // Group parts: ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x+shift) - ln B(a, b), all
        // rows of a group alike, so weighted once.
        let mut total = [0.0; 5];
        let terms: Vec<GroupTerms> = self
            .groups
            .iter()
            .map(|group| {
                let x = group.frequency;
                let w = group.weight;
                let (bx, abx) = (b + x + shift, a + b + x + shift);
                total[0] += w
                    * (ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(bx)
                        - lg_b
                        - ln_gamma(abx));
                total[1] += w * (digamma(r + x) - dg_r + ln_alpha);
                total[2] += w * r / alpha;
                total[3] += w * (dg_ab - digamma(abx));
                total[4] += w * (dg_ab + digamma(bx) - dg_b - digamma(abx));
                // `repeat`: the dropout branch is there (for BG/NBD only after a repeat).
                let repeat = x > 0.0 || dropout_at_first;
                let b_x_1 = if repeat { bx - 1.0 } else { 1.0 };
                GroupTerms {
                    r_plus_x: r + x,
                    repeat,
                    ln_dropout: ln_a - b_x_1.ln(),
                    d_ln_dropout_db: -1.0 / b_x_1,
                }
            })
            .collect();
        let (ln_alpha_t, inv_alpha_t): (Vec<f64>, Vec<f64>) = self
            .times
            .par_iter()
            .map(|t| ((alpha + t).ln(), 1.0 / (alpha + t)))
            .unzip();

        // Row parts: ln(e^A3 + δ e^A4) with A3 = -(r+x) ln(α+T), A4 = ln_dropout - (r+x) ln(α+t_x).
        let rows = self
            .rows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut acc = [0.0; 5];
                for row in chunk {
                    let g = terms[row.group as usize];
                    let w = row.weight;
                    let (ln_age, inv_age) =
                        (ln_alpha_t[row.age as usize], inv_alpha_t[row.age as usize]);
                    let a3 = -g.r_plus_x * ln_age;
                    if !g.repeat {
                        acc[0] += w * a3;
                        acc[1] -= w * ln_age;
                        acc[2] -= w * g.r_plus_x * inv_age;
                        continue;
                    }
                    let (ln_rec, inv_rec) = (
                        ln_alpha_t[row.recency as usize],
                        inv_alpha_t[row.recency as usize],
                    );
                    let a4 = g.ln_dropout - g.r_plus_x * ln_rec;
                    let (high, low) = if a3 >= a4 { (a3, a4) } else { (a4, a3) };
                    let e = (low - high).exp();
                    let share_low = e / (1.0 + e);
                    let (w3, w4) = if a3 >= a4 {
                        (1.0 - share_low, share_low)
                    } else {
                        (share_low, 1.0 - share_low)
                    };
                    acc[0] += w * (high + e.ln_1p());
                    acc[1] -= w * (w3 * ln_age + w4 * ln_rec);
                    acc[2] -= w * g.r_plus_x * (w3 * inv_age + w4 * inv_rec);
                    acc[3] += w * w4 / a;
                    acc[4] += w * w4 * g.d_ln_dropout_db;
                }
                acc
            })
            .reduce(
                || [0.0; 5],
                |mut x, y| {
                    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
                    x
                },
            );
        total.iter_mut().zip(rows).for_each(|(t, v)| *t += v);

        // d/dθ = p · d/dp for θ = ln p; negated and averaged.
        let scale = -1.0 / self.total_weight;
        for (k, p) in [r, alpha, a, b].into_iter().enumerate() {
            gradient[k] = scale * total[k + 1] * p;
        }
        scale * total[0]
    }
}

mod expectations;
mod family;
pub(crate) use family::{FamilyFit, fit_family};

#[cfg(test)]
mod tests;
