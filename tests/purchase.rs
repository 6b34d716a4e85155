//! Purchases and refunds over HTTP against DynamoDB Local: exactly-once delivery, no
//! lost updates under concurrency, refunds, and the profile view.

use futures::future::join_all;
use rapport_integration::{TestApi, purchase, refund};
use rapport_shared::domain::CustomerId;
use rapport_shared::store::ProfileStore;

#[tokio::test]
async fn a_purchase_awards_points_and_shows_in_the_profile() {
    let api = TestApi::start().await;
    let mut body = purchase("e-1", "c-1", "o-1", 12_345);
    body["email"] = "Asha@example.com".into();
    body["locale"] = "hi_IN".into();
    body["birthday"] = "07-31".into();
    let r = api.post("/v1/events/purchase", &body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body["points_delta"], 123);
    assert_eq!(r.body["points_balance"], 123);
    assert_eq!(r.body["duplicate"], false);
    assert_eq!(r.body["tier"], "bronze");

    let p = api.get("/v1/customers/c-1").await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["customer_id"], "c-1");
    assert_eq!(p.body["points_balance"], 123);
    assert_eq!(p.body["orders"], 1);
    assert_eq!(p.body["net_spend_minor"], 12_345);
    assert_eq!(p.body["purchase_days"], 1);
    assert_eq!(p.body["locale"], "hi-IN");
    assert_eq!(p.body["birthday"], "07-31");
}

#[tokio::test]
async fn unknown_customer_is_404_problem() {
    let api = TestApi::start().await;
    let r = api.get("/v1/customers/nobody").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.problem_type(), "https://rapport.dev/problems/not-found");
}

#[tokio::test]
async fn the_same_event_five_times_serially_awards_once() {
    let api = TestApi::start().await;
    let body = purchase("e-dup", "c-1", "o-1", 10_000);
    let first = api.post("/v1/events/purchase", &body).await;
    assert_eq!(first.body["duplicate"], false);
    for _ in 0..4 {
        let again = api.post("/v1/events/purchase", &body).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body["duplicate"], true);
        let mut same = again.body.clone();
        same["duplicate"] = false.into();
        assert_eq!(same, first.body, "a duplicate answers the first result");
    }
    let p = api.get("/v1/customers/c-1").await;
    assert_eq!(
        (p.body["points_balance"].as_i64(), p.body["orders"].as_i64()),
        (Some(100), Some(1))
    );
    assert_eq!(api.ledger_sum("c-1").await, 100);
}

#[tokio::test]
async fn the_same_event_eight_times_concurrently_awards_once() {
    let api = TestApi::start().await;
    let body = purchase("e-race", "c-1", "o-1", 10_000);
    let replies = join_all((0..8).map(|_| api.post("/v1/events/purchase", &body))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let firsts = replies
        .iter()
        .filter(|r| r.body["duplicate"] == false)
        .count();
    assert_eq!(firsts, 1, "exactly one delivery is the first");
    assert!(replies.iter().all(|r| r.body["points_balance"] == 100));
    let p = api
        .store
        .profile(&CustomerId::parse("id", "c-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.value.points_balance, p.value.orders), (100, 1));
    assert_eq!(api.ledger_sum("c-1").await, 100);
}

#[tokio::test]
async fn fifty_distinct_concurrent_events_for_one_customer_all_count() {
    let api = TestApi::start().await;
    let bodies: Vec<_> = (0..50)
        .map(|i| purchase(&format!("e-{i}"), "c-hot", &format!("o-{i}"), 100 + i))
        .collect();
    let replies = join_all(bodies.iter().map(|b| api.post("/v1/events/purchase", b))).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().find(|r| r.status != 200)
    );
    let expected_points: i64 = (0..50).map(|i| (100 + i) / 100).sum();
    let expected_spend: i64 = (0..50).map(|i| 100 + i).sum();
    let p = api
        .store
        .profile(&CustomerId::parse("id", "c-hot").unwrap())
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(p.orders, 50);
    assert_eq!(p.net_spend_minor, expected_spend);
    assert_eq!(p.points_balance, expected_points);
    assert_eq!(api.ledger_sum("c-hot").await, p.points_balance);
    assert_eq!(p.ledger_entries, 50);
}

#[tokio::test]
async fn a_refund_reverses_exactly_its_orders_share() {
    let api = TestApi::start().await;
    api.post(
        "/v1/events/purchase",
        &purchase("e-1", "c-1", "o-1", 10_000),
    )
    .await;
    api.post("/v1/events/purchase", &purchase("e-2", "c-1", "o-2", 5_000))
        .await;
    let r = api
        .post("/v1/events/purchase", &refund("e-3", "c-1", "o-1", 2_500))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["points_delta"], -25);
    assert_eq!(r.body["points_balance"], 125);
    assert_eq!(r.body["net_spend_minor"], 12_500);
    // Refunding the rest of o-1 reverses the rest of its 100 points, nothing of o-2's.
    let r = api
        .post("/v1/events/purchase", &refund("e-4", "c-1", "o-1", 7_500))
        .await;
    assert_eq!(r.body["points_delta"], -75);
    assert_eq!(r.body["points_balance"], 50);
    // Beyond the order's total: refused, nothing written.
    let r = api
        .post("/v1/events/purchase", &refund("e-5", "c-1", "o-1", 1))
        .await;
    assert_eq!((r.status, r.field()), (422, "total_minor"));
    let r = api
        .post("/v1/events/purchase", &refund("e-6", "c-1", "o-404", 1))
        .await;
    assert_eq!((r.status, r.field()), (422, "order_id"));
    assert_eq!(api.ledger_sum("c-1").await, 50);
    let p = api.get("/v1/customers/c-1").await;
    assert_eq!(
        (
            p.body["orders"].as_i64(),
            p.body["net_spend_minor"].as_i64()
        ),
        (Some(2), Some(5_000))
    );
}

#[tokio::test]
async fn a_reused_event_id_with_another_body_is_a_conflict() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 1_000))
        .await;
    let r = api
        .post("/v1/events/purchase", &purchase("e-1", "c-1", "o-2", 2_000))
        .await;
    assert_eq!((r.status, r.field()), (409, "event_id"));
    let r = api
        .post("/v1/events/purchase", &purchase("e-2", "c-1", "o-1", 1_000))
        .await;
    assert_eq!((r.status, r.field()), (409, "order_id"));
    assert_eq!(api.ledger_sum("c-1").await, 10);
}

#[tokio::test]
async fn tiers_follow_configured_thresholds_and_multipliers() {
    let api = TestApi::start_with(&[
        ("RAPPORT_TIERS", "member:0:100,insider:20000:200"),
        ("RAPPORT_POINTS_PER_UNIT", "2"),
    ])
    .await;
    let r = api
        .post(
            "/v1/events/purchase",
            &purchase("e-1", "c-1", "o-1", 20_000),
        )
        .await;
    assert_eq!(
        (r.body["points_delta"].as_i64(), r.body["tier"].as_str()),
        (Some(400), Some("insider"))
    );
    let r = api
        .post("/v1/events/purchase", &purchase("e-2", "c-1", "o-2", 1_000))
        .await;
    assert_eq!(r.body["points_delta"], 40, "2 points per unit x 200 %");
}
