//! The DynamoDB adapter: one table, items grouped by customer.
//!
//! | PK | SK | what |
//! |---|---|---|
//! | `CUSTOMER#<id>` | `PROFILE` | [`Profile`] plus `version` for optimistic locking |
//! | `CUSTOMER#<id>` | `ORDER#<order id>` | [`Order`] |
//! | `CUSTOMER#<id>` | `LEDGER#<seq, 12 digits>` | [`LedgerEntry`], append-only |
//! | `CUSTOMER#<id>` | `REDEMPTION#<id>` | [`Redemption`] |
//! | `CUSTOMER#<id>` | `REVIEW#<sku>` | [`Review`], one per customer and product |
//! | `PRODUCT#<sku>` | `RATING` | review count and rating sum, kept with atomic `ADD` |
//! | `CUSTOMER#<id>` | `REFERRAL#<event id>` | [`ReferralRecord`] under the referrer |
//! | `CUSTOMER#<id>` | `SCORES` | [`JobState`]: scores and recent messages, written only by the scoring job |
//! | `CUSTOMER#<id>` | `MSG#<kind>#<period>` | [`MessageRecord`]: the claim that makes a message go out once |
//! | `CUSTOMER#<id>` | `ERASURE` | [`ErasureRecord`](crate::domain::ErasureRecord): the audit record of an erasure, no personal data |
//! | `SUPPRESSED#<address hash>` | `SUPPRESSED` | [`Suppression`]: an address never to mail (bounce, complaint, erasure) |
//! | `COUPON#<code>` | `COUPON` | claims a coupon code so it is unique |
//! | `REFCODE#<code>` | `REFCODE` | claims a referral code so it is unique |
//!
//! A profile with a referral code also carries `GSI1PK = REFCODE#<code>`, so the `GSI1`
//! index finds the referrer by code.
//! | `EVENT#<key>` | `EVENT` | idempotency record: fingerprint and the first answer |
//!
//! Every change for one request is a single `TransactWriteItems` that also writes the
//! idempotency record under `attribute_not_exists`, so a retry cannot apply twice, and
//! puts the profile under a version condition, so concurrent events cannot lose updates.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use futures::TryStreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use std::collections::HashMap;

use super::{
    Claim, CommitError, CursorInner, CustomerPage, IdempotencyRecord, IdempotencyStore,
    LedgerStore, MessageStore, PrivacyStore, ProductRating, ProfileStore, PurchaseSnapshot,
    PurchaseStore, RedemptionStore, ReferralSnapshot, ReferralStore, ReviewSnapshot, ReviewStore,
    RewardStore, ScanCursor, ScannedCustomer, ScoreStore, StoreError, SuppressionStore, Versioned,
};
use crate::domain::{
    CustomerData, CustomerId, CustomerScores, ErasurePlan, JobState, LedgerEntry, OrderId, Profile,
    PurchaseOutcome, RedemptionOutcome, ReferralOutcome, ReferralRecord, Review, ReviewOutcome,
    Sku, Suppression,
    outreach::{MessageRecord, MessageStatus},
};

type Item = HashMap<String, AttributeValue>;

const PROFILE: &str = "PROFILE";

fn customer_pk(customer: &CustomerId) -> String {
    format!("CUSTOMER#{customer}")
}

fn product_key(sku: &Sku) -> Item {
    key(format!("PRODUCT#{sku}"), "RATING")
}

fn number_attr(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
        _ => 0,
    }
}

fn code_pk(code: &str) -> String {
    format!("REFCODE#{code}")
}

fn event_pk(key: &str) -> String {
    format!("EVENT#{key}")
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(pk)),
        ("SK".to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// Serialises `body` and adds the key attributes.
fn item(pk: String, sk: impl Into<String>, body: &impl Serialize) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(body).map_err(|e| StoreError::Internal(format!("serialise: {e}")))?;
    item.extend(key(pk, sk));
    Ok(item)
}

fn to_attr(value: &impl Serialize) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
        .map_err(|e| StoreError::Internal(format!("serialise: {e}")))
}

fn parse<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Internal(format!("deserialise: {e}")))
}

fn version_of(item: &Item) -> Result<u64, StoreError> {
    match item.get("version") {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::Internal("profile version is not a number".into())),
        _ => Err(StoreError::Internal("profile without version".into())),
    }
}

fn versioned_profile(item: Item) -> Result<Versioned<Profile>, StoreError> {
    let version = version_of(&item)?;
    Ok(Versioned {
        value: parse(item)?,
        version,
    })
}

fn record_from(item: Item) -> Result<IdempotencyRecord, StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Internal(format!(
            "idempotency record without {name}"
        ))),
    };
    Ok(IdempotencyRecord {
        key: text("key")?,
        fingerprint: text("fingerprint")?,
        response: text("response")?,
    })
}

/// Maps an SDK failure to what the caller can do about it: retry later or give up.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    let retryable_codes = [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    ];
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| retryable_codes.contains(&c)),
        _ => false,
    };
    let detail = format!("{err:?}");
    if retryable {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Items a scan page may read; `None` lets DynamoDB fill 1 MB pages.
    scan_page_limit: Option<i32>,
}

impl DynamoStore {
    /// One `BatchWriteItem`, repeated with backoff for whatever DynamoDB leaves
    /// unprocessed.
    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut attempt = 0u32;
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(classify)?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !requests.is_empty() {
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Unavailable(
                        "batch writes kept being throttled".into(),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scan_page_limit: None,
        }
    }

    /// Smaller scan pages: more round trips, less memory per page (and, in tests,
    /// page boundaries that split customers).
    pub fn with_scan_page_limit(self, items: i32) -> Self {
        Self {
            scan_page_limit: Some(items),
            ..self
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn profile_put(
        &self,
        profile: &Profile,
        expected: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .put(self.profile_put_op(profile, expected)?)
            .build())
    }

    /// A put of the profile at the next version, conditional on the current one.
    fn profile_put_op(&self, profile: &Profile, expected: Option<u64>) -> Result<Put, StoreError> {
        let mut body = item(customer_pk(&profile.customer_id), PROFILE, profile)?;
        if let Some(code) = &profile.referral_code {
            // The code index (GSI1) finds a referrer by the code a referee brings.
            body.insert("GSI1PK".into(), AttributeValue::S(code_pk(code)));
            body.insert("GSI1SK".into(), AttributeValue::S(PROFILE.into()));
        }
        let next = expected.map_or(1, |v| v + 1);
        body.insert("version".into(), AttributeValue::N(next.to_string()));
        let mut put = Put::builder().table_name(&self.table).set_item(Some(body));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        put.build().map_err(|e| StoreError::Internal(e.to_string()))
    }

    fn record_put(
        &self,
        record: &IdempotencyRecord,
        customer: &CustomerId,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut body = key(event_pk(&record.key), "EVENT");
        body.insert("key".into(), AttributeValue::S(record.key.clone()));
        body.insert(
            "fingerprint".into(),
            AttributeValue::S(record.fingerprint.clone()),
        );
        body.insert(
            "response".into(),
            AttributeValue::S(record.response.clone()),
        );
        body.insert(
            "customer_id".into(),
            AttributeValue::S(customer.to_string()),
        );
        self.put(body, Some("attribute_not_exists(PK)"))
    }

    fn ledger_puts(
        &self,
        customer: &CustomerId,
        entries: &[LedgerEntry],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        entries
            .iter()
            .map(|e| self.ledger_put(customer, e))
            .collect()
    }

    fn ledger_put(
        &self,
        customer: &CustomerId,
        entry: &LedgerEntry,
    ) -> Result<TransactWriteItem, StoreError> {
        let body = item(
            customer_pk(customer),
            format!("LEDGER#{:012}", entry.seq),
            entry,
        )?;
        self.put(body, Some("attribute_not_exists(PK)"))
    }

    /// Consistent batch read of up to a few keys, following `UnprocessedKeys`.
    async fn get_many(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?,
        );
        let mut found = Vec::new();
        let mut attempt = 0u32;
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(classify)?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            if pending.is_some() {
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Unavailable(
                        "batch read kept being throttled".into(),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            }
        }
        Ok(found)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        record_index: usize,
        coupon_index: Option<usize>,
    ) -> Result<(), CommitError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        if let SdkError::ServiceError(service) = &err {
            match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if failed(record_index) {
                        return Err(CommitError::AlreadyRecorded);
                    }
                    if coupon_index.is_some_and(failed) {
                        return Err(CommitError::CodeTaken);
                    }
                    let throttled = reasons.iter().any(|r| {
                        r.code()
                            .is_some_and(|c| c.contains("Throughput") || c == "ThrottlingError")
                    });
                    if throttled {
                        return Err(StoreError::Unavailable("transaction throttled".into()).into());
                    }
                    // A version check failed or another transaction held an item.
                    return Err(CommitError::Conflict);
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    return Err(CommitError::Conflict);
                }
                _ => {}
            }
        }
        Err(classify(err).into())
    }

    /// Every item of `customer` whose sort key starts with `prefix`, in key order.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        customer: &CustomerId,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(customer_pk(customer)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            found.push(parse(item.map_err(classify)?)?);
        }
        Ok(found)
    }

    fn split_customer_items(items: Vec<Item>) -> Vec<(String, String, Item)> {
        items
            .into_iter()
            .filter_map(|item| {
                let pk = item.get("PK").and_then(|v| v.as_s().ok()).cloned()?;
                let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned()?;
                Some((pk, sk, item))
            })
            .collect()
    }
}

#[async_trait]
impl ProfileStore for DynamoStore {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(customer_pk(customer), PROFILE)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(versioned_profile).transpose()
    }

    async fn save_profile(&self, expected: u64, profile: &Profile) -> Result<(), CommitError> {
        let put = self.profile_put_op(profile, Some(expected))?;
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(CommitError::Conflict)
            }
            Err(e) => Err(classify(e).into()),
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn prior(&self, key_: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(event_pk(key_), "EVENT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(record_from).transpose()
    }
}

#[async_trait]
impl PurchaseStore for DynamoStore {
    async fn load_purchase(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        key_: &str,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let pk = customer_pk(customer);
        let order_sk = format!("ORDER#{order}");
        let items = self
            .get_many(vec![
                key(pk.clone(), PROFILE),
                key(pk.clone(), order_sk.clone()),
                key(event_pk(key_), "EVENT"),
            ])
            .await?;
        let mut snapshot = PurchaseSnapshot::default();
        for (item_pk, sk, item) in Self::split_customer_items(items) {
            if item_pk != pk {
                snapshot.prior = Some(record_from(item)?);
            } else if sk == PROFILE {
                snapshot.profile = Some(versioned_profile(item)?);
            } else if sk == order_sk {
                snapshot.order = Some(parse(item)?);
            }
        }
        Ok(snapshot)
    }

    async fn commit_purchase(
        &self,
        expected: Option<u64>,
        referrer_expected: Option<u64>,
        outcome: &PurchaseOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        let order = item(
            customer_pk(customer),
            format!("ORDER#{}", outcome.order.order_id),
            &outcome.order,
        )?;
        let mut items = vec![
            self.record_put(record, customer)?,
            self.profile_put(&outcome.profile, expected)?,
            self.put(order, None)?,
        ];
        items.extend(self.ledger_puts(customer, &outcome.ledger)?);
        if let Some(update) = &outcome.referrer {
            let referrer = &update.profile.customer_id;
            items.push(self.profile_put(&update.profile, referrer_expected)?);
            items.extend(self.ledger_puts(referrer, &update.ledger)?);
            let status = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    customer_pk(referrer),
                    format!("REFERRAL#{}", update.referral),
                )))
                .update_expression("SET #status = :status, updated_at = :at")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", to_attr(&update.status)?)
                .expression_attribute_values(":at", to_attr(&outcome.profile.updated_at)?)
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            items.push(TransactWriteItem::builder().update(status).build());
        }
        self.transact(items, 0, None).await
    }
}

#[async_trait]
impl RedemptionStore for DynamoStore {
    async fn load_redemption(
        &self,
        customer: &CustomerId,
        key_: &str,
    ) -> Result<(Option<Versioned<Profile>>, Option<IdempotencyRecord>), StoreError> {
        let pk = customer_pk(customer);
        let items = self
            .get_many(vec![key(pk.clone(), PROFILE), key(event_pk(key_), "EVENT")])
            .await?;
        let mut profile = None;
        let mut prior = None;
        for (item_pk, _, item) in Self::split_customer_items(items) {
            if item_pk == pk {
                profile = Some(versioned_profile(item)?);
            } else {
                prior = Some(record_from(item)?);
            }
        }
        Ok((profile, prior))
    }

    async fn commit_redemption(
        &self,
        expected: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        let redemption = &outcome.redemption;
        let mut coupon = key(format!("COUPON#{}", redemption.coupon_code), "COUPON");
        coupon.insert(
            "customer_id".into(),
            AttributeValue::S(customer.to_string()),
        );
        let stored = item(
            customer_pk(customer),
            format!("REDEMPTION#{}", redemption.redemption_id),
            redemption,
        )?;
        let items = vec![
            self.record_put(record, customer)?,
            self.profile_put(&outcome.profile, Some(expected))?,
            self.put(coupon, Some("attribute_not_exists(PK)"))?,
            self.put(stored, None)?,
        ];
        let mut items = items;
        items.extend(self.ledger_puts(customer, &outcome.ledger)?);
        self.transact(items, 0, Some(2)).await
    }
}

#[async_trait]
impl RewardStore for DynamoStore {
    async fn commit_reward(
        &self,
        expected: u64,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &profile.customer_id;
        let mut items = vec![
            self.record_put(record, customer)?,
            self.profile_put(profile, Some(expected))?,
        ];
        items.extend(self.ledger_puts(customer, ledger)?);
        self.transact(items, 0, None).await
    }
}

#[async_trait]
impl LedgerStore for DynamoStore {
    async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.query_prefix(customer, "LEDGER#").await
    }
}

#[async_trait]
impl ReviewStore for DynamoStore {
    async fn load_review(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        sku: &Sku,
        key_: &str,
    ) -> Result<ReviewSnapshot, StoreError> {
        let pk = customer_pk(customer);
        let order_sk = format!("ORDER#{order}");
        let review_sk = format!("REVIEW#{sku}");
        let items = self
            .get_many(vec![
                key(pk.clone(), PROFILE),
                key(pk.clone(), order_sk.clone()),
                key(pk.clone(), review_sk.clone()),
                key(event_pk(key_), "EVENT"),
            ])
            .await?;
        let mut snapshot = ReviewSnapshot::default();
        for (item_pk, sk, item) in Self::split_customer_items(items) {
            if item_pk != pk {
                snapshot.prior = Some(record_from(item)?);
            } else if sk == PROFILE {
                snapshot.profile = Some(versioned_profile(item)?);
            } else if sk == order_sk {
                snapshot.order = Some(parse(item)?);
            } else if sk == review_sk {
                snapshot.review = Some(parse(item)?);
            }
        }
        Ok(snapshot)
    }

    async fn commit_review(
        &self,
        expected: Option<u64>,
        outcome: &ReviewOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        let review = item(
            customer_pk(customer),
            format!("REVIEW#{}", outcome.review.sku),
            &outcome.review,
        )?;
        // ADD needs no read and commutes, so reviews of one product by many customers
        // never conflict on the aggregate.
        let (count, sum) = outcome.product_delta;
        let product = Update::builder()
            .table_name(&self.table)
            .set_key(Some(product_key(&outcome.review.sku)))
            .update_expression("ADD reviews :c, rating_sum :s")
            .expression_attribute_values(":c", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":s", AttributeValue::N(sum.to_string()))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut items = vec![
            self.record_put(record, customer)?,
            self.profile_put(&outcome.profile, expected)?,
            self.put(review, None)?,
            TransactWriteItem::builder().update(product).build(),
        ];
        items.extend(self.ledger_puts(customer, &outcome.ledger)?);
        self.transact(items, 0, None).await
    }

    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        self.query_prefix(customer, "REVIEW#").await
    }

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(product_key(sku)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .item
            .map_or_else(ProductRating::default, |item| ProductRating {
                reviews: number_attr(&item, "reviews"),
                rating_sum: number_attr(&item, "rating_sum"),
            }))
    }
}

#[async_trait]
impl ReferralStore for DynamoStore {
    async fn claim_referral_code(
        &self,
        expected: u64,
        profile: &Profile,
    ) -> Result<(), CommitError> {
        let Some(code) = &profile.referral_code else {
            return Err(StoreError::Internal("profile without a referral code".into()).into());
        };
        let mut claim = key(code_pk(code), "REFCODE");
        claim.insert(
            "customer_id".into(),
            AttributeValue::S(profile.customer_id.to_string()),
        );
        let items = vec![
            self.put(claim, Some("attribute_not_exists(PK)"))?,
            self.profile_put(profile, Some(expected))?,
        ];
        // The claim is item 0; a failed condition there means the code is taken.
        match self.transact(items, 1, Some(0)).await {
            Err(CommitError::AlreadyRecorded) => Err(CommitError::Conflict),
            other => other,
        }
    }

    async fn customer_by_code(&self, code: &str) -> Result<Option<CustomerId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :code")
            .expression_attribute_values(":code", AttributeValue::S(code_pk(code)))
            .limit(1)
            .send()
            .await
            .map_err(classify)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|item| parse::<Profile>(item).map(|p| p.customer_id))
            .transpose()
    }

    async fn load_referral(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        key_: &str,
    ) -> Result<ReferralSnapshot, StoreError> {
        let (referrer_pk, referee_pk) = (customer_pk(referrer), customer_pk(referee));
        let mut keys = vec![
            key(referrer_pk.clone(), PROFILE),
            key(event_pk(key_), "EVENT"),
        ];
        if referee != referrer {
            keys.push(key(referee_pk.clone(), PROFILE));
        }
        let mut snapshot = ReferralSnapshot::default();
        for (pk, _, item) in Self::split_customer_items(self.get_many(keys).await?) {
            if pk == referrer_pk {
                let profile = versioned_profile(item)?;
                if referee == referrer {
                    snapshot.referee = Some(profile.clone());
                }
                snapshot.referrer = Some(profile);
            } else if pk == referee_pk {
                snapshot.referee = Some(versioned_profile(item)?);
            } else {
                snapshot.prior = Some(record_from(item)?);
            }
        }
        Ok(snapshot)
    }

    async fn commit_referral(
        &self,
        referrer_expected: u64,
        referee_expected: Option<u64>,
        outcome: &ReferralOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let r = &outcome.record;
        let stored = item(
            customer_pk(&r.referrer),
            format!("REFERRAL#{}", r.event_id),
            r,
        )?;
        let mut items = vec![
            self.record_put(record, &r.referee)?,
            self.put(stored, Some("attribute_not_exists(PK)"))?,
        ];
        if let Some((referee, referrer)) = &outcome.profiles {
            items.push(self.profile_put(referee, referee_expected)?);
            items.push(self.profile_put(referrer, Some(referrer_expected))?);
        }
        self.transact(items, 0, None).await
    }

    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError> {
        self.query_prefix(referrer, "REFERRAL#").await
    }
}

/// Most items one `BatchWriteItem` accepts.
const BATCH_WRITE: usize = 25;
/// `BatchWriteItem` calls in flight at once when writing job state back.
const WRITE_CONCURRENCY: usize = 8;
const SCORES: &str = "SCORES";
const SUPPRESSED: &str = "SUPPRESSED";

fn suppressed_pk(address_key: &str) -> String {
    format!("SUPPRESSED#{address_key}")
}

#[async_trait]
impl SuppressionStore for DynamoStore {
    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        let body = item(
            suppressed_pk(&suppression.address_key),
            SUPPRESSED.to_owned(),
            suppression,
        )?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(body))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already suppressed: the first cause stands.
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(suppressed_pk(address_key), SUPPRESSED)))
            .send()
            .await
            .map_err(classify)?;
        out.item.map(parse).transpose()
    }
}

#[async_trait]
impl ScoreStore for DynamoStore {
    async fn scan_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<CustomerPage, StoreError> {
        let (start, mut carried) = match cursor {
            Some(ScanCursor(CursorInner::Dynamo { key, carried })) => {
                (Some(key), carried.map(|p| *p))
            }
            _ => (None, None),
        };
        let segment = i32::try_from(segment)
            .map_err(|_| StoreError::Internal("segment out of range".into()))?;
        let total = i32::try_from(total)
            .map_err(|_| StoreError::Internal("segments out of range".into()))?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment)
            .total_segments(total)
            .filter_expression("SK IN (:profile, :job, :suppressed)")
            .expression_attribute_values(":profile", AttributeValue::S(PROFILE.into()))
            .expression_attribute_values(":job", AttributeValue::S(SCORES.into()))
            .expression_attribute_values(":suppressed", AttributeValue::S(SUPPRESSED.into()))
            .set_exclusive_start_key(start)
            .set_limit(self.scan_page_limit)
            .send()
            .await
            .map_err(classify)?;
        // A customer's PROFILE and SCORES items are adjacent, PROFILE first (sort key
        // order), so a profile is complete once its SCORES item or another customer's
        // item follows — or the segment ends.
        let mut customers = Vec::new();
        let mut suppressed = Vec::new();
        for (_, sk, item) in Self::split_customer_items(out.items.unwrap_or_default()) {
            if sk == SUPPRESSED {
                let entry: Suppression = parse(item)?;
                suppressed.push(entry.address_key);
            } else if sk == PROFILE {
                if let Some(profile) = carried.take() {
                    customers.push(ScannedCustomer { profile, job: None });
                }
                carried = Some(parse(item)?);
            } else {
                let job: JobState = parse(item)?;
                match carried.take() {
                    Some(profile) if profile.customer_id == job.customer_id => {
                        customers.push(ScannedCustomer {
                            profile,
                            job: Some(job),
                        });
                    }
                    // Job state without a profile (an erased customer): nothing to score.
                    other => {
                        if let Some(profile) = other {
                            customers.push(ScannedCustomer { profile, job: None });
                        }
                    }
                }
            }
        }
        let key = out.last_evaluated_key.filter(|k| !k.is_empty());
        let next = match key {
            Some(key) => Some(ScanCursor(CursorInner::Dynamo {
                key,
                carried: carried.map(Box::new),
            })),
            None => {
                customers.extend(carried.map(|profile| ScannedCustomer { profile, job: None }));
                None
            }
        };
        Ok(CustomerPage {
            customers,
            suppressed,
            next,
        })
    }

    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let batches = states
            .chunks(BATCH_WRITE)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|s| {
                        let body = item(customer_pk(&s.customer_id), SCORES, s)?;
                        let put = PutRequest::builder()
                            .set_item(Some(body))
                            .build()
                            .map_err(|e| StoreError::Internal(e.to_string()))?;
                        Ok(WriteRequest::builder().put_request(put).build())
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Batches are independent (one item per customer), so several are in flight at
        // once: one at a time, the write-back of a large shop would take longer than
        // its scan.
        futures::stream::iter(batches.into_iter().map(Ok))
            .try_for_each_concurrent(WRITE_CONCURRENCY, |requests| self.batch_write(requests))
            .await
    }

    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError> {
        let pk = customer_pk(customer);
        let mut profile = None;
        let mut scores = None;
        for (_, sk, item) in Self::split_customer_items(
            self.get_many(vec![key(pk.clone(), PROFILE), key(pk, SCORES)])
                .await?,
        ) {
            if sk == PROFILE {
                profile = Some(versioned_profile(item)?);
            } else {
                scores = parse::<JobState>(item)?.scores;
            }
        }
        Ok((profile, scores))
    }
}

fn message_sk(record: &MessageRecord) -> String {
    format!("MSG#{}#{}", record.kind, record.period)
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn claim_message(&self, record: &MessageRecord) -> Result<Claim, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let body = item(customer_pk(&record.customer_id), message_sk(record), record)?;
        let claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(body))
            // A failed send may be claimed again; anything else is taken.
            .condition_expression("attribute_not_exists(PK) OR #status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", to_attr(&MessageStatus::Failed)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(claim).build()];
        if let Some(code) = &record.coupon_code {
            let mut coupon = key(format!("COUPON#{code}"), "COUPON");
            coupon.insert(
                "customer_id".into(),
                AttributeValue::S(record.customer_id.to_string()),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(coupon))
                // A retry of a failed send reuses its own code.
                .condition_expression("attribute_not_exists(PK) OR customer_id = :c")
                .expression_attribute_values(
                    ":c",
                    AttributeValue::S(record.customer_id.to_string()),
                )
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Claim::Claimed);
        };
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
        {
            let reasons = cancelled.cancellation_reasons();
            if let Some(old) = reasons.first().and_then(|r| r.item()).filter(|_| {
                reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed")
            }) {
                return Ok(Claim::Taken(Box::new(parse(old.clone())?)));
            }
            if reasons.get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                return Err(StoreError::Internal("coupon code collision".into()));
            }
            // Another run claimed it at the same moment: it is taken.
            return Err(StoreError::Unavailable("concurrent claim".into()));
        }
        Err(classify(err))
    }

    async fn reclaim_message(
        &self,
        stale: &MessageRecord,
        record: &MessageRecord,
    ) -> Result<Claim, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let body = item(customer_pk(&record.customer_id), message_sk(record), record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(body))
            // Compare and swap: only the claim this run read as stale is replaced.
            .condition_expression("#status = :sending AND updated_at = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sending", to_attr(&MessageStatus::Sending)?)
            .expression_attribute_values(":seen", to_attr(&stale.updated_at)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Claim::Claimed);
        };
        if let SdkError::ServiceError(service) = &err
            && let PutItemError::ConditionalCheckFailedException(failed) = service.err()
        {
            return match failed.item() {
                Some(now) => Ok(Claim::Taken(Box::new(parse(now.clone())?))),
                None => Err(StoreError::Unavailable("message record vanished".into())),
            };
        }
        Err(classify(err))
    }

    async fn finish_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let body = item(customer_pk(&record.customer_id), message_sk(record), record)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(body))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError> {
        self.query_prefix(customer, "MSG#").await
    }
}

const ERASURE: &str = "ERASURE";

/// Most actions one `TransactWriteItems` accepts.
const TRANSACT_MAX: usize = 100;

/// Everything in `items` (one customer's partition), sorted into its kinds; `None`
/// without a profile.
fn customer_data(items: Vec<Item>) -> Result<Option<Versioned<CustomerData>>, StoreError> {
    let mut profile = None;
    let (mut orders, mut ledger, mut redemptions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut reviews, mut referrals_made, mut messages) = (Vec::new(), Vec::new(), Vec::new());
    let (mut job_state, mut erasure) = (None, None);
    for (_, sk, item) in DynamoStore::split_customer_items(items) {
        let kind = sk.split_once('#').map_or(sk.as_str(), |(kind, _)| kind);
        match kind {
            PROFILE => profile = Some(versioned_profile(item)?),
            "ORDER" => orders.push(parse(item)?),
            "LEDGER" => ledger.push(parse(item)?),
            "REDEMPTION" => redemptions.push(parse(item)?),
            "REVIEW" => reviews.push(parse(item)?),
            "REFERRAL" => referrals_made.push(parse(item)?),
            "MSG" => messages.push(parse(item)?),
            SCORES => job_state = Some(parse(item)?),
            ERASURE => erasure = Some(parse(item)?),
            other => tracing::warn!(kind = other, "unknown item kind in a customer partition"),
        }
    }
    Ok(profile.map(|p: Versioned<Profile>| Versioned {
        version: p.version,
        value: CustomerData {
            profile: p.value,
            orders,
            ledger,
            redemptions,
            reviews,
            referrals_made,
            referral_received: None,
            messages,
            job_state,
            suppression: None,
            erasure,
        },
    }))
}

impl DynamoStore {
    /// Every item of the customer's partition, following `LastEvaluatedKey`.
    async fn partition(&self, customer: &CustomerId) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(customer_pk(customer)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(classify)?);
        }
        Ok(items)
    }

    /// An update of one item that exists, as a transaction action.
    fn update_existing(
        &self,
        key_: Item,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_))
            .update_expression(expression)
            // Never creates a stub item for a record that is gone.
            .condition_expression("attribute_exists(PK)");
        for (name, attribute) in names {
            update = update.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The redactions of `plan`, one transaction action each.
    fn redactions(&self, plan: &ErasurePlan) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = customer_pk(&plan.customer);
        let mut actions = Vec::new();
        for sku in &plan.reviews {
            actions.push(self.update_existing(
                key(pk.clone(), format!("REVIEW#{sku}")),
                "REMOVE title, body",
                &[],
                Vec::new(),
            )?);
        }
        for message in &plan.messages {
            actions.push(self.update_existing(
                key(pk.clone(), message_sk(message)),
                "REMOVE #error",
                &[("#error", "error")],
                Vec::new(),
            )?);
        }
        for answer in &plan.answers {
            actions.push(self.update_existing(
                key(event_pk(&answer.key), "EVENT"),
                "SET #response = :response",
                &[("#response", "response")],
                vec![(":response", AttributeValue::S(answer.response.clone()))],
            )?);
        }
        if plan.drop_job_state {
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, SCORES)))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(actions)
    }
}

#[async_trait]
impl PrivacyStore for DynamoStore {
    async fn export(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerData>>, StoreError> {
        let Some(mut found) = customer_data(self.partition(customer).await?)? else {
            return Ok(None);
        };
        // Two records live outside the partition: the referral that brought the
        // customer (under the referrer) and the suppression of their address.
        let profile = &found.value.profile;
        let referral_key = profile
            .referred_by
            .as_ref()
            .map(|a| key(customer_pk(&a.referrer), format!("REFERRAL#{}", a.event_id)));
        let suppression_key = profile
            .email
            .as_ref()
            .map(|e| key(suppressed_pk(&e.address_key()), SUPPRESSED));
        let keys: Vec<Item> = referral_key.into_iter().chain(suppression_key).collect();
        if !keys.is_empty() {
            for (_, sk, item) in Self::split_customer_items(self.get_many(keys).await?) {
                if sk == SUPPRESSED {
                    found.value.suppression = Some(parse(item)?);
                } else {
                    found.value.referral_received = Some(parse(item)?);
                }
            }
        }
        Ok(Some(found))
    }

    async fn erase(&self, plan: &ErasurePlan) -> Result<(), CommitError> {
        let mut actions = Vec::new();
        if let Some(mark) = &plan.mark {
            let pk = customer_pk(&plan.customer);
            let audit = item(pk, ERASURE, &mark.record)?;
            actions.push(self.put(audit, Some("attribute_not_exists(PK)"))?);
            actions.push(self.profile_put(&mark.profile, Some(mark.expected_version))?);
            if let Some(tombstone) = &mark.tombstone {
                let body = item(
                    suppressed_pk(&tombstone.address_key),
                    SUPPRESSED.to_owned(),
                    tombstone,
                )?;
                actions.push(self.put(body, Some("attribute_not_exists(PK)"))?);
            }
        }
        // The audit record is action 0 of the first transaction when there is a mark;
        // other transactions have no such record.
        let mut record_index = if plan.mark.is_some() { 0 } else { usize::MAX };
        actions.extend(self.redactions(plan)?);
        // The mark and, for any ordinary customer, every redaction commit together. A
        // customer with more records than one transaction holds gets the rest in
        // further transactions; were one of those lost, the next erasure request
        // finds the leftovers and finishes the job.
        let mut rest = actions.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<TransactWriteItem> = rest.by_ref().take(TRANSACT_MAX).collect();
            self.transact(chunk, record_index, None).await?;
            record_index = usize::MAX;
        }
        Ok(())
    }
}
