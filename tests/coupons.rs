//! Coupons at checkout through the HTTP API against DynamoDB Local: a code a redemption
//! issued is valid for its customer, used by the first order that carries it (native,
//! Shopify or a redelivery of the same order), refused to every other order with the
//! refusal recorded, and two orders racing for it cannot both have it.

use rapport_integration::{TestApi, purchase};
use rapport_shared::auth::webhook;
use serde_json::{Value, json};

async fn redeemed_code(api: &TestApi, customer: &str) -> String {
    let bought = api
        .post(
            "/v1/events/purchase",
            &purchase(
                &format!("e-{customer}"),
                customer,
                &format!("o-{customer}"),
                20_000,
            ),
        )
        .await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    let redeemed = api
        .post(
            &format!("/v1/customers/{customer}/redemptions"),
            &json!({"redemption_id": format!("r-{customer}"), "customer_id": customer, "points": 100}),
        )
        .await;
    assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    redeemed.body["coupon_code"].as_str().unwrap().to_owned()
}

fn order_with(event: &str, customer: &str, order: &str, codes: &[&str]) -> Value {
    let mut body = purchase(event, customer, order, 3_000);
    body["coupon_codes"] = json!(codes);
    body
}

#[tokio::test]
async fn a_redeemed_code_is_used_once_and_refused_after() {
    let api = TestApi::start().await;
    let code = redeemed_code(&api, "asha").await;

    let check = api.get(&format!("/v1/coupons/{code}")).await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["valid"], true);
    assert_eq!(check.body["reason"], Value::Null);
    assert_eq!(
        check.body["terms"],
        json!({"type": "amount_off", "value_minor": 100})
    );
    assert_eq!(check.body["currency"], "USD");
    assert_eq!(check.body["customer_id"], "asha");
    assert!(check.body["expires_at"].is_string());
    let theirs = api
        .get(&format!("/v1/coupons/{code}?customer_id=kim"))
        .await;
    assert_eq!(
        (
            theirs.body["valid"].as_bool(),
            theirs.body["reason"].as_str()
        ),
        (Some(false), Some("wrong-customer"))
    );
    let unknown = api.get("/v1/coupons/NOT-OURS").await;
    assert_eq!(
        (
            unknown.body["valid"].as_bool(),
            unknown.body["reason"].as_str()
        ),
        (Some(false), Some("unknown"))
    );

    // The order that uses it (typed in lower case), with the shop's own code beside.
    let lower = code.to_lowercase();
    let first = order_with("e-1", "asha", "o-1", &[&lower, "SHOP-OWN-10"]);
    let reply = api.post("/v1/events/purchase", &first).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["coupons"],
        json!([{"code": code, "outcome": "used"}])
    );
    // Delivered again: the same use, found again.
    let again = api.post("/v1/events/purchase", &first).await;
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(
        again.body["coupons"],
        json!([{"code": code, "outcome": "used"}])
    );
    let used = api.get(&format!("/v1/coupons/{code}")).await;
    assert_eq!(
        (used.body["valid"].as_bool(), used.body["reason"].as_str()),
        (Some(false), Some("used"))
    );
    assert_eq!(used.body["used_by_order"], "o-1");

    // Another order naming it: recorded, refused, and the order itself still counts.
    let second = api
        .post(
            "/v1/events/purchase",
            &order_with("e-2", "asha", "o-2", &[&code]),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        second.body["coupons"],
        json!([{"code": code, "outcome": "refused", "problem": "used"}])
    );
    assert_eq!(second.body["orders"], 3);
    let items = api.items().await;
    let coupon = items
        .iter()
        .find(|i| i["PK"] == format!("COUPON#{code}"))
        .expect("the coupon item");
    let refused = coupon.to_string();
    assert!(
        refused.contains("o-2") && refused.contains("\"used\""),
        "{refused}"
    );

    // Someone else's order naming it: refused as another customer's.
    let kim = api
        .post(
            "/v1/events/purchase",
            &order_with("e-3", "kim", "o-3", &[&code]),
        )
        .await;
    assert_eq!(kim.body["coupons"][0]["outcome"], "refused");
}

#[tokio::test]
async fn two_orders_racing_for_one_code_cannot_both_have_it() {
    let api = TestApi::start().await;
    let code = redeemed_code(&api, "lin").await;
    let replies = futures::future::join_all((0..6).map(|n| {
        let body = order_with(
            &format!("race-{n}"),
            "lin",
            &format!("race-o-{n}"),
            &[&code],
        );
        let api = &api;
        async move { api.post("/v1/events/purchase", &body).await }
    }))
    .await;
    let used = replies
        .iter()
        .filter(|r| r.body["coupons"][0]["outcome"] == "used")
        .count();
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(
        used,
        1,
        "{:?}",
        replies
            .iter()
            .map(|r| &r.body["coupons"])
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_shopify_order_uses_the_code_from_its_discount_codes() {
    const SECRET: &str = "shopify-webhook-secret-for-tests";
    let api = TestApi::start_with(&[
        ("RAPPORT_SHOPIFY_WEBHOOK_SECRET", SECRET),
        ("RAPPORT_SHOPIFY_SHOP_DOMAIN", "tea-house.myshopify.com"),
    ])
    .await;
    let code = redeemed_code(&api, "shopify-7390123456789").await;
    let sample = std::fs::read_to_string(format!(
        "{}/../infra/events/shopify/orders-paid.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("\"WELCOME10\"", &format!("\"{code}\""));
    let reply = api
        .http
        .post(format!("{}/v1/webhooks/shopify", api.base_url))
        .header("X-Shopify-Topic", "orders/paid")
        .header(
            "X-Shopify-Hmac-Sha256",
            webhook::sign(SECRET.as_bytes(), sample.as_bytes()),
        )
        .header("X-Shopify-Shop-Domain", "tea-house.myshopify.com")
        .header("X-Shopify-Webhook-Id", "w-coupon")
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["coupons"], json!([{"code": code, "outcome": "used"}]));
    let check = api.get(&format!("/v1/coupons/{code}")).await;
    assert_eq!(check.body["used_by_order"], "shopify-5813092139123");
}

#[tokio::test]
async fn the_route_needs_a_signature_and_a_well_formed_code() {
    let api = TestApi::start().await;
    let unsigned = api
        .send_raw("GET", "/v1/coupons/ABCDEF", Vec::new(), None, None)
        .await;
    assert_eq!(unsigned.status, 401);
    let bad = api.get("/v1/coupons/has%20space").await;
    assert_eq!((bad.status, bad.field()), (422, "code"));
    // The shop's own code, of a shape Rapport never issues, does not stop the order.
    let shops_own = api
        .post(
            "/v1/events/purchase",
            &order_with("e-own", "asha", "o-own", &["SUMMER SALE"]),
        )
        .await;
    assert_eq!(shops_own.status, 200, "{}", shops_own.body);
    assert_eq!(shops_own.body.get("coupons"), None);
    let many: Vec<String> = (0..21).map(|n| format!("C{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let too_many = api
        .post(
            "/v1/events/purchase",
            &order_with("e-many", "asha", "o-many", &many),
        )
        .await;
    assert_eq!((too_many.status, too_many.field()), (422, "coupon_codes"));
}
