//! Unit tests of next-order forecasts in `next_order.rs`.

use chrono::NaiveDate;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};

use super::*;
use crate::history::{CustomerHistory, Transactions};
use crate::special::ln_gamma;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const COEFFICIENTS: BgNbdCoefficients = BgNbdCoefficients {
    r: 0.5,
    alpha: 4.0,
    a: 0.8,
    b: 2.5,
};

/// `P(W > t | alive) = ∫ e^(−λt) Gamma(λ; shape, rate) dλ`, integrated numerically (the
/// trapezoidal rule in `ln λ`, where the integrand is smooth with exponential tails).
fn survival_by_quadrature(shape: f64, rate: f64, t: f64) -> f64 {
    let step = 1e-3;
    let density =
        |u: f64| (shape * rate.ln() + shape * u - (rate + t) * u.exp() - ln_gamma(shape)).exp();
    (0..=60_000)
        .map(|i| density(-50.0 + i as f64 * step) * step)
        .sum()
}

#[test]
fn the_median_solves_the_posterior_predictive_survival() {
    for (frequency, age) in [(0.0, 30.0), (1.0, 12.0), (4.0, 38.0), (25.0, 50.0)] {
        let (shape, rate) = (COEFFICIENTS.r + frequency, COEFFICIENTS.alpha + age);
        let plain = model_wait_weeks(&COEFFICIENTS, frequency, age, None);
        let closed = rate * (2f64.powf(1.0 / shape) - 1.0);
        assert!(
            (plain - closed).abs() <= 1e-12 * closed,
            "{plain} vs {closed}"
        );
        let integrated = survival_by_quadrature(shape, rate, plain);
        assert!((integrated - 0.5).abs() < 1e-8, "S(median) = {integrated}");
        assert!(
            (model_no_purchase_if_alive(&COEFFICIENTS, frequency, age, plain) - 0.5).abs() < 1e-12
        );
        // Given a purchase within h, half of those purchases come by the median.
        for h in [1.0, 13.0, 39.0, 520.0] {
            let t = model_wait_weeks(&COEFFICIENTS, frequency, age, Some(h));
            let (s_t, s_h) = (
                survival_by_quadrature(shape, rate, t),
                survival_by_quadrature(shape, rate, h),
            );
            let share = (1.0 - s_t) / (1.0 - s_h);
            assert!((share - 0.5).abs() < 1e-7, "x {frequency} h {h}: {share}");
            assert!(
                t > 0.0 && t < h && t <= plain,
                "{t} against {h} and {plain}"
            );
        }
    }
}

#[test]
fn the_horizon_median_is_stable_at_its_limits() {
    // A vanishing rate: half way through the horizon in the Lomax's own clock.
    let tiny = BgNbdCoefficients {
        r: 1e-12,
        ..COEFFICIENTS
    };
    let (age, h) = (30.0, 39.0);
    let scale = tiny.alpha + age;
    let limit = scale * ((1.0 + h / scale).sqrt() - 1.0);
    let t = model_wait_weeks(&tiny, 0.0, age, Some(h));
    assert!((t - limit).abs() < 1e-9 * limit, "{t} vs {limit}");
    // The plain median overflows there; the whole-day forecast stays infinite.
    assert_eq!(
        whole_days(model_wait_weeks(&tiny, 0.0, age, None)),
        f64::INFINITY
    );
    // An endless horizon is no horizon.
    let plain = model_wait_weeks(&COEFFICIENTS, 2.0, age, None);
    let endless = model_wait_weeks(&COEFFICIENTS, 2.0, age, Some(f64::INFINITY));
    assert!((plain - endless).abs() < 1e-12 * plain);
}

/// Customers drawn from BG/NBD's generative process: rate λ ~ Gamma(r, α), dropout
/// probability p ~ Beta(a, b), repeat purchases at rate λ for `age` weeks after the first,
/// each followed by dropout with probability p. Returns the waits from `age` to the next
/// purchase of those alive at `age` with `frequency` repeat purchases.
fn simulated_waits(frequency: usize, age: f64, customers: usize) -> Vec<f64> {
    let BgNbdCoefficients { r, alpha, a, b } = COEFFICIENTS;
    let rate = Gamma::new(r, 1.0 / alpha).unwrap();
    let dropout = Beta::new(a, b).unwrap();
    let mut rng = SmallRng::seed_from_u64(17);
    let mut waits = Vec::new();
    for _ in 0..customers {
        let lambda: f64 = rate.sample(&mut rng);
        let p: f64 = dropout.sample(&mut rng);
        let gap = Exp::new(lambda).unwrap();
        let (mut t, mut repeats) = (0.0, 0);
        loop {
            t += gap.sample(&mut rng);
            if t > age {
                if repeats == frequency {
                    waits.push(t - age);
                }
                break;
            }
            repeats += 1;
            if rng.random::<f64>() < p {
                break;
            }
        }
    }
    waits
}

#[test]
fn the_median_matches_simulated_customers() {
    let age = 12.0;
    for frequency in [0, 2] {
        let waits = simulated_waits(frequency, age, 400_000);
        assert!(waits.len() > 20_000, "{} alive customers", waits.len());
        let x = frequency as f64;
        let plain = model_wait_weeks(&COEFFICIENTS, x, age, None);
        let simulated = median(&waits).unwrap();
        assert!(
            (simulated - plain).abs() < 0.03 * plain,
            "x = {frequency}: simulated median {simulated}, closed form {plain}"
        );
        let h = 13.0;
        let within: Vec<f64> = waits.iter().copied().filter(|w| *w <= h).collect();
        let conditional = model_wait_weeks(&COEFFICIENTS, x, age, Some(h));
        let simulated = median(&within).unwrap();
        assert!(
            (simulated - conditional).abs() < 0.03 * conditional,
            "x = {frequency}: simulated median within {h} weeks {simulated}, closed form {conditional}"
        );
        // And the share buying within the horizon is the model's.
        let share = within.len() as f64 / waits.len() as f64;
        let model = 1.0 - model_no_purchase_if_alive(&COEFFICIENTS, x, age, h);
        assert!((share - model).abs() < 0.01, "{share} vs {model}");
    }
}

fn week_gaps(days: &[i32]) -> Vec<f64> {
    days.iter().map(|d| f64::from(*d) / DAYS_PER_WEEK).collect()
}

#[test]
fn gap_forecasts_on_a_hand_made_history() {
    // Gaps of 10, 20 and 50 days; the last purchase 10 days before the cutoff.
    let history = CustomerHistory::new(
        "a",
        [
            (date("2024-01-01"), 1.0),
            (date("2024-01-11"), 1.0),
            (date("2024-01-31"), 1.0),
            (date("2024-03-21"), 1.0),
        ],
    )
    .unwrap();
    let cutoff = date("2024-03-31");
    let s = history.summary_at(cutoff).unwrap();
    let gaps = history.gaps_at(cutoff);
    assert_eq!(gaps, week_gaps(&[10, 20, 50]));
    let own = NextOrderForecaster::new(COEFFICIENTS, NextOrderMethod::OwnGaps);
    let forecast = own.forecast(&s, &gaps).unwrap();
    // Median gap 20 after a purchase 10 days ago: 10 days ahead.
    assert_eq!(forecast.days, 10.0);
    assert_eq!(forecast.basis, NextOrderBasis::OwnGaps);
    assert_eq!(forecast.date(cutoff), Some(date("2024-04-10")));
    // The baselines: the last gap repeats (40 days ahead), the mean gap t_x/x (16.7).
    assert_eq!(whole_days(gap_wait_weeks(&s, gaps[2])), 40.0);
    assert_eq!(
        whole_days(gap_wait_weeks(&s, s.recency / s.frequency)),
        17.0
    );
    // Overdue: a 7-day gap after a purchase 10 days ago is the day after the cutoff.
    assert_eq!(whole_days(gap_wait_weeks(&s, 1.0)), 1.0);
    // P(alive) and the horizon probability are the model's either way.
    let with_horizon = own.clone().horizon_weeks(13.0);
    let forecast = with_horizon.forecast(&s, &gaps).unwrap();
    let model = FittedBgNbd::from_parameters(COEFFICIENTS);
    assert_eq!(forecast.p_alive, model.p_alive(&s));
    assert!((forecast.p_order_in_horizon - (1.0 - model.prob_no_purchase(&s, 13.0))).abs() < 1e-12);
    assert_eq!(forecast.days, 10.0);

    // A one-time buyer: the shop's gap under own_gaps, the model's date without one.
    let single = CustomerHistory::new("b", [(date("2024-03-25"), 1.0)]).unwrap();
    let s = single.summary_at(cutoff).unwrap();
    let shop = with_horizon.clone().shop_gap_weeks(Some(2.0));
    let forecast = shop.forecast(&s, &[]).unwrap();
    assert_eq!(
        (forecast.days, forecast.basis),
        (8.0, NextOrderBasis::ShopGap)
    );
    let forecast = with_horizon.forecast(&s, &[]).unwrap();
    assert_eq!(forecast.basis, NextOrderBasis::Model);
    assert_eq!(
        forecast.days,
        whole_days(model_wait_weeks(&COEFFICIENTS, 0.0, s.age, Some(13.0)))
    );
    assert_eq!(forecast.p_alive, 1.0);
    // The model method ignores the gaps.
    let by_model = NextOrderForecaster::new(COEFFICIENTS, NextOrderMethod::Model)
        .shop_gap_weeks(Some(2.0))
        .forecast(&s, &[])
        .unwrap();
    assert_eq!(by_model.basis, NextOrderBasis::Model);
}

#[test]
fn inputs_are_checked() {
    let s = RfmSummary::new(1.0, 2.0, 5.0, 0.0);
    let forecaster = NextOrderForecaster::new(COEFFICIENTS, NextOrderMethod::OwnGaps);
    assert!(forecaster.forecast(&s, &[2.0]).is_ok());
    assert!(forecaster.forecast(&s, &[0.0]).is_err());
    assert!(forecaster.forecast(&s, &[f64::NAN]).is_err());
    assert!(
        forecaster
            .forecast(&RfmSummary::new(1.0, 6.0, 5.0, 0.0), &[6.0])
            .is_err()
    );
    assert!(forecaster.clone().horizon_weeks(0.0).check().is_err());
    assert!(
        forecaster
            .clone()
            .shop_gap_weeks(Some(-1.0))
            .check()
            .is_err()
    );
    let broken = BgNbdCoefficients {
        r: 0.0,
        ..COEFFICIENTS
    };
    assert!(
        NextOrderForecaster::new(broken, NextOrderMethod::Model)
            .forecast(&s, &[])
            .is_err()
    );
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(whole_days(-3.0), 1.0);
    assert_eq!(whole_days(f64::NAN), 1.0);
    let far = NextOrder {
        days: f64::INFINITY,
        basis: NextOrderBasis::Model,
        p_alive: 1.0,
        p_order_in_horizon: 1.0,
    };
    assert_eq!(far.date(date("2024-01-01")), None);
    assert_eq!(
        NextOrderMethod::from_name("own_gaps"),
        Some(NextOrderMethod::OwnGaps)
    );
    assert_eq!(NextOrderMethod::from_name("last_gap"), None);
    let stored = serde_json::to_string(&forecaster).unwrap();
    assert_eq!(
        serde_json::from_str::<NextOrderForecaster>(&stored).unwrap(),
        forecaster
    );
}

#[test]
fn the_backtest_measures_every_forecast_against_the_first_holdout_purchase() {
    let rows = [
        // Gaps 10, 20, 50; back 10 days after the cutoff.
        ("a", "2024-01-01"),
        ("a", "2024-01-11"),
        ("a", "2024-01-31"),
        ("a", "2024-03-21"),
        ("a", "2024-04-10"),
        ("a", "2024-05-10"),
        // One gap of 14 days, 45 days before the cutoff; back after 31 days.
        ("b", "2024-02-01"),
        ("b", "2024-02-15"),
        ("b", "2024-05-01"),
        // A one-time buyer 30 days before the cutoff, back after 30.
        ("c", "2024-03-01"),
        ("c", "2024-04-30"),
        // A gap of 7 days, not back in the holdout.
        ("d", "2024-03-01"),
        ("d", "2024-03-08"),
        // Back only after the holdout.
        ("e", "2024-01-15"),
        ("e", "2024-07-15"),
        // Not yet a customer at the cutoff.
        ("f", "2024-04-15"),
    ];
    let shop =
        Transactions::from_purchases(rows.iter().map(|(id, day)| (*id, date(day), 1.0))).unwrap();
    let (cutoff, end) = (date("2024-03-31"), date("2024-06-30"));
    let cohort = shop.cohort_at(cutoff);
    // Pooled gaps 10, 20, 50, 14, 7: the shop's median gap is 14 days.
    assert!((shop_median_gap_weeks(&cohort).unwrap() - 2.0).abs() < 1e-12);
    let comparison = NextOrderComparison::measure(&cohort, &COEFFICIENTS, end).unwrap();
    assert_eq!(comparison.customers, 3);
    assert_eq!(comparison.one_time_buyers, 1);
    assert_eq!(comparison.shop_gap_days, Some(14.0));
    assert_eq!(comparison.horizon_weeks, 13.0);
    let close = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-12, "{a:?} vs {b}");
    // Actual days 10, 31, 30. own_gaps: 10 (median 20 after 10 days), 1 (overdue), 1 (the
    // shop's 14 days after a purchase 30 days ago: overdue).
    let own = comparison.entries["own_gaps"];
    close(own.mae_days, 59.0 / 3.0);
    close(own.median_absolute_error_days, 29.0);
    close(own.mean_error_days, -59.0 / 3.0);
    close(own.repeat_buyers_mae_days, 15.0);
    close(own.one_time_buyers_mae_days, 29.0);
    // last_gap: 40, 1, 1; mean_gap: 17, 1, 1.
    close(comparison.entries["last_gap"].mae_days, 89.0 / 3.0);
    close(comparison.entries["mean_gap"].mae_days, 22.0);
    // One day for all, the median actual day (30).
    let hindsight = comparison.entries["hindsight_median"];
    close(hindsight.mae_days, 7.0);
    assert_eq!(hindsight.spearman, None);
    // The model, with the holdout as the horizon.
    let actual = [10.0, 31.0, 30.0];
    let model_days: Vec<f64> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            let customer = shop.customers().iter().find(|c| c.id() == *id).unwrap();
            let s = customer.summary_at(cutoff).unwrap();
            whole_days(model_wait_weeks(
                &COEFFICIENTS,
                s.frequency,
                s.age,
                Some(13.0),
            ))
        })
        .collect();
    let model_mae = model_days
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / 3.0;
    close(comparison.entries["model"].mae_days, model_mae);
    let expected = if 59.0 / 3.0 < model_mae {
        NextOrderMethod::OwnGaps
    } else {
        NextOrderMethod::Model
    };
    assert_eq!(comparison.chosen, expected);
    let json = serde_json::to_value(&comparison).unwrap();
    assert_eq!(json["chosen"], expected.as_str());
    assert!(json["model_unbounded"]["mae_days"].is_f64());

    // Nobody bought twice: no gap to go on, only the model is measured.
    let singles = Transactions::from_purchases([
        ("a", date("2024-03-01"), 1.0),
        ("a", date("2024-04-01"), 1.0),
        ("b", date("2024-03-02"), 1.0),
    ])
    .unwrap();
    let comparison =
        NextOrderComparison::measure(&singles.cohort_at(cutoff), &COEFFICIENTS, end).unwrap();
    assert_eq!(comparison.customers, 1);
    assert_eq!(comparison.shop_gap_days, None);
    assert!(!comparison.entries.contains_key("own_gaps"));
    assert_eq!(comparison.chosen, NextOrderMethod::Model);
    assert!(
        comparison.entries["model"]
            .median_absolute_error_days
            .is_some()
    );
    assert!(!comparison.entries.contains_key("last_gap"));
}
