//! `make demo`: a small, built-in stream of storefront events replayed over the signed
//! HTTP API, then each customer's points and tier.
//!
//! The stream is deliberately untidy, like real storefront traffic: a retried delivery,
//! a partial refund, a customer promoted to silver mid-stream, and a redemption.

use anyhow::{Result, bail};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::client::Signer;

/// One step of the replay: the method, the path and the JSON body.
pub struct Step {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    pub note: &'static str,
}

fn purchase(
    event: &str,
    customer: &str,
    order: &str,
    at: DateTime<Utc>,
    items: &[(&str, i64, i64)],
) -> Value {
    let total: i64 = items.iter().map(|(_, q, p)| q * p).sum();
    json!({
        "event_id": event,
        "kind": "purchase",
        "customer_id": customer,
        "order_id": order,
        "occurred_at": at.to_rfc3339(),
        "currency": "USD",
        "total_minor": total,
        "items": items.iter().map(|(sku, q, p)| json!({"sku": sku, "quantity": q, "unit_price_minor": p})).collect::<Vec<_>>(),
    })
}

fn review(
    event: &str,
    customer: &str,
    order: &str,
    sku: &str,
    rating: u8,
    title: &str,
    body: &str,
) -> Value {
    json!({
        "event_id": event, "customer_id": customer, "order_id": order, "sku": sku,
        "rating": rating, "title": title, "body": body, "occurred_at": Utc::now().to_rfc3339(),
    })
}

fn post(path: &str, body: Value, note: &'static str) -> Step {
    Step {
        method: "POST",
        path: path.into(),
        body: Some(body),
        note,
    }
}

/// The demo stream, dated relative to `now` so tiers and windows look current.
pub fn stream(now: DateTime<Utc>) -> Vec<Step> {
    let days_ago = |d: i64| now - Duration::days(d);
    let mut asha = purchase(
        "demo-e1",
        "asha",
        "A-1001",
        days_ago(60),
        &[("TEA-CHAI-250", 2, 1_250), ("MUG-CLAY", 1, 2_400)],
    );
    asha["email"] = "asha@example.com".into();
    asha["locale"] = "hi-IN".into();
    asha["birthday"] = "07-31".into();
    let mut bilal = purchase(
        "demo-e2",
        "bilal",
        "B-2001",
        days_ago(45),
        &[("KETTLE-STEEL", 1, 45_000)],
    );
    bilal["email"] = "bilal@example.com".into();
    bilal["locale"] = "ur".into();
    let mut maria = purchase(
        "demo-e3",
        "maria",
        "M-3001",
        days_ago(30),
        &[("TEA-SENCHA-100", 3, 1_800)],
    );
    maria["email"] = "maria@example.com".into();
    maria["locale"] = "fil-PH".into();
    let refund = json!({
        "event_id": "demo-e7", "kind": "refund", "customer_id": "asha", "order_id": "A-1002",
        "occurred_at": days_ago(5).to_rfc3339(), "currency": "USD", "total_minor": 1_900,
    });
    vec![
        post("/v1/events/purchase", asha, "asha's first order"),
        post("/v1/events/purchase", bilal, "bilal buys a kettle"),
        post("/v1/events/purchase", maria, "maria's first order"),
        post(
            "/v1/events/purchase",
            purchase(
                "demo-e4",
                "bilal",
                "B-2002",
                days_ago(20),
                &[("TEA-SAMPLER", 1, 9_000)],
            ),
            "bilal crosses 500.00 in a year: silver",
        ),
        post(
            "/v1/events/purchase",
            purchase(
                "demo-e4",
                "bilal",
                "B-2002",
                days_ago(20),
                &[("TEA-SAMPLER", 1, 9_000)],
            ),
            "the storefront retries the same event: no double count",
        ),
        post(
            "/v1/events/purchase",
            purchase(
                "demo-e5",
                "asha",
                "A-1002",
                days_ago(10),
                &[("TEA-CHAI-250", 1, 1_250), ("STRAINER", 1, 1_900)],
            ),
            "asha comes back",
        ),
        post(
            "/v1/events/purchase",
            purchase(
                "demo-e6",
                "bilal",
                "B-2003",
                days_ago(8),
                &[("TEA-OOLONG-100", 2, 2_200)],
            ),
            "silver earns x1.25",
        ),
        post("/v1/events/purchase", refund, "asha returns the strainer"),
        post(
            "/v1/events/review",
            review(
                "demo-e8",
                "asha",
                "A-1001",
                "MUG-CLAY",
                5,
                "बहुत सुंदर",
                "मग बहुत अच्छा है, चाय का स्वाद और भी अच्छा लगता है।",
            ),
            "asha reviews her mug (Hindi): verified, rewarded",
        ),
        post(
            "/v1/events/review",
            review(
                "demo-e9",
                "maria",
                "M-3001",
                "TEA-SENCHA-100",
                2,
                "Medyo luma",
                "Parang luma na ang tsaa, hindi kasing bango ng dati.",
            ),
            "maria is unhappy (Tagalog): service recovery, alert",
        ),
        post(
            "/v1/events/referral",
            json!({
                "event_id": "demo-e10", "referral_code": format!("{CODE_OF}asha"),
                "referee_customer_id": "chen", "referee_email": "chen@example.com",
                "occurred_at": days_ago(3).to_rfc3339(),
            }),
            "chen arrives with asha's referral code",
        ),
        post(
            "/v1/events/purchase",
            purchase(
                "demo-e11",
                "chen",
                "C-4001",
                days_ago(2),
                &[("TEA-SAMPLER", 1, 9_000)],
            ),
            "chen's first order converts the referral (rewards held)",
        ),
        post(
            "/v1/events/referral",
            json!({
                "event_id": "demo-e12", "referral_code": format!("{CODE_OF}asha"),
                "referee_customer_id": "asha", "occurred_at": days_ago(1).to_rfc3339(),
            }),
            "asha tries her own code: rejected",
        ),
        post(
            "/v1/customers/bilal/redemptions",
            json!({"redemption_id": "demo-r1", "customer_id": "bilal", "points": 300}),
            "bilal spends 300 points on a coupon",
        ),
    ]
}

/// What customers do besides buying, under the program the merchant just edited: a
/// signup before any order, a newsletter, follows (the same network twice earns once).
pub async fn activities(base_url: &str, signer: &Signer) -> Result<()> {
    let client = reqwest::Client::new();
    let now = Utc::now().to_rfc3339();
    let activity = |event: &str, customer: &str, activity: &str, extra: Value| {
        let mut body = json!({
            "event_id": event, "customer_id": customer, "activity": activity, "occurred_at": now,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let steps = [
        (
            activity(
                "demo-a1",
                "farah",
                "signup",
                json!({"email": "farah@example.com", "first_name": "Farah", "locale": "ur-PK",
                       "marketing_consent": true}),
            ),
            "farah signs up before any order (Urdu)",
        ),
        (
            activity("demo-a2", "maria", "newsletter_signup", json!({})),
            "maria subscribes to the newsletter",
        ),
        (
            activity(
                "demo-a3",
                "asha",
                "social_follow",
                json!({"network": "instagram"}),
            ),
            "asha follows the shop on Instagram",
        ),
        (
            activity(
                "demo-a4",
                "asha",
                "social_follow",
                json!({"network": "instagram"}),
            ),
            "asha follows again: nothing more",
        ),
    ];
    println!("customers' activities besides buying");
    for (body, note) in steps {
        let (status, reply) = signer
            .send(
                &client,
                base_url,
                "POST",
                "/v1/events/activity",
                Some(&body),
            )
            .await?;
        if status != 200 {
            bail!("POST /v1/events/activity answered {status}: {reply}");
        }
        let why = reply["not_earned"].as_str().unwrap_or_default();
        println!(
            "  {note:<56} {status} points {:>+5}  {why}",
            reply["points_delta"].as_i64().unwrap_or_default()
        );
    }
    Ok(())
}

/// The customers the stream touches, for the closing summary.
pub const CUSTOMERS: &[&str] = &["asha", "bilal", "maria", "chen"];

/// A body value standing for a customer's referral code, fetched when the step runs:
/// codes are minted by the API, so the stream cannot know them in advance.
const CODE_OF: &str = "code-of:";

/// Replaces a `code-of:<customer>` referral code with that customer's real code.
async fn resolve_codes(
    client: &reqwest::Client,
    base_url: &str,
    signer: &Signer,
    step: &mut Step,
) -> Result<()> {
    let Some(body) = step.body.as_mut() else {
        return Ok(());
    };
    let Some(owner) = body["referral_code"]
        .as_str()
        .and_then(|c| c.strip_prefix(CODE_OF))
        .map(str::to_owned)
    else {
        return Ok(());
    };
    let path = format!("/v1/customers/{owner}/referral-code");
    let (status, reply) = signer.send(client, base_url, "GET", &path, None).await?;
    match reply["code"].as_str() {
        Some(code) if status == 200 => {
            body["referral_code"] = code.into();
            Ok(())
        }
        _ => bail!("GET {path} answered {status}: {reply}"),
    }
}

/// Replays the stream against `base_url` and prints what happened, then the customers.
pub async fn run(base_url: &str, signer: &Signer) -> Result<()> {
    let client = reqwest::Client::new();
    println!(
        "replaying {} signed events against {base_url}",
        stream(Utc::now()).len()
    );
    for mut step in stream(Utc::now()) {
        resolve_codes(&client, base_url, signer, &mut step).await?;
        let (status, body) = signer
            .send(
                &client,
                base_url,
                step.method,
                &step.path,
                step.body.as_ref(),
            )
            .await?;
        if status != 200 {
            bail!("{} {} answered {status}: {body}", step.method, step.path);
        }
        let outcome = match body.get("coupon_code").and_then(Value::as_str) {
            Some(code) => format!("coupon {code}"),
            None if body.get("referral_code").is_some() => format!(
                "referral {} {}",
                body["status"].as_str().unwrap_or("?"),
                body["reason"].as_str().unwrap_or("")
            ),
            None if body.get("rating").is_some() => format!(
                "points {:>+5}  verified={} service_recovery={}",
                body["points_awarded"].as_i64().unwrap_or_default(),
                body["verified"],
                body["service_recovery"]
            ),
            None => format!(
                "points {:>+5}  duplicate={}",
                body["points_delta"].as_i64().unwrap_or_default(),
                body["duplicate"]
            ),
        };
        println!("  {:<56} {status} {outcome}", step.note);
    }
    println!();
    println!(
        "{:<8} {:>7} {:>8} {:>7} {:>7} {:>14}  flags",
        "customer", "points", "pending", "tier", "orders", "net spend"
    );
    for customer in CUSTOMERS {
        let (status, p) = signer
            .send(
                &client,
                base_url,
                "GET",
                &format!("/v1/customers/{customer}"),
                None,
            )
            .await?;
        if status != 200 {
            bail!("profile of {customer} answered {status}: {p}");
        }
        let spend = p["net_spend_minor"].as_i64().unwrap_or_default();
        let flags: Vec<String> = [
            ("service_recovery", "service-recovery"),
            ("referral_ask", "referral-ask"),
            ("ambassador", "ambassador"),
        ]
        .into_iter()
        .filter(|(key, _)| p[*key] == true)
        .map(|(_, label)| label.to_owned())
        .chain(p["referred"].as_str().map(|s| format!("referral-{s}")))
        .collect();
        println!(
            "{:<8} {:>7} {:>8} {:>7} {:>7} {:>10}.{:02} {}  {}",
            customer,
            p["points_balance"].as_i64().unwrap_or_default(),
            p["points_pending"].as_i64().unwrap_or_default(),
            p["tier"].as_str().unwrap_or("?"),
            p["orders"].as_i64().unwrap_or_default(),
            spend / 100,
            spend % 100,
            p["currency"].as_str().unwrap_or(""),
            flags.join(" ")
        );
    }
    Ok(())
}
