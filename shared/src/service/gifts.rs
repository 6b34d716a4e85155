//! Granting a spend gift, once per customer, gift and window: the free coupon, the
//! redemption that records it and the grant on the profile, in one transaction with the
//! key's record over the profile read again (a refund meanwhile may have taken the
//! customer back under the threshold, and then nothing is granted).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::codes::readable_code;
use crate::domain::program::{Reward, SpendGift};
use crate::domain::{
    CustomerId, DomainError, FieldError, LoyaltyRules, Profile, RedemptionOutcome,
};
use crate::store::{CommitError, IdempotencyRecord, RedemptionStore, Versioned};

struct GrantGift<'a> {
    customer: &'a CustomerId,
    gift: &'a SpendGift,
    window: &'a str,
    rules: &'a LoyaltyRules,
    catalogue: &'a [Reward],
}

#[async_trait]
impl<S: RedemptionStore + ?Sized> Command<S> for GrantGift<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, RedemptionOutcome);
    /// The gift's coupon code; none when it was not due after all.
    type Answer = Option<String>;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        let key = format!("gift:{}:{}:{}", self.customer, self.gift.id, self.window);
        let request = (self.customer.as_str(), &self.gift.id, self.window);
        Key::once(self.customer, key, "gift", &request)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        let (profile, prior) = store
            .load_redemption(self.customer, key.unwrap_or_default())
            .await?;
        Ok(prior.map_or(Loaded::Fresh(profile), Loaded::Answered))
    }

    fn decide(
        &self,
        profile: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, Option<String>>, ServiceError> {
        let Versioned { value, version } = profile.ok_or(ServiceError::UnknownCustomer)?;
        let window = self.rules.qualification.window;
        if value
            .gift_due(self.gift, window, now.date_naive())
            .as_deref()
            != Some(self.window)
        {
            return Ok(Decided::Done(None));
        }
        let reward = (self.catalogue.iter())
            .find(|r| r.id == self.gift.reward_id)
            .ok_or_else(|| {
                DomainError::from(FieldError::new(
                    "reward_id",
                    "the gift's reward is not in the catalogue",
                ))
            })?;
        // Drawn anew on every attempt: a taken code is simply drawn again.
        let code = format!("RG-{}", readable_code(uuid::Uuid::new_v4().as_bytes(), 10));
        let outcome = value.grant_gift(
            self.gift,
            self.window,
            reward,
            code.clone(),
            self.rules,
            now,
        )?;
        Ok(Decided::Write {
            answer: Some(code),
            change: (version, outcome),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, outcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_redemption(*version, outcome, record_of(record)?)
            .await
    }
}

/// Grants `gift` to `customer` for `window` if it is still due; its coupon code when this
/// call granted it (an earlier or concurrent grant answers `None`).
pub async fn grant_gift<S: RedemptionStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    gift: &SpendGift,
    window: &str,
    rules: &LoyaltyRules,
    catalogue: &[Reward],
    now: DateTime<Utc>,
) -> Result<Option<String>, ServiceError> {
    let command = GrantGift {
        customer,
        gift,
        window,
        rules,
        catalogue,
    };
    let done = execute(&command, store, now).await?;
    Ok(done.answer.filter(|_| !done.replayed))
}
