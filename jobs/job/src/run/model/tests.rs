//! Unit tests of the model phase in `model.rs`.

use super::*;
use rapport_models::ScoreParams;
use rapport_models::simulate::Simulation;
use rapport_shared::domain::Profile;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The day the simulated shops' histories end on.
const TODAY: &str = "2025-02-28";

/// A shop of `customers` from the models' own process, from 2023 up to [`TODAY`].
fn simulated_shop(customers: usize) -> Transactions {
    Simulation::example_shop(day(TODAY))
        .seed(3)
        .transactions(customers)
        .unwrap()
}

#[test]
fn a_stored_fit_from_histories_scores_a_scanned_customer_as_the_model_does() {
    let (shop, today) = (simulated_shop(600), day(TODAY));
    let cohort = shop.cohort_at(today);
    for kind in [CountModelKind::Hybrid, CountModelKind::RecentRate] {
        let scored = (ShopParams::default().fit_model(&shop, &cohort, kind, None)).unwrap();
        assert_eq!(scored.model.count.kind(), kind);

        // Stored between the fit and the deliver steps and read back, it scores a
        // scanned customer from the profile's purchase days as the model does.
        let fitted = Fitted {
            next_orders: (scored.model).next_order_forecaster(Default::default(), None),
            kind,
            why: "chosen by the backtest".into(),
            fallbacks: Vec::new(),
            model_version: format!("m {kind}"),
            horizon_weeks: 52.0,
            model: scored.model,
        };
        let stored: Fitted =
            serde_json::from_str(&serde_json::to_string(&fitted).unwrap()).unwrap();
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
        assert!(got.clv_minor > 0, "{kind}: {got:?}");
        assert_eq!(got.model_version, format!("m {kind}"));
    }
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
