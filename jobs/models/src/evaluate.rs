//! Backtest on a shop's own history: fit at a calibration end, forecast the holdout
//! that follows, and compare with what happened.
//!
//! The churn classifier never sees the holdout: it is trained on a time split inside the
//! calibration period (see [`crate::churn`]) with its window capped at the holdout
//! length, then applied at the calibration end. Its AUC is measured against "no purchase
//! in the holdout" for every customer known at the calibration end.
//!
//! The spend regression ([`crate::value`]) is trained on the same time split, with the
//! same cap on its window, and applied at the calibration end.
//!
//! Every forecast of the holdout spend — the candidate models and two trivial
//! baselines — is measured the same way in [`ClvComparison`]. A shop too small for a
//! model gets the documented fallback of [`crate::estimation`] (or, for the classifier,
//! BG/NBD's own no-purchase probability; a candidate that cannot be fitted or trained is
//! left out of the comparison), and the report lists each one in `fallbacks`.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::churn::ChurnModel;
use crate::error::ModelError;
use crate::history::{DAYS_PER_WEEK, Transactions};
use crate::hybrid::{CountModels, Hybrid};
use crate::mbgnbd::MbgNbd;
use crate::metrics::{self, ClvMetrics, DecileTotals, PARETO_SHARE, Pareto};
use crate::next_order::NextOrderComparison;
use crate::pareto_nbd::ParetoNbd;
use crate::score::{ScoreParams, Scored, Segment};
use crate::value::ValueModel;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub customers: usize,
    pub calibration_end: NaiveDate,
    pub holdout_end: NaiveDate,
    pub holdout_weeks: f64,
    pub bgnbd: BgNbdReport,
    pub gamma_gamma: GammaGammaReport,
    /// The classifier's training; `None` when it could not be trained (see `fallbacks`)
    /// and churn risk is BG/NBD's probability of no purchase in the holdout.
    pub churn: Option<ChurnReport>,
    /// The spend regression's training; `None` when it could not be trained (see
    /// `fallbacks`) and `value_model` is not compared.
    pub value_model: Option<ValueModelReport>,
    /// The count models' correction's training; `None` when it could not be trained
    /// (see `fallbacks`) and `hybrid` is not compared.
    pub hybrid: Option<HybridReport>,
    /// Every model that fell back instead of being fitted, with the reason (see
    /// [`crate::estimation`]); empty when all were fitted.
    pub fallbacks: Vec<String>,
    pub holdout: HoldoutReport,
    pub pareto: Pareto,
    /// The holdout-spend forecast of every candidate model and trivial baseline, side by
    /// side, and the candidate chosen.
    pub clv_metrics: ClvComparison,
    /// The next-order dates of the customers who bought in the holdout against their
    /// first purchase there, by method and baseline, and the method chosen.
    pub next_order: NextOrderComparison,
    /// Predicted and actual holdout spend per decile of the chosen candidate's forecast
    /// (highest first): the calibration behind its `decile_mape`, to be drawn.
    pub chosen_deciles: Vec<DecileTotals>,
    #[serde(deserialize_with = "segment_counts")]
    pub segments: BTreeMap<&'static str, usize>,
    /// Wall time of the modelling (fits, classifier, forecasts, metrics), not of reading.
    pub seconds: f64,
}

/// Counts keyed by segment name, read back.
fn segment_counts<'de, D>(d: D) -> Result<BTreeMap<&'static str, usize>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let names = Segment::ALL.map(Segment::as_str);
    crate::names::known_keys(BTreeMap::deserialize(d)?, &names).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BgNbdReport {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
    pub iterations: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GammaGammaReport {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    pub customers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnReport {
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    pub training_churn_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValueModelReport {
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// Share of the training customers who spent something in the window.
    pub training_spender_rate: f64,
    /// The standard deviation of log spend around its predicted mean, for a customer
    /// with the average (standardised) expected purchases.
    pub sigma: f64,
    /// The weight of the standardised `ln(1 + expected purchases)` in `ln σ`.
    pub ln_sigma_slope: f64,
    pub log_likelihood: f64,
    pub iterations: u64,
    /// Wall time of training it and forecasting the holdout.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HybridReport {
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// `exp(c₀)`: the factor on the count models' forecast for a customer with average
    /// features.
    pub level: f64,
    pub iterations: u64,
    /// Wall time of training it and forecasting the holdout.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldoutReport {
    /// Purchase days in the holdout of customers known at the calibration end.
    pub actual_repeat_purchases: u64,
    pub predicted_repeat_purchases: f64,
    pub purchases_mae: f64,
    /// AUC of the classifier's churn risk for "no purchase in the holdout".
    pub churn_auc: Option<f64>,
    pub clv_mae: f64,
    pub actual_spend: f64,
    pub predicted_spend: f64,
    /// The same measures for BG/NBD and Gamma-Gamma alone, without the classifier.
    pub bgnbd_only: BaselineReport,
    /// AUC of 1 − P(alive), the usual shortcut for churn.
    pub one_minus_p_alive_auc: Option<f64>,
    /// CLV MAE of forecasting no spend for anyone: the floor a zero-heavy holdout sets
    /// for a mean forecast's MAE to be read against.
    pub zero_forecast_clv_mae: f64,
    /// Mean holdout repeat purchases, actual and predicted, by calibration repeat
    /// purchases: the calibration-against-holdout view of where the forecast drifts.
    pub by_frequency: Vec<FrequencyBucket>,
}

/// Customers with the same number of calibration repeat purchases (the last bucket
/// holding [`FrequencyBucket::LAST`] and more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyBucket {
    /// Calibration repeat purchases; [`FrequencyBucket::LAST`] stands for that many or more.
    pub frequency: u32,
    pub customers: usize,
    /// Mean repeat purchases in the holdout.
    pub actual_mean: f64,
    /// Mean repeat purchases the model forecast for the holdout.
    pub predicted_mean: f64,
}

impl FrequencyBucket {
    /// Few customers buy more often than this; pooling them keeps the last bucket's mean
    /// from resting on a handful of people.
    pub const LAST: u32 = 7;

    /// The buckets of customers with these calibration repeat purchases and actual and
    /// predicted holdout purchases; empty buckets are left out.
    fn of(frequency: &[f64], actual: &[f64], predicted: &[f64]) -> Vec<FrequencyBucket> {
        let mut sums = [(0usize, 0.0, 0.0); Self::LAST as usize + 1];
        for ((f, a), p) in frequency.iter().zip(actual).zip(predicted) {
            let bucket = (f.max(0.0) as usize).min(Self::LAST as usize);
            let (n, actual, predicted) = &mut sums[bucket];
            *n += 1;
            *actual += a;
            *predicted += p;
        }
        (0..=Self::LAST)
            .zip(sums)
            .filter(|(_, (n, _, _))| *n > 0)
            .map(|(frequency, (n, actual, predicted))| FrequencyBucket {
                frequency,
                customers: n,
                actual_mean: actual / n as f64,
                predicted_mean: predicted / n as f64,
            })
            .collect()
    }
}

/// [`ClvMetrics`] of each way of forecasting a customer's spend in the holdout, keyed by
/// name, and `chosen`: among the candidates at least as accurate as the most accurate
/// count model (RMSE no higher than the lowest of `bgnbd`, `bgnbd_churn`, `pareto_nbd`,
/// `mbgnbd`), the one with the highest normalised Gini (ranking customers is what the
/// segments and the VIP cut-off use), a tie going to the lower `decile_mape` (the
/// better calibrated total per decile), then to the earlier name in
/// [`ClvComparison::CANDIDATES`]. A candidate that ranks better only by forecasting
/// individual customers worse is not chosen; the most accurate count model always
/// qualifies, so there is always a choice. Baselines are there to be read against and
/// are never chosen.
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
///   the same split ([`crate::hybrid`]; left out like `value_model`).
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
}

/// A [`ClvComparison`] as stored, before its names are checked.
#[derive(Deserialize)]
struct StoredClvComparison {
    #[serde(flatten)]
    entries: BTreeMap<String, ClvMetrics>,
    chosen: String,
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
        })
    }
}

impl ClvComparison {
    /// The candidate models, in the order ties are broken.
    pub const CANDIDATES: [&'static str; 6] = [
        "bgnbd",
        "bgnbd_churn",
        "pareto_nbd",
        "mbgnbd",
        "value_model",
        "hybrid",
    ];
    /// The trivial baselines.
    pub const BASELINES: [&'static str; 2] = ["zero_forecast", "last_period"];
    /// The count models, whose lowest RMSE a chosen candidate must match.
    pub const COUNT_MODELS: [&'static str; 4] = ["bgnbd", "bgnbd_churn", "pareto_nbd", "mbgnbd"];

    fn new(entries: BTreeMap<&'static str, ClvMetrics>) -> Self {
        let floor = Self::COUNT_MODELS
            .iter()
            .filter_map(|name| entries.get(name))
            .map(|m| m.rmse)
            .fold(f64::INFINITY, f64::min);
        let accurate: Vec<&'static str> = Self::CANDIDATES
            .iter()
            .copied()
            .filter(|name| entries.get(name).is_some_and(|m| m.rmse <= floor))
            .collect();
        let chosen = if accurate.is_empty() {
            best_of(&entries, &Self::CANDIDATES)
        } else {
            best_of(&entries, &accurate)
        };
        ClvComparison { entries, chosen }
    }

    /// The one of `candidates` with the highest normalised Gini, a tie going to the lower
    /// decile MAPE (the first of them if none was measured): `chosen`'s ranking without
    /// its accuracy condition, for a caller that can use only some of the candidates,
    /// such as scoring, which has no `value_model` or `hybrid`.
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineReport {
    pub predicted_repeat_purchases: f64,
    pub purchases_mae: f64,
    /// AUC of BG/NBD's probability of no purchase in the holdout.
    pub churn_auc: Option<f64>,
    pub clv_mae: f64,
    pub predicted_spend: f64,
}

/// Runs the backtest.
pub fn evaluate(
    transactions: &Transactions,
    calibration_end: NaiveDate,
    holdout_end: NaiveDate,
) -> Result<Evaluation, ModelError> {
    if holdout_end <= calibration_end {
        return Err(ModelError::InvalidParameter {
            name: "holdout_end",
            reason: format!("{holdout_end} is not after the calibration end {calibration_end}"),
        });
    }
    let started = Instant::now();
    let holdout_weeks = (holdout_end - calibration_end).num_days() as f64 / DAYS_PER_WEEK;
    let cohort = transactions.cohort_at(calibration_end);
    if cohort.summaries.is_empty() {
        return Err(ModelError::NoCustomers {
            model: "evaluation",
            detail: " (nobody bought by the calibration end)",
        });
    }
    let activity = cohort.activity_until(holdout_end);

    let mut fallbacks = Vec::new();
    // A shop too small or too young for the time split (one class, or no room for the
    // window) is scored with BG/NBD's own no-purchase probability instead.
    let churn = match ChurnModel::params()
        .max_window_weeks(holdout_weeks)
        .fit(transactions, calibration_end)
    {
        Ok(churn) => Some(churn),
        Err(error @ ModelError::ChurnTraining(_)) => {
            fallbacks.push(format!(
                "{error}; churn risk is BG/NBD's probability of no purchase"
            ));
            None
        }
        Err(error) => return Err(error),
    };
    let churn_report = churn.as_ref().map(|churn| ChurnReport {
        window_weeks: churn.window_weeks,
        training_cutoff: churn.training_cutoff,
        training_customers: churn.training_customers,
        training_churn_rate: churn.training_churn_rate,
    });
    let Scored { model, scores } = ScoreParams::default()
        .horizon_weeks(holdout_weeks)
        .churn_window_weeks(holdout_weeks)
        .fit(&cohort.summaries, churn)?;
    if let Some(reason) = model.bgnbd.estimation.fallback_reason() {
        fallbacks.push(format!("bg/nbd fallback: {reason}"));
    }
    if let Some(reason) = model.gamma_gamma.estimation.fallback_reason() {
        fallbacks.push(format!("gamma-gamma fallback: {reason}"));
    }

    let actual_purchases: Vec<f64> = activity
        .iter()
        .map(|a| f64::from(a.purchase_days))
        .collect();
    let actual_spend: Vec<f64> = activity.iter().map(|a| a.spend).collect();
    let churned: Vec<bool> = activity.iter().map(|a| a.purchase_days == 0).collect();
    let predicted_purchases: Vec<f64> = scores.iter().map(|s| s.expected_purchases).collect();
    let clv: Vec<f64> = scores.iter().map(|s| s.clv).collect();
    let churn_risk: Vec<f64> = scores.iter().map(|s| s.churn_risk).collect();
    let bgnbd_risk: Vec<f64> = cohort
        .summaries
        .iter()
        .map(|s| model.bgnbd.prob_no_purchase(s, holdout_weeks))
        .collect();
    let bgnbd_purchases = cohort
        .summaries
        .iter()
        .map(|s| model.bgnbd.expected_purchases(s, holdout_weeks))
        .collect::<Result<Vec<f64>, _>>()?;
    let bgnbd_clv: Vec<f64> = bgnbd_purchases
        .iter()
        .zip(&cohort.summaries)
        .map(|(purchases, s)| purchases * model.gamma_gamma.expected_spend(s))
        .collect();
    let dead: Vec<f64> = scores.iter().map(|s| 1.0 - s.p_alive).collect();
    let last_period: Vec<f64> = cohort
        .summaries
        .iter()
        .map(|s| {
            if s.age > 0.0 {
                s.frequency * s.monetary / s.age * holdout_weeks
            } else {
                0.0
            }
        })
        .collect();
    let mut compared = BTreeMap::from([
        ("bgnbd", ClvMetrics::of(&bgnbd_clv, &actual_spend)),
        ("bgnbd_churn", ClvMetrics::of(&clv, &actual_spend)),
        (
            "zero_forecast",
            ClvMetrics::of(&vec![0.0; actual_spend.len()], &actual_spend),
        ),
        ("last_period", ClvMetrics::of(&last_period, &actual_spend)),
    ]);
    let mut pareto_clv = None;
    match ParetoNbd::fit(&cohort.summaries) {
        Ok(pareto_nbd) => {
            let forecast: Vec<f64> = cohort
                .summaries
                .iter()
                .map(|s| {
                    pareto_nbd.expected_purchases(s, holdout_weeks)
                        * model.gamma_gamma.expected_spend(s)
                })
                .collect();
            compared.insert("pareto_nbd", ClvMetrics::of(&forecast, &actual_spend));
            pareto_clv = Some(forecast);
        }
        Err(error) => fallbacks.push(format!("pareto_nbd not compared: {error}")),
    }
    let mut forecasts =
        BTreeMap::from([("bgnbd", bgnbd_clv.clone()), ("bgnbd_churn", clv.clone())]);
    if let Some(pareto_clv) = pareto_clv {
        forecasts.insert("pareto_nbd", pareto_clv);
    }
    match MbgNbd::fit(&cohort.summaries) {
        Ok(mbgnbd) => {
            if let Some(reason) = mbgnbd.estimation.fallback_reason() {
                fallbacks.push(format!("mbg/nbd fallback: {reason}"));
            }
            let mbgnbd_clv = cohort
                .summaries
                .iter()
                .map(|s| {
                    Ok(mbgnbd.expected_purchases(s, holdout_weeks)?
                        * model.gamma_gamma.expected_spend(s))
                })
                .collect::<Result<Vec<f64>, ModelError>>()?;
            compared.insert("mbgnbd", ClvMetrics::of(&mbgnbd_clv, &actual_spend));
            forecasts.insert("mbgnbd", mbgnbd_clv);
        }
        Err(error) => fallbacks.push(format!("mbgnbd not compared: {error}")),
    }
    // Trained on the same split as the classifier; it never sees the holdout.
    let value_started = Instant::now();
    let mut value_report = None;
    match ValueModel::params()
        .max_window_weeks(holdout_weeks)
        .fit(transactions, calibration_end)
        .and_then(|value| {
            Ok((
                value.expected_spend(&cohort, &model.bgnbd, holdout_weeks)?,
                value,
            ))
        }) {
        Ok((forecast, value)) => {
            compared.insert("value_model", ClvMetrics::of(&forecast, &actual_spend));
            forecasts.insert("value_model", forecast);
            value_report = Some(ValueModelReport {
                window_weeks: value.window_weeks,
                training_cutoff: value.training_cutoff,
                training_customers: value.training_customers,
                training_spender_rate: value.training_spender_rate,
                sigma: value.coefficients.sigma,
                ln_sigma_slope: value.coefficients.ln_sigma_slope,
                log_likelihood: value.log_likelihood,
                iterations: value.iterations,
                seconds: value_started.elapsed().as_secs_f64(),
            });
        }
        Err(error) => fallbacks.push(format!("value_model not compared: {error}")),
    }
    // The count models' forecast corrected on the same split.
    let hybrid_started = Instant::now();
    let mut hybrid_report = None;
    let count_models = CountModels {
        bgnbd: &model.bgnbd,
        gamma_gamma: &model.gamma_gamma,
    };
    match Hybrid::params()
        .max_window_weeks(holdout_weeks)
        .fit(transactions, calibration_end)
        .and_then(|hybrid| {
            Ok((
                hybrid.expected_spend(&cohort, count_models, holdout_weeks)?,
                hybrid,
            ))
        }) {
        Ok((forecast, hybrid)) => {
            compared.insert("hybrid", ClvMetrics::of(&forecast, &actual_spend));
            forecasts.insert("hybrid", forecast);
            hybrid_report = Some(HybridReport {
                window_weeks: hybrid.window_weeks,
                training_cutoff: hybrid.training_cutoff,
                training_customers: hybrid.training_customers,
                level: hybrid.coefficients[0].exp(),
                iterations: hybrid.iterations,
                seconds: hybrid_started.elapsed().as_secs_f64(),
            });
        }
        Err(error) => fallbacks.push(format!("hybrid not compared: {error}")),
    }
    let clv_metrics = ClvComparison::new(compared);
    let next_order = NextOrderComparison::measure(&cohort, &model.bgnbd.parameters, holdout_end)?;
    let chosen_deciles = forecasts
        .get(clv_metrics.chosen)
        .map(|forecast| metrics::decile_totals(forecast, &actual_spend))
        .unwrap_or_default();

    let mut segments: BTreeMap<&'static str, usize> =
        Segment::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for score in &scores {
        *segments.entry(score.segment.as_str()).or_default() += 1;
    }
    let parameters = model.bgnbd.parameters;
    let spend = model.gamma_gamma.parameters;
    let holdout = HoldoutReport {
        actual_repeat_purchases: activity.iter().map(|a| u64::from(a.purchase_days)).sum(),
        predicted_repeat_purchases: predicted_purchases.iter().sum(),
        purchases_mae: metrics::mean_absolute_error(&predicted_purchases, &actual_purchases),
        churn_auc: metrics::roc_auc(&churn_risk, &churned),
        clv_mae: metrics::mean_absolute_error(&clv, &actual_spend),
        actual_spend: actual_spend.iter().sum(),
        predicted_spend: clv.iter().sum(),
        bgnbd_only: BaselineReport {
            predicted_repeat_purchases: bgnbd_purchases.iter().sum(),
            purchases_mae: metrics::mean_absolute_error(&bgnbd_purchases, &actual_purchases),
            churn_auc: metrics::roc_auc(&bgnbd_risk, &churned),
            clv_mae: metrics::mean_absolute_error(&bgnbd_clv, &actual_spend),
            predicted_spend: bgnbd_clv.iter().sum(),
        },
        one_minus_p_alive_auc: metrics::roc_auc(&dead, &churned),
        zero_forecast_clv_mae: metrics::mean_absolute_error(
            &vec![0.0; actual_spend.len()],
            &actual_spend,
        ),
        by_frequency: FrequencyBucket::of(
            &cohort
                .summaries
                .iter()
                .map(|s| s.frequency)
                .collect::<Vec<_>>(),
            &actual_purchases,
            &predicted_purchases,
        ),
    };
    Ok(Evaluation {
        customers: cohort.summaries.len(),
        calibration_end,
        holdout_end,
        holdout_weeks,
        bgnbd: BgNbdReport {
            r: parameters.r,
            alpha: parameters.alpha,
            a: parameters.a,
            b: parameters.b,
            log_likelihood: model.bgnbd.log_likelihood,
            iterations: model.bgnbd.iterations,
        },
        gamma_gamma: GammaGammaReport {
            p: spend.p,
            q: spend.q,
            gamma: spend.gamma,
            customers: model.gamma_gamma.customers,
        },
        churn: churn_report,
        value_model: value_report,
        hybrid: hybrid_report,
        fallbacks,
        holdout,
        pareto: metrics::pareto(&clv, &actual_spend, PARETO_SHARE),
        clv_metrics,
        next_order,
        chosen_deciles,
        segments,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::{BTreeMap, ClvComparison, ClvMetrics, FrequencyBucket};

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
        // Among fewer candidates, the same rule.
        let mut with_value = tied;
        with_value.insert("value_model", ClvMetrics::of(&actual, &actual));
        let comparison = ClvComparison::new(with_value);
        assert_eq!(comparison.chosen, "value_model");
        assert_eq!(
            comparison.best_among(&["bgnbd", "bgnbd_churn", "pareto_nbd", "mbgnbd"]),
            Some("mbgnbd")
        );
        assert_eq!(comparison.best_among(&["pareto_nbd"]), Some("pareto_nbd"));
        assert_eq!(comparison.best_among(&[]), None);
        // A perfect ranking ten times too large is less accurate than every count
        // model: not chosen, though it ranks best.
        let mut entries = comparison.entries;
        let inflated: Vec<f64> = actual.iter().map(|a| 10.0 * a).collect();
        entries.insert("value_model", ClvMetrics::of(&inflated, &actual));
        let comparison = ClvComparison::new(entries);
        assert_eq!(comparison.chosen, "mbgnbd");
        assert_eq!(
            comparison.best_among(&ClvComparison::CANDIDATES),
            Some("value_model")
        );
    }

    #[test]
    fn frequency_buckets_pool_the_tail_and_skip_empty_ones() {
        let frequency = [0.0, 0.0, 2.0, 7.0, 12.0];
        let actual = [0.0, 1.0, 2.0, 3.0, 5.0];
        let predicted = [0.5, 0.5, 1.5, 4.0, 4.0];
        let buckets = FrequencyBucket::of(&frequency, &actual, &predicted);
        let row = |frequency, customers, actual_mean, predicted_mean| FrequencyBucket {
            frequency,
            customers,
            actual_mean,
            predicted_mean,
        };
        assert_eq!(
            buckets,
            [
                row(0, 2, 0.5, 0.5),
                row(2, 1, 2.0, 1.5),
                row(7, 2, 4.0, 4.0)
            ]
        );
    }
}
