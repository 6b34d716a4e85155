//! Which model counts a shop's purchases: the candidates of the backtest, by name, and
//! their fits (see the module header of `score`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mbgnbd::FittedMbgNbd;
use crate::pareto_nbd::FittedParetoNbd;

/// The purchase-count models a shop can be scored with: the candidates of the
/// backtest's `clv_metrics`, by the same names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountModelKind {
    /// BG/NBD alone.
    Bgnbd,
    /// BG/NBD with the churn classifier's P(no purchase) in its window.
    #[default]
    BgnbdChurn,
    /// Pareto/NBD.
    ParetoNbd,
    /// MBG/NBD.
    Mbgnbd,
}

impl CountModelKind {
    pub const ALL: [CountModelKind; 4] = [
        CountModelKind::Bgnbd,
        CountModelKind::BgnbdChurn,
        CountModelKind::ParetoNbd,
        CountModelKind::Mbgnbd,
    ];

    /// The candidate's name in the backtest's `clv_metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountModelKind::Bgnbd => "bgnbd",
            CountModelKind::BgnbdChurn => "bgnbd_churn",
            CountModelKind::ParetoNbd => "pareto_nbd",
            CountModelKind::Mbgnbd => "mbgnbd",
        }
    }

    /// The kind a backtest candidate's name stands for; `None` for a baseline or an
    /// unknown name.
    pub fn from_name(name: &str) -> Option<CountModelKind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for CountModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fitted purchase-count model a [`ScoringModel`] forecasts with. BG/NBD itself is
/// always fitted (the classifier's features and the churn risk need it), so its two
/// variants carry nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum CountModel {
    Bgnbd,
    #[default]
    BgnbdChurn,
    ParetoNbd(FittedParetoNbd),
    Mbgnbd(FittedMbgNbd),
}

impl CountModel {
    pub fn kind(&self) -> CountModelKind {
        match self {
            CountModel::Bgnbd => CountModelKind::Bgnbd,
            CountModel::BgnbdChurn => CountModelKind::BgnbdChurn,
            CountModel::ParetoNbd(_) => CountModelKind::ParetoNbd,
            CountModel::Mbgnbd(_) => CountModelKind::Mbgnbd,
        }
    }
}
