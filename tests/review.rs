//! Reviews over HTTP against DynamoDB Local and the SES emulator: verification, one
//! reward per customer and product, the service-recovery flag and its single alert
//! (and its expiry, on which the API and the job agree), the referral-ask mark,
//! product aggregates, and text in any script.

use futures::future::join_all;
use rapport_integration::{TestApi, cid, purchase};
use rapport_shared::domain::Sku;
use rapport_shared::store::ReadBackStore;
use serde_json::{Value, json};

fn review(event: &str, customer: &str, order: &str, sku: &str, rating: i64) -> Value {
    json!({
        "event_id": event,
        "customer_id": customer,
        "order_id": order,
        "sku": sku,
        "rating": rating,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
}

fn with_text(mut body: Value, title: &str, text: &str) -> Value {
    body["title"] = title.into();
    body["body"] = text.into();
    body
}

#[tokio::test]
async fn verified_reviews_earn_points_and_unverified_ones_do_not() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("p-1", "c-1", "o-1", 1_000))
        .await;
    api.post("/v1/events/purchase", &purchase("p-2", "c-2", "o-2", 1_000))
        .await;

    let r = api
        .post(
            "/v1/events/review",
            &with_text(
                review("r-1", "c-1", "o-1", "SKU-1", 5),
                "Great",
                "Lovely tea",
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["verified"].as_bool(),
            r.body["points_awarded"].as_i64()
        ),
        (Some(true), Some(25))
    );

    // A product that is not in the order, and another customer's order: stored, unrewarded.
    let r = api
        .post(
            "/v1/events/review",
            &review("r-2", "c-1", "o-1", "SKU-OTHER", 4),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["verified"].as_bool(),
            r.body["points_awarded"].as_i64()
        ),
        (200, Some(false), Some(0))
    );
    let r = api
        .post(
            "/v1/events/review",
            &review("r-3", "c-1", "o-2", "SKU-1", 4),
        )
        .await;
    assert_eq!(
        r.body["verified"], true,
        "replacing a verified review keeps it verified"
    );
    assert_eq!(r.body["points_awarded"], 0);
    let r = api
        .post(
            "/v1/events/review",
            &review("r-4", "c-3", "o-2", "SKU-1", 4),
        )
        .await;
    assert_eq!(
        (
            r.body["verified"].as_bool(),
            r.body["points_awarded"].as_i64()
        ),
        (Some(false), Some(0))
    );

    // A bare rating earns the smaller reward.
    let r = api
        .post(
            "/v1/events/review",
            &review("r-5", "c-2", "o-2", "SKU-1", 3),
        )
        .await;
    assert_eq!(r.body["points_awarded"], 10);

    let stored = api.store.reviews(&cid("c-1")).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(api.ledger_sum("c-1").await, 10 + 25);
}

#[tokio::test]
async fn one_reward_per_customer_and_product_under_duplicates_and_concurrency() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("p-1", "c-1", "o-1", 1_000))
        .await;
    let first = review("r-dup", "c-1", "o-1", "SKU-1", 5);
    // The same event 5 times at once, and 8 different events for the same product.
    let mut bodies: Vec<Value> = (0..5).map(|_| first.clone()).collect();
    bodies.extend((0..8).map(|i| {
        with_text(
            review(&format!("r-{i}"), "c-1", "o-1", "SKU-1", 4),
            "again",
            &format!("text {i}"),
        )
    }));
    let replies = join_all(bodies.iter().map(|b| api.post("/v1/events/review", b))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let rewarded: i64 = replies
        .iter()
        .filter(|r| r.body["duplicate"] == false)
        .map(|r| r.body["points_awarded"].as_i64().unwrap())
        .sum();
    assert!(
        rewarded == 10 || rewarded == 25,
        "one reward only, got {rewarded}"
    );
    assert_eq!(api.ledger_sum("c-1").await, 10 + rewarded);
    let duplicates = replies[..5]
        .iter()
        .filter(|r| r.body["duplicate"] == true)
        .count();
    assert_eq!(duplicates, 4);

    // A later review replaces the text and earns nothing more.
    let r = api
        .post(
            "/v1/events/review",
            &with_text(
                review("r-late", "c-1", "o-1", "SKU-1", 2),
                "Changed my mind",
                "Stale",
            ),
        )
        .await;
    assert_eq!(
        (
            r.body["replaced"].as_bool(),
            r.body["points_awarded"].as_i64()
        ),
        (Some(true), Some(0))
    );
    let stored = api.store.reviews(&cid("c-1")).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body.as_deref(), Some("Stale"));
    assert_eq!(stored[0].rating, 2);
    let product = api
        .store
        .product_rating(&Sku::parse("sku", "SKU-1").unwrap())
        .await
        .unwrap();
    assert_eq!(
        (product.reviews, product.rating_sum),
        (1, 2),
        "one review per customer, latest rating"
    );
}

#[tokio::test]
async fn a_low_rating_raises_the_flag_and_exactly_one_alert() {
    let api = TestApi::start().await;
    let mut order = purchase("p-1", "c-1", "o-1", 1_000);
    order["email"] = "asha@example.com".into();
    api.post("/v1/events/purchase", &order).await;
    let low = with_text(
        review("r-1", "c-1", "o-1", "SKU-1", 1),
        "Broken",
        "The mug arrived cracked.",
    );
    let replies = join_all((0..4).map(|_| api.post("/v1/events/review", &low))).await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.body["service_recovery"] == true),
        "{replies:?}"
    );
    // Another low rating while the flag is open: no second alert.
    api.post(
        "/v1/events/review",
        &review("r-2", "c-1", "o-1", "SKU-2", 2),
    )
    .await;

    let p = api.get("/v1/customers/c-1").await;
    assert_eq!(p.body["service_recovery"], true);
    let mails = api.support_mail().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(
        mail.subject.contains("1-star") && mail.subject.contains("SKU-1"),
        "{}",
        mail.subject
    );
    let text = mail.text.as_deref().unwrap_or_default();
    assert!(
        text.contains("The mug arrived cracked.") && text.contains("asha@example.com"),
        "{text}"
    );

    // Support follows up and clears the flag; clearing again is harmless.
    for _ in 0..2 {
        let r = api.post("/v1/customers/c-1/recovery", &json!({})).await;
        assert_eq!(
            (r.status, r.body["service_recovery"].as_bool()),
            (200, Some(false)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["service_recovery"],
        false
    );
    // A new low rating after clearing alerts again.
    api.post(
        "/v1/events/review",
        &review("r-3", "c-1", "o-1", "SKU-3", 2),
    )
    .await;
    assert_eq!(api.support_mail().await.len(), 2);
    let r = api.post("/v1/customers/ghost/recovery", &json!({})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn happy_reviewers_become_referral_ask_candidates() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("p-1", "c-1", "o-1", 1_000))
        .await;
    api.post(
        "/v1/events/review",
        &review("r-1", "c-1", "o-1", "SKU-1", 3),
    )
    .await;
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["referral_ask"],
        false
    );
    api.post(
        "/v1/events/review",
        &review("r-2", "c-1", "o-1", "SKU-2", 4),
    )
    .await;
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["referral_ask"],
        true
    );
}

#[tokio::test]
async fn product_aggregates_count_each_customer_once() {
    let api = TestApi::start().await;
    for (i, rating) in [5, 4, 3].into_iter().enumerate() {
        let c = format!("c-{i}");
        api.post(
            "/v1/events/purchase",
            &purchase(&format!("p-{i}"), &c, &format!("o-{i}"), 1_000),
        )
        .await;
        api.post(
            "/v1/events/review",
            &review(&format!("r-{i}"), &c, &format!("o-{i}"), "SKU-1", rating),
        )
        .await;
    }
    let product = api
        .store
        .product_rating(&Sku::parse("sku", "SKU-1").unwrap())
        .await
        .unwrap();
    assert_eq!((product.reviews, product.rating_sum), (3, 12));
    assert_eq!(product.mean(), Some(4.0));
}

#[tokio::test]
async fn review_text_in_any_script_round_trips_byte_for_byte() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("p-1", "c-1", "o-1", 1_000))
        .await;
    let texts = [
        ("SKU-HI", "बहुत बढ़िया", "चाय की ख़ुशबू लाजवाब है। फिर से ख़रीदूँगी!"),
        (
            "SKU-UR",
            "بہت عمدہ",
            "چائے کی خوشبو لاجواب ہے۔ دوبارہ خریدوں گی!",
        ),
        (
            "SKU-TL",
            "Napakasarap",
            "Ang bango ng tsaa! Bibili ulit ako, salamat po.",
        ),
        (
            "SKU-EN",
            "Lovely",
            "Smells wonderful — will buy again.\nFive stars.",
        ),
    ];
    for (i, (sku, title, text)) in texts.iter().enumerate() {
        let r = api
            .post(
                "/v1/events/review",
                &with_text(review(&format!("r-{i}"), "c-1", "o-1", sku, 5), title, text),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            (r.body["title"].as_str(), r.body["body"].as_str()),
            (Some(*title), Some(*text))
        );
    }
    let stored = api.store.reviews(&cid("c-1")).await.unwrap();
    for (sku, title, text) in texts {
        let review = stored.iter().find(|r| r.sku.as_str() == sku).unwrap();
        assert_eq!(
            review.title.as_deref().map(str::as_bytes),
            Some(title.as_bytes())
        );
        assert_eq!(
            review.body.as_deref().map(str::as_bytes),
            Some(text.as_bytes())
        );
    }
}

#[tokio::test]
async fn bad_reviews_are_problems_naming_the_field() {
    let api = TestApi::start().await;
    let base = review("r-1", "c-1", "o-1", "SKU-1", 5);
    let cases = [
        ("rating", json!(6)),
        ("rating", json!(0)),
        ("rating", json!(4.5)),
        ("sku", json!("")),
        ("body", json!("x".repeat(5_001))),
        ("title", json!("bell\u{7}")),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value;
        let r = api.post("/v1/events/review", &body).await;
        assert_eq!(
            (r.status, r.field(), r.content_type.as_str()),
            (422, field, "application/problem+json"),
            "{:?}",
            r.body
        );
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("order_id");
    assert_eq!(
        api.post("/v1/events/review", &missing).await.field(),
        "order_id"
    );
}

#[tokio::test]
async fn the_job_resumes_marketing_when_the_api_says_the_flag_has_lapsed() {
    use rapport_shared::domain::ServiceRecovery;
    use rapport_shared::store::ProfileStore;
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let now = chrono::Utc::now();
    // A review request is due for both (an order two weeks ago, not reviewed); each
    // left a low rating: one 31 days ago, past the 30-day expiry, one 10 days ago.
    for (c, flagged_days_ago) in [("lapsed", 31), ("open", 10)] {
        let mut order = purchase(&format!("e-{c}"), c, &format!("o-{c}"), 1_000);
        order["occurred_at"] = (now - chrono::Duration::days(15)).to_rfc3339().into();
        order["marketing_consent"] = true.into();
        order["email"] = format!("{c}-{tag}@example.com").into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
        let stored = api.store.profile(&cid(c)).await.unwrap().unwrap();
        let mut profile = stored.value;
        profile.service_recovery = Some(ServiceRecovery {
            opened_at: now - chrono::Duration::days(flagged_days_ago),
            sku: Sku::parse("sku", "SKU-1").unwrap(),
            order_id: rapport_shared::domain::OrderId::parse("o", &format!("o-{c}")).unwrap(),
            rating: 1,
        });
        api.store
            .save_profile(stored.version, &profile)
            .await
            .unwrap();
    }
    let shown = |c: &'static str| {
        let api = &api;
        async move { api.get(&format!("/v1/customers/{c}")).await.body["service_recovery"].clone() }
    };
    assert_eq!(
        (shown("lapsed").await, shown("open").await),
        (json!(false), json!(true))
    );

    let mut settings = rapport_integration::job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let summary = rapport_integration::run_job(&api, &settings, now).await;
    let lapsed = api.mail_to(&format!("lapsed-{tag}@example.com")).await;
    assert_eq!(lapsed.len(), 1, "{summary:?}");
    assert!(
        api.mail_to(&format!("open-{tag}@example.com"))
            .await
            .is_empty(),
        "{summary:?}"
    );
}

#[tokio::test]
async fn a_low_rating_gets_one_apology_with_the_programs_make_good_in_the_customers_language() {
    use crate::program::{put, without_holdout};
    let api = TestApi::start().await;
    let mut program = without_holdout(&api).await;
    program["messages"]["make_good"] = json!({"type": "points", "points": 150});
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("maria-{tag}@example.com");
    let mut order = rapport_integration::purchase("mg-o1", "maria", "mg-1", 5_400);
    order["email"] = email.clone().into();
    order["locale"] = "fil-PH".into();
    order["first_name"] = "Maria".into();
    // No marketing consent: the apology is about her own complaint, not a promotion.
    order["marketing_consent"] = false.into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    let low = api
        .post(
            "/v1/events/review",
            &review("mg-r1", "maria", "mg-1", "SKU-1", 2),
        )
        .await;
    assert_eq!(low.body["service_recovery"], true, "{}", low.body);
    let before = api.get("/v1/customers/maria").await.body["points_balance"]
        .as_i64()
        .unwrap();

    let settings = rapport_integration::job_settings(&api);
    let now = chrono::Utc::now() + chrono::Duration::hours(2);
    let (a, b) = tokio::join!(
        rapport_integration::run_job(&api, &settings, now),
        rapport_integration::run_job(&api, &settings, now),
    );
    assert_eq!(a.errors + b.errors, 0);
    rapport_integration::run_job(&api, &settings, now).await;
    let mail = api.mail_to(&email).await;
    assert_eq!(mail.len(), 1, "one apology per flag");
    assert!(mail[0].subject.contains("Paumanhin"), "{}", mail[0].subject);
    let text = mail[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("Kumusta, Maria!") && text.contains("150") && text.contains("mg-1"),
        "{text}"
    );
    let after = api.get("/v1/customers/maria").await.body["points_balance"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 150, "credited once");
    // Support was alerted as before.
    assert!(!api.support_mail().await.is_empty());
}
