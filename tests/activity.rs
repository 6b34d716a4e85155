//! `POST /v1/events/activity` against DynamoDB Local: a signup creates the customer with
//! the program's points, once however often or however concurrently it is delivered;
//! each limit (once, once per network, N in D days) answers why an activity earned
//! nothing; unknown activities and missing fields are refused by name and change nothing.

use rapport_integration::TestApi;
use rapport_shared::store::LedgerStore;
use serde_json::{Value, json};

use crate::program::{put, settings_program};

fn activity(event: &str, customer: &str, activity: &str, extra: Value) -> Value {
    let mut body = json!({
        "event_id": event,
        "customer_id": customer,
        "activity": activity,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

/// A shop whose program gives points for a signup, follows, and watching a video.
async fn shop() -> TestApi {
    let api = TestApi::start().await;
    let mut program = settings_program(&api).await;
    program["activities"] = json!([
        {"id": "signup", "points": 100},
        {"id": "social_follow", "points": 25, "limit": {"type": "once_per_network"}},
        {"id": "watched_video", "points": 5, "limit": {"type": "per_period", "count": 2, "days": 7}}
    ]);
    let saved = put(&api, &program, "\"0\"").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    api
}

#[tokio::test]
async fn a_signup_creates_the_customer_once_with_its_points() {
    let api = shop().await;
    let signup = activity(
        "e-signup",
        "farah",
        "signup",
        json!({"email": "farah@example.com", "first_name": "Farah", "locale": "ur-PK",
               "marketing_consent": true}),
    );
    // Three deliveries at once and one later: one customer, 100 points.
    let (a, b, c) = tokio::join!(
        api.post("/v1/events/activity", &signup),
        api.post("/v1/events/activity", &signup),
        api.post("/v1/events/activity", &signup),
    );
    for reply in [&a, &b, &c] {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["points_delta"], 100);
    }
    let again = api.post("/v1/events/activity", &signup).await;
    assert_eq!(again.body["duplicate"], true);
    let duplicates = [&a, &b, &c, &again]
        .iter()
        .filter(|r| r.body["duplicate"] == true)
        .count();
    assert_eq!(duplicates, 3, "exactly one delivery recorded it");
    let view = api.get("/v1/customers/farah").await;
    assert_eq!(view.body["points_balance"], 100);
    assert_eq!(view.body["first_name"], "Farah");
    assert_eq!(view.body["locale"], "ur-PK");
    assert_eq!(view.body["marketing_consent"], true);
    assert_eq!(view.body["orders"], 0);
    // The same reused for another activity is a conflict naming the key.
    let mut reused = signup.clone();
    reused["activity"] = json!("newsletter_signup");
    let conflict = api.post("/v1/events/activity", &reused).await;
    assert_eq!(
        (conflict.status, conflict.body["field"].as_str()),
        (409, Some("event_id"))
    );
    // A second signup under another event id earns nothing, and says why.
    let second = api
        .post(
            "/v1/events/activity",
            &activity("e-signup-2", "farah", "signup", json!({})),
        )
        .await;
    assert_eq!(second.body["points_delta"], 0);
    assert_eq!(second.body["not_earned"], "signup earns points once");
    assert_eq!(
        api.get("/v1/customers/farah").await.body["points_balance"],
        100
    );
}

#[tokio::test]
async fn follows_earn_once_per_network_and_videos_twice_a_week() {
    let api = shop().await;
    let post = |event: &str, name: &str, extra: Value| {
        let body = activity(event, "kim", name, extra);
        let api = &api;
        async move { api.post("/v1/events/activity", &body).await }
    };
    let insta = post("f1", "social_follow", json!({"network": "instagram"})).await;
    assert_eq!(insta.body["points_delta"], 25, "{}", insta.body);
    let again = post("f2", "social_follow", json!({"network": "Instagram"})).await;
    assert_eq!(again.body["points_delta"], 0);
    assert_eq!(
        again.body["not_earned"],
        "social_follow on instagram was rewarded already"
    );
    let tiktok = post("f3", "social_follow", json!({"network": "tiktok"})).await;
    assert_eq!(tiktok.body["points_delta"], 25);
    let mut earned = Vec::new();
    for n in 0..3 {
        let video = post(&format!("v{n}"), "watched_video", json!({})).await;
        earned.push(video.body["points_delta"].as_i64().unwrap());
    }
    assert_eq!(earned, [5, 5, 0]);
    // An activity the program does not have, no network for a follow, a bad name.
    for (body, field) in [
        (activity("x1", "kim", "dance", json!({})), "activity"),
        (activity("x2", "kim", "social_follow", json!({})), "network"),
        (
            activity("x3", "kim", "signup", json!({"first_name": "<b>Kim</b>"})),
            "first_name",
        ),
        (
            activity("x4", "kim", "birthday_added", json!({})),
            "birthday",
        ),
    ] {
        let refused = api.post("/v1/events/activity", &body).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body["field"], field, "{}", refused.body);
    }
    let view = api.get("/v1/customers/kim").await;
    assert_eq!(view.body["points_balance"], 25 + 25 + 10);
    // The ledger says what each credit was for.
    let ledger = api
        .store
        .ledger(&rapport_integration::cid("kim"))
        .await
        .unwrap();
    let references: Vec<&str> = ledger.iter().map(|e| e.reference.as_str()).collect();
    assert_eq!(
        references,
        [
            "social_follow:instagram",
            "social_follow:tiktok",
            "watched_video",
            "watched_video"
        ]
    );
}

#[tokio::test]
async fn a_signup_is_welcomed_in_its_language_then_given_a_code_unless_it_ordered_again() {
    let api = TestApi::start().await;
    let mut program = settings_program(&api).await;
    program["activities"] = json!([{"id": "signup", "points": 50}]);
    program["messages"]["holdout_pct"] = json!(0);
    program["rewards"] = json!([{
        "id": "ship", "name": "Free shipping", "offer": {"type": "free_shipping"},
        "points": 150, "valid_days": 30
    }]);
    assert_eq!(put(&api, &program, "\"0\"").await.status, 200);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let address = |name: &str| format!("{name}-{tag}@example.com");
    for (name, locale, consent) in [
        ("farah", "ur-PK", true),
        ("ben", "en", true),
        ("kim", "en", false),
    ] {
        let signup = activity(
            &format!("s-{name}"),
            name,
            "signup",
            json!({"email": address(name), "first_name": name.to_uppercase(),
                   "locale": locale, "marketing_consent": consent}),
        );
        assert_eq!(api.post("/v1/events/activity", &signup).await.status, 200);
    }
    // ben orders twice in his first days.
    for n in 0..2 {
        let order =
            rapport_integration::purchase(&format!("o-ben-{n}"), "ben", &format!("ben-{n}"), 2_000);
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let settings = rapport_integration::job_settings(&api);
    let now = chrono::Utc::now();
    // Two runs at once and one after: one welcome each.
    let (a, b) = tokio::join!(
        rapport_integration::run_job(&api, &settings, now),
        rapport_integration::run_job(&api, &settings, now),
    );
    assert_eq!(a.errors + b.errors, 0);
    rapport_integration::run_job(&api, &settings, now).await;
    let farah = api.mail_to(&address("farah")).await;
    assert_eq!(farah.len(), 1, "one welcome");
    let welcome = &farah[0];
    assert!(welcome.subject.contains("خوش آمدید"), "{}", welcome.subject);
    let html = welcome.html.clone().unwrap_or_default();
    assert!(
        html.contains("dir=\"rtl\"") && html.contains("FARAH"),
        "{html}"
    );
    let text = welcome.text.clone().unwrap_or_default();
    assert!(
        text.contains("50") && text.contains("Free shipping"),
        "{text}"
    );
    assert_eq!(api.mail_to(&address("ben")).await.len(), 1);
    assert!(
        api.mail_to(&address("kim")).await.is_empty(),
        "no consent, no welcome"
    );

    // Eight days on: farah gets her code; ben ordered again and gets nothing more.
    let later = now + chrono::Duration::days(8);
    rapport_integration::run_job(&api, &settings, later).await;
    rapport_integration::run_job(&api, &settings, later).await;
    let farah = api.mail_to(&address("farah")).await;
    assert_eq!(farah.len(), 2, "the code, once");
    let code = api.get("/v1/customers/farah").await.body["referral_code"]
        .as_str()
        .map(str::to_owned)
        .expect("the code was created for the mail");
    assert!(
        farah[1].text.clone().unwrap_or_default().contains(&code),
        "{:?}",
        farah[1].text
    );
    // ben's later mail is the check-in on his orders, not the code.
    let ben = api.mail_to(&address("ben")).await;
    assert!(
        ben.iter()
            .all(|m| m.subject != "A gift for you and a friend"),
        "{:?}",
        ben.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}
