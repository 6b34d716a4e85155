//! Unit tests of the count models' correction in `hybrid.rs`.

use super::*;
use crate::bgnbd::BgNbdCoefficients;
use crate::history::CustomerHistory;
use crate::metrics::ClvMetrics;
use crate::simulate::Simulation;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn simulated_shop() -> Transactions {
    let truth = BgNbdCoefficients {
        r: 0.5,
        alpha: 8.0,
        a: 0.7,
        b: 2.5,
    };
    Simulation::new(truth, date("2023-01-01"), date("2024-12-31"))
        .seed(11)
        .transactions(3000)
        .unwrap()
}

/// Rows with features spread over a few standard deviations and a spread of anchors,
/// a third of them without spend; more than one block of the parallel sum.
fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            let z = std::array::from_fn(|j| ((t * 0.37 + j as f64 * 1.3).sin() * 1.7).tanh() * 2.0);
            let y = if i % 3 == 0 {
                0.0
            } else {
                20.0 + 15.0 * (t * 0.11).cos()
            };
            Row {
                z,
                ln_anchor: 2.5 + (t * 0.07).sin(),
                y,
            }
        })
        .collect()
}

/// The largest difference between the analytic gradient and central differences with
/// step 1e-5, relative to the gradient's scale (at least 1e-3): the shared check's step
/// of 1e-6 leaves a rounding error near 1e-9 on this sum of thousands of terms.
fn gradient_error(loss: &QuasiPoisson, theta: &[f64; TERMS]) -> f64 {
    let step = 1e-5;
    let mut analytic = [0.0; TERMS];
    loss.value_and_gradient(theta, &mut analytic);
    let mut scratch = [0.0; TERMS];
    (0..TERMS)
        .map(|j| {
            let mut shifted = *theta;
            shifted[j] = theta[j] + step;
            let up = loss.value_and_gradient(&shifted, &mut scratch);
            shifted[j] = theta[j] - step;
            let down = loss.value_and_gradient(&shifted, &mut scratch);
            let numeric = (up - down) / (2.0 * step);
            (numeric - analytic[j]).abs() / analytic[j].abs().max(1e-3)
        })
        .fold(0.0, f64::max)
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let rows = rows(2 * BLOCK + 17);
    let mean_spend = rows.iter().map(|row| row.y).sum::<f64>() / rows.len() as f64;
    for l2_penalty in [0.0, 0.3] {
        let loss = QuasiPoisson {
            rows: rows.clone(),
            mean_spend,
            l2_penalty,
        };
        for scale in [0.0, 0.2, 0.6] {
            let theta: [f64; TERMS] =
                std::array::from_fn(|i| ((i as f64 + 1.0) * 0.7).sin() * scale);
            let error = gradient_error(&loss, &theta);
            assert!(error < 1e-6, "relative gradient error {error} at {theta:?}");
        }
    }
}

/// The shop's training split: the customers known at the cutoff, the count models fitted
/// there, and what each spent in the window.
fn training_split(
    shop: &Transactions,
    model: &FittedHybrid,
) -> (FittedBgNbd, FittedGammaGamma, Vec<f64>, f64) {
    let cohort = shop.cohort_at(model.training_cutoff);
    let bgnbd = BgNbd::fit(&cohort.summaries).unwrap();
    let gamma_gamma = GammaGamma::fit(&cohort.summaries).unwrap();
    let until =
        model.training_cutoff + chrono::Duration::days((model.window_weeks * 7.0).round() as i64);
    let spent: Vec<f64> = cohort
        .activity_until(until)
        .iter()
        .map(|a| a.spend)
        .collect();
    let total = spent.iter().sum();
    (bgnbd, gamma_gamma, spent, total)
}

#[test]
fn without_a_penalty_the_training_total_is_the_actual_total() {
    let shop = simulated_shop();
    let as_of = date("2024-06-30");
    let model = Hybrid::params()
        .l2_penalty(0.0)
        .max_window_weeks(26.0)
        .fit(&shop, as_of)
        .unwrap();
    let (bgnbd, gamma_gamma, spent, actual) = training_split(&shop, &model);
    let cohort = shop.cohort_at(model.training_cutoff);
    let models = CountModels {
        bgnbd: &bgnbd,
        gamma_gamma: &gamma_gamma,
    };
    let forecast = model
        .expected_spend(&cohort, models, model.window_weeks)
        .unwrap();
    assert_eq!(forecast.len(), spent.len());
    let predicted: f64 = forecast.iter().sum();
    assert!(
        (predicted - actual).abs() < 1e-3 * actual,
        "{predicted} against {actual}"
    );
}

#[test]
fn no_correction_is_the_count_models_forecast() {
    let shop = simulated_shop();
    let as_of = date("2024-06-30");
    let mut model = Hybrid::params().fit(&shop, as_of).unwrap();
    model.coefficients = [0.0; TERMS];
    let cohort = shop.cohort_at(as_of);
    let bgnbd = BgNbd::fit(&cohort.summaries).unwrap();
    let gamma_gamma = GammaGamma::fit(&cohort.summaries).unwrap();
    let models = CountModels {
        bgnbd: &bgnbd,
        gamma_gamma: &gamma_gamma,
    };
    let forecast = model.expected_spend(&cohort, models, 26.0).unwrap();
    for (value, s) in forecast.iter().zip(&cohort.summaries) {
        let count = bgnbd.expected_purchases(s, 26.0).unwrap() * gamma_gamma.expected_spend(s);
        assert!(
            (value - count.max(ANCHOR_FLOOR)).abs() <= 1e-9 * count.max(1.0),
            "{value} against {count}"
        );
    }
}

#[test]
fn trained_forecast_ranks_and_totals_a_simulated_holdout() {
    let shop = simulated_shop();
    let (as_of, end) = (date("2024-06-30"), date("2024-12-31"));
    let weeks = (end - as_of).num_days() as f64 / 7.0;
    let model = Hybrid::params()
        .max_window_weeks(weeks)
        .fit(&shop, as_of)
        .unwrap();
    assert_eq!(model.training_cutoff, as_of - chrono::Duration::days(184));
    assert_eq!(model.weights().len(), FEATURES);
    let cohort = shop.cohort_at(as_of);
    let bgnbd = BgNbd::fit(&cohort.summaries).unwrap();
    let gamma_gamma = GammaGamma::fit(&cohort.summaries).unwrap();
    let models = CountModels {
        bgnbd: &bgnbd,
        gamma_gamma: &gamma_gamma,
    };
    let forecast = model.expected_spend(&cohort, models, weeks).unwrap();
    let actual: Vec<f64> = cohort.activity_until(end).iter().map(|a| a.spend).collect();
    let m = ClvMetrics::of(&forecast, &actual);
    let (total, gini) = (m.total_error_pct.unwrap(), m.normalized_gini.unwrap());
    println!("simulated holdout: total {total:+.1} %, normalised Gini {gini:.3}");
    assert!(total.abs() < 25.0, "{m:?}");
    assert!(gini > 0.4, "{m:?}");
    // A lapsed heavy buyer, whom BG/NBD gives almost nothing, gets almost nothing.
    let lapsed = CustomerHistory::new(
        "lapsed",
        (0..20).map(|k| (date("2023-02-01") + chrono::Duration::days(k), 40.0)),
    )
    .unwrap();
    let regular = CustomerHistory::new(
        "regular",
        (0..12).map(|k| (date("2024-01-05") + chrono::Duration::days(14 * k), 30.0)),
    )
    .unwrap();
    let pair = Transactions::new(vec![lapsed, regular]);
    let values = model
        .expected_spend(&pair.cohort_at(as_of), models, weeks)
        .unwrap();
    assert!(values[0] < 0.01 * values[1], "{values:?}");
}

#[test]
fn shops_that_cannot_train_it_are_told_why() {
    let day = |d: u32| date("2024-01-01") + chrono::Duration::days(i64::from(d));
    let as_of = day(200);
    // Five customers: fewer than the coefficients.
    let few = Transactions::new(
        (0..5)
            .map(|i| {
                CustomerHistory::new(format!("c{i}"), [(day(i), 10.0), (day(150 + i), 5.0)])
                    .unwrap()
            })
            .collect(),
    );
    let error = Hybrid::params().fit(&few, as_of).unwrap_err();
    assert!(
        matches!(&error, ModelError::HybridTraining(reason) if reason.contains("fewer than")),
        "{error}"
    );
    // Nobody spends in the window.
    let quiet = Transactions::new(
        (0..30)
            .map(|i| CustomerHistory::new(format!("c{i}"), [(day(i), 10.0)]).unwrap())
            .collect(),
    );
    let error = Hybrid::params().fit(&quiet, as_of).unwrap_err();
    assert!(
        matches!(&error, ModelError::HybridTraining(reason) if reason.contains("0 of the 30")),
        "{error}"
    );
    assert!(
        Hybrid::params()
            .window_weeks(100.0)
            .fit(&quiet, as_of)
            .is_err()
    );
    assert!(
        Hybrid::params()
            .l2_penalty(-1.0)
            .fit(&quiet, as_of)
            .is_err()
    );
    assert!(matches!(
        Hybrid::params().fit(&Transactions::default(), as_of),
        Err(ModelError::NoCustomers { .. })
    ));
}

#[test]
fn fitted_model_round_trips_through_json() {
    let model = Hybrid::params()
        .window_weeks(13.0)
        .fit(&simulated_shop(), date("2024-06-30"))
        .unwrap();
    let back: FittedHybrid = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    assert_eq!(back, model);
}
