//! The MBG/NBD model (Batislam, Denizel & Filiztekin 2007; lifetimes'
//! `ModifiedBetaGeoFitter`): BG/NBD with one more dropout opportunity, right after the
//! first purchase. Under BG/NBD a one-time buyer is alive for sure, however long ago
//! that purchase was; here they may have left at once, so P(alive) falls for them as
//! they age, which is what a shop whose one-time buyers mostly never return sees.
//!
//! While alive a customer buys at a Poisson rate λ ~ Gamma(r, α) and after every
//! purchase, the first one included, drops out with probability p ~ Beta(a, b). The
//! likelihood of `(x, t_x, T)` is
//! `Γ(r+x) αʳ / (Γ(r) (α+T)^(r+x)) · B(a, b+x+1)/B(a, b) · [1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)]`
//! (with `t_x = 0` for one-time buyers): BG/NBD's with `b + x + 1` for `b + x` and its
//! dropout branch present for everyone. The fit therefore uses BG/NBD's objective (one
//! pass over the distinct rows, the analytic gradient, the same two-stage L-BFGS with
//! the weak shape prior), told which dropout rule holds.
//!
//! Given alive at `T` after `x` repeat purchases, the customer has survived `x + 1`
//! dropout opportunities, so the dropout probability's posterior is Beta(a, b+x+1): the
//! future is BG/NBD's with `b + 1` in place of `b`, and conditional expected purchases
//! reuse BG/NBD's series (and its quadrature where the series would overflow).

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{
    BgNbdCoefficients, BgNbdObjective, BgNbdParams, Dropout, FamilyFit, FittedBgNbd, fit_family,
    no_purchase_probability,
};
use crate::error::ModelError;
use crate::estimation::Estimation;
use crate::history::{RfmSummary, validate_all};
use crate::optim::{Likelihood, LogScale, Objective};
use crate::special::logistic;

const MODEL: &str = "mbg/nbd";

/// Entry point: `MbgNbd::fit(&summaries)` with defaults, or `MbgNbd::params()` to adjust.
pub struct MbgNbd;

impl MbgNbd {
    pub fn params() -> MbgNbdParams {
        MbgNbdParams::default()
    }

    pub fn fit(summaries: &[RfmSummary]) -> Result<FittedMbgNbd, ModelError> {
        MbgNbd::params().fit(summaries)
    }
}

/// Fitting settings: BG/NBD's (iterations, tolerance, start, warm-start sample), which
/// mean the same here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MbgNbdParams(pub BgNbdParams);

impl MbgNbdParams {
    pub fn fit(&self, summaries: &[RfmSummary]) -> Result<FittedMbgNbd, ModelError> {
        self.check_ref()?;
        validate_all(summaries)?;
        self.fit_valid(summaries)
    }

    /// [`Self::fit`] on summaries already validated, with checked settings.
    pub(crate) fn fit_valid(&self, summaries: &[RfmSummary]) -> Result<FittedMbgNbd, ModelError> {
        let settings = self.0.check_ref()?;
        let fitted = fit_family(
            MODEL,
            summaries,
            |data| BgNbdObjective::with_dropout(data, Dropout::AfterEveryPurchase),
            settings.initial(),
            settings.settings(),
        )?;
        Ok(match fitted {
            FamilyFit::Fitted(fit) => FittedMbgNbd {
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
}

impl ParamGuard for MbgNbdParams {
    type Checked = MbgNbdParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&MbgNbdParams, ModelError> {
        self.0.check_ref()?;
        Ok(self)
    }

    fn check(self) -> Result<MbgNbdParams, ModelError> {
        self.check_ref()?;
        Ok(self)
    }
}

/// BG/NBD's fallback of [`crate::estimation`] (the pooled repeat rate with half a
/// purchase added, exponential rates, a uniform dropout probability), for the same
/// reasons.
fn fallback(summaries: &[RfmSummary], reason: String) -> FittedMbgNbd {
    let (purchases, weeks) = summaries
        .iter()
        .fold((0.0, 0.0), |(x, t), s| (x + s.frequency, t + s.age));
    let mut model = FittedMbgNbd::from_parameters(BgNbdCoefficients {
        r: 1.0,
        alpha: (weeks / (purchases + 0.5)).max(1e-3),
        a: 1.0,
        b: 1.0,
    });
    model.customers = summaries.len();
    model.log_likelihood = model.log_likelihood_of(summaries);
    model.estimation = Estimation::Fallback { reason };
    model
}

/// A fitted MBG/NBD model. The coefficients mean what BG/NBD's do, hence the same type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedMbgNbd {
    pub parameters: BgNbdCoefficients,
    /// From the observed information at the optimum; `None` if it was singular.
    pub standard_errors: Option<BgNbdCoefficients>,
    /// Summed over the customers fitted on, weeks as the unit (as for BG/NBD).
    pub log_likelihood: f64,
    pub customers: usize,
    pub iterations: u64,
    #[serde(default)]
    pub estimation: Estimation,
}

impl FittedMbgNbd {
    /// The model with known parameters (`customers` is 0: nothing was fitted).
    pub fn from_parameters(parameters: BgNbdCoefficients) -> Self {
        FittedMbgNbd {
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
        let objective = BgNbdObjective::with_dropout(summaries, Dropout::AfterEveryPurchase);
        let mut gradient = [0.0; 4];
        -objective.value_and_gradient(&self.parameters.to_log(), &mut gradient)
            * objective.total_weight()
    }

    /// P(alive at T | x, t_x, T) = `1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))`, for
    /// one-time buyers too.
    pub fn p_alive(&self, s: &RfmSummary) -> f64 {
        let BgNbdCoefficients { r, alpha, a, b } = self.parameters;
        let x = s.frequency;
        let ln_odds_dead =
            a.ln() - (b + x).ln() + (r + x) * ((alpha + s.age).ln() - (alpha + s.recency).ln());
        logistic(-ln_odds_dead)
    }

    /// BG/NBD with `b + 1`: the same future given alive (see the module header).
    fn alive_future(&self) -> FittedBgNbd {
        FittedBgNbd::from_parameters(BgNbdCoefficients {
            b: self.parameters.b + 1.0,
            ..self.parameters
        })
    }

    /// E[purchases in the next `horizon` weeks | alive at T, x, T]; depends on `x` and
    /// `T` only, so a scorer can share it between customers.
    pub fn expected_purchases_if_alive(
        &self,
        frequency: f64,
        age: f64,
        horizon: f64,
    ) -> Result<f64, ModelError> {
        self.alive_future()
            .expected_purchases_if_alive(frequency, age, horizon)
    }

    /// E[purchases in the next `horizon` weeks | x, t_x, T] (Batislam et al. 2007, and
    /// lifetimes' `conditional_expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases(&self, s: &RfmSummary, horizon: f64) -> Result<f64, ModelError> {
        Ok(self.p_alive(s) * self.expected_purchases_if_alive(s.frequency, s.age, horizon)?)
    }

    /// `((α + T) / (α + T + t))^(r + x)`: an alive customer's chance of buying nothing in
    /// the window (dropout needs a purchase first, as in BG/NBD).
    pub fn prob_no_purchase_if_alive(&self, frequency: f64, age: f64, horizon: f64) -> f64 {
        self.alive_future()
            .prob_no_purchase_if_alive(frequency, age, horizon)
    }

    /// P(no purchase in the next `horizon` weeks | x, t_x, T).
    pub fn prob_no_purchase(&self, s: &RfmSummary, horizon: f64) -> f64 {
        no_purchase_probability(
            self.p_alive(s),
            self.prob_no_purchase_if_alive(s.frequency, s.age, horizon),
        )
    }
}

#[cfg(test)]
mod tests;
