//! Creating Rapport's codes in the stores' checkouts: once per code and store.
//!
//! Whatever issues a coupon (a redemption, a message's offer) writes its item; the
//! table's stream hands each new coupon to this service (a Lambda event source mapping
//! in AWS, the local stream reader on a laptop). For every store with credentials it
//! creates the code unless the coupon already records that store's confirmation, and
//! records the confirmation only after the store gave it. A delivery that dies between
//! the two finds the code in the store on its next try (the store answers "taken") and
//! records it then: each store gets each code once.
//!
//! Throttling and outages are retried here with backoff for a while; past that the
//! record is reported failed and the stream delivers it again. A store that refuses
//! (a revoked token) is reported failed too: the stream holds the codes until the
//! merchant fixes it or the records age out to the dead-letter queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use thiserror::Error;

use crate::domain::Currency;
use crate::domain::storefront::codes::{NotForStore, Platform, StoreCode, StoreSync};
use crate::retry::Backoff;
use crate::shop_api::{ShopApi, ShopApiError};
use crate::store::{CodeRepairStore, CodeSyncStore, StoreError, dynamo::keys};

/// What became of one code in one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeOutcome {
    /// The store created it now.
    Created,
    /// The store had it from an earlier attempt; now recorded.
    Existed,
    /// The coupon already records this store's confirmation.
    AlreadySynced,
    /// Not a code for the store (spent, or without terms).
    NotForStore,
    /// No coupon has this code (erased since it was issued).
    Unknown,
}

impl CodeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeOutcome::Created => "created",
            CodeOutcome::Existed => "existed",
            CodeOutcome::AlreadySynced => "already-synced",
            CodeOutcome::NotForStore => "not-for-store",
            CodeOutcome::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{platform}: {error}")]
    Shop {
        platform: Platform,
        error: ShopApiError,
    },
}

/// How hard one code is tried before its record is handed back to the stream.
#[derive(Debug, Clone)]
pub struct SyncPolicy {
    pub first_wait: Duration,
    pub longest_wait: Duration,
    pub attempts: u32,
    pub budget: Duration,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_millis(250),
            longest_wait: Duration::from_secs(4),
            attempts: 6,
            budget: Duration::from_secs(15),
        }
    }
}

impl SyncPolicy {
    fn backoff(&self) -> Backoff {
        Backoff::new(self.first_wait, self.longest_wait, self.attempts).within(self.budget)
    }
}

/// The stores to create codes in and how.
pub struct CodeSync<'a> {
    pub apis: &'a [Box<dyn ShopApi>],
    pub currency: Currency,
    pub policy: SyncPolicy,
}

impl CodeSync<'_> {
    /// Creates `code` in every store that has not confirmed it yet.
    pub async fn sync<S: CodeSyncStore + ?Sized>(
        &self,
        store: &S,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Platform, CodeOutcome)>, SyncError> {
        let Some(coupon) = store.coupon(code).await? else {
            return Ok(self
                .apis
                .iter()
                .map(|api| (api.platform(), CodeOutcome::Unknown))
                .collect());
        };
        let mut email = None;
        let mut outcomes = Vec::with_capacity(self.apis.len());
        for api in self.apis {
            let platform = api.platform();
            if coupon.synced.get(platform).is_some() {
                outcomes.push((platform, CodeOutcome::AlreadySynced));
                continue;
            }
            if email.is_none() {
                email = Some(store.holder_email(&coupon.customer_id).await?);
            }
            let holder = email.clone().flatten();
            let for_store = match StoreCode::of(&coupon, holder, self.currency, now) {
                Ok(for_store) => for_store,
                Err(
                    why @ (NotForStore::NoTerms | NotForStore::Spent | NotForStore::Unsupported),
                ) => {
                    tracing::info!(code, %platform, reason = why.as_str(), "not created in the store");
                    outcomes.push((platform, CodeOutcome::NotForStore));
                    continue;
                }
            };
            let created = self.create(api.as_ref(), &for_store).await?;
            let sync = StoreSync {
                at: now,
                remote_id: created.remote_id,
            };
            store.mark_synced(code, platform, &sync).await?;
            let outcome = match created.existed {
                true => CodeOutcome::Existed,
                false => CodeOutcome::Created,
            };
            tracing::info!(code, %platform, outcome = ?outcome, "code in the store");
            outcomes.push((platform, outcome));
        }
        Ok(outcomes)
    }

    async fn create(
        &self,
        api: &dyn ShopApi,
        code: &StoreCode,
    ) -> Result<crate::shop_api::Created, SyncError> {
        let mut backoff = self.policy.backoff();
        loop {
            let error = match api.create_code(code).await {
                Ok(created) => return Ok(created),
                Err(error) => error,
            };
            let asked = match &error {
                ShopApiError::Throttled { retry_after } => *retry_after,
                _ => None,
            };
            let next = error.is_transient().then(|| backoff.next_delay()).flatten();
            let Some(delay) = next else {
                return Err(SyncError::Shop {
                    platform: api.platform(),
                    error,
                });
            };
            tracing::warn!(code = %code.code, platform = %api.platform(), %error, "trying again");
            tokio::time::sleep(asked.map_or(delay, |asked| asked.max(delay))).await;
        }
    }

    /// Handles a batch of the table's stream records: the new coupons among them, in
    /// order. The first record that fails is reported with every record after it
    /// unhandled, so the stream delivers it (and only what follows it) again.
    pub async fn handle_stream<S: CodeSyncStore + ?Sized>(
        &self,
        store: &S,
        event: &StreamEvent,
        budget: Duration,
    ) -> StreamResponse {
        let started = Instant::now();
        for record in &event.records {
            let Some(code) = record.new_coupon() else {
                continue;
            };
            // Leave time to answer: what is not reached is delivered again.
            let result = match started.elapsed() < budget {
                true => self.sync(store, code, Utc::now()).await.map(drop),
                false => Err(SyncError::Store(StoreError::Unavailable(
                    "the invocation's time is spent".into(),
                ))),
            };
            if let Err(error) = result {
                tracing::error!(code, %error, "code not created in the store; the stream delivers it again");
                return StreamResponse::failed_from(record);
            }
        }
        StreamResponse::default()
    }
}

/// What a repair run did.
#[derive(Debug, Default, Serialize)]
pub struct RepairTally {
    /// Coupons found that some store had not confirmed.
    pub found: usize,
    /// Outcomes per store.
    pub outcomes: std::collections::BTreeMap<String, usize>,
    /// Codes that failed again, with why.
    pub failed: Vec<(String, String)>,
}

impl CodeSync<'_> {
    /// Creates, in every store, each code the stores never confirmed — those whose
    /// stream records aged out to the dead-letter queue (a store refused for hours).
    /// Reads the whole table once; safe beside the function and to run again.
    pub async fn repair<S: CodeSyncStore + CodeRepairStore + ?Sized>(
        &self,
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<RepairTally, StoreError> {
        let platforms: Vec<Platform> = self.apis.iter().map(|api| api.platform()).collect();
        let mut tally = RepairTally::default();
        let mut cursor = None;
        loop {
            let (codes, next) = store.unconfirmed_codes(&platforms, cursor.as_ref()).await?;
            for code in codes {
                tally.found += 1;
                match self.sync(store, &code, now).await {
                    Ok(outcomes) => {
                        for (platform, outcome) in outcomes {
                            let key = format!("{platform}:{}", outcome.as_str());
                            *tally.outcomes.entry(key).or_default() += 1;
                        }
                    }
                    Err(error) => tally.failed.push((code, error.to_string())),
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(tally),
            }
        }
    }
}

/// A DynamoDB stream event as Lambda delivers it (only what is read of it).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: Option<String>,
    pub dynamodb: StreamData,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StreamData {
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, StringAttribute>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
}

/// A key attribute in DynamoDB's JSON (`{"S": "..."}`); the table's keys are strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StringAttribute {
    #[serde(rename = "S", default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
}

impl StreamRecord {
    /// The code of the coupon this record inserted, if it is one.
    pub fn new_coupon(&self) -> Option<&str> {
        if self.event_name.as_deref() != Some("INSERT") {
            return None;
        }
        let key = |name: &str| self.dynamodb.keys.get(name).and_then(|a| a.s.as_deref());
        if key(keys::SK)? != keys::COUPON {
            return None;
        }
        key(keys::PK)?.strip_prefix(keys::prefix::COUPON)
    }
}

/// What Lambda is told: the records to deliver again (`ReportBatchItemFailures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl StreamResponse {
    /// Delivery resumes at `record`: Lambda retries from the lowest sequence number
    /// reported.
    fn failed_from(record: &StreamRecord) -> Self {
        Self {
            batch_item_failures: vec![ItemFailure {
                item_identifier: record.dynamodb.sequence_number.clone(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::storefront::codes::StoreSyncs;
    use crate::domain::{Coupon, CouponTerms, CustomerId};
    use crate::shop_api::Created;
    use crate::store::{CouponStore, MemoryStore};
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// A store API answering from a script, then creating.
    struct Scripted {
        platform: Platform,
        script: Mutex<Vec<Result<Created, ShopApiError>>>,
        calls: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(platform: Platform, script: Vec<Result<Created, ShopApiError>>) -> Self {
            Self {
                platform,
                script: Mutex::new(script),
                calls: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl ShopApi for Scripted {
        fn platform(&self) -> Platform {
            self.platform
        }

        async fn create_code(&self, code: &StoreCode) -> Result<Created, ShopApiError> {
            self.calls.lock().unwrap().push(code.code.clone());
            let mut script = self.script.lock().unwrap();
            match script.is_empty() {
                true => Ok(Created {
                    remote_id: Some(format!("id-{}", code.code)),
                    existed: false,
                }),
                false => script.remove(0),
            }
        }
    }

    fn quick() -> SyncPolicy {
        SyncPolicy {
            first_wait: Duration::from_millis(1),
            longest_wait: Duration::from_millis(2),
            attempts: 3,
            budget: Duration::from_secs(5),
        }
    }

    fn store_with(code: &str) -> MemoryStore {
        let store = MemoryStore::new();
        store.put_coupon(Coupon {
            code: code.into(),
            customer_id: CustomerId::parse("c", "shopify-7390").unwrap(),
            terms: Some(CouponTerms::AmountOff { value_minor: 500 }),
            issued_at: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            expires_at: Some("2027-03-01T00:00:00Z".parse().unwrap()),
            origin: None,
            used: None,
            refused: None,
            min_order_minor: None,
            synced: StoreSyncs::default(),
        });
        store
    }

    fn record(pk: &str, sk: &str, event: &str, seq: &str) -> StreamRecord {
        let attr = |s: &str| StringAttribute {
            s: Some(s.to_owned()),
        };
        StreamRecord {
            event_name: Some(event.into()),
            dynamodb: StreamData {
                keys: HashMap::from([("PK".into(), attr(pk)), ("SK".into(), attr(sk))]),
                sequence_number: seq.into(),
            },
        }
    }

    #[tokio::test]
    async fn a_code_is_created_once_and_a_lost_answer_is_found_taken_and_recorded() {
        let store = store_with("RP-A");
        let now = "2026-12-02T00:00:00Z".parse().unwrap();
        let shopify = Scripted::new(Platform::Shopify, vec![]);
        let apis: Vec<Box<dyn ShopApi>> = vec![Box::new(shopify)];
        let sync = CodeSync {
            apis: &apis,
            currency: Currency::parse("c", "USD").unwrap(),
            policy: quick(),
        };
        let first = sync.sync(&store, "RP-A", now).await.unwrap();
        assert_eq!(first, [(Platform::Shopify, CodeOutcome::Created)]);
        let again = sync.sync(&store, "RP-A", now).await.unwrap();
        assert_eq!(again, [(Platform::Shopify, CodeOutcome::AlreadySynced)]);
        let coupon = store.coupon("RP-A").await.unwrap().unwrap();
        assert_eq!(
            coupon
                .synced
                .get(Platform::Shopify)
                .unwrap()
                .remote_id
                .as_deref(),
            Some("id-RP-A")
        );

        // The store created it but the answer was lost: the next try is told "taken".
        let store = store_with("RP-B");
        let taken = Scripted::new(
            Platform::Shopify,
            vec![Ok(Created {
                remote_id: None,
                existed: true,
            })],
        );
        let apis: Vec<Box<dyn ShopApi>> = vec![Box::new(taken)];
        let sync = CodeSync {
            apis: &apis,
            ..sync
        };
        let found = sync.sync(&store, "RP-B", now).await.unwrap();
        assert_eq!(found, [(Platform::Shopify, CodeOutcome::Existed)]);
        assert!(
            store
                .coupon("RP-B")
                .await
                .unwrap()
                .unwrap()
                .synced
                .shopify_sync
                .is_some()
        );
    }

    #[tokio::test]
    async fn throttling_is_waited_out_and_a_refusal_hands_the_record_back() {
        let store = store_with("RP-A");
        let throttled = || Err(ShopApiError::Throttled { retry_after: None });
        let api = Scripted::new(Platform::Woocommerce, vec![throttled(), throttled()]);
        let apis: Vec<Box<dyn ShopApi>> = vec![Box::new(api)];
        let sync = CodeSync {
            apis: &apis,
            currency: Currency::parse("c", "USD").unwrap(),
            policy: quick(),
        };
        let now = "2026-12-02T00:00:00Z".parse().unwrap();
        let outcome = sync.sync(&store, "RP-A", now).await.unwrap();
        assert_eq!(outcome, [(Platform::Woocommerce, CodeOutcome::Created)]);

        let store = store_with("RP-B");
        let refused = Scripted::new(
            Platform::Woocommerce,
            vec![Err(ShopApiError::Refused("bad key".into()))],
        );
        let apis: Vec<Box<dyn ShopApi>> = vec![Box::new(refused)];
        let sync = CodeSync {
            apis: &apis,
            ..sync
        };
        let event = StreamEvent {
            records: vec![
                record("CUSTOMER#asha", "PROFILE", "INSERT", "100"),
                record("COUPON#RP-B", "COUPON", "INSERT", "200"),
                record("COUPON#RP-C", "COUPON", "INSERT", "300"),
            ],
        };
        let response = sync
            .handle_stream(&store, &event, Duration::from_secs(5))
            .await;
        assert_eq!(response.batch_item_failures[0].item_identifier, "200");
        assert!(
            store
                .coupon("RP-B")
                .await
                .unwrap()
                .unwrap()
                .synced
                .shopify_sync
                .is_none()
        );
    }

    #[test]
    fn only_inserted_coupons_are_codes_to_create() {
        assert_eq!(
            record("COUPON#RP-A", "COUPON", "INSERT", "1").new_coupon(),
            Some("RP-A")
        );
        assert_eq!(
            record("COUPON#RP-A", "COUPON", "MODIFY", "1").new_coupon(),
            None
        );
        assert_eq!(
            record("CUSTOMER#a", "PROFILE", "INSERT", "1").new_coupon(),
            None
        );
    }
}
