//! The sample events under infra/events/ are real API Gateway (HTTP API v2) payloads:
//! they parse as `lambda_http` parses them in Lambda, and the handlers accept them with
//! the settings of infra/events/env.json — what `sam local invoke` would run.

use rapport_shared::http::Api;
use rapport_shared::store::DynamoStore;
use serde_json::Value;

fn read(name: &str) -> String {
    let path = format!("{}/../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn body(r: &lambda_http::Response<lambda_http::Body>) -> Value {
    match r.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn sample_events_are_accepted_by_the_handlers() {
    let env: Value = serde_json::from_str(&read("env.json")).unwrap();
    let params = env["Parameters"].as_object().unwrap().clone();
    let client = rapport_local::shared_dynamodb().await.unwrap().client();
    let table = format!("rapport-samples-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&client, &table)
        .await
        .unwrap();
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let table_name = table.clone();
    let config = rapport_shared::Config::from_lookup(move |k| {
        if k == "RAPPORT_TABLE" {
            return Some(table_name.clone());
        }
        pairs
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let api = Api::new(DynamoStore::new(client, table), config);

    let request = |name: &str| lambda_http::request::from_str(&read(name)).unwrap();
    let r = api.purchase(request("purchase.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["points_delta"], 59);
    let r = api.purchase(request("refund.json")).await;
    assert_eq!(body(&r)["points_delta"], -29);
    let r = api.customer(request("get-customer.json")).await;
    assert_eq!(body(&r)["points_balance"], 30);
    let r = api.redemption(request("redemption.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["points_balance"], 10);
    let r = api.review(request("review.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(
        (
            body(&r)["verified"].as_bool(),
            body(&r)["points_awarded"].as_i64()
        ),
        (Some(true), Some(25))
    );
    let r = api.recovery(request("recovery.json")).await;
    assert_eq!(body(&r)["service_recovery"], false);
    assert_eq!(body(&r)["points_balance"], 35);
    let r = api.referral_code(request("referral-code.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["code"].as_str().map(str::len), Some(8));
    // The sample's code belongs to nobody in a fresh table: a well-formed 404.
    let r = api.referral(request("referral.json")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body(&r)["field"], "referral_code");
    let r = api.coupon(request("coupon.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["reason"], "unknown");
    let r = api.shopify(request("shopify-webhook.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["outcome"], "applied");
    let r = api.woocommerce(request("woocommerce-webhook.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["outcome"], "applied");
    let r = api.export(request("export.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["profile"]["points_balance"], 35);
    assert_eq!(body(&r)["orders"].as_array().map(Vec::len), Some(1));
    let r = api.erase(request("erase.json")).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["customer_id"], "cust-42");
    let r = api.customer(request("get-customer.json")).await;
    assert_eq!(body(&r)["email"], serde_json::Value::Null);
    assert_eq!(body(&r)["points_balance"], 35);
}
