//! Spending points on a coupon, exactly once per redemption id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Loaded, Once, execute, record_of};
use crate::domain::codes::readable_code;
use crate::domain::{
    CustomerId, LoyaltyRules, Profile, RedemptionOutcome, RedemptionReceipt, RedemptionRequest,
};
use crate::store::{CommitError, IdempotencyRecord, RedemptionStore, Versioned};

struct Redeem<'a> {
    request: &'a RedemptionRequest,
    rules: &'a LoyaltyRules,
}

#[async_trait]
impl<S: RedemptionStore + ?Sized> Command<S> for Redeem<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, RedemptionOutcome);
    type Answer = RedemptionReceipt;
    type Output = RedemptionReceipt;

    fn customer(&self) -> &CustomerId {
        &self.request.customer_id
    }

    fn once(&self) -> Result<Option<Once>, ServiceError> {
        let key = format!(
            "redemption:{}:{}",
            self.request.customer_id, self.request.redemption_id
        );
        Once::new(key, "redemption_id", self.request).map(Some)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        let (profile, prior) = store
            .load_redemption(&self.request.customer_id, key.unwrap_or_default())
            .await?;
        Ok(match prior {
            Some(prior) => Loaded::Answered(prior),
            None => Loaded::Fresh(profile),
        })
    }

    fn decide(
        &self,
        profile: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, RedemptionReceipt>, ServiceError> {
        let profile = profile.ok_or(ServiceError::UnknownCustomer)?;
        // Drawn anew on every attempt: a taken code is simply drawn again.
        let code = format!("RP-{}", readable_code(uuid::Uuid::new_v4().as_bytes(), 10));
        let outcome = self.request.apply(profile.value, code, self.rules, now)?;
        Ok(Decided::Write {
            answer: outcome.receipt.clone(),
            change: (profile.version, outcome),
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

    fn output(
        &self,
        answer: RedemptionReceipt,
        _: Option<Self::Change>,
        replayed: bool,
    ) -> RedemptionReceipt {
        RedemptionReceipt {
            duplicate: replayed,
            ..answer
        }
    }
}

/// Spends points on a coupon exactly once per redemption id.
pub async fn redeem<S: RedemptionStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    request: &RedemptionRequest,
    now: DateTime<Utc>,
) -> Result<RedemptionReceipt, ServiceError> {
    execute(&Redeem { request, rules }, store, now).await
}
