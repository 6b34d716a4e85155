//! Message claims against DynamoDB Local: the guard that makes each (customer, kind,
//! period) go out at most once, however many runs overlap, while a failed send can be
//! tried again — and never for a customer who is gone or erased.

use chrono::Utc;
use futures::future::join_all;
use rapport_integration::{TestApi, purchase};
use rapport_shared::domain::CustomerId;
use rapport_shared::domain::outreach::{MessageKind, MessageRecord, MessageStatus, Planned};
use rapport_shared::store::{Claim, MessageStore, ReadBackStore};

fn record(customer: &str, kind: MessageKind, period: &str, status: MessageStatus) -> MessageRecord {
    let planned = Planned {
        kind,
        period: period.into(),
        expected_value_minor: 100,
        offer: None,
        reward_points: 0,
        reason: "test".into(),
        recommendations: Vec::new(),
    };
    MessageRecord::new(
        &CustomerId::parse("id", customer).unwrap(),
        &planned,
        status,
        Utc::now(),
    )
}

/// Customers with a profile, whom messages can be claimed for.
async fn customers(api: &TestApi, ids: &[&str]) {
    for id in ids {
        let order = purchase(&format!("p-{id}"), id, &format!("o-{id}"), 1_000);
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
}

#[tokio::test]
async fn concurrent_claims_let_exactly_one_run_send() {
    let api = TestApi::start().await;
    customers(&api, &["c-1"]).await;
    let r = record("c-1", MessageKind::Birthday, "2026", MessageStatus::Sending);
    let claims = join_all((0..8).map(|_| api.store.claim_message(&r))).await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Ok(Claim::Claimed)))
        .count();
    assert_eq!(won, 1, "{claims:?}");
    // Later runs see it taken, with its status.
    let Claim::Taken(existing) = api.store.claim_message(&r).await.unwrap() else {
        panic!("taken")
    };
    assert_eq!(existing.status, MessageStatus::Sending);
    // Another period is another message.
    let next_year = record("c-1", MessageKind::Birthday, "2027", MessageStatus::Sending);
    assert_eq!(
        api.store.claim_message(&next_year).await.unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn a_failed_send_can_be_claimed_again_but_a_sent_or_held_out_one_cannot() {
    let api = TestApi::start().await;
    customers(&api, &["c-1", "c-2", "c-3"]).await;
    let mut r = record(
        "c-1",
        MessageKind::WinBack,
        "2026-Q4",
        MessageStatus::Sending,
    );
    r.coupon_code = Some("WB-TESTCODE1".into());
    assert_eq!(api.store.claim_message(&r).await.unwrap(), Claim::Claimed);
    let failed = MessageRecord {
        status: MessageStatus::Failed,
        error: Some("rejected".into()),
        ..r.clone()
    };
    api.store.finish_message(&failed).await.unwrap();
    // Retried with the same coupon code: allowed, the code is its own.
    assert_eq!(api.store.claim_message(&r).await.unwrap(), Claim::Claimed);
    let sent = MessageRecord {
        status: MessageStatus::Sent,
        message_id: Some("m-1".into()),
        ..r.clone()
    };
    api.store.finish_message(&sent).await.unwrap();
    assert!(
        matches!(api.store.claim_message(&r).await.unwrap(), Claim::Taken(m) if m.status == MessageStatus::Sent)
    );

    let held = record(
        "c-2",
        MessageKind::VipAppreciation,
        "2026-Q4",
        MessageStatus::HeldOut,
    );
    assert_eq!(
        api.store.claim_message(&held).await.unwrap(),
        Claim::Claimed
    );
    let again = record(
        "c-2",
        MessageKind::VipAppreciation,
        "2026-Q4",
        MessageStatus::Sending,
    );
    assert!(
        matches!(api.store.claim_message(&again).await.unwrap(), Claim::Taken(m) if m.status == MessageStatus::HeldOut)
    );

    // Another customer cannot take the same coupon code.
    let mut thief = record(
        "c-3",
        MessageKind::WinBack,
        "2026-Q4",
        MessageStatus::Sending,
    );
    thief.coupon_code = Some("WB-TESTCODE1".into());
    assert!(api.store.claim_message(&thief).await.is_err());
    let stored = api
        .store
        .messages(&CustomerId::parse("id", "c-1").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].message_id.as_deref(), Some("m-1"));
}

#[tokio::test]
async fn nothing_is_claimed_for_a_customer_who_is_gone_or_erased() {
    let api = TestApi::start().await;
    let nobody = record(
        "nobody",
        MessageKind::Birthday,
        "2026",
        MessageStatus::Sending,
    );
    assert_eq!(
        api.store.claim_message(&nobody).await.unwrap(),
        Claim::Erased
    );
    customers(&api, &["c-1"]).await;
    assert_eq!(
        api.send("DELETE", "/v1/customers/c-1", None).await.status,
        200
    );
    let mut r = record(
        "c-1",
        MessageKind::WinBack,
        "2026-Q4",
        MessageStatus::Sending,
    );
    r.coupon_code = Some("WB-ERASED0001".into());
    assert_eq!(api.store.claim_message(&r).await.unwrap(), Claim::Erased);
    let c1 = CustomerId::parse("id", "c-1").unwrap();
    assert!(api.store.messages(&c1).await.unwrap().is_empty());
}
