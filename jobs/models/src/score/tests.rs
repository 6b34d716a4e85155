//! Unit tests of scoring in `score.rs`.

use super::*;
use crate::bgnbd::BgNbdCoefficients;
use crate::bgnbd::BgNbdParams;
use crate::metrics::{PARETO_SHARE, top_share_cutoff};
use crate::simulate::Simulation;
use chrono::NaiveDate;
use linfa::ParamGuard;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn summaries() -> Vec<RfmSummary> {
    let truth = BgNbdCoefficients {
        r: 0.4,
        alpha: 6.0,
        a: 0.8,
        b: 2.5,
    };
    let shop = Simulation::new(truth, date("2023-01-01"), date("2024-06-30"))
        .seed(11)
        .transactions(3000)
        .unwrap();
    shop.cohort_at(date("2024-06-30")).summaries
}

#[test]
fn settings_are_checked() {
    assert!(ScoreParams::default().check().is_ok());
    assert!(ScoreParams::default().horizon_weeks(0.0).check().is_err());
    assert!(
        ScoreParams::default()
            .monthly_discount_rate(-0.1)
            .check()
            .is_err()
    );
    assert!(ScoreParams::default().vip_share(1.5).check().is_err());
    assert!(ScoreParams::default().lost_churn(f64::NAN).check().is_err());
    assert!(
        ScoreParams::default()
            .churn_window_weeks(-1.0)
            .check()
            .is_err()
    );
    assert!(
        ScoreParams::default()
            .bgnbd(BgNbdParams::default().max_iterations(0))
            .check()
            .is_err()
    );
}

#[test]
fn scores_are_consistent_and_vip_is_the_top_fifth() {
    let summaries = summaries();
    let Scored { model, scores } = ScoreParams::default().fit(&summaries, None).unwrap();
    for (s, score) in summaries.iter().zip(&scores) {
        assert!((0.0..=1.0).contains(&score.p_alive) && (0.0..=1.0).contains(&score.churn_risk));
        let direct = model.bgnbd.expected_purchases(s, 52.0).unwrap();
        assert!((score.expected_purchases - direct).abs() < 1e-12);
        assert!((score.clv - score.expected_purchases * score.expected_spend).abs() < 1e-9);
        let risk = model.bgnbd.prob_no_purchase(s, model.churn.window_weeks());
        assert!((score.churn_risk - risk).abs() < 1e-12);
    }
    let vip = scores.iter().filter(|s| s.segment == Segment::Vip).count();
    let top = (summaries.len() as f64 * 0.2).ceil() as usize;
    assert!(
        vip >= top && vip <= top + top / 50,
        "{vip} vip of {}",
        summaries.len()
    );
    for segment in [Segment::Lost, Segment::Active] {
        assert!(scores.iter().any(|s| s.segment == segment), "no {segment}");
    }
}

#[test]
fn discounting_lowers_clv_and_a_stored_model_scores_alike() {
    let summaries = summaries();
    let plain = ScoreParams::default().fit(&summaries, None).unwrap();
    let discounted = ScoreParams::default()
        .monthly_discount_rate(0.01)
        .fit(&summaries, None)
        .unwrap();
    for (p, d) in plain.scores.iter().zip(&discounted.scores) {
        assert!(d.clv <= p.clv && (d.clv >= p.clv / 1.01f64.powi(12) - 1e-12));
    }
    let json = serde_json::to_string(&discounted.model).unwrap();
    let stored: ScoringModel = serde_json::from_str(&json).unwrap();
    assert_eq!(stored, discounted.model);
    assert_eq!(stored.score(&summaries).unwrap(), discounted.scores);
}

#[test]
fn each_count_model_forecasts_with_its_own_fit() {
    let summaries = summaries();
    for kind in CountModelKind::ALL {
        let fitted = ScoreParams::default()
            .count_model(kind)
            .fit(&summaries, None);
        if kind.needs_histories() {
            // Summaries alone cannot train or apply the correction.
            let error = fitted.unwrap_err().to_string();
            assert!(error.contains("fit_cohort"), "{error}");
            continue;
        }
        let Scored { model, scores } = fitted.unwrap();
        assert_eq!(model.count.kind(), kind);
        assert_eq!(CountModelKind::from_name(kind.as_str()), Some(kind));
        for (s, score) in summaries.iter().zip(&scores).step_by(37) {
            let (p_alive, direct) = match &model.count {
                CountModel::Bgnbd | CountModel::BgnbdChurn => (
                    model.bgnbd.p_alive(s),
                    model.bgnbd.expected_purchases(s, 52.0).unwrap(),
                ),
                CountModel::ParetoNbd(m) => (m.p_alive(s), m.expected_purchases(s, 52.0)),
                CountModel::Mbgnbd(m) => (m.p_alive(s), m.expected_purchases(s, 52.0).unwrap()),
                CountModel::Hybrid(_) | CountModel::RecentRate(_) => {
                    unreachable!("fitted from histories")
                }
            };
            assert!((score.p_alive - p_alive).abs() < 1e-12, "{kind}");
            assert!((score.expected_purchases - direct).abs() < 1e-9, "{kind}");
            // Churn risk is BG/NBD's whichever model counts the purchases.
            let risk = model.bgnbd.prob_no_purchase(s, model.churn.window_weeks());
            assert!((score.churn_risk - risk).abs() < 1e-12, "{kind}");
        }
        let json = serde_json::to_string(&model).unwrap();
        let stored: ScoringModel = serde_json::from_str(&json).unwrap();
        assert_eq!(stored.score(&summaries).unwrap(), scores);
    }
    assert_eq!(CountModelKind::from_name("last_period"), None);
}

#[test]
fn a_model_stored_before_the_choice_scores_with_bgnbd() {
    let summaries = summaries();
    let scored = ScoreParams::default().fit(&summaries, None).unwrap();
    let mut json = serde_json::to_value(&scored.model).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("count");
    object["settings"]
        .as_object_mut()
        .unwrap()
        .remove("count_model");
    let stored: ScoringModel = serde_json::from_value(json).unwrap();
    assert_eq!(stored, scored.model);
}

#[test]
fn segment_rule_follows_its_order() {
    let Scored { mut model, .. } = ScoreParams::default().fit(&summaries(), None).unwrap();
    model.cutoffs = SegmentCutoffs {
        vip_clv: 100.0,
        valuable_clv: 50.0,
    };
    let old = RfmSummary::new(2.0, 10.0, 30.0, 20.0);
    let young = RfmSummary::new(0.0, 0.0, 1.0, 0.0);
    assert_eq!(model.segment(&young, 0.95, 150.0), Segment::Vip);
    assert_eq!(model.segment(&young, 0.95, 60.0), Segment::New);
    assert_eq!(model.segment(&old, 0.95, 60.0), Segment::AtRisk);
    assert_eq!(model.segment(&old, 0.95, 10.0), Segment::Lost);
    assert_eq!(model.segment(&old, 0.6, 10.0), Segment::Active);
    assert_eq!(model.segment(&old, 0.1, 60.0), Segment::Active);
}

#[test]
fn next_orders_use_the_models_coefficients_and_horizon() {
    use crate::next_order::{NextOrderBasis, NextOrderForecaster, NextOrderMethod};
    let summaries = summaries();
    let scored = ScoreParams::default()
        .horizon_weeks(26.0)
        .fit(&summaries, None)
        .unwrap();
    let (i, s) = summaries
        .iter()
        .enumerate()
        .find(|(_, s)| s.frequency >= 2.0)
        .unwrap();
    let order = scored
        .model
        .next_order(s, &[], NextOrderMethod::Model, None)
        .unwrap();
    let expected = NextOrderForecaster::new(scored.model.bgnbd.parameters, NextOrderMethod::Model)
        .horizon_weeks(26.0)
        .forecast(s, &[])
        .unwrap();
    assert_eq!(order, expected);
    assert!((1.0..=26.0 * 7.0).contains(&order.days), "{order:?}");
    assert_eq!(order.p_alive, scored.scores[i].p_alive);
    // Under own_gaps a repeat buyer's own median gap decides.
    let gap = s.recency / s.frequency;
    let gaps = vec![gap; s.frequency as usize];
    let own = scored
        .model
        .next_order(s, &gaps, NextOrderMethod::OwnGaps, Some(1.0))
        .unwrap();
    assert_eq!(own.basis, NextOrderBasis::OwnGaps);
    assert_eq!(own.days, ((s.recency + gap - s.age) * 7.0).round().max(1.0));
}

/// The day [`two_year_shop`]'s histories end on.
const TODAY: &str = "2024-12-31";

/// 1,500 customers from BG/NBD's process over 2023 and 2024.
fn two_year_shop(seed: u64) -> crate::history::Transactions {
    let truth = BgNbdCoefficients {
        r: 0.5,
        alpha: 8.0,
        a: 0.7,
        b: 2.5,
    };
    Simulation::new(truth, date("2023-01-01"), date(TODAY))
        .seed(seed)
        .transactions(1500)
        .unwrap()
}

#[test]
fn hybrid_scores_its_own_forecast_with_bgnbds_counts_and_needs_histories() {
    use crate::hybrid::{CountModels, Hybrid};
    let (shop, today) = (two_year_shop(5), date(TODAY));
    let cohort = shop.cohort_at(today);
    let correction = Hybrid::params()
        .max_window_weeks(13.0)
        .fit(&shop, today)
        .unwrap();
    let params = ScoreParams::default().horizon_weeks(26.0);
    let plain = params
        .clone()
        .count_model(CountModelKind::Bgnbd)
        .fit_cohort(&cohort, None, None)
        .unwrap();
    let hybrid = params
        .clone()
        .count_model(CountModelKind::Hybrid)
        .fit_cohort(&cohort, None, Some(correction.clone().into()))
        .unwrap();
    assert_eq!(hybrid.model.count.kind(), CountModelKind::Hybrid);
    // CLV is the hybrid's own forecast over the horizon; counts, P(alive) and churn
    // risk are BG/NBD's.
    let models = CountModels {
        bgnbd: &hybrid.model.bgnbd,
        gamma_gamma: &hybrid.model.gamma_gamma,
    };
    let forecast = correction.expected_spend(&cohort, models, 26.0).unwrap();
    let mut changed = 0;
    for ((h, p), f) in hybrid.scores.iter().zip(&plain.scores).zip(&forecast) {
        assert!((h.clv - f).abs() <= 1e-9 * f.abs().max(1.0), "{h:?} {f}");
        assert_eq!(
            (h.p_alive, h.expected_purchases, h.churn_risk),
            (p.p_alive, p.expected_purchases, p.churn_risk)
        );
        changed += usize::from((h.clv - p.clv).abs() > 1e-9 * p.clv.max(1.0));
    }
    assert!(changed > cohort.summaries.len() / 2, "{changed}");
    // The segments' cut-offs are the corrected CLV's.
    let clv: Vec<f64> = hybrid.scores.iter().map(|s| s.clv).collect();
    assert_eq!(
        hybrid.model.cutoffs.vip_clv,
        top_share_cutoff(&clv, PARETO_SHARE)
    );
    // Stored and read back, it scores the cohort alike; from summaries alone it refuses.
    let json = serde_json::to_string(&hybrid.model).unwrap();
    let stored: ScoringModel = serde_json::from_str(&json).unwrap();
    assert_eq!(stored, hybrid.model);
    assert_eq!(stored.score_cohort(&cohort).unwrap(), hybrid.scores);
    let error = stored.score(&cohort.summaries).unwrap_err().to_string();
    assert!(error.contains("score_cohort"), "{error}");
    // Asked for without a trained correction, the fit says so.
    let error = params
        .count_model(CountModelKind::Hybrid)
        .fit_cohort(&cohort, None, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("hybrid and recent_rate"), "{error}");
}

#[test]
fn recent_rate_scores_each_customers_recent_rate_with_bgnbds_p_alive() {
    use crate::hybrid::Hybrid;
    use crate::recent_rate::RecentRate;
    let (shop, today) = (two_year_shop(7), date(TODAY));
    let cohort = shop.cohort_at(today);
    let memory = RecentRate::params()
        .max_window_weeks(13.0)
        .fit(&shop, today)
        .unwrap();
    let rate = 0.01;
    let params = ScoreParams::default()
        .horizon_weeks(26.0)
        .monthly_discount_rate(rate);
    let plain = params
        .clone()
        .count_model(CountModelKind::Bgnbd)
        .fit_cohort(&cohort, None, None)
        .unwrap();
    let recent = params
        .clone()
        .count_model(CountModelKind::RecentRate)
        .fit_cohort(&cohort, None, Some(memory.clone().into()))
        .unwrap();
    assert_eq!(recent.model.count.kind(), CountModelKind::RecentRate);
    // Purchases are the rate over the horizon; CLV the rate over each month, discounted
    // (six whole months and a last partial one), times Gamma-Gamma's spend; P(alive) and
    // churn risk are BG/NBD's.
    let rates = memory.rates(&cohort, &recent.model.bgnbd);
    let month = 52.0 / 12.0;
    let discounted_weeks: f64 = (1..=7)
        .map(|k| {
            let length = (f64::from(k) * month).min(26.0) - f64::from(k - 1) * month;
            length / (1.0 + rate).powi(k)
        })
        .sum();
    for ((r, p), (s, weekly)) in recent
        .scores
        .iter()
        .zip(&plain.scores)
        .zip(cohort.summaries.iter().zip(&rates))
    {
        assert!((r.expected_purchases - weekly * 26.0).abs() < 1e-9, "{r:?}");
        let clv = weekly * discounted_weeks * recent.model.gamma_gamma.expected_spend(s);
        assert!((r.clv - clv).abs() <= 1e-9 * clv.max(1.0), "{r:?} {clv}");
        assert_eq!((r.p_alive, r.churn_risk), (p.p_alive, p.churn_risk));
    }
    // Stored and read back, it scores the cohort alike; from summaries alone, without
    // its memory, or with the hybrid's correction instead, it refuses.
    let json = serde_json::to_string(&recent.model).unwrap();
    let stored: ScoringModel = serde_json::from_str(&json).unwrap();
    assert_eq!(stored, recent.model);
    assert_eq!(stored.score_cohort(&cohort).unwrap(), recent.scores);
    let error = stored.score(&cohort.summaries).unwrap_err().to_string();
    assert!(error.contains("score_cohort"), "{error}");
    let correction = Hybrid::params()
        .max_window_weeks(13.0)
        .fit(&shop, today)
        .unwrap();
    for trained in [None, Some(correction.into())] {
        let error = (params.clone().count_model(CountModelKind::RecentRate))
            .fit_cohort(&cohort, None, trained)
            .unwrap_err()
            .to_string();
        assert!(error.contains("hybrid and recent_rate"), "{error}");
    }
}

#[test]
fn the_classifiers_forecast_is_bgnbds_given_its_no_purchase_probability() {
    use crate::churn::ChurnModel;
    let (shop, today) = (two_year_shop(9), date(TODAY));
    let cohort = shop.cohort_at(today);
    let churn = ChurnModel::params()
        .max_window_weeks(13.0)
        .fit(&shop, today)
        .unwrap();
    for horizon in [52.0, 8.0] {
        // Per distinct (x, T) in the scorer, per customer here.
        let scored = ScoreParams::default()
            .horizon_weeks(horizon)
            .fit(&cohort.summaries, Some(churn.clone()))
            .unwrap();
        let window = scored.model.churn.window_weeks();
        assert_eq!(window, churn.window_weeks);
        for (s, score) in cohort.summaries.iter().zip(&scored.scores) {
            let expected = scored
                .model
                .bgnbd
                .expected_purchases_given_no_purchase(s, horizon, window, score.churn_risk)
                .unwrap();
            assert!(
                (score.expected_purchases - expected).abs() <= 1e-12 * expected.max(1.0),
                "{s:?}: {} against {expected}",
                score.expected_purchases
            );
        }
    }
}
