//! Unit tests of the model phase in `model.rs`.

use super::*;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, CountModel};
use rapport_shared::domain::Profile;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The day the simulated shops' histories end on.
const TODAY: &str = "2025-02-28";

/// A shop of `customers` from the models' own process, from 2023 up to [`TODAY`].
fn simulated_shop(customers: usize) -> Transactions {
    let truth = BgNbdCoefficients {
        r: 0.6,
        alpha: 4.0,
        a: 0.8,
        b: 2.5,
    };
    Simulation::new(truth, day("2023-01-01"), day(TODAY))
        .seed(3)
        .transactions(customers)
        .unwrap()
}

/// A shop from the models' own process, backtested over its last 13 weeks.
fn backtest(customers: usize) -> Evaluation {
    evaluate(&simulated_shop(customers), day("2024-11-29"), day(TODAY)).unwrap()
}

#[test]
fn the_backtests_choice_scores_a_shop_with_enough_history() {
    let shop = backtest(600);
    assert!(shop.customers >= MIN_BACKTEST_CUSTOMERS);
    let default_gini = shop.clv_metrics.entries["bgnbd_churn"]
        .normalized_gini
        .unwrap();
    assert!(shop.clv_metrics.entries.contains_key("hybrid"));
    for candidate in ["bgnbd", "pareto_nbd", "mbgnbd", "hybrid", "bgnbd_churn"] {
        // Each candidate a shop can be scored with in turn is chosen, with a clear lead
        // over the default.
        let mut e = shop.clone();
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
fn a_hybrid_choice_is_fitted_on_the_shops_histories_and_scores_them() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let cohort = shop.cohort_at(today);
    let params = ScoreParams::default().horizon_weeks(52.0);
    let scored = fit_model(&shop, &cohort, &params, CountModelKind::Hybrid, None, 13.0).unwrap();
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
    let plain = fit_model(&shop, &cohort, &params, CountModelKind::Bgnbd, None, 13.0).unwrap();
    let moved = (scored.scores.iter().zip(&plain.scores))
        .filter(|(h, p)| {
            assert_eq!(h.expected_purchases, p.expected_purchases);
            (h.clv - p.clv).abs() > 1e-9 * p.clv.max(1.0)
        })
        .count();
    assert!(moved > 0);

    // Stored between the fit and the deliver steps and read back, it scores a
    // scanned customer from the profile's purchase days as the model does.
    let fitted = Fitted {
        next_orders: (scored.model).next_order_forecaster(Default::default(), None),
        kind: CountModelKind::Hybrid,
        why: "chosen by the backtest".into(),
        fallbacks: Vec::new(),
        model_version: "m hybrid".into(),
        horizon_weeks: 52.0,
        model: scored.model,
    };
    let stored: Fitted = serde_json::from_str(&serde_json::to_string(&fitted).unwrap()).unwrap();
    let (profile, _) = long_profile();
    let scanned = ScannedCustomer { profile, job: None };
    let now: DateTime<Utc> = "2024-07-01T12:00:00Z".parse().unwrap();
    let scores = score(
        &stored,
        std::slice::from_ref(&scanned),
        100.0,
        now.date_naive(),
        now,
    )
    .unwrap();
    let history = Buyer::of(&scanned.profile).unwrap().history(100.0).unwrap();
    let one = Transactions::new(vec![history]);
    let expected = fitted
        .model
        .score_cohort(&one.cohort_at(now.date_naive()))
        .unwrap();
    let got = &scores["long"];
    assert_eq!(got.clv_minor, (expected[0].clv * 100.0).round() as i64);
    assert!(got.clv_minor > 0, "{got:?}");
    assert_eq!(got.model_version, "m hybrid");
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
    let (kind, why) = choose_model(&Ok(e));
    assert_eq!(kind, CountModelKind::BgnbdChurn);
    assert!(
        why.contains("pareto_nbd ranked only 0.005 above it"),
        "{why}"
    );
}

/// A profile built through the purchase path: an order every 9 to 15 days from
/// 2018 to mid-2024, the first and every seventh refunded in full, every fifth in
/// part; and the net spend of each of its days.
fn long_profile() -> (Profile, BTreeMap<NaiveDate, i64>) {
    use rapport_shared::domain::loyalty::TierPerks;
    use rapport_shared::domain::{
        Currency, LoyaltyRules, PurchaseInput, ReferralRules, Tier, TierRule,
    };
    let rules = LoyaltyRules::new(
        Currency::parse("c", "USD").unwrap(),
        1,
        vec![TierRule {
            tier: Tier("bronze".into()),
            threshold: 0,
            multiplier_pct: 100,
            perks: TierPerks::default(),
        }],
        1,
        90,
    )
    .unwrap();
    let referrals = ReferralRules::default();
    let (mut profile, mut days) = (None, BTreeMap::new());
    let mut at: DateTime<Utc> = "2018-01-03T10:00:00Z".parse().unwrap();
    for n in 0..200i64 {
        let total = 1_000 + (n * 37) % 900;
        let event = |kind: &str, id: String, minor: i64| {
            let mut body = serde_json::json!({
                "event_id": id, "kind": kind, "customer_id": "long", "order_id": format!("o{n}"),
                "occurred_at": at.to_rfc3339(), "currency": "USD", "total_minor": minor,
            });
            if kind == "purchase" {
                body["items"] =
                    serde_json::json!([{"sku": "TEA", "quantity": 1, "unit_price_minor": minor}]);
            }
            serde_json::from_value::<PurchaseInput>(body)
                .unwrap()
                .validate()
                .unwrap()
        };
        let bought = event("purchase", format!("p{n}"), total)
            .apply(profile, None, None, &rules, &referrals, at)
            .unwrap();
        let refund = match n {
            _ if n % 7 == 0 => total,
            _ if n % 5 == 0 => total / 3,
            _ => 0,
        };
        *days.entry(at.date_naive()).or_insert(0) += total - refund;
        profile = Some(bought.profile);
        if refund > 0 {
            let refunded = event("refund", format!("r{n}"), refund)
                .apply(profile, Some(bought.order), None, &rules, &referrals, at)
                .unwrap();
            profile = Some(refunded.profile);
        }
        at += chrono::Duration::days(9 + n % 7);
    }
    (profile.unwrap(), days)
}

#[test]
fn a_buyer_with_folded_days_scores_as_with_every_day() {
    let (folded, days) = long_profile();
    assert!(folded.earlier_days.is_some(), "seven years fold");
    assert_eq!(folded.purchase_day_count(), days.len());
    let mut whole = folded.clone();
    whole.purchase_days = days;
    whole.earlier_days = None;
    let (a, b) = (Buyer::of(&folded).unwrap(), Buyer::of(&whole).unwrap());
    assert!(a.earlier.is_some() && b.earlier.is_none());
    assert!(a.days.len() < b.days.len());
    let (a, b) = (a.history(100.0).unwrap(), b.history(100.0).unwrap());
    assert_eq!(a.first_purchase(), b.first_purchase());
    assert_eq!(a.first_spend(), b.first_spend());
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);

    // The model of a shop, applied to both: the same scores at every cutoff the job
    // uses (today, the backtest's calibration end, training cutoffs).
    let (shop, today) = (simulated_shop(400), day(TODAY));
    let model = ScoreParams::default()
        .fit(&shop.cohort_at(today).summaries, None)
        .unwrap()
        .model;
    for weeks_back in [0, 13, 26, 52] {
        let cutoff = today - chrono::Duration::weeks(weeks_back);
        let (x, y) = (a.summary_at(cutoff).unwrap(), b.summary_at(cutoff).unwrap());
        assert_eq!(
            (x.frequency, x.recency, x.age),
            (y.frequency, y.recency, y.age)
        );
        assert!(close(x.monetary, y.monetary), "{x:?} {y:?}");
        let scores = model.score(&[x, y]).unwrap();
        assert!(close(scores[0].clv, scores[1].clv), "{scores:?}");
        assert!(close(scores[0].p_alive, scores[1].p_alive));
        assert_eq!(scores[0].segment, scores[1].segment);
        let (p, q) = (
            a.activity_between(cutoff, today),
            b.activity_between(cutoff, today),
        );
        assert_eq!(p.purchase_days, q.purchase_days);
        assert!(close(p.spend, q.spend));
    }
    // A digest without folded days is as before.
    let plain = Buyer {
        earlier: None,
        ..Buyer::of(&whole).unwrap()
    };
    let text = serde_json::to_string(&plain).unwrap();
    assert!(!text.contains("earlier"), "{text}");
    assert_eq!(serde_json::from_str::<Buyer>(&text).unwrap(), plain);
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
