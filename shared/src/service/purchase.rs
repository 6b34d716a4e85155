//! Purchases and refunds, exactly once per event id. Only an order that converts a
//! referral (or a refund that may cancel one) also reads the referrer's profile.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::{
    DomainError, LoyaltyRules, Order, Profile, PurchaseEvent, PurchaseOutcome, PurchaseReceipt,
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

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::event(&self.event.customer_id, &self.event.event_id, self.event)
    }

    async fn load(&self, store: &S, key: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let e = self.event;
        let snapshot = store
            .load_purchase(&e.customer_id, &e.order_id, key.unwrap_or_default())
            .await?;
        if let Some(prior) = snapshot.prior {
            return Ok(Loaded::Answered(prior));
        }
        let profile = snapshot.profile.as_ref().map(|p| &p.value);
        let referrer = match e.referrer_affected(profile, self.referrals) {
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
        // After the replay check: a retry of an event recorded once is answered, however
        // long ago it happened.
        (self.rules.events)
            .check("occurred_at", self.event.occurred_at, now)
            .map_err(DomainError::from)?;
        let expected = state.profile.as_ref().map(|p| p.version);
        let referrer_version = state.referrer.as_ref().map(|p| p.version);
        let mut outcome = self.event.apply(
            state.profile.map(|p| p.value),
            state.order,
            state.referrer.map(|p| p.value),
            self.rules,
            self.referrals,
            now,
        )?;
        outcome.under_program(self.rules.program_version);
        let answer = outcome.receipt.clone();
        let change = Change {
            expected,
            referrer_version,
            outcome,
        };
        Ok(Decided::Write { change, answer })
    }

    async fn commit(
        &self,
        store: &S,
        change: &Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        let Change {
            expected,
            referrer_version,
            outcome,
        } = change;
        let record = record_of(record)?;
        store
            .commit_purchase(*expected, *referrer_version, outcome, record)
            .await
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
    let done = execute(&command, store, now).await?;
    Ok(done.answer.replayed(done.replayed))
}
