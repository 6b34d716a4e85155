//! What the scoring job reads and writes: the parallel scan of profiles with their job
//! state and the suppression list, job state written back in batches, message claims
//! (the exactly-once guard of outreach) and suppressed addresses.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::items::{
    Item, coupon_item, customer_attr, job_state_item, keyed, message_item, parse, suppression_item,
    to_attr,
};
use super::keys::{self, PROFILE, SCORES, SUPPRESSED, expr};
use super::transaction::{Refusal, Role, TRANSACT_MAX};
use super::{DynamoStore, batch_backoff, classify, scan_segment};
use crate::access::{Grants, port};
use crate::domain::outreach::{MessageRecord, MessageStatus};
use crate::domain::{CustomerId, CustomerScores, JobState, Profile, Suppression};
use crate::store::{
    Claim, CustomerPage, MessageStore, ProfileViewStore, ScanCursor, ScanRead, ScannedCustomer,
    ScoreStore, StoreError, SuppressionStore, Versioned,
};

/// Job states written at once.
const WRITE_CONCURRENCY: usize = 32;
/// First job states in one transaction: each takes two actions, a check of the
/// customer's profile and the put.
const FIRST_STATES_PER_TRANSACTION: usize = TRANSACT_MAX / 2;
/// Transactions of first states in flight at once.
const FIRST_STATES_CONCURRENCY: usize = 4;

/// What a [`ScanCursor`] of this store holds: DynamoDB's `LastEvaluatedKey` (of a scan
/// of the customer index, the item's table and index keys, all strings) and a profile
/// whose job state may start the next page (a customer's items are adjacent in a scan
/// of the index, as in one of the table, but a page can split them).
#[derive(Serialize, Deserialize)]
struct Resume {
    key: BTreeMap<String, String>,
    carried: Option<Profile>,
}

impl Resume {
    fn cursor(last_key: Item, carried: Option<Profile>) -> Result<ScanCursor, StoreError> {
        let key = last_key
            .into_iter()
            .map(|(name, value)| match value {
                AttributeValue::S(text) => Ok((name, text)),
                _ => Err(StoreError::Internal(format!(
                    "scan stopped at an item whose key {name} is not a string"
                ))),
            })
            .collect::<Result<_, _>>()?;
        let token = serde_json::to_string(&Self { key, carried })
            .map_err(|e| StoreError::Internal(format!("scan cursor: {e}")))?;
        Ok(ScanCursor::from_token(token))
    }

    /// The key to start after, and the profile carried over.
    fn read(cursor: &ScanCursor) -> Result<(Item, Option<Profile>), StoreError> {
        let resume: Self = serde_json::from_str(cursor.as_token())
            .map_err(|e| StoreError::Internal(format!("not a scan cursor of this store: {e}")))?;
        let key = resume
            .key
            .into_iter()
            .map(|(name, text)| (name, AttributeValue::S(text)))
            .collect();
        Ok((key, resume.carried))
    }
}

impl<W> DynamoStore<W> {
    /// Writes one customer's job state, only while the customer has a profile that is
    /// not erased. An erasure deletes the state item, so replacing the state the
    /// customer had is a put conditional on that item — it fails for a customer erased
    /// since the scan — and costs what an unconditional put does. A customer without a
    /// state yet (scored for the first time) gets theirs in a transaction that checks
    /// the profile itself: there is no state item whose absence would tell.
    async fn write_state(&self, state: &JobState) -> Result<(), StoreError> {
        let item = job_state_item(state)?;
        let mut backoff = batch_backoff();
        loop {
            if self.replace_state(&item).await? {
                return Ok(());
            }
            let first = self
                .transaction()
                .live_customer(&state.customer_id)?
                .insert(item.clone())?;
            match first.send().await {
                Ok(()) => return Ok(()),
                Err(Refusal::Cancelled(cancelled))
                    if cancelled.failed(Role::Customer).is_some() =>
                {
                    tracing::info!(customer = %state.customer_id, "customer erased during the run: job state not written");
                    return Ok(());
                }
                // Written meanwhile (by an overlapping run): replace it after all.
                Err(Refusal::Cancelled(cancelled)) if !cancelled.transient() => continue,
                Err(Refusal::Cancelled(_) | Refusal::InProgress(_)) => {}
                Err(Refusal::Failed(e)) => return Err(e),
            }
            if !backoff.wait().await {
                return Err(StoreError::Unavailable(
                    "writing a job state kept being cancelled".into(),
                ));
            }
        }
    }

    /// Replaces a customer's job state if they have one (`false`: they have none).
    async fn replace_state(&self, item: &Item) -> Result<bool, StoreError> {
        let replace = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression(expr::PRESENT)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.put_if(replace).await
    }

    /// Replaces the customer's job state if they have one; if not, the state to write as
    /// their first.
    async fn replaced<'s>(
        &self,
        state: &'s JobState,
    ) -> Result<Option<(&'s JobState, Item)>, StoreError> {
        let item = job_state_item(state)?;
        Ok((!self.replace_state(&item).await?).then_some((state, item)))
    }

    /// Writes the first job states of customers who had none, in transactions of
    /// [`FIRST_STATES_PER_TRANSACTION`], [`FIRST_STATES_CONCURRENCY`] at once.
    async fn write_all_first(&self, firsts: &[(&JobState, Item)]) -> Result<(), StoreError> {
        let transactions: Vec<_> = firsts
            .chunks(FIRST_STATES_PER_TRANSACTION)
            .map(|chunk| self.write_first_states(chunk))
            .collect();
        stream::iter(transactions)
            .buffer_unordered(FIRST_STATES_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    /// Writes the first job states of customers who had none, up to
    /// [`FIRST_STATES_PER_TRANSACTION`] in one transaction that checks each profile, so
    /// a shop's first run costs one request per fifty customers rather than one each.
    /// When the transaction is cancelled — a customer erased or given a state meanwhile,
    /// another writer on one of the profiles — each of its customers goes the way of
    /// [`Self::write_state`], which tells those cases apart.
    async fn write_first_states(&self, states: &[(&JobState, Item)]) -> Result<(), StoreError> {
        let transaction = states
            .iter()
            .try_fold(self.transaction(), |tx, (state, item)| {
                tx.live_customer(&state.customer_id)?.insert(item.clone())
            })?;
        match transaction.send().await {
            Ok(()) => Ok(()),
            Err(Refusal::Failed(e)) => Err(e),
            Err(Refusal::Cancelled(_) | Refusal::InProgress(_)) => {
                stream::iter(states.iter().map(Ok))
                    .try_for_each_concurrent(WRITE_CONCURRENCY, |(state, _)| {
                        self.write_state(state)
                    })
                    .await
            }
        }
    }
}

#[async_trait]
impl<W: Grants<port::ScoreStore>> ScoreStore for DynamoStore<W> {
    async fn scan_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<CustomerPage, StoreError> {
        let (start, mut carried) = match &cursor {
            Some(cursor) => {
                let (key, carried) = Resume::read(cursor)?;
                (Some(key), carried)
            }
            None => (None, None),
        };
        let (segment, total) = scan_segment(segment, total)?;
        // The customer index holds nothing else: what is read is what is kept.
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .segment(segment)
            .total_segments(total)
            .set_exclusive_start_key(start)
            .set_limit(self.scan_page_limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        let read = ScanRead {
            items: u64::try_from(out.scanned_count).unwrap_or_default(),
            capacity_units: out
                .consumed_capacity
                .as_ref()
                .and_then(|c| c.capacity_units)
                .unwrap_or_default(),
        };
        // A customer's PROFILE and SCORES items are adjacent, PROFILE first (sort key
        // order), so a profile is complete once its SCORES item or another customer's
        // item follows — or the segment ends.
        let mut customers = Vec::new();
        let mut suppressed = Vec::new();
        for (_, sk, item) in keyed(out.items.unwrap_or_default()) {
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
        let next = match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            Some(last_key) => Some(Resume::cursor(last_key, carried)?),
            None => {
                customers.extend(carried.map(|profile| ScannedCustomer { profile, job: None }));
                None
            }
        };
        Ok(CustomerPage {
            customers,
            suppressed,
            next,
            read,
        })
    }

    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        // A state the customer has is replaced by one conditional put (`BatchWriteItem`
        // takes no conditions), many in flight at once: one at a time, the write-back
        // of a large shop would take longer than its scan.
        let replaced: Vec<_> = states.iter().map(|s| self.replaced(s)).collect();
        // In order, so that the same states make the same transactions.
        let firsts: Vec<Option<(&JobState, Item)>> = stream::iter(replaced)
            .buffered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        let firsts: Vec<(&JobState, Item)> = firsts.into_iter().flatten().collect();
        // The rest have none yet: their states go in transactions of many customers.
        self.write_all_first(&firsts).await
    }

    async fn write_first_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let firsts = (states.iter())
            .map(|state| Ok((state, job_state_item(state)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_all_first(&firsts).await
    }
}

#[async_trait]
impl<W: Grants<port::ProfileViewStore>> ProfileViewStore for DynamoStore<W> {
    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError> {
        let mut found = self
            .read_customer(customer, &[PROFILE, SCORES], None)
            .await?;
        let pk = keys::customer_pk(customer);
        let job: Option<JobState> = found.parsed(&pk, SCORES)?;
        Ok((found.profile(&pk)?, job.and_then(|j| j.scores)))
    }
}

#[async_trait]
impl<W: Grants<port::MessageStore>> MessageStore for DynamoStore<W> {
    async fn claim_message(&self, record: &MessageRecord) -> Result<Claim, StoreError> {
        let claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(message_item(record)?))
            // A failed send may be claimed again; anything else is taken.
            .condition_expression(format!("{} OR #status = :failed", expr::ABSENT))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", to_attr(&MessageStatus::Failed)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut tx = self
            .transaction()
            .live_customer(&record.customer_id)?
            .push(Role::Record, claim);
        if let Some(coupon) = record.coupon() {
            let coupon = Put::builder()
                .table_name(&self.table)
                .set_item(Some(coupon_item(&coupon)?))
                // A retry of a failed send reuses its own code.
                .condition_expression(format!("{} OR customer_id = :c", expr::ABSENT))
                .expression_attribute_values(":c", customer_attr(&record.customer_id))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            tx = tx.push(Role::CodeClaim, coupon);
        }
        match tx.send().await {
            Ok(()) => Ok(Claim::Claimed),
            Err(Refusal::Cancelled(cancelled)) => {
                if let Some(old) = cancelled.failed(Role::Record).and_then(|r| r.item()) {
                    return Ok(Claim::Taken(Box::new(parse(old.clone())?)));
                }
                if cancelled.failed(Role::Customer).is_some() {
                    return Ok(Claim::Erased);
                }
                if cancelled.failed(Role::CodeClaim).is_some() {
                    return Err(StoreError::Internal("coupon code collision".into()));
                }
                // Another run claimed it at the same moment: it is taken.
                Err(StoreError::Unavailable("concurrent claim".into()))
            }
            Err(Refusal::InProgress(e) | Refusal::Failed(e)) => Err(e),
        }
    }

    async fn reclaim_message(
        &self,
        stale: &MessageRecord,
        record: &MessageRecord,
    ) -> Result<Claim, StoreError> {
        let swap = Put::builder()
            .table_name(&self.table)
            .set_item(Some(message_item(record)?))
            // Compare and swap: only the claim this run read as stale is replaced.
            .condition_expression("#status = :sending AND updated_at = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sending", to_attr(&MessageStatus::Sending)?)
            .expression_attribute_values(":seen", to_attr(&stale.updated_at)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let tx = self
            .transaction()
            .live_customer(&record.customer_id)?
            .push(Role::Record, swap);
        match tx.send().await {
            Ok(()) => Ok(Claim::Claimed),
            Err(Refusal::Cancelled(cancelled)) => {
                if cancelled.failed(Role::Record).is_some() {
                    return match cancelled.failed(Role::Record).and_then(|r| r.item()) {
                        Some(now) => Ok(Claim::Taken(Box::new(parse(now.clone())?))),
                        None => Err(StoreError::Unavailable("message record vanished".into())),
                    };
                }
                if cancelled.failed(Role::Customer).is_some() {
                    return Ok(Claim::Erased);
                }
                Err(StoreError::Unavailable("concurrent reclaim".into()))
            }
            Err(Refusal::InProgress(e) | Refusal::Failed(e)) => Err(e),
        }
    }

    async fn finish_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        self.put(message_item(record)?).await
    }
}

#[async_trait]
impl<W: Grants<port::SuppressionStore>> SuppressionStore for DynamoStore<W> {
    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(suppression_item(suppression)?))
            .condition_expression(expr::ABSENT)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        // Already suppressed (the condition failed): the first cause stands.
        self.put_if(put).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Birthday, Email, Locale, Tier};

    #[test]
    fn a_cursor_carries_the_key_and_the_profile_as_text() {
        let customer = CustomerId::parse("id", "asha").unwrap();
        let mut profile = Profile::new(customer.clone(), Tier("gold".into()), chrono::Utc::now());
        profile.email = Some(Email::parse("email", "asha@example.com").unwrap());
        profile.locale = Some(Locale::parse("locale", "hi-IN").unwrap());
        profile.birthday = Some(Birthday::parse("birthday", "07-31").unwrap());
        profile.referral_code = Some("ASHA-7".into());
        profile.purchase_days.insert(chrono::NaiveDate::MIN, 12_000);
        let pk = keys::customer_pk(&customer);
        let mut last = super::super::items::key(pk.clone(), PROFILE);
        last.insert(keys::GSI2PK.into(), AttributeValue::S(pk));
        last.insert(keys::GSI2SK.into(), AttributeValue::S(PROFILE.into()));
        let cursor = Resume::cursor(last.clone(), Some(profile.clone())).unwrap();
        let again: ScanCursor =
            serde_json::from_str(&serde_json::to_string(&cursor).unwrap()).unwrap();
        let (start, carried) = Resume::read(&again).unwrap();
        assert_eq!(start, last);
        assert_eq!(carried, Some(profile));
    }

    #[test]
    fn a_token_this_store_did_not_make_is_an_internal_error() {
        for token in ["", "memory:3", "{\"key\":1}", "garbage"] {
            let read = Resume::read(&ScanCursor::from_token(token));
            assert!(matches!(read, Err(StoreError::Internal(_))), "{token}");
        }
    }
}
