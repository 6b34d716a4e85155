//! The DynamoDB adapter: one table, items grouped by customer ([`keys`] has the
//! layout, [`items`] the attributes).
//!
//! Every change for one request is a single `TransactWriteItems` that also writes the
//! idempotency record under `attribute_not_exists`, so a retry cannot apply twice, and
//! puts the profile under a version condition, so concurrent events cannot lose
//! updates.
//!
//! This module holds the store itself and its calls to DynamoDB: error
//! classification, batch reads, queries and single puts; the transaction
//! builder is in `transaction`, the ports in `events` (what the API's events write),
//! `job` (what the scoring job reads and writes), `privacy` (export and erasure) and
//! `reindex` (the customer index's keys for items written before it).
//! `access` lists the IAM actions each port method calls, and on which partitions.
//!
//! The store is typed by its wiring (`DynamoStore<W>`): it implements a port only
//! where `W` grants it, so a binary's handlers can reach no port its wiring does not
//! declare. `DynamoStore` alone is wired with everything (the local server, tests).

pub mod access;
pub mod items;
pub mod keys;

mod coupons;
mod events;
mod import;
mod job;
mod privacy;
mod program;
mod reindex;
mod transaction;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

use crate::access::{Everything, Wiring};
use crate::domain::{CustomerId, Profile};
use crate::retry::Backoff;
use crate::store::StoreError;
use items::{Found, Item, VERSION, parse, profile_item};
use keys::expr;
use transaction::Transaction;

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

/// The waits while DynamoDB leaves part of a batch unprocessed (it does when
/// throttled), or cancels the transaction of a first job state (throttled, or an item
/// busy in another transaction): nine calls in all, the waits doubling from about 20 ms, about five
/// seconds before giving up.
/// Segment `segment` of `total` as a parallel `Scan` takes them.
fn scan_segment(segment: u32, total: u32) -> Result<(i32, i32), StoreError> {
    let segment =
        i32::try_from(segment).map_err(|_| StoreError::Internal("segment out of range".into()))?;
    let total =
        i32::try_from(total).map_err(|_| StoreError::Internal("segments out of range".into()))?;
    Ok((segment, total))
}

fn batch_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(2_560), 9)
}

/// Makes a batch call with `first`, then again with whatever it left unprocessed,
/// backing off, until nothing is left; the items the calls returned, in order.
/// Gives up as unavailable (`throttled` says what) when the backoff ends first.
async fn until_processed<P, F, Fut>(
    first: Option<P>,
    throttled: &str,
    mut call: F,
) -> Result<Vec<Item>, StoreError>
where
    F: FnMut(P) -> Fut,
    Fut: Future<Output = Result<(Vec<Item>, Option<P>), StoreError>>,
{
    let mut backoff = batch_backoff();
    let mut returned = Vec::new();
    let mut pending = first;
    while let Some(request) = pending.take() {
        let (items, rest) = call(request).await?;
        returned.extend(items);
        pending = rest;
        if pending.is_some() && !backoff.wait().await {
            return Err(StoreError::Unavailable(throttled.into()));
        }
    }
    Ok(returned)
}

/// The single table, with the ports the wiring `W` grants.
pub struct DynamoStore<W = Everything> {
    client: Client,
    table: String,
    /// Items a scan page may read; `None` lets DynamoDB fill 1 MB pages.
    scan_page_limit: Option<i32>,
    wiring: PhantomData<fn() -> W>,
}

impl<W> Clone for DynamoStore<W> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            table: self.table.clone(),
            scan_page_limit: self.scan_page_limit,
            wiring: PhantomData,
        }
    }
}

impl<W> std::fmt::Debug for DynamoStore<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("wiring", &std::any::type_name::<W>())
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// The store with every port.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scan_page_limit: None,
            wiring: PhantomData,
        }
    }
}

impl<W> DynamoStore<W> {
    /// The same table with only the ports `V` grants: what a deployed binary runs on.
    pub fn wired<V: Wiring>(self) -> DynamoStore<V> {
        DynamoStore {
            client: self.client,
            table: self.table,
            scan_page_limit: self.scan_page_limit,
            wiring: PhantomData,
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

    fn transaction(&self) -> Transaction<'_, W> {
        Transaction::new(self)
    }

    /// A put of the profile at the next version, conditional on the current one.
    fn profile_put(&self, profile: &Profile, expected: Option<u64>) -> Result<Put, StoreError> {
        let body = profile_item(profile, expected.map_or(1, |v| v + 1))?;
        let put = Put::builder().table_name(&self.table).set_item(Some(body));
        let put = match expected {
            None => put.condition_expression(expr::ABSENT),
            Some(v) => put
                .condition_expression(format!("{VERSION} = :v"))
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        put.build().map_err(|e| StoreError::Internal(e.to_string()))
    }

    /// One conditional `PutItem`; `false` when the condition failed.
    async fn put_if(&self, put: Put) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// One unconditional `PutItem`.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// One `GetItem`; `consistent` reads see every write acknowledged before.
    async fn get(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_consistent_read(consistent.then_some(true))
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Consistent batch read of up to a few keys, following `UnprocessedKeys`; what
    /// was found, by key.
    async fn get_many(&self, keys: Vec<Item>) -> Result<Found, StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let found = until_processed(
            Some(request),
            "batch read kept being throttled",
            |request| async move {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(classify)?;
                let found = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                let rest = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
                Ok((found, rest))
            },
        )
        .await?;
        Ok(Found::new(found))
    }

    /// The customer's items with sort keys `sort_keys` and, given its key, an
    /// idempotency record, in one consistent batch read.
    async fn read_customer(
        &self,
        customer: &CustomerId,
        sort_keys: &[&str],
        record: Option<&str>,
    ) -> Result<Found, StoreError> {
        let pk = keys::customer_pk(customer);
        let wanted = sort_keys
            .iter()
            .map(|sk| items::key(pk.clone(), *sk))
            .chain(record.map(items::record_key))
            .collect();
        self.get_many(wanted).await
    }

    /// Every item of the customer's partition (only those whose sort key starts with
    /// `prefix`, given one), in key order, following `LastEvaluatedKey`.
    async fn query(
        &self,
        customer: &CustomerId,
        prefix: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(keys::customer_pk(customer)));
        let query = match prefix {
            Some(prefix) => query
                .key_condition_expression(expr::PARTITION_PREFIX)
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into())),
            None => query.key_condition_expression(expr::PARTITION),
        };
        let mut pages = query.consistent_read(true).into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(classify)?);
        }
        Ok(items)
    }

    /// Every item of `customer` whose sort key starts with `prefix`, parsed, in key
    /// order.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        customer: &CustomerId,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query(customer, Some(prefix))
            .await?
            .into_iter()
            .map(parse)
            .collect()
    }
}
