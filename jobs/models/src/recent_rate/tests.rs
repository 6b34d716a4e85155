use chrono::{Datelike, Duration};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, Gamma, LogNormal};

use super::*;
use crate::gamma_gamma::GammaGamma;
use crate::history::EarlierDays;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const TODAY: &str = "2024-12-31";

/// Two years of customers who arrive in the first two months and buy at a Poisson rate
/// per week drawn from Gamma(2, 1), each purchase 20 to 60: constant for life, or
/// multiplied every four weeks by a lognormal step (σ = `drift`).
fn shop(customers: usize, drift: f64, seed: u64) -> Transactions {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (start, end) = (date("2023-01-01"), date(TODAY));
    let rates = Gamma::new(2.0, 1.0).unwrap();
    let step = LogNormal::new(0.0, drift.max(1e-12)).unwrap();
    let histories = (0..customers)
        .map(|i| {
            let mut day = start + Duration::days(rng.random_range(0..60));
            let mut rate: f64 = rates.sample(&mut rng);
            let mut next_step = day + Duration::weeks(4);
            let mut purchases = vec![(day, rng.random_range(20.0..60.0))];
            loop {
                let gap: f64 = Exp::new(rate / 7.0).unwrap().sample(&mut rng);
                day += Duration::days(gap.ceil() as i64);
                while next_step <= day {
                    rate = (rate * step.sample(&mut rng)).clamp(0.02, 20.0);
                    next_step += Duration::weeks(4);
                }
                if day > end {
                    break;
                }
                purchases.push((day, rng.random_range(20.0..60.0)));
            }
            CustomerHistory::new(format!("c{i}"), purchases).unwrap()
        })
        .collect();
    Transactions::new(histories)
}

#[test]
fn recent_repeat_days_discount_each_purchase_and_week_observed() {
    let first = date("2024-01-01");
    let days: Vec<(NaiveDate, f64)> = (0..20)
        .map(|k| (first + Duration::weeks(k), 10.0))
        .collect();
    let history = CustomerHistory::new("c", days.clone()).unwrap();
    let cutoff = date("2024-04-01"); // 13 weeks after the first purchase
    let (repeats, exposure) = history.recent_repeat_days(cutoff, 8.0).unwrap();
    // Repeat days at weeks 1..=13, so 12..=0 weeks old.
    let expected: f64 = (0..=12).map(|age| (-f64::from(age) / 8.0).exp()).sum();
    assert!((repeats - expected).abs() < 1e-12, "{repeats} {expected}");
    assert!((exposure - 8.0 * (1.0 - (-13.0_f64 / 8.0).exp())).abs() < 1e-12);
    // An infinite memory counts them all and every week: (x, T).
    let summary = history.summary_at(cutoff).unwrap();
    assert_eq!(
        history.recent_repeat_days(cutoff, f64::INFINITY),
        Some((summary.frequency, summary.age))
    );
    assert_eq!(history.recent_repeat_days(date("2023-12-31"), 8.0), None);
    // Folded days read as evenly spread: here they were, so nothing changes.
    let earlier = EarlierDays {
        first,
        first_amount: 10.0,
        last: first + Duration::weeks(9),
        repeat_days: 9,
        repeat_amount: 90.0,
    };
    let folded = CustomerHistory::with_earlier("c", Some(earlier), days[10..].to_vec()).unwrap();
    let (folded_repeats, folded_exposure) = folded.recent_repeat_days(cutoff, 8.0).unwrap();
    assert!((folded_repeats - repeats).abs() < 1e-12);
    assert_eq!(folded_exposure, exposure);
}

#[test]
fn the_deviance_is_zero_for_an_exact_forecast_and_twice_the_forecast_for_none() {
    assert_eq!(poisson_deviance(&[2.0, 5.0], [2.0, 5.0].into_iter()), 0.0);
    assert!((poisson_deviance(&[0.0], [1.5].into_iter()) - 3.0).abs() < 1e-12);
    let y = [3.0];
    let d = poisson_deviance(&y, [2.0].into_iter());
    assert!((d - 2.0 * (3.0 * (1.5_f64).ln() - 1.0)).abs() < 1e-12);
}

#[test]
fn the_memory_follows_how_fast_the_shops_rates_drift() {
    let today = date(TODAY);
    let steady = RecentRate::params()
        .max_window_weeks(13.0)
        .fit(&shop(1500, 0.0, 3), today)
        .unwrap();
    let drifting = RecentRate::params()
        .max_window_weeks(13.0)
        .fit(&shop(1500, 0.6, 3), today)
        .unwrap();
    println!("steady {steady:?}\ndrifting {drifting:?}");
    assert!(steady.memory_weeks >= 26.0, "{steady:?}");
    assert!(drifting.memory_weeks <= 8.0, "{drifting:?}");
    for fitted in [&steady, &drifting] {
        assert_eq!(fitted.training_cutoff, today - Duration::days(91));
        assert_eq!(fitted.training_customers, 1500);
        assert_eq!(fitted.deviances.len(), MEMORIES.len());
        let best = fitted
            .deviances
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let chosen = MEMORIES
            .iter()
            .position(|&m| m == fitted.memory_weeks)
            .unwrap();
        assert_eq!(fitted.deviances[chosen], best);
    }
}

#[test]
fn a_forecast_is_the_rate_over_the_weeks_times_the_spend() {
    let (transactions, today) = (shop(400, 0.3, 11), date(TODAY));
    let fitted = RecentRate::params()
        .max_window_weeks(13.0)
        .fit(&transactions, today)
        .unwrap();
    let cohort = transactions.cohort_at(today);
    let bgnbd = BgNbd::fit(&cohort.summaries).unwrap();
    let gamma_gamma = GammaGamma::fit(&cohort.summaries).unwrap();
    let models = CountModels {
        bgnbd: &bgnbd,
        gamma_gamma: &gamma_gamma,
    };
    let spend = fitted.expected_spend(&cohort, models, 26.0).unwrap();
    let (r, alpha, memory) = (
        bgnbd.parameters.r,
        bgnbd.parameters.alpha,
        fitted.memory_weeks,
    );
    for ((history, s), forecast) in cohort.members.iter().zip(&cohort.summaries).zip(&spend) {
        let cutoff = today.num_days_from_ce();
        let first = history.first_purchase().unwrap().num_days_from_ce();
        let weight = |day: i32| (-f64::from(cutoff - day) / 7.0 / memory).exp();
        let repeats: f64 = history.purchase_days()[1..]
            .iter()
            .map(|p| weight(p.day))
            .sum();
        let exposure = memory * (1.0 - weight(first));
        let expected = 26.0 * (r + repeats) / (alpha + exposure) * gamma_gamma.expected_spend(s);
        assert!(
            (forecast - expected).abs() <= 1e-9 * expected,
            "{forecast} {expected}"
        );
    }
    assert!(fitted.expected_spend(&cohort, models, 0.0).is_err());
}

#[test]
fn a_split_too_small_or_without_buyers_is_refused_with_the_reason() {
    let today = date(TODAY);
    let one = Transactions::new(vec![
        CustomerHistory::new("a", [(date("2024-01-01"), 10.0), (date("2024-12-01"), 5.0)]).unwrap(),
    ]);
    let error = RecentRate::params().fit(&one, today).unwrap_err();
    assert!(
        matches!(&error, ModelError::RecentRateTraining(reason) if reason.contains("1 customers")),
        "{error}"
    );
    // Thirty customers who all stopped buying before the window.
    let quiet = Transactions::new(
        (0..30)
            .map(|i| {
                let first = date("2024-01-01") + Duration::days(i);
                CustomerHistory::new(
                    format!("c{i}"),
                    [(first, 10.0), (first + Duration::days(30), 5.0)],
                )
                .unwrap()
            })
            .collect(),
    );
    let error = (RecentRate::params().max_window_weeks(13.0))
        .fit(&quiet, today)
        .unwrap_err();
    assert!(
        matches!(&error, ModelError::RecentRateTraining(reason) if reason.contains("0 of the 30")),
        "{error}"
    );
    assert!(
        RecentRate::params()
            .fit(&Transactions::default(), today)
            .is_err()
    );
}
