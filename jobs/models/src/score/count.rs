//! Which model scores a shop: the candidates of the backtest that give counts, by name,
//! and their fits (see the module header of `score`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hybrid::FittedHybrid;
use crate::mbgnbd::FittedMbgNbd;
use crate::pareto_nbd::FittedParetoNbd;
use crate::recent_rate::FittedRecentRate;

/// The models a shop can be scored with: the candidates of the backtest's
/// `clv_metrics` that forecast purchases and P(alive), by the same names.
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
    /// BG/NBD counting the purchases, its CLV corrected by the shop's own time split
    /// ([`crate::hybrid`]); fitted from each customer's history, not from summaries.
    Hybrid,
    /// Each customer's recent purchase rate, old purchases discounted
    /// ([`crate::recent_rate`]); fitted from each customer's history.
    RecentRate,
}

impl CountModelKind {
    pub const ALL: [CountModelKind; 6] = [
        CountModelKind::Bgnbd,
        CountModelKind::BgnbdChurn,
        CountModelKind::ParetoNbd,
        CountModelKind::Mbgnbd,
        CountModelKind::Hybrid,
        CountModelKind::RecentRate,
    ];

    /// The candidate's name in the backtest's `clv_metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountModelKind::Bgnbd => "bgnbd",
            CountModelKind::BgnbdChurn => "bgnbd_churn",
            CountModelKind::ParetoNbd => "pareto_nbd",
            CountModelKind::Mbgnbd => "mbgnbd",
            CountModelKind::Hybrid => "hybrid",
            CountModelKind::RecentRate => "recent_rate",
        }
    }

    /// Whether the model is trained on each customer's history (a time split), so that
    /// it is fitted with [`crate::ScoreParams::fit_cohort`] and scores with
    /// [`crate::ScoringModel::score_cohort`], never from summaries alone.
    pub fn needs_histories(self) -> bool {
        matches!(self, CountModelKind::Hybrid | CountModelKind::RecentRate)
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

/// The fitted purchase-count model a [`crate::ScoringModel`] forecasts with. BG/NBD itself is
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
    /// BG/NBD's counts and P(alive); CLV times the correction.
    Hybrid(FittedHybrid),
    /// BG/NBD's P(alive); purchases at each customer's recent rate.
    RecentRate(FittedRecentRate),
}

impl CountModel {
    pub fn kind(&self) -> CountModelKind {
        match self {
            CountModel::Bgnbd => CountModelKind::Bgnbd,
            CountModel::BgnbdChurn => CountModelKind::BgnbdChurn,
            CountModel::ParetoNbd(_) => CountModelKind::ParetoNbd,
            CountModel::Mbgnbd(_) => CountModelKind::Mbgnbd,
            CountModel::Hybrid(_) => CountModelKind::Hybrid,
            CountModel::RecentRate(_) => CountModelKind::RecentRate,
        }
    }
}

/// What a model scored from histories learnt on the shop's time split, handed to
/// [`crate::ScoreParams::fit_cohort`].
#[derive(Debug, Clone, PartialEq)]
pub enum Trained {
    Hybrid(FittedHybrid),
    RecentRate(FittedRecentRate),
}

impl From<FittedHybrid> for Trained {
    fn from(correction: FittedHybrid) -> Self {
        Trained::Hybrid(correction)
    }
}

impl From<FittedRecentRate> for Trained {
    fn from(memory: FittedRecentRate) -> Self {
        Trained::RecentRate(memory)
    }
}
