//! Scoring: P(alive), expected purchases, churn risk, CLV and a marketing segment for
//! every customer, from one fit of BG/NBD and Gamma-Gamma (and a churn classifier when
//! the shop's history is at hand).
//!
//! # CLV
//! `CLV = Σ_months E[purchases in month k] · E[spend per purchase] / (1 + d)^k` over the
//! horizon, in months of 52/12 weeks (the last one partial), with monthly discount rate
//! `d`; undiscounted it is simply expected purchases × expected spend. At a constant rate
//! (`recent_rate`) each month's purchases are the rate times its weeks.
//!
//! # Churn risk
//! With a trained classifier ([`crate::FittedChurnModel`]) its probability of no
//! purchase in its window; that probability also replaces BG/NBD's own in the purchase
//! forecast (see [`FittedBgNbd::expected_purchases_given_no_purchase`]), so expected
//! purchases and CLV use what the shop's history taught the classifier.
//!
//! From summaries alone nothing can be trained with a time split, so the risk is the
//! BG/NBD probability of no purchase in the window,
//! `1 − P(alive) + P(alive) · ((α+T)/(α+T+w))^(r+x)`: the same event the classifier
//! predicts, and unlike `1 − P(alive)` it rises for one-time buyers as they age. The
//! window defaults to half the oldest customer's age (the same rule the classifier's
//! time split uses), at most the horizon.
//!
//! # Which model counts the purchases
//! [`CountModel`]: by default BG/NBD with the classifier's P(no purchase) (the backtest's
//! `bgnbd_churn`); the job may pick another of the backtest's candidates — BG/NBD alone,
//! Pareto/NBD, MBG/NBD, `hybrid` or `recent_rate` — when the shop's own backtest ranks it higher
//! ([`ScoreParams::count_model`]). The chosen model gives P(alive), expected purchases
//! and so CLV; churn risk stays the classifier's (or BG/NBD's no-purchase probability):
//! it is judged by its own AUC, not by the CLV ranking that picks the count model, and
//! the classifier's features are BG/NBD's. `hybrid` counts with BG/NBD and multiplies
//! each customer's CLV by the correction [`crate::hybrid`] trained on the shop's time
//! split; that correction reads the customer's history (their first purchase's spend),
//! so a `hybrid` model is fitted with [`ScoreParams::fit_cohort`] and scores with
//! [`ScoringModel::score_cohort`]. `recent_rate` ([`crate::recent_rate`]) forecasts
//! each customer's purchases at their recent rate, read from their purchase days with
//! the memory chosen on the time split, and is fitted and scored the same way; its
//! P(alive) is BG/NBD's, and its purchases are not multiplied by it (the rate itself
//! decays for a customer who stopped).
//!
//! # Segments
//! Decided in this order, first match wins:
//! - `vip`: CLV in the top `vip_share` (20 %) of the customers the model was fitted on
//!   (and above 0);
//! - `new`: first purchase less than `new_customer_weeks` (4) ago, too early to judge;
//! - `at_risk`: churn risk ≥ `at_risk_churn` (0.5) and CLV in the top `valuable_share`
//!   (50 %, and above 0): worth a win-back offer;
//! - `lost`: churn risk ≥ `lost_churn` (0.9);
//! - `active`: everyone else.
//!
//! The CLV cut-offs are fixed at fit time and stored with the model, so scoring another
//! batch later segments it against the same population.

use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{FittedBgNbd, no_purchase_probability};

mod count;
mod params;
use crate::churn::FittedChurnModel;
use crate::distinct::Pairs;
use crate::error::ModelError;
use crate::gamma_gamma::FittedGammaGamma;
use crate::history::{Cohort, RfmSummary, validate_all};
use crate::next_order::{NextOrder, NextOrderForecaster, NextOrderMethod};
pub use count::{CountModel, CountModelKind, Trained};
pub use params::{ScoreParams, ScoreValidParams, Scored};

/// Weeks per month for discounting.
pub const WEEKS_PER_MONTH: f64 = 52.0 / 12.0;

/// A marketing segment; see the module header for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Vip,
    New,
    AtRisk,
    Lost,
    Active,
}

impl Segment {
    pub const ALL: [Segment; 5] = [
        Segment::Vip,
        Segment::New,
        Segment::AtRisk,
        Segment::Lost,
        Segment::Active,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Vip => "vip",
            Segment::New => "new",
            Segment::AtRisk => "at_risk",
            Segment::Lost => "lost",
            Segment::Active => "active",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the job needs to pick a message for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    pub p_alive: f64,
    /// Expected purchases over the horizon (undiscounted).
    pub expected_purchases: f64,
    /// Expected spend per purchase (Gamma-Gamma).
    pub expected_spend: f64,
    /// Probability of no purchase in the churn window.
    pub churn_risk: f64,
    /// Customer lifetime value over the horizon, discounted if a rate is set.
    pub clv: f64,
    pub segment: Segment,
}

/// Where churn risk comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnScorer {
    /// A classifier trained on a time split of the shop's history.
    Classifier(FittedChurnModel),
    /// The BG/NBD probability of no purchase in the window.
    NoPurchaseProbability { window_weeks: f64 },
}

impl ChurnScorer {
    pub fn window_weeks(&self) -> f64 {
        match self {
            ChurnScorer::Classifier(model) => model.window_weeks,
            ChurnScorer::NoPurchaseProbability { window_weeks } => *window_weeks,
        }
    }
}

/// CLV levels that separate the segments, fixed on the fitting population.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentCutoffs {
    pub vip_clv: f64,
    pub valuable_clv: f64,
}

/// Everything needed to score customers later; serialisable, so one fit can score many
/// batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringModel {
    pub bgnbd: FittedBgNbd,
    /// Forecasts the purchases (BG/NBD itself by default).
    #[serde(default)]
    pub count: CountModel,
    pub gamma_gamma: FittedGammaGamma,
    pub churn: ChurnScorer,
    pub settings: ScoreValidParams,
    pub cutoffs: SegmentCutoffs,
}

/// The error of a `hybrid` or `recent_rate` model fitted or scored without the
/// customers' histories.
fn needs_histories() -> ModelError {
    ModelError::InvalidParameter {
        name: "count_model",
        reason: "hybrid and recent_rate forecast each customer from their history: fit \
                 them with `fit_cohort` and what they learnt on the time split, score \
                 with `score_cohort`"
            .to_owned(),
    }
}

/// The parts of a forecast that depend only on (x, T), shared by every customer with
/// the same pair.
#[derive(Clone, Copy)]
struct AliveForecast {
    expected_purchases: f64,
    discounted_purchases: f64,
    no_purchase: f64,
    /// E[purchases in the horizon after the churn window | alive, x, T + window], for
    /// `bgnbd_churn`'s forecast from a quiet window; 0 when not needed.
    later_if_quiet: f64,
}

struct Forecast {
    p_alive: f64,
    expected_purchases: f64,
    expected_spend: f64,
    churn_risk: f64,
    clv: f64,
}

impl ScoringModel {
    /// Scores `summaries` (taken at the same cutoff the model describes); a `hybrid`
    /// model needs the customers' histories ([`Self::score_cohort`]).
    pub fn score(&self, summaries: &[RfmSummary]) -> Result<Vec<CustomerScore>, ModelError> {
        validate_all(summaries)?;
        let forecasts = self.forecasts(summaries, None)?;
        Ok(self.finish(summaries, forecasts))
    }

    /// Scores a cohort's members (taken at the same cutoff the model describes): every
    /// model, `hybrid` included.
    pub fn score_cohort(&self, cohort: &Cohort<'_>) -> Result<Vec<CustomerScore>, ModelError> {
        validate_all(&cohort.summaries)?;
        let forecasts = self.forecasts(&cohort.summaries, Some(cohort))?;
        Ok(self.finish(&cohort.summaries, forecasts))
    }

    /// Forecasts next orders with this model's BG/NBD coefficients and horizon, by
    /// `method` (the shop's backtest `next_order.chosen`), with `shop_gap_weeks` for
    /// one-time buyers under `own_gaps` ([`crate::next_order::shop_median_gap_weeks`]);
    /// see [`crate::next_order`].
    pub fn next_order_forecaster(
        &self,
        method: NextOrderMethod,
        shop_gap_weeks: Option<f64>,
    ) -> NextOrderForecaster {
        NextOrderForecaster::new(self.bgnbd.parameters, method)
            .horizon_weeks(self.settings.horizon_weeks)
            .shop_gap_weeks(shop_gap_weeks)
    }

    /// Days from the cutoff to the next order of the customer summarised by `s`, whose
    /// gaps between purchase days (weeks, [`crate::CustomerHistory::gaps_at`]) are
    /// `gaps`, with P(alive) and the probability of an order within the horizon: one
    /// customer through [`Self::next_order_forecaster`].
    pub fn next_order(
        &self,
        s: &RfmSummary,
        gaps: &[f64],
        method: NextOrderMethod,
        shop_gap_weeks: Option<f64>,
    ) -> Result<NextOrder, ModelError> {
        self.next_order_forecaster(method, shop_gap_weeks)
            .forecast(s, gaps)
    }

    fn finish(&self, summaries: &[RfmSummary], forecasts: Vec<Forecast>) -> Vec<CustomerScore> {
        summaries
            .par_iter()
            .zip(forecasts)
            .map(|(s, f)| CustomerScore {
                p_alive: f.p_alive,
                expected_purchases: f.expected_purchases,
                expected_spend: f.expected_spend,
                churn_risk: f.churn_risk,
                clv: f.clv,
                segment: self.segment(s, f.churn_risk, f.clv),
            })
            .collect()
    }

    /// The segment rule of the module header.
    pub fn segment(&self, s: &RfmSummary, churn_risk: f64, clv: f64) -> Segment {
        let rules = &self.settings;
        // A CLV of 0 is never valuable, even when most of the shop has one (a shop
        // without repeat spend yet, see `crate::estimation`).
        let valued = clv > 0.0;
        if valued && clv >= self.cutoffs.vip_clv {
            Segment::Vip
        } else if s.age < rules.new_customer_weeks {
            Segment::New
        } else if churn_risk >= rules.at_risk_churn && valued && clv >= self.cutoffs.valuable_clv {
            Segment::AtRisk
        } else if churn_risk >= rules.lost_churn {
            Segment::Lost
        } else {
            Segment::Active
        }
    }

    fn forecasts(
        &self,
        summaries: &[RfmSummary],
        cohort: Option<&Cohort<'_>>,
    ) -> Result<Vec<Forecast>, ModelError> {
        // The hybrid's correction of each customer's CLV, from their history.
        let factors = match &self.count {
            CountModel::Hybrid(hybrid) => {
                Some(hybrid.factors(cohort.ok_or_else(needs_histories)?, &self.bgnbd)?)
            }
            _ => None,
        };
        // The recent-rate model's purchases per week, from each customer's history.
        let rates = match &self.count {
            CountModel::RecentRate(memory) => {
                Some(memory.rates(cohort.ok_or_else(needs_histories)?, &self.bgnbd))
            }
            _ => None,
        };
        // What a constant rate of one purchase a week is worth over the horizon.
        let horizon_discount = self.discounted_by_month(Ok)?;
        let (keys, shared) = self.alive_forecasts(summaries)?;
        let classifier_risk = match &self.churn {
            ChurnScorer::Classifier(model) => Some(model.churn_risks(summaries, &self.bgnbd)?),
            ChurnScorer::NoPurchaseProbability { .. } => None,
        };
        let horizon = self.settings.horizon_weeks;
        let window = self.churn.window_weeks();
        summaries
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let alive = shared[keys[i] as usize];
                let bgnbd_p_alive = self.bgnbd.p_alive(s);
                let p_alive = match &self.count {
                    CountModel::Bgnbd
                    | CountModel::BgnbdChurn
                    | CountModel::Hybrid(_)
                    | CountModel::RecentRate(_) => bgnbd_p_alive,
                    CountModel::ParetoNbd(model) => model.p_alive(s),
                    CountModel::Mbgnbd(model) => model.p_alive(s),
                };
                // The recent rate carries lapsing in the rate itself, not in P(alive).
                let (expected_purchases, discounted) = match &rates {
                    Some(rates) => (rates[i] * horizon, rates[i] * horizon_discount),
                    None => (
                        p_alive * alive.expected_purchases,
                        p_alive * alive.discounted_purchases,
                    ),
                };
                let expected_spend = self.gamma_gamma.expected_spend(s);
                let correction = factors.as_ref().map_or(1.0, |f| f[i]);
                let (churn_risk, expected_purchases, discounted) = match &classifier_risk {
                    Some(risks) if self.count == CountModel::BgnbdChurn => {
                        // The classifier's P(no purchase in its window) replaces BG/NBD's
                        // in the forecast; discounting scales along.
                        let adjusted = self.bgnbd.given_no_purchase(
                            s,
                            horizon,
                            window,
                            risks[i],
                            alive.expected_purchases,
                            alive.later_if_quiet,
                        );
                        let scale = if expected_purchases > 0.0 {
                            adjusted / expected_purchases
                        } else {
                            1.0
                        };
                        (risks[i], adjusted, discounted * scale)
                    }
                    Some(risks) => (risks[i], expected_purchases, discounted),
                    None => (
                        no_purchase_probability(bgnbd_p_alive, alive.no_purchase),
                        expected_purchases,
                        discounted,
                    ),
                };
                Ok(Forecast {
                    p_alive,
                    expected_purchases,
                    expected_spend,
                    churn_risk,
                    clv: discounted * expected_spend * correction,
                })
            })
            .collect()
    }

    /// The (x, T)-only forecasts, computed once per distinct pair: the hypergeometric
    /// series is the costly part of scoring, and customers share pairs heavily. Returns
    /// each summary's index into the shared table.
    fn alive_forecasts(
        &self,
        summaries: &[RfmSummary],
    ) -> Result<(Vec<u32>, Vec<AliveForecast>), ModelError> {
        let pairs = Pairs::new(summaries, |s| (s.frequency, s.age));
        let horizon = self.settings.horizon_weeks;
        let window = self.churn.window_weeks();
        // Only `bgnbd_churn` with a classifier forecasts from a quiet window.
        let quiet_forecast = self.count == CountModel::BgnbdChurn
            && matches!(self.churn, ChurnScorer::Classifier(_));
        let shared = pairs
            .values
            .par_iter()
            .map(|&(x, age)| {
                let expected_purchases = self.expected_purchases_if_alive(x, age, horizon)?;
                Ok(AliveForecast {
                    expected_purchases,
                    discounted_purchases: self.discounted_purchases_if_alive(
                        x,
                        age,
                        expected_purchases,
                    )?,
                    no_purchase: self.bgnbd.prob_no_purchase_if_alive(x, age, window),
                    later_if_quiet: if quiet_forecast && horizon > window {
                        self.bgnbd
                            .expected_purchases_if_alive(x, age + window, horizon - window)?
                    } else {
                        0.0
                    },
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok((pairs.keys, shared))
    }

    /// E[purchases in `horizon` weeks | alive, x, T] under the count model.
    fn expected_purchases_if_alive(
        &self,
        x: f64,
        age: f64,
        horizon: f64,
    ) -> Result<f64, ModelError> {
        match &self.count {
            CountModel::Bgnbd
            | CountModel::BgnbdChurn
            | CountModel::Hybrid(_)
            | CountModel::RecentRate(_) => self.bgnbd.expected_purchases_if_alive(x, age, horizon),
            CountModel::ParetoNbd(model) => Ok(model.expected_purchases_if_alive(x, age, horizon)),
            CountModel::Mbgnbd(model) => model.expected_purchases_if_alive(x, age, horizon),
        }
    }

    /// `Σ_k (F(end_k) − F(end_k−1)) / (1 + d)^k` over the horizon's months (the last one
    /// partial) for a cumulative forecast `F` with `F(0) = 0`; `F(horizon)` when `d` is 0.
    fn discounted_by_month(
        &self,
        mut cumulative: impl FnMut(f64) -> Result<f64, ModelError>,
    ) -> Result<f64, ModelError> {
        let (rate, horizon) = (
            self.settings.monthly_discount_rate,
            self.settings.horizon_weeks,
        );
        if rate == 0.0 {
            return cumulative(horizon);
        }
        let (mut total, mut previous, mut month) = (0.0, 0.0, 1);
        loop {
            let end = (f64::from(month) * WEEKS_PER_MONTH).min(horizon);
            let value = cumulative(end)?;
            total += (value - previous) / (1.0 + rate).powi(month);
            previous = value;
            if end >= horizon {
                return Ok(total);
            }
            month += 1;
        }
    }

    /// Purchases if alive, month by month, discounted; `undiscounted` when the rate is 0.
    fn discounted_purchases_if_alive(
        &self,
        x: f64,
        age: f64,
        undiscounted: f64,
    ) -> Result<f64, ModelError> {
        if self.settings.monthly_discount_rate == 0.0 {
            return Ok(undiscounted);
        }
        self.discounted_by_month(|end| self.expected_purchases_if_alive(x, age, end))
    }
}

#[cfg(test)]
mod tests;
