//! Errors of the models and of the input readers.

use thiserror::Error;

/// Why a setting was refused, a fit failed or a forecast could not be made.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A setting is out of its range; `check()` reports it before any work is done.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// A customer summary breaks the model's assumptions (index into the input).
    #[error("customer #{index}: {reason}")]
    InvalidSummary { index: usize, reason: String },
    /// A purchase cannot be modelled (negative or non-finite amount).
    #[error("customer {customer}: {reason}")]
    InvalidPurchase { customer: String, reason: String },
    /// Nothing to fit on.
    #[error("{model}: no customers to fit on{detail}")]
    NoCustomers {
        model: &'static str,
        detail: &'static str,
    },
    /// The optimiser stopped without reaching a stationary point.
    #[error(
        "{model}: the fit did not converge after {iterations} iterations \
         (gradient norm {gradient_norm:.3e}{reason_sep}{reason})",
        reason_sep = if reason.is_empty() { "" } else { "; " }
    )]
    NotConverged {
        model: &'static str,
        iterations: u64,
        gradient_norm: f64,
        reason: String,
    },
    /// The optimiser itself failed.
    #[error("{model}: optimisation failed: {message}")]
    Optimisation {
        model: &'static str,
        message: String,
    },
    /// The fitted Gamma-Gamma model has no finite mean spend (`q <= 1`), so no spend
    /// forecast exists for anyone.
    #[error("gamma-gamma: q = {q:.4} <= 1, the average spend has no finite mean")]
    InfiniteMeanSpend { q: f64 },
    /// A hypergeometric series did not converge (a horizon far longer than the data).
    #[error("expected purchases: the series did not converge for horizon {horizon} weeks")]
    SeriesDiverged { horizon: f64 },
    /// The churn time split left a single class to learn from.
    #[error("churn: {0}")]
    ChurnTraining(String),
    /// The spend regression cannot be trained on its time split (too few customers, or
    /// too few on one side of "spent something in the window"), or its forecast is not
    /// finite.
    #[error("value model: {0}")]
    ValueTraining(String),
    /// The count models' correction cannot be trained on its time split (too few
    /// customers, or too few who spent in the window), or its forecast is not finite.
    #[error("hybrid: {0}")]
    HybridTraining(String),
    /// The recent-rate model's memory cannot be chosen on its time split (too few
    /// customers, or too few who bought in the window), or its forecast is not finite.
    #[error("recent rate: {0}")]
    RecentRateTraining(String),
    /// The classifier library failed.
    #[error("churn: logistic regression failed: {0}")]
    Logistic(#[from] linfa_logistic::error::Error),
}

/// Why an input file could not be read. Line numbers count from 1 and include the
/// header line.
#[derive(Debug, Error)]
pub enum InputError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the input is empty")]
    Empty,
    #[error("line {line}: {problem}")]
    Line { line: u64, problem: String },
    /// The rows parse but do not make a history.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl InputError {
    pub(crate) fn at(line: u64, problem: impl Into<String>) -> Self {
        InputError::Line {
            line,
            problem: problem.into(),
        }
    }
}

/// `Ok` for a finite, positive setting `name`; the error names it otherwise.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter {
            name,
            reason: format!("must be a positive number, got {value}"),
        })
    }
}
