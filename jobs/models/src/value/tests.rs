//! Unit tests of the spend regression in `value.rs`.

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

/// Rows with features spread over a few standard deviations, a third of them spenders;
/// more than one block of the parallel sum.
fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            let z = std::array::from_fn(|j| ((t * 0.37 + j as f64 * 1.3).sin() * 1.7).tanh() * 2.0);
            let ln_spend = (i % 3 == 0).then(|| 3.0 + (t * 0.11).cos());
            Row { z, ln_spend }
        })
        .collect()
}

fn thetas() -> Vec<[f64; PARAMETERS]> {
    let spread = |offset: f64, scale: f64| -> [f64; PARAMETERS] {
        std::array::from_fn(|i| ((i as f64 + offset) * 0.7).sin() * scale)
    };
    let mut start = [0.0; PARAMETERS];
    start[0] = -0.7;
    start[TERMS] = 3.0;
    vec![start, spread(0.0, 0.5), spread(2.0, 1.5)]
}

#[test]
fn settings_are_checked() {
    assert!(ValueModel::params().window_weeks(0.0).check().is_err());
    assert!(
        ValueModel::params()
            .max_window_weeks(f64::NAN)
            .check()
            .is_err()
    );
    assert!(ValueModel::params().l2_penalty(-1e-3).check().is_err());
    assert!(ValueModel::params().max_iterations(0).check().is_err());
    assert!(ValueModel::params().tolerance(0.0).check().is_err());
    assert!(ValueModel::params().window_weeks(13.0).check().is_ok());
}

#[test]
fn the_likelihood_is_the_zero_inflated_lognormal_density() {
    let rows = rows(2 * BLOCK + 17);
    let likelihood = Ziln { rows: rows.clone() };
    for theta in thetas() {
        let mut gradient = [0.0; PARAMETERS];
        let mean = likelihood.value_and_gradient(&theta, &mut gradient);
        let direct: f64 = rows
            .iter()
            .map(|row| {
                let sigma = (theta[LN_SIGMA] + theta[LN_SIGMA + 1] * row.z[SCALE_FEATURE]).exp();
                let p = 1.0 / (1.0 + (-linear(&theta[..TERMS], &row.z)).exp());
                match row.ln_spend {
                    None => -(1.0 - p).ln(),
                    Some(ln_y) => {
                        let mu = linear(&theta[TERMS..LN_SIGMA], &row.z);
                        let y = ln_y.exp();
                        // The lognormal density of y.
                        let density = (-(ln_y - mu).powi(2) / (2.0 * sigma * sigma)).exp()
                            / (y * sigma * (2.0 * std::f64::consts::PI).sqrt());
                        -(p * density).ln()
                    }
                }
            })
            .sum();
        assert!(
            (mean * rows.len() as f64 - direct).abs() < 1e-9 * direct.abs(),
            "{mean} against {}",
            direct / rows.len() as f64
        );
    }
}

/// The largest difference between the analytic gradient and central differences of
/// the value with step 1e-5, relative to the gradient's scale (at least 1e-3). The
/// shared check's step of 1e-6 leaves a rounding error near 1e-9 on this sum of
/// hundreds of terms, too much for components of 1e-3 near the intercepts' optimum.
fn gradient_error<O: Objective>(objective: &O, theta: &[f64; PARAMETERS]) -> f64 {
    let step = 1e-5;
    let mut analytic = [0.0; PARAMETERS];
    objective.value_and_gradient(theta, &mut analytic);
    let mut scratch = [0.0; PARAMETERS];
    (0..PARAMETERS)
        .map(|j| {
            let mut shifted = *theta;
            shifted[j] = theta[j] + step;
            let up = objective.value_and_gradient(&shifted, &mut scratch);
            shifted[j] = theta[j] - step;
            let down = objective.value_and_gradient(&shifted, &mut scratch);
            let numeric = (up - down) / (2.0 * step);
            (numeric - analytic[j]).abs() / analytic[j].abs().max(1e-3)
        })
        .fold(0.0, f64::max)
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let likelihood = Ziln { rows: rows(500) };
    let objective = Penalised {
        inner: &likelihood,
        l2_penalty: 0.3,
    };
    for theta in thetas() {
        let error = gradient_error(&likelihood, &theta);
        assert!(error < 1e-6, "relative gradient error {error} at {theta:?}");
        let error = gradient_error(&objective, &theta);
        assert!(
            error < 1e-6,
            "penalised: relative gradient error {error} at {theta:?}"
        );
    }
}

#[test]
fn trained_forecast_ranks_and_totals_a_simulated_holdout() {
    let shop = simulated_shop();
    let (as_of, end) = (date("2024-06-30"), date("2024-12-31"));
    let weeks = (end - as_of).num_days() as f64 / 7.0;
    let model = ValueModel::params()
        .max_window_weeks(weeks)
        .fit(&shop, as_of)
        .unwrap();
    assert_eq!(model.training_cutoff, as_of - chrono::Duration::days(184));
    assert!(model.training_spender_rate > 0.0 && model.training_spender_rate < 1.0);
    assert!(model.coefficients.sigma > 0.0 && model.log_likelihood.is_finite());
    let cohort = shop.cohort_at(as_of);
    let bgnbd = BgNbd::fit(&cohort.summaries).unwrap();
    let forecast = model.expected_spend(&cohort, &bgnbd, weeks).unwrap();
    let actual: Vec<f64> = cohort.activity_until(end).iter().map(|a| a.spend).collect();
    let m = ClvMetrics::of(&forecast, &actual);
    let (total, gini) = (m.total_error_pct.unwrap(), m.normalized_gini.unwrap());
    println!("simulated holdout: total {total:+.1} %, normalised Gini {gini:.3}");
    assert!(total.abs() < 25.0, "{m:?}");
    assert!(gini > 0.4, "{m:?}");
    // A frequent, recent buyer is worth more than a lapsed one-time buyer.
    let regular = CustomerHistory::new(
        "regular",
        (0..12).map(|k| (date("2024-01-05") + chrono::Duration::days(14 * k), 30.0)),
    )
    .unwrap();
    let lapsed = CustomerHistory::new("lapsed", [(date("2023-03-01"), 30.0)]).unwrap();
    let pair = Transactions::new(vec![regular, lapsed]);
    let values = model
        .expected_spend(&pair.cohort_at(as_of), &bgnbd, weeks)
        .unwrap();
    assert!(values[0] > 5.0 * values[1], "{values:?}");
    // Carried over a longer horizon by BG/NBD's time shape: more, but less than in
    // proportion, since some customers leave meanwhile.
    let longer = model.expected_spend(&cohort, &bgnbd, 2.0 * weeks).unwrap();
    for (one, two) in forecast.iter().zip(&longer) {
        assert!(
            *two > *one && *two < 2.0 * *one,
            "{one} over {weeks} weeks, {two} over twice that"
        );
    }
    assert_eq!(model.weights().len(), FEATURES);
}

#[test]
fn training_never_sees_what_happened_after_as_of() {
    let shop = simulated_shop();
    let as_of = date("2024-06-30");
    let truncated = Transactions::new(
        shop.customers()
            .iter()
            .filter_map(|c| {
                let days: Vec<_> = c
                    .purchase_days()
                    .iter()
                    .filter(|p| p.date().is_some_and(|d| d <= as_of))
                    .filter_map(|p| Some((p.date()?, p.amount)))
                    .collect();
                (!days.is_empty()).then(|| CustomerHistory::new(c.id(), days).unwrap())
            })
            .collect(),
    );
    let params = ValueModel::params().max_window_weeks(26.0);
    assert_eq!(
        params.fit(&shop, as_of).unwrap(),
        params.fit(&truncated, as_of).unwrap()
    );
}

#[test]
fn shops_that_cannot_train_it_are_told_why() {
    let day = |d: u32| date("2024-01-01") + chrono::Duration::days(i64::from(d));
    // Thirty customers, none of whom buys again: one class.
    let quiet = Transactions::new(
        (0..30)
            .map(|i| CustomerHistory::new(format!("c{i}"), [(day(i), 10.0)]).unwrap())
            .collect(),
    );
    let as_of = day(200);
    let error = ValueModel::params().fit(&quiet, as_of).unwrap_err();
    assert!(
        matches!(&error, ModelError::ValueTraining(reason) if reason.contains("0 of the 30")),
        "{error}"
    );
    // Five customers: fewer than the coefficients.
    let few = Transactions::new(
        (0..5)
            .map(|i| {
                CustomerHistory::new(format!("c{i}"), [(day(i), 10.0), (day(150 + i), 5.0)])
                    .unwrap()
            })
            .collect(),
    );
    let error = ValueModel::params().fit(&few, as_of).unwrap_err();
    assert!(matches!(error, ModelError::ValueTraining(_)), "{error}");
    // No room for the window.
    let error = ValueModel::params()
        .window_weeks(100.0)
        .fit(&quiet, as_of)
        .unwrap_err();
    assert!(matches!(error, ModelError::ValueTraining(_)), "{error}");
    assert!(matches!(
        ValueModel::params().fit(&Transactions::default(), as_of),
        Err(ModelError::NoCustomers { .. })
    ));
}

#[test]
fn fitted_model_round_trips_through_json() {
    let model = ValueModel::params()
        .window_weeks(13.0)
        .fit(&simulated_shop(), date("2024-06-30"))
        .unwrap();
    let back: FittedValueModel =
        serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    assert_eq!(back, model);
}
