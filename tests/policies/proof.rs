//! The declarations proven against the calls the code makes: every port method runs
//! against DynamoDB Local, the SES emulator and moto's S3 as the functions run it — each on its
//! own function's wiring, through the services the handlers call — while the
//! interceptor of `calls` records what reaches AWS. A call no declaration names fails,
//! and so does a declaration no call needed, or a method the run never called.

use super::calls::{Frame, Log, Reach, Traced};
use super::{Need, needs_of};
use chrono::Utc;
use rapport_integration::TestApi;
use rapport_shared::access::{Action, Port, Resource, Wiring};
use rapport_shared::domain::storefront::codes::{Platform, StoreCode};
use rapport_shared::service::code_sync::{CodeOutcome, CodeSync, SyncPolicy};
use rapport_shared::shop_api::{Created, ShopApi, ShopApiError};
use rapport_shared::wiring::{self, Function};
use std::collections::BTreeSet;

fn cid(id: &str) -> rapport_shared::domain::CustomerId {
    rapport_integration::cid(id)
}

/// The store `function` runs on, recording into `log`.
fn wired<W: Wiring>(
    base: &rapport_shared::store::DynamoStore,
    log: &Log,
    function: &'static str,
) -> Traced<rapport_shared::store::DynamoStore<W>> {
    Traced::new(base.clone().wired::<W>(), log, Some(function))
}

/// A store that takes every code.
struct AcceptingShop;

#[async_trait::async_trait]
impl ShopApi for AcceptingShop {
    fn platform(&self) -> Platform {
        Platform::Woocommerce
    }

    async fn create_code(&self, _: &StoreCode) -> Result<Created, ShopApiError> {
        Ok(Created {
            remote_id: Some("720".into()),
            existed: false,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a well-formed request")
}

#[tokio::test]
async fn every_port_method_calls_exactly_what_it_declares() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rapport_shared::domain::outreach::Planned;
    use rapport_shared::domain::outreach::{MessageKind, MessageRecord, MessageStatus, Offer};
    use rapport_shared::domain::{
        Currency, PurchaseInput, RedemptionInput, ReferralInput, ReviewInput, address_key,
    };
    use rapport_shared::mail::{AlertSender, SesAlerts, SesSender};
    use rapport_shared::service::{self, deliver::deliver, feedback};
    use rapport_shared::store::dynamo::keys;
    use rapport_shared::store::{
        ArtifactStore, CodeRepairStore, CustomerIndexStore, LedgerStore, MessageStore,
        PrivacyStore, ProfileStore, ProfileViewStore, ProgramStatsStore, ProgramStore,
        ReadBackStore, ReportFile, ReportStore,
    };
    use serde_json::json;
    use std::sync::Arc;

    // A table of its own (the API's server is not used) and clients that record.
    let api = TestApi::start().await;
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let sdk = rapport_local::sdk_config(&dynamodb.endpoint(), &api.ses_endpoint);
    let log = Log::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(log.recorder())
            .build(),
    );
    let ses = aws_sdk_ses::Client::from_conf(
        aws_sdk_ses::config::Builder::from(&sdk)
            .interceptor(log.recorder())
            .build(),
    );
    let sesv2 = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .interceptor(log.recorder())
            .build(),
    );
    let table = api.store.table().to_owned();
    let base = rapport_shared::store::DynamoStore::new(client, &table);
    let config = rapport_integration::config(&table, &[]);
    let setup = Traced::new(base.clone(), &log, None);
    let now = Utc::now();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let email = |name: &str| format!("{name}-{tag}@example.com");
    let purchase = |event: &str, customer: &str, order: &str, total: i64| {
        let mut body = rapport_integration::purchase(event, customer, order, total);
        body["email"] = email(customer).into();
        parse::<PurchaseInput>(body)
            .validate()
            .expect("a valid purchase")
    };

    // purchase, referral-code, referral: a referrer, her code, a referee whose first
    // order converts the referral (the referrer's record is updated in place).
    let store = wired::<wiring::purchase::Ports>(&base, &log, "purchase");
    let first = purchase("e-ref", "ref", "o-ref", 50_000);
    service::record_purchase(&store, &config.rules, &config.referrals, &first, now)
        .await
        .unwrap();
    let store = wired::<wiring::referral_code::Ports>(&base, &log, "referral-code");
    let code = service::referral_code(&store, &cid("ref"), now)
        .await
        .unwrap();
    let store = wired::<wiring::referral::Ports>(&base, &log, "referral");
    let referral = parse::<ReferralInput>(json!({
        "event_id": "e-referral",
        "referral_code": code,
        "referee_customer_id": "new",
        "occurred_at": now.to_rfc3339(),
    }))
    .validate()
    .unwrap();
    service::record_referral(&store, &config.rules, &config.referrals, &referral, now)
        .await
        .unwrap();
    let store = wired::<wiring::purchase::Ports>(&base, &log, "purchase");
    let converting = purchase("e-new", "new", "o-new", 5_000);
    service::record_purchase(&store, &config.rules, &config.referrals, &converting, now)
        .await
        .unwrap();

    // customer
    let store = wired::<wiring::customer::Ports>(&base, &log, "customer");
    assert!(
        store
            .profile_and_scores(&cid("ref"))
            .await
            .unwrap()
            .0
            .is_some()
    );

    // redemption
    let store = wired::<wiring::redemption::Ports>(&base, &log, "redemption");
    let redemption = parse::<RedemptionInput>(
        json!({"redemption_id": "r-1", "customer_id": "ref", "points": 100}),
    )
    .validate(cid("ref"))
    .unwrap();
    let redeemed = service::redeem(&store, &config.rules, &[], &redemption, now)
        .await
        .unwrap();

    // coupon, purchase: a checkout asks about the code; an order uses it; a second
    // order naming it is refused, and the refusal recorded.
    let code = redeemed.redemption.coupon_code;
    let store = wired::<wiring::coupon::Ports>(&base, &log, "coupon");
    let check = service::check_coupon(&store, &code, Some(&cid("ref")), now)
        .await
        .unwrap();
    assert!(check.problem.is_none(), "{check:?}");
    // coupon-sync: the new code is created in a store (its holder's address read for
    // the store's restriction) and the store's confirmation recorded.
    let store = wired::<wiring::code_sync::Ports>(&base, &log, "coupon-sync");
    let apis: Vec<Box<dyn ShopApi>> = vec![Box::new(AcceptingShop)];
    let sync = CodeSync {
        apis: &apis,
        currency: config.rules.currency,
        policy: SyncPolicy::default(),
    };
    let synced = sync.sync(&store, &code, now).await.unwrap();
    assert_eq!(synced, [(Platform::Woocommerce, CodeOutcome::Created)]);
    let store = wired::<wiring::purchase::Ports>(&base, &log, "purchase");
    for (event, order) in [("e-coupon-1", "o-coupon-1"), ("e-coupon-2", "o-coupon-2")] {
        let mut body = rapport_integration::purchase(event, "ref", order, 1_000);
        body["coupon_codes"] = json!([code]);
        let order = parse::<PurchaseInput>(body).validate().unwrap();
        service::record_purchase(&store, &config.rules, &config.referrals, &order, now)
            .await
            .unwrap();
        service::use_coupons(&store, &order, now).await.unwrap();
    }

    // review: a low rating, with text, mails support an alert.
    let store = wired::<wiring::review::Ports>(&base, &log, "review");
    let review = parse::<ReviewInput>(json!({
        "event_id": "e-review",
        "customer_id": "ref",
        "order_id": "o-ref",
        "sku": "SKU-1",
        "rating": 1,
        "title": "Broken",
        "body": "Arrived in pieces.",
        "occurred_at": now.to_rfc3339(),
    }))
    .validate()
    .unwrap();
    let reviewed = service::record_review(&store, &config.rules, &config.reviews, &review, now)
        .await
        .unwrap();
    let alerts = Traced::new(
        SesAlerts::new(ses.clone(), "rapport@shop.example", email("support")),
        &log,
        Some("review"),
    );
    alerts
        .send_recovery_alert(&reviewed.alert.expect("a low rating raises an alert"))
        .await
        .unwrap();
    // shopify: a customer's data request forwarded to the merchant.
    let notices = Traced::new(
        SesAlerts::new(ses.clone(), "rapport@shop.example", email("support")),
        &log,
        Some("shopify"),
    );
    let notice = rapport_shared::mail::MerchantNotice {
        subject: "Data request".into(),
        text: "policies".into(),
    };
    notices.send_notice(&notice).await.unwrap();

    // recovery, unsubscribe
    let store = wired::<wiring::recovery::Ports>(&base, &log, "recovery");
    service::clear_recovery(&store, &cid("ref"), now)
        .await
        .unwrap();
    let store = wired::<wiring::unsubscribe::Ports>(&base, &log, "unsubscribe");
    assert!(store.profile(&cid("new")).await.unwrap().is_some());
    service::unsubscribe(&store, &cid("new"), now)
        .await
        .unwrap();

    // ses-feedback: the sample batch, with this test's addresses.
    let store = wired::<wiring::feedback::Ports>(&base, &log, "ses-feedback");
    let sample = include_str!("../../infra/events/ses-feedback.json")
        .replace("@example.com", &format!("-{tag}@example.com"));
    let batch: feedback::SnsEvent = serde_json::from_str(&sample).unwrap();
    let handled = feedback::handle(&store, &batch, now).await.unwrap();
    assert_eq!(handled.suppressed, 2);

    // rapport-job: a whole run, then the deliveries it makes in rarer states — an
    // offer with its coupon code, and a birthday greeting whose run died after the
    // claim (the claim is taken over, the reward credited once: GetItem).
    let store = wired::<wiring::job::Ports>(&base, &log, "rapport-job");
    let sender = Arc::new(Traced::new(
        SesSender::new(ses.clone()).with_configuration_set(Some("rapport-mail".into())),
        &log,
        Some("rapport-job"),
    ));
    let mut settings = rapport_integration::job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    // The pace its mail keeps, from the account's quota.
    let account = Traced::new(
        rapport_shared::mail::pace::SesAccount::new(sesv2),
        &log,
        Some("rapport-job"),
    );
    let pacing = rapport_job::run::pacing(&account, &settings.job).await;
    assert!(pacing.quota.is_some(), "{pacing:?}");
    rapport_job::run::run(
        &store,
        sender.clone(),
        &settings,
        Currency::parse("currency", "USD").unwrap(),
        now,
    )
    .await
    .unwrap();
    // The run wrote its customers' first states; a later run replaces them, and finds
    // no state for a customer erased since its scan (so checks the profile, in vain).
    let page = rapport_shared::store::ScoreStore::scan_customers(&store, 0, 1, None)
        .await
        .unwrap();
    let mut states: Vec<_> = page.customers.into_iter().filter_map(|c| c.job).collect();
    assert!(!states.is_empty());
    states.push(rapport_shared::domain::JobState {
        customer_id: cid("erased-since"),
        scores: None,
        messages: Vec::new(),
    });
    rapport_shared::store::ScoreStore::write_job_states(&store, &states)
        .await
        .unwrap();
    let profile = store.profile(&cid("ref")).await.unwrap().unwrap().value;
    let planned = |kind, period: &str| Planned {
        kind,
        period: period.into(),
        expected_value_minor: 500,
        offer: None,
        reward_points: 0,
        reason: "policies".into(),
        recommendations: Vec::new(),
    };
    let mut offer = planned(MessageKind::WinBack, "policies-offer");
    offer.offer = Some(Offer {
        discount_pct: 10,
        max_value_minor: 1_000,
    });
    let mut greeting = planned(MessageKind::Birthday, "policies-birthday");
    greeting.reward_points = 100;
    let stale = MessageRecord::new(
        &profile.customer_id,
        &greeting,
        MessageStatus::Sending,
        now - chrono::Duration::hours(2),
    );
    store.claim_message(&stale).await.unwrap();
    for planned in [&offer, &greeting] {
        let delivered = deliver(
            &store,
            sender.as_ref(),
            &settings.job.delivery,
            &profile,
            planned,
            false,
            now,
        )
        .await
        .unwrap();
        assert!(
            matches!(delivered, service::deliver::Delivered::Sent(_)),
            "{delivered:?}"
        );
    }

    // rapport-job's phases: each looks for its stored result (none yet), stores it
    // under the run, and the next reads it back; the report goes under reports/.
    let s3 = rapport_local::shared_s3().await.expect("S3 emulator");
    let (_, bucket) = rapport_integration::run_bucket().await;
    // The bucket through a client whose calls the log records.
    let recorded = |bucket: String| {
        let recording = s3
            .client()
            .config()
            .to_builder()
            .interceptor(log.recorder())
            .build();
        rapport_shared::store::S3Artifacts::new(aws_sdk_s3::Client::from_conf(recording), bucket)
    };
    let artifacts = Traced::new(recorded(bucket.clone()), &log, Some("rapport-job"));
    for (key, content_type) in [
        ("runs/policies/plan.json", "application/json"),
        ("reports/policies/report.html", "text/html; charset=utf-8"),
    ] {
        assert_eq!(artifacts.get(key).await.unwrap(), None);
        artifacts
            .put(key, b"{}".to_vec(), content_type)
            .await
            .unwrap();
        assert_eq!(artifacts.get(key).await.unwrap(), Some(b"{}".to_vec()));
    }
    // rapport-job mails the merchant the report's link.
    let report_mail = Traced::new(
        SesAlerts::new(ses.clone(), "rapport@shop.example", email("merchant")),
        &log,
        Some("rapport-job"),
    );
    report_mail.send_notice(&notice).await.unwrap();
    // report: the HTML report of a run, and a run without one.
    let reports = Traced::new(recorded(bucket), &log, Some("report"));
    let run = |id: &str| rapport_shared::domain::RunId::parse("run_id", id).unwrap();
    assert_eq!(
        reports
            .report_file(&run("policies"), ReportFile::Html)
            .await
            .unwrap(),
        Some(b"{}".to_vec())
    );
    assert_eq!(
        reports
            .report_file(&run("none"), ReportFile::Summary)
            .await
            .unwrap(),
        None
    );

    // privacy: the referee's export reads the referral under the referrer and the
    // suppression of her address; the referrer's erasure redacts her review (and the
    // stored answer echoing it) and a provider error, and drops her job state.
    let mut failed = MessageRecord::new(
        &profile.customer_id,
        &planned(MessageKind::ReferralAsk, "policies-failed"),
        MessageStatus::Failed,
        now,
    );
    failed.error = Some("refused".into());
    setup.finish_message(&failed).await.unwrap();
    let store = wired::<wiring::privacy::Ports>(&base, &log, "privacy");
    let tombstones = rapport_shared::domain::TombstoneKey::new(b"policies-tombstones");
    let exported = store
        .export(&cid("new"), &tombstones)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(exported.referral_received.is_some());
    let receipt = service::erase_customer(&store, &cid("ref"), &tombstones, now)
        .await
        .unwrap();
    assert!(receipt.reviews_redacted == 1 && receipt.messages_redacted == 1);

    // rapport-import: a known customer's new order (read with their orders) and a new
    // customer, in one transaction.
    let history = |customer: &str, order: &str| rapport_shared::service::import::CustomerEvents {
        customer: cid(customer),
        events: vec![purchase(&format!("e-{order}"), customer, order, 2_000)],
    };
    let batch = [
        history("new", "o-imported"),
        history("imported", "o-imported-2"),
    ];
    let tally = rapport_shared::service::import::import(
        &setup,
        &config.rules,
        &config.referrals,
        rapport_shared::service::import::ImportSettings::default(),
        &batch,
        now,
    )
    .await
    .unwrap();
    assert_eq!(tally.purchases, 2);

    // program: the merchant saves a version, reads it and the history, and rolls back
    // to the deployment's settings.
    let store = wired::<wiring::program::Ports>(&base, &log, "program");
    let settings = config.settings_program();
    let mut richer = settings.clone();
    richer.earning.points_per_unit = 3;
    use rapport_shared::service::program as programs;
    programs::save_program(&store, &settings, 0, richer, "sample-admin", now)
        .await
        .unwrap();
    programs::program_in_force(&store, &settings).await.unwrap();
    store.program_history(10).await.unwrap();
    store.program_stats().await.unwrap();
    let restored = programs::restore_program(&store, &settings, 1, 1, "sample-admin", now)
        .await
        .unwrap();
    assert_eq!(restored.version, 2);

    // What only tests and tools read.
    setup.ledger(&cid("new")).await.unwrap();
    let (codes, _) = setup
        .unconfirmed_codes(&[Platform::Shopify], None)
        .await
        .unwrap();
    assert!(
        codes.contains(&code),
        "the redemption's code, never sent to Shopify"
    );
    setup.reviews(&cid("ref")).await.unwrap();
    let sku = rapport_shared::domain::Sku::parse("sku", "SKU-1").unwrap();
    setup.product_rating(&sku).await.unwrap();
    setup.referrals(&cid("ref")).await.unwrap();
    setup.messages(&cid("ref")).await.unwrap();
    let gone = setup
        .suppression(&address_key(&email("gone")))
        .await
        .unwrap();
    assert!(gone.is_some());

    // rapport-job index-customers, from a shell: a profile and a suppressed address as
    // they were written before the customer index existed (through a client that does
    // not record) are given its keys.
    let raw = api.store.client();
    for (pk, sk) in [
        (keys::customer_pk(&cid("imported")), keys::PROFILE),
        (
            keys::suppressed_pk(&address_key(&email("gone"))),
            keys::SUPPRESSED,
        ),
    ] {
        raw.update_item()
            .table_name(&table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, AttributeValue::S(sk.into()))
            .update_expression("REMOVE GSI2PK, GSI2SK")
            .send()
            .await
            .unwrap();
    }
    let mut indexed = 0;
    let mut cursor = None;
    loop {
        let page = setup.index_customers(0, 1, cursor).await.unwrap();
        indexed += page.tally.indexed;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(indexed, 2);

    let problems = proof_problems(&log);
    assert!(
        problems.is_empty(),
        "the code and its declarations disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// Every way the recorded calls and the declarations disagree.
fn proof_problems(log: &Log) -> Vec<String> {
    let calls = log.calls();
    let methods: Vec<_> = wiring::methods().collect();
    let declared_at = |frame: &Frame| {
        methods
            .iter()
            .find(|m| m.port == frame.port && m.method == frame.method)
    };
    let mut problems = Vec::new();
    let mut seen: BTreeSet<(Port, &str, Action, Resource, Reach)> = BTreeSet::new();
    for call in &calls {
        let Some(frame) = call.frame else {
            problems.push(format!("a call through no port: {call:?}"));
            continue;
        };
        let (Ok(action), Ok(resource)) = (call.action.clone(), call.resource.clone()) else {
            problems.push(format!(
                "{frame:?}: an operation IAM authorises otherwise: {call:?}"
            ));
            continue;
        };
        let Some(method) = declared_at(&frame) else {
            problems.push(format!("{frame:?}: the method declares nothing"));
            continue;
        };
        let declared = method.grants.iter().any(|g| {
            g.action == action
                && g.resource == resource
                && match &call.reach {
                    Reach::Kind(kind) => g.partitions.contains(kind),
                    Reach::All => g.action == Action::Scan,
                    Reach::Nothing => g.partitions.is_empty(),
                    Reach::Unknown(_) => false,
                }
        });
        if !declared {
            problems.push(format!(
                "{}::{} calls {} on {resource:?} reaching {:?}, which it does not declare",
                port_name(frame.port),
                frame.method,
                action.iam(),
                call.reach
            ));
        }
        if let Some(function) = frame.function {
            let allowed = Function::named(function).is_some_and(|f| {
                needs_of(f).contains_key(&Need::new(action.iam(), resource.into()))
            });
            if !allowed {
                problems.push(format!(
                    "{function} calls {} on {resource:?}, outside its wiring",
                    action.iam()
                ));
            }
        }
        seen.insert((
            frame.port,
            frame.method,
            action,
            resource,
            call.reach.clone(),
        ));
    }
    let entered: BTreeSet<(Port, &str)> = log
        .entered()
        .into_iter()
        .map(|f| (f.port, f.method))
        .collect();
    for method in &methods {
        if !entered.contains(&(method.port, method.method)) {
            problems.push(format!(
                "{}::{} was never called: the proof does not cover it",
                port_name(method.port),
                method.method
            ));
            continue;
        }
        for grant in method.grants {
            let reaches: Vec<Reach> = if grant.action == Action::Scan {
                vec![Reach::All]
            } else if grant.partitions.is_empty() {
                vec![Reach::Nothing]
            } else {
                grant.partitions.iter().map(|p| Reach::Kind(p)).collect()
            };
            for reach in reaches {
                let key = (
                    method.port,
                    method.method,
                    grant.action,
                    grant.resource,
                    reach,
                );
                if !seen.contains(&key) {
                    problems.push(format!(
                        "{}::{} declares {} on {:?} reaching {:?}, which no call needed",
                        port_name(method.port),
                        method.method,
                        grant.action.iam(),
                        grant.resource,
                        key.4
                    ));
                }
            }
        }
    }
    problems
}

fn port_name(port: Port) -> String {
    format!("{port:?}")
}
