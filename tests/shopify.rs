//! A Shopify shop's webhooks through the HTTP API against DynamoDB Local, with the
//! sample payloads of infra/events/shopify: an order earns what the same native event
//! earns; tampered bodies and other shops change nothing; redeliveries and concurrent
//! duplicates count once; refunds and cancellations reverse their share, in either
//! order, and those of orders never recorded change nothing; gift cards earn nothing;
//! contact updates and redactions reach the profile.

use rapport_integration::{Reply, TestApi, purchase};
use rapport_shared::auth::webhook;
use serde_json::Value;

const SECRET: &str = "shopify-webhook-secret-for-tests";
const SHOP: &str = "tea-house.myshopify.com";
const ASHA: &str = "/v1/customers/shopify-7390123456789";

async fn shop() -> TestApi {
    TestApi::start_with(&[
        ("RAPPORT_SHOPIFY_WEBHOOK_SECRET", SECRET),
        ("RAPPORT_SHOPIFY_SHOP_DOMAIN", SHOP),
    ])
    .await
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../infra/events/shopify/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Delivers `body` as Shopify would, signed with `secret` for `shop`.
async fn deliver_as(
    api: &TestApi,
    topic: &str,
    body: &[u8],
    secret: &str,
    shop: &str,
    delivery: &str,
) -> Reply {
    let response = api
        .http
        .post(format!("{}/v1/webhooks/shopify", api.base_url))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header(
            "X-Shopify-Hmac-Sha256",
            webhook::sign(secret.as_bytes(), body),
        )
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Webhook-Id", delivery)
        .header("X-Shopify-API-Version", "2025-10")
        .body(body.to_vec())
        .send()
        .await
        .expect("request");
    Reply::read(response).await
}

async fn deliver(api: &TestApi, topic: &str, name: &str) -> Reply {
    let delivery = format!("{}-{}", name, uuid::Uuid::new_v4());
    deliver_as(api, topic, &sample(name), SECRET, SHOP, &delivery).await
}

#[tokio::test]
async fn a_paid_order_earns_what_the_same_native_event_earns() {
    let api = shop().await;
    let reply = deliver(&api, "orders/paid", "orders-paid").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "applied");
    assert_eq!(reply.body["customer_id"], "shopify-7390123456789");

    // The same goods as the storefront's own event: 51.76 after discounts.
    let native = api
        .post(
            "/v1/events/purchase",
            &purchase("native-1", "native", "n-1", 5176),
        )
        .await;
    assert_eq!(native.status, 200, "{}", native.body);
    assert_eq!(reply.body["points_delta"], native.body["points_delta"]);

    let profile = api.get(ASHA).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["orders"], 1);
    assert_eq!(profile.body["net_spend_minor"], 5176);
    assert_eq!(
        profile.body["points_balance"],
        native.body["points_balance"]
    );
    assert_eq!(profile.body["email"], "asha.rao@example.com");
    assert_eq!(profile.body["locale"], "en-IN");
    assert_eq!(
        profile.body["first_name"], "Asha",
        "for the mail's greeting"
    );

    // A gift card sold earns nothing: the same order with a gift card line added.
    let mut with_card: Value = serde_json::from_slice(&sample("orders-paid")).unwrap();
    with_card["id"] = 5813092139999_u64.into();
    let mut card = with_card["line_items"][1].clone();
    card["gift_card"] = true.into();
    card["sku"] = "GIFT-50".into();
    with_card["line_items"].as_array_mut().unwrap().push(card);
    let body = serde_json::to_vec(&with_card).unwrap();
    let reply = deliver_as(&api, "orders/paid", &body, SECRET, SHOP, "gift").await;
    assert_eq!(
        reply.body["points_delta"], native.body["points_delta"],
        "{}",
        reply.body
    );

    // A guest is a customer of their own, found again by address.
    let guest = deliver(&api, "orders/paid", "orders-paid-guest").await;
    assert_eq!(guest.status, 200, "{}", guest.body);
    let id = guest.body["customer_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("shopify-guest-"), "{id}");
    assert_eq!(
        api.get(&format!("/v1/customers/{id}")).await.body["net_spend_minor"],
        2000
    );
}

#[tokio::test]
async fn redeliveries_and_concurrent_duplicates_count_once() {
    let api = shop().await;
    let body = sample("orders-paid");
    let replies =
        futures::future::join_all(
            (0..6).map(|n| {
                let body = body.clone();
                let api = &api;
                async move {
                    deliver_as(api, "orders/paid", &body, SECRET, SHOP, &format!("d-{n}")).await
                }
            }),
        )
        .await;
    let outcomes: Vec<_> = replies
        .iter()
        .map(|r| {
            (
                r.status,
                r.body["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|(s, o)| *s == 200 && o == "applied")
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|(s, o)| *s == 200 && (o == "applied" || o == "duplicate")),
        "{outcomes:?}"
    );
    // And again later, as Shopify's retry would.
    let late = deliver(&api, "orders/paid", "orders-paid").await;
    assert_eq!(late.body["outcome"], "duplicate");
    let profile = api.get(ASHA).await;
    assert_eq!(profile.body["orders"], 1);
    assert_eq!(profile.body["net_spend_minor"], 5176);
    assert_eq!(
        api.ledger_sum("shopify-7390123456789").await,
        profile.body["points_balance"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn tampered_bodies_other_shops_and_missing_signatures_change_nothing() {
    let api = shop().await;
    let before = api.items().await;
    let body = sample("orders-paid");
    let signed = webhook::sign(SECRET.as_bytes(), &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"quantity\": 3", "\"quantity\": 30");
    let send = |body: Vec<u8>, signature: Option<String>, shop: &'static str| {
        let api = &api;
        async move {
            let mut request = api
                .http
                .post(format!("{}/v1/webhooks/shopify", api.base_url))
                .header("X-Shopify-Topic", "orders/paid")
                .header("X-Shopify-Shop-Domain", shop)
                .header("X-Shopify-Webhook-Id", "w-1")
                .body(body);
            if let Some(signature) = signature {
                request = request.header("X-Shopify-Hmac-Sha256", signature);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, problem) = send(tampered.into_bytes(), Some(signed.clone()), SHOP).await;
    assert_eq!(status, 401);
    assert_eq!(
        problem["detail"],
        "X-Shopify-Hmac-Sha256 does not match the body"
    );
    let (status, _) = send(body.clone(), None, SHOP).await;
    assert_eq!(status, 401);
    let (status, problem) = send(
        body.clone(),
        Some(signed.clone()),
        "another-shop.myshopify.com",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        problem["detail"],
        "X-Shopify-Shop-Domain is not this deployment's shop"
    );
    let (status, _) = send(
        body.clone(),
        Some(webhook::sign(b"not-the-shops-secret-000", &body)),
        SHOP,
    )
    .await;
    assert_eq!(status, 401);
    // A Rapport key's signature is no Shopify signature either.
    let (status, _) = send(body, Some("t=1,k=test-events,v1=00".into()), SHOP).await;
    assert_eq!(status, 401);
    assert_eq!(api.items().await, before, "the table is unchanged");

    // A deployment configured for no shop takes no webhooks at all.
    let unconfigured = TestApi::start().await;
    let reply = deliver(&unconfigured, "orders/paid", "orders-paid").await;
    assert_eq!(reply.status, 401);
    // Nor one with only WooCommerce's secret, even with a shop named.
    let woo_only = TestApi::start_with(&[
        ("RAPPORT_WOOCOMMERCE_WEBHOOK_SECRET", SECRET),
        ("RAPPORT_SHOPIFY_SHOP_DOMAIN", SHOP),
    ])
    .await;
    let reply = deliver(&woo_only, "orders/paid", "orders-paid").await;
    assert_eq!(
        (reply.status, reply.body["detail"].as_str()),
        (401, Some("this deployment takes no Shopify webhooks"))
    );
}

#[tokio::test]
async fn refunds_and_cancellations_reverse_their_share_in_either_order_once() {
    let api = shop().await;
    // A refund and a cancellation of orders never recorded (from before the shop
    // connected, or never paid): acknowledged, so that Shopify keeps the webhooks, and
    // nothing changes.
    let before = api.items().await;
    let early = deliver(&api, "refunds/create", "refunds-create").await;
    assert_eq!(
        (early.status, early.body["outcome"].as_str()),
        (200, Some("unknown-order")),
        "{}",
        early.body
    );
    let unpaid = String::from_utf8(sample("orders-cancelled"))
        .unwrap()
        .replace("5813092139123", "5813092130000");
    let cancelled = deliver_as(
        &api,
        "orders/cancelled",
        unpaid.as_bytes(),
        SECRET,
        SHOP,
        "c-0",
    )
    .await;
    assert_eq!(
        cancelled.body["outcome"], "unknown-order",
        "{}",
        cancelled.body
    );
    assert_eq!(api.items().await, before);

    let paid = deliver(&api, "orders/paid", "orders-paid").await;
    let earned = paid.body["points_delta"].as_i64().unwrap();
    let refund = deliver(&api, "refunds/create", "refunds-create").await;
    assert_eq!(refund.status, 200, "{}", refund.body);
    assert_eq!(refund.body["outcome"], "applied");
    // One tin of three: 11.25 of 51.76.
    assert_eq!(refund.body["points_delta"], -(earned * 1125 / 5176));
    assert_eq!(api.get(ASHA).await.body["net_spend_minor"], 5176 - 1125);
    let again = deliver(&api, "refunds/create", "refunds-create").await;
    assert_eq!(again.body["outcome"], "duplicate");

    // The cancellation takes back what is left, and only that.
    let cancel = deliver(&api, "orders/cancelled", "orders-cancelled").await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let profile = api.get(ASHA).await;
    assert_eq!(profile.body["net_spend_minor"], 0);
    assert_eq!(profile.body["points_balance"], 0);
    assert_eq!(api.ledger_sum("shopify-7390123456789").await, 0);
    // A refund Shopify sends after the cancellation finds nothing left.
    let after = String::from_utf8(sample("refunds-create"))
        .unwrap()
        .replace("929361464123", "929361464124");
    let late = deliver_as(
        &api,
        "refunds/create",
        after.as_bytes(),
        SECRET,
        SHOP,
        "late-refund",
    )
    .await;
    assert_eq!(late.status, 200, "{}", late.body);
    assert_eq!(late.body["points_delta"], 0);
    assert_eq!(api.get(ASHA).await.body["net_spend_minor"], 0);
}

#[tokio::test]
async fn customers_are_created_updated_and_redacted() {
    let api = shop().await;
    let created = deliver(&api, "customers/create", "customers-create").await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["outcome"], "applied");
    let lin = api.get("/v1/customers/shopify-7390123456790").await;
    assert_eq!(lin.body["email"], "lin.wei@example.com");
    assert_eq!(lin.body["marketing_consent"], true);
    assert_eq!(lin.body["orders"], 0);

    deliver(&api, "orders/paid", "orders-paid").await;
    let body = sample("customers-update");
    let update = deliver_as(&api, "customers/update", &body, SECRET, SHOP, "u-1").await;
    assert_eq!(update.body["outcome"], "applied");
    assert_eq!(api.get(ASHA).await.body["marketing_consent"], false);
    let redelivered = deliver_as(&api, "customers/update", &body, SECRET, SHOP, "u-1").await;
    assert_eq!(redelivered.body["outcome"], "duplicate");

    let before = api.items().await;
    let ignored = deliver(&api, "products/update", "products-update").await;
    assert_eq!(
        (ignored.status, ignored.body["outcome"].as_str()),
        (200, Some("ignored"))
    );
    let request = deliver(&api, "customers/data_request", "customers-data_request").await;
    assert_eq!(request.body["outcome"], "for-the-merchant");
    let shop_gone = deliver(&api, "shop/redact", "shop-redact").await;
    assert_eq!(shop_gone.body["outcome"], "for-the-merchant");
    assert_eq!(api.items().await, before, "none of them changes anything");
    // The data request and the shop's erasure request reach the merchant by mail.
    let mail = api.support_mail().await;
    let asked = mail
        .iter()
        .find(|m| m.subject == "Data request from Shopify for customer shopify-7390123456789")
        .expect("the data request mailed to the merchant");
    let text = asked.text.as_deref().unwrap_or_default();
    assert!(
        text.contains("GET /v1/customers/shopify-7390123456789/export"),
        "{text}"
    );
    assert!(
        text.contains("data request 9999") && text.contains("5813092139123"),
        "{text}"
    );
    assert!(
        mail.iter()
            .any(|m| m.subject == "Shopify asks to erase the data of tea-house.myshopify.com"),
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );

    let redact = deliver(&api, "customers/redact", "customers-redact").await;
    assert_eq!(redact.status, 200, "{}", redact.body);
    assert_eq!(redact.body["outcome"], "erased");
    let erased = api.get(ASHA).await;
    assert_eq!(erased.body["email"], Value::Null);
    assert_eq!(erased.body["orders"], 1, "the accounts stay");
    let again = deliver(&api, "customers/redact", "customers-redact").await;
    assert_eq!(again.body["outcome"], "erased");
    // Nothing stored about a customer: nothing to erase.
    let stranger = String::from_utf8(sample("customers-redact"))
        .unwrap()
        .replace("7390123456789", "1");
    let reply = deliver_as(
        &api,
        "customers/redact",
        stranger.as_bytes(),
        SECRET,
        SHOP,
        "r-9",
    )
    .await;
    assert_eq!(reply.body["outcome"], "unknown-customer");
}
