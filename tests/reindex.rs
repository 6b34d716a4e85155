//! `rapport-job index-customers` against DynamoDB Local: a table written before the
//! customer index existed — profiles, job state and suppressed addresses without its
//! keys — is invisible to the job's scan until re-indexed; re-indexing gives the live
//! ones their keys, leaves erased profiles, orders and ledger entries out, resumes
//! across pages, and changes nothing the second time.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use rapport_integration::{TestApi, cid, purchase};
use rapport_job::reindex::index_all;
use rapport_shared::domain::{JobState, Profile, Suppression, SuppressionCause, Tier, address_key};
use rapport_shared::store::dynamo::items::{self, Item, job_state_item, profile_item};
use rapport_shared::store::dynamo::keys::{self, GSI2PK, GSI2SK};
use rapport_shared::store::{DynamoStore, IndexTally, ProfileStore, ScanCursor, ScoreStore};

/// `item` as the previous version wrote it: without the customer index's keys.
fn unindexed(mut item: Item) -> Item {
    item.remove(GSI2PK);
    item.remove(GSI2SK);
    item
}

async fn put(api: &TestApi, item: Item) {
    api.dynamodb
        .put_item()
        .table_name(&api.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// What the job's scan finds: each customer with whether job state came with them,
/// and the suppressed address keys.
async fn scanned(store: &DynamoStore) -> (Vec<(String, bool)>, Vec<String>) {
    let (mut customers, mut suppressed) = (Vec::new(), Vec::new());
    for segment in 0..4 {
        let mut cursor: Option<ScanCursor> = None;
        loop {
            let page = store.scan_customers(segment, 4, cursor).await.unwrap();
            customers.extend(
                page.customers
                    .into_iter()
                    .map(|c| (c.profile.customer_id.to_string(), c.job.is_some())),
            );
            suppressed.extend(page.suppressed);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    customers.sort();
    (customers, suppressed)
}

#[tokio::test]
async fn re_indexing_lets_the_job_see_a_table_written_before_its_index() {
    let api = &TestApi::start().await;
    let now = Utc::now();

    // A customer with an order, a ledger entry and an idempotency record (through the
    // API), whose profile and job state are then as the previous version wrote them.
    let reply = api
        .post(
            "/v1/events/purchase",
            &purchase("e-1", "asha", "o-1", 4_000),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let profile = api.store.profile(&cid("asha")).await.unwrap().unwrap();
    put(
        api,
        unindexed(profile_item(&profile.value, profile.version).unwrap()),
    )
    .await;
    let state = JobState {
        customer_id: cid("asha"),
        scores: None,
        messages: Vec::new(),
    };
    put(api, unindexed(job_state_item(&state).unwrap())).await;
    // An erased customer and a bounced address, written the old way.
    let mut erased = Profile::new(cid("gone"), Tier("bronze".into()), now);
    erased.erased_at = Some(now);
    let mut erased_item = items::item(
        keys::customer_pk(&erased.customer_id),
        keys::PROFILE,
        &erased,
    )
    .unwrap();
    erased_item.insert("version".into(), AttributeValue::N("3".into()));
    put(api, erased_item).await;
    let bounced = Suppression {
        address_key: address_key("bounced@example.com"),
        cause: SuppressionCause::Bounce,
        detail: "General".into(),
        at: now,
    };
    let suppression = items::item(
        keys::suppressed_pk(&bounced.address_key),
        keys::SUPPRESSED,
        &bounced,
    )
    .unwrap();
    put(api, suppression).await;
    let table = api.items().await;
    assert!(table.iter().all(|i| i.get(GSI2PK).is_none()), "{table:#?}");

    // The job reads only the index: before re-indexing it sees no one.
    assert_eq!(scanned(&api.store).await, (Vec::new(), Vec::new()));

    let first = index_all(&api.store, 4).await.unwrap();
    assert_eq!(
        first,
        IndexTally {
            scanned: table.len() as u64,
            examined: 4,
            indexed: 3,
            skipped: 1,
        }
    );
    // The live customer with their job state, and the suppressed address; not the
    // erased customer, not orders or ledger entries.
    assert_eq!(
        scanned(&api.store).await,
        (
            vec![("asha".to_owned(), true)],
            vec![bounced.address_key.clone()]
        )
    );
    let after = api.items().await;
    for item in &after {
        let kind = (item["PK"].as_str().unwrap(), item["SK"].as_str().unwrap());
        let indexed = item.get(GSI2PK).is_some();
        let wanted = matches!(
            kind,
            (_, keys::SCORES | keys::SUPPRESSED) | ("CUSTOMER#asha", keys::PROFILE)
        );
        assert_eq!(indexed, wanted, "{item}");
        if indexed {
            assert_eq!(item[GSI2PK], item["PK"], "{item}");
            assert_eq!(item[GSI2SK], item["SK"], "{item}");
        }
    }

    // Again: the erased profile is met and left out once more, nothing else changes.
    let second = index_all(&api.store, 4).await.unwrap();
    assert_eq!(
        second,
        IndexTally {
            scanned: table.len() as u64,
            examined: 1,
            indexed: 0,
            skipped: 1,
        }
    );
    assert_eq!(api.items().await, after);

    // One item a page: each segment goes on from where its last page stopped.
    for item in [
        unindexed(profile_item(&profile.value, profile.version).unwrap()),
        unindexed(job_state_item(&state).unwrap()),
    ] {
        put(api, item).await;
    }
    let paged = index_all(&api.store.clone().with_scan_page_limit(1), 3)
        .await
        .unwrap();
    assert_eq!((paged.examined, paged.indexed, paged.skipped), (3, 2, 1));
    assert_eq!(api.items().await, after);
}
