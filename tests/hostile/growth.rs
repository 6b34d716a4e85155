//! A customer with a very long history keeps working: the profile item does not grow
//! with the number of reviews or the size of orders (DynamoDB refuses items over
//! 400 KB, which once turned every review past the 3,379th into a 500) nor with the
//! years of purchase days, and the export comes in pages however long the history.

use rapport_integration::{TestApi, cid, purchase, refund};
use rapport_shared::domain::profile::PURCHASE_DAYS_KEPT;
use rapport_shared::store::ProfileStore;
use serde_json::{Value, json};

/// A 120-character product code, distinct per `i`.
fn long_sku(i: usize) -> String {
    format!("SKU-{i:06}-{}", "x".repeat(109))
}

/// The stored profile item's size in bytes, as DynamoDB counts it roughly: names and
/// values of its JSON form.
async fn profile_bytes(api: &TestApi, customer: &str) -> usize {
    let pk = format!("CUSTOMER#{customer}");
    let item = api
        .items()
        .await
        .into_iter()
        .find(|i| i["PK"] == pk && i["SK"] == "PROFILE")
        .expect("the profile item");
    item.to_string().len()
}

fn review(customer: &str, n: usize) -> Value {
    json!({
        "event_id": format!("rv-{n}"),
        "customer_id": customer,
        "order_id": "o-0",
        "sku": long_sku(n),
        "rating": 4,
        "title": "Good",
        "body": "Does what it says.",
        "occurred_at": "2026-11-01T10:00:00Z",
    })
}

#[tokio::test]
async fn the_profile_stays_the_same_size_however_many_reviews_and_items() {
    let api = TestApi::start().await;
    let customer = "prolific";
    // An order with as many distinct long product codes as a body allows.
    let mut order = purchase("e-0", customer, "o-0", 30_000);
    order["items"] = (0..300)
        .map(|i| json!({"sku": long_sku(i), "quantity": 1, "unit_price_minor": 100}))
        .collect();
    let r = api.post("/v1/events/purchase", &order).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let mut sizes = Vec::new();
    for n in 0..300 {
        let r = api.post("/v1/events/review", &review(customer, n)).await;
        assert_eq!(r.status, 200, "review {n}: {:?}", r.body);
        if n == 149 || n == 299 {
            sizes.push(profile_bytes(&api, customer).await);
        }
    }
    // Past the remembered reviews the profile stops growing: one review more or less
    // only changes a few counters' digits.
    assert!(
        sizes[1].abs_diff(sizes[0]) < 64,
        "profile bytes after 150 and 300 reviews: {sizes:?}"
    );
    assert!(sizes[1] < 40_000, "{sizes:?}");
    let profile = api.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["orders"], 1);
}

#[tokio::test]
async fn five_years_of_weekly_orders_keep_the_purchase_days_bounded_and_the_figures_exact() {
    let api = TestApi::start_with(&[("RAPPORT_EVENT_MAX_AGE_DAYS", "2000")]).await;
    let customer = "weekly";
    let today = chrono::Utc::now();
    let weeks = 5 * 52;
    let mut spent = 0;
    for n in 0..weeks {
        let total = 1_000 + 7 * n;
        let mut order = purchase(&format!("e-{n}"), customer, &format!("o-{n}"), total);
        order["occurred_at"] = (today - chrono::Duration::weeks(weeks - n))
            .to_rfc3339()
            .into();
        let r = api.post("/v1/events/purchase", &order).await;
        assert_eq!(r.status, 200, "order {n}: {:?}", r.body);
        spent += total;
    }
    // A refund of the very first order (a folded day by now) and of a recent one.
    for (n, amount) in [(0, 400), (weeks - 2, 1_000)] {
        let body = refund(&format!("r-{n}"), customer, &format!("o-{n}"), amount);
        let r = api.post("/v1/events/purchase", &body).await;
        assert_eq!(r.status, 200, "refund {n}: {:?}", r.body);
        spent -= amount;
    }

    let p = api
        .store
        .profile(&cid(customer))
        .await
        .unwrap()
        .unwrap()
        .value;
    let (first, last) = (
        *p.purchase_days.keys().next().unwrap(),
        *p.purchase_days.keys().next_back().unwrap(),
    );
    assert!((last - first).num_days() as u64 <= PURCHASE_DAYS_KEPT);
    assert!(
        p.purchase_days.len() as u64 <= PURCHASE_DAYS_KEPT / 7 + 1,
        "{} days kept",
        p.purchase_days.len()
    );
    let folded = p.earlier_days.expect("the oldest days are folded");
    assert!(folded.last_day < first);
    assert_eq!(folded.first_minor, 1_000 - 400);
    assert_eq!(p.purchase_day_count(), weeks as usize);
    assert_eq!(p.net_spend_minor, spent);
    assert_eq!(p.repeat_spend_minor, spent - 600);
    assert_eq!(
        folded.net_minor() + p.purchase_days.values().sum::<i64>(),
        spent
    );

    let view = api.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(view.status, 200, "{:?}", view.body);
    assert_eq!(view.body["purchase_days"], weeks);
    assert_eq!(view.body["orders"], weeks);
    assert_eq!(view.body["net_spend_minor"], spent);
    assert_eq!(view.body["repeat_spend_minor"], spent - 600);
}

#[tokio::test]
async fn a_long_history_is_exported_in_pages() {
    // Small pages, so that a short history needs several.
    let api = TestApi::start_with(&[("RAPPORT_EXPORT_PAGE_BYTES", "4096")]).await;
    let customer = "longtime";
    for n in 0..40 {
        let mut order = purchase(&format!("e-{n}"), customer, &format!("o-{n}"), 1_000 + n);
        order["occurred_at"] = format!("2026-{:02}-{:02}T10:00:00Z", 1 + n / 28, 1 + n % 28).into();
        let r = api.post("/v1/events/purchase", &order).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let path = format!("/v1/customers/{customer}/export");
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?cursor={c}"),
            None => path.clone(),
        };
        let page = api.get(&url).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        assert_eq!(page.body["profile"]["customer_id"], customer, "every page");
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        pages.push(page.body);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 100, "pages must end");
    }
    assert!(pages.len() >= 4, "{} pages", pages.len());
    for page in &pages {
        assert!(
            page.to_string().len() <= 4096 + 2_048,
            "a page holds what fits its budget (the single records aside)"
        );
    }
    let all = |list: &str| -> Vec<Value> {
        pages
            .iter()
            .flat_map(|p| p[list].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let orders = all("orders");
    assert_eq!(orders.len(), 40, "every order once");
    let mut ids: Vec<&str> = orders
        .iter()
        .filter_map(|o| o["order_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert_eq!(all("ledger").len(), 40, "every ledger entry once");

    // A cursor this export did not answer is refused, naming the field.
    for bad in ["x", "9.0", "0.999999", "1"] {
        let r = api.get(&format!("{path}?cursor={bad}")).await;
        assert_eq!(
            (r.status, r.field()),
            (422, "cursor"),
            "{bad}: {:?}",
            r.body
        );
    }
}

/// The measurement behind the limits: one customer, 10,000 orders and 10,000 reviews of
/// 120-character products over HTTP into DynamoDB Local (about 10 minutes here), every
/// request answered 200 and the profile and export still served.
/// `cargo test --test integration -- --ignored hostile::growth` runs it.
#[tokio::test]
#[ignore = "a measurement of ~10 minutes; run on demand"]
async fn ten_thousand_orders_and_ten_thousand_reviews() {
    let api = TestApi::start().await;
    let customer = "whale";
    let started = std::time::Instant::now();
    for n in 0..10_000usize {
        let mut order = purchase(&format!("e-{n}"), customer, &format!("o-{n}"), 2_500);
        let day =
            chrono::NaiveDate::from_ymd_opt(1999, 1, 1).unwrap() + chrono::Days::new(n as u64);
        order["occurred_at"] = format!("{day}T10:00:00Z").into();
        order["items"] = json!([{"sku": long_sku(n), "quantity": 1, "unit_price_minor": 2_500}]);
        let r = api.post("/v1/events/purchase", &order).await;
        assert_eq!(r.status, 200, "order {n}: {:?}", r.body);
    }
    let orders_done = started.elapsed();
    for n in 0..10_000usize {
        let mut body = review(customer, n);
        body["order_id"] = format!("o-{n}").into();
        let r = api.post("/v1/events/review", &body).await;
        assert_eq!(r.status, 200, "review {n}: {:?}", r.body);
    }
    let profile = api.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["orders"], 10_000);
    let bytes = profile_bytes(&api, customer).await;
    let export = api.get(&format!("/v1/customers/{customer}/export")).await;
    assert_eq!(export.status, 200);
    eprintln!(
        "growth: 10,000 orders in {orders_done:.0?}, 10,000 reviews in {:.0?}; profile item \
         {bytes} bytes; first export page {} bytes, next_cursor {}",
        started.elapsed() - orders_done,
        export.body.to_string().len(),
        export.body["next_cursor"]
    );
}
