//! The backtest's comparison of the ways of forecasting each customer's holdout spend,
//! and the rule that chooses among them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{ClvMetrics, Lead};
use crate::score::CountModelKind;

/// [`ClvMetrics`] of each way of forecasting a customer's spend in the holdout, keyed by
/// name, and `chosen`, the candidate the shop would be scored with: among the
/// candidates a shop can be scored with ([`CountModelKind`]: all but `value_model`,
/// which forecasts no P(alive) or purchases) and at least as accurate as the most
/// accurate count model (RMSE no higher than the lowest of `bgnbd`, `bgnbd_churn`,
/// `pareto_nbd`, `mbgnbd`), the one with the highest normalised Gini (ranking customers
/// is what the segments and the VIP cut-off use), a tie going to the lower
/// `decile_mape` (the better calibrated total per decile), then to the earlier name in
/// [`ClvComparison::CANDIDATES`]. A candidate that ranks better only by forecasting
/// individual customers worse is not chosen; the most accurate count model always
/// qualifies, so there is always a choice. `value_model` and the baselines are there to
/// be read against and are never chosen.
///
/// Candidates, each × Gamma-Gamma for the spend per purchase:
/// - `bgnbd`: BG/NBD's conditional expected purchases;
/// - `bgnbd_churn`: the same with the churn classifier's P(no purchase) in place of
///   BG/NBD's (what `ScoreParams::fit` scores; equal to `bgnbd` without a classifier);
/// - `pareto_nbd`: Pareto/NBD's conditional expected purchases (left out, with the
///   reason in `fallbacks`, when it cannot be fitted);
/// - `mbgnbd`: MBG/NBD's conditional expected purchases;
/// - `value_model`: not a count model but a direct regression of each customer's spend
///   on calibration-period features, zero-inflated lognormal ([`crate::value`]), trained
///   on the churn classifier's time split inside the calibration period and carried to
///   the holdout by BG/NBD's time shape (left out, with the reason in `fallbacks`, when
///   it cannot be trained);
/// - `hybrid`: BG/NBD × Gamma-Gamma's forecast times a log-linear correction trained on
///   the same split ([`crate::hybrid`]; left out like `value_model`);
/// - `recent_rate`: each customer's recent purchase rate, old purchases discounted with
///   a memory chosen on the same split ([`crate::recent_rate`]; left out like
///   `value_model`).
///
/// Baselines:
/// - `zero_forecast`: nobody spends anything;
/// - `last_period`: each customer's calibration repeat spend per week (`x · m̄ / T`,
///   the first purchase being the acquisition, not a repeat) carried over the holdout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClvComparison {
    #[serde(flatten)]
    pub entries: BTreeMap<&'static str, ClvMetrics>,
    pub chosen: &'static str,
    /// `chosen`'s lead over each other candidate and `last_period` in normalised Gini
    /// and top-20 % capture, with jackknife standard errors ([`Lead`]): whether its
    /// ranking is better than theirs beyond what other customers of the same shop
    /// could have changed. Empty for too few customers (and in backtests stored before
    /// it was measured).
    pub chosen_lead: BTreeMap<&'static str, Lead>,
}

/// A [`ClvComparison`] as stored, before its names are checked.
#[derive(Deserialize)]
struct StoredClvComparison {
    #[serde(flatten)]
    entries: BTreeMap<String, ClvMetrics>,
    chosen: String,
    #[serde(default)]
    chosen_lead: BTreeMap<String, Lead>,
}

impl<'de> Deserialize<'de> for ClvComparison {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredClvComparison::deserialize(d)?;
        Self::try_from(stored).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<StoredClvComparison> for ClvComparison {
    type Error = String;

    fn try_from(stored: StoredClvComparison) -> Result<Self, String> {
        let names = [Self::CANDIDATES.as_slice(), &Self::BASELINES].concat();
        Ok(ClvComparison {
            entries: crate::names::known_keys(stored.entries, &names)?,
            chosen: crate::names::known(&stored.chosen, &names)?,
            chosen_lead: crate::names::known_keys(stored.chosen_lead, &names)?,
        })
    }
}

impl ClvComparison {
    /// The candidate models, in the order ties are broken.
    pub const CANDIDATES: [&'static str; 7] = [
        "bgnbd",
        "bgnbd_churn",
        "pareto_nbd",
        "mbgnbd",
        "value_model",
        "hybrid",
        "recent_rate",
    ];
    /// The trivial baselines.
    pub const BASELINES: [&'static str; 2] = ["zero_forecast", "last_period"];
    /// The count models, whose lowest RMSE a chosen candidate must match.
    pub const COUNT_MODELS: [&'static str; 4] = ["bgnbd", "bgnbd_churn", "pareto_nbd", "mbgnbd"];

    pub(super) fn new(entries: BTreeMap<&'static str, ClvMetrics>) -> Self {
        let mut comparison = ClvComparison {
            entries,
            chosen: Self::CANDIDATES[0],
            chosen_lead: BTreeMap::new(),
        };
        let scorable = CountModelKind::ALL.map(CountModelKind::as_str);
        if let Some(chosen) = comparison.choice_among(&scorable) {
            comparison.chosen = chosen;
        }
        comparison
    }

    /// Measures [`Self::chosen_lead`] from each forecast of the holdout spend by name
    /// (`chosen`'s among them) against `actual`; `zero_forecast`, which ranks nobody, is
    /// left out.
    pub(super) fn measure_leads(
        &mut self,
        forecasts: &BTreeMap<&'static str, Vec<f64>>,
        actual: &[f64],
    ) {
        let Some(chosen) = forecasts.get(self.chosen) else {
            return;
        };
        let others: Vec<(&'static str, &[f64])> = (forecasts.iter())
            .filter(|(name, _)| **name != self.chosen && **name != "zero_forecast")
            .map(|(name, other)| (*name, other.as_slice()))
            .collect();
        let leads = Lead::over_each(chosen, others.iter().map(|(_, other)| *other), actual);
        self.chosen_lead = (others.iter().zip(leads))
            .filter_map(|((name, _), lead)| Some((*name, lead?)))
            .collect();
    }

    /// The one of `candidates` that `chosen`'s rule picks when only they can be used:
    /// the highest normalised Gini, a tie going to the lower decile MAPE, among those
    /// whose RMSE is at most the lowest of the count models' (among all of
    /// `candidates` when none is); `None` when `candidates` is empty.
    pub fn choice_among(&self, candidates: &[&'static str]) -> Option<&'static str> {
        let floor = Self::COUNT_MODELS
            .iter()
            .filter_map(|name| self.entries.get(name))
            .map(|m| m.rmse)
            .fold(f64::INFINITY, f64::min);
        let accurate: Vec<&'static str> = candidates
            .iter()
            .copied()
            .filter(|name| self.entries.get(name).is_some_and(|m| m.rmse <= floor))
            .collect();
        if accurate.is_empty() {
            self.best_among(candidates)
        } else {
            self.best_among(&accurate)
        }
    }

    /// The one of `candidates` with the highest normalised Gini, a tie going to the lower
    /// decile MAPE (the first of them if none was measured): `chosen`'s ranking without
    /// its accuracy condition.
    pub fn best_among(&self, candidates: &[&'static str]) -> Option<&'static str> {
        (!candidates.is_empty()).then(|| best_of(&self.entries, candidates))
    }
}

/// The highest normalised Gini among `candidates`, a tie going to the lower decile MAPE,
/// then to the earlier candidate; `candidates` must not be empty.
fn best_of(
    entries: &BTreeMap<&'static str, ClvMetrics>,
    candidates: &[&'static str],
) -> &'static str {
    let gini = |name: &str| {
        entries
            .get(name)
            .and_then(|m| m.normalized_gini)
            .unwrap_or(f64::NEG_INFINITY)
    };
    let mape = |name: &str| {
        entries
            .get(name)
            .and_then(|m| m.decile_mape)
            .unwrap_or(f64::INFINITY)
    };
    let mut chosen = candidates.first().copied().unwrap_or_default();
    for &candidate in candidates {
        let (g, best) = (gini(candidate), gini(chosen));
        if g > best || (g == best && mape(candidate) < mape(chosen)) {
            chosen = candidate;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::{BTreeMap, ClvComparison, ClvMetrics};

    #[test]
    fn the_candidate_that_ranks_best_is_chosen_and_baselines_never_are() {
        let actual = [0.0, 5.0, 20.0, 40.0];
        let entries = BTreeMap::from([
            ("bgnbd", ClvMetrics::of(&[4.0, 3.0, 2.0, 1.0], &actual)),
            (
                "bgnbd_churn",
                ClvMetrics::of(&[1.0, 2.0, 3.0, 4.0], &actual),
            ),
            ("last_period", ClvMetrics::of(&actual, &actual)),
        ]);
        assert_eq!(ClvComparison::new(entries.clone()).chosen, "bgnbd_churn");
        let mut tied = entries;
        tied.insert("bgnbd_churn", tied["bgnbd"]);
        assert_eq!(ClvComparison::new(tied.clone()).chosen, "bgnbd");
        // An equal Gini goes to the better calibrated deciles.
        let mut calibrated = tied["bgnbd"];
        calibrated.decile_mape = calibrated.decile_mape.map(|m| m / 2.0);
        tied.insert("mbgnbd", calibrated);
        assert_eq!(ClvComparison::new(tied.clone()).chosen, "mbgnbd");
        // The value model, which no shop is scored with, is never chosen, however well
        // it ranks; the hybrid, which a shop can be scored with, is.
        let mut with_value = tied;
        with_value.insert("value_model", ClvMetrics::of(&actual, &actual));
        let comparison = ClvComparison::new(with_value.clone());
        assert_eq!(comparison.chosen, "mbgnbd");
        let mut with_hybrid = with_value.clone();
        with_hybrid.insert("hybrid", ClvMetrics::of(&actual, &actual));
        assert_eq!(ClvComparison::new(with_hybrid).chosen, "hybrid");
        // Among fewer candidates, the same rule.
        assert_eq!(
            comparison.best_among(&["bgnbd", "bgnbd_churn", "pareto_nbd", "mbgnbd"]),
            Some("mbgnbd")
        );
        assert_eq!(comparison.best_among(&["pareto_nbd"]), Some("pareto_nbd"));
        assert_eq!(comparison.best_among(&[]), None);
        // `chosen`'s rule among fewer: the accurate ones, or all when none is.
        assert_eq!(
            comparison.choice_among(&["bgnbd", "value_model"]),
            Some("value_model")
        );
        assert_eq!(comparison.choice_among(&[]), None);
        // A perfect ranking ten times too large is less accurate than every count
        // model: not chosen, though it ranks best.
        let mut entries = comparison.entries;
        let inflated: Vec<f64> = actual.iter().map(|a| 10.0 * a).collect();
        entries.insert("value_model", ClvMetrics::of(&inflated, &actual));
        entries.insert("hybrid", ClvMetrics::of(&inflated, &actual));
        let comparison = ClvComparison::new(entries);
        assert_eq!(comparison.chosen, "mbgnbd");
        assert_eq!(
            comparison.best_among(&ClvComparison::CANDIDATES),
            Some("value_model")
        );
        assert_eq!(
            comparison.choice_among(&["bgnbd", "value_model"]),
            Some("bgnbd")
        );
        assert_eq!(
            comparison.choice_among(&["value_model"]),
            Some("value_model")
        );
    }
}
