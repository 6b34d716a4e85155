//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): while alive a customer
//! buys at a Poisson rate λ ~ Gamma(r, α) and dies at an exponential time of rate
//! μ ~ Gamma(s, β), independent of λ. Unlike BG/NBD a customer can die at any moment,
//! also before a first repeat purchase.
//!
//! Fitted by maximum likelihood over `ln(r, α, s, β)` (argmin's L-BFGS with the analytic
//! gradient, the two stages and weak shape prior of `optim`, on r and s). The
//! likelihood (Fader, Hardie & Lee 2005, "A note on deriving the Pareto/NBD model") is
//!
//! `L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ ]`
//!
//! — alive at T, or dead at some τ after the last purchase. The integral is usually
//! written as a difference of two ₂F₁ terms, which cancel badly when t_x is close to T
//! and converge slowly when α and β differ a lot. Here it is integrated directly, by
//! Gauss-Legendre on `w = ln(min(α, β) + τ)`, where the integrand is smooth and decays
//! at most like `e^-(r+x+s+1)·w`: in panels across which it changes by at most e², 16
//! nodes are exact to rounding. Everything is summed in logarithms (the integral is
//! often below 1e-100), and the parameter derivatives are integrals of the same
//! integrand, taken on the same nodes. Tested against the ₂F₁ form and against finite
//! differences.
//!
//! The log-likelihood convention is the one of the BG/NBD module: the full
//! per-customer likelihood summed, weeks as the unit.

use std::sync::OnceLock;

use linfa::ParamGuard;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::estimation::MIN_REPEAT_BUYERS;
use crate::history::{RfmSummary, validate_all};
use crate::optim::{self, FitSettings, Likelihood, LogScale, Objective};
use crate::special::{digamma, gauss_legendre, ln_gamma};

const MODEL: &str = "pareto/nbd";

/// The four population parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdCoefficients {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale (in weeks) of the purchase-rate distribution.
    pub alpha: f64,
    /// Shape of the death-rate distribution.
    pub s: f64,
    /// Scale (in weeks) of the death-rate distribution.
    pub beta: f64,
}

impl LogScale<4> for ParetoNbdCoefficients {
    /// r and s; α and β are time scales.
    const SHAPES: &'static [usize] = &[0, 2];

    fn to_array(self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    fn from_array([r, alpha, s, beta]: [f64; 4]) -> Self {
        ParetoNbdCoefficients { r, alpha, s, beta }
    }
}

/// Entry point: `ParetoNbd::fit(&summaries)` with defaults, or `ParetoNbd::params()`.
pub struct ParetoNbd;

impl ParetoNbd {
    pub fn params() -> ParetoNbdParams {
        ParetoNbdParams::default()
    }

    pub fn fit(summaries: &[RfmSummary]) -> Result<FittedParetoNbd, ModelError> {
        ParetoNbd::params().fit(summaries)
    }
}

/// Checked fitting settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdValidParams {
    max_iterations: u64,
    tolerance: f64,
    warm_start_sample: usize,
}

/// Unchecked fitting settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdParams(ParetoNbdValidParams);

impl Default for ParetoNbdParams {
    fn default() -> Self {
        ParetoNbdParams(ParetoNbdValidParams {
            max_iterations: 500,
            tolerance: 1e-4,
            warm_start_sample: 50_000,
        })
    }
}

impl ParetoNbdParams {
    /// Most L-BFGS iterations (default 500).
    pub fn max_iterations(mut self, iterations: u64) -> Self {
        self.0.max_iterations = iterations;
        self
    }

    /// As [`crate::BgNbdParams::tolerance`] (default 0.0001 standard errors).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.0.tolerance = tolerance;
        self
    }

    /// As [`crate::BgNbdParams::warm_start_sample`] (default 50 000; 0 disables).
    pub fn warm_start_sample(mut self, customers: usize) -> Self {
        self.0.warm_start_sample = customers;
        self
    }

    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedParetoNbd, ModelError> {
        self.check_ref()?.fit(summaries)
    }
}

impl ParamGuard for ParetoNbdParams {
    type Checked = ParetoNbdValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&ParetoNbdValidParams, ModelError> {
        self.0.settings().check()?;
        Ok(&self.0)
    }

    fn check(self) -> Result<ParetoNbdValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl ParetoNbdValidParams {
    /// Fits on the summaries. Unlike BG/NBD there is no fallback: Pareto/NBD is a
    /// model compared in the backtest, not the one that scores, so a shop with fewer
    /// than [`MIN_REPEAT_BUYERS`] repeat buyers is an error.
    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedParetoNbd, ModelError> {
        validate_all(summaries)?;
        let repeat_buyers = summaries.iter().filter(|s| s.frequency > 0.0).count();
        if repeat_buyers < MIN_REPEAT_BUYERS {
            return Err(ModelError::NoCustomers {
                model: MODEL,
                detail: " (too few repeat buyers)",
            });
        }
        let fit = optim::fit(
            MODEL,
            summaries,
            ParetoNbdObjective::new,
            initial_guess(summaries),
            self.settings(),
        )?;
        Ok(FittedParetoNbd {
            parameters: fit.coefficients,
            standard_errors: fit.standard_errors,
            log_likelihood: fit.log_likelihood,
            customers: summaries.len(),
            iterations: fit.iterations,
        })
    }

    fn settings(&self) -> FitSettings {
        FitSettings {
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            warm_start_sample: self.warm_start_sample,
        }
    }
}

/// r = s = 1, α matching the observed repeat rate and β the mean observation time.
fn initial_guess(summaries: &[RfmSummary]) -> ParetoNbdCoefficients {
    let (purchases, weeks) = summaries
        .iter()
        .fold((0.0, 0.0), |(x, t), s| (x + s.frequency, t + s.age));
    ParetoNbdCoefficients {
        r: 1.0,
        alpha: (weeks / purchases.max(1.0)).clamp(1e-3, 1e6),
        s: 1.0,
        beta: (weeks / summaries.len().max(1) as f64).clamp(1e-3, 1e6),
    }
}

/// A fitted Pareto/NBD model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedParetoNbd {
    pub parameters: ParetoNbdCoefficients,
    /// From the observed information at the optimum; `None` if it was singular.
    pub standard_errors: Option<ParetoNbdCoefficients>,
    /// Summed over the customers fitted on (weeks).
    pub log_likelihood: f64,
    pub customers: usize,
    pub iterations: u64,
}

impl FittedParetoNbd {
    /// The model with known parameters (`customers` is 0: nothing was fitted).
    pub fn from_parameters(parameters: ParetoNbdCoefficients) -> Self {
        FittedParetoNbd {
            parameters,
            standard_errors: None,
            log_likelihood: 0.0,
            customers: 0,
            iterations: 0,
        }
    }

    /// Log-likelihood of `summaries` under this model (summed, weeks).
    pub fn log_likelihood_of(&self, summaries: &[RfmSummary]) -> f64 {
        let objective = ParetoNbdObjective::new(summaries);
        let mut gradient = [0.0; 4];
        -objective.value_and_gradient(&self.parameters.to_log(), &mut gradient)
            * objective.total_weight()
    }

    /// P(alive at T | x, t_x, T): the "alive" share of the likelihood's bracket.
    pub fn p_alive(&self, s: &RfmSummary) -> f64 {
        customer_terms(&self.parameters, s.frequency, s.recency, s.age, rule()).p_alive
    }

    /// E[purchases in the next `horizon` weeks | x, t_x, T]: P(alive) times
    /// [`Self::expected_purchases_if_alive`].
    pub fn expected_purchases(&self, s: &RfmSummary, horizon: f64) -> f64 {
        self.p_alive(s) * self.expected_purchases_if_alive(s.frequency, s.age, horizon)
    }

    /// E[purchases in the next `horizon` weeks | alive at T, x, T]:
    /// `E[λ] · E[(1 − e^(−μt)) / μ]` under the posteriors Gamma(r+x, α+T) and
    /// Gamma(s, β+T), which is
    /// `(r+x)/(α+T) · (β+T)/(s−1) · [1 − ((β+T)/(β+T+t))^(s−1)]`, smooth through s = 1.
    /// It depends on `x` and `T` only, so a scorer can share it between customers.
    pub fn expected_purchases_if_alive(&self, frequency: f64, age: f64, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let ParetoNbdCoefficients {
            r,
            alpha,
            s: shape,
            beta,
        } = self.parameters;
        let log_growth = (horizon / (beta + age)).ln_1p();
        let s_minus_1 = shape - 1.0;
        let lifetime_factor = if s_minus_1.abs() < 1e-12 {
            log_growth
        } else {
            -(-s_minus_1 * log_growth).exp_m1() / s_minus_1
        };
        (r + frequency) / (alpha + age) * (beta + age) * lifetime_factor
    }
}

/// Gauss-Legendre nodes per panel.
const NODES: usize = 16;

/// The most panels one customer's integral is split into (a customer with hundreds of
/// repeat purchases over a long history).
const MAX_PANELS: usize = 2000;

/// The Gauss-Legendre rule, computed once.
fn rule() -> &'static [(f64, f64)] {
    static RULE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    RULE.get_or_init(|| gauss_legendre(NODES))
}

/// One customer's log-likelihood, its gradient in (r, α, s, β), and P(alive).
struct CustomerTerms {
    log_likelihood: f64,
    gradient: [f64; 4],
    p_alive: f64,
}

/// `ln ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ` and its derivatives in (r, α, s, β).
struct DeathIntegral {
    ln_value: f64,
    d_ln: [f64; 4],
}

fn death_integral(
    p: &ParetoNbdCoefficients,
    x: f64,
    recency: f64,
    age: f64,
    rule: &[(f64, f64)],
) -> Option<DeathIntegral> {
    if recency >= age {
        return None;
    }
    let ParetoNbdCoefficients { r, alpha, s, beta } = *p;
    let (k, s_plus_1) = (r + x, s + 1.0);
    let c = alpha.min(beta);
    let (w0, w1) = ((c + recency).ln(), (c + age).ln());
    // The log-integrand in w changes by at most (k + s + 1 − 1) per unit, the Jacobian
    // c + τ = e^w taking one off: keep that below 2 per panel.
    let decay = (k + s_plus_1) * (w1 - w0);
    let panels = ((decay / 2.0).ceil() as usize).clamp(1, MAX_PANELS);
    let width = (w1 - w0) / panels as f64;
    // Streaming log-sum-exp of the node values g and the weighted means of the
    // derivative pieces.
    let mut max = f64::NEG_INFINITY;
    let mut sums = [0.0f64; 5];
    for panel in 0..panels {
        let left = w0 + width * panel as f64;
        for &(node, weight) in rule {
            let w = left + width * 0.5 * (node + 1.0);
            let tau = w.exp() - c;
            let (ln_a, ln_b) = ((alpha + tau).ln(), (beta + tau).ln());
            let g = -k * ln_a - s_plus_1 * ln_b + w + (weight * width * 0.5).ln();
            if g > max {
                let scale = (max - g).exp();
                sums.iter_mut().for_each(|v| *v *= scale);
                max = g;
            }
            let e = (g - max).exp();
            sums[0] += e;
            sums[1] += e * ln_a;
            sums[2] += e / (alpha + tau);
            sums[3] += e * ln_b;
            sums[4] += e / (beta + tau);
        }
    }
    let total = sums[0];
    let ln_value = max + total.ln();
    ln_value.is_finite().then(|| DeathIntegral {
        ln_value,
        d_ln: [
            -sums[1] / total,
            -k * sums[2] / total,
            -sums[3] / total,
            -s_plus_1 * sums[4] / total,
        ],
    })
}

fn customer_terms(
    p: &ParetoNbdCoefficients,
    x: f64,
    recency: f64,
    age: f64,
    rule: &[(f64, f64)],
) -> CustomerTerms {
    let ParetoNbdCoefficients { r, alpha, s, beta } = *p;
    let k = r + x;
    let (ln_alpha_t, ln_beta_t) = ((alpha + age).ln(), (beta + age).ln());
    let constant = ln_gamma(k) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    let alive = -k * ln_alpha_t - s * ln_beta_t;
    let mut gradient = [
        digamma(k) - digamma(r) + alpha.ln(),
        r / alpha,
        beta.ln(),
        s / beta,
    ];
    let d_alive = [
        -ln_alpha_t,
        -k / (alpha + age),
        -ln_beta_t,
        -s / (beta + age),
    ];
    let Some(death) = death_integral(p, x, recency, age, rule) else {
        gradient.iter_mut().zip(d_alive).for_each(|(g, d)| *g += d);
        return CustomerTerms {
            log_likelihood: constant + alive,
            gradient,
            p_alive: 1.0,
        };
    };
    let dead = s.ln() + death.ln_value;
    let (high, low) = if alive >= dead {
        (alive, dead)
    } else {
        (dead, alive)
    };
    let e = (low - high).exp();
    let share_low = e / (1.0 + e);
    let (share_alive, share_dead) = if alive >= dead {
        (1.0 - share_low, share_low)
    } else {
        (share_low, 1.0 - share_low)
    };
    let mut d_dead = death.d_ln;
    d_dead[2] += 1.0 / s;
    for i in 0..4 {
        gradient[i] += share_alive * d_alive[i] + share_dead * d_dead[i];
    }
    CustomerTerms {
        log_likelihood: constant + high + e.ln_1p(),
        gradient,
        p_alive: share_alive,
    }
}

/// Customers with the same (x, t_x, T) share a term; the fit runs over distinct rows.
struct ParetoNbdObjective {
    /// (x, t_x, T, weight).
    rows: Vec<(f64, f64, f64, f64)>,
    total_weight: f64,
}

impl ParetoNbdObjective {
    fn new(summaries: &[RfmSummary]) -> Self {
        let mut keys: Vec<(u64, u64, u64)> = summaries
            .iter()
            .map(|s| (s.frequency.to_bits(), s.recency.to_bits(), s.age.to_bits()))
            .collect();
        keys.par_sort_unstable();
        let mut rows: Vec<(f64, f64, f64, f64)> = Vec::new();
        let mut previous = None;
        for key in keys {
            match rows.last_mut() {
                Some(row) if previous == Some(key) => row.3 += 1.0,
                _ => rows.push((
                    f64::from_bits(key.0),
                    f64::from_bits(key.1),
                    f64::from_bits(key.2),
                    1.0,
                )),
            }
            previous = Some(key);
        }
        ParetoNbdObjective {
            rows,
            total_weight: summaries.len() as f64,
        }
    }
}

impl Likelihood for ParetoNbdObjective {
    fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

/// Rows per parallel task.
const CHUNK: usize = 1024;

impl Objective for ParetoNbdObjective {
    /// Mean negative log-likelihood over customers and its gradient in log-parameters.
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let p = ParetoNbdCoefficients::from_log(theta);
        let totals = self
            .rows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut acc = [0.0; 5];
                for &(x, recency, age, weight) in chunk {
                    let terms = customer_terms(&p, x, recency, age, rule());
                    acc[0] += weight * terms.log_likelihood;
                    for i in 0..4 {
                        acc[i + 1] += weight * terms.gradient[i];
                    }
                }
                acc
            })
            .reduce(
                || [0.0; 5],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        let scale = -1.0 / self.total_weight;
        for (k, value) in p.to_array().into_iter().enumerate() {
            gradient[k] = scale * totals[k + 1] * value;
        }
        scale * totals[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::hyp2f1;

    fn summaries() -> Vec<RfmSummary> {
        vec![
            RfmSummary::new(2.0, 30.43, 38.86, 22.35),
            RfmSummary::new(1.0, 1.71, 38.86, 11.77),
            RfmSummary::new(0.0, 0.0, 38.86, 0.0),
            RfmSummary::new(0.0, 0.0, 12.0, 0.0),
            RfmSummary::new(7.0, 35.71, 38.86, 40.0),
            RfmSummary::new(5.0, 10.0, 36.0, 15.0),
            RfmSummary::new(3.0, 20.0, 20.0, 9.0),
            RfmSummary::new(30.0, 2.0, 60.0, 9.0),
        ]
    }

    /// FHL (2005) note, eq. (22): the likelihood with the ₂F₁ form of the integral.
    fn textbook_log_likelihood(p: &ParetoNbdCoefficients, s: &RfmSummary) -> f64 {
        let ParetoNbdCoefficients {
            r,
            alpha,
            s: shape,
            beta,
        } = *p;
        let (x, tx, t) = (s.frequency, s.recency, s.age);
        let rsx = r + shape + x;
        let (larger, z_param, difference) = if alpha >= beta {
            (alpha, shape + 1.0, alpha - beta)
        } else {
            (beta, r + x, beta - alpha)
        };
        let term = |time: f64| {
            hyp2f1(rsx, z_param, rsx + 1.0, difference / (larger + time)).unwrap()
                / (larger + time).powf(rsx)
        };
        let a0 = term(tx) - term(t);
        let bracket = 1.0 / ((alpha + t).powf(r + x) * (beta + t).powf(shape)) + shape / rsx * a0;
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + shape * beta.ln() + bracket.ln()
    }

    #[test]
    fn likelihood_matches_the_hypergeometric_form() {
        for p in [
            ParetoNbdCoefficients {
                r: 0.55,
                alpha: 10.58,
                s: 0.61,
                beta: 11.67,
            },
            ParetoNbdCoefficients {
                r: 1.3,
                alpha: 4.0,
                s: 2.5,
                beta: 1.5,
            },
            ParetoNbdCoefficients {
                r: 0.2,
                alpha: 0.5,
                s: 0.3,
                beta: 40.0,
            },
        ] {
            let model = FittedParetoNbd::from_parameters(p);
            for s in summaries() {
                let ours = model.log_likelihood_of(&[s]);
                let textbook = textbook_log_likelihood(&p, &s);
                assert!(
                    (ours - textbook).abs() < 1e-10 * textbook.abs().max(1.0),
                    "{p:?} {s:?}: {ours} against {textbook}"
                );
            }
        }
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let objective = ParetoNbdObjective::new(&summaries());
        for theta in [
            [0.55f64.ln(), 10.58f64.ln(), 0.61f64.ln(), 11.67f64.ln()],
            [0.3, 1.2, 0.9, 0.4],
            [-1.5, -0.7, -1.2, 3.7],
        ] {
            let error = optim::gradient_check(&objective, &theta);
            assert!(error < 1e-6, "relative gradient error {error} at {theta:?}");
        }
    }

    #[test]
    fn forecasts_follow_the_posterior() {
        let model = FittedParetoNbd::from_parameters(ParetoNbdCoefficients {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        });
        // Bought at the very end: certainly alive.
        let fresh = RfmSummary::new(3.0, 20.0, 20.0, 9.0);
        assert_eq!(model.p_alive(&fresh), 1.0);
        // The longer the silence, the likelier dead, and the fewer purchases expected.
        let recent = RfmSummary::new(5.0, 35.0, 38.0, 9.0);
        let silent = RfmSummary::new(5.0, 5.0, 38.0, 9.0);
        assert!(model.p_alive(&silent) < model.p_alive(&recent));
        assert!(model.expected_purchases(&silent, 39.0) < model.expected_purchases(&recent, 39.0));
        // Smooth through s = 1.
        let around = |shape: f64| {
            FittedParetoNbd::from_parameters(ParetoNbdCoefficients {
                s: shape,
                ..model.parameters
            })
            .expected_purchases(&recent, 39.0)
        };
        let (below, at, above) = (around(1.0 - 1e-7), around(1.0), around(1.0 + 1e-7));
        assert!((below - at).abs() < 1e-6 && (above - at).abs() < 1e-6);
        assert_eq!(model.expected_purchases(&recent, 0.0), 0.0);
    }

    #[test]
    fn fits_round_trip_and_refuse_too_little_data() {
        let model = ParetoNbd::fit(&summaries()).unwrap();
        let back: FittedParetoNbd =
            serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert_eq!(back, model);
        assert!(matches!(
            ParetoNbd::fit(&summaries()[..3]),
            Err(ModelError::NoCustomers { .. })
        ));
        assert!(ParetoNbd::params().max_iterations(0).check().is_err());
    }
}
