//! What the code calls in AWS, as seen on the way out: an SDK interceptor on the
//! DynamoDB, SES and S3 clients records every operation once it is serialised — the
//! operation's name from the config bag, the table or index, the partition key of
//! every item it touches, the prefix of the object's key — and [`Traced`] ports say which port method (of which
//! function) made it. A transaction is recorded as the item actions IAM authorises it
//! by.

use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use chrono::{DateTime, Utc};
use rapport_shared::access::{Action, Port, Resource};
use rapport_shared::domain::RunId;
use rapport_shared::domain::outreach::MessageRecord;
use rapport_shared::domain::program::ProgramVersion;
use rapport_shared::domain::stats::ProgramStats;
use rapport_shared::domain::storefront::codes::{Platform, StoreSync};
use rapport_shared::domain::{
    Coupon, CouponRefusal, CouponUse, CustomerData, CustomerId, CustomerScores, Email, ErasurePlan,
    JobState, LedgerEntry, OrderId, Profile, PurchaseOutcome, RedemptionOutcome, ReferralOutcome,
    ReferralRecord, Review, ReviewOutcome, Sku, Suppression, TombstoneKey,
};
use rapport_shared::mail::pace::{QuotaSource, SendQuota};
use rapport_shared::mail::{
    Acceptance, AlertSender, MailError, MerchantNotice, MessageSender, OutgoingMail, RecoveryAlert,
    SendError,
};
use rapport_shared::store::dynamo::keys;
use rapport_shared::store::{ArtifactStore, ReportFile, ReportStore, s3::PREFIXES};
use rapport_shared::store::{
    Claim, CodeRepairStore, CodeSyncStore, CommitError, CouponStore, CouponUseStore,
    CustomerIndexStore, CustomerPage, IdempotencyRecord, IdempotencyStore, ImportSnapshot,
    ImportStore, ImportWrite, IndexPage, LedgerStore, MessageStore, PrivacyStore, ProductRating,
    ProfileStore, ProfileViewStore, ProgramReadStore, ProgramStatsStore, ProgramStore,
    PurchaseSnapshot, PurchaseStore, ReadBackStore, RedemptionStore, ReferralCodeStore,
    ReferralSnapshot, ReferralStore, ReviewSnapshot, ReviewStore, RewardStore, ScanCursor,
    ScoreStore, StoreError, SuppressionStore, Versioned,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The port method making a call, and the function whose wiring it runs on (`None`:
/// the test's own reads and set-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Frame {
    pub function: Option<&'static str>,
    pub port: Port,
    pub method: &'static str,
}

tokio::task_local! {
    static FRAME: Frame;
}

/// Which partitions a call reached.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// A kind of partition, by its key prefix (`keys::PARTITIONS`).
    Kind(&'static str),
    /// Every partition: a scan.
    All,
    /// None: an SES call.
    Nothing,
    /// A partition key of no known kind.
    Unknown(String),
}

/// One authorised action of one SDK call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub frame: Option<Frame>,
    /// The action, or the operation's name when IAM has no action the code knows.
    pub action: Result<Action, String>,
    pub resource: Result<Resource, String>,
    pub reach: Reach,
}

#[derive(Debug, Default)]
struct Recorded {
    calls: Vec<Call>,
    entered: BTreeSet<Frame>,
}

/// Everything recorded, shared by the interceptors and the traced ports.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Recorded>>);

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every port method called, whether or not it reached AWS.
    pub fn entered(&self) -> BTreeSet<Frame> {
        self.lock().entered.clone()
    }

    /// An interceptor that records into this log.
    pub fn recorder(&self) -> Recorder {
        Recorder { log: self.clone() }
    }
}

/// The SDK interceptor; one serves both clients.
#[derive(Debug)]
pub struct Recorder {
    log: Log,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "PolicyRecorder"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg
            .load::<Metadata>()
            .ok_or("an operation without metadata")?;
        let body = context.request().body().bytes().unwrap_or_default();
        let frame = FRAME.try_with(|f| *f).ok();
        let accesses = match metadata.service() {
            "DynamoDB" => dynamodb(metadata.name(), body),
            "SES" => ses(metadata.name(), body),
            "S3" => s3(metadata.name(), context.request().uri()),
            "SESv2" => vec![match metadata.name() {
                "GetAccount" => (
                    Ok(Action::GetAccount),
                    Ok(Resource::Account),
                    Reach::Nothing,
                ),
                other => (Err(other.to_owned()), Ok(Resource::Account), Reach::Nothing),
            }],
            other => vec![(
                Err(format!("{other}:{}", metadata.name())),
                Err(other.into()),
                Reach::Nothing,
            )],
        };
        let mut log = self.log.lock();
        for (action, resource, reach) in accesses {
            log.calls.push(Call {
                frame,
                action,
                resource,
                reach,
            });
        }
        Ok(())
    }
}

type Access = (Result<Action, String>, Result<Resource, String>, Reach);

/// The partition an item or key (a JSON attribute map) lives in.
fn reach_of(item: &Value, key_attribute: &str) -> Reach {
    match item[key_attribute]["S"].as_str() {
        Some(pk) => keys::partition_of(pk).map_or_else(|| Reach::Unknown(pk.into()), Reach::Kind),
        None => Reach::Unknown(format!("no {key_attribute} in {item}")),
    }
}

fn table(action: Action, reach: Reach) -> Access {
    (Ok(action), Ok(Resource::Table), reach)
}

/// The accesses of one DynamoDB request (JSON protocol).
fn dynamodb(operation: &str, body: &[u8]) -> Vec<Access> {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let per_table = |field: &str| -> Vec<Value> {
        request[field]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values().cloned())
            .collect()
    };
    match operation {
        "GetItem" => vec![table(Action::GetItem, reach_of(&request["Key"], keys::PK))],
        "PutItem" => vec![table(Action::PutItem, reach_of(&request["Item"], keys::PK))],
        "UpdateItem" => vec![table(
            Action::UpdateItem,
            reach_of(&request["Key"], keys::PK),
        )],
        "DeleteItem" => vec![table(
            Action::DeleteItem,
            reach_of(&request["Key"], keys::PK),
        )],
        "BatchGetItem" => per_table("RequestItems")
            .iter()
            .flat_map(|t| t["Keys"].as_array().cloned().unwrap_or_default())
            .map(|key| table(Action::BatchGetItem, reach_of(&key, keys::PK)))
            .collect(),
        "BatchWriteItem" => per_table("RequestItems")
            .iter()
            .flat_map(|t| t.as_array().cloned().unwrap_or_default())
            .map(|write| {
                let item = if write["PutRequest"].is_object() {
                    &write["PutRequest"]["Item"]
                } else {
                    &write["DeleteRequest"]["Key"]
                };
                table(Action::BatchWriteItem, reach_of(item, keys::PK))
            })
            .collect(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let parts = [
                    ("Put", "Item", Action::PutItem),
                    ("Update", "Key", Action::UpdateItem),
                    ("Delete", "Key", Action::DeleteItem),
                    ("ConditionCheck", "Key", Action::ConditionCheckItem),
                ];
                parts
                    .iter()
                    .find(|(kind, _, _)| item[*kind].is_object())
                    .map_or_else(
                        || {
                            (
                                Err(format!("TransactWriteItems item {item}")),
                                Ok(Resource::Table),
                                Reach::Nothing,
                            )
                        },
                        |(kind, field, action)| {
                            table(*action, reach_of(&item[*kind][*field], keys::PK))
                        },
                    )
            })
            .collect(),
        "Query" => {
            // `<partition key> = :placeholder [AND …]`: the partition queried.
            let condition = request["KeyConditionExpression"]
                .as_str()
                .unwrap_or_default();
            let mut words = condition.split_whitespace();
            let (attribute, placeholder) = (words.next(), words.nth(1));
            let reach = match (attribute, placeholder) {
                (Some(attribute), Some(placeholder)) => {
                    let value = &request["ExpressionAttributeValues"][placeholder];
                    reach_of(&serde_json::json!({ attribute: value }), attribute)
                }
                _ => Reach::Unknown(condition.into()),
            };
            vec![(Ok(Action::Query), resource_of(&request), reach)]
        }
        "Scan" => vec![(Ok(Action::Scan), resource_of(&request), Reach::All)],
        other => vec![(Err(other.into()), Ok(Resource::Table), Reach::Nothing)],
    }
}

/// The table, or the index a query or scan names.
fn resource_of(request: &Value) -> Result<Resource, String> {
    match request["IndexName"].as_str() {
        None => Ok(Resource::Table),
        Some(keys::GSI1) => Ok(Resource::Index(keys::GSI1)),
        Some(keys::GSI2) => Ok(Resource::Index(keys::GSI2)),
        Some(other) => Err(format!("index {other}")),
    }
}

/// The accesses of one SES request (form-encoded query protocol): the sender identity,
/// and the configuration set when one is named.
fn ses(operation: &str, body: &[u8]) -> Vec<Access> {
    let action = match operation {
        "SendEmail" => Ok(Action::SendEmail),
        "SendRawEmail" => Ok(Action::SendRawEmail),
        other => Err(other.to_owned()),
    };
    let form = String::from_utf8_lossy(body);
    let mut accesses = vec![(action.clone(), Ok(Resource::SenderIdentity), Reach::Nothing)];
    if form
        .split('&')
        .any(|pair| pair.starts_with("ConfigurationSetName="))
    {
        accesses.push((action, Ok(Resource::ConfigurationSet), Reach::Nothing));
    }
    accesses
}

/// The accesses of one S3 request: the objects under the key's prefix, and for a read
/// the bucket too — its `ListBucket` decides whether a missing object is a 404 or a
/// 403. Once serialised, before the endpoint (and with it the bucket) is applied, the
/// request's path is the object's key.
fn s3(operation: &str, uri: &str) -> Vec<Access> {
    let path = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let key = path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_start_matches('/');
    let objects = PREFIXES
        .iter()
        .find(|p| key.starts_with(*p))
        .map(|p| Resource::RunObjects(p))
        .ok_or_else(|| format!("the object {key}"));
    match operation {
        "PutObject" => vec![(Ok(Action::PutObject), objects, Reach::Nothing)],
        "GetObject" => vec![
            (Ok(Action::GetObject), objects, Reach::Nothing),
            (
                Ok(Action::ListBucket),
                Ok(Resource::RunBucket),
                Reach::Nothing,
            ),
        ],
        other => vec![(Err(other.to_owned()), objects, Reach::Nothing)],
    }
}

/// A port (a store or a sender) that records which of its methods is calling, and
/// on whose behalf.
#[derive(Clone)]
pub struct Traced<S> {
    inner: S,
    log: Log,
    function: Option<&'static str>,
}

impl<S> Traced<S> {
    pub fn new(inner: S, log: &Log, function: Option<&'static str>) -> Self {
        Self {
            inner,
            log: log.clone(),
            function,
        }
    }

    async fn run<T>(&self, port: Port, method: &'static str, call: impl Future<Output = T>) -> T {
        let frame = Frame {
            function: self.function,
            port,
            method,
        };
        self.log.lock().entered.insert(frame);
        FRAME.scope(frame, call).await
    }
}

#[async_trait]
impl<S: IdempotencyStore> IdempotencyStore for Traced<S> {
    async fn prior(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.run(Port::IdempotencyStore, "prior", self.inner.prior(key))
            .await
    }
}

#[async_trait]
impl<S: ProfileStore> ProfileStore for Traced<S> {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError> {
        self.run(Port::ProfileStore, "profile", self.inner.profile(customer))
            .await
    }

    async fn save_profile(&self, expected: u64, profile: &Profile) -> Result<(), CommitError> {
        let call = self.inner.save_profile(expected, profile);
        self.run(Port::ProfileStore, "save_profile", call).await
    }
}

#[async_trait]
impl<S: ProfileViewStore> ProfileViewStore for Traced<S> {
    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError> {
        let call = self.inner.profile_and_scores(customer);
        self.run(Port::ProfileViewStore, "profile_and_scores", call)
            .await
    }
}

#[async_trait]
impl<S: PurchaseStore> PurchaseStore for Traced<S> {
    async fn load_purchase(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        key: &str,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let call = self.inner.load_purchase(customer, order, key);
        self.run(Port::PurchaseStore, "load_purchase", call).await
    }

    async fn commit_purchase(
        &self,
        expected: Option<u64>,
        referrer_expected: Option<u64>,
        outcome: &PurchaseOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let call = self
            .inner
            .commit_purchase(expected, referrer_expected, outcome, record);
        self.run(Port::PurchaseStore, "commit_purchase", call).await
    }
}

#[async_trait]
impl<S: ImportStore> ImportStore for Traced<S> {
    async fn load_import(
        &self,
        customers: &[(CustomerId, Vec<String>)],
    ) -> Result<Vec<ImportSnapshot>, StoreError> {
        let call = self.inner.load_import(customers);
        self.run(Port::ImportStore, "load_import", call).await
    }

    async fn commit_import(&self, writes: &[ImportWrite]) -> Result<(), CommitError> {
        let call = self.inner.commit_import(writes);
        self.run(Port::ImportStore, "commit_import", call).await
    }
}

#[async_trait]
impl<S: CouponStore> CouponStore for Traced<S> {
    async fn coupon(&self, code: &str) -> Result<Option<Coupon>, StoreError> {
        let call = self.inner.coupon(code);
        self.run(Port::CouponStore, "coupon", call).await
    }
}

#[async_trait]
impl<S: CouponUseStore> CouponUseStore for Traced<S> {
    async fn use_coupon(&self, code: &str, used: &CouponUse) -> Result<(), CommitError> {
        let call = self.inner.use_coupon(code, used);
        self.run(Port::CouponUseStore, "use_coupon", call).await
    }

    async fn refuse_coupon(&self, code: &str, refusal: &CouponRefusal) -> Result<(), StoreError> {
        let call = self.inner.refuse_coupon(code, refusal);
        self.run(Port::CouponUseStore, "refuse_coupon", call).await
    }
}

#[async_trait]
impl<S: CodeSyncStore> CodeSyncStore for Traced<S> {
    async fn holder_email(&self, customer: &CustomerId) -> Result<Option<Email>, StoreError> {
        let call = self.inner.holder_email(customer);
        self.run(Port::CodeSyncStore, "holder_email", call).await
    }

    async fn mark_synced(
        &self,
        code: &str,
        platform: Platform,
        sync: &StoreSync,
    ) -> Result<(), StoreError> {
        let call = self.inner.mark_synced(code, platform, sync);
        self.run(Port::CodeSyncStore, "mark_synced", call).await
    }
}

#[async_trait]
impl<S: ProgramReadStore> ProgramReadStore for Traced<S> {
    async fn current_program(&self) -> Result<Option<ProgramVersion>, StoreError> {
        let call = self.inner.current_program();
        self.run(Port::ProgramReadStore, "current_program", call)
            .await
    }
}

#[async_trait]
impl<S: ProgramStore> ProgramStore for Traced<S> {
    async fn program_version(&self, version: u64) -> Result<Option<ProgramVersion>, StoreError> {
        let call = self.inner.program_version(version);
        self.run(Port::ProgramStore, "program_version", call).await
    }

    async fn program_history(&self, limit: usize) -> Result<Vec<ProgramVersion>, StoreError> {
        let call = self.inner.program_history(limit);
        self.run(Port::ProgramStore, "program_history", call).await
    }

    async fn save_program(&self, next: &ProgramVersion) -> Result<(), CommitError> {
        let call = self.inner.save_program(next);
        self.run(Port::ProgramStore, "save_program", call).await
    }
}

#[async_trait]
impl<S: ProgramStatsStore> ProgramStatsStore for Traced<S> {
    async fn program_stats(&self) -> Result<Option<ProgramStats>, StoreError> {
        let call = self.inner.program_stats();
        self.run(Port::ProgramStatsStore, "program_stats", call)
            .await
    }

    async fn save_program_stats(&self, stats: &ProgramStats) -> Result<(), StoreError> {
        let call = self.inner.save_program_stats(stats);
        self.run(Port::ProgramStatsStore, "save_program_stats", call)
            .await
    }
}

#[async_trait]
impl<S: CodeRepairStore> CodeRepairStore for Traced<S> {
    async fn unconfirmed_codes(
        &self,
        platforms: &[Platform],
        after: Option<&ScanCursor>,
    ) -> Result<(Vec<String>, Option<ScanCursor>), StoreError> {
        let call = self.inner.unconfirmed_codes(platforms, after);
        self.run(Port::CodeRepairStore, "unconfirmed_codes", call)
            .await
    }
}

#[async_trait]
impl<S: RedemptionStore> RedemptionStore for Traced<S> {
    async fn load_redemption(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> Result<(Option<Versioned<Profile>>, Option<IdempotencyRecord>), StoreError> {
        let call = self.inner.load_redemption(customer, key);
        self.run(Port::RedemptionStore, "load_redemption", call)
            .await
    }

    async fn commit_redemption(
        &self,
        expected: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let call = self.inner.commit_redemption(expected, outcome, record);
        self.run(Port::RedemptionStore, "commit_redemption", call)
            .await
    }
}

#[async_trait]
impl<S: ReviewStore> ReviewStore for Traced<S> {
    async fn load_review(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        sku: &Sku,
        key: &str,
    ) -> Result<ReviewSnapshot, StoreError> {
        let call = self.inner.load_review(customer, order, sku, key);
        self.run(Port::ReviewStore, "load_review", call).await
    }

    async fn commit_review(
        &self,
        expected: Option<u64>,
        outcome: &ReviewOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let call = self.inner.commit_review(expected, outcome, record);
        self.run(Port::ReviewStore, "commit_review", call).await
    }
}

#[async_trait]
impl<S: ReferralCodeStore> ReferralCodeStore for Traced<S> {
    async fn claim_referral_code(
        &self,
        expected: u64,
        profile: &Profile,
    ) -> Result<(), CommitError> {
        let call = self.inner.claim_referral_code(expected, profile);
        self.run(Port::ReferralCodeStore, "claim_referral_code", call)
            .await
    }
}

#[async_trait]
impl<S: ReferralStore> ReferralStore for Traced<S> {
    async fn customer_by_code(&self, code: &str) -> Result<Option<CustomerId>, StoreError> {
        let call = self.inner.customer_by_code(code);
        self.run(Port::ReferralStore, "customer_by_code", call)
            .await
    }

    async fn load_referral(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        key: &str,
    ) -> Result<ReferralSnapshot, StoreError> {
        let call = self.inner.load_referral(referrer, referee, key);
        self.run(Port::ReferralStore, "load_referral", call).await
    }

    async fn commit_referral(
        &self,
        referrer_expected: u64,
        referee_expected: Option<u64>,
        outcome: &ReferralOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let call = self
            .inner
            .commit_referral(referrer_expected, referee_expected, outcome, record);
        self.run(Port::ReferralStore, "commit_referral", call).await
    }
}

#[async_trait]
impl<S: RewardStore> RewardStore for Traced<S> {
    async fn commit_reward(
        &self,
        expected: Option<u64>,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let call = self.inner.commit_reward(expected, profile, ledger, record);
        self.run(Port::RewardStore, "commit_reward", call).await
    }
}

#[async_trait]
impl<S: ScoreStore> ScoreStore for Traced<S> {
    async fn scan_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<CustomerPage, StoreError> {
        let call = self.inner.scan_customers(segment, total, cursor);
        self.run(Port::ScoreStore, "scan_customers", call).await
    }

    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let call = self.inner.write_job_states(states);
        self.run(Port::ScoreStore, "write_job_states", call).await
    }

    async fn write_first_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let call = self.inner.write_first_job_states(states);
        self.run(Port::ScoreStore, "write_first_job_states", call)
            .await
    }
}

#[async_trait]
impl<S: CustomerIndexStore> CustomerIndexStore for Traced<S> {
    async fn index_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<IndexPage, StoreError> {
        let call = self.inner.index_customers(segment, total, cursor);
        self.run(Port::CustomerIndexStore, "index_customers", call)
            .await
    }
}

#[async_trait]
impl<S: MessageStore> MessageStore for Traced<S> {
    async fn claim_message(&self, record: &MessageRecord) -> Result<Claim, StoreError> {
        let call = self.inner.claim_message(record);
        self.run(Port::MessageStore, "claim_message", call).await
    }

    async fn finish_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let call = self.inner.finish_message(record);
        self.run(Port::MessageStore, "finish_message", call).await
    }

    async fn reclaim_message(
        &self,
        stale: &MessageRecord,
        record: &MessageRecord,
    ) -> Result<Claim, StoreError> {
        let call = self.inner.reclaim_message(stale, record);
        self.run(Port::MessageStore, "reclaim_message", call).await
    }
}

#[async_trait]
impl<S: SuppressionStore> SuppressionStore for Traced<S> {
    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        let call = self.inner.suppress(suppression);
        self.run(Port::SuppressionStore, "suppress", call).await
    }
}

#[async_trait]
impl<S: PrivacyStore> PrivacyStore for Traced<S> {
    async fn export(
        &self,
        customer: &CustomerId,
        tombstones: &TombstoneKey,
    ) -> Result<Option<Versioned<CustomerData>>, StoreError> {
        let call = self.inner.export(customer, tombstones);
        self.run(Port::PrivacyStore, "export", call).await
    }

    async fn erase(&self, plan: &ErasurePlan) -> Result<(), CommitError> {
        let call = self.inner.erase(plan);
        self.run(Port::PrivacyStore, "erase", call).await
    }
}

#[async_trait]
impl<S: LedgerStore> LedgerStore for Traced<S> {
    async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, StoreError> {
        let call = self.inner.ledger(customer);
        self.run(Port::LedgerStore, "ledger", call).await
    }
}

#[async_trait]
impl<S: ReadBackStore> ReadBackStore for Traced<S> {
    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        let call = self.inner.reviews(customer);
        self.run(Port::ReadBackStore, "reviews", call).await
    }

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError> {
        let call = self.inner.product_rating(sku);
        self.run(Port::ReadBackStore, "product_rating", call).await
    }

    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError> {
        let call = self.inner.referrals(referrer);
        self.run(Port::ReadBackStore, "referrals", call).await
    }

    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError> {
        let call = self.inner.messages(customer);
        self.run(Port::ReadBackStore, "messages", call).await
    }

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError> {
        let call = self.inner.suppression(address_key);
        self.run(Port::ReadBackStore, "suppression", call).await
    }
}

#[async_trait]
impl<A: AlertSender> AlertSender for Traced<A> {
    async fn send_recovery_alert(&self, alert: &RecoveryAlert) -> Result<(), MailError> {
        let call = self.inner.send_recovery_alert(alert);
        self.run(Port::AlertSender, "send_recovery_alert", call)
            .await
    }

    async fn send_notice(&self, notice: &MerchantNotice) -> Result<(), MailError> {
        let call = self.inner.send_notice(notice);
        self.run(Port::AlertSender, "send_notice", call).await
    }
}

#[async_trait]
impl<A: ArtifactStore> ArtifactStore for Traced<A> {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let call = self.inner.put(key, body, content_type);
        self.run(Port::ArtifactStore, "put", call).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(Port::ArtifactStore, "get", self.inner.get(key))
            .await
    }
}

#[async_trait]
impl<R: ReportStore> ReportStore for Traced<R> {
    async fn report_file(
        &self,
        run: &RunId,
        file: ReportFile,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let call = self.inner.report_file(run, file);
        self.run(Port::ReportStore, "report_file", call).await
    }
}

#[async_trait]
impl<Q: QuotaSource> QuotaSource for Traced<Q> {
    async fn send_quota(&self) -> Result<SendQuota, SendError> {
        let call = self.inner.send_quota();
        self.run(Port::SendQuota, "send_quota", call).await
    }
}

#[async_trait]
impl<M: MessageSender> MessageSender for Traced<M> {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        self.run(Port::MessageSender, "send", self.inner.send(mail))
            .await
    }

    async fn accepted(
        &self,
        mail: &OutgoingMail,
        since: DateTime<Utc>,
    ) -> Result<Acceptance, SendError> {
        let call = self.inner.accepted(mail, since);
        self.run(Port::MessageSender, "accepted", call).await
    }
}
