//! Purchases and refunds, exactly once per event id. Only an order that converts a
//! referral (or a refund that may cancel one) also reads the referrer's profile.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Loaded, Once, execute, record_of};
use crate::domain::{
    CustomerId, LoyaltyRules, Order, Profile, PurchaseEvent, PurchaseOutcome, PurchaseReceipt,
    ReferralRules,
};
use crate::store::{CommitError, IdempotencyRecord, PurchaseStore, Versioned};

struct RecordPurchase<'a> {
    event: &'a PurchaseEvent,
    rules: &'a LoyaltyRules,
    referrals: &'a ReferralRules,
}

struct State {
    profile: Option<Versioned<Profile>>,
    order: Option<Order>,
    referrer: Option<Versioned<Profile>>,
}

struct Change {
    expected: Option<u64>,
    referrer_version: Option<u64>,
    outcome: PurchaseOutcome,
}

#[async_trait]
impl<S: PurchaseStore + ?Sized> Command<S> for RecordPurchase<'_> {
    type State = State;
    type Change = Change;
    type Answer = PurchaseReceipt;
    type Output = PurchaseReceipt;

    fn customer(&self) -> &CustomerId {
        &self.event.customer_id
    }

    fn once(&self) -> Result<Option<Once>, ServiceError> {
        Once::new(self.event.event_id.to_string(), "event_id", self.event).map(Some)
    }

    async fn load(&self, store: &S, key: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let snapshot = store
            .load_purchase(
                &self.event.customer_id,
                &self.event.order_id,
                key.unwrap_or_default(),
            )
            .await?;
        if let Some(prior) = snapshot.prior {
            return Ok(Loaded::Answered(prior));
        }
        let affected = self
            .event
            .referrer_affected(snapshot.profile.as_ref().map(|p| &p.value), self.referrals);
        let referrer = match affected {
            Some(id) => store.profile(&id).await?,
            None => None,
        };
        Ok(Loaded::Fresh(State {
            profile: snapshot.profile,
            order: snapshot.order,
            referrer,
        }))
    }

    fn decide(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Change, PurchaseReceipt>, ServiceError> {
        let expected = state.profile.as_ref().map(|p| p.version);
        let referrer_version = state.referrer.as_ref().map(|p| p.version);
        let outcome = self.event.apply(
            state.profile.map(|p| p.value),
            state.order,
            state.referrer.map(|p| p.value),
            self.rules,
            self.referrals,
            now,
        )?;
        Ok(Decided::Write {
            answer: outcome.receipt.clone(),
            change: Change {
                expected,
                referrer_version,
                outcome,
            },
        })
    }

    async fn commit(
        &self,
        store: &S,
        change: &Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_purchase(
                change.expected,
                change.referrer_version,
                &change.outcome,
                record_of(record)?,
            )
            .await
    }

    fn output(
        &self,
        answer: PurchaseReceipt,
        _: Option<Change>,
        replayed: bool,
    ) -> PurchaseReceipt {
        PurchaseReceipt {
            duplicate: replayed,
            ..answer
        }
    }
}

/// Records a purchase or refund exactly once.
pub async fn record_purchase<S: PurchaseStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    event: &PurchaseEvent,
    now: DateTime<Utc>,
) -> Result<PurchaseReceipt, ServiceError> {
    let command = RecordPurchase {
        event,
        rules,
        referrals,
    };
    execute(&command, store, now).await
}
