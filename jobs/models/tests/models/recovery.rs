//! Parameter recovery: data drawn from the models' own generative process must give
//! back the generating parameters, within a few of the reported standard errors.

use chrono::NaiveDate;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbd, BgNbdCoefficients, GammaGamma, GammaGammaCoefficients, ScoreParams};

const TRUTH: BgNbdCoefficients = BgNbdCoefficients {
    r: 0.5,
    alpha: 6.0,
    a: 0.9,
    b: 2.8,
};
const SPEND: GammaGammaCoefficients = GammaGammaCoefficients {
    p: 5.0,
    q: 3.0,
    gamma: 20.0,
};

fn simulation() -> Simulation {
    let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    Simulation::new(TRUTH, day("2023-01-01"), day("2024-12-31"))
        .spend(SPEND)
        .seed(42)
}

fn assert_recovered(name: &str, estimate: f64, truth: f64, standard_error: f64) {
    let z = (estimate - truth) / standard_error;
    assert!(
        z.abs() < 3.5,
        "{name}: estimate {estimate} vs truth {truth}, {z:.2} standard errors off"
    );
    // The standard errors themselves must be of the right size, not inflated.
    assert!(
        standard_error < 0.1 * truth,
        "{name}: standard error {standard_error}"
    );
}

#[test]
fn bgnbd_and_gamma_gamma_recover_the_generating_parameters() {
    let summaries = simulation().exact_summaries(40_000).unwrap();
    let bgnbd = BgNbd::fit(&summaries).unwrap();
    let se = bgnbd.standard_errors.unwrap();
    let p = bgnbd.parameters;
    assert_recovered("r", p.r, TRUTH.r, se.r);
    assert_recovered("alpha", p.alpha, TRUTH.alpha, se.alpha);
    assert_recovered("a", p.a, TRUTH.a, se.a);
    assert_recovered("b", p.b, TRUTH.b, se.b);

    let spend = GammaGamma::fit(&summaries).unwrap();
    let se = spend.standard_errors.unwrap();
    let g = spend.parameters;
    assert_recovered("p", g.p, SPEND.p, se.p);
    assert_recovered("q", g.q, SPEND.q, se.q);
    assert_recovered("gamma", g.gamma, SPEND.gamma, se.gamma);
}

#[test]
fn a_warm_started_fit_lands_where_a_cold_one_does() {
    let summaries = simulation().exact_summaries(40_000).unwrap();
    let cold = BgNbd::params()
        .warm_start_sample(0)
        .fit(&summaries)
        .unwrap();
    let warm = BgNbd::params()
        .warm_start_sample(5_000)
        .fit(&summaries)
        .unwrap();
    let (c, w, se) = (
        cold.parameters,
        warm.parameters,
        cold.standard_errors.unwrap(),
    );
    for (name, cold, warm, se) in [
        ("r", c.r, w.r, se.r),
        ("alpha", c.alpha, w.alpha, se.alpha),
        ("a", c.a, w.a, se.a),
        ("b", c.b, w.b, se.b),
    ] {
        assert!((cold - warm).abs() < 0.01 * se, "{name}: {cold} vs {warm}");
    }
    assert!((cold.log_likelihood - warm.log_likelihood).abs() < 1e-3);
}

#[test]
fn forecasts_match_the_simulated_future() {
    // Customers who arrived in the first year, scored at its end: the second year of the
    // same simulation is what the forecast must match, up to sampling noise.
    let shop = simulation().transactions(40_000).unwrap();
    let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let (cutoff, end) = (day("2023-12-31"), day("2024-12-31"));
    let cohort = shop.cohort_at(cutoff);
    let horizon = (end - cutoff).num_days() as f64 / 7.0;
    let scored = ScoreParams::default()
        .horizon_weeks(horizon)
        .fit(&cohort.summaries, None)
        .unwrap();
    let predicted: f64 = scored.scores.iter().map(|s| s.expected_purchases).sum();
    let actual: f64 = cohort
        .activity_until(end)
        .iter()
        .map(|a| f64::from(a.purchase_days))
        .sum();
    assert!(
        (predicted - actual).abs() < 0.02 * actual,
        "predicted {predicted}, actual {actual}"
    );
}
