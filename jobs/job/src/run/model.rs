//! The model phase: backtest the candidate models on the churn window that just ended,
//! fit the churn classifier and the count model the backtest chose on the shop's own
//! history, score every customer, and derive what the rules and the report need from
//! the scores.
//!
//! # Which model scores the shop
//! The backtest fits every candidate at `today − churn window` and compares its
//! forecast of each customer's spend since with what happened (`clv_metrics`). Of the
//! candidates that give counts and P(alive) — the count models and `hybrid` (BG/NBD's
//! counts, its CLV corrected on the shop's own time split) — the one its rule chooses
//! (the highest normalised Gini among those whose RMSE is at most the best count
//! model's, a tie going to the lower decile MAPE) scores the shop when the backtest ran
//! and rests on enough data: at least
//! [`MIN_BACKTEST_CUSTOMERS`] customers at its calibration end and
//! [`MIN_HOLDOUT_PURCHASES`] repeat purchases in its holdout; a ranking measured on
//! fewer says more about chance than about the models — and when it ranks at least
//! [`CHOICE_MARGIN`] above the default in normalised Gini, so that the model does not
//! swap from run to run on noise. Otherwise, or when the chosen model cannot be fitted
//! on the whole history, the default `bgnbd_churn` scores it and the summary says why.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rapport_models::next_order::shop_median_gap_weeks;
use rapport_models::{
    ChurnModel, Cohort, CountModelKind, CustomerHistory, Evaluation, FittedChurnModel, Hybrid,
    ModelError, NextOrderForecaster, PARETO_SHARE, ScoreParams, Scored, ScoringModel, Transactions,
    evaluate, metrics,
};
use rapport_shared::domain::outreach::Population;
use rapport_shared::domain::{CustomerId, CustomerScores, Segment};
use rapport_shared::store::ScannedCustomer;
use serde::{Deserialize, Serialize};

use super::RunSettings;
use super::buyers::{Buyer, BuyerSample};
use crate::summary::{FitSample, ScoredPoint};

/// Fewest customers at the backtest's calibration end for its choice of model to count.
pub const MIN_BACKTEST_CUSTOMERS: usize = 100;

/// Fewest repeat purchases in the backtest's holdout for its choice of model to count:
/// a ranking of customers by forecast spend is measured on those who bought.
pub const MIN_HOLDOUT_PURCHASES: u64 = 20;

/// How much higher a candidate's normalised Gini must be than the default's for it to
/// score the shop: smaller leads change with the day's data (0.004 on the demo's shop)
/// and would swap models from run to run for no gain.
pub const CHOICE_MARGIN: f64 = 0.01;

/// The count model that scores the shop and why (see the module header).
pub(super) fn choose_model(backtest: &Result<Evaluation, String>) -> (CountModelKind, String) {
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
            if let Some(lead) = default_gini.map(|d| gini - d)
                && kind != default
                && lead < CHOICE_MARGIN
            {
                return (
                    default,
                    format!(
                        "default: {chosen} ranked only {lead:.3} above it in normalised Gini \
                         (a lead of {CHOICE_MARGIN} is needed)"
                    ),
                );
            }
            let mape = metrics
                .and_then(|m| m.decile_mape)
                .map_or_else(|| "–".to_owned(), |m| format!("{m:.3}"));
            (
                kind,
                format!(
                    "chosen by the backtest over {} customers: normalised Gini {gini:.3}, decile MAPE {mape}",
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

/// The models a run fitted, to score any part of its customers with; stored between
/// the phases of a run by segments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fitted {
    pub model: ScoringModel,
    pub next_orders: NextOrderForecaster,
    /// The count model that scores the shop and why it was used.
    pub kind: CountModelKind,
    pub why: String,
    /// What was not estimated from the shop's data, and what stood in for it.
    pub fallbacks: Vec<String>,
    /// Recorded with every score.
    pub model_version: String,
    pub horizon_weeks: f64,
}

/// What the run needs of every customer's score at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    /// Buyers the fit scored: every buyer, or the sample's (see `sample`).
    pub scored: usize,
    /// The sample the models were fitted on, and the figures below drawn from, when the
    /// shop has more buyers than the job's `fit_sample`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<FitSample>,
    pub population: Population,
    /// Share of net spend from the Pareto top by CLV; `None` when nobody spent.
    pub pareto_share: Option<f64>,
    /// One point per customer the fit scored, for the report's charts.
    pub points: Vec<ScoredPoint>,
}

/// What the models made of the shop's history.
pub(super) struct Modelled {
    pub fitted: Result<Fitted, String>,
    pub overview: Overview,
    pub backtest: Result<Evaluation, String>,
}

/// Backtests the candidate models on the churn window that just ended, then fits the
/// chosen one on the sample's buyers (every buyer of a shop within the job's
/// `fit_sample`) and scores them for the overview.
pub(super) fn fit_all(
    sample: BuyerSample,
    settings: &RunSettings,
    minor_per_major: f64,
    today: NaiveDate,
) -> Modelled {
    let drawn = (!sample.is_whole()).then_some(FitSample {
        buyers: sample.buyers.len(),
        of: sample.seen,
    });
    let mut buyers = sample.buyers;
    // The same customers fit the same models however the scan split them.
    buyers.sort_by(|a, b| a.id.cmp(&b.id));
    let histories: Vec<CustomerHistory> = (buyers.iter())
        .filter_map(|b| b.history(minor_per_major))
        .collect();
    let shop = Transactions::new(histories);
    let window_days = (settings.job.churn_window_weeks * 7.0).round() as i64;
    let backtest = evaluate(&shop, today - chrono::Duration::days(window_days), today)
        .map_err(|e| format!("backtest over the last {window_days} days: {e}"));
    let mut overview = overview_of(&[], minor_per_major);
    let fitted = fit_chosen(&shop, &backtest, settings, today).map(|(fitted, scores)| {
        let spend: BTreeMap<&str, i64> = (buyers.iter())
            .map(|b| (b.id.as_str(), b.net_spend_minor))
            .collect();
        let cohort = shop.cohort_at(today);
        let rows: Vec<(f64, f64, f64)> = (cohort.members.iter().zip(&scores))
            .map(|(member, s)| {
                let clv_minor = (s.clv * minor_per_major).round();
                let spent = spend.get(member.id()).copied().unwrap_or(0) as f64;
                (clv_minor, s.churn_risk, spent)
            })
            .collect();
        overview = overview_of(&rows, minor_per_major);
        fitted
    });
    overview.sample = drawn;
    Modelled {
        fitted,
        overview,
        backtest,
    }
}

/// Fits the count model the backtest chose (the default when it cannot be fitted) and
/// the churn classifier; the fit's own scores of `shop`'s cohort at `today`.
fn fit_chosen(
    shop: &Transactions,
    backtest: &Result<Evaluation, String>,
    settings: &RunSettings,
    today: NaiveDate,
) -> Result<(Fitted, Vec<rapport_models::CustomerScore>), String> {
    let (mut kind, mut why) = choose_model(backtest);
    let mut fallbacks = Vec::new();
    // A shop too young or too small for the classifier's time split still gets scores:
    // churn risk is then BG/NBD's probability of no purchase in the window.
    let churn = match ChurnModel::params()
        .max_window_weeks(settings.job.churn_window_weeks)
        .fit(shop, today)
    {
        Ok(model) => Some(model),
        Err(e) => {
            fallbacks.push(format!(
                "churn classifier not trained ({e}); churn risk is BG/NBD's probability of no purchase"
            ));
            None
        }
    };
    let cohort = shop.cohort_at(today);
    let params = ScoreParams::default()
        .horizon_weeks(settings.job.horizon_weeks)
        .churn_window_weeks(settings.job.churn_window_weeks);
    let window = settings.job.churn_window_weeks;
    let fit_kind = |kind| fit_model(shop, &cohort, &params, kind, churn.clone(), window);
    let scored = match fit_kind(kind) {
        Ok(scored) => scored,
        // The default is what every shop could be scored with before there was a
        // choice: a chosen model that fails on the whole history gives way to it.
        Err(e) if kind != CountModelKind::default() => {
            why = format!("default: {kind} was chosen but could not be fitted ({e})");
            kind = CountModelKind::default();
            fit_kind(kind).map_err(|e| format!("CLV models: {e}"))?
        }
        Err(e) => return Err(format!("CLV models: {e}")),
    };
    let mut estimations = vec![
        ("BG/NBD", &scored.model.bgnbd.estimation),
        ("Gamma-Gamma", &scored.model.gamma_gamma.estimation),
    ];
    if let rapport_models::CountModel::Mbgnbd(model) = &scored.model.count {
        estimations.push(("MBG/NBD", &model.estimation));
    }
    for (name, estimation) in estimations {
        if let Some(reason) = estimation.fallback_reason() {
            fallbacks.push(format!("{name}: {reason}"));
        }
    }
    for fallback in &fallbacks {
        tracing::warn!(%fallback, "a model fell back");
    }
    // The next order: by the method the backtest chose (the model's date by default).
    let method = backtest
        .as_ref()
        .map(|e| e.next_order.chosen)
        .unwrap_or_default();
    let next_orders = scored
        .model
        .next_order_forecaster(method, shop_median_gap_weeks(&cohort));
    tracing::info!(model = %kind, %why, "fitted");
    let fitted = Fitted {
        next_orders,
        kind,
        why,
        fallbacks,
        // The count model goes with every score: the version string says which models
        // made it, and a shop's model can change from one run to the next.
        model_version: format!("{} {kind}", settings.model_version),
        horizon_weeks: settings.job.horizon_weeks,
        model: scored.model,
    };
    Ok((fitted, scored.scores))
}

/// Fits `kind` on `cohort`, `shop`'s customers at its cutoff, with `churn` as its churn
/// scorer; the hybrid's correction is trained first, on the time split the backtest
/// trained it on (a window of at most `window_weeks`).
fn fit_model(
    shop: &Transactions,
    cohort: &Cohort<'_>,
    params: &ScoreParams,
    kind: CountModelKind,
    churn: Option<FittedChurnModel>,
    window_weeks: f64,
) -> Result<Scored, ModelError> {
    let correction = if kind.needs_histories() {
        Some(
            Hybrid::params()
                .max_window_weeks(window_weeks)
                .fit(shop, cohort.cutoff)?,
        )
    } else {
        None
    };
    (params.clone().count_model(kind)).fit_cohort(cohort, churn, correction)
}

/// Scores `customers` with the run's fitted models: those with a purchase that counts.
pub(super) fn score(
    fitted: &Fitted,
    customers: &[ScannedCustomer],
    minor_per_major: f64,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, CustomerScores>, String> {
    let histories: Vec<CustomerHistory> = (customers.iter())
        .filter_map(|c| Buyer::of(&c.profile)?.history(minor_per_major))
        .collect();
    let shop = Transactions::new(histories);
    let cohort = shop.cohort_at(today);
    let scored = (fitted.model.score_cohort(&cohort)).map_err(|e| format!("scoring: {e}"))?;
    cohort
        .members
        .iter()
        .zip(&scored)
        .zip(&cohort.summaries)
        .map(|((member, s), summary)| {
            let id = member.id().to_owned();
            let next = fitted
                .next_orders
                .forecast(summary, &member.gaps_at(today))
                .ok();
            let scores = CustomerScores {
                customer_id: CustomerId::parse("customer_id", &id).map_err(|e| e.to_string())?,
                churn_risk: s.churn_risk,
                p_alive: s.p_alive,
                expected_purchases: s.expected_purchases,
                clv_minor: (s.clv * minor_per_major).round() as i64,
                segment: segment_of(s.segment),
                horizon_weeks: fitted.horizon_weeks,
                model_version: fitted.model_version.clone(),
                scored_at: now,
                next_order_on: next.as_ref().and_then(|n| n.date(today)),
                p_order_in_horizon: next.map(|n| n.p_order_in_horizon),
            };
            Ok((id, scores))
        })
        .collect()
}

/// The overview of customers scored `(CLV in minor units, churn risk, net spend in
/// minor units)`: the CLV from which a customer is in the Pareto top and the median
/// (the CLV from which they are in the top half), the share of net spend the Pareto top
/// brought, and the report's points in major units.
fn overview_of(rows: &[(f64, f64, f64)], minor_per_major: f64) -> Overview {
    // Minor units are exact in an f64 far beyond any CLV; no CLV makes the cut-off
    // infinite, which saturates to `i64::MAX`: nobody is above it.
    let clv: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let spend: Vec<f64> = rows.iter().map(|r| r.2.max(0.0)).collect();
    let total: f64 = spend.iter().sum();
    Overview {
        scored: rows.len(),
        sample: None,
        population: Population {
            vip_clv_minor: metrics::top_share_cutoff(&clv, PARETO_SHARE) as i64,
            median_clv_minor: metrics::top_share_cutoff(&clv, 0.5) as i64,
        },
        pareto_share: (total > 0.0)
            .then(|| metrics::pareto(&clv, &spend, PARETO_SHARE).revenue_share),
        points: rows
            .iter()
            .map(|(clv, churn_risk, spent)| ScoredPoint {
                churn_risk: *churn_risk,
                clv: clv / minor_per_major,
                net_spend: spent / minor_per_major,
            })
            .collect(),
    }
}

/// The models' segment as the domain stores it.
fn segment_of(segment: rapport_models::Segment) -> Segment {
    use rapport_models::Segment as Model;
    match segment {
        Model::Vip => Segment::Vip,
        Model::New => Segment::New,
        Model::AtRisk => Segment::AtRisk,
        Model::Lost => Segment::Lost,
        Model::Active => Segment::Active,
    }
}

#[cfg(test)]
mod tests;
