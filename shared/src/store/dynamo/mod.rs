//! The DynamoDB adapter: one table, items grouped by customer ([`keys`] has the
//! layout, [`items`] the attributes).
//!
//! Every change for one request is a single `TransactWriteItems` that also writes the
//! idempotency record under `attribute_not_exists`, so a retry cannot apply twice, and
//! puts the profile under a version condition, so concurrent events cannot lose
//! updates.
//!
//! This module holds the store itself and its calls to DynamoDB: error
//! classification, batch reads and writes, queries and single puts; the transaction
//! builder is in `transaction`, the ports in `events` (what the API's events write),
//! `job` (what the scoring job reads and writes) and `privacy` (export and erasure).

pub mod items;
pub mod keys;

mod events;
mod job;
mod privacy;
mod transaction;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, WriteRequest};
use serde::de::DeserializeOwned;

use crate::domain::{CustomerId, Profile};
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

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Items a scan page may read; `None` lets DynamoDB fill 1 MB pages.
    scan_page_limit: Option<i32>,
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

    fn transaction(&self) -> Transaction<'_> {
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

    /// Consistent batch read of up to a few keys, following `UnprocessedKeys`; what
    /// was found, by key.
    async fn get_many(&self, keys: Vec<Item>) -> Result<Found, StoreError> {
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
        let keys = sort_keys
            .iter()
            .map(|sk| items::key(pk.clone(), *sk))
            .chain(record.map(items::record_key))
            .collect();
        self.get_many(keys).await
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
