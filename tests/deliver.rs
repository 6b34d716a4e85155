//! Delivering decisions through the SES emulator with message claims in DynamoDB Local:
//! a message goes out once however often it is delivered, held-out messages are only
//! recorded, a refused send is retried by the next delivery, and the mail is in the
//! customer's language with one-click unsubscribe.

use async_trait::async_trait;
use chrono::Utc;
use rapport_integration::{TestApi, delivery_settings, purchase};
use rapport_shared::domain::outreach::{MessageKind, MessageStatus, Offer, Planned};
use rapport_shared::domain::{CustomerId, Profile};
use rapport_shared::mail::{MessageSender, OutgoingMail, SendError, SesSender};
use rapport_shared::service::deliver::{Delivered, deliver};
use rapport_shared::store::ProfileStore;

fn planned(kind: MessageKind, period: &str) -> Planned {
    Planned {
        kind,
        period: period.into(),
        expected_value_minor: 500,
        offer: None,
        reward_points: 0,
        reason: "test".into(),
        recommendations: Vec::new(),
    }
}

async fn customer(api: &TestApi, id: &str, email: &str, locale: &str) -> Profile {
    let mut order = purchase(&format!("e-{id}"), id, &format!("o-{id}"), 1_000);
    order["email"] = email.into();
    order["locale"] = locale.into();
    assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    api.store
        .profile(&CustomerId::parse("id", id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .value
}

fn ses(api: &TestApi) -> SesSender {
    let sdk = rapport_local::sdk_config("http://127.0.0.1:9", &api.ses_endpoint);
    SesSender::new(aws_sdk_ses::Client::new(&sdk))
}

#[tokio::test]
async fn a_message_goes_out_once_in_the_customers_language() {
    let api = TestApi::start().await;
    let to = format!("bilal-{}@example.com", uuid::Uuid::new_v4().simple());
    let profile = customer(&api, "bilal", &to, "ur-PK").await;
    let mut offer = planned(MessageKind::WinBack, "2026-Q4");
    offer.offer = Some(Offer {
        discount_pct: 15,
        max_value_minor: 2_000,
    });
    let sender = ses(&api);
    let first = deliver(
        &api.store,
        &sender,
        &delivery_settings(&api),
        &profile,
        &offer,
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    let Delivered::Sent(record) = first else {
        panic!("{first:?}")
    };
    let code = record.coupon_code.clone().unwrap();
    assert!(code.starts_with("RW-"), "{code}");
    for _ in 0..3 {
        let again = deliver(
            &api.store,
            &sender,
            &delivery_settings(&api),
            &profile,
            &offer,
            false,
            Utc::now(),
        )
        .await
        .unwrap();
        assert!(
            matches!(&again, Delivered::AlreadyDone(r) if r.status == MessageStatus::Sent),
            "{again:?}"
        );
    }
    let mails = api.mail_to(&to).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.subject.contains("15٪"), "{}", mail.subject);
    let html = mail.html.as_deref().unwrap();
    assert!(
        html.contains("dir=\"rtl\"") && html.contains(&code),
        "{html}"
    );
    assert!(
        mail.text
            .as_deref()
            .unwrap()
            .contains("/v1/unsubscribe?token=bilal.")
    );
}

#[tokio::test]
async fn held_out_messages_are_recorded_not_sent() {
    let api = TestApi::start().await;
    let to = format!("asha-{}@example.com", uuid::Uuid::new_v4().simple());
    let profile = customer(&api, "asha", &to, "hi-IN").await;
    let vip = planned(MessageKind::VipAppreciation, "2026-Q4");
    let sender = ses(&api);
    let held = deliver(
        &api.store,
        &sender,
        &delivery_settings(&api),
        &profile,
        &vip,
        true,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        matches!(held, Delivered::HeldOut(ref r) if r.status == MessageStatus::HeldOut),
        "{held:?}"
    );
    // A later run that would send it finds it decided.
    let later = deliver(
        &api.store,
        &sender,
        &delivery_settings(&api),
        &profile,
        &vip,
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        matches!(&later, Delivered::AlreadyDone(r) if r.status == MessageStatus::HeldOut),
        "{later:?}"
    );
    assert!(api.mail_to(&to).await.is_empty());
}

/// Refuses the first `failures` sends, then passes them to the emulator.
struct Flaky {
    inner: SesSender,
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl MessageSender for Flaky {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        use std::sync::atomic::Ordering;
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SendError::Rejected("MessageRejected".into()));
        }
        self.inner.send(mail).await
    }
}

#[tokio::test]
async fn a_refused_send_is_retried_by_the_next_delivery() {
    let api = TestApi::start().await;
    let to = format!("maria-{}@example.com", uuid::Uuid::new_v4().simple());
    let profile = customer(&api, "maria", &to, "fil-PH").await;
    let check_in = planned(MessageKind::PostPurchase, "o-maria");
    let flaky = Flaky {
        inner: ses(&api),
        failures: 1.into(),
    };
    let first = deliver(
        &api.store,
        &flaky,
        &delivery_settings(&api),
        &profile,
        &check_in,
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        matches!(first, Delivered::Failed(ref r) if r.error.is_some()),
        "{first:?}"
    );
    assert!(api.mail_to(&to).await.is_empty());
    let second = deliver(
        &api.store,
        &flaky,
        &delivery_settings(&api),
        &profile,
        &check_in,
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(matches!(second, Delivered::Sent(_)), "{second:?}");
    let mails = api.mail_to(&to).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].subject.contains("Kumusta ang order mong o-maria"),
        "{}",
        mails[0].subject
    );
}

/// A sender whose delivery log never saw the message: the crashed run died before SES.
struct NeverAccepted(SesSender);

#[async_trait]
impl MessageSender for NeverAccepted {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        self.0.send(mail).await
    }
    async fn accepted(
        &self,
        _: &OutgoingMail,
        _: chrono::DateTime<Utc>,
    ) -> Result<rapport_shared::mail::Acceptance, SendError> {
        Ok(rapport_shared::mail::Acceptance::NotAccepted)
    }
}

#[tokio::test]
async fn a_birthday_reward_is_credited_once_however_often_the_greeting_is_retried() {
    use rapport_shared::domain::LedgerReason;
    use rapport_shared::domain::outreach::MessageRecord;
    use rapport_shared::store::{LedgerStore, MessageStore};

    let api = TestApi::start().await;
    let to = format!("asha-{}@example.com", uuid::Uuid::new_v4().simple());
    let profile = customer(&api, "asha", &to, "hi-IN").await;
    let mut greeting = planned(MessageKind::Birthday, "2026");
    greeting.reward_points = 100;
    let now = Utc::now();

    // A run that claimed the greeting and died before sending it.
    let stale = MessageRecord::new(
        &profile.customer_id,
        &greeting,
        MessageStatus::Sending,
        now - chrono::Duration::hours(2),
    );
    assert!(matches!(
        api.store.claim_message(&stale).await.unwrap(),
        rapport_shared::store::Claim::Claimed
    ));
    let sender = NeverAccepted(ses(&api));
    let resumed = deliver(
        &api.store,
        &sender,
        &delivery_settings(&api),
        &profile,
        &greeting,
        false,
        now,
    )
    .await
    .unwrap();
    assert!(
        matches!(&resumed, Delivered::Sent(r) if r.attempts == 2),
        "{resumed:?}"
    );
    // Delivered again (a re-run): nothing more is sent or credited.
    let again = deliver(
        &api.store,
        &sender,
        &delivery_settings(&api),
        &profile,
        &greeting,
        false,
        now,
    )
    .await
    .unwrap();
    assert!(matches!(again, Delivered::AlreadyDone(_)), "{again:?}");

    assert_eq!(api.mail_to(&to).await.len(), 1);
    let rewards: Vec<i64> = api
        .store
        .ledger(&profile.customer_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.reason == LedgerReason::Reward)
        .map(|e| e.delta)
        .collect();
    assert_eq!(rewards, vec![100]);
    let after = api.get("/v1/customers/asha").await;
    assert_eq!(
        after.body["points_balance"].as_i64(),
        Some(profile.points_balance + 100)
    );

    // The same reward asked for again by key is not credited twice.
    let balance = rapport_shared::service::grant_reward(
        &api.store,
        &profile.customer_id,
        100,
        "reward:asha:birthday:2026",
        now,
    )
    .await
    .unwrap();
    assert_eq!(balance, profile.points_balance + 100);
}
