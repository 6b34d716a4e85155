//! The model phase: backtest the candidate models on the churn window that just ended,
//! fit the churn classifier and the count model the backtest chose on the shop's own
//! history, score every customer, and derive what the rules and the report need from
//! the scores.
//!
//! Which model scores the shop, and why, is [`rapport_models::shop`]'s rule: the one
//! the backtest chooses when it rests on enough data and leads the default by
//! [`CHOICE_MARGIN`]; otherwise the default `bgnbd_churn`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rapport_models::{
    CountModelKind, CustomerHistory, Evaluation, NextOrderForecaster, PARETO_SHARE, ScoringModel,
    ShopFit, ShopParams, Transactions, metrics,
};
use rapport_shared::domain::outreach::Population;
use rapport_shared::domain::{CustomerId, CustomerScores, Segment};
use rapport_shared::store::ScannedCustomer;
use serde::{Deserialize, Serialize};

use super::RunSettings;
use super::buyers::{Buyer, BuyerSample};
use crate::summary::{FitSample, ScoredPoint};

pub use rapport_models::shop::CHOICE_MARGIN;

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
    let backtest = shop_params(settings).backtest(&shop, today);
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

/// The shop's horizon and churn window, from the job's settings.
fn shop_params(settings: &RunSettings) -> ShopParams {
    ShopParams {
        horizon_weeks: settings.job.horizon_weeks,
        churn_window_weeks: settings.job.churn_window_weeks,
        ..ShopParams::default()
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
    let fit = (shop_params(settings).fit(shop, backtest, today))
        .map_err(|e| format!("CLV models: {e}"))?;
    for fallback in &fit.fallbacks {
        tracing::warn!(%fallback, "a model fell back");
    }
    tracing::info!(model = %fit.kind, why = %fit.why, "fitted");
    let ShopFit {
        kind,
        why,
        fallbacks,
        scored,
        next_orders,
    } = fit;
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
