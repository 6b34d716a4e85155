//! Spending points on a coupon, exactly once per redemption id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::codes::readable_code;
use crate::domain::ledger::under_program;
use crate::domain::program::Reward;
use crate::domain::{
    LoyaltyRules, Profile, RedemptionOutcome, RedemptionReceipt, RedemptionRequest,
};
use crate::store::{CommitError, IdempotencyRecord, RedemptionStore, Versioned};

struct Redeem<'a> {
    request: &'a RedemptionRequest,
    rules: &'a LoyaltyRules,
    catalogue: &'a [Reward],
}

#[async_trait]
impl<S: RedemptionStore + ?Sized> Command<S> for Redeem<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, RedemptionOutcome);
    type Answer = RedemptionReceipt;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        let r = self.request;
        let key = format!("redemption:{}:{}", r.customer_id, r.redemption_id);
        Key::once(&r.customer_id, key, "redemption_id", r)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        let customer = &self.request.customer_id;
        let (profile, prior) = store
            .load_redemption(customer, key.unwrap_or_default())
            .await?;
        Ok(prior.map_or(Loaded::Fresh(profile), Loaded::Answered))
    }

    fn decide(
        &self,
        profile: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, RedemptionReceipt>, ServiceError> {
        let profile = profile.ok_or(ServiceError::UnknownCustomer)?;
        // Drawn anew on every attempt: a taken code is simply drawn again.
        let code = format!("RP-{}", readable_code(uuid::Uuid::new_v4().as_bytes(), 10));
        let reward = (self.request.reward_id.as_ref())
            .and_then(|id| self.catalogue.iter().find(|r| r.id == *id));
        let mut outcome = self
            .request
            .apply(profile.value, code, self.rules, reward, now)?;
        under_program(&mut outcome.ledger, self.rules.program_version);
        let answer = outcome.receipt.clone();
        let change = (profile.version, outcome);
        Ok(Decided::Write { change, answer })
    }

    async fn commit(
        &self,
        store: &S,
        (version, outcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        let record = record_of(record)?;
        store.commit_redemption(*version, outcome, record).await
    }
}

/// Spends points on a coupon exactly once per redemption id: their value off, or the
/// `catalogue`'s reward the request names.
pub async fn redeem<S: RedemptionStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    catalogue: &[Reward],
    request: &RedemptionRequest,
    now: DateTime<Utc>,
) -> Result<RedemptionReceipt, ServiceError> {
    let command = Redeem {
        request,
        rules,
        catalogue,
    };
    let done = execute(&command, store, now).await?;
    Ok(done.answer.replayed(done.replayed))
}
