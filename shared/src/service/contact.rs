//! A storefront's news about a customer's contact details and consent (Shopify's
//! `customers/create` and `customers/update`): once per delivery, creating the customer
//! if Rapport has not seen them yet.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::storefront::ContactUpdate;
use crate::domain::{CustomerId, LoyaltyRules, Profile};
use crate::store::{CommitError, IdempotencyRecord, RewardStore, Versioned};

struct UpdateContact<'a> {
    update: &'a ContactUpdate,
    /// The delivery's id: a redelivery is answered from the stored answer.
    key: &'a str,
    rules: &'a LoyaltyRules,
}

/// What a contact update did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactReceipt {
    pub customer_id: CustomerId,
    /// Whether the profile changed (a new customer, an address, a locale, a newer
    /// consent decision).
    pub changed: bool,
    #[serde(default)]
    pub duplicate: bool,
}

#[async_trait]
impl<S: RewardStore + ?Sized> Command<S> for UpdateContact<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (Option<u64>, Profile);
    type Answer = ContactReceipt;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::once(
            &self.update.customer,
            self.key.to_owned(),
            "webhook_id",
            self.update,
        )
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        if let Some(prior) = store.prior(key.unwrap_or(self.key)).await? {
            return Ok(Loaded::Answered(prior));
        }
        Ok(Loaded::Fresh(store.profile(&self.update.customer).await?))
    }

    fn decide(
        &self,
        current: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, ContactReceipt>, ServiceError> {
        let version = current.as_ref().map(|p| p.version);
        let (profile, changed) = self.update.apply(current.map(|p| p.value), self.rules, now);
        let answer = ContactReceipt {
            customer_id: self.update.customer.clone(),
            changed,
            duplicate: false,
        };
        // Recorded even when nothing changed, so that a redelivery is answered the same.
        Ok(Decided::Write {
            change: (version, profile),
            answer,
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, profile): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_reward(*version, profile, &[], record_of(record)?)
            .await
    }
}

/// Applies a storefront's contact update once per delivery `key`.
pub async fn update_contact<S: RewardStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    update: &ContactUpdate,
    key: &str,
    now: DateTime<Utc>,
) -> Result<ContactReceipt, ServiceError> {
    let command = UpdateContact { update, key, rules };
    let done = execute(&command, store, now).await?;
    Ok(ContactReceipt {
        duplicate: done.replayed,
        ..done.answer
    })
}
