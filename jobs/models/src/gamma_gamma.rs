//! The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013, "The Gamma-Gamma
//! model of monetary value"): each purchase of a customer is Gamma(p, ν) distributed and
//! ν ~ Gamma(q, γ) across customers, independent of how often they buy.
//!
//! Fitted on repeat customers (frequency > 0) with a positive average repeat spend, by
//! maximum likelihood over `ln(p, q, γ)` (argmin's L-BFGS, as for BG/NBD); the likelihood is that of each customer's
//! average spend over `x` purchases, as in lifetimes.

use linfa::ParamGuard;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::estimation::{Estimation, MIN_SPENDERS};
use crate::history::{RfmSummary, validate_all};
use crate::optim::{self, FitSettings, Likelihood, LogScale, Objective};
use crate::special::{digamma, ln_gamma};

const MODEL: &str = "gamma-gamma";

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaCoefficients {
    /// Shape of each purchase's spend.
    pub p: f64,
    /// Shape of the across-customer distribution of ν.
    pub q: f64,
    /// Rate of the across-customer distribution of ν (lifetimes' `v`).
    pub gamma: f64,
}

impl LogScale<3> for GammaGammaCoefficients {
    /// p and q; γ is a money scale.
    const SHAPES: &'static [usize] = &[0, 1];

    fn to_array(self) -> [f64; 3] {
        [self.p, self.q, self.gamma]
    }

    fn from_array([p, q, gamma]: [f64; 3]) -> Self {
        GammaGammaCoefficients { p, q, gamma }
    }
}

/// Entry point: `GammaGamma::fit(&summaries)` with defaults, or `GammaGamma::params()`.
pub struct GammaGamma;

impl GammaGamma {
    pub fn params() -> GammaGammaParams {
        GammaGammaParams::default()
    }

    pub fn fit(summaries: &[RfmSummary]) -> Result<FittedGammaGamma, ModelError> {
        GammaGamma::params().fit(summaries)
    }

    /// Whether a summary takes part in the fit.
    pub fn is_fit_on(s: &RfmSummary) -> bool {
        s.frequency > 0.0 && s.monetary > 0.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaValidParams {
    max_iterations: u64,
    tolerance: f64,
    warm_start_sample: usize,
}

/// Unchecked fitting settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams(GammaGammaValidParams);

impl Default for GammaGammaParams {
    fn default() -> Self {
        GammaGammaParams(GammaGammaValidParams {
            max_iterations: 500,
            tolerance: 1e-4,
            warm_start_sample: 50_000,
        })
    }
}

impl GammaGammaParams {
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

    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedGammaGamma, ModelError> {
        self.check_ref()?.fit(summaries)
    }
}

impl ParamGuard for GammaGammaParams {
    type Checked = GammaGammaValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&GammaGammaValidParams, ModelError> {
        self.0.settings().check()?;
        Ok(&self.0)
    }

    fn check(self) -> Result<GammaGammaValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl GammaGammaValidParams {
    /// Fits on the summaries with repeat purchases and positive spend; the others are
    /// skipped (they carry no information on spend variation).
    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedGammaGamma, ModelError> {
        validate_all(summaries)?;
        self.fit_valid(summaries)
    }

    /// [`Self::fit`] on summaries already validated.
    pub(crate) fn fit_valid(
        &self,
        summaries: &[RfmSummary],
    ) -> Result<FittedGammaGamma, ModelError> {
        let spenders: Vec<RfmSummary> = summaries
            .par_iter()
            .copied()
            .filter(GammaGamma::is_fit_on)
            .collect();
        if spenders.len() < MIN_SPENDERS {
            return Ok(fallback(
                &spenders,
                format!(
                    "repeat customers with spend: {}; a fit needs {MIN_SPENDERS}",
                    spenders.len()
                ),
            ));
        }
        let fit = match optim::fit(
            MODEL,
            &spenders,
            SpendObjective::new,
            initial_guess(&spenders),
            self.settings(),
        ) {
            Ok(fit) => fit,
            Err(error @ (ModelError::NotConverged { .. } | ModelError::Optimisation { .. })) => {
                return Ok(fallback(&spenders, error.to_string()));
            }
            Err(error) => return Err(error),
        };
        let parameters = fit.coefficients;
        if parameters.q <= 1.0 {
            return Ok(fallback(
                &spenders,
                ModelError::InfiniteMeanSpend { q: parameters.q }.to_string(),
            ));
        }
        Ok(FittedGammaGamma {
            parameters,
            standard_errors: fit.standard_errors,
            log_likelihood: fit.log_likelihood,
            customers: spenders.len(),
            iterations: fit.iterations,
            estimation: Estimation::MaximumLikelihood,
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

/// The fallback of [`crate::estimation`]: p = 1, q = 2 and γ the pooled mean spend of
/// the repeat purchases (0 without any), so a customer's own average is shrunk towards
/// the shop's with the weight of one purchase.
fn fallback(spenders: &[RfmSummary], reason: String) -> FittedGammaGamma {
    let (spend, purchases) = spenders.iter().fold((0.0, 0.0), |(m, x), s| {
        (m + s.frequency * s.monetary, x + s.frequency)
    });
    let pooled_mean = if purchases > 0.0 {
        spend / purchases
    } else {
        0.0
    };
    FittedGammaGamma {
        parameters: GammaGammaCoefficients {
            p: 1.0,
            q: 2.0,
            gamma: pooled_mean,
        },
        standard_errors: None,
        log_likelihood: 0.0,
        customers: spenders.len(),
        iterations: 0,
        estimation: Estimation::Fallback { reason },
    }
}

/// p = 1 and q = 2 make the population mean spend equal γ, so γ starts at the mean.
fn initial_guess(spenders: &[RfmSummary]) -> GammaGammaCoefficients {
    let mean = spenders.iter().map(|s| s.monetary).sum::<f64>() / spenders.len() as f64;
    GammaGammaCoefficients {
        p: 1.0,
        q: 2.0,
        gamma: mean.max(1e-6),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedGammaGamma {
    pub parameters: GammaGammaCoefficients,
    pub standard_errors: Option<GammaGammaCoefficients>,
    pub log_likelihood: f64,
    /// Customers the fit used (repeat buyers with positive spend).
    pub customers: usize,
    pub iterations: u64,
    /// Maximum likelihood, or the small-shop fallback and why.
    #[serde(default)]
    pub estimation: Estimation,
}

impl FittedGammaGamma {
    /// The model with known parameters (`customers` is 0: nothing was fitted). Needs
    /// `q > 1` for a finite mean spend.
    pub fn from_parameters(parameters: GammaGammaCoefficients) -> Result<Self, ModelError> {
        if parameters.q <= 1.0 {
            return Err(ModelError::InfiniteMeanSpend { q: parameters.q });
        }
        Ok(FittedGammaGamma {
            parameters,
            standard_errors: None,
            log_likelihood: 0.0,
            customers: 0,
            iterations: 0,
            estimation: Estimation::MaximumLikelihood,
        })
    }

    /// E[spend per purchase | x, m̄]: a credibility-weighted mix of the population mean
    /// `pγ / (q - 1)` and the customer's own average; the population mean without repeats.
    pub fn expected_spend(&self, s: &RfmSummary) -> f64 {
        let GammaGammaCoefficients { p, q, gamma } = self.parameters;
        let x = s.frequency;
        p * (gamma + x * s.monetary) / (p * x + q - 1.0)
    }

    /// The population mean spend per purchase.
    pub fn mean_spend(&self) -> f64 {
        let GammaGammaCoefficients { p, q, gamma } = self.parameters;
        p * gamma / (q - 1.0)
    }
}

/// Rows sorted by frequency: the Gamma-function terms are per distinct `x`, and `ln m̄`
/// does not change between evaluations, so an evaluation costs one logarithm and one
/// division per customer.
struct SpendObjective {
    groups: Vec<SpendGroup>,
    /// `x · m̄` per customer, in group order.
    total_spend: Vec<f64>,
    total_weight: f64,
}

struct SpendGroup {
    frequency: f64,
    count: f64,
    sum_ln_monetary: f64,
    start: usize,
    end: usize,
}

impl SpendObjective {
    fn new(spenders: &[RfmSummary]) -> Self {
        let mut rows: Vec<(f64, f64)> =
            spenders.iter().map(|s| (s.frequency, s.monetary)).collect();
        rows.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut groups: Vec<SpendGroup> = Vec::new();
        for (index, &(x, m)) in rows.iter().enumerate() {
            match groups.last_mut() {
                Some(group) if group.frequency == x => {
                    group.count += 1.0;
                    group.sum_ln_monetary += m.ln();
                    group.end = index + 1;
                }
                _ => groups.push(SpendGroup {
                    frequency: x,
                    count: 1.0,
                    sum_ln_monetary: m.ln(),
                    start: index,
                    end: index + 1,
                }),
            }
        }
        let total_spend = rows.iter().map(|&(x, m)| x * m).collect();
        SpendObjective {
            groups,
            total_spend,
            total_weight: spenders.len() as f64,
        }
    }
}

impl Likelihood for SpendObjective {
    fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

impl Objective for SpendObjective {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let GammaGammaCoefficients { p, q, gamma } = GammaGammaCoefficients::from_log(theta);
        let (lg_q, dg_q, ln_gamma_rate) = (ln_gamma(q), digamma(q), gamma.ln());
        // Σ ln(x m̄ + γ) and Σ 1 / (x m̄ + γ) per group; the only per-customer work.
        let sums: Vec<(f64, f64)> = self
            .groups
            .par_iter()
            .map(|group| {
                self.total_spend[group.start..group.end].iter().fold(
                    (0.0, 0.0),
                    |(ln_sum, inv_sum), &spend| {
                        let v = spend + gamma;
                        (ln_sum + v.ln(), inv_sum + 1.0 / v)
                    },
                )
            })
            .collect();
        let mut ll = 0.0;
        let mut d = [0.0; 3];
        for (group, (ln_sum, inv_sum)) in self.groups.iter().zip(sums) {
            let x = group.frequency;
            let n = group.count;
            let px = p * x;
            let (lg_pxq, dg_pxq, dg_px) = (ln_gamma(px + q), digamma(px + q), digamma(px));
            ll += n * (lg_pxq - ln_gamma(px) - lg_q + q * ln_gamma_rate + px * x.ln())
                + (px - 1.0) * group.sum_ln_monetary
                - (px + q) * ln_sum;
            d[0] += x * (n * (dg_pxq - dg_px + x.ln()) + group.sum_ln_monetary - ln_sum);
            d[1] += n * (dg_pxq - dg_q + ln_gamma_rate) - ln_sum;
            d[2] += n * q / gamma - (px + q) * inv_sum;
        }
        let scale = -1.0 / self.total_weight;
        for (k, value) in [p, q, gamma].into_iter().enumerate() {
            gradient[k] = scale * d[k] * value;
        }
        scale * ll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spenders() -> Vec<RfmSummary> {
        vec![
            RfmSummary::new(2.0, 30.43, 38.86, 22.35),
            RfmSummary::new(1.0, 1.71, 38.86, 11.77),
            RfmSummary::new(7.0, 29.43, 38.86, 73.74),
            RfmSummary::new(1.0, 5.0, 38.86, 11.77),
            RfmSummary::new(3.0, 10.0, 30.0, 35.0),
            RfmSummary::new(2.0, 12.0, 30.0, 18.0),
        ]
    }

    /// One customer's log-density of the average spend, written out directly.
    fn log_density(params: GammaGammaCoefficients, s: &RfmSummary) -> f64 {
        let GammaGammaCoefficients { p, q, gamma } = params;
        let (x, m) = (s.frequency, s.monetary);
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (x * m + gamma).ln()
    }

    #[test]
    fn likelihood_matches_the_density() {
        let params = GammaGammaCoefficients {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let mut gradient = [0.0; 3];
        let mean_nll =
            SpendObjective::new(&spenders()).value_and_gradient(&params.to_log(), &mut gradient);
        let direct: f64 = spenders().iter().map(|s| log_density(params, s)).sum();
        assert!((mean_nll * spenders().len() as f64 + direct).abs() < 1e-10);
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let objective = SpendObjective::new(&spenders());
        for theta in [
            [6.25f64.ln(), 3.74f64.ln(), 15.44f64.ln()],
            [0.0, 1.0, 2.0],
            [-0.5, 0.3, 4.0],
        ] {
            let error = optim::gradient_check(&objective, &theta);
            assert!(error < 1e-6, "relative gradient error {error} at {theta:?}");
        }
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let model = FittedGammaGamma::from_parameters(GammaGammaCoefficients {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        })
        .unwrap();
        let none = RfmSummary::new(0.0, 0.0, 30.0, 0.0);
        assert!((model.expected_spend(&none) - model.mean_spend()).abs() < 1e-12);
        let big_once = RfmSummary::new(1.0, 3.0, 30.0, 500.0);
        let big_often = RfmSummary::new(20.0, 29.0, 30.0, 500.0);
        let (once, often) = (
            model.expected_spend(&big_once),
            model.expected_spend(&big_often),
        );
        assert!(model.mean_spend() < once && once < often && often < 500.0);
        assert!(
            FittedGammaGamma::from_parameters(GammaGammaCoefficients {
                p: 1.0,
                q: 0.9,
                gamma: 1.0
            })
            .is_err()
        );
    }

    #[test]
    fn settings_are_checked_and_non_spenders_skipped() {
        assert!(GammaGamma::params().max_iterations(0).check().is_err());
        assert!(GammaGamma::params().tolerance(0.0).check().is_err());
        let nobody = [
            RfmSummary::new(0.0, 0.0, 10.0, 0.0),
            RfmSummary::new(2.0, 5.0, 10.0, 0.0),
        ];
        // Nobody to fit on: the documented fallback, spending nothing until a repeat
        // purchase shows what customers spend.
        let fallback = GammaGamma::fit(&nobody).unwrap();
        assert!(fallback.estimation.fallback_reason().is_some());
        assert_eq!(fallback.customers, 0);
        assert_eq!(fallback.mean_spend(), 0.0);
    }

    #[test]
    fn too_few_spenders_fall_back_to_the_pooled_mean() {
        let two = [
            RfmSummary::new(1.0, 3.0, 30.0, 10.0),
            RfmSummary::new(3.0, 20.0, 30.0, 30.0),
            RfmSummary::new(0.0, 0.0, 30.0, 0.0),
        ];
        let model = GammaGamma::fit(&two).unwrap();
        assert!(
            matches!(&model.estimation, Estimation::Fallback { reason } if reason.contains("repeat customers with spend: 2")),
            "{model:?}"
        );
        // Pooled mean (10 + 3·30) / 4 = 25; one-purchase shrinkage of the own average.
        assert!((model.mean_spend() - 25.0).abs() < 1e-12);
        assert!((model.expected_spend(&two[0]) - (25.0 + 10.0) / 2.0).abs() < 1e-12);
        assert!((model.expected_spend(&two[1]) - (25.0 + 90.0) / 4.0).abs() < 1e-12);
        assert_eq!(
            GammaGamma::fit(&spenders()).unwrap().estimation,
            Estimation::MaximumLikelihood
        );
    }

    #[test]
    fn fitted_model_round_trips_through_json() {
        let mut data = spenders();
        data.push(RfmSummary::new(0.0, 0.0, 38.0, 0.0));
        let model = GammaGamma::fit(&data).unwrap();
        assert_eq!(model.customers, spenders().len());
        let back: FittedGammaGamma =
            serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert_eq!(back, model);
    }
}
