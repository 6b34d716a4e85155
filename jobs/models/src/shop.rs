//! One shop's models end to end, as the scheduled job and `rapport-score score
//! --transactions` both run them: backtest the candidates on the churn window that just
//! ended, choose the count model by the backtest, train the churn classifier, fit the
//! chosen model on the whole history, and pick the next-order method.
//!
//! # Which model scores the shop
//! The backtest fits every candidate at `today − churn window` and compares its
//! forecast of each customer's spend since with what happened (`clv_metrics`). Of the
//! candidates that give counts and P(alive) — the count models, `hybrid` (BG/NBD's
//! counts, its CLV corrected on the shop's own time split) and `recent_rate` (each
//! customer's recent purchase rate, its memory chosen on that split) — the one its rule chooses
//! (the highest normalised Gini among those whose RMSE is at most the best count
//! model's, a tie going to the lower decile MAPE) scores the shop when the backtest ran
//! and rests on enough data: at least [`MIN_BACKTEST_CUSTOMERS`] customers at its
//! calibration end and [`MIN_HOLDOUT_PURCHASES`] repeat purchases in its holdout; a
//! ranking measured on fewer says more about chance than about the models — and when it
//! ranks at least [`CHOICE_MARGIN`] above the default in normalised Gini, and at least
//! [`LEAD_STANDARD_ERRORS`] standard errors of that lead (the backtest's jackknife), so
//! that the model does not swap from run to run on noise. Otherwise, or when the chosen model
//! cannot be fitted on the whole history, the default `bgnbd_churn` scores it and
//! [`ShopFit::why`] says why.
//!
//! # Which churn risk
//! The churn classifier, trained on the shop's time split, gives churn risk (and
//! `bgnbd_churn`'s P(no purchase)) unless the same backtest, resting on as much data as
//! the model choice needs, saw it rank who bought nothing at an AUC more than
//! [`CHURN_AUC_MARGIN`] below BG/NBD's own probability of no purchase: then it is set
//! aside, churn risk is BG/NBD's, and [`ShopFit::fallbacks`] says why. A classifier
//! trained on a young shop's short split can rank at chance (its features measured in
//! absolute time — age, recency — lie outside the range it learnt on when applied), and
//! at-risk and lost decisions would follow it.

use chrono::NaiveDate;

use crate::churn::{ChurnModel, FittedChurnModel};
use crate::error::ModelError;
use crate::evaluate::{Evaluation, evaluate};
use crate::history::{Cohort, Transactions};
use crate::hybrid::Hybrid;
use crate::next_order::{NextOrderForecaster, shop_median_gap_weeks};
use crate::recent_rate::RecentRate;
use crate::score::{CountModel, CountModelKind, ScoreParams, Scored};

/// How far below BG/NBD's probability of no purchase the classifier's AUC in the
/// backtest may rank who bought nothing before the classifier is set aside.
pub const CHURN_AUC_MARGIN: f64 = 0.02;

/// The most customers a shop's models are fitted on by default: the scheduled job's
/// `RAPPORT_FIT_SAMPLE` default, and `rapport-score score --transactions`'s. A larger
/// shop is fitted on the sample [`Transactions::sample`] draws and every customer is
/// scored with that fit.
pub const DEFAULT_FIT_SAMPLE: usize = 200_000;

/// Fewest customers at the backtest's calibration end for its choice of model to count.
pub const MIN_BACKTEST_CUSTOMERS: usize = 100;

/// Fewest repeat purchases in the backtest's holdout for its choice of model to count:
/// a ranking of customers by forecast spend is measured on those who bought.
pub const MIN_HOLDOUT_PURCHASES: u64 = 20;

/// How much higher a candidate's normalised Gini must be than the default's for it to
/// score the shop: smaller leads change with the day's data (0.004 on the demo's shop)
/// and would swap models from run to run for no gain.
pub const CHOICE_MARGIN: f64 = 0.01;

/// How many of its standard errors the lead over the default must also be (the
/// backtest's jackknife, `ClvComparison::chosen_lead`): in a small shop a lead of 0.03
/// can be the chance of which customers it has.
pub const LEAD_STANDARD_ERRORS: f64 = 2.0;

/// The horizon of the scores and the churn window; the window is also the backtest's
/// holdout and caps the time split's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShopParams {
    pub horizon_weeks: f64,
    pub churn_window_weeks: f64,
    /// Monthly discount rate of the CLV ([`ScoreParams::monthly_discount_rate`]).
    pub monthly_discount_rate: f64,
}

impl Default for ShopParams {
    /// A year ahead, a 13-week churn window, no discounting: the job's defaults.
    fn default() -> Self {
        ShopParams {
            horizon_weeks: 52.0,
            churn_window_weeks: 13.0,
            monthly_discount_rate: 0.0,
        }
    }
}

/// What a shop was scored with, and why.
#[derive(Debug, Clone)]
pub struct ShopFit {
    /// The count model that scored the shop.
    pub kind: CountModelKind,
    /// Why it was used: the backtest's figures, or why the default stood in.
    pub why: String,
    /// What was not estimated from the shop's data, and what stood in for it.
    pub fallbacks: Vec<String>,
    /// The fitted model and its scores of the shop's customers at the cutoff, in the
    /// cohort's order.
    pub scored: Scored,
    /// When each customer is due, by the method the backtest chose.
    pub next_orders: NextOrderForecaster,
}

impl ShopParams {
    /// The backtest over the churn window that ended `today`; its error as a sentence.
    pub fn backtest(&self, shop: &Transactions, today: NaiveDate) -> Result<Evaluation, String> {
        let window_days = self.window_days();
        evaluate(shop, today - chrono::Duration::days(window_days), today)
            .map_err(|e| format!("backtest over the last {window_days} days: {e}"))
    }

    fn window_days(&self) -> i64 {
        (self.churn_window_weeks * 7.0).round() as i64
    }

    /// Trains the churn classifier and fits the count model `backtest` chose (the
    /// default when it chose none, or when its choice cannot be fitted) on `shop`'s
    /// customers at `today`. An error only when not even the default can be fitted.
    pub fn fit(
        &self,
        shop: &Transactions,
        backtest: &Result<Evaluation, String>,
        today: NaiveDate,
    ) -> Result<ShopFit, ModelError> {
        let (mut kind, mut why) = choose_model(backtest);
        let mut fallbacks = Vec::new();
        // A shop too young or too small for the classifier's time split still gets
        // scores: churn risk is then BG/NBD's probability of no purchase in the window.
        let churn = if let Some(reason) = classifier_set_aside(backtest) {
            fallbacks.push(reason);
            None
        } else {
            match ChurnModel::params()
                .max_window_weeks(self.churn_window_weeks)
                .fit(shop, today)
            {
                Ok(model) => Some(model),
                Err(e) => {
                    fallbacks.push(format!(
                        "churn classifier not trained ({e}); churn risk is BG/NBD's probability of no purchase"
                    ));
                    None
                }
            }
        };
        let cohort = shop.cohort_at(today);
        let scored = match self.fit_model(shop, &cohort, kind, churn.clone()) {
            Ok(scored) => scored,
            // The default is what every shop could be scored with before there was a
            // choice: a chosen model that fails on the whole history gives way to it.
            Err(e) if kind != CountModelKind::default() => {
                why = format!("default: {kind} was chosen but could not be fitted ({e})");
                kind = CountModelKind::default();
                self.fit_model(shop, &cohort, kind, churn)?
            }
            Err(e) => return Err(e),
        };
        let mut estimations = vec![
            ("BG/NBD", &scored.model.bgnbd.estimation),
            ("Gamma-Gamma", &scored.model.gamma_gamma.estimation),
        ];
        if let CountModel::Mbgnbd(model) = &scored.model.count {
            estimations.push(("MBG/NBD", &model.estimation));
        }
        // What the recent rate learnt on the shop's split is part of why it scores.
        if let CountModel::RecentRate(memory) = &scored.model.count {
            why.push_str(&format!(
                "; purchases at each customer's recent rate, a memory of {:.0} weeks",
                memory.memory_weeks
            ));
        }
        for (name, estimation) in estimations {
            if let Some(reason) = estimation.fallback_reason() {
                fallbacks.push(format!("{name}: {reason}"));
            }
        }
        let method = backtest
            .as_ref()
            .map(|e| e.next_order.chosen)
            .unwrap_or_default();
        let next_orders = scored
            .model
            .next_order_forecaster(method, shop_median_gap_weeks(&cohort));
        Ok(ShopFit {
            kind,
            why,
            fallbacks,
            scored,
            next_orders,
        })
    }

    /// Fits `kind` on `cohort`, `shop`'s customers at its cutoff, with `churn` as its
    /// churn scorer; the hybrid's correction or the recent rate's memory is trained
    /// first, on the time split the backtest trained it on (a window of at most the
    /// churn window).
    pub fn fit_model(
        &self,
        shop: &Transactions,
        cohort: &Cohort<'_>,
        kind: CountModelKind,
        churn: Option<FittedChurnModel>,
    ) -> Result<Scored, ModelError> {
        let trained = match kind {
            CountModelKind::Hybrid => Some(
                Hybrid::params()
                    .max_window_weeks(self.churn_window_weeks)
                    .fit(shop, cohort.cutoff)?
                    .into(),
            ),
            CountModelKind::RecentRate => Some(
                RecentRate::params()
                    .max_window_weeks(self.churn_window_weeks)
                    .fit(shop, cohort.cutoff)?
                    .into(),
            ),
            _ => None,
        };
        ScoreParams::default()
            .horizon_weeks(self.horizon_weeks)
            .churn_window_weeks(self.churn_window_weeks)
            .monthly_discount_rate(self.monthly_discount_rate)
            .count_model(kind)
            .fit_cohort(cohort, churn, trained)
    }
}

/// Why the churn classifier should not give the shop's churn risk (see the module
/// header); `None` to train and use it.
pub fn classifier_set_aside(backtest: &Result<Evaluation, String>) -> Option<String> {
    let e = backtest.as_ref().ok()?;
    if e.churn.is_none()
        || e.customers < MIN_BACKTEST_CUSTOMERS
        || e.holdout.actual_repeat_purchases < MIN_HOLDOUT_PURCHASES
    {
        return None;
    }
    let (classifier, bgnbd) = (e.holdout.churn_auc?, e.holdout.bgnbd_only.churn_auc?);
    (classifier < bgnbd - CHURN_AUC_MARGIN).then(|| {
        format!(
            "churn classifier set aside: the backtest over {} customers saw it rank who bought \
             nothing at AUC {classifier:.3}, BG/NBD's probability of no purchase at {bgnbd:.3}; \
             churn risk is BG/NBD's probability of no purchase",
            e.customers
        )
    })
}

/// The count model that scores the shop and why (see the module header).
pub fn choose_model(backtest: &Result<Evaluation, String>) -> (CountModelKind, String) {
    let default = CountModelKind::default();
    let e = match backtest {
        Ok(e) => e,
        Err(reason) => return (default, format!("default: no backtest ({reason})")),
    };
    if e.customers < MIN_BACKTEST_CUSTOMERS
        || e.holdout.actual_repeat_purchases < MIN_HOLDOUT_PURCHASES
    {
        return (
            default,
            format!(
                "default: the backtest had {} customers and {} holdout repeat purchases, \
                 too few to choose by (at least {MIN_BACKTEST_CUSTOMERS} and {MIN_HOLDOUT_PURCHASES})",
                e.customers, e.holdout.actual_repeat_purchases
            ),
        );
    }
    let chosen = e.clv_metrics.chosen;
    let metrics = e.clv_metrics.entries.get(chosen);
    match (
        CountModelKind::from_name(chosen),
        metrics.and_then(|m| m.normalized_gini),
    ) {
        (Some(kind), Some(gini)) => {
            let default_gini =
                (e.clv_metrics.entries.get(default.as_str())).and_then(|m| m.normalized_gini);
            let lead_se = (e.clv_metrics.chosen_lead.get(default.as_str())).map(|l| l.gini_se);
            if let Some(lead) = default_gini.map(|d| gini - d)
                && kind != default
                && let Some(reason) = unclear_lead(chosen, lead, lead_se)
            {
                return (default, format!("default: {reason}"));
            }
            let mape = metrics
                .and_then(|m| m.decile_mape)
                .map_or_else(|| "–".to_owned(), |m| format!("{m:.3}"));
            // How far and how surely it leads the default it replaces.
            let lead = (kind != default)
                .then(|| e.clv_metrics.chosen_lead.get(default.as_str()))
                .flatten()
                .map_or_else(String::new, |l| {
                    format!(" ({:+.3} ± {:.3} over {default})", l.gini, l.gini_se)
                });
            (
                kind,
                format!(
                    "chosen by the backtest over {} customers: normalised Gini {gini:.3}{lead}, decile MAPE {mape}",
                    e.customers
                ),
            )
        }
        (Some(_), None) => (
            default,
            format!("default: the backtest could not rank {chosen} (no normalised Gini)"),
        ),
        (None, _) => (
            default,
            format!("default: the backtest chose {chosen}, which scores no shop"),
        ),
    }
}

/// Why a lead of `lead` (± `se`) over the default in normalised Gini is not enough for
/// `chosen` to score the shop; `None` when it is.
fn unclear_lead(chosen: &str, lead: f64, se: Option<f64>) -> Option<String> {
    if lead < CHOICE_MARGIN {
        // `chosen` can rank below the default when the default is less accurate than
        // the best count model (`ClvComparison::chosen`).
        let standing = if lead < 0.0 {
            format!("{:.3} below it", -lead)
        } else {
            format!("only {lead:.3} above it")
        };
        return Some(format!(
            "{chosen} ranked {standing} in normalised Gini (a lead of {CHOICE_MARGIN} is needed)"
        ));
    }
    let se = se.filter(|se| lead < LEAD_STANDARD_ERRORS * se)?;
    Some(format!(
        "{chosen} ranked {lead:.3} ± {se:.3} above it in normalised Gini, less than \
         {LEAD_STANDARD_ERRORS} standard errors"
    ))
}

#[cfg(test)]
mod tests;
