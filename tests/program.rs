//! The merchant's program document through the HTTP API against DynamoDB Local: the
//! deployment's settings as version 0, a refused document that names every problem and
//! changes nothing, a required and checked `If-Match` (two saves over one version: one
//! wins, one is told the version in force), the history, and rollback.

use rapport_integration::{Reply, TestApi, signer};
use rapport_local::shop_admin::{Credentials, ShopAdmin};
use rapport_shared::domain::storefront::codes::Platform;
use rapport_shared::service::code_sync::{CodeOutcome, CodeSync, SyncPolicy};
use rapport_shared::shop_api::{self, ShopCredentials, ShopEndpoints};
use serde_json::{Value, json};

/// Sends `body` signed as the merchant, with `If-Match` when given.
pub(crate) async fn send(
    api: &TestApi,
    method: &str,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> Reply {
    let raw = body.map(Value::to_string).unwrap_or_default();
    let signature = signer()
        .header(method, path, raw.as_bytes())
        .expect("a key for the route");
    let mut request = api
        .http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", api.base_url),
        )
        .header("Rapport-Signature", signature)
        .header("Content-Type", "application/json")
        .body(raw);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    Reply::read(request.send().await.unwrap()).await
}

/// The program in force as `GET /v1/admin/program` answers it: the deployment's
/// settings (version 0) until a test saves one.
pub(crate) async fn settings_program(api: &TestApi) -> Value {
    let read = send(api, "GET", "/v1/admin/program", None, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    read.body["program"].clone()
}

/// The settings' program without a control group, for tests that count the mail each
/// customer gets.
pub(crate) async fn without_holdout(api: &TestApi) -> Value {
    let mut program = settings_program(api).await;
    program["messages"]["holdout_pct"] = json!(0);
    program
}

/// `PUT /v1/admin/program` of `program` over the version `tag` names.
pub(crate) async fn put(api: &TestApi, program: &Value, tag: &str) -> Reply {
    send(api, "PUT", "/v1/admin/program", Some(program), Some(tag)).await
}

/// `POST /v1/admin/program/rollback` to `version`, over the version `tag` names.
async fn rollback(api: &TestApi, version: u64, tag: &str) -> Reply {
    let body = json!({ "version": version });
    send(
        api,
        "POST",
        "/v1/admin/program/rollback",
        Some(&body),
        Some(tag),
    )
    .await
}

fn etag(reply: &Reply) -> &str {
    reply
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_settings_are_version_0_and_a_bad_document_changes_nothing() {
    let api = TestApi::start().await;
    let read = send(&api, "GET", "/v1/admin/program", None, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        (read.body["version"].as_u64(), etag(&read)),
        (Some(0), "\"0\"")
    );
    let program = &read.body["program"];
    assert_eq!(program["earning"]["points_per_unit"], 1);
    let tiers: Vec<&str> = program["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["bronze", "silver", "gold"]);
    assert_eq!(program["redemption"]["coupon_valid_days"], 90);

    let before = api.items().await;
    let mut broken = program.clone();
    broken["tiers"][0]["min_spend_minor"] = json!(100);
    broken["tiers"][2]["multiplier_pct"] = json!(0);
    broken["redemption"]["coupon_valid_days"] = json!(0);
    let refused = put(&api, &broken, "\"0\"").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.content_type, "application/problem+json");
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "tiers[2].multiplier_pct",
            "redemption.coupon_valid_days",
            "tiers[0].min_spend_minor",
        ]
    );
    assert_eq!(refused.field(), "tiers[2].multiplier_pct");
    let mut unknown = program.clone();
    unknown["earning"]["points_per_euro"] = json!(2);
    let refused = put(&api, &unknown, "\"0\"").await;
    assert_eq!(
        (refused.status, refused.field()),
        (422, "earning.points_per_euro")
    );
    // Without saying which version it edits, or with the storefront's key: refused.
    let unconditional = send(&api, "PUT", "/v1/admin/program", Some(program), None).await;
    assert_eq!(unconditional.status, 428, "{}", unconditional.body);
    let raw = program.to_string();
    let storefront = rapport_integration::sign_as(
        &rapport_integration::key(rapport_shared::auth::keys::Scope::Events),
        chrono::Utc::now().timestamp(),
        "PUT",
        "/v1/admin/program",
        raw.as_bytes(),
    );
    let forbidden = api
        .send_raw(
            "PUT",
            "/v1/admin/program",
            raw.into_bytes(),
            Some(&storefront),
            Some("application/json"),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(api.items().await, before, "nothing was written");
}

#[tokio::test]
async fn two_saves_over_one_version_one_wins_and_rollback_restores() {
    let api = TestApi::start().await;
    let read = send(&api, "GET", "/v1/admin/program", None, None).await;
    let mut doubled = read.body["program"].clone();
    doubled["earning"]["points_per_unit"] = json!(2);
    let mut tripled = doubled.clone();
    tripled["earning"]["points_per_unit"] = json!(3);
    let (a, b) = tokio::join!(put(&api, &doubled, "\"0\""), put(&api, &tripled, "\"0\""),);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{} / {}", a.body, b.body);
    let (won, lost) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_eq!(
        (won.body["version"].as_u64(), etag(&won)),
        (Some(1), "\"1\"")
    );
    assert_eq!(won.body["saved_by"], "test-admin");
    assert_eq!(
        (lost.problem_type(), etag(&lost)),
        ("https://rapport.dev/problems/stale-version", "\"1\"")
    );
    let now = send(&api, "GET", "/v1/admin/program", None, None).await;
    assert_eq!(now.body["program"], won.body["program"]);

    // A second version, then back to the deployment's settings.
    let mut fourfold = won.body["program"].clone();
    fourfold["earning"]["points_per_unit"] = json!(4);
    let v2 = put(&api, &fourfold, "W/\"1\"").await;
    assert_eq!(v2.body["version"], 2, "{}", v2.body);
    let stale = rollback(&api, 0, "\"1\"").await;
    assert_eq!(stale.status, 412);
    let unknown = rollback(&api, 9, "\"2\"").await;
    assert_eq!(unknown.status, 404);
    let back = rollback(&api, 0, "\"2\"").await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(
        (
            back.body["version"].as_u64(),
            back.body["restored_from"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(back.body["program"], read.body["program"]);

    let history = send(&api, "GET", "/v1/admin/program/versions", None, None).await;
    let versions: Vec<(u64, i64)> = history.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["program"]["earning"]["points_per_unit"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (3, 1),
            (2, 4),
            (
                1,
                won.body["program"]["earning"]["points_per_unit"]
                    .as_i64()
                    .unwrap()
            )
        ]
    );
    let page = send(
        &api,
        "GET",
        "/v1/admin/program/versions?limit=1",
        None,
        None,
    )
    .await;
    assert_eq!(page.body["versions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_saved_program_decides_the_next_events_and_each_entry_names_its_version() {
    use rapport_shared::store::LedgerStore;
    let api = TestApi::start().await;
    let buy = |n: u32| {
        rapport_integration::purchase(&format!("e-{n}"), "asha", &format!("o-{n}"), 10_000)
    };
    let first_event = buy(1);
    let first = api.post("/v1/events/purchase", &first_event).await;
    assert_eq!(first.body["points_delta"], 100, "{}", first.body);

    let read = send(&api, "GET", "/v1/admin/program", None, None).await;
    let mut triple = read.body["program"].clone();
    triple["earning"]["points_per_unit"] = json!(3);
    let saved = put(&api, &triple, "\"0\"").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let second = api.post("/v1/events/purchase", &buy(2)).await;
    assert_eq!(second.body["points_delta"], 300, "{}", second.body);
    // A retry of the first event answers what it answered: history is not re-priced.
    let retried = api.post("/v1/events/purchase", &first_event).await;
    assert_eq!(
        (
            retried.body["points_delta"].as_i64(),
            retried.body["duplicate"].as_bool()
        ),
        (Some(100), Some(true))
    );

    let back = rollback(&api, 0, "\"1\"").await;
    assert_eq!(back.status, 200, "{}", back.body);
    let third = api.post("/v1/events/purchase", &buy(3)).await;
    assert_eq!(third.body["points_delta"], 100, "{}", third.body);

    let ledger = api
        .store
        .ledger(&rapport_integration::cid("asha"))
        .await
        .unwrap();
    let versions: Vec<(i64, Option<u64>)> = ledger
        .iter()
        .map(|e| (e.delta, e.program_version))
        .collect();
    assert_eq!(versions, [(100, Some(0)), (300, Some(1)), (100, Some(2))]);
    let customer = api.get("/v1/customers/asha").await;
    assert_eq!(customer.body["points_balance"], 500);
    assert_eq!(api.ledger_sum("asha").await, 500);
}

#[tokio::test]
async fn the_view_and_the_job_take_the_service_recovery_lapse_from_the_program() {
    use rapport_shared::domain::{OrderId, ServiceRecovery, Sku};
    use rapport_shared::store::ProfileStore;
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let now = chrono::Utc::now();
    // A review request is due (an order two weeks ago, not reviewed), held back by a
    // service-recovery flag opened 10 days ago: open under the settings' 30 days.
    let mut order = rapport_integration::purchase("e-mei", "mei", "o-mei", 1_000);
    order["occurred_at"] = (now - chrono::Duration::days(15)).to_rfc3339().into();
    order["marketing_consent"] = true.into();
    order["email"] = format!("mei-{tag}@example.com").into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    let customer = rapport_integration::cid("mei");
    let stored = api.store.profile(&customer).await.unwrap().unwrap();
    let mut profile = stored.value;
    profile.service_recovery = Some(ServiceRecovery {
        opened_at: now - chrono::Duration::days(10),
        sku: Sku::parse("sku", "SKU-1").unwrap(),
        order_id: OrderId::parse("o", "o-mei").unwrap(),
        rating: 1,
    });
    api.store
        .save_profile(stored.version, &profile)
        .await
        .unwrap();
    let shown = api.get("/v1/customers/mei").await;
    assert_eq!(shown.body["service_recovery"], true);

    // The merchant lets flags lapse after 5 days.
    let read = send(&api, "GET", "/v1/admin/program", None, None).await;
    let mut quicker = read.body["program"].clone();
    quicker["reviews"]["recovery_expiry_days"] = json!(5);
    let saved = put(&api, &quicker, "\"0\"").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let shown = api.get("/v1/customers/mei").await;
    assert_eq!(shown.body["service_recovery"], false);

    let mut settings = rapport_integration::job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let summary = rapport_integration::run_job(&api, &settings, now).await;
    assert_eq!(summary.program_version, 1);
    let mail = api.mail_to(&format!("mei-{tag}@example.com")).await;
    assert_eq!(mail.len(), 1, "{summary:?}");
}

#[tokio::test]
async fn rewards_of_the_catalogue_redeem_into_coupons_with_their_terms_and_limits() {
    let api = TestApi::start().await;
    let mut program = settings_program(&api).await;
    let future = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    program["rewards"] = json!([
        {"id": "ship-free", "name": "Free shipping", "offer": {"type": "free_shipping"},
         "points": 150, "min_order_minor": 3000, "valid_days": 30, "limit_per_customer": 1},
        {"id": "five-off", "name": "5.00 off", "offer": {"type": "amount_off", "value_minor": 500},
         "points": 400, "valid_days": 60},
        {"id": "tenth-off", "name": "10 % off", "offer": {"type": "percent_off", "percent": 10, "max_value_minor": 2000},
         "points": 300, "valid_days": 30, "tiers": ["silver", "gold"]},
        {"id": "sampler", "name": "A tea sampler", "offer": {"type": "free_product", "sku": "TEA-SAMPLER"},
         "points": 200, "valid_days": 30, "active_from": future}
    ]);
    let mut unknown_tier = program.clone();
    unknown_tier["rewards"][2]["tiers"] = json!(["platinum"]);
    let refused = put(&api, &unknown_tier, "\"0\"").await;
    assert_eq!(
        (refused.status, refused.field()),
        (422, "rewards[2].tiers[0]"),
        "{}",
        refused.body
    );
    let saved = put(&api, &program, "\"0\"").await;
    assert_eq!(saved.status, 200, "{}", saved.body);

    // asha spends 1,000.00 (silver, 1,000 points); kim 100.00 (bronze, 100 points).
    for (customer, total) in [("asha", 100_000), ("kim", 10_000)] {
        let order = rapport_integration::purchase(
            &format!("e-{customer}"),
            customer,
            &format!("o-{customer}"),
            total,
        );
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let redeem = |customer: &'static str, id: &'static str, reward: &'static str| {
        let api = &api;
        async move {
            let body = json!({"redemption_id": id, "customer_id": customer, "reward_id": reward});
            api.post(&format!("/v1/customers/{customer}/redemptions"), &body)
                .await
        }
    };
    let shipping = redeem("asha", "r-1", "ship-free").await;
    assert_eq!(shipping.status, 200, "{}", shipping.body);
    assert_eq!(shipping.body["points"], 150);
    assert_eq!(shipping.body["terms"], json!({"type": "free_shipping"}));
    assert_eq!(shipping.body["min_order_minor"], 3000);
    let again = redeem("asha", "r-2", "ship-free").await;
    assert_eq!(
        (again.status, again.field()),
        (422, "reward_id"),
        "{}",
        again.body
    );
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("as often as one customer may")
    );
    let five = redeem("asha", "r-3", "five-off").await;
    assert_eq!(
        (
            five.body["terms"].clone(),
            five.body["value_minor"].as_i64()
        ),
        (json!({"type": "amount_off", "value_minor": 500}), Some(500))
    );
    let tenth = redeem("asha", "r-4", "tenth-off").await;
    assert_eq!(
        tenth.body["terms"],
        json!({"type": "percent_off", "percent": 10, "max_value_minor": 2000})
    );
    assert_eq!(tenth.body["points_balance"], 1_000 - 150 - 400 - 300);
    let not_yet = redeem("asha", "r-5", "sampler").await;
    assert!(
        not_yet.body["detail"]
            .as_str()
            .unwrap()
            .contains("not on offer now"),
        "{}",
        not_yet.body
    );
    let bronze = redeem("kim", "r-6", "tenth-off").await;
    assert_eq!(bronze.status, 422);
    assert!(
        bronze.body["detail"].as_str().unwrap().contains("tier"),
        "{}",
        bronze.body
    );
    let unknown = redeem("kim", "r-7", "nothing-like-it").await;
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("catalogue"),
        "{}",
        unknown.body
    );
    let both = json!({"redemption_id": "r-8", "customer_id": "kim", "reward_id": "five-off", "points": 10});
    let both = api.post("/v1/customers/kim/redemptions", &both).await;
    assert_eq!((both.status, both.field()), (422, "points"));

    // In the stores' checkouts: free shipping is Shopify's free-shipping discount and a
    // WooCommerce coupon with free shipping, both with the minimum; 5.00 off as before.
    let code = shipping.body["coupon_code"].as_str().unwrap();
    let shops = ShopAdmin::start(Credentials::default()).await.unwrap();
    let apis = shop_api::apis(
        &ShopEndpoints {
            shopify: Some(shops.url()),
            woocommerce: Some(shops.url()),
        },
        &ShopCredentials {
            shopify_admin_token: Some(shops.credentials.shopify_token.clone()),
            woocommerce: Some((
                shops.credentials.woocommerce_key.clone(),
                shops.credentials.woocommerce_secret.clone(),
            )),
        },
        &shop_api::HttpClient::new().unwrap(),
    );
    let sync = CodeSync {
        apis: &apis,
        currency: rapport_shared::domain::Currency::parse("c", "USD").unwrap(),
        policy: SyncPolicy::default(),
    };
    let five_code = five.body["coupon_code"].as_str().unwrap();
    for synced in [code, five_code] {
        let outcomes = sync
            .sync(&api.store, synced, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            outcomes.iter().all(|(_, o)| *o == CodeOutcome::Created),
            "{outcomes:?}"
        );
    }
    assert_eq!(shops.malformed(), Vec::<String>::new());
    let held = shops.codes();
    let shopify = held
        .iter()
        .find(|c| c.platform == Platform::Shopify && c.code == code)
        .unwrap();
    assert_eq!(shopify.input["destination"]["all"], true);
    assert_eq!(
        shopify.input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
        "30.00"
    );
    let woo = held
        .iter()
        .find(|c| c.platform == Platform::Woocommerce && c.code.eq_ignore_ascii_case(code))
        .unwrap();
    assert_eq!(
        (
            woo.input["free_shipping"].as_bool(),
            woo.input["minimum_amount"].as_str()
        ),
        (Some(true), Some("30.00"))
    );
    assert_eq!(held.len(), 4);

    // At checkout: the code says what it gives and its minimum; a small order may not
    // use it, a large one does.
    let check = api.get(&format!("/v1/coupons/{code}")).await;
    assert_eq!(
        (
            check.body["terms"].clone(),
            check.body["min_order_minor"].as_i64()
        ),
        (json!({"type": "free_shipping"}), Some(3000))
    );
    let mut small = rapport_integration::purchase("e-small", "asha", "o-small", 2_000);
    small["coupon_codes"] = json!([code]);
    let small = api.post("/v1/events/purchase", &small).await;
    assert_eq!(
        small.body["coupons"][0]["problem"], "below-minimum",
        "{}",
        small.body
    );
    let mut large = rapport_integration::purchase("e-large", "asha", "o-large", 4_000);
    large["coupon_codes"] = json!([code]);
    let large = api.post("/v1/events/purchase", &large).await;
    assert_eq!(
        large.body["coupons"][0]["outcome"], "used",
        "{}",
        large.body
    );
    let customer = api.get("/v1/customers/asha").await;
    assert_eq!(
        customer.body["points_balance"].as_i64(),
        Some(api.ledger_sum("asha").await)
    );
}

#[tokio::test]
async fn the_jobs_figures_equal_what_the_ledgers_add_up_to() {
    use rapport_shared::domain::LedgerReason;
    use rapport_shared::store::LedgerStore;
    let api = TestApi::start().await;
    let before = send(&api, "GET", "/v1/admin/program/stats", None, None).await;
    assert_eq!(before.status, 404, "no run yet");
    let customers = [
        ("asha", 80_000),
        ("kim", 12_000),
        ("mei", 3_000),
        ("li", 60_000),
    ];
    for (customer, total) in customers {
        let order = rapport_integration::purchase(
            &format!("e-{customer}"),
            customer,
            &format!("o-{customer}"),
            total,
        );
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let refund = rapport_integration::refund("e-li-refund", "li", "o-li", 20_000);
    assert_eq!(api.post("/v1/events/purchase", &refund).await.status, 200);
    for (customer, points) in [("asha", 300), ("kim", 50)] {
        let body = json!({"redemption_id": format!("r-{customer}"), "customer_id": customer, "points": points});
        let redeemed = api
            .post(&format!("/v1/customers/{customer}/redemptions"), &body)
            .await;
        assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    }
    let summary = rapport_integration::run_job(
        &api,
        &rapport_integration::job_settings(&api),
        chrono::Utc::now(),
    )
    .await;
    let stats = send(&api, "GET", "/v1/admin/program/stats", None, None).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(
        stats.body,
        serde_json::to_value(summary.program_stats.unwrap()).unwrap()
    );

    // The same figures, added up from each customer's ledger and profile.
    let (mut outstanding, mut earned, mut redeemed, mut redeemers) = (0, 0, 0, 0);
    // Every tier of the ladder is counted, the empty ones as 0.
    let mut tiers: std::collections::BTreeMap<String, u64> = ["bronze", "silver", "gold"]
        .into_iter()
        .map(|t| (t.to_owned(), 0))
        .collect();
    for (customer, _) in customers {
        let ledger = api
            .store
            .ledger(&rapport_integration::cid(customer))
            .await
            .unwrap();
        outstanding += ledger.iter().map(|e| e.delta).sum::<i64>();
        earned += ledger
            .iter()
            .filter(|e| e.delta > 0)
            .map(|e| e.delta)
            .sum::<i64>();
        let spent: i64 = ledger
            .iter()
            .filter(|e| e.reason == LedgerReason::Redemption)
            .map(|e| -e.delta)
            .sum();
        redeemed += spent;
        redeemers += u64::from(spent > 0);
        let view = api.get(&format!("/v1/customers/{customer}")).await;
        *tiers
            .entry(view.body["tier"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let s = &stats.body;
    assert_eq!(s["members"], 4);
    assert_eq!(s["members_by_tier"], serde_json::to_value(&tiers).unwrap());
    assert_eq!(s["tiers"], json!(["bronze", "silver", "gold"]));
    assert_eq!(s["points_outstanding"], outstanding);
    assert_eq!(
        s["liability_minor"], outstanding,
        "one point is worth one cent"
    );
    assert_eq!(s["points_earned_30d"], earned);
    assert_eq!(s["points_redeemed_30d"], redeemed);
    assert_eq!(s["redeemers_30d"], redeemers);
    assert_eq!(s["redemption_rate"].as_f64(), Some(redeemers as f64 / 4.0));
    assert_eq!(s["program_version"], 0);
}

#[tokio::test]
async fn points_lapse_once_after_the_programs_months_and_a_late_refund_takes_nothing_more() {
    use rapport_shared::domain::LedgerReason;
    use rapport_shared::store::LedgerStore;
    let api = TestApi::start().await;
    let mut program = settings_program(&api).await;
    program["expiry"] = json!({"after_inactive_months": 12});
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let now = chrono::Utc::now();
    // asha last ordered 400 days ago, kim 200 days ago.
    for (customer, days) in [("asha", 400), ("kim", 200)] {
        let mut order = rapport_integration::purchase(
            &format!("e-{customer}"),
            customer,
            &format!("o-{customer}"),
            10_000,
        );
        order["occurred_at"] = (now - chrono::Duration::days(days)).to_rfc3339().into();
        let bought = api.post("/v1/events/purchase", &order).await;
        assert_eq!(bought.body["points_delta"], 100, "{}", bought.body);
    }
    // Two runs at once, then another: the lapse happens once.
    let settings = rapport_integration::job_settings(&api);
    let (a, b) = tokio::join!(
        rapport_integration::run_job(&api, &settings, now),
        rapport_integration::run_job(&api, &settings, now),
    );
    assert!(a.customers_expired + b.customers_expired >= 1);
    let third = rapport_integration::run_job(&api, &settings, now).await;
    assert_eq!(third.customers_expired, 0);
    assert_eq!(third.program_stats.unwrap().points_expired_30d, 100);

    let ledger = api
        .store
        .ledger(&rapport_integration::cid("asha"))
        .await
        .unwrap();
    let expired: Vec<i64> = ledger
        .iter()
        .filter(|e| e.reason == LedgerReason::Expired)
        .map(|e| e.delta)
        .collect();
    assert_eq!(expired, [-100]);
    assert_eq!(
        api.get("/v1/customers/asha").await.body["points_balance"],
        0
    );
    assert_eq!(
        api.get("/v1/customers/kim").await.body["points_balance"],
        100
    );

    // The old order refunded after its points lapsed: nothing more to take back.
    let refund = rapport_integration::refund("e-asha-refund", "asha", "o-asha", 10_000);
    let refunded = api.post("/v1/events/purchase", &refund).await;
    assert_eq!(refunded.body["points_delta"], 0, "{}", refunded.body);
    assert_eq!(
        api.get("/v1/customers/asha").await.body["points_balance"],
        0
    );
    assert_eq!(api.ledger_sum("asha").await, 0);
}

#[tokio::test]
async fn the_expiry_reminder_goes_once_in_the_customers_language_and_only_with_consent() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut program = settings_program(&api).await;
    program["expiry"] = json!({"after_inactive_months": 12, "reminder_days_before": [30, 7]});
    program["messages"]["holdout_pct"] = json!(0);
    program["rewards"] = json!([{
        "id": "ship", "name": "Free shipping", "offer": {"type": "free_shipping"},
        "points": 50, "valid_days": 30
    }]);
    // Wording that loses the date, or names a placeholder no message has, is refused
    // with its path and changes nothing.
    program["wording"] = json!({"en": {"points_expiring": {
        "subject": "Use your points", "lines": ["Soon they are gone."]
    }}});
    let refused = put(&api, &program, "\"0\"").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.body["errors"][0]["field"], "wording.en.points_expiring",
        "{}",
        refused.body
    );
    program["wording"] =
        json!({"en": {"points_expiring": {"subject": "{{ balance }} points, {{ expires }}"}}});
    let refused = put(&api, &program, "\"0\"").await;
    assert_eq!(
        refused.body["errors"][0]["field"], "wording.en.points_expiring.subject",
        "{}",
        refused.body
    );
    let unchanged = send(&api, "GET", "/v1/admin/program", None, None).await;
    assert_eq!(unchanged.body["version"], 0);
    program["wording"] = json!({"en": {"points_expiring": {
        "subject": "Use your {{ points }} points before {{ expires }}"
    }}});
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);

    let now = chrono::Utc::now();
    // Last orders 350 days ago (the 30-day reminder is due) and 40 days ago (not).
    let customers = [
        ("asha", "hi-IN", true, 350),
        ("ben", "en-GB", true, 350),
        ("kim", "en", false, 350),
        ("lee", "en", true, 40),
    ];
    for (name, locale, consent, days) in customers {
        let customer = format!("{name}-{tag}");
        let mut order = rapport_integration::purchase(
            &format!("e-{customer}"),
            &customer,
            &format!("o-{customer}"),
            10_000,
        );
        order["occurred_at"] = (now - chrono::Duration::days(days)).to_rfc3339().into();
        order["email"] = format!("{customer}@example.com").into();
        order["locale"] = locale.into();
        order["marketing_consent"] = consent.into();
        let bought = api.post("/v1/events/purchase", &order).await;
        assert_eq!(bought.status, 200, "{}", bought.body);
    }
    let settings = rapport_integration::job_settings(&api);
    let first = rapport_integration::run_job(&api, &settings, now).await;
    let again = rapport_integration::run_job(&api, &settings, now).await;
    assert_eq!(first.customers_expired + again.customers_expired, 0);

    let address = |name: &str| format!("{name}-{tag}@example.com");
    let asha = api.mail_to(&address("asha")).await;
    assert_eq!(asha.len(), 1, "one reminder, however many runs");
    assert!(asha[0].subject.contains("पॉइंट्स"), "{}", asha[0].subject);
    let text = asha[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("Free shipping") && text.contains("100"),
        "{text}"
    );
    let ben = api.mail_to(&address("ben")).await;
    assert_eq!(ben.len(), 1);
    assert!(
        ben[0].subject.starts_with("Use your 100 points before "),
        "the merchant's wording: {}",
        ben[0].subject
    );
    assert!(
        api.mail_to(&address("kim")).await.is_empty(),
        "no consent, no reminder"
    );
    assert!(
        api.mail_to(&address("lee")).await.is_empty(),
        "nothing lapses soon"
    );
}

#[tokio::test]
async fn earning_rules_and_a_ladder_with_grace_and_perks_decide_points_and_tiers() {
    use rapport_shared::domain::LedgerReason;
    use rapport_shared::store::LedgerStore;
    let api = TestApi::start().await;
    let mut program = settings_program(&api).await;
    program["earning"] = json!({
        "points_per_unit": 1, "rounding": "nearest", "min_order_minor": 1000,
        "excluded_skus": ["GIFT-*"]
    });
    program["qualification"] =
        json!({"basis": "spend", "window": "rolling_12_months", "grace_days": 30});
    program["tiers"] = json!([
        {"name": "bronze", "min_spend_minor": 0, "multiplier_pct": 100},
        {"name": "silver", "min_spend_minor": 50000, "multiplier_pct": 125,
         "perks": {"free_shipping": true, "welcome_points": 100, "birthday_points": 300}}
    ]);
    // A ladder on points needs each tier's min_points; a bad exclusion is named.
    let mut on_points = program.clone();
    on_points["qualification"]["basis"] = json!("points");
    on_points["earning"]["excluded_skus"] = json!(["GIFT-*-X*"]);
    let refused = put(&api, &on_points, "\"0\"").await;
    assert_eq!(refused.status, 422);
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "tiers[0].min_points",
            "tiers[1].min_points",
            "earning.excluded_skus[0]"
        ],
        "{}",
        refused.body
    );
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);

    let order = |event: &str, customer: &str, items: Value, total: i64, days_ago: i64| {
        json!({
            "event_id": event, "kind": "purchase", "customer_id": customer,
            "order_id": format!("o-{event}"), "currency": "USD", "total_minor": total,
            "occurred_at": (chrono::Utc::now() - chrono::Duration::days(days_ago)).to_rfc3339(),
            "items": items,
        })
    };
    let line =
        |sku: &str, price: i64| json!({"sku": sku, "quantity": 1, "unit_price_minor": price});
    // Below the minimum order: nothing. A gift card earns nothing; 12.50 rounds to 13.
    let small = api
        .post(
            "/v1/events/purchase",
            &order("e1", "asha", json!([line("TEA", 999)]), 999, 0),
        )
        .await;
    assert_eq!(small.body["points_delta"], 0, "{}", small.body);
    let mixed = order(
        "e2",
        "asha",
        json!([line("TEA", 1250), line("GIFT-25", 2500)]),
        3750,
        0,
    );
    let mixed = api.post("/v1/events/purchase", &mixed).await;
    assert_eq!(mixed.body["points_delta"], 13, "{}", mixed.body);
    // Reaching silver: the order earns at bronze's rate, the welcome comes once.
    let big = api
        .post(
            "/v1/events/purchase",
            &order("e3", "asha", json!([line("TEA", 50_000)]), 50_000, 0),
        )
        .await;
    assert_eq!(big.body["tier"], "silver", "{}", big.body);
    assert_eq!(big.body["points_delta"], 500);
    assert_eq!(big.body["points_balance"], 13 + 500 + 100);
    let view = api.get("/v1/customers/asha").await;
    assert_eq!(
        view.body["perks"],
        json!({"multiplier_pct": 125, "free_shipping": true, "birthday_points": 300})
    );
    let ledger = api
        .store
        .ledger(&rapport_integration::cid("asha"))
        .await
        .unwrap();
    let welcomes: Vec<(i64, &str)> = ledger
        .iter()
        .filter(|e| e.reason == LedgerReason::Reward)
        .map(|e| (e.delta, e.reference.as_str()))
        .collect();
    assert_eq!(welcomes, [(100, "tier:silver")]);

    // kim reached silver 380 days ago: out of the rolling year for 15 days, inside the
    // 30 days of grace; 20 days on, demoted by the job.
    let old = order("e4", "kim", json!([line("TEA", 60_000)]), 60_000, 380);
    assert_eq!(
        api.post("/v1/events/purchase", &old).await.body["tier"],
        "silver"
    );
    let settings = rapport_integration::job_settings(&api);
    let now = chrono::Utc::now();
    let kept = rapport_integration::run_job(&api, &settings, now).await;
    assert_eq!((kept.tiers_changed, kept.tiers_demoted), (0, 0));
    assert_eq!(api.get("/v1/customers/kim").await.body["tier"], "silver");
    let later = now + chrono::Duration::days(20);
    let demoted = rapport_integration::run_job(&api, &settings, later).await;
    assert_eq!((demoted.tiers_changed, demoted.tiers_demoted), (1, 1));
    let kim = api.get("/v1/customers/kim").await;
    assert_eq!(kim.body["tier"], "bronze");
    assert_eq!(kim.body["perks"]["free_shipping"], false);
    // asha still qualifies; a second run the same day changes nothing.
    let again = rapport_integration::run_job(&api, &settings, later).await;
    assert_eq!(again.tiers_changed, 0);
    assert_eq!(api.get("/v1/customers/asha").await.body["tier"], "silver");
}

#[tokio::test]
async fn a_festival_of_the_programs_calendar_greets_on_its_date_once_in_the_customers_language() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut program = settings_program(&api).await;
    // The clock of the run is the festival's day, 40 days from now.
    let day = chrono::Utc::now() + chrono::Duration::days(40);
    program["messages"]["holdout_pct"] = json!(0);
    program["festivals"] = json!([{
        "id": "diwali", "name": "Diwali", "names": {"hi": "दीपावली"},
        "languages": ["hi"], "dates": [day.date_naive().to_string()], "bonus_points": 30
    }]);
    // A calendar naming a language mail is not written in is refused by path.
    let mut wrong = program.clone();
    wrong["festivals"][0]["languages"] = json!(["de"]);
    let refused = put(&api, &wrong, "\"0\"").await;
    assert_eq!(
        refused.body["errors"][0]["field"],
        "festivals[0].languages[0]"
    );
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    for (name, locale) in [("asha", "hi-IN"), ("ben", "en-GB")] {
        let mut order = rapport_integration::purchase(
            &format!("f-{name}"),
            name,
            &format!("f-{name}-1"),
            1_000,
        );
        order["occurred_at"] = (chrono::Utc::now() - chrono::Duration::days(200))
            .to_rfc3339()
            .into();
        order["email"] = format!("{name}-{tag}@example.com").into();
        order["locale"] = locale.into();
        order["marketing_consent"] = true.into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let before = api.get("/v1/customers/asha").await.body["points_balance"]
        .as_i64()
        .unwrap();
    let settings = rapport_integration::job_settings(&api);
    // The day before: nothing; the day: one greeting, however often the job runs.
    rapport_integration::run_job(&api, &settings, day - chrono::Duration::days(1)).await;
    assert!(
        api.mail_to(&format!("asha-{tag}@example.com"))
            .await
            .is_empty()
    );
    // Noon on the day, in every time zone near the customers'.
    let noon = day.date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc();
    rapport_integration::run_job(&api, &settings, noon).await;
    rapport_integration::run_job(&api, &settings, noon).await;
    let asha = api.mail_to(&format!("asha-{tag}@example.com")).await;
    assert_eq!(asha.len(), 1);
    assert!(asha[0].subject.contains("दीपावली"), "{}", asha[0].subject);
    assert!(
        api.mail_to(&format!("ben-{tag}@example.com"))
            .await
            .is_empty()
    );
    let after = api.get("/v1/customers/asha").await.body["points_balance"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 30, "the bonus, once");
}

#[tokio::test]
async fn tips_of_the_program_follow_the_order_with_their_links_and_video() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut program = without_holdout(&api).await;
    program["tips"] = json!([
        {"skus": ["SKU-*"], "title": "Warm the pot first",
         "text": "A cold pot takes the heat out of the water.",
         "link": "https://chai.example/guides/pot",
         "video_url": "https://youtu.be/dQw4w9WgXcQ"},
        {"skus": ["OTHER"], "title": "Not for this order"}
    ]);
    let mut bad = program.clone();
    bad["tips"][0]["link"] = json!("http://chai.example/guides/pot");
    let refused = put(&api, &bad, "\"0\"").await;
    assert_eq!(refused.body["errors"][0]["field"], "tips[0].link");
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let email = format!("tipped-{tag}@example.com");
    let mut order = rapport_integration::purchase("t-1", "tipped", "t-1", 1_500);
    order["occurred_at"] = (chrono::Utc::now() - chrono::Duration::days(3))
        .to_rfc3339()
        .into();
    order["email"] = email.clone().into();
    order["marketing_consent"] = true.into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    let settings = rapport_integration::job_settings(&api);
    rapport_integration::run_job(&api, &settings, chrono::Utc::now()).await;
    let mail = api.mail_to(&email).await;
    assert_eq!(mail.len(), 1);
    let text = mail[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("Warm the pot first")
            && text.contains("https://chai.example/guides/pot")
            && text.contains("https://youtu.be/dQw4w9WgXcQ")
            && !text.contains("Not for this order"),
        "{text}"
    );
    let html = mail[0].html.clone().unwrap_or_default();
    assert!(
        html.contains("hqdefault.jpg") && !html.contains("<iframe"),
        "{html}"
    );
}

#[tokio::test]
async fn crossing_a_spend_threshold_grants_the_gift_once_per_window_and_says_so() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut program = without_holdout(&api).await;
    program["qualification"] = json!({"window": "calendar_year"});
    program["rewards"] = json!([{
        "id": "sampler", "name": "A tea sampler", "offer": {"type": "free_product", "sku": "TEA-SAMPLER"},
        "points": 500, "valid_days": 60, "limit_per_customer": 1
    }]);
    program["spend_gifts"] =
        json!([{"id": "gift-300", "min_spend_minor": 30000, "reward_id": "sampler"}]);
    let mut wrong = program.clone();
    wrong["spend_gifts"][0]["reward_id"] = json!("nothing");
    let refused = put(&api, &wrong, "\"0\"").await;
    assert_eq!(
        refused.body["errors"][0]["field"],
        "spend_gifts[0].reward_id"
    );
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let email = format!("giftee-{tag}@example.com");
    let mut first = rapport_integration::purchase("g-1", "giftee", "g-1", 20_000);
    first["email"] = email.clone().into();
    first["locale"] = "ur-PK".into();
    let second = rapport_integration::purchase("g-2", "giftee", "g-2", 12_000);
    // Spent 200.00: below the threshold, nothing.
    assert_eq!(api.post("/v1/events/purchase", &first).await.status, 200);
    let settings = rapport_integration::job_settings(&api);
    let now = chrono::Utc::now();
    assert_eq!(
        rapport_integration::run_job(&api, &settings, now)
            .await
            .gifts_granted,
        0
    );
    // 320.00: the gift, once, however often the job runs, and the announcement.
    assert_eq!(api.post("/v1/events/purchase", &second).await.status, 200);
    let (a, b) = tokio::join!(
        rapport_integration::run_job(&api, &settings, now),
        rapport_integration::run_job(&api, &settings, now),
    );
    assert_eq!(a.gifts_granted + b.gifts_granted, 1);
    assert_eq!(
        rapport_integration::run_job(&api, &settings, now)
            .await
            .gifts_granted,
        0
    );
    let export = send(&api, "GET", "/v1/customers/giftee/export", None, None).await;
    let redemptions = export.body["redemptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(redemptions.len(), 1, "{}", export.body);
    assert_eq!(redemptions[0]["points"], 0);
    let code = redemptions[0]["coupon_code"].as_str().unwrap().to_owned();
    let coupon = api.get(&format!("/v1/coupons/{code}")).await;
    assert_eq!(coupon.body["valid"], true, "{}", coupon.body);
    let mail = api.mail_to(&email).await;
    let gifts: Vec<_> = mail
        .iter()
        .filter(|m| m.subject.contains("A tea sampler"))
        .collect();
    assert_eq!(
        gifts.len(),
        1,
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(gifts[0].text.clone().unwrap_or_default().contains(&code));
    // The customer's points were not touched, and the reward can still be bought once.
    assert_eq!(
        api.get("/v1/customers/giftee").await.body["points_balance"],
        320
    );
}

#[tokio::test]
async fn a_product_bought_at_a_steady_rhythm_is_remembered_before_it_runs_out() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let program = without_holdout(&api).await;
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let now = chrono::Utc::now();
    let order = |customer: &str, n: usize, days_ago: i64| {
        let mut o = rapport_integration::purchase(
            &format!("r-{customer}-{n}"),
            customer,
            &format!("r-{customer}-{n}"),
            1_000,
        );
        o["items"] = json!([{"sku": "TEA-CHAI", "quantity": 1, "unit_price_minor": 1_000,
                             "name": "Masala chai 250 g"}]);
        o["occurred_at"] = (now - chrono::Duration::days(days_ago)).to_rfc3339().into();
        o["email"] = format!("{customer}-{tag}@example.com").into();
        o["marketing_consent"] = true.into();
        o
    };
    // Six regulars buy their tea every 30 days; the last time 35 days ago.
    for c in 0..6 {
        for (n, days) in [95, 65, 35].into_iter().enumerate() {
            let reply = api
                .post("/v1/events/purchase", &order(&format!("reg{c}"), n, days))
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    }
    // A newer customer bought it 59 and 29 days ago: due tomorrow.
    for (n, days) in [59, 29].into_iter().enumerate() {
        assert_eq!(
            api.post("/v1/events/purchase", &order("due", n, days))
                .await
                .status,
            200
        );
    }
    let settings = rapport_integration::job_settings(&api);
    rapport_integration::run_job(&api, &settings, now).await;
    rapport_integration::run_job(&api, &settings, now).await;
    let mail = api.mail_to(&format!("due-{tag}@example.com")).await;
    assert_eq!(mail.len(), 1, "one reminder");
    assert!(
        mail[0].subject.contains("Masala chai 250 g"),
        "named as the order named it: {}",
        mail[0].subject
    );
    // The regulars' own time passed five days ago: no reminder now.
    for c in 0..6 {
        let theirs = api.mail_to(&format!("reg{c}-{tag}@example.com")).await;
        assert!(
            theirs.iter().all(|m| !m.subject.contains("Masala chai")),
            "{:?}",
            theirs.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn the_check_in_suggests_what_buyers_of_the_same_products_also_bought() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let program = without_holdout(&api).await;
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let now = chrono::Utc::now();
    let order = |customer: &str, skus: &[&str], days_ago: i64| {
        let items: Vec<Value> = skus
            .iter()
            .map(|s| {
                let name = s.replace('-', " ").to_lowercase();
                json!({"sku": s, "quantity": 1, "unit_price_minor": 500, "name": name})
            })
            .collect();
        json!({
            "event_id": format!("rec-{customer}"), "kind": "purchase", "customer_id": customer,
            "order_id": format!("rec-{customer}"), "currency": "USD",
            "total_minor": 500 * skus.len() as i64, "items": items,
            "occurred_at": (now - chrono::Duration::days(days_ago)).to_rfc3339(),
            "email": format!("{customer}-{tag}@example.com"), "marketing_consent": true,
        })
    };
    for n in 0..4 {
        let o = order(&format!("fan{n}"), &["TEA-CHAI", "MUG-CLAY"], 200);
        assert_eq!(api.post("/v1/events/purchase", &o).await.status, 200);
    }
    let newcomer = order("newcomer", &["TEA-CHAI"], 7);
    assert_eq!(api.post("/v1/events/purchase", &newcomer).await.status, 200);
    let settings = rapport_integration::job_settings(&api);
    rapport_integration::run_job(&api, &settings, now).await;
    let mail = api.mail_to(&format!("newcomer-{tag}@example.com")).await;
    assert_eq!(mail.len(), 1);
    let text = mail[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("also liked") && text.contains("- mug clay"),
        "{text}"
    );
    assert!(
        !text.contains("- tea chai"),
        "never what they bought: {text}"
    );
}
