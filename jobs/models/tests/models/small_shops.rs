//! Small shops: random subsets of the CDNOW sample, from 50 to 500 customers, must all
//! be fitted and scored, and together their holdout forecast must hold.

use chrono::NaiveDate;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::index;
use rapport_models::io::{TransactionFormat, read_transactions};
use rapport_models::{Transactions, evaluate};

use crate::support;

const SIZES: [usize; 6] = [50, 100, 150, 200, 300, 500];
const DRAWS: u64 = 5;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `size` customers of `all`, drawn without replacement with a fixed seed.
fn subset(all: &Transactions, size: usize, seed: u64) -> Transactions {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut picked = index::sample(&mut rng, all.len(), size).into_vec();
    picked.sort_unstable();
    Transactions::new(
        picked
            .into_iter()
            .map(|i| all.customers()[i].clone())
            .collect(),
    )
}

#[test]
fn every_small_subset_of_the_sample_is_scored_and_the_total_forecast_holds() {
    let all = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let mut failures = Vec::new();
    let (mut actual, mut predicted) = (0.0, 0.0);
    for size in SIZES {
        for draw in 0..DRAWS {
            let seed = 1000 * size as u64 + draw;
            let shop = subset(&all, size, seed);
            match evaluate(&shop, date("1997-09-30"), date("1998-06-30")) {
                Ok(e) => {
                    assert_eq!(e.customers, size);
                    // Fitted by maximum likelihood, every model, no fallback.
                    assert!(
                        e.fallbacks.is_empty(),
                        "{size}, seed {seed}: {:?}",
                        e.fallbacks
                    );
                    assert!(e.clv_metrics.entries.contains_key("pareto_nbd"));
                    assert!(e.clv_metrics.entries.contains_key("value_model"));
                    assert!(e.holdout.predicted_repeat_purchases.is_finite());
                    actual += e.holdout.actual_repeat_purchases as f64;
                    predicted += e.holdout.predicted_repeat_purchases;
                }
                Err(error) => failures.push(format!("{size} customers, seed {seed}: {error}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} subsets failed:\n{}",
        failures.len(),
        SIZES.len() as u64 * DRAWS,
        failures.join("\n")
    );
    let error = (predicted - actual) / actual;
    println!(
        "{} subsets: forecast {predicted:.1} holdout repeat purchases, actual {actual} ({:+.1} %)",
        SIZES.len() as u64 * DRAWS,
        100.0 * error
    );
    assert!(
        error.abs() <= 0.15,
        "summed holdout forecast {predicted:.1} against {actual} actual ({:+.1} %)",
        100.0 * error
    );
}

#[test]
fn shops_too_small_to_fit_are_scored_by_the_documented_fallbacks() {
    let all = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let mut fell_back = 0;
    for size in [2, 3, 5] {
        for draw in 0..10 {
            let shop = subset(&all, size, 7000 + draw);
            let e = evaluate(&shop, date("1997-09-30"), date("1998-06-30"))
                .unwrap_or_else(|error| panic!("{size} customers, draw {draw}: {error}"));
            assert_eq!(e.segments.values().sum::<usize>(), size);
            assert!(e.holdout.predicted_repeat_purchases.is_finite());
            assert!(e.holdout.predicted_spend.is_finite());
            // A fallback is always reported, never taken silently.
            let repeat_buyers = shop
                .cohort_at(date("1997-09-30"))
                .summaries
                .iter()
                .filter(|s| s.frequency > 0.0)
                .count();
            if repeat_buyers < 4 {
                assert!(
                    e.fallbacks.iter().any(|f| f.starts_with("bg/nbd fallback")),
                    "{:?}",
                    e.fallbacks
                );
            }
            assert_eq!(
                e.churn.is_none(),
                e.fallbacks.iter().any(|f| f.starts_with("churn"))
            );
            // Fewer customers than the spend regression has coefficients: left out of
            // the comparison, and said so.
            assert_value_model_fell_back(&e);
            fell_back += usize::from(!e.fallbacks.is_empty());
        }
    }
    assert!(fell_back > 0, "no subset was small enough to fall back");
}

/// The spend regression was not trained, the comparison goes on without it, and the
/// fallbacks say why.
fn assert_value_model_fell_back(e: &rapport_models::Evaluation) {
    assert!(!e.clv_metrics.entries.contains_key("value_model"));
    assert!(e.value_model.is_none());
    assert_ne!(e.clv_metrics.chosen, "value_model");
    assert!(
        e.fallbacks
            .iter()
            .any(|f| f.starts_with("value_model not compared: value model: ")),
        "{:?}",
        e.fallbacks
    );
    assert!(e.clv_metrics.entries.contains_key("bgnbd_churn"));
}

#[test]
fn the_value_model_falls_back_cleanly_on_a_tiny_shop() {
    let all = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    // Five customers: fewer than the regression's coefficients.
    let e = evaluate(
        &subset(&all, 5, 4242),
        date("1997-09-30"),
        date("1998-06-30"),
    )
    .unwrap();
    assert_value_model_fell_back(&e);
    assert!(
        e.fallbacks
            .iter()
            .any(|f| f.contains("fewer than the model's")),
        "{:?}",
        e.fallbacks
    );
    // Thirty one-time buyers: nobody spends in the training window, one class.
    let quiet = Transactions::new(
        all.customers()
            .iter()
            .filter(|c| c.purchase_days().len() == 1)
            .take(30)
            .cloned()
            .collect(),
    );
    let e = evaluate(&quiet, date("1997-09-30"), date("1998-06-30")).unwrap();
    assert_eq!(e.customers, 30);
    assert_value_model_fell_back(&e);
    assert!(
        e.fallbacks
            .iter()
            .any(|f| f.contains("0 of the 30 customers")),
        "{:?}",
        e.fallbacks
    );
    assert!(e.holdout.predicted_spend.is_finite());
}

#[test]
fn further_subsets_of_both_files_all_run_and_their_total_forecast_holds() {
    for file in ["CDNOW_sample.txt", "CDNOW_master.txt"] {
        let all =
            read_transactions(&support::lifetimes_dataset(file), TransactionFormat::Cdnow).unwrap();
        let (mut actual, mut predicted, mut fell_back, mut count_model_fell_back) =
            (0.0, 0.0, 0, 0);
        for size in [8, 15, 25, 40, 60, 80, 120, 250, 400] {
            for draw in 0..12 {
                let seed = 99_000 + 100 * size as u64 + draw;
                let shop = subset(&all, size, seed);
                let e = evaluate(&shop, date("1997-09-30"), date("1998-06-30")).unwrap_or_else(
                    |error| panic!("{file}, {size} customers, seed {seed}: {error}"),
                );
                actual += e.holdout.actual_repeat_purchases as f64;
                predicted += e.holdout.predicted_repeat_purchases;
                if !e.fallbacks.is_empty() {
                    fell_back += 1;
                    count_model_fell_back += usize::from(
                        e.fallbacks
                            .iter()
                            .any(|f| !f.starts_with("value_model not compared")),
                    );
                    // Only the smallest shops are too small to fit.
                    assert!(size <= 15, "{file}, {size}, seed {seed}: {:?}", e.fallbacks);
                }
            }
        }
        let error = (predicted - actual) / actual;
        println!(
            "{file}: 108 subsets, {fell_back} with a fallback ({count_model_fell_back} other than the \
             value model's); forecast {predicted:.1} against {actual} ({:+.1} %)",
            100.0 * error
        );
        assert!(error.abs() <= 0.10, "{file}: {:+.1} %", 100.0 * error);
    }
}
