//! Crafted event fields: recipient injection, far-future and ancient timestamps,
//! self-referral at conversion, an erased customer's referral code; and what an
//! erasure leaves: a job under way while it happens, the address's tombstone.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use rapport_integration::{Reply, TestApi, cid, delivery_settings, emulator_sender, purchase};
use rapport_shared::domain::outreach::{MessageKind, Planned};
use rapport_shared::domain::{JobState, address_key};
use rapport_shared::service::deliver::{Delivered, deliver};
use rapport_shared::store::ScoreStore;
use rapport_shared::store::dynamo::keys;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Table = BTreeMap<(String, String), std::collections::HashMap<String, AttributeValue>>;

/// Every item of the test's table, by key: what "nothing changed" is checked against.
async fn table(api: &TestApi) -> Table {
    let mut pages = api
        .store
        .client()
        .scan()
        .table_name(api.store.table())
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    let mut items = BTreeMap::new();
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        let text = |k: &str| item[k].as_s().unwrap().clone();
        items.insert((text(keys::PK), text(keys::SK)), item);
    }
    items
}

fn assert_refused(reply: &Reply, status: u16, field: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.field(), field, "{:?}", reply.body);
}

/// A customer with one order and an address, and their referral code.
async fn customer_with_code(api: &TestApi, id: &str, email: &str) -> String {
    let mut order = purchase(&format!("p-{id}"), id, &format!("o-{id}"), 1_000);
    order["email"] = email.into();
    let r = api.post("/v1/events/purchase", &order).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = api.get(&format!("/v1/customers/{id}/referral-code")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["code"].as_str().unwrap().to_owned()
}

fn referral(event: &str, code: &str, referee: &str) -> Value {
    json!({
        "event_id": event,
        "referral_code": code,
        "referee_customer_id": referee,
        "occurred_at": Utc::now().to_rfc3339(),
    })
}

#[tokio::test]
async fn an_address_that_names_more_than_one_recipient_is_refused() {
    let api = TestApi::start().await;
    let code = customer_with_code(&api, "ann", "ann@x.example").await;
    let before = table(&api).await;
    for injected in [
        "me@x.com>,<other@y.com",
        "me@x.com,other@y.com",
        "me@x.com;other@y.com",
        "Me <me@x.com>",
        "\"me@x.com\" <other@y.com>",
        "me@x.com\r\nBcc: other@y.com",
    ] {
        // The customer's next order, with an address that would mail two people.
        let mut order = purchase("p-2", "ann", "o-2", 2_000);
        order["email"] = injected.into();
        let r = api.post("/v1/events/purchase", &order).await;
        assert_refused(&r, 422, "email");
        assert!(r.problem_type().ends_with("/invalid-field"), "{:?}", r.body);

        let mut arrival = referral("x-1", &code, "bob");
        arrival["referee_email"] = injected.into();
        let r = api.post("/v1/events/referral", &arrival).await;
        assert_refused(&r, 422, "referee_email");
    }
    assert_eq!(table(&api).await, before, "a refused event writes nothing");
    // The event ids were not used up: the honest events go through.
    let mut order = purchase("p-2", "ann", "o-2", 2_000);
    order["email"] = "ann@x.example".into();
    let r = api.post("/v1/events/purchase", &order).await;
    assert_eq!((r.status, &r.body["duplicate"]), (200, &json!(false)));
}

#[tokio::test]
async fn an_event_dated_far_ahead_or_long_ago_is_refused() {
    let api = TestApi::start().await;
    let code = customer_with_code(&api, "ann", "ann@x.example").await;
    let before = table(&api).await;
    let now = Utc::now();
    for at in [
        // A purchase dated in 2100 would count as the latest for 75 years: the tier
        // window would stay at its spend until then.
        now + Duration::days(75 * 365),
        now + Duration::minutes(10),
        now - Duration::days(10 * 365),
    ] {
        let mut order = purchase("p-2", "ann", "o-2", 200_000);
        order["occurred_at"] = at.to_rfc3339().into();
        let r = api.post("/v1/events/purchase", &order).await;
        assert_refused(&r, 422, "occurred_at");

        let mut arrival = referral("x-1", &code, "bob");
        arrival["occurred_at"] = at.to_rfc3339().into();
        assert_refused(
            &api.post("/v1/events/referral", &arrival).await,
            422,
            "occurred_at",
        );

        let review = json!({
            "event_id": "r-1", "customer_id": "ann", "order_id": "o-ann", "sku": "SKU-1",
            "rating": 5, "occurred_at": at.to_rfc3339(),
        });
        assert_refused(
            &api.post("/v1/events/review", &review).await,
            422,
            "occurred_at",
        );
    }
    assert_eq!(table(&api).await, before, "a refused event writes nothing");
    let profile = api.get("/v1/customers/ann").await.body;
    assert_eq!(profile["tier"], "bronze");
    assert_eq!(profile["orders"], 1);
}

#[tokio::test]
async fn a_first_order_with_the_referrers_address_rewards_nobody() {
    let api = TestApi::start_with(&[("RAPPORT_REFERRAL_HOLD_DAYS", "0")]).await;
    let code = customer_with_code(&api, "ann", "ann@x.example").await;
    // Attributed without an address, so the mailbox check at attribution passes.
    let r = api
        .post("/v1/events/referral", &referral("x-1", &code, "bob"))
        .await;
    assert_eq!((r.status, &r.body["status"]), (200, &json!("pending")));
    let ann_before: Vec<_> = table(&api)
        .await
        .into_iter()
        .filter(|((pk, sk), _)| pk == "CUSTOMER#ann" && !sk.starts_with("REFERRAL#"))
        .collect();

    // The referee's qualifying first order gives the referrer's own mailbox.
    let mut order = purchase("p-bob", "bob", "o-bob", 5_000);
    order["email"] = "Ann+1@x.example".into();
    let r = api.post("/v1/events/purchase", &order).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let reason = "self-referral: the referee's email address is the referrer's";
    assert_eq!(
        r.body["referral"],
        json!({"status": "rejected", "reason": reason})
    );
    assert_eq!(r.body["points_delta"], 50, "the order's own points only");
    assert_eq!(
        (&r.body["points_balance"], &r.body["points_pending"]),
        (&json!(50), &json!(0))
    );

    let bob = api.get("/v1/customers/bob").await.body;
    assert_eq!(
        (&bob["referred"], &bob["referred_reason"]),
        (&json!("rejected"), &json!(reason))
    );
    assert_eq!(
        (&bob["points_balance"], &bob["points_pending"]),
        (&json!(50), &json!(0))
    );
    assert_eq!(api.ledger_sum("bob").await, 50);
    // The referrer's items are as they were; only the referral record says why.
    let ann_after: Vec<_> = table(&api)
        .await
        .into_iter()
        .filter(|((pk, sk), _)| pk == "CUSTOMER#ann" && !sk.starts_with("REFERRAL#"))
        .collect();
    assert_eq!(ann_after, ann_before);
    let ann = api.get("/v1/customers/ann").await.body;
    assert_eq!(
        (&ann["points_balance"], &ann["referrals_converted"]),
        (&json!(10), &json!(0))
    );
    let export = api.get("/v1/customers/ann/export").await.body;
    let made = &export["referrals_made"][0];
    assert_eq!(
        (&made["status"], &made["reason"]),
        (&json!("rejected"), &json!(reason))
    );

    // A later order does not try again.
    let r = api
        .post(
            "/v1/events/purchase",
            &purchase("p-bob-2", "bob", "o-bob-2", 5_000),
        )
        .await;
    assert_eq!((r.status, &r.body["points_balance"]), (200, &json!(100)));
    assert!(r.body.get("referral").is_none(), "{:?}", r.body);
    assert_eq!(
        api.get("/v1/customers/ann").await.body["points_balance"],
        10
    );
}

#[tokio::test]
async fn an_erased_customers_referral_code_refers_nobody() {
    let api = TestApi::start().await;
    let code = customer_with_code(&api, "ann", "ann@x.example").await;
    let r = api.send("DELETE", "/v1/customers/ann", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let before = table(&api).await;

    let r = api
        .post("/v1/events/referral", &referral("x-1", &code, "bob"))
        .await;
    assert_refused(&r, 404, "referral_code");
    assert!(
        r.problem_type().ends_with("/unknown-referral-code"),
        "{:?}",
        r.body
    );
    // Exactly as a code nobody has.
    let r = api
        .post("/v1/events/referral", &referral("x-2", "ABCDEFGH", "bob"))
        .await;
    assert_refused(&r, 404, "referral_code");
    assert_eq!(
        table(&api).await,
        before,
        "a refused referral writes nothing"
    );
    assert_eq!(api.get("/v1/customers/bob").await.status, 404);
}

#[tokio::test]
async fn a_job_under_way_during_an_erasure_neither_mails_nor_keeps_state() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let addresses = [
        format!("ann-{tag}@example.com"),
        format!("bob-{tag}@example.com"),
    ];
    for (id, email) in ["ann", "bob"].iter().zip(&addresses) {
        // Silver at once: a tier-change notice is due.
        let mut order = purchase(&format!("p-{id}"), id, &format!("o-{id}"), 60_000);
        order["email"] = email.as_str().into();
        order["marketing_consent"] = true.into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    // An earlier run left state for ann; bob has none yet.
    let state = |id: &str| JobState {
        customer_id: cid(id),
        scores: None,
        messages: Vec::new(),
    };
    api.store.write_job_states(&[state("ann")]).await.unwrap();

    // The run reads both customers; then both are erased.
    let scanned = rapport_job::run::scan_all(&api.store, 2).await.unwrap();
    assert_eq!(scanned.customers.len(), 2);
    for id in ["ann", "bob"] {
        let r = api
            .send("DELETE", &format!("/v1/customers/{id}"), None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let before = table(&api).await;

    // The run goes on with what it read: it delivers the due notice and writes the
    // state back, as it does for every customer it scanned.
    let sender = emulator_sender(&api);
    let notice = Planned {
        kind: MessageKind::TierChange,
        period: format!("silver-{}", Utc::now().date_naive()),
        expected_value_minor: 120,
        offer: None,
        reward_points: 0,
        reason: "now silver".into(),
        recommendations: Vec::new(),
    };
    for customer in &scanned.customers {
        let delivered = deliver(
            &api.store,
            sender.as_ref(),
            &delivery_settings(&api),
            &customer.profile,
            &notice,
            false,
            Utc::now(),
        )
        .await;
        assert!(
            !matches!(delivered, Ok(Delivered::Sent(_))),
            "{delivered:?}"
        );
    }
    api.store
        .write_job_states(&[state("ann"), state("bob")])
        .await
        .unwrap();

    for address in &addresses {
        assert!(
            api.mail_to(address).await.is_empty(),
            "{address} was mailed"
        );
    }
    assert_eq!(
        table(&api).await,
        before,
        "no claim, no coupon, no state came back"
    );
}

#[tokio::test]
async fn an_erased_address_cannot_be_found_by_hashing_guesses() {
    let api = TestApi::start().await;
    let email = format!("asha.rao-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut order = purchase("p-1", "asha", "o-1", 1_000);
    order["email"] = email.as_str().into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    let r = api.send("DELETE", "/v1/customers/asha", None).await;
    assert_eq!((r.status, &r.body["address"]), (200, &json!("suppressed")));

    // Whoever reads the table can hash every address they can think of; none of them
    // is stored as a bare hash, nor in any other form.
    let items = table(&api).await;
    let text = format!("{items:?}");
    for guess in [email.clone(), email.to_uppercase()] {
        assert!(
            !text.contains(&address_key(&guess)),
            "{guess} found by its SHA-256"
        );
    }
    assert!(
        !text.to_lowercase().contains(&email),
        "the address itself is stored"
    );
    let tombstones: Vec<_> = items
        .iter()
        .filter(|((_, sk), _)| sk == keys::SUPPRESSED)
        .collect();
    assert_eq!(
        tombstones.len(),
        1,
        "the address is still suppressed: {tombstones:?}"
    );
}
