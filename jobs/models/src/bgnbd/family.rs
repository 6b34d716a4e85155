//! The fit BG/NBD and MBG/NBD share: the same coefficients, the same guards and the
//! same fallback rule, around their own likelihoods.

use super::{BgNbdCoefficients, initial_guess};
use crate::error::ModelError;
use crate::estimation::MIN_REPEAT_BUYERS;
use crate::history::RfmSummary;
use crate::optim::{self, FitSettings, Likelihood};

/// How a model of the BG/NBD family came out: fitted by likelihood, or why not.
pub(crate) enum FamilyFit {
    Fitted(optim::Fit<BgNbdCoefficients>),
    /// The reason for the documented fallback (see `crate::estimation`).
    FellBack(String),
}

/// What BG/NBD and MBG/NBD share: no customers is an error; fewer than
/// [`MIN_REPEAT_BUYERS`] repeat buyers, or an optimiser that gives up, falls back.
pub(crate) fn fit_family<L: Likelihood>(
    model: &'static str,
    summaries: &[RfmSummary],
    likelihood: impl Fn(&[RfmSummary]) -> L,
    start: Option<BgNbdCoefficients>,
    settings: FitSettings,
) -> Result<FamilyFit, ModelError> {
    if summaries.is_empty() {
        return Err(ModelError::NoCustomers { model, detail: "" });
    }
    let repeat_buyers = summaries.iter().filter(|s| s.frequency > 0.0).count();
    if repeat_buyers < MIN_REPEAT_BUYERS {
        return Ok(FamilyFit::FellBack(format!(
            "{repeat_buyers} of {} customers bought more than once; a fit needs {MIN_REPEAT_BUYERS}",
            summaries.len()
        )));
    }
    let start = start.unwrap_or_else(|| initial_guess(summaries));
    match optim::fit(model, summaries, likelihood, start, settings) {
        Ok(fit) => Ok(FamilyFit::Fitted(fit)),
        Err(error @ (ModelError::NotConverged { .. } | ModelError::Optimisation { .. })) => {
            Ok(FamilyFit::FellBack(error.to_string()))
        }
        Err(error) => Err(error),
    }
}
