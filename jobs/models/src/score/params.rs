//! Scoring's settings, checked, and the fit that makes a [`ScoringModel`] of them.

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};

use super::{
    ChurnScorer, CountModel, CountModelKind, CustomerScore, ScoringModel, SegmentCutoffs, Trained,
    needs_histories,
};
use crate::bgnbd::BgNbdParams;
use crate::churn::FittedChurnModel;
use crate::error::ModelError;
use crate::gamma_gamma::GammaGammaParams;
use crate::history::{Cohort, RfmSummary, validate_all};
use crate::mbgnbd::MbgNbdParams;
use crate::metrics::{PARETO_SHARE, top_share_cutoff};
use crate::pareto_nbd::ParetoNbd;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreValidParams {
    pub(super) horizon_weeks: f64,
    pub(super) monthly_discount_rate: f64,
    pub(super) churn_window_weeks: Option<f64>,
    pub(super) vip_share: f64,
    pub(super) valuable_share: f64,
    pub(super) at_risk_churn: f64,
    pub(super) lost_churn: f64,
    pub(super) new_customer_weeks: f64,
    pub(super) bgnbd: BgNbdParams,
    pub(super) gamma_gamma: GammaGammaParams,
    /// Which model forecasts purchases; absent in models stored before there was a
    /// choice, which all used the default.
    #[serde(default)]
    pub(super) count_model: CountModelKind,
}

/// Unchecked scoring settings; `check()` (from [`ParamGuard`]) validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreParams(ScoreValidParams);

impl Default for ScoreParams {
    fn default() -> Self {
        ScoreParams(ScoreValidParams {
            horizon_weeks: 52.0,
            monthly_discount_rate: 0.0,
            churn_window_weeks: None,
            vip_share: PARETO_SHARE,
            valuable_share: 0.5,
            at_risk_churn: 0.5,
            lost_churn: 0.9,
            new_customer_weeks: 4.0,
            bgnbd: BgNbdParams::default(),
            gamma_gamma: GammaGammaParams::default(),
            count_model: CountModelKind::default(),
        })
    }
}

impl ScoreParams {
    /// Weeks ahead that expected purchases and CLV cover (default 52).
    pub fn horizon_weeks(mut self, weeks: f64) -> Self {
        self.0.horizon_weeks = weeks;
        self
    }

    /// Monthly discount rate for CLV (default 0: undiscounted).
    pub fn monthly_discount_rate(mut self, rate: f64) -> Self {
        self.0.monthly_discount_rate = rate;
        self
    }

    /// Window of the model-based churn risk (default: half the oldest customer's age, at
    /// most the horizon). A trained classifier brings its own window.
    pub fn churn_window_weeks(mut self, weeks: f64) -> Self {
        self.0.churn_window_weeks = Some(weeks);
        self
    }

    pub fn vip_share(mut self, share: f64) -> Self {
        self.0.vip_share = share;
        self
    }

    pub fn valuable_share(mut self, share: f64) -> Self {
        self.0.valuable_share = share;
        self
    }

    pub fn at_risk_churn(mut self, risk: f64) -> Self {
        self.0.at_risk_churn = risk;
        self
    }

    pub fn lost_churn(mut self, risk: f64) -> Self {
        self.0.lost_churn = risk;
        self
    }

    pub fn new_customer_weeks(mut self, weeks: f64) -> Self {
        self.0.new_customer_weeks = weeks;
        self
    }

    pub fn bgnbd(mut self, params: BgNbdParams) -> Self {
        self.0.bgnbd = params;
        self
    }

    pub fn gamma_gamma(mut self, params: GammaGammaParams) -> Self {
        self.0.gamma_gamma = params;
        self
    }

    /// Which model forecasts purchases (default `bgnbd_churn`; see the module header).
    /// MBG/NBD is fitted with BG/NBD's settings, Pareto/NBD with its defaults.
    pub fn count_model(mut self, kind: CountModelKind) -> Self {
        self.0.count_model = kind;
        self
    }

    pub fn fit(
        &self,
        summaries: &[RfmSummary],
        churn: Option<FittedChurnModel>,
    ) -> Result<Scored, ModelError> {
        self.check_ref()?.fit(summaries, churn)
    }

    /// As [`Self::fit`], on a cohort's members: the one way to fit the models that read
    /// each customer's history, `hybrid` and `recent_rate`, with what they learnt on the
    /// shop's time split (`trained`: the correction or the memory). `trained` is used
    /// only when it is the count model asked for.
    pub fn fit_cohort(
        &self,
        cohort: &Cohort<'_>,
        churn: Option<FittedChurnModel>,
        trained: Option<Trained>,
    ) -> Result<Scored, ModelError> {
        self.check_ref()?
            .fit_with(&cohort.summaries, Some(cohort), churn, trained)
    }
}

fn in_range(
    name: &'static str,
    value: f64,
    low: f64,
    high: f64,
    low_inclusive: bool,
) -> Result<(), ModelError> {
    let above_low = if low_inclusive {
        value >= low
    } else {
        value > low
    };
    if value.is_finite() && above_low && value <= high {
        Ok(())
    } else {
        let bracket = if low_inclusive { '[' } else { '(' };
        Err(ModelError::InvalidParameter {
            name,
            reason: format!("must be in {bracket}{low}, {high}], got {value}"),
        })
    }
}

impl ParamGuard for ScoreParams {
    type Checked = ScoreValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&ScoreValidParams, ModelError> {
        let s = &self.0;
        in_range("horizon_weeks", s.horizon_weeks, 0.0, 5200.0, false)?;
        in_range(
            "monthly_discount_rate",
            s.monthly_discount_rate,
            0.0,
            1.0,
            true,
        )?;
        if let Some(window) = s.churn_window_weeks {
            in_range("churn_window_weeks", window, 0.0, 5200.0, false)?;
        }
        in_range("vip_share", s.vip_share, 0.0, 1.0, false)?;
        in_range("valuable_share", s.valuable_share, 0.0, 1.0, false)?;
        in_range("at_risk_churn", s.at_risk_churn, 0.0, 1.0, true)?;
        in_range("lost_churn", s.lost_churn, 0.0, 1.0, true)?;
        in_range(
            "new_customer_weeks",
            s.new_customer_weeks,
            0.0,
            5200.0,
            true,
        )?;
        s.bgnbd.check_ref()?;
        s.gamma_gamma.check_ref()?;
        Ok(s)
    }

    fn check(self) -> Result<ScoreValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted scoring model and the scores of the customers it was fitted on.
#[derive(Debug, Clone)]
pub struct Scored {
    pub model: ScoringModel,
    pub scores: Vec<CustomerScore>,
}

impl ScoreValidParams {
    /// Weeks ahead that expected purchases and CLV cover.
    pub fn horizon(&self) -> f64 {
        self.horizon_weeks
    }

    /// The purchase-count model asked for.
    pub fn count_model_kind(&self) -> CountModelKind {
        self.count_model
    }

    /// Fits the count model asked for; a Pareto/NBD fit that fails is an error (it has
    /// no small-shop fallback), MBG/NBD falls back as BG/NBD does, and `hybrid` is the
    /// correction trained on the shop's histories and `recent_rate` the memory chosen on
    /// them, which must be given.
    fn fit_count_model(
        &self,
        summaries: &[RfmSummary],
        trained: Option<Trained>,
    ) -> Result<CountModel, ModelError> {
        Ok(match (self.count_model, trained) {
            (CountModelKind::Hybrid, Some(Trained::Hybrid(correction))) => {
                CountModel::Hybrid(correction)
            }
            (CountModelKind::RecentRate, Some(Trained::RecentRate(memory))) => {
                CountModel::RecentRate(memory)
            }
            (CountModelKind::Hybrid | CountModelKind::RecentRate, _) => {
                return Err(needs_histories());
            }
            (CountModelKind::Bgnbd, _) => CountModel::Bgnbd,
            (CountModelKind::BgnbdChurn, _) => CountModel::BgnbdChurn,
            (CountModelKind::ParetoNbd, _) => CountModel::ParetoNbd(ParetoNbd::fit(summaries)?),
            (CountModelKind::Mbgnbd, _) => {
                CountModel::Mbgnbd(MbgNbdParams(self.bgnbd.clone()).fit_valid(summaries)?)
            }
        })
    }

    /// Fits BG/NBD and Gamma-Gamma on `summaries`, takes `churn` as the churn scorer (or
    /// the model-based risk without one), fixes the segment cut-offs on these customers
    /// and scores them.
    pub fn fit(
        &self,
        summaries: &[RfmSummary],
        churn: Option<FittedChurnModel>,
    ) -> Result<Scored, ModelError> {
        self.fit_with(summaries, None, churn, None)
    }

    /// `summaries` are the cohort's when there is one.
    fn fit_with(
        &self,
        summaries: &[RfmSummary],
        cohort: Option<&Cohort<'_>>,
        churn: Option<FittedChurnModel>,
        trained: Option<Trained>,
    ) -> Result<Scored, ModelError> {
        validate_all(summaries)?;
        let bgnbd = self.bgnbd.check_ref()?.fit_valid(summaries)?;
        let gamma_gamma = self.gamma_gamma.check_ref()?.fit_valid(summaries)?;
        let count = self.fit_count_model(summaries, trained)?;
        let churn = match churn {
            Some(model) => ChurnScorer::Classifier(model),
            None => {
                let oldest = summaries.iter().map(|s| s.age).fold(0.0, f64::max);
                let window = self
                    .churn_window_weeks
                    .unwrap_or_else(|| (oldest / 2.0).min(self.horizon_weeks));
                ChurnScorer::NoPurchaseProbability {
                    window_weeks: window.max(1.0 / 7.0),
                }
            }
        };
        let mut model = ScoringModel {
            bgnbd,
            count,
            gamma_gamma,
            churn,
            settings: self.clone(),
            cutoffs: SegmentCutoffs {
                vip_clv: f64::INFINITY,
                valuable_clv: f64::INFINITY,
            },
        };
        let forecasts = model.forecasts(summaries, cohort)?;
        let clv: Vec<f64> = forecasts.iter().map(|f| f.clv).collect();
        model.cutoffs = SegmentCutoffs {
            vip_clv: top_share_cutoff(&clv, self.vip_share),
            valuable_clv: top_share_cutoff(&clv, self.valuable_share),
        };
        let scores = model.finish(summaries, forecasts);
        Ok(Scored { model, scores })
    }
}
