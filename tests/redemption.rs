//! Redemptions over HTTP against DynamoDB Local: idempotent by redemption id, 409 on an
//! insufficient balance, unique coupon codes.

use futures::future::join_all;
use rapport_integration::{TestApi, purchase};
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn a_redemption_is_idempotent_and_an_overdraft_is_409() {
    let api = TestApi::start().await;
    api.post(
        "/v1/events/purchase",
        &purchase("e-1", "c-1", "o-1", 50_000),
    )
    .await;
    let body = json!({"redemption_id": "r-1", "customer_id": "c-1", "points": 200});
    let first = api.post("/v1/customers/c-1/redemptions", &body).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["points_balance"], 300);
    assert_eq!(first.body["value_minor"], 200);
    let code = first.body["coupon_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("RP-") && code.len() == 13, "{code}");

    let replies = join_all((0..6).map(|_| api.post("/v1/customers/c-1/redemptions", &body))).await;
    for r in &replies {
        assert_eq!(r.status, 200);
        assert_eq!(r.body["duplicate"], true);
        assert_eq!(r.body["coupon_code"], code.as_str());
        assert_eq!(r.body["points_balance"], 300);
    }

    let over = api
        .post(
            "/v1/customers/c-1/redemptions",
            &json!({"redemption_id": "r-2", "customer_id": "c-1", "points": 301}),
        )
        .await;
    assert_eq!(over.status, 409);
    assert_eq!(over.content_type, "application/problem+json");
    assert_eq!(
        over.problem_type(),
        "https://rapport.dev/problems/insufficient-points"
    );
    assert_eq!(over.field(), "points");

    let reused = api
        .post(
            "/v1/customers/c-1/redemptions",
            &json!({"redemption_id": "r-1", "customer_id": "c-1", "points": 5}),
        )
        .await;
    assert_eq!((reused.status, reused.field()), (409, "redemption_id"));

    assert_eq!(api.ledger_sum("c-1").await, 300);
}

#[tokio::test]
async fn concurrent_redemptions_never_overdraw_and_codes_are_unique() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 1_000))
        .await; // 10 points
    let bodies: Vec<_> = (0..15)
        .map(|i| json!({"redemption_id": format!("r-{i}"), "customer_id": "c-1", "points": 1}))
        .collect();
    let replies = join_all(
        bodies
            .iter()
            .map(|b| api.post("/v1/customers/c-1/redemptions", b)),
    )
    .await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 10, "{replies:?}");
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.status == 409)
    );
    let codes: HashSet<_> = ok
        .iter()
        .map(|r| r.body["coupon_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    let p = api.get("/v1/customers/c-1").await;
    assert_eq!(p.body["points_balance"], 0);
}

#[tokio::test]
async fn redeeming_for_an_unknown_customer_is_404() {
    let api = TestApi::start().await;
    let r = api
        .post(
            "/v1/customers/ghost/redemptions",
            &json!({"redemption_id": "r-1", "customer_id": "ghost", "points": 1}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type, "application/problem+json");
}
