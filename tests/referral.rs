//! Referrals over HTTP against DynamoDB Local: stable unique codes, attribution with
//! each fraud rule, conversion rewarding both sides exactly once, held rewards and their
//! cancellation by a refund, and ambassadors.

use futures::future::join_all;
use rapport_integration::{Reply, TestApi, cid, purchase, refund};
use rapport_shared::domain::ReferralStatus;
use rapport_shared::store::{ReadBackStore, ReferralStore};
use serde_json::{Value, json};
use std::collections::HashSet;

fn referral(event: &str, code: &str, referee: &str) -> Value {
    json!({
        "event_id": event,
        "referral_code": code,
        "referee_customer_id": referee,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
}

/// A customer with one order and an email, and their referral code.
async fn referrer(api: &TestApi, id: &str, email: &str) -> String {
    let mut order = purchase(&format!("p-{id}"), id, &format!("o-{id}"), 1_000);
    order["email"] = email.into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    let r = api.get(&format!("/v1/customers/{id}/referral-code")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["code"].as_str().unwrap().to_owned()
}

async fn refer(api: &TestApi, event: &str, code: &str, referee: &str) -> Reply {
    api.post("/v1/events/referral", &referral(event, code, referee))
        .await
}

async fn profile(api: &TestApi, id: &str) -> Value {
    api.get(&format!("/v1/customers/{id}")).await.body
}

async fn balance_matches_ledger(api: &TestApi, id: &str) {
    let sum = api.ledger_sum(id).await;
    assert_eq!(
        profile(api, id).await["points_balance"].as_i64(),
        Some(sum),
        "{id}"
    );
}

#[tokio::test]
async fn codes_are_stable_unique_and_created_once_under_concurrency() {
    let api = TestApi::start().await;
    for c in ["a", "b"] {
        api.post(
            "/v1/events/purchase",
            &purchase(&format!("p-{c}"), c, &format!("o-{c}"), 100),
        )
        .await;
    }
    let replies = join_all((0..6).map(|_| api.get("/v1/customers/a/referral-code"))).await;
    let codes: HashSet<_> = replies
        .iter()
        .map(|r| r.body["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 1, "{replies:?}");
    let code = codes.into_iter().next().unwrap();
    assert_eq!(code.len(), 8);
    assert!(!code.chars().any(|c| "01OIL".contains(c)), "{code}");
    assert_eq!(
        api.get("/v1/customers/a/referral-code").await.body["code"],
        code.as_str()
    );
    let other = api.get("/v1/customers/b/referral-code").await.body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, code);
    assert_eq!(profile(&api, "a").await["referral_code"], code.as_str());
    assert_eq!(
        api.store.customer_by_code(&code).await.unwrap(),
        Some(cid("a"))
    );
    assert_eq!(
        api.get("/v1/customers/nobody/referral-code").await.status,
        404
    );
}

#[tokio::test]
async fn the_happy_path_rewards_both_sides_exactly_once() {
    let api = TestApi::start_with(&[("RAPPORT_REFERRAL_HOLD_DAYS", "0")]).await;
    let code = referrer(&api, "ref", "ref@example.com").await;
    // Typed in lower case by the referee: still the code.
    let body = referral("x-1", &code.to_lowercase(), "new");
    let replies = join_all((0..5).map(|_| api.post("/v1/events/referral", &body))).await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.body["status"] == "pending"),
        "{replies:?}"
    );
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.body["duplicate"] == false)
            .count(),
        1
    );
    assert_eq!(profile(&api, "new").await["referred"], "pending");

    // Below the minimum order: no conversion yet.
    api.post(
        "/v1/events/purchase",
        &purchase("n-1", "new", "no-1", 1_500),
    )
    .await;
    assert_eq!(profile(&api, "new").await["referred"], "pending");
    // The qualifying order, delivered five times at once.
    let order = purchase("n-2", "new", "no-2", 3_000);
    let replies = join_all((0..5).map(|_| api.post("/v1/events/purchase", &order))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    // A later order converts nothing more.
    api.post(
        "/v1/events/purchase",
        &purchase("n-3", "new", "no-3", 5_000),
    )
    .await;

    let referee = profile(&api, "new").await;
    assert_eq!(referee["referred"], "converted");
    assert_eq!(referee["points_balance"], 15 + 30 + 50 + 250);
    let referrer_profile = profile(&api, "ref").await;
    assert_eq!(referrer_profile["points_balance"], 10 + 500);
    assert_eq!(referrer_profile["referrals_converted"], 1);
    balance_matches_ledger(&api, "new").await;
    balance_matches_ledger(&api, "ref").await;
    let records = api.store.referrals(&cid("ref")).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, ReferralStatus::Converted);
}

#[tokio::test]
async fn held_rewards_show_as_pending_and_a_refund_in_the_window_cancels_them() {
    let api = TestApi::start_with(&[("RAPPORT_REFERRAL_HOLD_DAYS", "30")]).await;
    let code = referrer(&api, "ref", "ref@example.com").await;
    assert_eq!(
        refer(&api, "x-1", &code, "new").await.body["status"],
        "pending"
    );
    api.post(
        "/v1/events/purchase",
        &purchase("n-1", "new", "no-1", 4_000),
    )
    .await;
    let (referee, referrer_profile) = (profile(&api, "new").await, profile(&api, "ref").await);
    assert_eq!(
        (
            referee["points_pending"].as_i64(),
            referee["points_balance"].as_i64()
        ),
        (Some(250), Some(40))
    );
    assert_eq!(
        (
            referrer_profile["points_pending"].as_i64(),
            referrer_profile["points_balance"].as_i64()
        ),
        (Some(500), Some(10))
    );

    // A partial refund that keeps the order above the minimum changes nothing...
    api.post("/v1/events/purchase", &refund("n-2", "new", "no-1", 1_000))
        .await;
    assert_eq!(profile(&api, "ref").await["points_pending"], 500);
    // ...one that takes it below cancels both rewards.
    api.post("/v1/events/purchase", &refund("n-3", "new", "no-1", 2_000))
        .await;
    let (referee, referrer_profile) = (profile(&api, "new").await, profile(&api, "ref").await);
    assert_eq!(
        (
            referee["points_pending"].as_i64(),
            referee["referred"].as_str()
        ),
        (Some(0), Some("cancelled"))
    );
    assert_eq!(
        (
            referrer_profile["points_pending"].as_i64(),
            referrer_profile["referrals_converted"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let records = api.store.referrals(&cid("ref")).await.unwrap();
    assert_eq!(records[0].status, ReferralStatus::Cancelled);
    balance_matches_ledger(&api, "new").await;
    balance_matches_ledger(&api, "ref").await;
}

#[tokio::test]
async fn each_fraud_rule_rejects_with_a_reason_and_is_recorded() {
    let api = TestApi::start_with(&[("RAPPORT_REFERRAL_CAP_30D", "2")]).await;
    let code = referrer(&api, "ref", "Asha.Rao@gmail.com").await;
    let other_code = referrer(&api, "other", "other@example.com").await;
    // A customer who bought before being referred.
    api.post(
        "/v1/events/purchase",
        &purchase("p-old", "old", "o-old", 1_000),
    )
    .await;

    let mut same_email = referral("x-2", &code, "alias");
    same_email["referee_email"] = "asharao+deals@googlemail.com".into();
    let cases = [
        (
            api.post("/v1/events/referral", &referral("x-1", &code, "ref"))
                .await,
            "self-referral: the referee is the referrer",
        ),
        (
            api.post("/v1/events/referral", &same_email).await,
            "self-referral: the referee's email address is the referrer's",
        ),
        (
            refer(&api, "x-3", &code, "old").await,
            "the referee had already purchased before the referral",
        ),
    ];
    for (reply, reason) in &cases {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            (reply.body["status"].as_str(), reply.body["reason"].as_str()),
            (Some("rejected"), Some(*reason))
        );
    }
    // Attributed to "other" first, then claimed by "ref".
    assert_eq!(
        refer(&api, "x-4", &other_code, "fresh").await.body["status"],
        "pending"
    );
    let r = refer(&api, "x-5", &code, "fresh").await;
    assert_eq!(
        r.body["reason"],
        "the referee is already attributed to another referrer"
    );
    // The cap: two accepted in 30 days, the third is refused.
    assert_eq!(
        refer(&api, "x-6", &code, "n1").await.body["status"],
        "pending"
    );
    assert_eq!(
        refer(&api, "x-7", &code, "n2").await.body["status"],
        "pending"
    );
    let r = refer(&api, "x-8", &code, "n3").await;
    assert_eq!(
        r.body["reason"],
        "the referrer reached the cap of 2 referrals in 30 days"
    );

    let records = api.store.referrals(&cid("ref")).await.unwrap();
    let rejected: Vec<_> = records
        .iter()
        .filter(|r| r.status == ReferralStatus::Rejected)
        .collect();
    assert_eq!(rejected.len(), 5, "{records:?}");
    assert!(rejected.iter().all(|r| r.reason.is_some()));
    // A rejected referee is not attributed.
    assert_eq!(profile(&api, "n3").await["referred"], Value::Null);
}

#[tokio::test]
async fn unknown_and_malformed_codes_are_problems() {
    let api = TestApi::start().await;
    let r = refer(&api, "x-1", "ZZZZZZZZ", "new").await;
    assert_eq!(
        (r.status, r.field(), r.content_type.as_str()),
        (404, "referral_code", "application/problem+json")
    );
    let r = refer(&api, "x-2", "NOT-A-CODE", "new").await;
    assert_eq!((r.status, r.field()), (422, "referral_code"));
    let mut body = referral("x-3", "ABCDEFGH", "new");
    body.as_object_mut().unwrap().remove("referee_customer_id");
    assert_eq!(
        api.post("/v1/events/referral", &body).await.field(),
        "referee_customer_id"
    );
}

#[tokio::test]
async fn referrers_with_enough_conversions_become_ambassadors() {
    let api = TestApi::start_with(&[
        ("RAPPORT_AMBASSADOR_AFTER", "2"),
        ("RAPPORT_REFERRAL_HOLD_DAYS", "0"),
    ])
    .await;
    let code = referrer(&api, "ref", "ref@example.com").await;
    for (i, referee) in ["n1", "n2"].into_iter().enumerate() {
        assert_eq!(profile(&api, "ref").await["ambassador"], false);
        refer(&api, &format!("x-{i}"), &code, referee).await;
        api.post(
            "/v1/events/purchase",
            &purchase(&format!("b-{i}"), referee, &format!("ob-{i}"), 2_500),
        )
        .await;
    }
    let p = profile(&api, "ref").await;
    assert_eq!(
        (p["ambassador"].as_bool(), p["referrals_converted"].as_i64()),
        (Some(true), Some(2))
    );
    assert_eq!(p["points_balance"], 10 + 2 * 500);
}
