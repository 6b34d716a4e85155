//! Churn risk: the probability that a customer makes no purchase in the next window.
//!
//! BG/NBD's P(alive) alone ranks churn poorly: it calls every one-time buyer alive, and
//! most one-time buyers never come back. A logistic regression (linfa-logistic) over RFM
//! features and the BG/NBD forecasts learns from the shop's own history instead, with a
//! time split so it never sees the period it is judged on:
//!
//! 1. choose a window `w` (by default half the history, at most `max_window_weeks`; the
//!    split the spend regression of [`crate::value`] shares);
//! 2. at the training cutoff `c0 = as_of − w`, summarise every customer known then and
//!    fit a BG/NBD model on those summaries;
//! 3. label each customer by whether they bought nothing in `(c0, as_of]`;
//! 4. standardise the features and fit the classifier.
//!
//! Applied at `as_of` with the features computed there, it scores the next `w` weeks.

use chrono::NaiveDate;
use linfa::ParamGuard;
use linfa::dataset::Dataset;
use linfa::traits::Fit;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::bgnbd::{BgNbdParams, FittedBgNbd};
use crate::error::{ModelError, positive};
use crate::history::{RfmSummary, Transactions};
use crate::split::TimeSplit;

/// The classifier's inputs, in column order.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "ln_frequency",
    "ln_recency",
    "ln_age",
    "ln_weeks_since_last_purchase",
    "ln_mean_gap",
    "ln_monetary",
    "p_alive",
    "ln_expected_purchases",
    "logit_no_purchase",
    "ln_overdue",
];

pub const FEATURES: usize = 10;

/// Per-customer gradient norm at which the classifier's fit stops; risks change in the
/// sixth decimal at most past it.
const GRADIENT_TOLERANCE: f64 = 1e-6;

/// Keeps logits and logarithms finite at probabilities of exactly 0 or 1.
const PROBABILITY_FLOOR: f64 = 1e-9;

/// The features of one customer for a window of `window` weeks.
///
/// Times enter as `ln(1 + weeks)` because purchase rates are heavy-tailed and the
/// difference between 1 and 5 weeks matters more than between 40 and 44. The mean gap
/// between purchases is the customer's own rhythm (for one-time buyers the time since
/// the first purchase, a lower bound), and "overdue" is the time since the last purchase
/// in units of that rhythm.
pub fn churn_features(
    s: &RfmSummary,
    bgnbd: &FittedBgNbd,
    window: f64,
) -> Result<[f64; FEATURES], ModelError> {
    let x = s.frequency;
    let since_last = s.weeks_since_last_purchase().max(0.0);
    let mean_gap = if x > 0.0 { s.recency / x } else { s.age };
    let p_alive = bgnbd.p_alive(s);
    let expected = p_alive * bgnbd.expected_purchases_if_alive(x, s.age, window)?;
    let no_purchase = bgnbd
        .prob_no_purchase(s, window)
        .clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR);
    Ok([
        x.ln_1p(),
        s.recency.ln_1p(),
        s.age.ln_1p(),
        since_last.ln_1p(),
        mean_gap.ln_1p(),
        s.monetary.ln_1p(),
        p_alive,
        (expected + PROBABILITY_FLOOR).ln(),
        (no_purchase / (1.0 - no_purchase)).ln(),
        (since_last / (1.0 + mean_gap)).ln_1p(),
    ])
}

/// Entry point: `ChurnModel::params()…fit(&transactions, as_of)`.
pub struct ChurnModel;

impl ChurnModel {
    pub fn params() -> ChurnParams {
        ChurnParams::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnValidParams {
    window_weeks: Option<f64>,
    max_window_weeks: f64,
    l2_penalty: f64,
    max_iterations: u64,
    bgnbd: BgNbdParams,
}

/// Unchecked classifier settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnParams(ChurnValidParams);

impl Default for ChurnParams {
    fn default() -> Self {
        ChurnParams(ChurnValidParams {
            window_weeks: None,
            max_window_weeks: 52.0,
            l2_penalty: 1e-2,
            max_iterations: 500,
            bgnbd: BgNbdParams::default(),
        })
    }
}

impl ChurnParams {
    /// A fixed label window in weeks, instead of half the history.
    pub fn window_weeks(mut self, weeks: f64) -> Self {
        self.0.window_weeks = Some(weeks);
        self
    }

    /// Cap on the derived window: the horizon the scores are for (default 52 weeks).
    pub fn max_window_weeks(mut self, weeks: f64) -> Self {
        self.0.max_window_weeks = weeks;
        self
    }

    /// L2 penalty per training customer (default 1e-2); scaled by the number of
    /// customers so its strength does not fade as a shop grows.
    pub fn l2_penalty(mut self, penalty: f64) -> Self {
        self.0.l2_penalty = penalty;
        self
    }

    /// Most L-BFGS iterations of the classifier (default 500).
    pub fn max_iterations(mut self, iterations: u64) -> Self {
        self.0.max_iterations = iterations;
        self
    }

    /// Settings of the BG/NBD fit at the training cutoff.
    pub fn bgnbd(mut self, params: BgNbdParams) -> Self {
        self.0.bgnbd = params;
        self
    }

    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedChurnModel, ModelError> {
        self.check_ref()?.fit(transactions, as_of)
    }
}

impl ParamGuard for ChurnParams {
    type Checked = ChurnValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&ChurnValidParams, ModelError> {
        let params = &self.0;
        if let Some(window) = params.window_weeks {
            positive("window_weeks", window)?;
        }
        positive("max_window_weeks", params.max_window_weeks)?;
        if !(params.l2_penalty.is_finite() && params.l2_penalty >= 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "l2_penalty",
                reason: format!("must be a non-negative number, got {}", params.l2_penalty),
            });
        }
        if params.max_iterations == 0 {
            return Err(ModelError::InvalidParameter {
                name: "max_iterations",
                reason: "must be at least 1".into(),
            });
        }
        params.bgnbd.check_ref()?;
        Ok(params)
    }

    fn check(self) -> Result<ChurnValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl ChurnValidParams {
    /// Trains on the time split described in the module header.
    pub fn fit(
        &self,
        transactions: &Transactions,
        as_of: NaiveDate,
    ) -> Result<FittedChurnModel, ModelError> {
        let split = TimeSplit::of(
            transactions,
            as_of,
            self.window_weeks,
            self.max_window_weeks,
            "churn",
            ModelError::ChurnTraining,
        )?;
        let (training_cutoff, window_days) = (split.training_cutoff, split.window_days);
        let window_weeks = split.window_weeks();
        let cohort = split.training_cohort(transactions);
        let bgnbd = self.bgnbd.fit(&cohort.summaries)?;
        let features = feature_matrix(&cohort.summaries, &bgnbd, window_weeks)?;
        let labels: Array1<bool> = split
            .window_activity(&cohort)
            .iter()
            .map(|a| a.purchase_days == 0)
            .collect();
        let churned = labels.iter().filter(|&&churned| churned).count();
        if churned == 0 || churned == labels.len() {
            return Err(ModelError::ChurnTraining(format!(
                "all {} customers known at {training_cutoff} {} in the following {window_days} days; \
                 nothing to learn from",
                labels.len(),
                if churned == 0 {
                    "bought again"
                } else {
                    "bought nothing"
                }
            )));
        }
        let scaler = Standardizer::fit(&features);
        let records = scaler.transform(features);
        let customers = labels.len();
        // linfa minimises the summed loss, so penalty and tolerance scale with the data
        // to keep a per-customer meaning.
        let logistic = LogisticRegression::default()
            .alpha(self.l2_penalty * customers as f64)
            .gradient_tolerance(GRADIENT_TOLERANCE * customers as f64)
            .max_iterations(self.max_iterations)
            .fit(&Dataset::new(records, labels))?;
        Ok(FittedChurnModel {
            window_weeks,
            training_cutoff,
            training_customers: customers,
            training_churn_rate: churned as f64 / customers as f64,
            scaler,
            logistic,
        })
    }
}

fn feature_matrix(
    summaries: &[RfmSummary],
    bgnbd: &FittedBgNbd,
    window: f64,
) -> Result<Array2<f64>, ModelError> {
    let mut matrix = Array2::zeros((summaries.len(), FEATURES));
    for (mut row, s) in matrix.rows_mut().into_iter().zip(summaries) {
        row.assign(&Array1::from(churn_features(s, bgnbd, window)?.to_vec()));
    }
    Ok(matrix)
}

/// Zero mean and unit variance per feature, as measured on the training customers;
/// constant features are left centred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    means: Vec<f64>,
    scales: Vec<f64>,
}

impl Standardizer {
    pub(crate) fn fit(features: &Array2<f64>) -> Self {
        let (means, scales) = features
            .columns()
            .into_iter()
            .map(|column| {
                let mean = column.mean().unwrap_or(0.0);
                let std = column.std(0.0);
                (mean, if std > 0.0 { std } else { 1.0 })
            })
            .unzip();
        Standardizer { means, scales }
    }

    pub(crate) fn transform(&self, mut features: Array2<f64>) -> Array2<f64> {
        for mut row in features.rows_mut() {
            for ((value, mean), scale) in row.iter_mut().zip(&self.means).zip(&self.scales) {
                *value = (*value - mean) / scale;
            }
        }
        features
    }
}

/// A trained churn classifier; serialisable so one training run can score many batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedChurnModel {
    /// The window the risk refers to: no purchase in the next `window_weeks`.
    pub window_weeks: f64,
    pub training_cutoff: NaiveDate,
    pub training_customers: usize,
    /// Share of training customers who bought nothing in the window.
    pub training_churn_rate: f64,
    scaler: Standardizer,
    logistic: FittedLogisticRegression<f64, bool>,
}

impl FittedChurnModel {
    /// Churn risk of each summary, with features from `bgnbd` (the model fitted at the
    /// cutoff the summaries are taken at).
    pub fn churn_risks(
        &self,
        summaries: &[RfmSummary],
        bgnbd: &FittedBgNbd,
    ) -> Result<Vec<f64>, ModelError> {
        let records = self
            .scaler
            .transform(feature_matrix(summaries, bgnbd, self.window_weeks)?);
        let sign = self.churn_sign();
        let logits = records.dot(self.logistic.params()) + self.logistic.intercept();
        Ok(logits
            .iter()
            .map(|&z| 1.0 / (1.0 + (-sign * z).exp()))
            .collect())
    }

    /// Feature weights on the standardised scale, by name; a positive weight raises the
    /// churn risk.
    pub fn coefficients(&self) -> Vec<(&'static str, f64)> {
        let sign = self.churn_sign();
        FEATURE_NAMES
            .iter()
            .copied()
            .zip(self.logistic.params().iter().map(|w| sign * w))
            .collect()
    }

    /// +1 if the logistic model's positive class is "churned", −1 if it is "bought
    /// again". linfa-logistic makes the more frequent label of the training data its
    /// positive class (the first one seen on a tie), whatever its value, so which
    /// outcome its probabilities and weights refer to depends on the shop's churn rate.
    fn churn_sign(&self) -> f64 {
        if self.logistic.labels().pos.class {
            1.0
        } else {
            -1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgnbd::BgNbdCoefficients;
    use crate::simulate::Simulation;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn simulated_shop() -> Transactions {
        let truth = BgNbdCoefficients {
            r: 0.5,
            alpha: 8.0,
            a: 0.7,
            b: 2.5,
        };
        Simulation::new(truth, date("2023-01-01"), date("2024-12-31"))
            .seed(7)
            .transactions(4000)
            .unwrap()
    }

    #[test]
    fn settings_are_checked() {
        assert!(ChurnModel::params().window_weeks(0.0).check().is_err());
        assert!(
            ChurnModel::params()
                .max_window_weeks(f64::INFINITY)
                .check()
                .is_err()
        );
        assert!(ChurnModel::params().l2_penalty(-1.0).check().is_err());
        assert!(ChurnModel::params().max_iterations(0).check().is_err());
        assert!(
            ChurnModel::params()
                .bgnbd(BgNbdParams::default().max_iterations(0))
                .check()
                .is_err()
        );
        assert!(ChurnModel::params().window_weeks(13.0).check().is_ok());
    }

    #[test]
    fn trained_risk_ranks_lapsed_customers_above_regulars() {
        let shop = simulated_shop();
        let as_of = date("2024-12-31");
        let model = ChurnModel::params().fit(&shop, as_of).unwrap();
        assert!(
            (model.window_weeks - 52.0).abs() < 1e-9,
            "{}",
            model.window_weeks
        );
        assert!(model.training_churn_rate > 0.0 && model.training_churn_rate < 1.0);
        let bgnbd = BgNbdParams::default()
            .fit(&shop.cohort_at(as_of).summaries)
            .unwrap();
        let regular = RfmSummary::new(12.0, 50.0, 52.0, 20.0);
        let lapsed = RfmSummary::new(1.0, 2.0, 90.0, 20.0);
        let risks = model.churn_risks(&[regular, lapsed], &bgnbd).unwrap();
        assert!(risks[0] < 0.5 && risks[1] > 0.5, "{risks:?}");
    }

    #[test]
    fn risk_is_of_churning_whichever_outcome_is_more_frequent() {
        // A lapsing shop, where most customers buy nothing in the window, and a shop of
        // regulars, where few do: the risk must mean "no purchase" in both.
        let regulars = BgNbdCoefficients {
            r: 2.0,
            alpha: 2.0,
            a: 0.05,
            b: 5.0,
        };
        let shops = [
            simulated_shop(),
            Simulation::new(regulars, date("2024-01-01"), date("2024-12-31"))
                .seed(11)
                .transactions(2000)
                .unwrap(),
        ];
        let as_of = date("2024-12-31");
        let mut rates = Vec::new();
        for shop in &shops {
            let model = ChurnModel::params()
                .window_weeks(13.0)
                .fit(shop, as_of)
                .unwrap();
            let cohort = shop.cohort_at(model.training_cutoff);
            let bgnbd = BgNbdParams::default().fit(&cohort.summaries).unwrap();
            let risks = model.churn_risks(&cohort.summaries, &bgnbd).unwrap();
            let churned: Vec<bool> = cohort
                .activity_until(as_of)
                .iter()
                .map(|a| a.purchase_days == 0)
                .collect();
            let auc = crate::metrics::roc_auc(&risks, &churned).unwrap();
            assert!(auc > 0.7, "AUC {auc}");
            // With an unpenalised intercept the fitted risks average the churn rate.
            let mean = risks.iter().sum::<f64>() / risks.len() as f64;
            assert!(
                (mean - model.training_churn_rate).abs() < 1e-3,
                "{mean} against {}",
                model.training_churn_rate
            );
            let weight = model
                .coefficients()
                .into_iter()
                .find(|(name, _)| *name == "logit_no_purchase")
                .map(|(_, w)| w)
                .unwrap();
            assert!(weight > 0.0, "{:?}", model.coefficients());
            rates.push(model.training_churn_rate);
        }
        assert!(rates[0] > 0.5 && rates[1] < 0.5, "{rates:?}");
    }

    #[test]
    fn a_window_longer_than_the_history_is_refused() {
        let shop = simulated_shop();
        let error = ChurnModel::params()
            .window_weeks(500.0)
            .fit(&shop, date("2024-12-31"))
            .unwrap_err();
        assert!(matches!(error, ModelError::ChurnTraining(_)), "{error}");
    }

    #[test]
    fn fitted_model_round_trips_through_json() {
        let shop = simulated_shop();
        let model = ChurnModel::params()
            .window_weeks(26.0)
            .fit(&shop, date("2024-12-31"))
            .unwrap();
        let back: FittedChurnModel =
            serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.coefficients().len(), FEATURES);
    }
}
