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
use crate::recent_rate::RecentRate;
use crate::score::{ScoreParams, Scored, Segment};
use crate::value::ValueModel;

mod comparison;
pub use comparison::ClvComparison;

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
    /// The recent-rate model's choice of memory; `None` when it could not be made (see
    /// `fallbacks`) and `recent_rate` is not compared, or in a backtest stored before it.
    #[serde(default)]
    pub recent_rate: Option<RecentRateReport>,
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
pub struct RecentRateReport {
    /// `τ`, the weeks over which old purchases fade by `1/e`.
    pub memory_weeks: f64,
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// Wall time of choosing the memory and forecasting the holdout.
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
    // Trained on the same split as the classifier; none sees the holdout.
    let count_models = CountModels {
        bgnbd: &model.bgnbd,
        gamma_gamma: &model.gamma_gamma,
    };
    let mut trained = Trained {
        compared: &mut compared,
        forecasts: &mut forecasts,
        fallbacks: &mut fallbacks,
        actual: &actual_spend,
    };
    let value_report = trained
        .compare("value_model", || {
            let value = (ValueModel::params().max_window_weeks(holdout_weeks))
                .fit(transactions, calibration_end)?;
            Ok((
                value.expected_spend(&cohort, &model.bgnbd, holdout_weeks)?,
                value,
            ))
        })
        .map(|(value, seconds)| ValueModelReport {
            window_weeks: value.window_weeks,
            training_cutoff: value.training_cutoff,
            training_customers: value.training_customers,
            training_spender_rate: value.training_spender_rate,
            sigma: value.coefficients.sigma,
            ln_sigma_slope: value.coefficients.ln_sigma_slope,
            log_likelihood: value.log_likelihood,
            iterations: value.iterations,
            seconds,
        });
    // The count models' forecast corrected on the same split.
    let hybrid_report = trained
        .compare("hybrid", || {
            let hybrid = (Hybrid::params().max_window_weeks(holdout_weeks))
                .fit(transactions, calibration_end)?;
            Ok((
                hybrid.expected_spend(&cohort, count_models, holdout_weeks)?,
                hybrid,
            ))
        })
        .map(|(hybrid, seconds)| HybridReport {
            window_weeks: hybrid.window_weeks,
            training_cutoff: hybrid.training_cutoff,
            training_customers: hybrid.training_customers,
            level: hybrid.coefficients[0].exp(),
            iterations: hybrid.iterations,
            seconds,
        });
    // Each customer's recent rate, its memory chosen on the same split.
    let recent_report = trained
        .compare("recent_rate", || {
            let recent = (RecentRate::params().max_window_weeks(holdout_weeks))
                .fit(transactions, calibration_end)?;
            Ok((
                recent.expected_spend(&cohort, count_models, holdout_weeks)?,
                recent,
            ))
        })
        .map(|(recent, seconds)| RecentRateReport {
            memory_weeks: recent.memory_weeks,
            window_weeks: recent.window_weeks,
            training_cutoff: recent.training_cutoff,
            training_customers: recent.training_customers,
            seconds,
        });
    let mut clv_metrics = ClvComparison::new(compared);
    forecasts.insert("last_period", last_period);
    clv_metrics.measure_leads(&forecasts, &actual_spend);
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
        recent_rate: recent_report,
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

/// Where the candidates trained on the calibration period's own split go: their
/// measures and forecasts beside the others', or the reason one is not compared.
struct Trained<'a> {
    compared: &'a mut BTreeMap<&'static str, ClvMetrics>,
    forecasts: &'a mut BTreeMap<&'static str, Vec<f64>>,
    fallbacks: &'a mut Vec<String>,
    actual: &'a [f64],
}

impl Trained<'_> {
    /// Trains the candidate `name` and forecasts the holdout with `train`; its fit and
    /// the seconds that took, or `None` with the reason in `fallbacks`.
    fn compare<T>(
        &mut self,
        name: &'static str,
        train: impl FnOnce() -> Result<(Vec<f64>, T), ModelError>,
    ) -> Option<(T, f64)> {
        let started = Instant::now();
        match train() {
            Ok((forecast, fitted)) => {
                self.compared
                    .insert(name, ClvMetrics::of(&forecast, self.actual));
                self.forecasts.insert(name, forecast);
                Some((fitted, started.elapsed().as_secs_f64()))
            }
            Err(error) => {
                self.fallbacks.push(format!("{name} not compared: {error}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrequencyBucket;

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
