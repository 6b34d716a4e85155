//! Expiring a customer's points, once per customer and expiry date: the `expired`
//! ledger entry and the balance in one transaction with the date's record, so runs that
//! overlap or are killed and run again never lapse points twice; the profile is read
//! again first, so an order placed meanwhile restarts the clock and nothing lapses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute};
use super::reward::{commit_entry, load_once};
use crate::domain::{CustomerId, LedgerEntry, Profile};
use crate::store::{CommitError, IdempotencyRecord, RewardStore, Versioned};

struct ExpirePoints<'a> {
    customer: &'a CustomerId,
    months: u32,
    /// The expiry date the scan saw: the key of this lapse.
    key: String,
}

/// The stored answer: the points that lapsed.
#[derive(Serialize, Deserialize)]
struct Lapsed {
    points: i64,
}

#[async_trait]
impl<S: RewardStore + ?Sized> Command<S> for ExpirePoints<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, Profile, LedgerEntry);
    type Answer = Lapsed;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        let request = (self.customer.as_str(), self.months);
        Key::once(self.customer, self.key.clone(), "expiry", &request)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        load_once(store, key.unwrap_or(&self.key), self.customer).await
    }

    fn decide(
        &self,
        profile: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, Lapsed>, ServiceError> {
        let Versioned { mut value, version } = profile.ok_or(ServiceError::UnknownCustomer)?;
        match value.expire_points(self.months, &self.key, now) {
            None => Ok(Decided::Done(Lapsed { points: 0 })),
            Some(entry) => Ok(Decided::Write {
                answer: Lapsed {
                    points: -entry.delta,
                },
                change: (version, value, entry),
            }),
        }
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

/// Lapses `customer`'s points if `months` have passed since their last order, once per
/// expiry date (`due`, as the caller saw it); the points that lapsed (0: none were
/// due after all).
pub async fn expire_points<S: RewardStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    months: u32,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    let command = ExpirePoints {
        customer,
        months,
        key: format!("expiry:{customer}:{}", due.date_naive()),
    };
    Ok(execute(&command, store, now).await?.answer.points)
}
