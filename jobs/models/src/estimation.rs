//! How a fitted model's parameters were obtained: by maximum likelihood, or — for a shop
//! too small to estimate them — by a documented fallback.
//!
//! The likelihood fits (with the weak prior of the optimiser, see the crate's README)
//! converge even on a few dozen customers. Below that, a model is not estimated at all
//! when it has fewer informative customers than parameters, or when its fit fails:
//!
//! - BG/NBD, fewer than [`MIN_REPEAT_BUYERS`] customers with a repeat purchase:
//!   `r = 1, a = b = 1` (exponentially distributed purchase rates, a uniform dropout
//!   probability: nothing is claimed about heterogeneity) and `α = r ΣT / (Σx + ½)`,
//!   so the mean rate is the shop's pooled repeat-purchase rate, with half a purchase
//!   added so that a shop without repeats yet does not forecast exactly nothing.
//! - Gamma-Gamma, fewer than [`MIN_SPENDERS`] repeat customers with spend, or a fit
//!   whose spend has no finite mean (`q ≤ 1`): `p = 1, q = 2, γ = m` with `m` the pooled
//!   mean spend of the repeat purchases, so a customer's expected spend is
//!   `(m + x m̄) / (x + 1)`: their own average shrunk towards the shop's with the weight
//!   of one purchase. Without any repeat spend `m = 0`: spend forecasts (and CLV) are 0
//!   until a repeat purchase is seen, and no one is marked VIP for a CLV of 0.
//!
//! The fallback is recorded in the fitted model ([`Estimation::Fallback`] with the
//! reason), serialised with it, and listed by the backtest, so nothing falls back
//! silently.

use serde::{Deserialize, Serialize};

/// Fewest repeat buyers for a BG/NBD likelihood fit: its four parameters.
pub const MIN_REPEAT_BUYERS: usize = 4;

/// Fewest repeat customers with spend for a Gamma-Gamma likelihood fit: its three
/// parameters.
pub const MIN_SPENDERS: usize = 3;

/// How a model's parameters were obtained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Estimation {
    /// Maximum likelihood (with the weak prior on shape parameters).
    #[default]
    MaximumLikelihood,
    /// The fallback of the module header, and why it was taken.
    Fallback { reason: String },
}

impl Estimation {
    /// The reason, if this is a fallback.
    pub fn fallback_reason(&self) -> Option<&str> {
        match self {
            Estimation::MaximumLikelihood => None,
            Estimation::Fallback { reason } => Some(reason),
        }
    }
}
