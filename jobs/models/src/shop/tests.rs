//! Unit tests of the shop's model choice and fit in `shop.rs`.

use super::*;
use crate::simulate::Simulation;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The day the simulated shops' histories end on.
const TODAY: &str = "2025-02-28";

/// A shop of `customers` from the models' own process, from 2023 up to [`TODAY`].
fn simulated_shop(customers: usize) -> Transactions {
    Simulation::example_shop(day(TODAY))
        .seed(3)
        .transactions(customers)
        .unwrap()
}

/// A shop from the models' own process, backtested over its last 13 weeks.
fn backtest(customers: usize) -> Evaluation {
    ShopParams::default()
        .backtest(&simulated_shop(customers), day(TODAY))
        .unwrap()
}

#[test]
fn the_backtest_covers_the_churn_window_that_just_ended() {
    let e = backtest(600);
    assert_eq!(e.calibration_end, day("2024-11-29"));
    assert_eq!(e.holdout_end, day(TODAY));
    let short = ShopParams {
        churn_window_weeks: 4.0,
        ..ShopParams::default()
    };
    let e = short.backtest(&simulated_shop(600), day(TODAY)).unwrap();
    assert_eq!(e.calibration_end, day("2025-01-31"));
    let empty = Transactions::new(Vec::new());
    let error = ShopParams::default()
        .backtest(&empty, day(TODAY))
        .unwrap_err();
    assert!(
        error.starts_with("backtest over the last 91 days: "),
        "{error}"
    );
}

#[test]
fn the_backtests_choice_scores_a_shop_with_enough_history() {
    let shop = backtest(600);
    assert!(shop.customers >= MIN_BACKTEST_CUSTOMERS);
    let default_gini = shop.clv_metrics.entries["bgnbd_churn"]
        .normalized_gini
        .unwrap();
    assert!(shop.clv_metrics.entries.contains_key("hybrid"));
    assert!(shop.clv_metrics.entries.contains_key("recent_rate"));
    for candidate in [
        "bgnbd",
        "pareto_nbd",
        "mbgnbd",
        "hybrid",
        "recent_rate",
        "bgnbd_churn",
    ] {
        // Each candidate a shop can be scored with in turn is chosen, with a clear lead
        // over the default.
        let mut e = shop.clone();
        e.clv_metrics.chosen_lead.clear();
        for (name, m) in e.clv_metrics.entries.iter_mut() {
            if *name != candidate && *name != "bgnbd_churn" {
                m.normalized_gini = Some(default_gini - CHOICE_MARGIN);
            }
        }
        e.clv_metrics.chosen = candidate;
        if let Some(m) = e.clv_metrics.entries.get_mut(candidate)
            && candidate != "bgnbd_churn"
        {
            m.normalized_gini = Some(default_gini + 2.0 * CHOICE_MARGIN);
        }
        let (kind, why) = choose_model(&Ok(e.clone()));
        assert_eq!(kind.as_str(), candidate);
        assert!(why.starts_with("chosen by the backtest"), "{why}");
    }
}

#[test]
fn a_backtest_choice_that_scores_no_shop_keeps_the_default() {
    // The backtest never chooses the value model; a stored backtest that names it, or
    // a baseline, gets the default.
    let mut e = backtest(600);
    for name in ["value_model", "last_period"] {
        e.clv_metrics.chosen = name;
        let (kind, why) = choose_model(&Ok(e.clone()));
        assert_eq!(kind, CountModelKind::BgnbdChurn);
        assert!(
            why.contains(&format!("chose {name}, which scores no shop")),
            "{why}"
        );
    }
}

#[test]
fn a_lead_within_the_margin_keeps_the_default() {
    let mut e = backtest(600);
    let default_gini = e.clv_metrics.entries["bgnbd_churn"]
        .normalized_gini
        .unwrap();
    e.clv_metrics.chosen = "pareto_nbd";
    if let Some(m) = e.clv_metrics.entries.get_mut("pareto_nbd") {
        m.normalized_gini = Some(default_gini + CHOICE_MARGIN / 2.0);
    }
    let (kind, why) = choose_model(&Ok(e.clone()));
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(
        why.contains("pareto_nbd ranked only 0.005 above it"),
        "{why}"
    );
    // The backtest's choice ranks below a default that was less accurate.
    if let Some(m) = e.clv_metrics.entries.get_mut("pareto_nbd") {
        m.normalized_gini = Some(default_gini - 0.002);
    }
    let (kind, why) = choose_model(&Ok(e));
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(
        why.contains("pareto_nbd ranked 0.002 below it in normalised Gini"),
        "{why}"
    );
}

#[test]
fn too_little_history_or_no_backtest_gets_the_default() {
    let mut e = backtest(60);
    e.clv_metrics.chosen = "mbgnbd";
    let (kind, why) = choose_model(&Ok(e));
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(why.contains("too few to choose by"), "{why}");
    let (kind, why) = choose_model(&Err("no history".into()));
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(why.contains("no history"), "{why}");
}

#[test]
fn a_hybrid_choice_is_fitted_on_the_shops_histories_and_scores_them() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let cohort = shop.cohort_at(today);
    let params = ShopParams::default();
    let scored = (params.fit_model(&shop, &cohort, CountModelKind::Hybrid, None)).unwrap();
    let CountModel::Hybrid(correction) = &scored.model.count else {
        panic!("{:?}", scored.model.count.kind());
    };
    // Trained on the backtest's split: a window of at most the churn window.
    assert!(
        correction.window_weeks <= 13.0,
        "{}",
        correction.window_weeks
    );
    assert_eq!(scored.scores.len(), cohort.summaries.len());
    assert_eq!(scored.model.score_cohort(&cohort).unwrap(), scored.scores);
    // The same settings without the correction: the same counts, another CLV.
    let plain = (params.fit_model(&shop, &cohort, CountModelKind::Bgnbd, None)).unwrap();
    let moved = (scored.scores.iter().zip(&plain.scores))
        .filter(|(h, p)| {
            assert_eq!(h.expected_purchases, p.expected_purchases);
            (h.clv - p.clv).abs() > 1e-9 * p.clv.max(1.0)
        })
        .count();
    assert!(moved > 0);
}

#[test]
fn a_recent_rate_choice_is_fitted_on_the_shops_histories_and_scores_them() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let cohort = shop.cohort_at(today);
    let params = ShopParams::default();
    let scored = (params.fit_model(&shop, &cohort, CountModelKind::RecentRate, None)).unwrap();
    let CountModel::RecentRate(memory) = &scored.model.count else {
        panic!("{:?}", scored.model.count.kind());
    };
    // Its memory chosen on the backtest's split: a window of at most the churn window.
    assert!(memory.window_weeks <= 13.0, "{}", memory.window_weeks);
    assert_eq!(scored.scores.len(), cohort.summaries.len());
    assert_eq!(scored.model.score_cohort(&cohort).unwrap(), scored.scores);
    // P(alive) is BG/NBD's; purchases are each customer's recent rate.
    let plain = (params.fit_model(&shop, &cohort, CountModelKind::Bgnbd, None)).unwrap();
    let rates = memory.rates(&cohort, &scored.model.bgnbd);
    for ((r, p), rate) in scored.scores.iter().zip(&plain.scores).zip(rates) {
        assert_eq!(r.p_alive, p.p_alive);
        assert!((r.expected_purchases - rate * params.horizon_weeks).abs() < 1e-9);
    }
}

#[test]
fn a_shop_is_fitted_with_the_backtests_choice_and_its_classifier() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let params = ShopParams::default();
    let backtest = params.backtest(&shop, today);
    let fit = params.fit(&shop, &backtest, today).unwrap();
    let (kind, why) = choose_model(&backtest);
    assert_eq!((fit.kind, &fit.why), (kind, &why));
    assert_eq!(fit.scored.model.count.kind(), kind);
    assert!(
        matches!(
            fit.scored.model.churn,
            crate::score::ChurnScorer::Classifier(_)
        ),
        "the classifier scores churn"
    );
    assert!(fit.fallbacks.is_empty(), "{:?}", fit.fallbacks);
    assert_eq!(fit.scored.scores.len(), shop.cohort_at(today).members.len());
    assert_eq!(
        fit.next_orders.method,
        backtest.as_ref().unwrap().next_order.chosen
    );

    // A chosen model that cannot be fitted gives way to the default, with the reason:
    // a shop of five customers is too small to train the hybrid's correction (and the
    // classifier), not to be scored.
    let tiny = Transactions::new(
        (0..5)
            .map(|i| {
                let first = day("2024-06-01") + chrono::Duration::days(7 * i);
                let days = [(first, 20.0), (first + chrono::Duration::days(40), 35.0)];
                crate::history::CustomerHistory::new(format!("c{i}"), days).unwrap()
            })
            .collect(),
    );
    let mut chose_hybrid = backtest.clone().unwrap();
    chose_hybrid.clv_metrics.chosen = "hybrid";
    if let Some(m) = chose_hybrid.clv_metrics.entries.get_mut("hybrid") {
        m.normalized_gini = Some(1.0);
    }
    let fit = params.fit(&tiny, &Ok(chose_hybrid), today).unwrap();
    assert_eq!(fit.kind, CountModelKind::BgnbdChurn);
    assert!(
        fit.why
            .starts_with("default: hybrid was chosen but could not be fitted"),
        "{}",
        fit.why
    );
    assert!(
        fit.fallbacks
            .iter()
            .any(|f| f.starts_with("churn classifier not trained")),
        "{:?}",
        fit.fallbacks
    );
}

#[test]
fn a_lead_within_twice_its_standard_error_keeps_the_default() {
    use crate::metrics::Lead;
    let mut e = backtest(600);
    let default_gini = e.clv_metrics.entries["bgnbd_churn"]
        .normalized_gini
        .unwrap();
    e.clv_metrics.chosen = "mbgnbd";
    let lead = 2.0 * CHOICE_MARGIN;
    if let Some(m) = e.clv_metrics.entries.get_mut("mbgnbd") {
        m.normalized_gini = Some(default_gini + lead);
    }
    let with_se = |se: f64| {
        let mut e = e.clone();
        let measured = Lead {
            gini: lead,
            gini_se: se,
            top20: 0.0,
            top20_se: 0.0,
        };
        e.clv_metrics.chosen_lead = [("bgnbd_churn", measured)].into();
        choose_model(&Ok(e))
    };
    let (kind, why) = with_se(0.015);
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(
        why.contains(
            "mbgnbd ranked 0.020 ± 0.015 above it in normalised Gini, less than 2 standard errors"
        ),
        "{why}"
    );
    let (kind, why) = with_se(0.005);
    assert_eq!(kind, CountModelKind::Mbgnbd);
    assert!(why.starts_with("chosen by the backtest"), "{why}");
    assert!(why.contains("(+0.020 ± 0.005 over bgnbd_churn)"), "{why}");
    // A backtest stored before the leads were measured: the margin alone.
    e.clv_metrics.chosen_lead.clear();
    assert_eq!(choose_model(&Ok(e)).0, CountModelKind::Mbgnbd);
}

#[test]
fn a_classifier_that_ranked_the_backtest_worse_than_bgnbd_is_set_aside() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let params = ShopParams::default();
    let backtest = params.backtest(&shop, today).unwrap();
    let (classifier, bgnbd) = (
        backtest.holdout.churn_auc.unwrap(),
        backtest.holdout.bgnbd_only.churn_auc.unwrap(),
    );
    // The simulated shop's classifier ranks about as well as BG/NBD: it is used.
    assert!(
        classifier >= bgnbd - CHURN_AUC_MARGIN,
        "{classifier} {bgnbd}"
    );
    assert_eq!(classifier_set_aside(&Ok(backtest.clone())), None);

    // Ranking the backtest's churners at chance, it is set aside, with the figures.
    let mut at_chance = backtest.clone();
    at_chance.holdout.churn_auc = Some(bgnbd - CHURN_AUC_MARGIN - 0.001);
    let reason = classifier_set_aside(&Ok(at_chance.clone())).unwrap();
    assert!(
        reason.starts_with("churn classifier set aside")
            && reason.contains(&format!("{bgnbd:.3}"))
            && reason.contains(&format!("over {} customers", backtest.customers)),
        "{reason}"
    );
    let fit = params.fit(&shop, &Ok(at_chance.clone()), today).unwrap();
    assert!(
        matches!(
            fit.scored.model.churn,
            crate::score::ChurnScorer::NoPurchaseProbability { .. }
        ),
        "BG/NBD's probability scores churn"
    );
    assert_eq!(fit.fallbacks, [reason]);
    // Churn risk is then BG/NBD's probability of no purchase in the window.
    let cohort = shop.cohort_at(today);
    let model = &fit.scored.model;
    for (s, score) in cohort.summaries.iter().zip(&fit.scored.scores).step_by(41) {
        let risk = model.bgnbd.prob_no_purchase(s, model.churn.window_weeks());
        assert!((score.churn_risk - risk).abs() < 1e-12);
    }

    // Not on a backtest too small to choose by, nor one without a classifier, nor
    // without a backtest.
    let mut small = at_chance.clone();
    small.customers = MIN_BACKTEST_CUSTOMERS - 1;
    assert_eq!(classifier_set_aside(&Ok(small)), None);
    let mut untrained = at_chance;
    untrained.churn = None;
    assert_eq!(classifier_set_aside(&Ok(untrained)), None);
    assert_eq!(classifier_set_aside(&Err("no history".into())), None);
}
