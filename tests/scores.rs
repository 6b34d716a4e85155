//! What the scoring job needs from the store, against DynamoDB Local: a parallel scan
//! that visits every profile exactly once, score writes in batches that the profile
//! view shows, first states written many to a transaction without bringing back an
//! erased customer, and consent recorded from events.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::future::join_all;
use rapport_integration::{TestApi, purchase, refund};
use rapport_shared::domain::{CustomerId, CustomerScores, JobState};
use rapport_shared::store::dynamo::keys;
use rapport_shared::store::{DynamoStore, ProfileViewStore, ScanCursor, ScanRead, ScoreStore};
use std::collections::HashSet;

#[tokio::test]
async fn a_parallel_scan_visits_every_profile_once_and_nothing_else() {
    let api = &TestApi::start().await;
    let customers: Vec<String> = (0..120).map(|i| format!("c-{i:03}")).collect();
    for chunk in customers.chunks(20) {
        join_all(chunk.iter().enumerate().map(|(i, c)| {
            let body = purchase(&format!("e-{c}"), c, &format!("o-{c}"), 1_000 + i as i64);
            async move { api.post("/v1/events/purchase", &body).await }
        }))
        .await;
    }
    // Orders, ledger entries and events share the table; the scan must skip them.
    api.post(
        "/v1/events/purchase",
        &refund("r-1", "c-000", "o-c-000", 100),
    )
    .await;

    // Job state for every other customer, so scans see both kinds of item.
    let states: Vec<JobState> = customers
        .iter()
        .step_by(2)
        .map(|c| JobState {
            customer_id: CustomerId::parse("id", c).unwrap(),
            scores: None,
            messages: Vec::new(),
        })
        .collect();
    api.store.write_job_states(&states).await.unwrap();

    // Full pages, and pages of 3 items that split customers from their job state.
    for store in [api.store.clone(), api.store.clone().with_scan_page_limit(3)] {
        let (seen, read) = scan_all(&store, 4).await;
        // The customer index holds profiles and job states, not orders, ledger
        // entries, events or message records.
        assert_eq!(read.items, 120 + 60, "{read:?}");
        assert!(read.capacity_units > 0.0, "{read:?}");
        let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), customers.len(), "each profile once");
        assert_eq!(
            unique,
            customers.iter().map(String::as_str).collect::<HashSet<_>>()
        );
        for (id, has_job) in &seen {
            let expected = id[2..].parse::<usize>().unwrap() % 2 == 0;
            assert_eq!(*has_job, expected, "{id}");
        }
    }
}

/// Every customer of a parallel scan: id and whether job state came with it; and what
/// the scan read.
async fn scan_all(store: &DynamoStore, segments: u32) -> (Vec<(String, bool)>, ScanRead) {
    let mut seen = Vec::new();
    let mut read = ScanRead::default();
    for segment in 0..segments {
        let mut cursor: Option<ScanCursor> = None;
        loop {
            let page = store
                .scan_customers(segment, segments, cursor)
                .await
                .unwrap();
            read += page.read;
            seen.extend(
                page.customers
                    .into_iter()
                    .map(|c| (c.profile.customer_id.to_string(), c.job.is_some())),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    (seen, read)
}

#[tokio::test]
async fn scores_are_written_in_batches_and_shown_in_the_profile() {
    let api = TestApi::start().await;
    for i in 0..30 {
        let c = format!("c-{i}");
        api.post(
            "/v1/events/purchase",
            &purchase(&format!("e-{i}"), &c, &format!("o-{i}"), 1_000),
        )
        .await;
    }
    let scores: Vec<CustomerScores> = (0..30)
        .map(|i| CustomerScores {
            customer_id: CustomerId::parse("id", &format!("c-{i}")).unwrap(),
            churn_risk: 0.25,
            p_alive: 0.9,
            expected_purchases: 1.5 + f64::from(i),
            clv_minor: 12_345,
            segment: rapport_shared::domain::Segment::Active,
            horizon_weeks: 52.0,
            model_version: "test".into(),
            scored_at: Utc::now(),
            next_order_on: None,
            p_order_in_horizon: None,
        })
        .collect();
    let states: Vec<JobState> = scores
        .into_iter()
        .map(|s| JobState {
            customer_id: s.customer_id.clone(),
            scores: Some(s),
            messages: Vec::new(),
        })
        .collect();
    // 30 states are two batches; writing twice is harmless.
    api.store.write_job_states(&states).await.unwrap();
    api.store.write_job_states(&states).await.unwrap();
    let p = api.get("/v1/customers/c-7").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["scores"]["expected_purchases"], 8.5);
    assert_eq!(p.body["scores"]["clv_minor"], 12_345);
    assert_eq!(p.body["scores"]["segment"], "active");
    // Events keep writing the profile; the scores item is untouched by them.
    api.post(
        "/v1/events/purchase",
        &purchase("e-late", "c-7", "o-late", 500),
    )
    .await;
    assert_eq!(
        api.get("/v1/customers/c-7").await.body["scores"]["segment"],
        "active"
    );
    // A customer the job has not scored yet shows null.
    api.post(
        "/v1/events/purchase",
        &purchase("e-new", "new", "o-new", 500),
    )
    .await;
    assert!(api.get("/v1/customers/new").await.body["scores"].is_null());
}

fn scored_by(customer: &str, model: &str) -> JobState {
    let id = CustomerId::parse("id", customer).unwrap();
    JobState {
        customer_id: id.clone(),
        scores: Some(CustomerScores {
            customer_id: id,
            churn_risk: 0.5,
            p_alive: 0.5,
            expected_purchases: 1.0,
            clv_minor: 1_000,
            segment: rapport_shared::domain::Segment::Active,
            horizon_weeks: 52.0,
            model_version: model.into(),
            scored_at: Utc::now(),
            next_order_on: None,
            p_order_in_horizon: None,
        }),
        messages: Vec::new(),
    }
}

/// Whether the customer's job state item is in the table at all.
async fn has_state_item(api: &TestApi, customer: &str) -> bool {
    let id = CustomerId::parse("id", customer).unwrap();
    api.store
        .client()
        .get_item()
        .table_name(api.store.table())
        .key("PK", AttributeValue::S(keys::customer_pk(&id)))
        .key("SK", AttributeValue::S(keys::SCORES.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

#[tokio::test]
async fn first_states_share_transactions_and_an_erasure_or_another_run_in_one_changes_only_that_customer()
 {
    first_states_with(|store, states| Box::pin(store.write_job_states(states))).await;
}

/// The same through the method for states the run knows to be first: it goes straight
/// to the transactions, and falls back where one is cancelled.
#[tokio::test]
async fn first_states_known_to_be_first_skip_the_put_and_an_erasure_or_another_run_changes_only_that_customer()
 {
    first_states_with(|store, states| Box::pin(store.write_first_job_states(states))).await;
}

type Write = for<'a> fn(
    &'a rapport_shared::store::DynamoStore,
    &'a [JobState],
) -> std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(), rapport_shared::store::StoreError>> + Send + 'a,
    >,
>;

/// 130 customers scored for the first time (three transactions of first states), two
/// erased and one given a state by an overlapping run after the run read them; written
/// by `write`, then written again.
async fn first_states_with(write: Write) {
    let api = &TestApi::start().await;
    // 130 customers scored for the first time: three transactions of first states.
    let customers: Vec<String> = (0..130).map(|i| format!("f-{i:03}")).collect();
    for chunk in customers.chunks(20) {
        join_all(chunk.iter().map(|c| {
            let body = purchase(&format!("e-{c}"), c, &format!("o-{c}"), 1_000);
            async move { api.post("/v1/events/purchase", &body).await }
        }))
        .await;
    }
    // After the run read them, two are erased (in different transactions), and an
    // overlapping run gives a third its state first.
    for erased in ["f-007", "f-075"] {
        let r = api
            .send("DELETE", &format!("/v1/customers/{erased}"), None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    api.store
        .write_job_states(&[scored_by("f-060", "overlapping run")])
        .await
        .unwrap();

    let states: Vec<JobState> = customers.iter().map(|c| scored_by(c, "this run")).collect();
    write(&api.store, &states).await.unwrap();

    for c in &customers {
        let id = CustomerId::parse("id", c).unwrap();
        let (_, scores) = api.store.profile_and_scores(&id).await.unwrap();
        if c == "f-007" || c == "f-075" {
            assert!(scores.is_none(), "{c}");
            assert!(!has_state_item(api, c).await, "{c}'s state came back");
        } else {
            // The overlapping run's state is replaced, like any state there is.
            let model = scores.map(|s| s.model_version);
            assert_eq!(model.as_deref(), Some("this run"), "{c}");
        }
    }
    // Again (a retried batch): every state is replaced, still none for the erased.
    let again: Vec<JobState> = customers.iter().map(|c| scored_by(c, "retried")).collect();
    write(&api.store, &again).await.unwrap();
    let id = CustomerId::parse("id", "f-129").unwrap();
    let (_, scores) = api.store.profile_and_scores(&id).await.unwrap();
    assert_eq!(scores.map(|s| s.model_version).as_deref(), Some("retried"));
    assert!(!has_state_item(api, "f-007").await);
    assert!(has_state_item(api, "f-129").await);
}

#[tokio::test]
async fn marketing_consent_follows_the_latest_event() {
    let api = TestApi::start().await;
    api.post("/v1/events/purchase", &purchase("e-1", "c-1", "o-1", 1_000))
        .await;
    assert!(api.get("/v1/customers/c-1").await.body["marketing_consent"].is_null());
    let mut opt_in = purchase("e-2", "c-1", "o-2", 1_000);
    opt_in["marketing_consent"] = true.into();
    api.post("/v1/events/purchase", &opt_in).await;
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["marketing_consent"],
        true
    );
    let mut opt_out = purchase("e-3", "c-1", "o-3", 1_000);
    opt_out["marketing_consent"] = false.into();
    api.post("/v1/events/purchase", &opt_out).await;
    assert_eq!(
        api.get("/v1/customers/c-1").await.body["marketing_consent"],
        false
    );
    let mut wrong = purchase("e-4", "c-1", "o-4", 1_000);
    wrong["marketing_consent"] = "yes".into();
    let r = api.post("/v1/events/purchase", &wrong).await;
    assert_eq!((r.status, r.field()), (422, "marketing_consent"));
}
