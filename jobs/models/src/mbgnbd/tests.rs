//! Unit tests of the MBG/NBD model in `mbgnbd.rs`.

use super::*;
use crate::optim;
use crate::special::{hyp2f1, ln_gamma};

fn fitted(r: f64, alpha: f64, a: f64, b: f64) -> FittedMbgNbd {
    FittedMbgNbd::from_parameters(BgNbdCoefficients { r, alpha, a, b })
}

fn sample_summaries() -> Vec<RfmSummary> {
    vec![
        RfmSummary::new(2.0, 30.43, 38.86, 22.35),
        RfmSummary::new(1.0, 1.71, 38.86, 11.77),
        RfmSummary::new(0.0, 0.0, 38.86, 0.0),
        RfmSummary::new(0.0, 0.0, 38.86, 0.0),
        RfmSummary::new(0.0, 0.0, 12.0, 0.0),
        RfmSummary::new(7.0, 35.71, 38.86, 40.0),
        RfmSummary::new(5.0, 10.0, 36.0, 15.0),
        RfmSummary::new(1.0, 0.0, 20.0, 9.0),
    ]
}

/// Batislam et al. (2007)'s per-customer log-likelihood as printed.
fn log_likelihood_textbook(model: &FittedMbgNbd, s: &RfmSummary) -> f64 {
    let BgNbdCoefficients { r, alpha, a, b } = model.parameters;
    let x = s.frequency;
    let ln_beta = |p: f64, q: f64| ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q);
    ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_beta(a, b + x + 1.0)
        - ln_beta(a, b)
        - (r + x) * (alpha + s.age).ln()
        + (a / (b + x) * ((alpha + s.age) / (alpha + s.recency)).powf(r + x)).ln_1p()
}

/// The conditional expectation as lifetimes writes it, with the plain series.
fn expected_purchases_textbook(model: &FittedMbgNbd, s: &RfmSummary, t: f64) -> f64 {
    let BgNbdCoefficients { r, alpha, a, b } = model.parameters;
    let x = s.frequency;
    let z = t / (alpha + s.age + t);
    let f = hyp2f1(r + x, b + x + 1.0, a + b + x, z).unwrap();
    let numerator =
        (a + b + x) / (a - 1.0) * (1.0 - ((alpha + s.age) / (alpha + s.age + t)).powf(r + x) * f);
    numerator / (1.0 + a / (b + x) * ((alpha + s.age) / (alpha + s.recency)).powf(r + x))
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let summaries = sample_summaries();
    let objective = BgNbdObjective::with_dropout(&summaries, Dropout::AfterEveryPurchase);
    for theta in [
        [0.24f64.ln(), 4.41f64.ln(), 0.79f64.ln(), 2.43f64.ln()],
        [0.0, 0.5, -1.0, 1.5],
        [1.2, -0.3, 0.4, -0.8],
    ] {
        let error = optim::gradient_check(&objective, &theta);
        assert!(error < 1e-6, "relative gradient error {error} at {theta:?}");
    }
}

#[test]
fn likelihood_is_the_published_one() {
    for model in [fitted(0.25, 4.4, 0.79, 2.43), fitted(1.3, 0.7, 3.0, 0.4)] {
        let summaries = sample_summaries();
        let textbook: f64 = summaries
            .iter()
            .map(|s| log_likelihood_textbook(&model, s))
            .sum();
        let ours = model.log_likelihood_of(&summaries);
        assert!((ours - textbook).abs() < 1e-9, "{ours} vs {textbook}");
    }
}

#[test]
fn expected_purchases_match_the_textbook_formula() {
    for model in [
        fitted(0.2426, 4.4136, 0.7929, 2.4259),
        fitted(0.9, 2.0, 3.5, 6.0),
        fitted(0.5, 10.0, 1.001, 3.0),
    ] {
        for s in sample_summaries() {
            for t in [1.0, 39.0, 52.0, 260.0] {
                let ours = model.expected_purchases(&s, t).unwrap();
                let textbook = expected_purchases_textbook(&model, &s, t);
                assert!(
                    (ours - textbook).abs() < 1e-7 * textbook.max(1.0),
                    "{s:?} t={t}: {ours} vs {textbook}"
                );
            }
        }
    }
}

#[test]
fn one_time_buyers_can_be_gone_and_fade_with_age() {
    let model = fitted(0.2426, 4.4136, 0.7929, 2.4259);
    let young = RfmSummary::new(0.0, 0.0, 2.0, 0.0);
    let old = RfmSummary::new(0.0, 0.0, 38.86, 0.0);
    assert!(model.p_alive(&young) < 1.0);
    assert!(model.p_alive(&old) < model.p_alive(&young));
    let lapsed = RfmSummary::new(3.0, 5.0, 38.86, 0.0);
    let recent = RfmSummary::new(3.0, 38.0, 38.86, 0.0);
    assert!(model.p_alive(&lapsed) < model.p_alive(&recent));
    for s in [young, old, lapsed, recent] {
        let p0 = model.prob_no_purchase(&s, 39.0);
        assert!(p0 > 0.0 && p0 < 1.0);
        assert!(model.prob_no_purchase(&s, 78.0) < p0);
    }
    assert_eq!(model.expected_purchases(&recent, 0.0).unwrap(), 0.0);
}

#[test]
fn a_tiny_shop_falls_back_and_says_why() {
    let summaries = &sample_summaries()[..4];
    let fit = MbgNbd::fit(summaries).unwrap();
    assert!(fit.estimation.fallback_reason().is_some());
    assert!(fit.log_likelihood.is_finite());
    assert!(fit.expected_purchases(&summaries[0], 52.0).unwrap() > 0.0);
}

#[test]
fn settings_are_checked_and_a_fit_round_trips() {
    assert!(
        MbgNbdParams(BgNbdParams::default().max_iterations(0))
            .fit(&sample_summaries())
            .is_err()
    );
    let fit = MbgNbd::fit(&sample_summaries()).unwrap();
    let json = serde_json::to_string(&fit).unwrap();
    assert_eq!(serde_json::from_str::<FittedMbgNbd>(&json).unwrap(), fit);
}
