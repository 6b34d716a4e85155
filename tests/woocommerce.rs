//! A WooCommerce shop's webhooks through the HTTP API against DynamoDB Local, with the
//! samples of infra/events/woocommerce: the ping, the whole order on every change
//! recorded once per payment, refund and cancellation, tampered or unsigned deliveries
//! refused, customers created.

use rapport_integration::{Reply, TestApi, purchase};
use rapport_shared::auth::webhook;
use serde_json::Value;

const SECRET: &str = "woocommerce-webhook-secret-for-tests";
const MEI: &str = "/v1/customers/woo-58";

async fn shop() -> TestApi {
    TestApi::start_with(&[("RAPPORT_WOOCOMMERCE_WEBHOOK_SECRET", SECRET)]).await
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../infra/events/woocommerce/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn post(api: &TestApi, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    let mut request = api
        .http
        .post(format!("{}/v1/webhooks/woocommerce", api.base_url));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body).send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Reply {
        status,
        content_type: String::new(),
        body,
        headers,
    }
}

/// Delivers `body` as WooCommerce does, signed with the shop's secret.
async fn deliver_body(api: &TestApi, topic: &str, body: Vec<u8>) -> Reply {
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("X-WC-Webhook-Topic", topic.to_owned()),
        ("X-WC-Webhook-Source", "https://tea.example/".to_owned()),
        (
            "X-WC-Webhook-Signature",
            webhook::sign(SECRET.as_bytes(), &body),
        ),
        (
            "X-WC-Webhook-Delivery-ID",
            uuid::Uuid::new_v4().simple().to_string(),
        ),
    ];
    post(api, &headers, body).await
}

async fn deliver(api: &TestApi, topic: &str, name: &str) -> Reply {
    deliver_body(api, topic, sample(name)).await
}

#[tokio::test]
async fn the_ping_is_answered_and_changes_nothing() {
    let api = shop().await;
    let before = api.items().await;
    let headers = [(
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let ping = post(&api, &headers, b"webhook_id=7".to_vec()).await;
    assert_eq!(
        (ping.status, ping.body["outcome"].as_str()),
        (200, Some("ping"))
    );
    // Anything else unsigned is refused.
    let unsigned = post(&api, &headers, sample("order-processing")).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(api.items().await, before);
}

#[tokio::test]
async fn an_order_counts_once_however_often_it_changes() {
    let api = shop().await;
    let pending = deliver(&api, "order.created", "order-pending").await;
    assert_eq!(pending.body["outcome"], "nothing-to-do", "{}", pending.body);
    assert_eq!(
        api.get(MEI).await.status,
        404,
        "an unpaid order makes no customer"
    );

    let paid = deliver(&api, "order.updated", "order-processing").await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["outcome"], "applied");
    let native = api
        .post(
            "/v1/events/purchase",
            &purchase("native-1", "native", "n-1", 3600),
        )
        .await;
    assert_eq!(paid.body["points_delta"], native.body["points_delta"]);
    assert_eq!(
        api.get(MEI).await.body["first_name"],
        "Mei",
        "from the billing address"
    );
    // The same order again, and concurrently: nothing more.
    let again = futures::future::join_all(
        (0..4).map(|_| deliver(&api, "order.updated", "order-processing")),
    )
    .await;
    assert!(
        again
            .iter()
            .all(|r| r.status == 200 && r.body["outcome"] == "duplicate")
    );
    let profile = api.get(MEI).await;
    assert_eq!(profile.body["orders"], 1);
    assert_eq!(profile.body["net_spend_minor"], 3600);
    assert_eq!(profile.body["email"], "mei.tanaka@example.com");

    // A refund appears in refunds[]: taken once; then the order is cancelled: the rest.
    let refunded = deliver(&api, "order.updated", "order-refunded").await;
    assert_eq!(refunded.body["outcome"], "applied", "{}", refunded.body);
    assert_eq!(api.get(MEI).await.body["net_spend_minor"], 3600 - 1728);
    let again = deliver(&api, "order.updated", "order-refunded").await;
    assert_eq!(again.body["outcome"], "duplicate");
    let cancelled = deliver(&api, "order.updated", "order-cancelled").await;
    assert_eq!(cancelled.body["outcome"], "applied", "{}", cancelled.body);
    let profile = api.get(MEI).await;
    assert_eq!(profile.body["net_spend_minor"], 0);
    assert_eq!(profile.body["points_balance"], 0);
    assert_eq!(api.ledger_sum("woo-58").await, 0);
}

#[tokio::test]
async fn tampered_bodies_and_unknown_secrets_change_nothing() {
    let api = shop().await;
    let before = api.items().await;
    let body = sample("order-processing");
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"quantity\": 3", "\"quantity\": 30")
        .into_bytes();
    let headers = |signature: String| {
        [
            ("Content-Type", "application/json".to_owned()),
            ("X-WC-Webhook-Topic", "order.updated".to_owned()),
            ("X-WC-Webhook-Signature", signature),
        ]
    };
    let signed = webhook::sign(SECRET.as_bytes(), &body);
    let reply = post(&api, &headers(signed), tampered).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.body["detail"],
        "X-WC-Webhook-Signature does not match the body"
    );
    let foreign = webhook::sign(b"another-shops-secret-0000", &body);
    assert_eq!(
        post(&api, &headers(foreign), body.clone()).await.status,
        401
    );
    assert_eq!(api.items().await, before);

    // A deployment with only Shopify configured takes no WooCommerce webhooks.
    let shopify_only = TestApi::start_with(&[
        ("RAPPORT_SHOPIFY_WEBHOOK_SECRET", SECRET),
        ("RAPPORT_SHOPIFY_SHOP_DOMAIN", "tea-house.myshopify.com"),
    ])
    .await;
    let reply = deliver(&shopify_only, "order.updated", "order-processing").await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.body["detail"],
        "this deployment takes no WooCommerce webhooks"
    );
}

#[tokio::test]
async fn guests_customers_and_other_topics() {
    let api = shop().await;
    let guest = deliver(&api, "order.created", "order-guest").await;
    assert_eq!(guest.status, 200, "{}", guest.body);
    let id = guest.body["customer_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("woo-guest-"), "{id}");

    let created = deliver(&api, "customer.created", "customer-created").await;
    assert_eq!(created.body["outcome"], "applied", "{}", created.body);
    let omar = api.get("/v1/customers/woo-61").await;
    assert_eq!(omar.body["email"], "omar.haddad@example.com");

    let before = api.items().await;
    let other = deliver_body(&api, "product.updated", b"{\"id\": 311}".to_vec()).await;
    assert_eq!(other.body["outcome"], "ignored");
    // A cancelled order Rapport never saw paid has nothing to reverse.
    let never_paid = String::from_utf8(sample("order-cancelled"))
        .unwrap()
        .replace("\"id\": 1187", "\"id\": 1999")
        .into_bytes();
    let reply = deliver_body(&api, "order.updated", never_paid).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "nothing-to-do");
    assert_eq!(api.items().await, before);
}
