//! Captured and borrowed credentials: a header replayed on another method, path, query or
//! customer; the storefront's key on the merchant's routes; a redemption replayed onto
//! another customer; a body smuggled onto a body-less route. Each is refused with its
//! exact status, and the table is item for item what it was.

use chrono::Utc;
use rapport_integration::{Reply, TestApi, key, purchase, sign_as, signer};
use rapport_shared::auth::keys::{ApiKey, Scope};
use serde_json::json;

/// Two customers with points, an address and an open service-recovery flag on one.
async fn shop() -> TestApi {
    let api = TestApi::start().await;
    for (customer, email) in [("alice", "alice@shop.example"), ("bob", "bob@shop.example")] {
        let mut order = purchase(
            &format!("e-{customer}"),
            customer,
            &format!("o-{customer}"),
            90_000,
        );
        order["email"] = email.into();
        let r = api.post("/v1/events/purchase", &order).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    api
}

/// Sends `body` to `method path` with exactly this signature header.
async fn replay(api: &TestApi, method: &str, path: &str, body: &str, header: &str) -> Reply {
    api.send_raw(
        method,
        path,
        body.as_bytes().to_vec(),
        Some(header),
        Some("application/json"),
    )
    .await
}

fn header(key: &ApiKey, method: &str, path: &str, body: &str) -> String {
    sign_as(key, Utc::now().timestamp(), method, path, body.as_bytes())
}

fn assert_problem(r: &Reply, status: u16, slug: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json", "{what}");
    assert_eq!(
        r.problem_type(),
        format!("https://rapport.dev/problems/{slug}"),
        "{what}"
    );
}

#[tokio::test]
async fn a_captured_header_is_good_for_nothing_else() {
    let api = shop().await;
    let before = api.items().await;
    let admin = key(Scope::Admin);
    let shopfront = key(Scope::Events);
    // Headers an eavesdropper could have seen on legitimate requests.
    let profile_read = header(&shopfront, "GET", "/v1/customers/alice", "");
    let export_read = header(&admin, "GET", "/v1/customers/alice/export", "");
    let query_read = header(&shopfront, "GET", "/v1/customers/alice?view=1", "");
    let attempts: [(&str, &str, &str, &str, &String); 8] = [
        (
            "another method",
            "DELETE",
            "/v1/customers/alice",
            "",
            &export_read,
        ),
        (
            "erasure with an export header",
            "DELETE",
            "/v1/customers/alice",
            "",
            &profile_read,
        ),
        (
            "another customer",
            "GET",
            "/v1/customers/bob",
            "",
            &profile_read,
        ),
        (
            "another customer's export",
            "GET",
            "/v1/customers/bob/export",
            "",
            &export_read,
        ),
        (
            "another route",
            "GET",
            "/v1/customers/alice/export",
            "",
            &profile_read,
        ),
        (
            "another query",
            "GET",
            "/v1/customers/alice?view=2",
            "",
            &query_read,
        ),
        (
            "the query dropped",
            "GET",
            "/v1/customers/alice",
            "",
            &query_read,
        ),
        (
            "recovery closed with a read header",
            "POST",
            "/v1/customers/alice/recovery",
            "",
            &export_read,
        ),
    ];
    for (what, method, path, body, captured) in attempts {
        let r = replay(&api, method, path, body, captured).await;
        assert_problem(&r, 401, "unauthorized", what);
    }
    assert_eq!(api.items().await, before, "nothing changed");

    // The same headers still do what they were made for.
    let r = replay(&api, "GET", "/v1/customers/alice", "", &profile_read).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = replay(&api, "GET", "/v1/customers/alice/export", "", &export_read).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn the_storefront_key_cannot_reach_the_merchants_routes() {
    let api = shop().await;
    let shopfront = key(Scope::Events);
    // Alice's unhappy review opens a service-recovery case only support may close.
    let review = json!({
        "event_id": "rv-1", "customer_id": "alice", "order_id": "o-alice",
        "sku": "SKU-1", "rating": 1, "occurred_at": Utc::now().to_rfc3339(),
    });
    assert_eq!(api.post("/v1/events/review", &review).await.status, 200);
    let before = api.items().await;
    for (method, path) in [
        ("GET", "/v1/customers/alice/export"),
        ("DELETE", "/v1/customers/alice"),
        ("POST", "/v1/customers/alice/recovery"),
    ] {
        let r = replay(
            &api,
            method,
            path,
            "",
            &header(&shopfront, method, path, ""),
        )
        .await;
        assert_problem(&r, 403, "insufficient-scope", &format!("{method} {path}"));
        assert_eq!(
            r.body["detail"],
            "this operation needs a key with the admin scope"
        );
    }
    assert_eq!(api.items().await, before, "nothing changed");

    // The admin key works everywhere, the storefront's routes included.
    let admin = key(Scope::Admin);
    let path = "/v1/customers/bob";
    let r = replay(&api, "GET", path, "", &header(&admin, "GET", path, "")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn keys_that_are_not_in_force_are_refused() {
    let api = TestApi::start().await;
    let before = api.items().await;
    let body = purchase("e-1", "mallory", "o-1", 1_000).to_string();
    let path = "/v1/events/purchase";
    let revoked = ApiKey::new("shop-0", Scope::Events, b"the-key-before-rotation").unwrap();
    let guessed = ApiKey::new(
        &key(Scope::Admin).id,
        Scope::Admin,
        b"a-guess-at-the-secret",
    )
    .unwrap();
    for (what, key) in [
        ("a removed key", revoked),
        ("a known id, a wrong secret", guessed),
    ] {
        let r = replay(
            &api,
            "POST",
            path,
            &body,
            &header(&key, "POST", path, &body),
        )
        .await;
        assert_problem(&r, 401, "unauthorized", what);
    }
    assert_eq!(api.items().await, before, "nothing changed");
}

#[tokio::test]
async fn a_redemption_cannot_be_spent_on_another_customer() {
    let api = shop().await;
    let alice_body =
        json!({"redemption_id": "r-1", "customer_id": "alice", "points": 500}).to_string();
    let alice_path = "/v1/customers/alice/redemptions";
    let captured = signer()
        .header("POST", alice_path, alice_body.as_bytes())
        .unwrap();
    let before = api.items().await;
    let bob_balance = api.get("/v1/customers/bob").await.body["points_balance"].clone();

    // The captured request replayed onto Bob's path.
    let bob_path = "/v1/customers/bob/redemptions";
    let r = replay(&api, "POST", bob_path, &alice_body, &captured).await;
    assert_problem(&r, 401, "unauthorized", "replayed onto bob");
    // Even signed afresh for Bob's path, a body naming Alice spends nothing of Bob's.
    let resigned = signer()
        .header("POST", bob_path, alice_body.as_bytes())
        .unwrap();
    let r = replay(&api, "POST", bob_path, &alice_body, &resigned).await;
    assert_problem(&r, 422, "invalid-field", "body names another customer");
    assert_eq!(r.field(), "customer_id");
    assert_eq!(api.items().await, before, "nothing changed");

    // Alice's own request goes through once.
    let r = replay(&api, "POST", alice_path, &alice_body, &captured).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        api.get("/v1/customers/bob").await.body["points_balance"],
        bob_balance
    );
}

#[tokio::test]
async fn a_body_on_a_bodyless_route_is_refused_before_the_signature() {
    let api = shop().await;
    let before = api.items().await;
    // The header of `GET /v1/customers/alice.` with no body signs the same string as
    // `GET /v1/customers/alice` with the body "."; a body on GET is refused outright.
    let shopfront = key(Scope::Events);
    let captured = header(&shopfront, "GET", "/v1/customers/alice.", "");
    for method in ["GET", "DELETE"] {
        let r = replay(&api, method, "/v1/customers/alice", ".", &captured).await;
        assert_problem(&r, 422, "invalid-field", method);
        assert_eq!(r.field(), "body");
    }
    assert_eq!(api.items().await, before, "nothing changed");
}
