//! A shop's history for the demo: the CDNOW sample (2,357 customers' CD purchases over
//! 18 months) shifted so its last day is yesterday, turned into signed purchase events,
//! plus generated reviews and referrals — replayed over the HTTP API like a storefront.
//!
//! Everything generated is a deterministic function of the customer id, so every demo
//! run tells the same story.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures::stream::{self, StreamExt};
use rapport_models::io::{TransactionFormat, read_transactions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::Signer;
use crate::datasets::lifetimes_dataset;

const SKUS: [&str; 5] = ["CD-ROCK", "CD-JAZZ", "CD-CLASSICAL", "CD-POP", "CD-WORLD"];
const LOCALES: [&str; 4] = ["en-US", "hi-IN", "ur-PK", "fil-PH"];
const ZONES: [&str; 4] = [
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Karachi",
    "Asia/Manila",
];
/// Customers replayed at once; each customer's own events stay in order.
const CLIENTS: usize = 16;

/// A stable number in 0..n for (customer, purpose).
fn draw(customer: &str, purpose: &str, n: u64) -> u64 {
    let digest = Sha256::digest(format!("{customer}|{purpose}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head) % n
}

/// One customer's events, in the order the storefront would send them.
pub struct CustomerEvents {
    pub customer: String,
    pub events: Vec<(&'static str, Value)>,
}

/// What was replayed.
#[derive(Debug, Default)]
pub struct Replayed {
    pub customers: usize,
    pub purchases: usize,
    pub reviews: usize,
    pub referrals: usize,
    /// Rejected by the API: the path, status and problem.
    pub rejected: Vec<String>,
}

/// The CDNOW sample as storefront events, its last purchase day moved to yesterday.
pub fn cdnow_events(now: DateTime<Utc>) -> Result<Vec<CustomerEvents>> {
    let data = lifetimes_dataset("CDNOW_sample.txt")?;
    let shop =
        read_transactions(&data, TransactionFormat::Cdnow).context("reading CDNOW_sample.txt")?;
    let last = shop
        .customers()
        .iter()
        .filter_map(|c| c.purchase_days().last().and_then(|d| d.date()))
        .max()
        .context("the data set has no purchases")?;
    let yesterday = now.date_naive() - Duration::days(1);
    let shift = yesterday - last;
    let at = |day: NaiveDate, customer: &str| {
        let minutes = draw(customer, &day.to_string(), 10 * 60) as u32;
        (day + shift)
            .and_time(
                NaiveTime::from_hms_opt(9 + minutes / 60, minutes % 60, 0).unwrap_or_default(),
            )
            .and_utc()
    };
    let mut out = Vec::with_capacity(shop.len());
    for history in shop.customers() {
        let customer = format!("cd-{}", history.id());
        let mut events = Vec::new();
        let mut last_order = None;
        for (n, day) in history.purchase_days().iter().enumerate() {
            let Some(date) = day.date() else { continue };
            let cents = (day.amount * 100.0).round() as i64;
            // CDNOW has a few free orders; they add nothing a shop would score.
            if cents <= 0 {
                continue;
            }
            let order = format!("{customer}-o{n}");
            let sku = SKUS[draw(&customer, &order, SKUS.len() as u64) as usize];
            let mut event = json!({
                "event_id": format!("{order}-purchase"),
                "kind": "purchase",
                "customer_id": customer,
                "order_id": order,
                "occurred_at": at(date, &customer).to_rfc3339(),
                "currency": "USD",
                "total_minor": cents,
                "items": [{"sku": sku, "quantity": 1, "unit_price_minor": cents}],
            });
            if events.is_empty() {
                let pick = |purpose, n| draw(&customer, purpose, n) as usize;
                // Mostly English; a tenth each in Hindi, Urdu and Tagalog.
                let lang = match pick("locale", 10) {
                    0 => 1,
                    1 => 2,
                    2 => 3,
                    _ => 0,
                };
                event["email"] = format!("{customer}@example.com").into();
                event["locale"] = LOCALES[lang].into();
                event["timezone"] = ZONES[lang].into();
                event["marketing_consent"] = (pick("consent", 10) < 7).into();
                if pick("birthday", 3) == 0 {
                    // Spread over the year, a few of them today.
                    let day = now.date_naive() - Duration::days(pick("birthday-day", 365) as i64);
                    event["birthday"] = day.format("%m-%d").to_string().into();
                }
            }
            last_order = Some((order, sku, date));
            events.push(("/v1/events/purchase", event));
        }
        // Some customers review their latest order; most are happy, a few are not.
        if let Some((order, sku, date)) = last_order
            && draw(&customer, "reviews", 100) < 12
        {
            let rating = match draw(&customer, "rating", 20) {
                0 => 1,
                1 | 2 => 2,
                3..=5 => 3,
                6..=11 => 4,
                _ => 5,
            };
            let (title, body) = match rating {
                1 | 2 => (
                    "Disappointed",
                    "The case arrived cracked and one disc skips.",
                ),
                3 => ("Fine", "Good music, slow delivery."),
                _ => (
                    "Love it",
                    "Great recording, arrived quickly and well packed.",
                ),
            };
            events.push((
                "/v1/events/review",
                json!({
                    "event_id": format!("{customer}-review"),
                    "customer_id": customer, "order_id": order, "sku": sku,
                    "rating": rating, "title": title, "body": body,
                    "occurred_at": (at(date, &customer) + Duration::days(3)).min(now).to_rfc3339(),
                }),
            ));
        }
        if !events.is_empty() {
            out.push(CustomerEvents { customer, events });
        }
    }
    Ok(out)
}

/// The path a replayed event went to, the status and the body of the answer.
type Answer = (&'static str, u16, Value);

/// Replays every customer's events; customers in parallel, each one's events in order.
pub async fn replay(
    client: &reqwest::Client,
    base_url: &str,
    signer: &Signer,
    customers: Vec<CustomerEvents>,
) -> Result<Replayed> {
    let mut replayed = Replayed {
        customers: customers.len(),
        ..Replayed::default()
    };
    let results: Vec<Result<Vec<Answer>>> = stream::iter(customers)
        .map(|c| async move {
            let mut answers = Vec::with_capacity(c.events.len());
            for (path, body) in &c.events {
                let (status, reply) = signer
                    .send(client, base_url, "POST", path, Some(body))
                    .await
                    .with_context(|| format!("replaying {}", c.customer))?;
                answers.push((*path, status, reply));
            }
            Ok(answers)
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    for answers in results {
        for (path, status, reply) in answers? {
            if status >= 500 {
                bail!("POST {path} answered {status}: {reply}");
            }
            if status != 200 {
                replayed
                    .rejected
                    .push(format!("POST {path} {status}: {reply}"));
                continue;
            }
            match path {
                "/v1/events/review" => replayed.reviews += 1,
                "/v1/events/referral" => replayed.referrals += 1,
                _ => replayed.purchases += 1,
            }
        }
    }
    Ok(replayed)
}

/// Up to `n` of the most loyal customers (eight purchase days or more), to refer friends.
pub fn loyal(customers: &[CustomerEvents], n: usize) -> Vec<String> {
    customers
        .iter()
        .filter(|c| c.events.len() >= 8)
        .take(n)
        .map(|c| c.customer.clone())
        .collect()
}

/// Referrals among the replayed customers: each of `referrers` brings a friend, who signs
/// up with the code and buys; the first tries to refer themself.
pub async fn refer_friends(
    client: &reqwest::Client,
    base_url: &str,
    signer: &Signer,
    referrers: &[String],
    now: DateTime<Utc>,
) -> Result<Replayed> {
    let mut streams = Vec::new();
    for (i, referrer) in referrers.iter().enumerate() {
        let path = format!("/v1/customers/{referrer}/referral-code");
        let (status, reply) = signer.send(client, base_url, "GET", &path, None).await?;
        let Some(code) = reply["code"].as_str().filter(|_| status == 200) else {
            bail!("GET {path} answered {status}: {reply}");
        };
        let friend = format!("friend-{i}");
        let self_referral = i == 0;
        let referee = if self_referral {
            referrer.clone()
        } else {
            friend.clone()
        };
        let mut events = vec![(
            "/v1/events/referral",
            json!({
                "event_id": format!("{referee}-referred"),
                "referral_code": code,
                "referee_customer_id": referee,
                "referee_email": format!("{referee}@example.com"),
                "occurred_at": (now - Duration::days(20 - i as i64)).to_rfc3339(),
            }),
        )];
        if !self_referral {
            let cents = 2_500 + 400 * i as i64;
            events.push((
                "/v1/events/purchase",
                json!({
                    "event_id": format!("{friend}-o0-purchase"), "kind": "purchase",
                    "customer_id": friend, "order_id": format!("{friend}-o0"),
                    "occurred_at": (now - Duration::days(18 - i as i64)).to_rfc3339(),
                    "currency": "USD", "total_minor": cents,
                    "items": [{"sku": "CD-POP", "quantity": 1, "unit_price_minor": cents}],
                    "email": format!("{friend}@example.com"), "marketing_consent": true,
                }),
            ));
        }
        streams.push(CustomerEvents {
            customer: referee,
            events,
        });
    }
    replay(client, base_url, signer, streams).await
}

/// The customers' purchases as Shopify's orders CSV export lays them out (one row per
/// line item, the order's fields on its first): what a shop moving to Rapport brings.
/// Every tenth order is partly refunded (30 %) and every fiftieth left unpaid.
pub fn shopify_orders_csv(customers: &[CustomerEvents]) -> Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "Name",
        "Email",
        "Financial Status",
        "Paid at",
        "Fulfillment Status",
        "Accepts Marketing",
        "Currency",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Discount Code",
        "Discount Amount",
        "Created at",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Cancelled at",
        "Refunded Amount",
        "Id",
    ])?;
    let mut n: u64 = 0;
    for customer in customers {
        for (_, event) in customer
            .events
            .iter()
            .filter(|(path, _)| path.ends_with("/purchase"))
        {
            n += 1;
            let cents = event["total_minor"].as_i64().unwrap_or_default();
            let money = |c: i64| format!("{}.{:02}", c / 100, c % 100);
            let at = event["occurred_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.format("%Y-%m-%d %H:%M:%S %z").to_string())
                .unwrap_or_default();
            let (status, refunded) = match n {
                n if n % 50 == 0 => ("pending", 0),
                n if n % 10 == 0 => ("partially_refunded", cents * 3 / 10),
                _ => ("paid", 0),
            };
            let sku = event["items"][0]["sku"].as_str().unwrap_or_default();
            out.write_record([
                format!("#{}", 1000 + n),
                format!("{}@example.com", customer.customer),
                status.to_owned(),
                if status == "pending" {
                    String::new()
                } else {
                    at.clone()
                },
                "fulfilled".to_owned(),
                "yes".to_owned(),
                "USD".to_owned(),
                money(cents),
                "0.00".to_owned(),
                "0.00".to_owned(),
                money(cents),
                String::new(),
                "0.00".to_owned(),
                at,
                "1".to_owned(),
                format!("CD {sku}"),
                money(cents),
                sku.to_owned(),
                String::new(),
                if refunded > 0 {
                    money(refunded)
                } else {
                    String::new()
                },
                format!("{}", 7_000_000 + n),
            ])?;
        }
    }
    Ok(String::from_utf8(
        out.into_inner().context("writing the CSV")?,
    )?)
}
