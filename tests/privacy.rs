//! Data rights over HTTP against DynamoDB Local: the export holds everything stored
//! about a customer; erasure removes the personal data from every item while the
//! accounting stays, suppresses the address for good, answers the same receipt when
//! repeated, and keeps later events from bringing contact data back; no response of
//! the API may be kept by a cache.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::future::join_all;
use rapport_integration::{Reply, TOMBSTONE_KEY, TestApi, cid, purchase, refund};
use rapport_shared::domain::outreach::{MessageKind, MessageRecord, MessageStatus};
use rapport_shared::domain::{
    CustomerScores, Email, JobState, SuppressionCause, TombstoneKey, address_key,
};
use rapport_shared::store::dynamo::keys;
use rapport_shared::store::{
    IdempotencyStore, MessageStore, ProfileStore, ReadBackStore, ScoreStore, SuppressionStore,
};
use serde_json::{Value, json};
use std::collections::HashMap;

const REVIEW_TITLE: &str = "Chai for Asha";
const REVIEW_TEXT: &str = "I am Asha Rao from Pune and this tea is lovely";
const FIRST_TEXT: &str = "First impression, written by Asha";

fn review(event: &str, customer: &str, order: &str, title: &str, body: &str) -> Value {
    json!({
        "event_id": event,
        "customer_id": customer,
        "order_id": order,
        "sku": "SKU-1",
        "rating": 5,
        "title": title,
        "body": body,
        "occurred_at": Utc::now().to_rfc3339(),
    })
}

async fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// A referred customer with orders, a refund, a replaced review, a redemption, a
/// referral of their own, job state and a message whose error quotes the address.
/// Returns the customer's address.
async fn history(api: &TestApi) -> String {
    let email = format!("asha-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut referrer = purchase("p-ref", "ref", "o-ref", 3_000);
    referrer["email"] = "ravi@example.com".into();
    ok(api.post("/v1/events/purchase", &referrer).await).await;
    let code = ok(api.get("/v1/customers/ref/referral-code").await).await["code"].clone();
    let referral = json!({
        "event_id": "ref-asha",
        "referral_code": code,
        "referee_customer_id": "asha",
        "referee_email": email,
        "occurred_at": Utc::now().to_rfc3339(),
    });
    ok(api.post("/v1/events/referral", &referral).await).await;

    let mut first = purchase("p-1", "asha", "o-1", 12_000);
    first["email"] = email.clone().into();
    first["locale"] = "hi-IN".into();
    first["birthday"] = "07-31".into();
    first["timezone"] = "Asia/Kolkata".into();
    first["marketing_consent"] = true.into();
    ok(api.post("/v1/events/purchase", &first).await).await;
    ok(api
        .post(
            "/v1/events/purchase",
            &purchase("p-2", "asha", "o-2", 5_000),
        )
        .await)
    .await;
    ok(api
        .post("/v1/events/purchase", &refund("p-3", "asha", "o-2", 2_000))
        .await)
    .await;
    ok(api
        .post(
            "/v1/events/review",
            &review("r-1", "asha", "o-1", "First", FIRST_TEXT),
        )
        .await)
    .await;
    ok(api
        .post(
            "/v1/events/review",
            &review("r-2", "asha", "o-1", REVIEW_TITLE, REVIEW_TEXT),
        )
        .await)
    .await;
    ok(api
        .post(
            "/v1/customers/asha/redemptions",
            &json!({"redemption_id": "red-1", "customer_id": "asha", "points": 50}),
        )
        .await)
    .await;
    let own = ok(api.get("/v1/customers/asha/referral-code").await).await["code"].clone();
    let friend = json!({
        "event_id": "ref-friend",
        "referral_code": own,
        "referee_customer_id": "friend",
        "referee_email": "friend@example.com",
        "occurred_at": Utc::now().to_rfc3339(),
    });
    ok(api.post("/v1/events/referral", &friend).await).await;

    let now = Utc::now();
    api.store
        .write_job_states(&[JobState {
            customer_id: cid("asha"),
            scores: Some(CustomerScores {
                customer_id: cid("asha"),
                churn_risk: 0.25,
                p_alive: 0.9,
                expected_purchases: 2.5,
                clv_minor: 20_000,
                segment: rapport_shared::domain::Segment::Vip,
                horizon_weeks: 52.0,
                model_version: "test".into(),
                scored_at: now,
                next_order_on: None,
                p_order_in_horizon: None,
            }),
            messages: Vec::new(),
        }])
        .await
        .unwrap();
    let message = MessageRecord {
        customer_id: cid("asha"),
        kind: MessageKind::PostPurchase,
        period: "o-1".into(),
        status: MessageStatus::Failed,
        attempts: 1,
        decided_at: now,
        updated_at: now,
        expected_value_minor: 100,
        reason: "order a week ago".into(),
        offer: None,
        coupon_code: None,
        coupon_expires_at: None,
        reward_points: 0,
        message_id: None,
        error: Some(format!("MessageRejected: address {email} is blocked")),
    };
    api.store.claim_message(&message).await.unwrap();
    api.store.finish_message(&message).await.unwrap();
    email
}

/// Every item of the table, keyed by (PK, SK).
async fn table(api: &TestApi) -> HashMap<(String, String), HashMap<String, AttributeValue>> {
    let mut pages = api
        .store
        .client()
        .scan()
        .table_name(api.store.table())
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    let mut items = HashMap::new();
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        let text = |k: &str| item[k].as_s().unwrap().clone();
        items.insert((text(keys::PK), text(keys::SK)), item);
    }
    items
}

fn ledger_total(export: &Value) -> i64 {
    export["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["delta"].as_i64().unwrap())
        .sum()
}

fn order_totals(export: &Value) -> Vec<(i64, i64)> {
    export["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["total_minor"].as_i64().unwrap(),
                o["refunded_minor"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_export_holds_everything_stored_about_the_customer() {
    let api = TestApi::start().await;
    let email = history(&api).await;
    let r = api.get("/v1/customers/asha/export").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(
        r.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let x = r.body;
    assert_eq!(x["format"], "rapport.customer-export.v1");
    assert_eq!(x["customer_id"], "asha");
    assert_eq!(x["currency"], "USD");

    let p = &x["profile"];
    assert_eq!(p["email"], email.as_str());
    assert_eq!(p["birthday"], "07-31");
    assert_eq!(p["locale"], "hi-IN");
    assert_eq!(p["timezone"], "Asia/Kolkata");
    assert_eq!(p["consent"]["marketing"], true);
    assert_eq!(p["consent"]["source"], "purchase:p-1");
    assert!(p["consent"]["updated_at"].is_string());
    assert_eq!(p["referred_by"]["referrer"], "ref");
    assert_eq!(p["erased_at"], Value::Null);

    assert_eq!(order_totals(&x), [(12_000, 0), (5_000, 2_000)]);
    assert_eq!(ledger_total(&x), p["points_balance"].as_i64().unwrap());
    assert!(
        x["ledger"].as_array().unwrap().len() >= 4,
        "{}",
        x["ledger"]
    );
    assert_eq!(x["redemptions"][0]["redemption_id"], "red-1");
    assert!(x["redemptions"][0]["coupon_code"].is_string());
    assert_eq!(x["reviews"].as_array().unwrap().len(), 1);
    assert_eq!(x["reviews"][0]["title"], REVIEW_TITLE);
    assert_eq!(x["reviews"][0]["body"], REVIEW_TEXT);
    assert_eq!(x["reviews"][0]["replaced_event_ids"], json!(["r-1"]));
    assert_eq!(x["referrals_made"][0]["referee"], "friend");
    assert_eq!(x["referral_received"]["referrer"], "ref");
    assert_eq!(x["referral_received"]["referee"], "asha");
    assert_eq!(x["referral_received"]["status"], "converted");
    assert_eq!(x["messages"][0]["kind"], "post_purchase");
    assert_eq!(x["job_state"]["scores"]["segment"], "vip");
    assert_eq!(x["suppression"], Value::Null);
    assert_eq!(x["erasure"], Value::Null);

    // The partition holds nothing the export leaves out.
    let stored = table(&api).await;
    let partition: Vec<&String> = stored
        .keys()
        .filter(|(pk, _)| *pk == keys::customer_pk(&cid("asha")))
        .map(|(_, sk)| sk)
        .collect();
    let exported = 1
        + [
            "orders",
            "ledger",
            "redemptions",
            "reviews",
            "referrals_made",
            "messages",
        ]
        .iter()
        .map(|k| x[*k].as_array().unwrap().len())
        .sum::<usize>()
        + 1; // job state
    assert_eq!(partition.len(), exported, "{partition:?}");
}

#[tokio::test]
async fn erasure_removes_personal_data_everywhere_and_keeps_the_accounts() {
    let api = TestApi::start().await;
    let email = history(&api).await;
    let before = ok(api.get("/v1/customers/asha/export").await).await;

    let r = api.send("DELETE", "/v1/customers/asha", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type, "application/json");
    let receipt = r.body;
    assert!(
        receipt["receipt_id"]
            .as_str()
            .unwrap()
            .starts_with("erasure-")
    );
    assert_eq!(receipt["customer_id"], "asha");
    assert_eq!(receipt["address"], "suppressed");
    assert_eq!(receipt["reviews_redacted"], 1);
    assert_eq!(receipt["messages_redacted"], 1);
    assert_eq!(receipt["event_records_redacted"], 2);
    assert_eq!(receipt["job_state_deleted"], true);
    for field in ["email", "birthday", "locale", "timezone", "consent"] {
        assert!(
            receipt["profile_fields"]
                .as_array()
                .unwrap()
                .contains(&field.into()),
            "{field}: {receipt}"
        );
    }

    // Read back through the export.
    let after = ok(api.get("/v1/customers/asha/export").await).await;
    let p = &after["profile"];
    for field in ["email", "birthday", "birthday_set_at", "locale", "timezone"] {
        assert_eq!(p[field], Value::Null, "{field}");
    }
    assert_eq!(p["consent"]["marketing"], false);
    assert_eq!(p["consent"]["source"], "erasure");
    assert!(p["erased_at"].is_string());
    assert_eq!(after["reviews"][0]["title"], Value::Null);
    assert_eq!(after["reviews"][0]["body"], Value::Null);
    assert_eq!(after["reviews"][0]["rating"], 5);
    assert_eq!(after["messages"][0]["error"], Value::Null);
    assert_eq!(after["job_state"], Value::Null);
    assert_eq!(after["erasure"], receipt);
    // The accounting is untouched.
    assert_eq!(after["ledger"], before["ledger"]);
    assert_eq!(ledger_total(&after), ledger_total(&before));
    assert_eq!(order_totals(&after), order_totals(&before));
    assert_eq!(after["orders"], before["orders"]);
    assert_eq!(after["redemptions"], before["redemptions"]);
    for kept in [
        "points_balance",
        "points_pending",
        "net_spend_minor",
        "orders",
        "tier",
    ] {
        assert_eq!(p[kept], before["profile"][kept], "{kept}");
    }

    // Read back from the store directly.
    let id = cid("asha");
    let profile = api.store.profile(&id).await.unwrap().unwrap().value;
    assert!(profile.email.is_none() && profile.birthday.is_none() && profile.is_erased());
    let reviews = api.store.reviews(&id).await.unwrap();
    assert!(
        reviews
            .iter()
            .all(|r| r.title.is_none() && r.body.is_none())
    );
    for event in ["r-1", "r-2"] {
        let answer: Value =
            serde_json::from_str(&api.store.prior(event).await.unwrap().unwrap().response).unwrap();
        assert_eq!(
            (&answer["title"], &answer["body"]),
            (&Value::Null, &Value::Null)
        );
    }
    assert_eq!(api.ledger_sum(id.as_str()).await, profile.points_balance);
    assert!(api.store.messages(&id).await.unwrap()[0].error.is_none());

    // No item anywhere in the table still holds the address, the birthday or the text.
    for (key, item) in table(&api).await {
        let text = format!("{item:?}");
        for secret in [
            email.as_str(),
            REVIEW_TEXT,
            REVIEW_TITLE,
            FIRST_TEXT,
            "Asia/Kolkata",
        ] {
            assert!(
                !text.contains(secret),
                "{key:?} still holds {secret:?}: {text}"
            );
        }
        assert!(!text.contains(r#"S("07-31")"#), "{key:?}: {text}");
    }

    // The address is suppressed for good, under its keyed hash, and the job's scan
    // reports it.
    let keyed = TombstoneKey::new(TOMBSTONE_KEY.as_bytes())
        .tombstone(&Email::parse("email", &email).unwrap());
    let tombstone = api.store.suppression(&keyed).await.unwrap().unwrap();
    assert_eq!(tombstone.cause, SuppressionCause::Erased);
    let scanned = rapport_job::run::scan_all(&api.store, 3).await.unwrap();
    assert!(scanned.suppressed.contains(&keyed));
    assert!(
        scanned
            .customers
            .iter()
            .all(|c| c.profile.customer_id.as_str() != "asha"),
        "an erased customer is not scored or mailed"
    );
    assert!(
        scanned
            .customers
            .iter()
            .any(|c| c.profile.customer_id.as_str() == "ref")
    );
}

#[tokio::test]
async fn a_second_erasure_answers_the_same_receipt_and_changes_nothing() {
    let api = TestApi::start().await;
    history(&api).await;
    let first = ok(api.send("DELETE", "/v1/customers/asha", None).await).await;
    let snapshot = table(&api).await;
    let again = ok(api.send("DELETE", "/v1/customers/asha", None).await).await;
    assert_eq!(again, first);
    assert_eq!(table(&api).await, snapshot);

    // Concurrent requests for a fresh customer agree on one receipt.
    let mut other = purchase("p-o", "other", "o-o", 1_000);
    other["email"] = "other@example.com".into();
    ok(api.post("/v1/events/purchase", &other).await).await;
    let replies = join_all((0..4).map(|_| api.send("DELETE", "/v1/customers/other", None))).await;
    let receipts: Vec<&Value> = replies.iter().map(|r| &r.body).collect();
    assert!(replies.iter().all(|r| r.status == 200), "{receipts:?}");
    assert!(receipts.iter().all(|r| *r == receipts[0]), "{receipts:?}");
}

#[tokio::test]
async fn later_events_count_for_accounting_but_bring_no_personal_data_back() {
    let api = TestApi::start().await;
    let email = history(&api).await;
    ok(api.send("DELETE", "/v1/customers/asha", None).await).await;
    let before = ok(api.get("/v1/customers/asha/export").await).await;

    let mut order = purchase("p-late", "asha", "o-late", 4_000);
    order["email"] = email.clone().into();
    order["birthday"] = "07-31".into();
    order["locale"] = "en".into();
    order["timezone"] = "Europe/London".into();
    order["marketing_consent"] = true.into();
    let receipt = ok(api.post("/v1/events/purchase", &order).await).await;
    assert_eq!(receipt["points_delta"], 40);
    let late_review = review("r-late", "asha", "o-late", "Again", "Asha writes again");
    let answer = ok(api.post("/v1/events/review", &late_review).await).await;
    assert_eq!(
        (&answer["title"], &answer["body"]),
        (&Value::Null, &Value::Null)
    );

    let after = ok(api.get("/v1/customers/asha/export").await).await;
    let p = &after["profile"];
    for field in ["email", "birthday", "locale", "timezone"] {
        assert_eq!(p[field], Value::Null, "{field}");
    }
    assert_eq!(p["consent"]["marketing"], false);
    assert_eq!(
        p["points_balance"].as_i64().unwrap(),
        before["profile"]["points_balance"].as_i64().unwrap() + 40
    );
    assert_eq!(after["orders"].as_array().unwrap().len(), 3);
    assert_eq!(ledger_total(&after), p["points_balance"].as_i64().unwrap());
    assert!(
        after["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["title"].is_null() && r["body"].is_null())
    );
    assert_eq!(after["erasure"], before["erasure"]);
}

#[tokio::test]
async fn unknown_customers_are_404_problems() {
    let api = TestApi::start().await;
    for (method, path) in [
        ("GET", "/v1/customers/nobody/export"),
        ("DELETE", "/v1/customers/nobody"),
    ] {
        let r = api.send(method, path, None).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.problem_type(), "https://rapport.dev/problems/not-found");
    }
    let r = api.send("DELETE", "/v1/customers/a%23b", None).await;
    assert_eq!((r.status, r.field()), (422, "id"));
}

#[tokio::test]
async fn unsigned_or_forged_requests_are_refused() {
    let api = TestApi::start().await;
    let mut order = purchase("p-1", "asha", "o-1", 1_000);
    order["email"] = "asha@example.com".into();
    ok(api.post("/v1/events/purchase", &order).await).await;
    let impostor = rapport_shared::auth::keys::ApiKey::new(
        &rapport_integration::key(rapport_shared::auth::keys::Scope::Admin).id,
        rapport_shared::auth::keys::Scope::Admin,
        b"not-the-shop-secret",
    )
    .unwrap();
    for (method, path) in [
        ("GET", "/v1/customers/asha/export"),
        ("DELETE", "/v1/customers/asha"),
    ] {
        let forged =
            rapport_integration::sign_as(&impostor, Utc::now().timestamp(), method, path, b"");
        for header in [None, Some(forged.as_str())] {
            let r = api.send_raw(method, path, Vec::new(), header, None).await;
            assert_eq!(r.status, 401, "{method} {path} {header:?}");
            assert_eq!(r.content_type, "application/problem+json");
            assert_eq!(
                r.problem_type(),
                "https://rapport.dev/problems/unauthorized"
            );
        }
    }
    // Nothing was erased.
    let export = ok(api.get("/v1/customers/asha/export").await).await;
    assert_eq!(export["profile"]["email"], "asha@example.com");
}

#[tokio::test]
async fn a_tombstone_from_before_the_key_still_keeps_the_address_unmailed() {
    use rapport_shared::domain::Suppression;
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (returning, fresh) = (
        format!("old-{tag}@example.com"),
        format!("new-{tag}@example.com"),
    );
    // What an erasure wrote before tombstones were keyed: the bare SHA-256.
    api.store
        .suppress(&Suppression {
            address_key: address_key(&returning),
            cause: SuppressionCause::Erased,
            detail: "erasure erasure-0".into(),
            at: Utc::now(),
        })
        .await
        .unwrap();
    // The address comes back with a new customer; another customer is new altogether.
    // Both reach silver, so a tier-change notice is due for each.
    for (id, email) in [("back", &returning), ("fresh", &fresh)] {
        let mut order = purchase(&format!("p-{id}"), id, &format!("o-{id}"), 60_000);
        order["email"] = email.as_str().into();
        ok(api.post("/v1/events/purchase", &order).await).await;
    }
    let export = ok(api.get("/v1/customers/back/export").await).await;
    assert_eq!(export["suppression"]["cause"], "erased", "{export}");

    let mut settings = rapport_integration::job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let summary = rapport_integration::run_job(&api, &settings, Utc::now()).await;
    assert!(api.mail_to(&returning).await.is_empty(), "{summary:?}");
    assert_eq!(api.mail_to(&fresh).await.len(), 1, "{summary:?}");
    assert_eq!(summary.suppressed.values().sum::<usize>(), 1, "{summary:?}");

    // Erasing the newcomer finds the old tombstone and writes no second one.
    let receipt = ok(api.send("DELETE", "/v1/customers/back", None).await).await;
    assert_eq!(receipt["address"], "already_suppressed");
    let keyed = TombstoneKey::new(TOMBSTONE_KEY.as_bytes())
        .tombstone(&Email::parse("email", &returning).unwrap());
    assert!(api.store.suppression(&keyed).await.unwrap().is_none());
}

#[tokio::test]
async fn no_response_may_be_kept_by_a_cache() {
    let api = TestApi::start_with(&[("RAPPORT_REFERRAL_HOLD_DAYS", "0")]).await;
    let mut order = purchase("p-1", "asha", "o-1", 5_000);
    order["email"] = "asha@example.com".into();
    let code = {
        ok(api.post("/v1/events/purchase", &order).await).await;
        ok(api.get("/v1/customers/asha/referral-code").await).await["code"].clone()
    };
    let referral = json!({
        "event_id": "x-1", "referral_code": code, "referee_customer_id": "ravi",
        "occurred_at": Utc::now().to_rfc3339(),
    });
    let redemption = json!({"redemption_id": "r-1", "customer_id": "asha", "points": 10});
    let mut replies = vec![
        ("receipt", api.post("/v1/events/purchase", &order).await),
        ("profile", api.get("/v1/customers/asha").await),
        ("code", api.get("/v1/customers/asha/referral-code").await),
        ("referral", api.post("/v1/events/referral", &referral).await),
        (
            "review",
            api.post(
                "/v1/events/review",
                &review("r-1", "asha", "o-1", "Hi", "Asha here"),
            )
            .await,
        ),
        (
            "redemption",
            api.post("/v1/customers/asha/redemptions", &redemption)
                .await,
        ),
        (
            "recovery",
            api.post("/v1/customers/asha/recovery", &json!({})).await,
        ),
        ("export", api.get("/v1/customers/asha/export").await),
        ("unknown customer", api.get("/v1/customers/nobody").await),
        ("invalid", api.post("/v1/events/purchase", &json!({})).await),
        (
            "unsigned",
            api.send_raw("GET", "/v1/customers/asha", Vec::new(), None, None)
                .await,
        ),
        ("no route", api.get("/v1/nothing").await),
        (
            "wrong method",
            api.send("PUT", "/v1/customers/asha", None).await,
        ),
    ];
    replies.push((
        "erasure",
        api.send("DELETE", "/v1/customers/asha", None).await,
    ));
    for (what, reply) in &replies {
        assert_eq!(
            reply
                .headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{what}: {} {:?}",
            reply.status,
            reply.body
        );
    }
    let statuses: Vec<u16> = replies.iter().map(|(_, r)| r.status).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 200, 200, 200, 200, 200, 200, 404, 422, 401, 404, 405, 200
        ]
    );
}
