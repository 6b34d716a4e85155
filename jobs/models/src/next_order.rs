//! When a customer is due: the days from a cutoff to their next purchase.
//!
//! # Methods
//! - `model`, from BG/NBD. An alive customer buys at a Poisson rate λ and can drop out
//!   only right after a purchase, so given alive at the cutoff the wait `W` to the next
//!   purchase is exponential given λ, and λ's posterior is Gamma(r + x, α + T):
//!   `S(t) = P(W > t | alive) = ((α+T)/(α+T+t))^(r+x)`, a Lomax distribution (the alive
//!   part of [`FittedBgNbd::prob_no_purchase`]). Its mean is infinite when `r + x ≤ 1`
//!   (every one-time buyer when r < 1), so the forecast is a median, the point that
//!   minimises the expected absolute error in days: the median of `W` given alive and
//!   given a purchase within the horizon `h`, where `S(t) = (1 + S(h))/2`:
//!   `t = (α+T)·[((1+S(h))/2)^(−1/(r+x)) − 1]`. Without a horizon (`h → ∞`) it is the
//!   plain median `(α+T)·(2^(1/(r+x)) − 1)`, which for a customer with a low rate lies
//!   years ahead: with r + x = 0.24 and α + T = 40 weeks, 13 years.
//! - `own_gaps`: the customer's last purchase plus the median of their own gaps between
//!   purchase days (needs 2 purchase days); a one-time buyer has no gap of their own and
//!   gets the shop's median gap ([`shop_median_gap_weeks`], every gap of every customer up
//!   to the cutoff, pooled) after their only purchase, or the model's date in a shop where
//!   nobody has bought twice.
//!
//! # What the forecast means
//! The date is what to expect **if the customer is still a customer** (and, for the
//! model, buys within the horizon): BG/NBD's P(alive) and the probability of a purchase
//! within the horizon, `P(alive)·(1 − S(h))`, come with it, for the caller to weigh. A
//! date with a probability of 0.05 is a long shot, not a due date. A date on or before
//! the cutoff — the last purchase plus a gap that has already passed, an overdue
//! customer — becomes the day after the cutoff: they did not buy up to it, so the
//! earliest they can is the next day. Days are whole: the forecast rounded to the
//! nearest day, at least 1.
//!
//! # Backtest
//! [`NextOrderComparison`] measures both methods, two naive gap baselines, the model
//! without a horizon and the best single date in hindsight on the customers who bought
//! in a holdout, against the day of their first purchase in it, and picks the method
//! with the lower mean absolute error.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::bgnbd::{BgNbdCoefficients, FittedBgNbd};
use crate::error::ModelError;
use crate::history::{Cohort, DAYS_PER_WEEK, RfmSummary};
use crate::metrics;

/// How a shop's next-order dates are forecast: the backtest's `next_order.chosen`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextOrderMethod {
    /// The median of BG/NBD's posterior-predictive wait, given alive.
    #[default]
    Model,
    /// The last purchase plus the customer's median gap between purchase days.
    OwnGaps,
}

impl NextOrderMethod {
    pub const ALL: [NextOrderMethod; 2] = [NextOrderMethod::Model, NextOrderMethod::OwnGaps];

    /// The method's name in the backtest.
    pub fn as_str(self) -> &'static str {
        match self {
            NextOrderMethod::Model => "model",
            NextOrderMethod::OwnGaps => "own_gaps",
        }
    }

    /// The method a backtest name stands for; `None` for a baseline or an unknown name.
    pub fn from_name(name: &str) -> Option<NextOrderMethod> {
        Self::ALL.into_iter().find(|method| method.as_str() == name)
    }
}

impl fmt::Display for NextOrderMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one forecast rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextOrderBasis {
    /// BG/NBD's posterior-predictive wait.
    Model,
    /// The customer's own median gap.
    OwnGaps,
    /// The shop's median gap (a one-time buyer under `own_gaps`).
    ShopGap,
}

/// One customer's next order, forecast at a cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NextOrder {
    /// Days from the cutoff to the forecast purchase day: whole, at least 1; infinite
    /// only for a rate so low that the model's median (without a horizon) overflows.
    pub days: f64,
    pub basis: NextOrderBasis,
    /// BG/NBD's P(alive) at the cutoff: the date holds for a customer still buying.
    pub p_alive: f64,
    /// P(a purchase within the horizon) = `P(alive)·(1 − S(h))`; P(alive) without a
    /// horizon (an alive customer buys again some day).
    pub p_order_in_horizon: f64,
}

impl NextOrder {
    /// The forecast purchase day; `None` when it is beyond the calendar.
    pub fn date(&self, cutoff: NaiveDate) -> Option<NaiveDate> {
        if !(self.days.is_finite() && self.days < f64::from(u32::MAX)) {
            return None;
        }
        cutoff.checked_add_days(Days::new(self.days as u64))
    }
}

/// The median of BG/NBD's posterior-predictive wait, in weeks from the cutoff, of an
/// alive customer with `frequency` repeat purchases and age `age` (weeks): given a
/// purchase within `horizon` weeks when one is given, otherwise the plain median. See
/// the module header; computed with `ln_1p`/`exp_m1`, so a low rate (r + x → 0) tends to
/// `(α+T)·(√(1 + h/(α+T)) − 1)` under a horizon instead of losing its digits.
pub fn model_wait_weeks(
    bgnbd: &BgNbdCoefficients,
    frequency: f64,
    age: f64,
    horizon: Option<f64>,
) -> f64 {
    let shape = bgnbd.r + frequency;
    let scale = bgnbd.alpha + age;
    // −ln of the survival level to solve for: ln 2 without a horizon, otherwise
    // −ln((1 + S(h))/2) with S(h) = exp(−shape·ln(1 + h/scale)).
    let minus_ln_level = match horizon {
        Some(h) => -((-(shape * (h / scale).ln_1p())).exp_m1() / 2.0).ln_1p(),
        None => std::f64::consts::LN_2,
    };
    scale * (minus_ln_level / shape).exp_m1()
}

/// `P(W > t | alive) = ((α+T)/(α+T+t))^(r+x)`, the survival the median solves.
pub fn model_no_purchase_if_alive(
    bgnbd: &BgNbdCoefficients,
    frequency: f64,
    age: f64,
    weeks: f64,
) -> f64 {
    (-(bgnbd.r + frequency) * (weeks / (bgnbd.alpha + age)).ln_1p()).exp()
}

/// Weeks from the cutoff to the last purchase plus `gap`: negative for an overdue
/// customer.
pub fn gap_wait_weeks(s: &RfmSummary, gap: f64) -> f64 {
    s.recency + gap - s.age
}

/// The median of `values` (the mean of the middle two for an even count); `None` when
/// empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Weeks from the cutoff as whole days: rounded to the nearest day and at least 1 (the
/// day after the cutoff); infinity stays infinite.
pub fn whole_days(weeks: f64) -> f64 {
    let days = (weeks * DAYS_PER_WEEK).round();
    if days.is_nan() { 1.0 } else { days.max(1.0) }
}

/// The median gap between consecutive purchase days over every member of `cohort`,
/// pooled, up to its cutoff (weeks); `None` when nobody bought twice.
pub fn shop_median_gap_weeks(cohort: &Cohort<'_>) -> Option<f64> {
    let gaps: Vec<f64> = cohort
        .members
        .iter()
        .flat_map(|customer| customer.gaps_at(cohort.cutoff))
        .collect();
    median(&gaps)
}

/// Forecasts next orders with one method, from BG/NBD's coefficients and, for one-time
/// buyers under `own_gaps`, the shop's median gap; serialisable, to be stored with a
/// shop's choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextOrderForecaster {
    pub bgnbd: BgNbdCoefficients,
    pub method: NextOrderMethod,
    /// The model's date is conditioned on a purchase within this many weeks; `None` for
    /// the plain median.
    pub horizon_weeks: Option<f64>,
    /// One-time buyers' gap under `own_gaps` ([`shop_median_gap_weeks`]); without it they
    /// get the model's date.
    pub shop_gap_weeks: Option<f64>,
}

impl NextOrderForecaster {
    /// No horizon and no shop gap; see the builder methods.
    pub fn new(bgnbd: BgNbdCoefficients, method: NextOrderMethod) -> Self {
        NextOrderForecaster {
            bgnbd,
            method,
            horizon_weeks: None,
            shop_gap_weeks: None,
        }
    }

    pub fn horizon_weeks(mut self, weeks: f64) -> Self {
        self.horizon_weeks = Some(weeks);
        self
    }

    pub fn shop_gap_weeks(mut self, weeks: Option<f64>) -> Self {
        self.shop_gap_weeks = weeks;
        self
    }

    /// Checks the coefficients, the horizon and the shop gap.
    pub fn check(&self) -> Result<(), ModelError> {
        let BgNbdCoefficients { r, alpha, a, b } = self.bgnbd;
        if ![r, alpha, a, b].iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "bgnbd",
                reason: format!("r, alpha, a and b must be positive, got {:?}", self.bgnbd),
            });
        }
        for (name, value) in [
            ("horizon_weeks", self.horizon_weeks),
            ("shop_gap_weeks", self.shop_gap_weeks),
        ] {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                return Err(ModelError::InvalidParameter {
                    name,
                    reason: format!("must be a positive number of weeks, got {v}"),
                });
            }
        }
        Ok(())
    }

    /// The next order of the customer summarised by `s` at the cutoff, whose gaps between
    /// purchase days up to it (weeks, [`crate::CustomerHistory::gaps_at`]) are `gaps`.
    pub fn forecast(&self, s: &RfmSummary, gaps: &[f64]) -> Result<NextOrder, ModelError> {
        self.check()?;
        s.validate()
            .map_err(|reason| ModelError::InvalidParameter {
                name: "summary",
                reason,
            })?;
        if let Some(bad) = gaps.iter().find(|g| !(g.is_finite() && **g > 0.0)) {
            return Err(ModelError::InvalidParameter {
                name: "gaps",
                reason: format!("gaps must be positive numbers of weeks, got {bad}"),
            });
        }
        Ok(self.forecast_valid(s, gaps))
    }

    /// [`Self::forecast`] on inputs already checked.
    fn forecast_valid(&self, s: &RfmSummary, gaps: &[f64]) -> NextOrder {
        let model = FittedBgNbd::from_parameters(self.bgnbd);
        let p_alive = model.p_alive(s);
        let p_order_in_horizon = match self.horizon_weeks {
            Some(h) => {
                p_alive * (1.0 - model_no_purchase_if_alive(&self.bgnbd, s.frequency, s.age, h))
            }
            None => p_alive,
        };
        let own = median(gaps).map(|gap| (gap, NextOrderBasis::OwnGaps));
        let gap = match self.method {
            NextOrderMethod::OwnGaps => {
                own.or(self.shop_gap_weeks.map(|g| (g, NextOrderBasis::ShopGap)))
            }
            NextOrderMethod::Model => None,
        };
        let (weeks, basis) = match gap {
            Some((gap, basis)) => (gap_wait_weeks(s, gap), basis),
            None => (
                model_wait_weeks(&self.bgnbd, s.frequency, s.age, self.horizon_weeks),
                NextOrderBasis::Model,
            ),
        };
        NextOrder {
            days: whole_days(weeks),
            basis,
            p_alive,
            p_order_in_horizon,
        }
    }
}

/// Errors in days of one way of forecasting the next order, over the customers who bought
/// in the holdout: predicted minus actual day of their first purchase in it. `None`
/// without customers (or, for the subsets, without any in the subset) or when not finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NextOrderErrors {
    /// Mean absolute error.
    pub mae_days: Option<f64>,
    /// Median absolute error.
    pub median_absolute_error_days: Option<f64>,
    /// Mean signed error: negative when the dates come too early.
    pub mean_error_days: Option<f64>,
    /// Mean absolute error over the customers with 2 or more purchase days by the cutoff.
    pub repeat_buyers_mae_days: Option<f64>,
    /// Mean absolute error over the one-time buyers (those the gap methods give the shop's
    /// gap).
    pub one_time_buyers_mae_days: Option<f64>,
    /// Spearman's rank correlation of predicted and actual days: whether the forecast
    /// knows who comes back first (`None` for a constant forecast).
    pub spearman: Option<f64>,
    /// Share of the forecasts on the day after the cutoff: for the gap methods, mostly
    /// customers already overdue at the cutoff.
    pub next_day_share: Option<f64>,
}

impl NextOrderErrors {
    /// The errors of `predicted` against `actual` days; `repeat[i]` marks a customer with
    /// 2 or more purchase days.
    pub fn of(predicted: &[f64], actual: &[f64], repeat: &[bool]) -> NextOrderErrors {
        let errors: Vec<f64> = predicted.iter().zip(actual).map(|(p, a)| p - a).collect();
        let absolute: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
        let finite = |v: f64| v.is_finite().then_some(v);
        let mean = |values: &mut dyn Iterator<Item = f64>| {
            let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / n as f64).and_then(finite)
        };
        let subset = |keep: bool| {
            mean(
                &mut absolute
                    .iter()
                    .zip(repeat)
                    .filter(|(_, r)| **r == keep)
                    .map(|(e, _)| *e),
            )
        };
        NextOrderErrors {
            mae_days: mean(&mut absolute.iter().copied()),
            median_absolute_error_days: median(&absolute).and_then(finite),
            mean_error_days: mean(&mut errors.iter().copied()),
            repeat_buyers_mae_days: subset(true),
            one_time_buyers_mae_days: subset(false),
            spearman: metrics::spearman(predicted, actual).and_then(finite),
            next_day_share: mean(&mut predicted.iter().map(|p| f64::from(u8::from(*p <= 1.0)))),
        }
    }
}

/// The next-order forecasts of a backtest: for the customers known at the calibration end
/// who bought in the holdout, each way of forecasting their next order measured against
/// the day of their first purchase in the holdout ([`NextOrderErrors`]), keyed by name,
/// and `chosen`: the method with the lower mean absolute error, a tie going to `model`.
///
/// Methods (see the module header): `model` (with the holdout as the horizon) and
/// `own_gaps`. Baselines, never chosen: `last_gap` (the last purchase plus the customer's
/// last gap), `mean_gap` (plus their mean gap, `t_x / x`); `model_unbounded` (the model's
/// plain median, without a horizon); and `hindsight_median`, one day for everybody, the
/// median of the actual days: the lowest mean absolute error any single date can reach,
/// known only after the fact, against which a method shows what it knows about
/// individual customers. One-time buyers get the shop's median gap in `own_gaps` and
/// both gap baselines; in a shop where nobody bought twice there is no such gap, and
/// those three are left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextOrderComparison {
    /// Customers known at the calibration end who bought in the holdout.
    pub customers: usize,
    /// Of them, those with a single purchase day by the calibration end.
    pub one_time_buyers: usize,
    /// The horizon of `model`: the holdout's length.
    pub horizon_weeks: f64,
    /// The shop's median gap between purchase days by the calibration end, in days.
    pub shop_gap_days: Option<f64>,
    #[serde(flatten)]
    pub entries: BTreeMap<&'static str, NextOrderErrors>,
    pub chosen: NextOrderMethod,
}

/// A [`NextOrderComparison`] as stored, before its names are checked.
#[derive(Deserialize)]
struct StoredNextOrderComparison {
    customers: usize,
    one_time_buyers: usize,
    horizon_weeks: f64,
    shop_gap_days: Option<f64>,
    #[serde(flatten)]
    entries: BTreeMap<String, NextOrderErrors>,
    chosen: NextOrderMethod,
}

impl<'de> Deserialize<'de> for NextOrderComparison {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredNextOrderComparison::deserialize(d)?;
        Self::try_from(stored).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<StoredNextOrderComparison> for NextOrderComparison {
    type Error = String;

    fn try_from(s: StoredNextOrderComparison) -> Result<Self, String> {
        let methods = NextOrderMethod::ALL.map(NextOrderMethod::as_str);
        let names = [methods.as_slice(), &Self::BASELINES].concat();
        Ok(NextOrderComparison {
            customers: s.customers,
            one_time_buyers: s.one_time_buyers,
            horizon_weeks: s.horizon_weeks,
            shop_gap_days: s.shop_gap_days,
            entries: crate::names::known_keys(s.entries, &names)?,
            chosen: s.chosen,
        })
    }
}

impl NextOrderComparison {
    /// The baselines: never chosen.
    pub const BASELINES: [&'static str; 4] = [
        "last_gap",
        "mean_gap",
        "model_unbounded",
        "hindsight_median",
    ];

    /// Measures every forecast on the members of `cohort` (taken at the calibration end)
    /// who bought after it up to `holdout_end`.
    pub fn measure(
        cohort: &Cohort<'_>,
        bgnbd: &BgNbdCoefficients,
        holdout_end: NaiveDate,
    ) -> Result<NextOrderComparison, ModelError> {
        let horizon_weeks = (holdout_end - cohort.cutoff).num_days() as f64 / DAYS_PER_WEEK;
        let shop_gap = shop_median_gap_weeks(cohort);
        let model =
            NextOrderForecaster::new(*bgnbd, NextOrderMethod::Model).horizon_weeks(horizon_weeks);
        let own_gaps = NextOrderForecaster {
            method: NextOrderMethod::OwnGaps,
            shop_gap_weeks: shop_gap,
            ..model.clone()
        };
        model.check()?;
        own_gaps.check()?;
        let mut actual = Vec::new();
        let mut repeat = Vec::new();
        let mut predicted: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for (customer, s) in cohort.members.iter().zip(&cohort.summaries) {
            let Some(days) = customer.days_to_next_purchase(cohort.cutoff, holdout_end) else {
                continue;
            };
            let gaps = customer.gaps_at(cohort.cutoff);
            actual.push(f64::from(days));
            repeat.push(!gaps.is_empty());
            let mut add = |name, days| predicted.entry(name).or_default().push(days);
            add("model", model.forecast_valid(s, &gaps).days);
            add(
                "model_unbounded",
                whole_days(model_wait_weeks(bgnbd, s.frequency, s.age, None)),
            );
            if let Some(shop_gap) = shop_gap {
                let own_or_shop =
                    |gap: Option<f64>| whole_days(gap_wait_weeks(s, gap.unwrap_or(shop_gap)));
                add("own_gaps", own_gaps.forecast_valid(s, &gaps).days);
                add("last_gap", own_or_shop(gaps.last().copied()));
                add(
                    "mean_gap",
                    own_or_shop((s.frequency > 0.0).then(|| s.recency / s.frequency)),
                );
            }
        }
        if let Some(day) = median(&actual) {
            predicted.insert("hindsight_median", vec![day; actual.len()]);
        }
        let entries: BTreeMap<&'static str, NextOrderErrors> = predicted
            .into_iter()
            .map(|(name, forecast)| (name, NextOrderErrors::of(&forecast, &actual, &repeat)))
            .collect();
        let mae = |name: &str| {
            entries
                .get(name)
                .and_then(|e| e.mae_days)
                .unwrap_or(f64::INFINITY)
        };
        let chosen = if mae("own_gaps") < mae("model") {
            NextOrderMethod::OwnGaps
        } else {
            NextOrderMethod::Model
        };
        Ok(NextOrderComparison {
            customers: actual.len(),
            one_time_buyers: repeat.iter().filter(|r| !**r).count(),
            horizon_weeks,
            shop_gap_days: shop_gap.map(|g| g * DAYS_PER_WEEK),
            entries,
            chosen,
        })
    }
}

#[cfg(test)]
mod tests;
