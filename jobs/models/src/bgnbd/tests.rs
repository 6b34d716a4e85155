//! Unit tests of the BG/NBD model in `bgnbd.rs`.

use super::expectations::expected_purchases_by_quadrature;
use super::*;
use crate::optim;
use crate::special::hyp2f1;

fn fitted(r: f64, alpha: f64, a: f64, b: f64) -> FittedBgNbd {
    FittedBgNbd::from_parameters(BgNbdCoefficients { r, alpha, a, b })
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

/// FHL (2005) eq. 10 evaluated as printed, with the plain series.
fn expected_purchases_textbook(model: &FittedBgNbd, s: &RfmSummary, t: f64) -> f64 {
    let BgNbdCoefficients { r, alpha, a, b } = model.parameters;
    let x = s.frequency;
    let z = t / (alpha + s.age + t);
    let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z).unwrap();
    let numerator = (a + b + x - 1.0) / (a - 1.0)
        * (1.0 - ((alpha + s.age) / (alpha + s.age + t)).powf(r + x) * f);
    let dropout = if x > 0.0 {
        a / (b + x - 1.0) * ((alpha + s.age) / (alpha + s.recency)).powf(r + x)
    } else {
        0.0
    };
    numerator / (1.0 + dropout)
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let summaries = sample_summaries();
    let objective = BgNbdObjective::new(&summaries);
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
fn weighted_rows_give_the_same_likelihood_as_repeated_rows() {
    let summaries = sample_summaries();
    let model = fitted(0.3, 4.0, 0.8, 2.5);
    let direct: f64 = summaries
        .iter()
        .map(|s| model.log_likelihood_of(std::slice::from_ref(s)))
        .sum();
    assert!((model.log_likelihood_of(&summaries) - direct).abs() < 1e-10);
    assert_eq!(
        BgNbdObjective::new(&summaries).rows.len(),
        summaries.len() - 1
    );
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
fn expected_purchases_are_continuous_at_a_equal_one() {
    let s = RfmSummary::new(3.0, 20.0, 30.0, 0.0);
    let at_one = fitted(0.5, 5.0, 1.0, 2.0)
        .expected_purchases(&s, 52.0)
        .unwrap();
    let near = fitted(0.5, 5.0, 1.0 + 1e-7, 2.0)
        .expected_purchases(&s, 52.0)
        .unwrap();
    assert!((at_one - near).abs() < 1e-6, "{at_one} vs {near}");
}

#[test]
fn p_alive_and_no_purchase_probability_behave() {
    let model = fitted(0.2426, 4.4136, 0.7929, 2.4259);
    let one_timer = RfmSummary::new(0.0, 0.0, 38.86, 0.0);
    assert_eq!(model.p_alive(&one_timer), 1.0);
    let lapsed = RfmSummary::new(3.0, 5.0, 38.86, 0.0);
    let recent = RfmSummary::new(3.0, 38.0, 38.86, 0.0);
    assert!(model.p_alive(&lapsed) < model.p_alive(&recent));
    for s in [one_timer, lapsed, recent] {
        let p0 = model.prob_no_purchase(&s, 39.0);
        assert!(p0 > 0.0 && p0 < 1.0);
        assert!(model.prob_no_purchase(&s, 78.0) < p0);
    }
    assert_eq!(model.expected_purchases(&recent, 0.0).unwrap(), 0.0);
}

#[test]
fn an_external_no_purchase_probability_reweights_the_forecast() {
    let model = fitted(0.2426, 4.4136, 0.7929, 2.4259);
    for s in sample_summaries() {
        for (horizon, window) in [(39.0, 19.4), (52.0, 52.0), (20.0, 30.0)] {
            let own = model.prob_no_purchase(&s, window);
            let plain = model.expected_purchases(&s, horizon).unwrap();
            let same = model
                .expected_purchases_given_no_purchase(&s, horizon, window, own)
                .unwrap();
            assert!(
                (same - plain).abs() < 1e-9 * plain.max(1.0),
                "{s:?}: {same} vs {plain}"
            );
            let keener = model
                .expected_purchases_given_no_purchase(&s, horizon, window, own / 2.0)
                .unwrap();
            let lazier = model
                .expected_purchases_given_no_purchase(&s, horizon, window, (1.0 + own) / 2.0)
                .unwrap();
            assert!(
                lazier < plain && plain < keener,
                "{s:?}: {lazier} {plain} {keener}"
            );
        }
    }
}

#[test]
fn settings_are_checked() {
    assert!(BgNbd::params().max_iterations(0).check().is_err());
    assert!(BgNbd::params().tolerance(-1.0).check().is_err());
    assert!(BgNbd::params().tolerance(f64::NAN).check().is_err());
    let bad_start = BgNbdCoefficients {
        r: 1.0,
        alpha: -1.0,
        a: 1.0,
        b: 1.0,
    };
    assert!(BgNbd::params().initial(bad_start).check().is_err());
    assert!(BgNbd::params().max_iterations(10).check().is_ok());
}

#[test]
fn fitting_refuses_bad_or_missing_data() {
    assert!(matches!(
        BgNbd::fit(&[]),
        Err(ModelError::NoCustomers { .. })
    ));
    let bad = [RfmSummary::new(1.0, 5.0, 2.0, 0.0)];
    assert!(matches!(
        BgNbd::fit(&bad),
        Err(ModelError::InvalidSummary { index: 0, .. })
    ));
}

#[test]
fn fitted_model_round_trips_through_json() {
    let model = BgNbd::fit(&sample_summaries()).unwrap();
    let json = serde_json::to_string(&model).unwrap();
    let back: FittedBgNbd = serde_json::from_str(&json).unwrap();
    assert_eq!(back, model);
    let s = sample_summaries()[0];
    assert_eq!(
        back.expected_purchases(&s, 52.0).unwrap(),
        model.expected_purchases(&s, 52.0).unwrap()
    );
}

#[test]
fn quadrature_matches_the_series_where_both_apply() {
    for (r, alpha, a, b) in [
        (0.24, 4.4, 0.79, 2.43),
        (0.9, 2.0, 3.5, 6.0),
        (0.3, 5.0, 12.0, 30.0),
    ] {
        let model = fitted(r, alpha, a, b);
        for s in sample_summaries() {
            for t in [1.0, 39.0, 260.0] {
                let series = model
                    .expected_purchases_if_alive(s.frequency, s.age, t)
                    .unwrap();
                let quadrature = expected_purchases_by_quadrature(
                    a,
                    b + s.frequency,
                    r + s.frequency,
                    t / (alpha + s.age),
                )
                .unwrap();
                assert!(
                    (series - quadrature).abs() < 1e-9 * series.max(1.0),
                    "{:?} t={t}: series {series}, quadrature {quadrature}",
                    model.parameters
                );
            }
        }
    }
}

#[test]
fn expected_purchases_tend_to_the_closed_form_of_the_boundary() {
    // a, b → ∞ with a / (a + b) = π: one dropout probability for everybody, and
    // E[purchases | alive] = (1 − (1 + π t / (α+T))^−(r+x)) / π.
    let (r, alpha, dropout) = (0.3, 5.0, 0.25);
    for concentration in [1e3, 1e5, 1e7] {
        let model = fitted(
            r,
            alpha,
            dropout * concentration,
            (1.0 - dropout) * concentration,
        );
        for s in sample_summaries() {
            let t = 39.0;
            let ours = model
                .expected_purchases_if_alive(s.frequency, s.age, t)
                .unwrap();
            let limit =
                -(-(r + s.frequency) * (dropout * t / (alpha + s.age)).ln_1p()).exp_m1() / dropout;
            assert!(
                (ours - limit).abs() < 10.0 / concentration * limit,
                "concentration {concentration}, {s:?}: {ours} against the limit {limit}"
            );
            // The full conditional expectation is finite and below the alive one.
            let expected = model.expected_purchases(&s, t).unwrap();
            assert!(expected.is_finite() && expected <= ours + 1e-12);
        }
    }
}

#[test]
fn too_few_repeat_buyers_fall_back_to_the_pooled_rate() {
    let summaries = [
        RfmSummary::new(2.0, 20.0, 40.0, 10.0),
        RfmSummary::new(0.0, 0.0, 30.0, 0.0),
        RfmSummary::new(0.0, 0.0, 10.0, 0.0),
    ];
    let model = BgNbd::fit(&summaries).unwrap();
    let reason = model.estimation.fallback_reason().unwrap();
    assert!(reason.contains("1 of 3 customers"), "{reason}");
    // Mean rate r / α = (2 + ½) / 80 purchases a week, with uniform dropout.
    let BgNbdCoefficients { r, alpha, a, b } = model.parameters;
    assert!((r / alpha - 2.5 / 80.0).abs() < 1e-12);
    assert_eq!((a, b), (1.0, 1.0));
    for s in summaries {
        let expected = model.expected_purchases(&s, 52.0).unwrap();
        assert!(expected > 0.0 && expected.is_finite());
    }
    // A shop with enough repeat buyers is fitted.
    assert_eq!(
        BgNbd::fit(&sample_summaries()).unwrap().estimation,
        Estimation::MaximumLikelihood
    );
}

#[test]
fn a_horizon_beyond_the_series_reach_is_still_forecast() {
    // z = t / (α+T+t) within 1e-9 of one: the series would need billions of terms.
    let model = fitted(0.2426, 4.4136, 0.7929, 2.4259);
    let s = RfmSummary::new(2.0, 30.43, 38.86, 22.35);
    let horizon = 4.0e10;
    let expected = model
        .expected_purchases_if_alive(s.frequency, s.age, horizon)
        .unwrap();
    let quadrature = expected_purchases_by_quadrature(
        0.7929,
        2.4259 + s.frequency,
        0.2426 + s.frequency,
        horizon / (4.4136 + s.age),
    )
    .unwrap();
    assert_eq!(expected, quadrature);
    // More than a long finite horizon gives, and finite.
    let long = model
        .expected_purchases_if_alive(s.frequency, s.age, 5200.0)
        .unwrap();
    assert!(
        expected.is_finite() && expected > long,
        "{expected} vs {long}"
    );
}
