use super::*;
use crate::domain::{Profile, PurchaseInput};
use crate::service::record_purchase;
use crate::store::{LedgerStore, MemoryStore, ProfileStore};

fn now() -> DateTime<Utc> {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn rules() -> LoyaltyRules {
    crate::domain::loyalty::tests::rules()
}

fn event(
    id: &str,
    kind: &str,
    customer: &str,
    order: &str,
    days_ago: i64,
    total: i64,
) -> PurchaseEvent {
    let mut body = serde_json::json!({
        "event_id": id, "kind": kind, "customer_id": customer, "order_id": order,
        "occurred_at": (now() - chrono::Duration::days(days_ago)).to_rfc3339(),
        "currency": "USD", "total_minor": total,
    });
    if kind == "purchase" {
        body["items"] =
            serde_json::json!([{"sku": "TEA", "quantity": 1, "unit_price_minor": total}]);
    }
    serde_json::from_value::<PurchaseInput>(body)
        .unwrap()
        .validate()
        .unwrap()
}

/// Two years of a shop: `n` customers with a few orders each, one refund each.
fn shop(n: usize) -> Vec<CustomerEvents> {
    (0..n)
        .map(|c| {
            let customer = format!("c-{c}");
            let mut events: Vec<PurchaseEvent> = (0..1 + c % 4)
                .map(|o| {
                    let days = 700 - (c as i64 * 7 + o as i64 * 90) % 690;
                    event(
                        &format!("e-{c}-{o}"),
                        "purchase",
                        &customer,
                        &format!("o-{c}-{o}"),
                        days,
                        1_000 + 997 * (c as i64 % 50) + 10 * o as i64,
                    )
                })
                .collect();
            events.push(event(
                &format!("r-{c}"),
                "refund",
                &customer,
                &format!("o-{c}-0"),
                5,
                300,
            ));
            CustomerEvents {
                customer: CustomerId::parse("c", &customer).unwrap(),
                events,
            }
        })
        .collect()
}

/// What the comparisons look at: the profile without its timestamps.
fn essence(p: &Profile) -> (i64, i64, u64, i64, String, usize) {
    (
        p.points_balance,
        p.points_pending,
        p.orders,
        p.net_spend_minor,
        p.tier.to_string(),
        p.purchase_days.len(),
    )
}

#[tokio::test]
async fn an_import_gives_the_profiles_a_replay_of_the_same_events_gives() {
    let shop = shop(40);
    let imported = MemoryStore::new();
    let settings = ImportSettings { award_points: true };
    let referrals = ReferralRules::default();
    let tally = import(&imported, &rules(), &referrals, settings, &shop, now())
        .await
        .unwrap();
    assert_eq!(tally.customers, 40);
    assert_eq!(tally.refunds, 40);
    assert_eq!(
        tally.purchases,
        shop.iter().map(|c| c.events.len() - 1).sum::<usize>()
    );
    assert!(tally.rejected.is_empty(), "{:?}", tally.rejected);
    assert!(
        tally.transactions < 40,
        "customers share transactions: {}",
        tally.transactions
    );

    let replayed = MemoryStore::new();
    for customer in &shop {
        let mut events = customer.events.clone();
        events.sort_by_key(|e| (e.occurred_at, e.kind == PurchaseKind::Refund));
        for e in &events {
            record_purchase(&replayed, &rules(), &referrals, e, now())
                .await
                .unwrap();
        }
    }
    for customer in &shop {
        let a = imported
            .profile(&customer.customer)
            .await
            .unwrap()
            .unwrap()
            .value;
        let b = replayed
            .profile(&customer.customer)
            .await
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(essence(&a), essence(&b), "{}", customer.customer);
        let ledger: i64 = imported
            .ledger(&customer.customer)
            .await
            .unwrap()
            .iter()
            .map(|e| e.delta)
            .sum();
        assert_eq!(ledger, a.points_balance, "the balance is the ledger's sum");
    }
    // A live delivery of an imported event is the duplicate it is.
    let again = record_purchase(&imported, &rules(), &referrals, &shop[3].events[0], now())
        .await
        .unwrap();
    assert!(again.duplicate);
}

#[tokio::test]
async fn without_points_spend_and_tiers_are_built_and_a_rerun_adds_nothing() {
    let shop = shop(12);
    let store = MemoryStore::new();
    let referrals = ReferralRules::default();
    let settings = ImportSettings::default();
    let first = import(&store, &rules(), &referrals, settings, &shop, now())
        .await
        .unwrap();
    let profile = store
        .profile(&shop[5].customer)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(profile.points_balance, 0);
    assert!(profile.net_spend_minor > 0);
    let again = import(&store, &rules(), &referrals, settings, &shop, now())
        .await
        .unwrap();
    assert_eq!(again.purchases + again.refunds, 0);
    assert_eq!(again.already, first.purchases + first.refunds);
    assert_eq!(again.transactions, 0);
    assert_eq!(
        store
            .profile(&shop[5].customer)
            .await
            .unwrap()
            .unwrap()
            .value,
        profile
    );
}

#[tokio::test]
async fn a_long_history_goes_in_several_transactions_and_bad_events_are_reported() {
    let customer = "loyal";
    let mut events: Vec<PurchaseEvent> = (0..120)
        .map(|o| {
            event(
                &format!("l-{o}"),
                "purchase",
                customer,
                &format!("lo-{o}"),
                600 - 4 * o,
                2_000,
            )
        })
        .collect();
    events.push(event(
        "l-bad-refund",
        "refund",
        customer,
        "never-ordered",
        3,
        100,
    ));
    events.push(event(
        "l-future",
        "purchase",
        customer,
        "lo-future",
        -30,
        100,
    ));
    let history = vec![CustomerEvents {
        customer: CustomerId::parse("c", customer).unwrap(),
        events,
    }];
    let store = MemoryStore::new();
    let settings = ImportSettings { award_points: true };
    let tally = import(
        &store,
        &rules(),
        &ReferralRules::default(),
        settings,
        &history,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(tally.purchases, 120);
    assert!(tally.transactions >= 3, "{}", tally.transactions);
    let reasons: Vec<_> = tally.rejected.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(
        reasons,
        ["l-bad-refund", "l-future"],
        "{:?}",
        tally.rejected
    );
    let profile = store
        .profile(&history[0].customer)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(profile.orders, 120);
    let ledger: i64 = store
        .ledger(&history[0].customer)
        .await
        .unwrap()
        .iter()
        .map(|e| e.delta)
        .sum();
    assert_eq!(ledger, profile.points_balance);
}
