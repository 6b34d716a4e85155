//! Every request must carry a valid, fresh signature; each way of getting it wrong is
//! a 401 problem and writes nothing.

use chrono::Utc;
use rapport_integration::{Reply, TestApi, key, purchase, sign_as};
use rapport_shared::auth::keys::{ApiKey, Scope};

const PATH: &str = "/v1/events/purchase";

fn sign(key: &ApiKey, t: i64, body: &[u8]) -> String {
    sign_as(key, t, "POST", PATH, body)
}

async fn post_signed_with(api: &TestApi, header: Option<&str>, body: &str) -> Reply {
    api.send_raw(
        "POST",
        "/v1/events/purchase",
        body.as_bytes().to_vec(),
        header,
        Some("application/json"),
    )
    .await
}

fn assert_unauthorized(r: &Reply) {
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(
        r.problem_type(),
        "https://rapport.dev/problems/unauthorized"
    );
}

#[tokio::test]
async fn signatures_are_checked() {
    let api = TestApi::start().await;
    let body = purchase("e-1", "c-1", "o-1", 1_000).to_string();
    let now = Utc::now().timestamp();
    let shop = key(Scope::Events);
    let stranger = ApiKey::new(&shop.id, Scope::Events, b"not-the-shop-secret").unwrap();
    let unknown = ApiKey::new("shop-9", Scope::Events, b"not-the-shop-secret").unwrap();

    let valid = sign(&shop, now, body.as_bytes());
    let tampered = body.replace("1000", "9000");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, &body),
        ("tampered body", Some(valid.clone()), &tampered),
        (
            "wrong secret",
            Some(sign(&stranger, now, body.as_bytes())),
            &body,
        ),
        (
            "unknown key id",
            Some(sign(&unknown, now, body.as_bytes())),
            &body,
        ),
        (
            "another path",
            Some(sign_as(
                &shop,
                now,
                "POST",
                "/v1/events/review",
                body.as_bytes(),
            )),
            &body,
        ),
        (
            "the old scheme, without key id and request line",
            Some(valid.replace(&format!(",k={}", shop.id), "")),
            &body,
        ),
        (
            "stale",
            Some(sign(&shop, now - 301, body.as_bytes())),
            &body,
        ),
        (
            "future",
            // Well past the window, so that a slow check a few seconds later still
            // sees it ahead.
            Some(sign(&shop, now + 330, body.as_bytes())),
            &body,
        ),
        ("malformed", Some("v1=abc,t=now".into()), &body),
        (
            "truncated hex",
            Some(valid[..valid.len() - 2].to_owned()),
            &body,
        ),
        ("empty", Some(String::new()), &body),
    ];
    for (name, header, body) in cases {
        let r = post_signed_with(&api, header.as_deref(), body).await;
        assert_unauthorized(&r);
        assert!(r.body["detail"].is_string(), "{name}");
    }
    // Nothing above was recorded.
    assert_eq!(api.get("/v1/customers/c-1").await.status, 404);

    let ok = post_signed_with(&api, Some(&valid), &body).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    // Within the tolerance on either side is fine.
    let body2 = purchase("e-2", "c-1", "o-2", 1_000).to_string();
    let slightly_old = sign(&shop, now - 290, body2.as_bytes());
    assert_eq!(
        post_signed_with(&api, Some(&slightly_old), &body2)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn reads_are_signed_too() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 1_000))
        .await;
    let r = api
        .send_raw("GET", "/v1/customers/c-1", Vec::new(), None, None)
        .await;
    assert_unauthorized(&r);
    let header = sign_as(
        &key(Scope::Events),
        Utc::now().timestamp(),
        "GET",
        "/v1/customers/c-1",
        b"",
    );
    let r = api
        .send_raw("GET", "/v1/customers/c-1", Vec::new(), Some(&header), None)
        .await;
    assert_eq!(r.status, 200);
}
