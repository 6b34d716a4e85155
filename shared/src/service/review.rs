//! Reviews, exactly once per event id; the service-recovery alert goes only to the
//! request that committed the flag, so support hears of it once however often the event
//! is delivered.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::{
    DomainError, LoyaltyRules, Order, Profile, Review, ReviewEvent, ReviewOutcome, ReviewReceipt,
    ReviewRules,
};
use crate::mail::RecoveryAlert;
use crate::store::{CommitError, IdempotencyRecord, ReviewStore, Versioned};

/// A recorded review, and the alert to send when it opened a service-recovery flag.
#[derive(Debug)]
pub struct ReviewResult {
    pub receipt: ReviewReceipt,
    pub alert: Option<RecoveryAlert>,
}

struct RecordReview<'a> {
    event: &'a ReviewEvent,
    loyalty: &'a LoyaltyRules,
    rules: &'a ReviewRules,
}

struct State {
    profile: Option<Versioned<Profile>>,
    order: Option<Order>,
    review: Option<Review>,
}

#[async_trait]
impl<S: ReviewStore + ?Sized> Command<S> for RecordReview<'_> {
    type State = State;
    type Change = (Option<u64>, ReviewOutcome);
    type Answer = ReviewReceipt;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::event(&self.event.customer_id, &self.event.event_id, self.event)
    }

    async fn load(&self, store: &S, key: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let e = self.event;
        let key = key.unwrap_or_default();
        let snapshot = store
            .load_review(&e.customer_id, &e.order_id, &e.sku, key)
            .await?;
        Ok(match snapshot.prior {
            Some(prior) => Loaded::Answered(prior),
            None => Loaded::Fresh(State {
                profile: snapshot.profile,
                order: snapshot.order,
                review: snapshot.review,
            }),
        })
    }

    fn decide(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, ReviewReceipt>, ServiceError> {
        (self.loyalty.events)
            .check("occurred_at", self.event.occurred_at, now)
            .map_err(DomainError::from)?;
        self.event
            .revisable(state.review.as_ref())
            .map_err(DomainError::from)?;
        let expected = state.profile.as_ref().map(|p| p.version);
        let profile = state.profile.map(|p| p.value);
        let order = state.order.as_ref();
        let mut outcome = self.event.apply(
            profile,
            order,
            state.review,
            self.loyalty.base_tier(),
            self.rules,
            now,
        );
        crate::domain::ledger::under_program(&mut outcome.ledger, self.loyalty.program_version);
        let answer = outcome.receipt.clone();
        Ok(Decided::Write {
            change: (expected, outcome),
            answer,
        })
    }

    async fn commit(
        &self,
        store: &S,
        (expected, outcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        let record = record_of(record)?;
        store.commit_review(*expected, outcome, record).await
    }
}

/// Records a review exactly once.
pub async fn record_review<S: ReviewStore + ?Sized>(
    store: &S,
    loyalty: &LoyaltyRules,
    rules: &ReviewRules,
    event: &ReviewEvent,
    now: DateTime<Utc>,
) -> Result<ReviewResult, ServiceError> {
    let command = RecordReview {
        event,
        loyalty,
        rules,
    };
    let done = execute(&command, store, now).await?;
    let alert = done
        .change
        .filter(|(_, outcome)| outcome.raise_alert)
        .map(|(_, outcome)| RecoveryAlert {
            customer_id: event.customer_id.clone(),
            customer_email: outcome.profile.email,
            sku: event.sku.clone(),
            order_id: event.order_id.clone(),
            rating: event.rating,
            title: outcome.review.title,
            body: outcome.review.body,
            opened_at: now,
        });
    Ok(ReviewResult {
        receipt: done.answer.replayed(done.replayed),
        alert,
    })
}
