//! One-click unsubscribe over HTTP against DynamoDB Local: the page asks and changes
//! nothing, the POST withdraws consent once, a forged token is refused, the page
//! speaks the customer's language (right to left for Urdu), and the job sends no
//! marketing after it.

use rapport_integration::{TestApi, purchase, unsubscribe_keys};
use rapport_shared::domain::CustomerId;

fn link(api: &TestApi, customer: &str) -> String {
    let id = CustomerId::parse("id", customer).unwrap();
    let url = rapport_shared::auth::unsubscribe::url(&api.base_url, &unsubscribe_keys(), &id);
    url.strip_prefix(&api.base_url).unwrap().to_owned()
}

async fn text(
    api: &TestApi,
    method: reqwest::Method,
    path: &str,
    body: &'static str,
) -> (u16, String, String) {
    let response = api
        .http
        .request(method, format!("{}{path}", api.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_page_asks_and_one_click_unsubscribes_once() {
    let api = TestApi::start().await;
    let mut order = purchase("e-1", "c-1", "o-1", 1_000);
    order["marketing_consent"] = true.into();
    order["email"] = "c1@example.com".into();
    api.post("/v1/events/purchase", &order).await;
    let path = link(&api, "c-1");

    // Link scanners fetch the page: that must not unsubscribe anyone.
    let (status, content_type, html) = text(&api, reqwest::Method::GET, &path, "").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(
        html.contains("<form method=\"post\">") && html.contains("lang=\"en\""),
        "{html}"
    );
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["marketing_consent"],
        true
    );

    // The mail client's RFC 8058 request; repeating it is harmless.
    for _ in 0..2 {
        let (status, _, html) = text(
            &api,
            reqwest::Method::POST,
            &path,
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(status, 200);
        assert!(html.contains("You are unsubscribed"), "{html}");
    }
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["marketing_consent"],
        false
    );
}

#[tokio::test]
async fn forged_or_missing_tokens_are_refused() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 1_000))
        .await;
    api.post("/v1/events/purchase", &purchase("e-2", "c-2", "o-2", 1_000))
        .await;
    // c-1's tag on c-2's name.
    let forged = link(&api, "c-1").replace("token=c-1.", "token=c-2.");
    for path in [
        forged.as_str(),
        "/v1/unsubscribe",
        "/v1/unsubscribe?token=",
        "/v1/unsubscribe?token=c-2.00",
    ] {
        let (status, content_type, _) = text(
            &api,
            reqwest::Method::POST,
            path,
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(
            (status, content_type.as_str()),
            (403, "application/problem+json"),
            "{path}"
        );
    }
    assert!(api.get("/v1/customers/c-2").await.body["marketing_consent"].is_null());
}

#[tokio::test]
async fn the_page_speaks_the_customers_language() {
    let api = TestApi::start().await;
    for (customer, locale) in [("u", "ur-PK"), ("h", "hi-IN"), ("t", "fil-PH")] {
        let mut order = purchase(
            &format!("e-{customer}"),
            customer,
            &format!("o-{customer}"),
            1_000,
        );
        order["locale"] = locale.into();
        api.post("/v1/events/purchase", &order).await;
    }
    let (_, _, urdu) = text(&api, reqwest::Method::GET, &link(&api, "u"), "").await;
    assert!(
        urdu.contains("lang=\"ur\" dir=\"rtl\"") && urdu.contains("رکنیت ختم کریں"),
        "{urdu}"
    );
    let (_, _, hindi) = text(&api, reqwest::Method::GET, &link(&api, "h"), "").await;
    assert!(
        hindi.contains("lang=\"hi\" dir=\"ltr\"") && hindi.contains("सदस्यता"),
        "{hindi}"
    );
    let (_, _, tagalog) = text(&api, reqwest::Method::GET, &link(&api, "t"), "").await;
    assert!(tagalog.contains("Mag-unsubscribe"), "{tagalog}");
}

#[tokio::test]
async fn after_the_one_click_unsubscribe_the_job_sends_no_marketing() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // Two customers whose order a week ago makes a post-purchase check-in due.
    for c in ["stays", "leaves"] {
        let mut order = purchase(&format!("e-{c}"), c, &format!("o-{c}"), 1_000);
        order["occurred_at"] = (chrono::Utc::now() - chrono::Duration::days(7))
            .to_rfc3339()
            .into();
        order["marketing_consent"] = true.into();
        order["email"] = format!("{c}-{tag}@example.com").into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let path = link(&api, "leaves");
    let (status, _, _) = text(
        &api,
        reqwest::Method::POST,
        &path,
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 200);

    let mut settings = rapport_integration::job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let summary = rapport_integration::run_job(&api, &settings, chrono::Utc::now()).await;
    assert_eq!(
        api.mail_to(&format!("stays-{tag}@example.com")).await.len(),
        1,
        "{summary:?}"
    );
    assert!(
        api.mail_to(&format!("leaves-{tag}@example.com"))
            .await
            .is_empty(),
        "{summary:?}"
    );
    assert_eq!(summary.sent, 1, "{summary:?}");
}
