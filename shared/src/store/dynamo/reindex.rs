//! Re-indexing: the customer index ([`keys::GSI2`]) holds the items that carry its
//! keys, and items written before it existed carry none. A parallel scan of the table
//! finds the live profiles, job states and suppressed addresses without them, and a
//! conditional update gives each its keys — only while it still lacks them (and, for a
//! profile, is not erased), so a write of the current code, an erasure or a deletion
//! since the scan wins, and a second run finds nothing to do.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};

use super::items::{Item, key, key_of};
use super::keys::{self, PROFILE, SCORES, SUPPRESSED, expr};
use super::{DynamoStore, classify, scan_segment};
use crate::access::{Grants, port};
use crate::store::{CustomerIndexStore, IndexPage, IndexTally, ScanCursor, StoreError};

/// Updates in flight at once, per segment.
const UPDATE_CONCURRENCY: usize = 16;

/// The attribute an erased profile sets (a null one when it is not erased).
const ERASED_AT: &str = "erased_at";

/// What became of one item the scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexed {
    Yes,
    Skipped,
}

/// Whether an item the scan found (keys and `erased_at`) belongs in the index: every
/// job state and suppressed address does, a profile unless it is erased.
fn belongs(sk: &str, item: &Item) -> bool {
    sk != PROFILE || matches!(item.get(ERASED_AT), None | Some(AttributeValue::Null(_)))
}

/// The token of the key a scan page stopped at.
fn cursor_of(last: &Item) -> Result<ScanCursor, StoreError> {
    let (pk, sk) = key_of(last)
        .ok_or_else(|| StoreError::Internal("a scan key without its string keys".into()))?;
    let token =
        serde_json::to_string(&(pk, sk)).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(ScanCursor::from_token(token))
}

/// The key to start after.
fn start_of(cursor: &ScanCursor) -> Result<Item, StoreError> {
    let (pk, sk): (String, String) = serde_json::from_str(cursor.as_token())
        .map_err(|_| StoreError::Internal("not a cursor of this scan".into()))?;
    Ok(key(pk, sk))
}

impl<W> DynamoStore<W> {
    /// Gives one item the index's keys if it still lacks them (and, a profile, is still
    /// live).
    async fn index_item(&self, pk: String, sk: String) -> Result<Indexed, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk.clone())))
            .update_expression(expr::SET_INDEX_KEYS)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":sk", AttributeValue::S(sk.clone()));
        let update = if sk == PROFILE {
            update
                .condition_expression(format!("{} AND {}", expr::NOT_INDEXED, expr::LIVE_CUSTOMER))
                .expression_attribute_values(":null", AttributeValue::S("NULL".into()))
        } else {
            update.condition_expression(format!("{} AND {}", expr::NOT_INDEXED, expr::PRESENT))
        };
        match update.send().await {
            Ok(_) => Ok(Indexed::Yes),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Indexed::Skipped)
            }
            Err(e) => Err(classify(e)),
        }
    }
}

#[async_trait]
impl<W: Grants<port::CustomerIndexStore>> CustomerIndexStore for DynamoStore<W> {
    async fn index_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<IndexPage, StoreError> {
        let start = cursor.as_ref().map(start_of).transpose()?;
        let (segment, total) = scan_segment(segment, total)?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment)
            .total_segments(total)
            .filter_expression(expr::UNINDEXED)
            .projection_expression(format!("{}, {}, {ERASED_AT}", keys::PK, keys::SK))
            .expression_attribute_values(":profile", AttributeValue::S(PROFILE.into()))
            .expression_attribute_values(":job", AttributeValue::S(SCORES.into()))
            .expression_attribute_values(":suppressed", AttributeValue::S(SUPPRESSED.into()))
            .set_exclusive_start_key(start)
            .set_limit(self.scan_page_limit)
            .send()
            .await
            .map_err(classify)?;
        let mut tally = IndexTally {
            scanned: u64::try_from(out.scanned_count).unwrap_or_default(),
            ..IndexTally::default()
        };
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            let Some((pk, sk)) = key_of(&item) else {
                continue;
            };
            tally.examined += 1;
            if belongs(&sk, &item) {
                due.push((pk, sk));
            } else {
                tally.skipped += 1;
            }
        }
        let outcomes: Vec<Indexed> = futures::stream::iter(due)
            .map(|(pk, sk)| self.index_item(pk, sk))
            .buffer_unordered(UPDATE_CONCURRENCY)
            .try_collect()
            .await?;
        for outcome in outcomes {
            match outcome {
                Indexed::Yes => tally.indexed += 1,
                Indexed::Skipped => tally.skipped += 1,
            }
        }
        let next = out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .map(|last| cursor_of(&last))
            .transpose()?;
        Ok(IndexPage { tally, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_profile_does_not_belong_and_everything_else_found_does() {
        let with = |erased: Option<AttributeValue>| {
            let mut item = key("CUSTOMER#asha".into(), PROFILE);
            if let Some(value) = erased {
                item.insert(ERASED_AT.into(), value);
            }
            item
        };
        assert!(belongs(PROFILE, &with(None)));
        assert!(belongs(PROFILE, &with(Some(AttributeValue::Null(true)))));
        let erased = with(Some(AttributeValue::S("2024-05-01T00:00:00Z".into())));
        assert!(!belongs(PROFILE, &erased));
        assert!(belongs(SCORES, &erased));
        assert!(belongs(SUPPRESSED, &with(None)));
    }

    #[test]
    fn a_cursor_reads_back_as_the_key_it_was_made_from() {
        let last = key("SUPPRESSED#ab12".into(), SUPPRESSED);
        let cursor = cursor_of(&last).unwrap();
        assert_eq!(start_of(&cursor).unwrap(), last);
        for token in ["", "{\"key\":1}", "garbage"] {
            let read = start_of(&ScanCursor::from_token(token));
            assert!(matches!(read, Err(StoreError::Internal(_))), "{token}");
        }
    }
}
