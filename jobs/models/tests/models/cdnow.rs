//! Acceptance on the CDNOW data: the published BG/NBD and Gamma-Gamma fits, and the
//! backtest figures this crate reaches, on the 1/10 sample and on the full file.

use chrono::NaiveDate;
use rapport_models::evaluate::ClvComparison;
use rapport_models::io::{TransactionFormat, read_transactions};
use rapport_models::metrics::ClvMetrics;
use rapport_models::{
    CountModelKind, Evaluation, Hybrid, MbgNbd, ParetoNbd, RfmSummary, ScoreParams, evaluate,
};

use crate::support;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn evaluation(file: &str) -> Evaluation {
    let transactions =
        read_transactions(&support::lifetimes_dataset(file), TransactionFormat::Cdnow).unwrap();
    evaluate(&transactions, date("1997-09-30"), date("1998-06-30")).unwrap()
}

fn assert_within(name: &str, actual: f64, expected: f64, relative: f64) {
    assert!(
        (actual - expected).abs() <= relative * expected.abs(),
        "{name} = {actual}, expected {expected} within {:.2} %",
        relative * 100.0
    );
}

/// Thresholds of the backtest figures; each sits a little below what the models reach.
struct Reached {
    churn_auc: f64,
    purchases_within: f64,
    top_fifth_revenue: f64,
}

fn assert_backtest(e: &Evaluation, reached: Reached) {
    let h = &e.holdout;
    let auc = h.churn_auc.unwrap();
    assert!(auc >= reached.churn_auc, "churn AUC {auc}");
    // The classifier must add to what BG/NBD alone ranks.
    assert!(auc > h.bgnbd_only.churn_auc.unwrap(), "{h:?}");
    let actual = h.actual_repeat_purchases as f64;
    let error = (h.predicted_repeat_purchases - actual) / actual;
    assert!(
        error.abs() <= reached.purchases_within,
        "predicted {} vs {actual}",
        h.predicted_repeat_purchases
    );
    assert!(
        e.pareto.revenue_share >= reached.top_fifth_revenue,
        "{:?}",
        e.pareto
    );
    assert!((e.pareto.top_share_customers - 0.2).abs() < 0.001);
    assert_eq!(e.segments.values().sum::<usize>(), e.customers);
}

/// A trained candidate's holdout forecast (the spend regression, the count models'
/// correction): trained (no fallback), every measure finite, the total within
/// `total_within` (a fraction), a ranking better than nobody's, and `chosen` the
/// best-ranked of the candidates at least as accurate as the best count model.
/// `recent_rate` is compared, with its memory chosen on the split inside the calibration
/// period; with no dropout process it forecasts a cohort that lapses as CDNOW's does
/// well above what it spends (total error in `over`), so it is less accurate than the
/// count models and not chosen.
fn assert_recent_rate_forecasts_the_lapsing_cohort_high(
    e: &Evaluation,
    over: std::ops::Range<f64>,
) {
    assert_trained_candidate(e, "recent_rate", over.end);
    let recent = e.recent_rate.as_ref().unwrap();
    assert_eq!(recent.training_cutoff, date("1997-05-17"));
    assert!(rapport_models::recent_rate::MEMORIES.contains(&recent.memory_weeks));
    let m = e.clv_metrics.entries["recent_rate"];
    let total = m.total_error_pct.unwrap() / 100.0;
    assert!(over.contains(&total), "total {total:+.3}");
    let best_count_model = ["bgnbd", "bgnbd_churn", "pareto_nbd", "mbgnbd"]
        .map(|name| e.clv_metrics.entries[name].rmse)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    assert!(m.rmse > best_count_model, "{m:?}");
    assert_ne!(e.clv_metrics.chosen, "recent_rate");
}

fn assert_trained_candidate(e: &Evaluation, name: &str, total_within: f64) {
    let m = e
        .clv_metrics
        .entries
        .get(name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", e.fallbacks));
    let measures = [
        m.total_error_pct,
        m.normalized_gini,
        m.spearman,
        m.top_decile_capture,
        m.top20_capture,
        m.decile_mape,
    ];
    assert!(
        m.rmse.is_finite()
            && m.mae.is_finite()
            && measures.iter().all(|v| v.is_some_and(f64::is_finite)),
        "{m:?}"
    );
    let total = m.total_error_pct.unwrap();
    assert!(
        total.abs() <= 100.0 * total_within,
        "total spend {total:+.1} %"
    );
    let gini = m.normalized_gini.unwrap();
    let zero = e.clv_metrics.entries["zero_forecast"]
        .normalized_gini
        .unwrap();
    assert!(gini > zero, "normalised Gini {gini} against {zero}");
    let report = e.value_model.as_ref().unwrap();
    assert!(
        report.training_customers > 0 && report.sigma > 0.0,
        "{report:?}"
    );
    let hybrid = e.hybrid.as_ref().unwrap();
    assert!(
        hybrid.training_customers > 0 && hybrid.level > 0.0,
        "{hybrid:?}"
    );
    let floor = ClvComparison::COUNT_MODELS
        .iter()
        .filter_map(|c| Some(e.clv_metrics.entries.get(c)?.rmse))
        .fold(f64::INFINITY, f64::min);
    let best = ClvComparison::CANDIDATES
        .iter()
        .filter_map(|c| e.clv_metrics.entries.get(c))
        .filter(|m| m.rmse <= floor)
        .filter_map(|m| m.normalized_gini)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = e.clv_metrics.entries[e.clv_metrics.chosen].normalized_gini;
    assert_eq!(chosen, Some(best));
    println!(
        "{} customers: {name} RMSE {:.2}, MAE {:.2}, total {total:+.1} %, normalised Gini \
         {gini:.3} (zero forecast {zero:.3}), top 20 % {:.3}; chosen {}",
        e.customers,
        m.rmse,
        m.mae,
        m.top20_capture.unwrap(),
        e.clv_metrics.chosen
    );
}

/// The next-order dates: measured on the customers who bought in the holdout (`customers`
/// of them, `one_time` with a single purchase day), every error finite, the shop's median
/// gap 27 days, `chosen` the method with the lower MAE; the model, at most `model_mae`
/// days off on average, ahead of both gap baselines and of the single date chosen in
/// hindsight. Prints the figures.
fn assert_next_order(e: &Evaluation, customers: usize, one_time: usize, model_mae: f64) {
    let n = &e.next_order;
    assert_eq!((n.customers, n.one_time_buyers), (customers, one_time));
    assert_eq!(n.shop_gap_days, Some(27.0));
    assert_eq!(n.horizon_weeks, 39.0);
    let mae = |name: &str| n.entries[name].mae_days.unwrap();
    for name in [
        "model",
        "own_gaps",
        "last_gap",
        "mean_gap",
        "model_unbounded",
        "hindsight_median",
    ] {
        let m = &n.entries[name];
        let measures = [
            m.mae_days,
            m.median_absolute_error_days,
            m.mean_error_days,
            m.repeat_buyers_mae_days,
            m.one_time_buyers_mae_days,
        ];
        assert!(
            measures.iter().all(|v| v.is_some_and(f64::is_finite)),
            "{name}: {m:?}"
        );
        println!(
            "{} customers, {customers} back in the holdout: {name:<16} MAE {:7.1} days, median \
             {:6.1}, mean error {:+7.1}, repeat buyers {:6.1}, one-time buyers {:7.1}, \
             Spearman {}",
            e.customers,
            mae(name),
            m.median_absolute_error_days.unwrap(),
            m.mean_error_days.unwrap(),
            m.repeat_buyers_mae_days.unwrap(),
            m.one_time_buyers_mae_days.unwrap(),
            m.spearman
                .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
        );
    }
    let chosen = n.chosen.as_str();
    assert!(mae(chosen) <= mae("model").min(mae("own_gaps")), "{chosen}");
    assert!(mae("model") <= model_mae, "model MAE {}", mae("model"));
    for baseline in ["last_gap", "mean_gap", "hindsight_median"] {
        assert!(mae("model") < mae(baseline), "model against {baseline}");
    }
    assert_eq!(chosen, "model");
}

#[test]
fn sample_next_order_dates_are_backtested() {
    assert_next_order(&evaluation("CDNOW_sample.txt"), 684, 193, 58.0);
}

/// lifetimes 0.11.3's CLV forecasts on the same data and split, measured by
/// `scripts/lifetimes_baselines.py` (BG/NBD, Pareto/NBD and MBG/NBD, each × Gamma-Gamma):
/// the best normalised Gini and top-20 % capture among them, and their lowest RMSE.
struct LifetimesBest {
    gini: f64,
    top20: f64,
    rmse: f64,
}

const SAMPLE_LIFETIMES: LifetimesBest = LifetimesBest {
    gini: 0.659298,
    top20: 0.671851,
    rmse: 71.946221,
};

const MASTER_LIFETIMES: LifetimesBest = LifetimesBest {
    gini: 0.684384,
    top20: 0.684219,
    rmse: 92.867872,
};

/// The bar for the chosen forecast: ranks above lifetimes' best and `last_period` (in
/// normalised Gini and top-20 % capture), a lower RMSE than all of them, and the total
/// within 10 %. Prints the comparison.
fn assert_chosen_beats_lifetimes(e: &Evaluation, lifetimes: &LifetimesBest) {
    let chosen = &e.clv_metrics.entries[e.clv_metrics.chosen];
    let last = &e.clv_metrics.entries["last_period"];
    let (gini, top20) = (
        chosen.normalized_gini.unwrap(),
        chosen.top20_capture.unwrap(),
    );
    let total = chosen.total_error_pct.unwrap();
    println!(
        "{} customers: chosen {} RMSE {:.2} (lifetimes' best {:.2}), Gini {gini:.3} \
         (lifetimes {:.3}, last period {:.3}), top 20 % {top20:.3} (lifetimes {:.3}, last \
         period {:.3}), total {total:+.1} %",
        e.customers,
        e.clv_metrics.chosen,
        chosen.rmse,
        lifetimes.rmse,
        lifetimes.gini,
        last.normalized_gini.unwrap(),
        lifetimes.top20,
        last.top20_capture.unwrap()
    );
    assert!(gini > lifetimes.gini.max(last.normalized_gini.unwrap()));
    assert!(top20 > lifetimes.top20.max(last.top20_capture.unwrap()));
    support::assert_chosen_leads(e);
    assert!(chosen.rmse < lifetimes.rmse.min(last.rmse));
    assert!(total.abs() <= 10.0);
}

#[test]
fn sample_trained_candidates_forecast_the_holdout_spend() {
    let e = evaluation("CDNOW_sample.txt");
    assert_trained_candidate(&e, "value_model", 0.30);
    assert_trained_candidate(&e, "hybrid", 0.30);
    assert_recent_rate_forecasts_the_lapsing_cohort_high(&e, 0.50..0.70);
    assert_chosen_beats_lifetimes(&e, &SAMPLE_LIFETIMES);
}

/// The backtest chooses the hybrid on the sample, and scoring with it forecasts what the
/// backtest measured: its CLV over the
/// holdout, from a model fitted at the calibration end, has the backtest's `hybrid`
/// figures.
#[test]
fn sample_scored_with_the_hybrid_forecasts_what_the_backtest_measured() {
    let (calibration_end, holdout_end) = (date("1997-09-30"), date("1998-06-30"));
    let transactions = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let e = evaluate(&transactions, calibration_end, holdout_end).unwrap();
    assert_eq!(e.clv_metrics.chosen, "hybrid");

    let correction = Hybrid::params()
        .max_window_weeks(e.holdout_weeks)
        .fit(&transactions, calibration_end)
        .unwrap();
    let cohort = transactions.cohort_at(calibration_end);
    let scored = ScoreParams::default()
        .horizon_weeks(e.holdout_weeks)
        .count_model(CountModelKind::Hybrid)
        .fit_cohort(&cohort, None, Some(correction.into()))
        .unwrap();
    let clv: Vec<f64> = scored.scores.iter().map(|s| s.clv).collect();
    let actual: Vec<f64> = (cohort.activity_until(holdout_end).iter())
        .map(|a| a.spend)
        .collect();
    let scoring = ClvMetrics::of(&clv, &actual);
    let backtest = &e.clv_metrics.entries["hybrid"];
    assert_within("RMSE", scoring.rmse, backtest.rmse, 1e-9);
    assert_within(
        "normalised Gini",
        scoring.normalized_gini.unwrap(),
        backtest.normalized_gini.unwrap(),
        1e-9,
    );
    assert_within(
        "total error",
        scoring.total_error_pct.unwrap(),
        backtest.total_error_pct.unwrap(),
        1e-9,
    );
}

#[test]
fn sample_reproduces_the_published_fits() {
    let e = evaluation("CDNOW_sample.txt");
    assert_eq!(e.customers, 2357);
    // Fader, Hardie & Lee (2005) and lifetimes' documented fit.
    assert_within("r", e.bgnbd.r, 0.24259, 0.001);
    assert_within("alpha", e.bgnbd.alpha, 4.41360, 0.001);
    assert_within("a", e.bgnbd.a, 0.79292, 0.001);
    assert_within("b", e.bgnbd.b, 2.42591, 0.001);
    assert!(
        (e.bgnbd.log_likelihood + 9582.43).abs() <= 0.05,
        "log-likelihood {}",
        e.bgnbd.log_likelihood
    );
    // Fader & Hardie (2013) and lifetimes' documented fit.
    assert_eq!(e.gamma_gamma.customers, 946);
    assert_within("p", e.gamma_gamma.p, 6.2496, 0.002);
    assert_within("q", e.gamma_gamma.q, 3.7442, 0.002);
    assert_within("gamma", e.gamma_gamma.gamma, 15.4435, 0.002);
    assert_eq!(e.holdout.actual_repeat_purchases, 1882);
}

#[test]
fn sample_backtest_beats_the_reference_goals() {
    let e = evaluation("CDNOW_sample.txt");
    // Goals: churn AUC above 0.779, total repeat purchases within 10 %.
    assert_backtest(
        &e,
        Reached {
            churn_auc: 0.779,
            purchases_within: 0.04,
            top_fifth_revenue: 0.64,
        },
    );
    // BG/NBD alone under-predicts the holdout by 12 %, as lifetimes does.
    assert_within(
        "BG/NBD-only total",
        e.holdout.bgnbd_only.predicted_repeat_purchases,
        1653.41,
        0.001,
    );
}

#[test]
fn master_matches_lifetimes_and_holds_the_backtest() {
    let e = evaluation("CDNOW_master.txt");
    assert_eq!(e.customers, 23570);
    // lifetimes 0.11.3 on the same day-bucketed data and split.
    assert_within("r", e.bgnbd.r, 0.251624, 0.001);
    assert_within("alpha", e.bgnbd.alpha, 4.788945, 0.001);
    assert_within("a", e.bgnbd.a, 0.723433, 0.001);
    assert_within("b", e.bgnbd.b, 2.161087, 0.001);
    assert!(
        (e.bgnbd.log_likelihood + 95368.44).abs() <= 0.05,
        "log-likelihood {}",
        e.bgnbd.log_likelihood
    );
    assert_eq!(e.gamma_gamma.customers, 9450);
    assert_within("p", e.gamma_gamma.p, 6.275359, 0.002);
    assert_within("q", e.gamma_gamma.q, 3.624450, 0.002);
    assert_within("gamma", e.gamma_gamma.gamma, 14.983689, 0.002);
    assert_eq!(e.holdout.actual_repeat_purchases, 19684);
    assert_backtest(
        &e,
        Reached {
            churn_auc: 0.768,
            purchases_within: 0.07,
            top_fifth_revenue: 0.67,
        },
    );
    assert_trained_candidate(&e, "value_model", 0.30);
    assert_trained_candidate(&e, "hybrid", 0.30);
    assert_recent_rate_forecasts_the_lapsing_cohort_high(&e, 0.40..0.60);
    assert_chosen_beats_lifetimes(&e, &MASTER_LIFETIMES);
    assert_next_order(&e, 7058, 2065, 59.0);
}

#[test]
fn sample_reproduces_lifetimes_pareto_nbd_fit() {
    let transactions = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let cohort = transactions.cohort_at(date("1997-09-30"));
    let fit = ParetoNbd::fit(&cohort.summaries).unwrap();
    let p = fit.parameters;
    // lifetimes 0.11.3's ParetoNBDFitter (penalizer 0) on the same day-bucketed
    // summaries; on its own summary file it finds 0.5533, 10.58, 0.6062, 11.67 as well.
    for (name, ours, lifetimes) in [
        ("r", p.r, 0.553281),
        ("alpha", p.alpha, 10.577804),
        ("s", p.s, 0.606238),
        ("beta", p.beta, 11.669021),
    ] {
        assert_eq!(
            format!("{ours:.3e}"),
            format!("{lifetimes:.3e}"),
            "{name}: {ours} against lifetimes' {lifetimes}"
        );
    }
    // Fader, Hardie & Lee's Pareto/NBD log-likelihood on the sample: −9595.0.
    assert!(
        (fit.log_likelihood + 9595.0).abs() < 0.05,
        "log-likelihood {}",
        fit.log_likelihood
    );
}

/// lifetimes 0.11.3's `ModifiedBetaGeoFitter` (penalizer 0) on the same day-bucketed
/// summaries, in weeks: its r, α, a, b; the log-likelihood of its parameters under the
/// same likelihood in weeks (it optimises a rescaled mean, so its own number differs);
/// and its P(alive) and 39-week conditional expectation at three customers.
struct LifetimesMbgNbd {
    file: &'static str,
    parameters: [f64; 4],
    log_likelihood: f64,
    customers: [((f64, f64, f64), f64, f64); 3],
}

const LIFETIMES_MBGNBD: [LifetimesMbgNbd; 2] = [
    LifetimesMbgNbd {
        file: "CDNOW_sample.txt",
        parameters: [0.524843, 6.183085, 0.891359, 1.614002],
        log_likelihood: -9582.1357,
        customers: [
            ((0.0, 0.0, 38.86), 0.389715, 0.153954),
            ((2.0, 30.43, 38.86), 0.706126, 1.262669),
            ((7.0, 35.71, 38.86), 0.848496, 4.315532),
        ],
    },
    LifetimesMbgNbd {
        file: "CDNOW_master.txt",
        parameters: [0.637140, 7.310290, 0.807474, 1.228394],
        log_likelihood: -95336.9583,
        customers: [
            ((0.0, 0.0, 38.86), 0.319791, 0.147932),
            ((2.0, 30.43, 38.86), 0.701439, 1.280992),
            ((7.0, 35.71, 38.86), 0.855914, 4.379360),
        ],
    },
];

#[test]
fn mbgnbd_reproduces_lifetimes_fits() {
    for reference in LIFETIMES_MBGNBD {
        let transactions = read_transactions(
            &support::lifetimes_dataset(reference.file),
            TransactionFormat::Cdnow,
        )
        .unwrap();
        let cohort = transactions.cohort_at(date("1997-09-30"));
        let fit = MbgNbd::fit(&cohort.summaries).unwrap();
        let p = fit.parameters;
        for (name, ours, lifetimes) in ["r", "alpha", "a", "b"]
            .into_iter()
            .zip([p.r, p.alpha, p.a, p.b])
            .zip(reference.parameters)
            .map(|((name, ours), lifetimes)| (name, ours, lifetimes))
        {
            assert_eq!(
                format!("{ours:.3e}"),
                format!("{lifetimes:.3e}"),
                "{}: {name} = {ours} against lifetimes' {lifetimes}",
                reference.file
            );
        }
        // The same maximum as at lifetimes' parameters.
        assert!(
            (fit.log_likelihood - reference.log_likelihood).abs() < 1e-3,
            "{}: log-likelihood {}",
            reference.file,
            fit.log_likelihood
        );
        for ((x, t_x, t), p_alive, expected) in reference.customers {
            let s = RfmSummary::new(x, t_x, t, 0.0);
            assert_within("p_alive", fit.p_alive(&s), p_alive, 1e-3);
            assert_within(
                "expected purchases",
                fit.expected_purchases(&s, 39.0).unwrap(),
                expected,
                1e-3,
            );
        }
        assert!(fit.estimation.fallback_reason().is_none());
    }
}
