//! Bringing a customer's tier up to date outside an order: the daily job demotes those
//! whose qualification and grace have run out and promotes those a ladder on points
//! lifted (reviews, referrals), with the tier's welcome points. Once per customer and
//! day: the change, its ledger entry if any, and the key's record in one transaction
//! over the profile read again.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use super::reward::load_once;
use crate::domain::{CustomerId, LedgerEntry, LoyaltyRules, Profile, Tier};
use crate::store::{CommitError, IdempotencyRecord, RewardStore, Versioned};

struct SettleTier<'a> {
    customer: &'a CustomerId,
    rules: &'a LoyaltyRules,
    as_of: NaiveDate,
    key: String,
}

/// The stored answer: the tier now held, if it changed.
#[derive(Serialize, Deserialize)]
struct Settled {
    tier: Option<Tier>,
}

#[async_trait]
impl<S: RewardStore + ?Sized> Command<S> for SettleTier<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, Profile, Option<LedgerEntry>);
    type Answer = Settled;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        let request = (self.customer.as_str(), self.as_of);
        Key::once(self.customer, self.key.clone(), "tier", &request)
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
    ) -> Result<Decided<Self::Change, Settled>, ServiceError> {
        let Versioned { mut value, version } = profile.ok_or(ServiceError::UnknownCustomer)?;
        let before = value.tier.clone();
        let welcome = value.settle_tier(self.rules, self.as_of, &self.key, now);
        if value.tier == before {
            return Ok(Decided::Done(Settled { tier: None }));
        }
        value.updated_at = now;
        Ok(Decided::Write {
            answer: Settled {
                tier: Some(value.tier.clone()),
            },
            change: (version, value, welcome),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, profile, welcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_reward(
                Some(*version),
                profile,
                welcome.as_slice(),
                record_of(record)?,
            )
            .await
    }
}

/// Brings `customer`'s tier up to date on `as_of` under `rules`, once per day; the tier
/// now held if it changed.
pub async fn settle_tier<S: RewardStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    rules: &LoyaltyRules,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Option<Tier>, ServiceError> {
    let command = SettleTier {
        customer,
        rules,
        as_of,
        key: format!("tier:{customer}:{as_of}"),
    };
    Ok(execute(&command, store, now).await?.answer.tier)
}
