//! The loyalty rules end to end through the service loop, on the in-memory store.
//! The same behaviours are tested against DynamoDB Local over HTTP in `purchase`,
//! `redemption`, `review` and `referral`.

use chrono::{DateTime, Duration, Utc};
use rapport_integration::{at, cid, config};
use rapport_shared::domain::{
    DomainError, LineItemInput, LoyaltyRules, PurchaseEvent, PurchaseInput, RedemptionInput,
};
use rapport_shared::service::{ServiceError, record_purchase, redeem};
use rapport_shared::store::{LedgerStore, MemoryStore, ProfileStore};
use std::sync::Arc;

/// The purchase loop with the default referral programme.
async fn purchase_with_default_referrals(
    store: &MemoryStore,
    rules: &LoyaltyRules,
    event: &PurchaseEvent,
    now: DateTime<Utc>,
) -> Result<rapport_shared::domain::PurchaseReceipt, ServiceError> {
    record_purchase(
        store,
        rules,
        &rapport_shared::domain::ReferralRules::default(),
        event,
        now,
    )
    .await
}

fn rules() -> LoyaltyRules {
    config("rules", &[]).rules
}

fn purchase(event: &str, customer: &str, order: &str, when: &str, total: i64) -> PurchaseEvent {
    PurchaseInput {
        event_id: Some(event.into()),
        kind: Some("purchase".into()),
        customer_id: Some(customer.into()),
        order_id: Some(order.into()),
        occurred_at: Some(when.into()),
        currency: Some("USD".into()),
        total_minor: Some(total),
        items: Some(vec![LineItemInput {
            sku: Some("SKU-1".into()),
            quantity: Some(1),
            unit_price_minor: Some(total),
            name: None,
        }]),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn refund(event: &str, customer: &str, order: &str, when: &str, amount: i64) -> PurchaseEvent {
    PurchaseInput {
        event_id: Some(event.into()),
        kind: Some("refund".into()),
        customer_id: Some(customer.into()),
        order_id: Some(order.into()),
        occurred_at: Some(when.into()),
        currency: Some("USD".into()),
        total_minor: Some(amount),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

async fn ledger_sum(store: &MemoryStore, c: &str) -> i64 {
    store
        .ledger(&cid(c))
        .await
        .unwrap()
        .iter()
        .map(|e| e.delta)
        .sum()
}

#[tokio::test]
async fn purchase_awards_points_and_aggregates() {
    let store = MemoryStore::new();
    let now = at("2026-11-01T10:00:00Z");
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 12_345),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            r.points_delta,
            r.points_balance,
            r.orders,
            r.net_spend_minor
        ),
        (123, 123, 1, 12_345)
    );
    assert_eq!(r.tier.0, "bronze");
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e2", "c1", "o2", "2026-10-05T10:00:00Z", 5_000),
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.points_balance, 173);
    let p = store.profile(&cid("c1")).await.unwrap().unwrap().value;
    assert_eq!(p.purchase_days.len(), 2);
    assert_eq!(p.repeat_spend_minor, 5_000);
    assert_eq!(p.first_purchase_at, Some(at("2026-10-01T10:00:00Z")));
    assert_eq!(p.last_purchase_at, Some(at("2026-10-05T10:00:00Z")));
    assert_eq!(ledger_sum(&store, "c1").await, p.points_balance);
}

#[tokio::test]
async fn tiers_promote_on_spend_and_multiply_later_orders() {
    let store = MemoryStore::new();
    let now = at("2026-11-01T10:00:00Z");
    // 600.00 crosses silver (500.00): earned at bronze, promotes afterwards.
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 60_000),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            r.points_delta,
            r.previous_tier.0.as_str(),
            r.tier.0.as_str()
        ),
        (600, "bronze", "silver")
    );
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e2", "c1", "o2", "2026-10-02T10:00:00Z", 10_000),
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.points_delta, 125, "silver earns x1.25");
    // A refund that drops trailing spend below the threshold demotes.
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &refund("e3", "c1", "o1", "2026-10-03T10:00:00Z", 60_000),
        now,
    )
    .await
    .unwrap();
    assert_eq!((r.points_delta, r.tier.0.as_str()), (-600, "bronze"));
}

#[tokio::test]
async fn spend_older_than_a_year_stops_counting_for_the_tier() {
    let store = MemoryStore::new();
    let now = at("2026-11-01T10:00:00Z");
    purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2025-01-01T10:00:00Z", 60_000),
        now,
    )
    .await
    .unwrap();
    let r = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e2", "c1", "o2", "2026-06-01T10:00:00Z", 1_000),
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.tier.0, "bronze");
}

#[tokio::test]
async fn partial_refunds_add_up_to_exactly_the_orders_points() {
    let store = MemoryStore::new();
    let now = at("2026-11-01T10:00:00Z");
    purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 9_999),
        now,
    )
    .await
    .unwrap();
    let mut total = 0;
    for (i, part) in [3_333, 3_333, 3_333].into_iter().enumerate() {
        let r = purchase_with_default_referrals(
            &store,
            &rules(),
            &refund(&format!("r{i}"), "c1", "o1", "2026-10-02T10:00:00Z", part),
            now,
        )
        .await
        .unwrap();
        total += r.points_delta;
    }
    assert_eq!(total, -99);
    let p = store.profile(&cid("c1")).await.unwrap().unwrap().value;
    assert_eq!((p.points_balance, p.net_spend_minor), (0, 0));
    let err = purchase_with_default_referrals(
        &store,
        &rules(),
        &refund("r9", "c1", "o1", "2026-10-02T10:00:00Z", 1),
        now,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ServiceError::Domain(DomainError::Invalid(ref f)) if f.field == "total_minor"),
        "{err:?}"
    );
    assert_eq!(ledger_sum(&store, "c1").await, 0);
}

#[tokio::test]
async fn refund_of_unknown_order_and_reused_order_id_are_refused() {
    let store = MemoryStore::new();
    let now = Utc::now();
    let err = purchase_with_default_referrals(
        &store,
        &rules(),
        &refund("r1", "c1", "nope", "2026-10-02T10:00:00Z", 10),
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        ServiceError::Domain(DomainError::UnknownOrder(_))
    ));
    purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 100),
        now,
    )
    .await
    .unwrap();
    let err = purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e2", "c1", "o1", "2026-10-01T10:00:00Z", 100),
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        ServiceError::Domain(DomainError::OrderExists(_))
    ));
}

#[tokio::test]
async fn duplicates_replay_the_first_answer_and_reused_ids_conflict() {
    let store = MemoryStore::new();
    let event = purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 1_000);
    let first = purchase_with_default_referrals(&store, &rules(), &event, Utc::now())
        .await
        .unwrap();
    let again =
        purchase_with_default_referrals(&store, &rules(), &event, Utc::now() + Duration::hours(1))
            .await
            .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        rapport_shared::domain::PurchaseReceipt {
            duplicate: false,
            ..again
        },
        first
    );
    let other = purchase("e1", "c1", "o2", "2026-10-01T10:00:00Z", 2_000);
    let err = purchase_with_default_referrals(&store, &rules(), &other, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::KeyReused("event_id")));
    assert_eq!(ledger_sum(&store, "c1").await, 10);
}

#[tokio::test]
async fn concurrent_distinct_events_all_count() {
    let store = Arc::new(MemoryStore::new());
    let rules = Arc::new(rules());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, rules) = (Arc::clone(&store), Arc::clone(&rules));
            tokio::spawn(async move {
                let e = purchase(
                    &format!("e{i}"),
                    "c1",
                    &format!("o{i}"),
                    "2026-10-01T10:00:00Z",
                    1_000,
                );
                purchase_with_default_referrals(store.as_ref(), &rules, &e, Utc::now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let p = store.profile(&cid("c1")).await.unwrap().unwrap().value;
    assert_eq!((p.orders, p.points_balance), (50, 500));
    assert_eq!(ledger_sum(&store, "c1").await, 500);
}

#[tokio::test]
async fn redemptions_spend_points_once() {
    let store = MemoryStore::new();
    let now = Utc::now();
    purchase_with_default_referrals(
        &store,
        &rules(),
        &purchase("e1", "c1", "o1", "2026-10-01T10:00:00Z", 50_000),
        now,
    )
    .await
    .unwrap();
    let req = |rid: &str, points| {
        RedemptionInput {
            redemption_id: Some(rid.into()),
            customer_id: Some("c1".into()),
            points: Some(points),
            reward_id: None,
        }
        .validate(cid("c1"))
        .unwrap()
    };
    let first = redeem(&store, &rules(), &[], &req("r1", 200), now)
        .await
        .unwrap();
    assert_eq!(
        (first.points_balance, first.redemption.value_minor),
        (300, 200)
    );
    assert!(first.redemption.coupon_code.starts_with("RP-"));
    let again = redeem(&store, &rules(), &[], &req("r1", 200), now)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.redemption.coupon_code, first.redemption.coupon_code);
    let err = redeem(&store, &rules(), &[], &req("r2", 301), now)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ServiceError::Domain(DomainError::InsufficientPoints {
            balance: 300,
            requested: 301
        })
    ));
    let err = redeem(&store, &rules(), &[], &req("r1", 100), now)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::KeyReused("redemption_id")));
    let unknown = RedemptionInput {
        redemption_id: Some("r".into()),
        customer_id: Some("ghost".into()),
        points: Some(1),
        reward_id: None,
    }
    .validate(cid("ghost"))
    .unwrap();
    assert!(matches!(
        redeem(&store, &rules(), &[], &unknown, now)
            .await
            .unwrap_err(),
        ServiceError::UnknownCustomer
    ));
    assert_eq!(ledger_sum(&store, "c1").await, 300);
}

#[test]
fn validation_names_the_field() {
    let base = || PurchaseInput {
        event_id: Some("e".into()),
        kind: Some("purchase".into()),
        customer_id: Some("c".into()),
        order_id: Some("o".into()),
        occurred_at: Some("2026-10-01T10:00:00Z".into()),
        currency: Some("USD".into()),
        total_minor: Some(100),
        items: Some(vec![LineItemInput {
            sku: Some("s".into()),
            quantity: Some(1),
            unit_price_minor: Some(100),
            name: None,
        }]),
        ..Default::default()
    };
    let field = |input: PurchaseInput| input.validate().unwrap_err().field;
    assert!(base().validate().is_ok());
    assert_eq!(
        field(PurchaseInput {
            event_id: None,
            ..base()
        }),
        "event_id"
    );
    assert_eq!(
        field(PurchaseInput {
            kind: Some("gift".into()),
            ..base()
        }),
        "kind"
    );
    assert_eq!(
        field(PurchaseInput {
            occurred_at: Some("yesterday".into()),
            ..base()
        }),
        "occurred_at"
    );
    assert_eq!(
        field(PurchaseInput {
            currency: Some("EURO".into()),
            ..base()
        }),
        "currency"
    );
    assert_eq!(
        field(PurchaseInput {
            total_minor: Some(-1),
            ..base()
        }),
        "total_minor"
    );
    assert_eq!(
        field(PurchaseInput {
            total_minor: Some(99),
            ..base()
        }),
        "items"
    );
    assert_eq!(
        field(PurchaseInput {
            items: None,
            ..base()
        }),
        "items"
    );
    assert_eq!(
        field(PurchaseInput {
            items: Some(vec![LineItemInput {
                sku: Some("s".into()),
                quantity: Some(0),
                unit_price_minor: Some(100),
                name: None,
            }]),
            ..base()
        }),
        "items[0].quantity"
    );
    assert_eq!(
        field(PurchaseInput {
            email: Some("nope".into()),
            ..base()
        }),
        "email"
    );
    assert_eq!(
        field(PurchaseInput {
            birthday: Some("13-01".into()),
            ..base()
        }),
        "birthday"
    );
}

#[tokio::test]
async fn the_service_recovery_flag_lapses_after_its_expiry() {
    use rapport_shared::domain::{ReviewInput, ReviewRules};
    use rapport_shared::service::record_review;
    let store = MemoryStore::new();
    let reviews = ReviewRules {
        recovery_expiry_days: 30,
        ..ReviewRules::default()
    };
    let opened = at("2026-11-01T10:00:00Z");
    let low = ReviewInput {
        event_id: Some("r1".into()),
        customer_id: Some("c1".into()),
        order_id: Some("o1".into()),
        sku: Some("s1".into()),
        rating: Some(1),
        occurred_at: Some("2026-11-01T10:00:00Z".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let loyalty = rules();
    let result = record_review(&store, &loyalty, &reviews, &low, opened)
        .await
        .unwrap();
    assert!(result.alert.is_some() && result.receipt.service_recovery);
    let p = store.profile(&cid("c1")).await.unwrap().unwrap().value;
    assert!(p.service_recovery_open(opened + Duration::days(29), 30));
    assert!(!p.service_recovery_open(opened + Duration::days(30), 30));
    // After expiry a new low rating opens the flag, and alerts, again.
    let again = rapport_shared::domain::ReviewEvent {
        event_id: rapport_shared::domain::EventId::parse("e", "r2").unwrap(),
        ..low
    };
    let result = record_review(
        &store,
        &loyalty,
        &reviews,
        &again,
        opened + Duration::days(31),
    )
    .await
    .unwrap();
    assert!(result.alert.is_some());
    // Unverified (no order): no points either time.
    assert_eq!(ledger_sum(&store, "c1").await, 0);
}

#[tokio::test]
async fn held_referral_rewards_move_to_the_balance_after_the_window() {
    use rapport_shared::domain::{ReferralInput, ReferralRules};
    use rapport_shared::service::{record_referral, referral_code};
    let store = MemoryStore::new();
    let referrals = ReferralRules {
        hold_days: 30,
        ..ReferralRules::default()
    };
    let t0 = at("2026-10-01T10:00:00Z");
    let buy = |event: &str, customer: &str, order: &str, total: i64| {
        purchase(event, customer, order, "2026-10-01T10:00:00Z", total)
    };
    record_purchase(
        &store,
        &rules(),
        &referrals,
        &buy("e1", "ref", "o1", 1_000),
        t0,
    )
    .await
    .unwrap();
    let code = referral_code(&store, &cid("ref"), t0).await.unwrap();
    let event = ReferralInput {
        event_id: Some("x1".into()),
        referral_code: Some(code),
        referee_customer_id: Some("new".into()),
        occurred_at: Some("2026-10-01T10:00:00Z".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let receipt = record_referral(&store, &rules(), &referrals, &event, t0)
        .await
        .unwrap();
    assert_eq!(
        receipt.status,
        rapport_shared::domain::ReferralStatus::Pending
    );
    let r = record_purchase(
        &store,
        &rules(),
        &referrals,
        &buy("e2", "new", "o2", 3_000),
        t0,
    )
    .await
    .unwrap();
    assert_eq!((r.points_balance, r.points_pending), (30, 250));

    // Inside the window nothing moves; after it, the next write releases the hold.
    let day29 = t0 + Duration::days(29);
    let r = record_purchase(
        &store,
        &rules(),
        &referrals,
        &buy("e3", "new", "o3", 100),
        day29,
    )
    .await
    .unwrap();
    assert_eq!((r.points_balance, r.points_pending), (31, 250));
    let day31 = t0 + Duration::days(31);
    let r = record_purchase(
        &store,
        &rules(),
        &referrals,
        &buy("e4", "new", "o4", 100),
        day31,
    )
    .await
    .unwrap();
    assert_eq!((r.points_balance, r.points_pending), (32 + 250, 0));
    let r = record_purchase(
        &store,
        &rules(),
        &referrals,
        &buy("e5", "ref", "o5", 100),
        day31,
    )
    .await
    .unwrap();
    assert_eq!((r.points_balance, r.points_pending), (11 + 500, 0));
    // A refund after the window cancels nothing: the rewards are the customers' now.
    let late_refund = refund("e6", "new", "o2", "2026-11-01T10:00:00Z", 3_000);
    let r = record_purchase(&store, &rules(), &referrals, &late_refund, day31)
        .await
        .unwrap();
    assert_eq!(r.points_pending, 0);
    assert_eq!(r.points_balance, 32 + 250 - 30);
    for c in ["new", "ref"] {
        let p = store.profile(&cid(c)).await.unwrap().unwrap().value;
        assert_eq!(ledger_sum(&store, c).await, p.points_balance, "{c}");
    }
}
