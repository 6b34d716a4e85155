//! One `TransactWriteItems`, built from actions that each carry a role, so that a
//! cancelled transaction can be read by what failed rather than by position: the
//! idempotency record that was there first, a unique code somebody else holds, or
//! anything else that changed since it was read.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use super::items::{self, Item, key, ledger_item};
use super::keys::expr::{ABSENT, LIVE_CUSTOMER, PRESENT};
use super::keys::{self, PROFILE};
use super::{DynamoStore, classify};
use crate::domain::{CustomerId, LedgerEntry, Profile};
use crate::store::{CommitError, IdempotencyRecord, StoreError};

/// Most actions one `TransactWriteItems` accepts.
pub(super) const TRANSACT_MAX: usize = 100;

/// What a failed condition of an action means. When several fail at once, the
/// greatest role decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Role {
    /// A version check, an item that must or must not exist: someone else wrote first
    /// ([`CommitError::Conflict`]).
    Check,
    /// The customer something is written for must still have a profile that is not
    /// erased: the job's writes check it, so that a run under way while a customer is
    /// erased neither claims a message for them nor brings their state back.
    Customer,
    /// A unique code claimed for a customer: another customer holds it
    /// ([`CommitError::CodeTaken`]).
    CodeClaim,
    /// The profile a referral code is claimed for. When it changed, whether the code
    /// is free does not matter: the profile may have a code already, so the caller
    /// must read it again ([`CommitError::Conflict`]) before drawing another code.
    Claimant,
    /// The record that makes a request happen once (an idempotency record, an
    /// erasure's audit record, a message claim): the request was recorded before
    /// ([`CommitError::AlreadyRecorded`]).
    Record,
}

/// The actions of one transaction, in order, with their roles.
pub(super) struct Transaction<'a, W> {
    store: &'a DynamoStore<W>,
    actions: Vec<(Role, TransactWriteItem)>,
}

/// Why a transaction did not commit.
pub(super) enum Refusal {
    /// DynamoDB cancelled it: a condition failed, an item was busy or throttled.
    Cancelled(Cancellation),
    /// Another transaction on one of its items was still in progress (classified as
    /// the SDK error it is, for callers that treat it as unavailability).
    InProgress(StoreError),
    /// Any other failure.
    Failed(StoreError),
}

/// The reasons of a cancelled transaction, beside the roles of its actions.
pub(super) struct Cancellation {
    roles: Vec<Role>,
    reasons: Vec<CancellationReason>,
}

impl Cancellation {
    fn failures(&self) -> impl Iterator<Item = (Role, &CancellationReason)> {
        self.roles
            .iter()
            .copied()
            .zip(&self.reasons)
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
    }

    /// Whether DynamoDB cancelled for a reason that passes: another transaction on one
    /// of the items, or throttling; not a failed condition.
    pub(super) fn transient(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The first action of `role` whose condition failed.
    pub(super) fn failed(&self, role: Role) -> Option<&CancellationReason> {
        self.failures().find(|(r, _)| *r == role).map(|(_, r)| r)
    }

    fn throttled(&self) -> bool {
        self.reasons.iter().any(|r| {
            r.code()
                .is_some_and(|c| c.contains("Throughput") || c == "ThrottlingError")
        })
    }

    /// What the cancellation means for a commit.
    pub(super) fn verdict(&self) -> CommitError {
        match self.failures().map(|(role, _)| role).max() {
            Some(Role::Record) => CommitError::AlreadyRecorded,
            Some(Role::Claimant) => CommitError::Conflict,
            Some(Role::CodeClaim) => CommitError::CodeTaken,
            Some(Role::Check | Role::Customer) | None if self.throttled() => {
                StoreError::Unavailable("transaction throttled".into()).into()
            }
            // A version check failed, the customer is gone, or another transaction
            // held an item.
            Some(Role::Check | Role::Customer) | None => CommitError::Conflict,
        }
    }
}

impl<'a, W> Transaction<'a, W> {
    pub(super) fn new(store: &'a DynamoStore<W>) -> Self {
        Self {
            store,
            actions: Vec::new(),
        }
    }

    fn action(mut self, role: Role, action: TransactWriteItem) -> Self {
        self.actions.push((role, action));
        self
    }

    /// Adds a put prepared by the caller (for conditions of its own).
    pub(super) fn push(self, role: Role, put: Put) -> Self {
        self.action(role, TransactWriteItem::builder().put(put).build())
    }

    fn put_item(self, role: Role, item: Item, condition: Option<&str>) -> Result<Self, StoreError> {
        let put = Put::builder()
            .table_name(self.store.table())
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(self.push(role, put))
    }

    /// Writes `item` whatever is there.
    pub(super) fn put(self, item: Item) -> Result<Self, StoreError> {
        self.put_item(Role::Check, item, None)
    }

    /// Writes `item`, which must not exist yet.
    pub(super) fn insert(self, item: Item) -> Result<Self, StoreError> {
        self.put_item(Role::Check, item, Some(ABSENT))
    }

    /// Writes the record `item`, which must not exist yet.
    pub(super) fn record(self, item: Item) -> Result<Self, StoreError> {
        self.put_item(Role::Record, item, Some(ABSENT))
    }

    /// Claims the unique code of `item`, which no one may hold yet.
    pub(super) fn claim(self, item: Item) -> Result<Self, StoreError> {
        self.put_item(Role::CodeClaim, item, Some(ABSENT))
    }

    /// Writes the profile at the next version if it is still at `expected` (`None`: it
    /// must not exist yet).
    pub(super) fn profile(
        self,
        profile: &Profile,
        expected: Option<u64>,
    ) -> Result<Self, StoreError> {
        let put = self.store.profile_put(profile, expected)?;
        Ok(self.push(Role::Check, put))
    }

    /// [`Self::profile`] for the profile a code is claimed for.
    pub(super) fn claimant(self, profile: &Profile, expected: u64) -> Result<Self, StoreError> {
        let put = self.store.profile_put(profile, Some(expected))?;
        Ok(self.push(Role::Claimant, put))
    }

    /// Appends the customer's new ledger entries; an entry is never overwritten.
    pub(super) fn ledger(
        self,
        customer: &CustomerId,
        entries: &[LedgerEntry],
    ) -> Result<Self, StoreError> {
        entries
            .iter()
            .try_fold(self, |tx, entry| tx.insert(ledger_item(customer, entry)?))
    }

    /// The idempotency record of an event, the customer's profile and their new ledger
    /// entries: what every event that changes a profile writes.
    pub(super) fn event(
        self,
        record: &IdempotencyRecord,
        profile: &Profile,
        expected: Option<u64>,
        ledger: &[LedgerEntry],
    ) -> Result<Self, StoreError> {
        let customer = &profile.customer_id;
        self.record(items::record_item(record, customer))?
            .profile(profile, expected)?
            .ledger(customer, ledger)
    }

    /// Updates an item that must exist.
    pub(super) fn update_existing(
        self,
        key: Item,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Self, StoreError> {
        self.update(key, expression, names, values, Some(PRESENT))
    }

    /// Updates an item whether it exists or not (an `ADD` to an aggregate).
    pub(super) fn upsert(
        self,
        key: Item,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Self, StoreError> {
        self.update(key, expression, &[], values, None)
    }

    fn update(
        self,
        key: Item,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        condition: Option<&str>,
    ) -> Result<Self, StoreError> {
        let mut update = Update::builder()
            .table_name(self.store.table())
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned));
        for (name, attribute) in names {
            update = update.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(self.action(
            Role::Check,
            TransactWriteItem::builder().update(update).build(),
        ))
    }

    /// Checks that `customer` has a profile that is not erased, writing nothing.
    pub(super) fn live_customer(self, customer: &CustomerId) -> Result<Self, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.store.table())
            .set_key(Some(key(keys::customer_pk(customer), PROFILE)))
            .condition_expression(LIVE_CUSTOMER)
            .expression_attribute_values(":null", AttributeValue::S("NULL".into()))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(self.action(
            Role::Customer,
            TransactWriteItem::builder().condition_check(check).build(),
        ))
    }

    /// Deletes an item, if there is one.
    pub(super) fn delete(self, key: Item) -> Result<Self, StoreError> {
        let delete = Delete::builder()
            .table_name(self.store.table())
            .set_key(Some(key))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(self.action(
            Role::Check,
            TransactWriteItem::builder().delete(delete).build(),
        ))
    }

    /// The actions in transactions of at most `max` actions each, in order.
    pub(super) fn split(self, max: usize) -> Vec<Self> {
        let store = self.store;
        let mut parts = Vec::new();
        let mut rest = self.actions.into_iter().peekable();
        while rest.peek().is_some() {
            parts.push(Self {
                store,
                actions: rest.by_ref().take(max).collect(),
            });
        }
        parts
    }

    /// Sends the transaction.
    pub(super) async fn send(self) -> Result<(), Refusal> {
        let (roles, actions): (Vec<Role>, Vec<TransactWriteItem>) =
            self.actions.into_iter().unzip();
        let result = self
            .store
            .client()
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        if let SdkError::ServiceError(service) = &err {
            match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    return Err(Refusal::Cancelled(Cancellation {
                        roles,
                        reasons: cancelled.cancellation_reasons().to_vec(),
                    }));
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    return Err(Refusal::InProgress(classify(err)));
                }
                _ => {}
            }
        }
        Err(Refusal::Failed(classify(err)))
    }

    /// Sends the transaction and says what a refusal means for the caller.
    pub(super) async fn commit(self) -> Result<(), CommitError> {
        match self.send().await {
            Ok(()) => Ok(()),
            Err(Refusal::Cancelled(cancellation)) => Err(cancellation.verdict()),
            Err(Refusal::InProgress(_)) => Err(CommitError::Conflict),
            Err(Refusal::Failed(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    fn verdict(roles: &[Role], codes: &[&str]) -> CommitError {
        Cancellation {
            roles: roles.to_vec(),
            reasons: codes.iter().map(|c| reason(c)).collect(),
        }
        .verdict()
    }

    const FAILED: &str = "ConditionalCheckFailed";
    const NONE: &str = "None";

    #[test]
    fn the_record_decides_first() {
        let roles = [Role::Record, Role::Check, Role::CodeClaim];
        assert!(matches!(
            verdict(&roles, &[FAILED, FAILED, FAILED]),
            CommitError::AlreadyRecorded
        ));
        assert!(matches!(
            verdict(&roles, &[NONE, FAILED, FAILED]),
            CommitError::CodeTaken
        ));
        assert!(matches!(
            verdict(&roles, &[NONE, FAILED, NONE]),
            CommitError::Conflict
        ));
    }

    #[test]
    fn a_changed_claimant_outweighs_a_taken_code() {
        let roles = [Role::CodeClaim, Role::Claimant];
        assert!(matches!(
            verdict(&roles, &[FAILED, FAILED]),
            CommitError::Conflict
        ));
        assert!(matches!(
            verdict(&roles, &[FAILED, NONE]),
            CommitError::CodeTaken
        ));
        assert!(matches!(
            verdict(&roles, &[NONE, FAILED]),
            CommitError::Conflict
        ));
    }

    #[test]
    fn throttling_without_a_decisive_failure_is_unavailability() {
        let roles = [Role::Record, Role::Check];
        assert!(matches!(
            verdict(&roles, &[NONE, "ThrottlingError"]),
            CommitError::Store(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            verdict(&roles, &[NONE, "ProvisionedThroughputExceeded"]),
            CommitError::Store(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            verdict(&roles, &[FAILED, "ThrottlingError"]),
            CommitError::AlreadyRecorded
        ));
        assert!(matches!(
            verdict(&roles, &[NONE, "TransactionConflict"]),
            CommitError::Conflict
        ));
    }
}
