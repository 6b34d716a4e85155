//! Bad input: each rule answers 4xx `application/problem+json` naming the field, and
//! writes nothing.

use chrono::Utc;
use rapport_integration::{Reply, TestApi, key, purchase, sign_as};
use rapport_shared::auth::keys::Scope;
use serde_json::{Value, json};

async fn post_bytes(api: &TestApi, body: Vec<u8>, content_type: &str) -> Reply {
    let header = sign_as(
        &key(Scope::Events),
        Utc::now().timestamp(),
        "POST",
        "/v1/events/purchase",
        &body,
    );
    api.send_raw(
        "POST",
        "/v1/events/purchase",
        body,
        Some(&header),
        Some(content_type),
    )
    .await
}

fn assert_problem(r: &Reply, status: u16, field: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json", "{case}");
    assert_eq!(r.body["status"], status, "{case}");
    assert!(
        r.problem_type()
            .starts_with("https://rapport.dev/problems/"),
        "{case}"
    );
    assert_eq!(r.field(), field, "{case}: {:?}", r.body);
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

#[tokio::test]
async fn each_bad_input_is_a_problem_naming_the_field() {
    let api = TestApi::start().await;
    let good = purchase("e-1", "c-1", "o-1", 2_000);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "unknown kind",
            with(good.clone(), "kind", json!("gift")),
            422,
            "kind",
        ),
        (
            "negative total",
            with(good.clone(), "total_minor", json!(-5)),
            422,
            "total_minor",
        ),
        (
            "fractional total",
            with(good.clone(), "total_minor", json!(19.99)),
            422,
            "total_minor",
        ),
        (
            "total as string",
            with(good.clone(), "total_minor", json!("2000")),
            422,
            "total_minor",
        ),
        (
            "missing event_id",
            without(good.clone(), "event_id"),
            422,
            "event_id",
        ),
        (
            "missing customer_id",
            without(good.clone(), "customer_id"),
            422,
            "customer_id",
        ),
        (
            "missing order_id",
            without(good.clone(), "order_id"),
            422,
            "order_id",
        ),
        (
            "missing occurred_at",
            without(good.clone(), "occurred_at"),
            422,
            "occurred_at",
        ),
        (
            "bad occurred_at",
            with(good.clone(), "occurred_at", json!("2026-13-01")),
            422,
            "occurred_at",
        ),
        (
            "missing currency",
            without(good.clone(), "currency"),
            422,
            "currency",
        ),
        (
            "unknown currency",
            with(good.clone(), "currency", json!("ABC")),
            422,
            "currency",
        ),
        (
            "other currency",
            with(good.clone(), "currency", json!("EUR")),
            422,
            "currency",
        ),
        (
            "missing items",
            without(good.clone(), "items"),
            422,
            "items",
        ),
        (
            "items do not add up",
            with(good.clone(), "total_minor", json!(2_001)),
            422,
            "items",
        ),
        (
            "zero quantity",
            with(
                good.clone(),
                "items",
                json!([{"sku": "A", "quantity": 0, "unit_price_minor": 2000}]),
            ),
            422,
            "items[0].quantity",
        ),
        (
            "fractional quantity",
            with(
                good.clone(),
                "items",
                json!([{"sku": "A", "quantity": 1.5, "unit_price_minor": 2000}]),
            ),
            422,
            "items[0].quantity",
        ),
        (
            "negative price",
            with(
                good.clone(),
                "items",
                json!([{"sku": "A", "quantity": 1, "unit_price_minor": -1}]),
            ),
            422,
            "items[0].unit_price_minor",
        ),
        (
            "missing sku",
            with(
                good.clone(),
                "items",
                json!([{"quantity": 1, "unit_price_minor": 2000}]),
            ),
            422,
            "items[0].sku",
        ),
        (
            "bad email",
            with(good.clone(), "email", json!("not-an-email")),
            422,
            "email",
        ),
        (
            "bad birthday",
            with(good.clone(), "birthday", json!("02-30")),
            422,
            "birthday",
        ),
        (
            "bad locale",
            with(good.clone(), "locale", json!("klingon!")),
            422,
            "locale",
        ),
        (
            "customer id with separator",
            with(good.clone(), "customer_id", json!("a#b")),
            422,
            "customer_id",
        ),
        ("not an object", json!([1, 2, 3]), 422, "body"),
    ];
    for (case, body, status, field) in cases {
        let r = post_bytes(&api, body.to_string().into_bytes(), "application/json").await;
        assert_problem(&r, status, field, case);
    }

    let r = post_bytes(&api, b"{\"event_id\": ".to_vec(), "application/json").await;
    assert_problem(&r, 400, "body", "truncated JSON");
    let r = post_bytes(&api, b"\xff\xfe{}".to_vec(), "application/json").await;
    assert_problem(&r, 400, "body", "not UTF-8");
    let mut big = purchase("e-big", "c-1", "o-big", 100);
    big["padding"] = "x".repeat(70 * 1024).into();
    let r = post_bytes(&api, big.to_string().into_bytes(), "application/json").await;
    assert_problem(&r, 413, "body", "over 64 KiB");
    let r = post_bytes(&api, good.to_string().into_bytes(), "text/plain").await;
    assert_eq!(r.status, 415);

    // None of it was recorded.
    assert_eq!(api.get("/v1/customers/c-1").await.status, 404);
    let r = api.post("/v1/events/purchase", &good).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let api = TestApi::start().await;
    let r = api.get("/v1/nowhere").await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (404, "application/problem+json")
    );
    let r = api.send("DELETE", "/v1/events/purchase", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    // A path with several methods names them all.
    let r = api.send("PUT", "/v1/unsubscribe?token=x", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    let bad = json!({"redemption_id": "r", "customer_id": "c-1", "points": 0});
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 2_000))
        .await;
    let r = api.post("/v1/customers/c-1/redemptions", &bad).await;
    assert_problem(&r, 422, "points", "zero points");
}
