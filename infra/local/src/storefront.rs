//! `make demo`'s storefront webhooks: a Shopify order paid, delivered twice as Shopify
//! retries, then partly refunded, and a WooCommerce order — the samples of
//! infra/events, dated to now and signed with the stack's webhook secrets the way the
//! platforms sign them.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rapport_shared::auth::webhook;
use serde_json::Value;

const SHOPIFY_ORDER: &str = include_str!("../../events/shopify/orders-paid.json");
const SHOPIFY_REFUND: &str = include_str!("../../events/shopify/refunds-create.json");
const WOO_ORDER: &str = include_str!("../../events/woocommerce/order-processing.json");

/// Where and how to deliver.
pub struct Shops<'a> {
    pub base_url: &'a str,
    pub shopify_secret: &'a str,
    pub shopify_domain: &'a str,
    pub woocommerce_secret: &'a str,
}

/// `sample` with each of `fields` (top-level) set to `at`, as the platform writes it.
fn dated(sample: &str, fields: &[&str], at: String) -> Result<Vec<u8>> {
    let mut body: Value = serde_json::from_str(sample).context("a sample payload")?;
    for field in fields {
        body[*field] = Value::String(at.clone());
    }
    Ok(serde_json::to_vec(&body)?)
}

async fn deliver(
    client: &reqwest::Client,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Result<Value> {
    let mut request = client.post(&url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .with_context(|| url.clone())?;
    let status = response.status().as_u16();
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        bail!("{url} answered {status}: {reply}");
    }
    Ok(reply)
}

fn line(note: &str, reply: &Value) {
    println!(
        "  {note:<56} 200 {} {}",
        reply["outcome"].as_str().unwrap_or("?"),
        reply["points_delta"]
            .as_i64()
            .map(|p| format!("points {p:+}"))
            .unwrap_or_default()
    );
}

/// Delivers the samples and prints what each did.
pub async fn run(shops: &Shops<'_>, now: DateTime<Utc>) -> Result<()> {
    let client = reqwest::Client::new();
    let shopify = |topic: &'static str, body: &[u8], delivery: &'static str| {
        let headers = vec![
            ("X-Shopify-Topic", topic.to_owned()),
            (
                "X-Shopify-Hmac-Sha256",
                webhook::sign(shops.shopify_secret.as_bytes(), body),
            ),
            ("X-Shopify-Shop-Domain", shops.shopify_domain.to_owned()),
            ("X-Shopify-Webhook-Id", delivery.to_owned()),
        ];
        deliver(
            &client,
            format!("{}/v1/webhooks/shopify", shops.base_url),
            headers,
            body.to_vec(),
        )
    };
    println!("storefront webhooks, signed as Shopify and WooCommerce sign them");
    let paid_at = (now - Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let order = dated(SHOPIFY_ORDER, &["created_at", "processed_at"], paid_at)?;
    line(
        "Shopify orders/paid (#1042, 3 teas and a teapot)",
        &shopify("orders/paid", &order, "demo-paid-1").await?,
    );
    line(
        "Shopify retries the same delivery",
        &shopify("orders/paid", &order, "demo-paid-1").await?,
    );
    let refunded_at = (now - Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let refund = dated(SHOPIFY_REFUND, &["created_at", "processed_at"], refunded_at)?;
    line(
        "Shopify refunds/create (one tin of three)",
        &shopify("refunds/create", &refund, "demo-refund-1").await?,
    );

    let gmt = (now - Duration::minutes(30))
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let woo = dated(
        WOO_ORDER,
        &["date_created_gmt", "date_paid_gmt", "date_modified_gmt"],
        gmt,
    )?;
    let headers = vec![
        ("X-WC-Webhook-Topic", "order.updated".to_owned()),
        (
            "X-WC-Webhook-Signature",
            webhook::sign(shops.woocommerce_secret.as_bytes(), &woo),
        ),
        ("X-WC-Webhook-Delivery-ID", "demo-woo-1".to_owned()),
    ];
    let reply = deliver(
        &client,
        format!("{}/v1/webhooks/woocommerce", shops.base_url),
        headers,
        woo,
    )
    .await?;
    line("WooCommerce order.updated (#1187, processing)", &reply);
    Ok(())
}
