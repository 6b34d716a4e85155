//! The table's stream read locally as Lambda's event source mapping reads it in AWS:
//! shard by shard from the oldest record, only coupon inserts (the mapping's filter),
//! handed in batches to the same handler the coupon-sync function runs. A batch that
//! reports a failed record is read again from that record after a pause, as the
//! mapping retries it.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use rapport_shared::service::code_sync::{
    CodeSync, StreamData, StreamEvent, StreamRecord, StringAttribute, SyncPolicy,
};
use rapport_shared::shop_api::ShopApi;
use rapport_shared::store::CodeSyncStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rapport_shared::domain::Currency;

/// Records read per call, as the function's `BatchSize`.
const BATCH: i32 = 10;
/// A batch that failed is delivered again after this.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Where the reader is in one shard.
enum Position {
    /// Read from this iterator next.
    At(String),
    /// Read again from this sequence number (a failed record).
    Retry(String),
    /// The shard is closed and read to its end.
    Done,
}

/// Reads the stream of one table and syncs the coupons it announces.
pub struct CouponStream {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    shards: BTreeMap<String, Position>,
    apis: Arc<Vec<Box<dyn ShopApi>>>,
    currency: Currency,
    policy: SyncPolicy,
}

fn record_of(record: &Record) -> Option<StreamRecord> {
    let data = record.dynamodb()?;
    let keys: HashMap<String, StringAttribute> = data
        .keys()?
        .iter()
        .map(|(name, value)| {
            let s = match value {
                AttributeValue::S(s) => Some(s.clone()),
                _ => None,
            };
            (name.clone(), StringAttribute { s })
        })
        .collect();
    Some(StreamRecord {
        event_name: record.event_name().map(|e| e.as_str().to_owned()),
        dynamodb: StreamData {
            keys,
            sequence_number: data.sequence_number()?.to_owned(),
        },
    })
}

impl CouponStream {
    /// The stream of `table` (created with the template's stream specification).
    pub async fn open(
        sdk: &SdkConfig,
        table: &str,
        apis: Vec<Box<dyn ShopApi>>,
        currency: Currency,
    ) -> Result<Self> {
        let tables = aws_sdk_dynamodb::Client::new(sdk);
        let described = tables
            .describe_table()
            .table_name(table)
            .send()
            .await
            .with_context(|| format!("describing {table}"))?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .with_context(|| {
                format!("{table} has no stream (template.yaml's StreamSpecification)")
            })?
            .to_owned();
        Ok(Self {
            client: aws_sdk_dynamodbstreams::Client::new(sdk),
            stream_arn,
            shards: BTreeMap::new(),
            apis: Arc::new(apis),
            currency,
            policy: SyncPolicy::default(),
        })
    }

    /// Tries the stores less hard (tests of failure).
    pub fn with_policy(self, policy: SyncPolicy) -> Self {
        Self { policy, ..self }
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        at: Option<&str>,
    ) -> Result<String> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(at.map(str::to_owned))
            .send()
            .await
            .context("GetShardIterator")?;
        out.shard_iterator
            .context("GetShardIterator answered no iterator")
    }

    /// Learns of shards opened since the last look.
    async fn discover(&mut self) -> Result<()> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .context("DescribeStream")?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for shard in shards {
            if !self.shards.contains_key(&shard) {
                let iterator = self
                    .iterator(&shard, ShardIteratorType::TrimHorizon, None)
                    .await?;
                self.shards.insert(shard, Position::At(iterator));
            }
        }
        Ok(())
    }

    /// Reads one batch from every open shard and hands it on; the records read.
    pub async fn poll_once<S: CodeSyncStore + ?Sized>(&mut self, store: &S) -> Result<usize> {
        self.discover().await?;
        let sync = CodeSync {
            apis: &self.apis,
            currency: self.currency,
            policy: self.policy.clone(),
        };
        let mut read = 0;
        let shard_ids: Vec<String> = self.shards.keys().cloned().collect();
        for shard in shard_ids {
            let iterator = match self.shards.get(&shard) {
                Some(Position::At(iterator)) => iterator.clone(),
                Some(Position::Retry(sequence)) => {
                    let sequence = sequence.clone();
                    self.iterator(&shard, ShardIteratorType::AtSequenceNumber, Some(&sequence))
                        .await?
                }
                Some(Position::Done) | None => continue,
            };
            let out = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(BATCH)
                .send()
                .await
                .context("GetRecords")?;
            read += out.records().len();
            let event = StreamEvent {
                records: out.records().iter().filter_map(record_of).collect(),
            };
            let response = sync
                .handle_stream(store, &event, rapport_shared::bootstrap::CODE_SYNC_BUDGET)
                .await;
            let next = match response.batch_item_failures.first() {
                Some(failed) => Position::Retry(failed.item_identifier.clone()),
                None => match out.next_shard_iterator {
                    Some(next) => Position::At(next),
                    None => Position::Done,
                },
            };
            self.shards.insert(shard, next);
        }
        Ok(read)
    }

    /// Whether some shard waits to deliver a failed record again.
    pub fn retrying(&self) -> bool {
        self.shards
            .values()
            .any(|p| matches!(p, Position::Retry(_)))
    }

    /// Polls until a poll reads nothing and nothing waits for a retry, or `attempts`
    /// polls were made: the records present when it was called are handled.
    pub async fn drain<S: CodeSyncStore + ?Sized>(
        &mut self,
        store: &S,
        attempts: usize,
    ) -> Result<()> {
        for _ in 0..attempts {
            let read = self.poll_once(store).await?;
            if read == 0 && !self.retrying() {
                return Ok(());
            }
            if self.retrying() {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
        Ok(())
    }

    /// Reads the stream until the task is dropped, pausing when there is nothing new.
    pub fn spawn<S: CodeSyncStore + 'static>(mut self, store: S) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let pause = match self.poll_once(&store).await {
                    Ok(0) => Duration::from_millis(250),
                    Ok(_) if self.retrying() => RETRY_PAUSE,
                    Ok(_) => Duration::ZERO,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "reading the table's stream");
                        Duration::from_secs(1)
                    }
                };
                tokio::time::sleep(pause).await;
            }
        })
    }
}
