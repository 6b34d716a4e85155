//! SES feedback against DynamoDB Local: the sample SNS batch (infra/events/ses-feedback.json)
//! suppresses the hard-bounced and the complaining address, and nothing else; the job then
//! mails neither, even an account notice that needs no marketing consent.

use chrono::Utc;
use rapport_integration::{TestApi, emulator_sender, job_settings, purchase};
use rapport_shared::domain::outreach::SuppressReason;
use rapport_shared::domain::{Currency, SuppressionCause, address_key};
use rapport_shared::service::feedback::{FeedbackOutcome, SnsEvent, handle};
use rapport_shared::store::ReadBackStore;
use std::collections::BTreeSet;

const SAMPLE: &str = include_str!("../infra/events/ses-feedback.json");

#[tokio::test]
async fn bounces_and_complaints_suppress_their_addresses_and_the_job_honours_them() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let address = |name: &str| format!("{name}-{tag}@example.com");
    let sample = SAMPLE.replace("@example.com", &format!("-{tag}@example.com"));
    let event: SnsEvent = serde_json::from_str(&sample).unwrap();

    let expected = FeedbackOutcome {
        suppressed: 2,
        ignored: 2,
        unreadable: 0,
    };
    assert_eq!(
        handle(&api.store, &event, Utc::now()).await.unwrap(),
        expected
    );
    // SNS delivers at least once: a redelivered batch changes nothing.
    assert_eq!(
        handle(&api.store, &event, Utc::now()).await.unwrap(),
        expected
    );
    let gone = api
        .store
        .suppression(&address_key(&address("GONE")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.cause, SuppressionCause::Bounce);
    let annoyed = api
        .store
        .suppression(&address_key(&address("annoyed")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(annoyed.cause, SuppressionCause::Complaint);
    for kept in ["full", "happy"] {
        let found = api.store.suppression(&address_key(&address(kept))).await;
        assert_eq!(found.unwrap(), None, "{kept}");
    }

    // Four customers whose order takes them to silver: a tier-change notice is due.
    for name in ["gone", "annoyed", "full", "happy"] {
        let mut order = purchase(&format!("e-{name}"), name, &format!("o-{name}"), 60_000);
        order["email"] = address(name).into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    let mut settings = job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let report = rapport_job::run::run(
        &api.store,
        emulator_sender(&api),
        &settings,
        Currency::parse("currency", "USD").unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    let summary = report.summary;
    assert_eq!(
        summary.suppressed.get(&SuppressReason::AddressSuppressed),
        Some(&2),
        "{summary:?}"
    );
    assert_eq!(summary.sent, 2, "{summary:?}");
    let mailed: BTreeSet<String> = api
        .mail_tagged(&tag)
        .await
        .into_iter()
        .flat_map(|m| m.to_addresses())
        .filter(|a| a.contains(&tag))
        .collect();
    assert_eq!(mailed, BTreeSet::from([address("full"), address("happy")]));
}

#[tokio::test]
async fn an_unreadable_notification_is_skipped_not_retried_forever() {
    let api = TestApi::start().await;
    let event: SnsEvent = serde_json::from_value(serde_json::json!({
        "Records": [
            {"Sns": {"Message": "not json"}},
            {"Sns": {"Message": "{\"notificationType\":\"Bounce\"}"}},
        ]
    }))
    .unwrap();
    let outcome = handle(&api.store, &event, Utc::now()).await.unwrap();
    assert_eq!(
        outcome,
        FeedbackOutcome {
            suppressed: 0,
            ignored: 0,
            unreadable: 2
        }
    );
}
