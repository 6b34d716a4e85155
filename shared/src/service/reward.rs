//! Points the outreach job gives with a message (the birthday greeting's), once per
//! key: a ledger entry and the balance in one transaction with the key's record, so a
//! re-run or a resent message never credits twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::{CustomerId, LedgerEntry, LedgerReason, Profile};
use crate::store::{CommitError, IdempotencyRecord, RewardStore, Versioned};

struct GrantReward<'a> {
    customer: &'a CustomerId,
    points: i64,
    key: &'a str,
}

/// The stored answer of a grant.
#[derive(Serialize, Deserialize)]
struct Granted {
    points: i64,
    balance: i64,
}

#[async_trait]
impl<S: RewardStore + ?Sized> Command<S> for GrantReward<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, Profile, LedgerEntry);
    type Answer = Granted;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        let request = (self.customer.as_str(), self.points);
        Key::once(self.customer, self.key.to_owned(), "reward", &request)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        load_once(store, key.unwrap_or(self.key), self.customer).await
    }

    fn decide(
        &self,
        profile: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, Granted>, ServiceError> {
        let Versioned { mut value, version } = profile.ok_or(ServiceError::UnknownCustomer)?;
        let entry = value.post(
            self.points,
            LedgerReason::Reward,
            self.key.to_owned(),
            self.key.to_owned(),
            now,
        );
        value.updated_at = now;
        Ok(Decided::Write {
            answer: Granted {
                points: self.points,
                balance: value.points_balance,
            },
            change: (version, value, entry),
        })
    }

    async fn commit(
        &self,
        store: &S,
        change: &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        commit_entry(store, change, record).await
    }
}

/// A once-per-key change of one customer's points: the answer recorded under `key`, or
/// the customer's profile to decide on.
pub(super) async fn load_once<S: RewardStore + ?Sized>(
    store: &S,
    key: &str,
    customer: &CustomerId,
) -> Result<Loaded<Option<Versioned<Profile>>>, ServiceError> {
    if let Some(prior) = store.prior(key).await? {
        return Ok(Loaded::Answered(prior));
    }
    Ok(Loaded::Fresh(store.profile(customer).await?))
}

/// Commits the profile at its next version with its one new ledger entry and the key's
/// record.
pub(super) async fn commit_entry<S: RewardStore + ?Sized>(
    store: &S,
    (version, profile, entry): &(u64, Profile, LedgerEntry),
    record: Option<&IdempotencyRecord>,
) -> Result<(), CommitError> {
    store
        .commit_reward(
            Some(*version),
            profile,
            std::slice::from_ref(entry),
            record_of(record)?,
        )
        .await
}

/// Credits `points` to a customer once per `key` (e.g. one birthday reward per year).
/// Returns the balance after.
pub async fn grant_reward<S: RewardStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    points: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    let command = GrantReward {
        customer,
        points,
        key,
    };
    Ok(execute(&command, store, now).await?.answer.balance)
}
